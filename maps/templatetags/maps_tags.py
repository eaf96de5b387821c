"""Template helpers of the map pages: ``{% if user|can:"parcel.edit" %}``."""

from __future__ import annotations

from django import template

from accounts.permissions import has_capability
from accounts.scoping import User

register = template.Library()


@register.filter
def can(user: User | None, capability: str) -> bool:
    """Whether the user's role has the capability (``accounts.permissions.CAPABILITIES``)."""
    return has_capability(user, capability)
