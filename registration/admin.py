"""Registration cases and the archive in the Django admin: read-only listings for staff,
scoped to the user's jurisdiction. Steps and documents change only through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts.scoping import scope
from registration import models as m
from registration.selectors import may_handle


class ReadOnlyScoped(admin.ModelAdmin):
    code_field = "collective_code"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope(super().get_queryset(request), request.user, self.code_field)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return may_handle(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_handle(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(m.Case)
class CaseAdmin(ReadOnlyScoped):
    list_display = ("number", "item", "state", "applicant_name", "collective_code", "created_at")
    list_filter = ("state", "business_type")
    search_fields = ("number", "applicant_name", "contractor_code")


@admin.register(m.ArchiveDocument)
class ArchiveDocumentAdmin(ReadOnlyScoped):
    list_display = ("title", "kind", "version", "register_code", "holder_name", "size", "sha256", "created_at")
    list_filter = ("kind", "origin")
    search_fields = ("title", "register_code", "contractor_code", "holder_name", "sha256")


@admin.register(m.PlatformMessage)
class PlatformMessageAdmin(ReadOnlyScoped):
    code_field = "case__collective_code"
    list_display = ("filename", "business_type", "state", "created_at", "sent_at")
    list_filter = ("state", "business_type")
