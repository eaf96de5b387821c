"""Shared pieces of the register's models: code-table validation, versioning, field helpers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.deconstruct import deconstructible

_code_cache: dict[str, frozenset[str]] = {}


def code_values(table: str) -> frozenset[str]:
    """The codes of one code table (C.1-C.19, GB4761, GB21010), cached per process."""
    if table not in _code_cache:
        from parcels.models.codes import CodeItem

        _code_cache[table] = frozenset(CodeItem.objects.filter(table=table).values_list("code", flat=True))
    return _code_cache[table]


def clear_code_cache() -> None:
    _code_cache.clear()


@deconstructible
class InCodeTable:
    """Validator: the value must be a code of the named code table."""

    def __init__(self, table: str) -> None:
        self.table = table

    def __call__(self, value: Any) -> None:
        if value in (None, ""):
            return
        values = code_values(self.table)
        if value not in values:
            raise ValidationError(
                "%(value)r 不是代码表 %(table)s 中的值",
                code="code_table",
                params={"value": value, "table": self.table},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InCodeTable) and other.table == self.table


def coded(column: str, verbose: str, table: str, width: int, *, required: bool = True, **kw: Any) -> models.CharField:
    """A Char(n) field whose value comes from a code table."""
    return models.CharField(
        verbose,
        max_length=width,
        db_column=column,
        validators=[InCodeTable(table)],
        null=not required,
        blank=not required,
        **kw,
    )


def text(column: str, verbose: str, width: int, *, required: bool = True, **kw: Any) -> models.CharField:
    return models.CharField(verbose, max_length=width, db_column=column, null=not required, blank=not required, **kw)


def area_field(column: str, verbose: str, *, required: bool = True) -> models.DecimalField:
    """Float(15,2) of the standard: m² or 亩 with two decimals."""
    return models.DecimalField(
        verbose, max_digits=15, decimal_places=2, db_column=column, null=not required, blank=not required
    )


def date(column: str, verbose: str, *, required: bool = True) -> models.DateField:
    return models.DateField(verbose, db_column=column, null=not required, blank=not required)


ZERO = Decimal("0")


class Versioned(models.Model):
    """Optimistic locking and authorship. Services bump ``version`` on every change and
    refuse a write whose expected version is stale; the change itself goes to ChangeRecord."""

    version = models.PositiveIntegerField("版本", default=1)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("修改时间", auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="修改人",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        # No index: nothing looks rows up by author, and every register table would pay for
        # one on each bulk import. Deleting a user (rare; accounts are deactivated) scans.
        db_index=False,
    )

    class Meta:
        abstract = True


class Status(models.TextChoices):
    CURRENT = "current", "现势"
    HISTORIC = "historic", "历史"
