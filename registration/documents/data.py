"""What the documents print, read from the register in a few queries: a contract (or
register entry) with its parties, members and parcels."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from gisapp.config import config
from parcels.models import (
    Certificate,
    Collective,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    Region,
    RegisterBook,
)
from parcels.models.base import Status
from parcels.selectors import code_names
from parcels.services import LONG_TERM_END, sqm_to_mu

MU_DECIMALS = config().mu_decimals


@dataclass(frozen=True)
class ParcelRow:
    code: str
    name: str
    east: str
    west: str
    south: str
    north: str
    area: Decimal  # contract area (HTMJ), m²
    area_mu: Decimal
    surveyed_area: Decimal
    category: str
    land_use_type: str
    basic_farmland: str
    acquisition: str
    is_share: bool


@dataclass(frozen=True)
class MemberRow:
    name: str
    sex: str
    relation: str
    id_number: str
    remark: str
    is_co_owner: bool


@dataclass(frozen=True)
class Entry:
    """A contract and its register entry as the documents print them."""

    code: str
    status: str
    collective: Collective
    county_name: str
    contractor: Contractor
    id_type: str
    members: list[MemberRow]
    method: str
    method_code: str
    term_start: dt.date
    term_end: dt.date
    signed_on: dt.date
    parcels: list[ParcelRow]
    total_area: Decimal
    total_area_mu: Decimal
    book: RegisterBook | None
    certificate: Certificate | None

    @property
    def term_label(self) -> str:
        if self.term_end == LONG_TERM_END:
            return f"自{self.term_start:%Y年%m月%d日}起，长久不变"
        return f"{self.term_start:%Y年%m月%d日}至{self.term_end:%Y年%m月%d日}"

    @property
    def long_term(self) -> bool:
        return self.term_end == LONG_TERM_END

    @property
    def parcel_codes(self) -> list[str]:
        return [p.code for p in self.parcels]


def mu(value: Decimal | None) -> str:
    """亩 with the configured number of decimals."""
    if value is None:
        return ""
    return f"{value:.{MU_DECIMALS}f}"


def sqm(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def load_entry(code: str) -> Entry:
    """The contract ``code`` with everything the contract, certificate and register page show.
    Historic contracts show the parcels they held when they ended."""
    contract = Contract.objects.select_related("collective", "contractor").get(code=code)
    links = list(ContractParcel.objects.filter(contract_id=code, status=Status.CURRENT).order_by("parcel_id"))
    if not links and contract.status != Status.CURRENT:
        last = {}
        for link in ContractParcel.objects.filter(contract_id=code).order_by("parcel_id", "id"):
            last[link.parcel_id] = link
        links = list(last.values())
    parcels = {p.code: p for p in Parcel.objects.filter(code__in=[link.parcel_id for link in links])}
    names = code_names(["C.7", "C.10", "C.15", "C.17", "C.18", "GB4761", "GB21010", "C.19"])

    def name(table: str, value: str | None) -> str:
        if not value:
            return ""
        return names.get((table, value), value)

    rows = []
    for link in links:
        parcel = parcels[link.parcel_id]
        rows.append(
            ParcelRow(
                code=parcel.code,
                name=parcel.name,
                east=parcel.east or "",
                west=parcel.west or "",
                south=parcel.south or "",
                north=parcel.north or "",
                area=link.contract_area,
                area_mu=link.contract_area_mu if link.contract_area_mu is not None else sqm_to_mu(link.contract_area),
                surveyed_area=parcel.surveyed_area,
                category=name("C.7", parcel.category),
                land_use_type=name("GB21010", parcel.land_use_type),
                basic_farmland=name("C.19", parcel.basic_farmland),
                acquisition=name("C.10", link.acquisition),
                is_share=link.is_share == "1",
            )
        )
    member_rows = [
        MemberRow(
            name=m.name,
            sex=name("C.17", m.sex),
            relation=name("GB4761", m.relation),
            id_number=m.id_number,
            remark=name("C.18", m.remark),
            is_co_owner=m.is_co_owner != "2",
        )
        for m in FamilyMember.objects.filter(contractor_id=contract.contractor_id, status=Status.CURRENT).order_by("id")
    ]
    total = sum((r.area for r in rows), Decimal("0"))
    county = Region.objects.filter(code=code[:6]).values_list("name", flat=True).first() or code[:6]
    return Entry(
        code=code,
        status=contract.status,
        collective=contract.collective,
        county_name=county,
        contractor=contract.contractor,
        id_type=name("C.15", contract.contractor.id_type),
        members=member_rows,
        method=name("C.10", contract.method),
        method_code=contract.method,
        term_start=contract.term_start,
        term_end=contract.term_end,
        signed_on=contract.signed_on,
        parcels=rows,
        total_area=total,
        total_area_mu=sqm_to_mu(total),
        book=RegisterBook.objects.filter(code=code).first(),
        certificate=Certificate.objects.filter(register_book__code=code).first(),
    )
