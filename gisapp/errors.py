"""Domain errors raised by services; the API handler and the views turn them into responses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code


class StaleObjectError(DomainError):
    """An edit based on an old version: someone else changed the object in between."""

    code = "stale"
    http_status = 409


class NotFoundError(DomainError):
    """The object a service was asked to change does not exist (an unknown code); the message
    names the code."""

    code = "not_found"
    http_status = 404


class OutOfJurisdictionError(DomainError):
    code = "out_of_jurisdiction"
    http_status = 403
