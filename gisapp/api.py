"""One error format for every API: ``{"error": {"code": ..., "message": ..., "details": ...}}``.

``code`` is stable for programs, ``message`` is for people (Chinese), ``details`` carries
field errors or, for a stale write, who changed the object and when.

A service's ``DomainError`` answers its own ``http_status``: 400 for refused input, 403
``out_of_jurisdiction``, 404 ``not_found`` (``NotFoundError``: an unknown code, named in the
message), 409 ``stale`` (``StaleObjectError``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from gisapp.errors import DomainError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(
            {"error": {"code": exc.code, "message": exc.message, "details": exc.details}},
            status=exc.http_status,
        )
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(
            {"error": {"code": "invalid", "message": "数据校验未通过", "details": details}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "message": "数据校验未通过", "details": response.data}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        body = {"code": code, "message": str(detail), "details": {}}
    response.data = {"error": body}
    return response
