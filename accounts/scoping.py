"""Jurisdiction by code prefix.

Every register object carries a Ministry code that begins with its region's code (county 6,
town 9, village 12, group 14 digits), so "inside my jurisdiction" is "my region's code is a
prefix of the object's code". That is one indexed ``LIKE 'prefix%'`` per query.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, QuerySet

from accounts.models import Profile, Role
from gisapp.errors import OutOfJurisdictionError

M = TypeVar("M", bound=Model)

User = AbstractBaseUser | AnonymousUser

NOWHERE = "\x00"  # a prefix no code has: users without a profile see nothing


def profile_of(user: User | None) -> Profile | None:
    if user is None or not user.is_authenticated:
        return None
    try:
        profile: Profile = getattr(user, "profile")  # noqa: B009 (reverse one-to-one, absent on AnonymousUser)
        return profile
    except Profile.DoesNotExist:
        return None


def role_of(user: User | None) -> str | None:
    profile = profile_of(user)
    if profile is not None:
        return profile.role
    if user is not None and user.is_authenticated and getattr(user, "is_superuser", False):
        return Role.ADMIN
    return None


def region_prefix(user: User | None) -> str:
    """The code prefix a user may see: '' for the whole system, NOWHERE for nobody."""
    if user is None or not user.is_authenticated:
        return NOWHERE
    profile = profile_of(user)
    if profile is None:
        return "" if getattr(user, "is_superuser", False) else NOWHERE
    if profile.region_id is None:
        return "" if profile.role == Role.ADMIN else NOWHERE
    return str(profile.region_id)


def scope(queryset: QuerySet[M], user: User | None, field: str = "code") -> QuerySet[M]:
    """Only the rows whose code (``field``) lies in the user's jurisdiction."""
    prefix = region_prefix(user)
    if prefix == "":
        return queryset
    if prefix == NOWHERE:
        return queryset.none()
    return queryset.filter(**{f"{field}__startswith": prefix})


def in_jurisdiction(user: User | None, code: str) -> bool:
    prefix = region_prefix(user)
    return prefix != NOWHERE and code.startswith(prefix)


def ensure_in_jurisdiction(user: User | None, code: str) -> None:
    if user is None:  # system work (migrations, demo loader, importer run by data staff CLI)
        return
    if not in_jurisdiction(user, code):
        raise OutOfJurisdictionError(f"对象 {code} 不在您的管辖区域内")
