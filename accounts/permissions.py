"""Who may do what. Each capability names the roles that have it; views and APIs check the
capability, services check the jurisdiction. Anonymous users (the public) have none of these."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Role
from accounts.scoping import User, role_of

CAPABILITIES: dict[str, frozenset[str]] = {
    # read the register with personal data, on maps and in dossiers
    "register.view": frozenset({Role.SURVEYOR, Role.CLERK, Role.REVIEWER, Role.DATA_STAFF, Role.ADMIN}),
    # contractors, members, contracts, register entries, certificates, transfers
    "register.edit": frozenset({Role.CLERK, Role.ADMIN}),
    "register.review": frozenset({Role.REVIEWER, Role.ADMIN}),
    # parcel geometry and attributes
    "parcel.edit": frozenset({Role.SURVEYOR, Role.ADMIN}),
    # Ministry package import/export, quality inspection
    "data.manage": frozenset({Role.DATA_STAFF, Role.ADMIN}),
    # shared-data API for other departments (read-only)
    "api.share": frozenset({Role.DEPARTMENT, Role.DATA_STAFF, Role.ADMIN}),
    "accounts.manage": frozenset({Role.ADMIN}),
}


def has_capability(user: User | None, capability: str) -> bool:
    role = role_of(user)
    return role is not None and role in CAPABILITIES[capability]


def capability(name: str) -> type[BasePermission]:
    """A DRF permission class for one capability: ``permission_classes = [capability("register.view")]``."""

    class HasCapability(BasePermission):
        message = f"您的角色无权执行此操作（需要权限 {name}）"

        def has_permission(self, request: Request, view: Any) -> bool:
            return has_capability(request.user, name)

    HasCapability.__name__ = f"Has_{name.replace('.', '_')}"
    return HasCapability
