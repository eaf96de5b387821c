"""The register in the Django admin: listing, search and filters for staff, scoped to the
user's jurisdiction. Read-only: register changes go through the services (history, versions,
rules), which the admin's generic save would bypass."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts.permissions import has_capability
from accounts.scoping import scope
from parcels import models as m


class RegisterAdmin(admin.ModelAdmin):
    code_field = "code"
    exclude = ("geom",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return scope(super().get_queryset(request), request.user, self.code_field)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return has_capability(request.user, "register.view")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_capability(request.user, "register.view")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(m.Region)
class RegionAdmin(RegisterAdmin):
    list_display = ("code", "name", "level", "area_srid")
    list_filter = ("level",)
    search_fields = ("code", "name")


@admin.register(m.CodeItem)
class CodeItemAdmin(RegisterAdmin):
    list_display = ("table", "table_name", "code", "name")
    list_filter = ("table",)
    search_fields = ("code", "name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return admin.ModelAdmin.get_queryset(self, request)


@admin.register(m.Collective)
class CollectiveAdmin(RegisterAdmin):
    list_display = ("code", "name", "head_name", "survey_date")
    search_fields = ("code", "name")


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent, never edited here (writes go through the services)."""

    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class MemberInline(ReadOnlyInline):
    model = m.FamilyMember
    fields = ("name", "sex", "relation", "id_type", "id_number", "remark", "status")


@admin.register(m.Contractor)
class ContractorAdmin(RegisterAdmin):
    list_display = ("code", "name", "kind", "member_count", "status")
    list_filter = ("kind", "status")
    search_fields = ("code", "name")
    inlines = [MemberInline]


@admin.register(m.Parcel)
class ParcelAdmin(RegisterAdmin):
    list_display = ("code", "name", "category", "land_use_type", "surveyed_area", "surveyed_area_mu", "status")
    list_filter = ("status", "category", "land_use_type", "basic_farmland")
    search_fields = ("code", "name")


class ContractParcelInline(ReadOnlyInline):
    model = m.ContractParcel
    fk_name = "contract"
    fields = ("parcel", "contract_area", "contract_area_mu", "transfer_contract_code", "status")


@admin.register(m.Contract)
class ContractAdmin(RegisterAdmin):
    list_display = ("code", "contractor", "method", "term_start", "term_end", "total_area", "parcel_count")
    list_filter = ("method", "status")
    search_fields = ("code",)
    inlines = [ContractParcelInline]


@admin.register(m.RegisterBook)
class RegisterBookAdmin(RegisterAdmin):
    list_display = ("code", "serial", "registrar", "registered_on", "status")
    search_fields = ("code", "serial")


@admin.register(m.Certificate)
class CertificateAdmin(RegisterAdmin):
    code_field = "register_book_id"
    list_display = ("register_book", "issuing_authority", "issued_on", "collected", "state")
    list_filter = ("state", "collected")
    search_fields = ("register_book__code",)


@admin.register(m.TransferContract)
class TransferContractAdmin(RegisterAdmin):
    list_display = ("code", "contract", "transferee_name", "start_date", "end_date", "area")
    search_fields = ("code", "transferee_name")


@admin.register(m.ChangeRecord)
class ChangeRecordAdmin(RegisterAdmin):
    code_field = "object_code"
    list_display = ("at", "model", "object_code", "action", "version", "actor", "reason")
    list_filter = ("model", "action")
    search_fields = ("object_code",)
