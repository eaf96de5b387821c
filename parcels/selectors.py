"""Reads of the register for maps and detail screens. Every read is scoped to what the user
may see (``accounts.scoping``); writes live in ``parcels.services``.

Two audiences, two payloads:

* the map (``parcels_in_bbox``, ``map_overview``): slim, desensitised parcel attributes that
  anyone may see — never contractors, members, ID or phone numbers, nor the neighbour and
  witness fields (DKDZ/DKXZ/DKNZ/DKBZ, ZJRXM) that often carry people's names;
* the dossier (``parcel_dossier``): the full register summary of one parcel, with personal
  data, for staff allowed to read the register (the API checks the capability).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.contrib.gis.db.models.functions import AsGeoJSON, Envelope, GeomOutputGeoFunc
from django.contrib.gis.geos import Polygon
from django.db.models import OuterRef, QuerySet, Subquery

from accounts.scoping import NOWHERE, User, region_prefix, scope
from parcels.models import (
    CodeItem,
    ContractParcel,
    FamilyMember,
    Parcel,
    Region,
    RegisterBook,
    TransferContract,
)
from parcels.models.base import Status

STORAGE_SRID = cast(int, settings.NONGDI["STORAGE_SRID"])

# GeoJSON coordinate precision of the map layer: 7 decimals of a degree is about 1 cm, finer
# than any survey, so neighbouring parcels keep their shared edges exactly.
MAP_PRECISION = 7
# The region outline drawn under the parcels is simplified by 1e-5 degree (about 1 m at 31N):
# it is a backdrop for orientation, not a legal boundary.
OUTLINE_TOLERANCE_DEG = 1e-5
OUTLINE_PRECISION = 6

BBox = tuple[float, float, float, float]  # min lng, min lat, max lng, max lat (CGCS2000)


class SimplifyPreserveTopology(GeomOutputGeoFunc):
    """PostGIS ST_SimplifyPreserveTopology(geom, tolerance); tolerance in the geometry's units."""

    function = "ST_SimplifyPreserveTopology"


def _code_name(table: str, field: str) -> Subquery:
    """The name of a code-table value as a correlated subquery (unique index on table, code)."""
    return Subquery(CodeItem.objects.filter(table=table, code=OuterRef(field)).values("name")[:1])


def code_names(tables: Iterable[str]) -> dict[tuple[str, str], str]:
    """Names of the values of some code tables, keyed by (table, code), in one query."""
    rows = CodeItem.objects.filter(table__in=list(tables)).values_list("table", "code", "name")
    return {(table, code): name for table, code, name in rows}


# --- the map -----------------------------------------------------------------------------


def map_parcels(user: User | None) -> QuerySet[Parcel]:
    """Current parcels on the map: a user with a jurisdiction sees it; everyone else (the
    public, accounts without a region) sees every current parcel — the map layer carries no
    personal data, so the public view is the whole county."""
    parcels = Parcel.objects.filter(status=Status.CURRENT)
    if user is None or not user.is_authenticated or region_prefix(user) == NOWHERE:
        return parcels
    return scope(parcels, user)


def parcels_overlapping(*, user: User | None, bbox: BBox) -> QuerySet[Parcel]:
    """The map's parcels whose bounding box overlaps ``bbox``: ``dk.geom && envelope``, which
    the GiST index on ``dk.geom`` answers."""
    envelope = Polygon.from_bbox(bbox)
    envelope.srid = STORAGE_SRID
    return map_parcels(user).filter(geom__bboverlaps=envelope)


@dataclass(frozen=True)
class MapParcel:
    """One parcel of the map layer; ``geometry`` is GeoJSON text (lng/lat, 7 decimals)."""

    dkbm: str
    dkmc: str
    dklb: str
    dklb_name: str | None
    tdlylx: str | None
    tdlylx_name: str | None
    scmj: Decimal
    scmjm: Decimal | None
    status: str
    geometry: str


@dataclass(frozen=True)
class MapParcelPage:
    """The parcels of a bbox, or none and ``truncated`` when there are more than ``limit``."""

    parcels: list[MapParcel]
    truncated: bool
    limit: int


def parcels_in_bbox(*, user: User | None, bbox: BBox, limit: int) -> MapParcelPage:
    """Current parcels whose bounding box overlaps ``bbox``, in one query.

    ``geom && envelope`` is answered by the GiST index on ``dk.geom``; one row more than
    ``limit`` is read to tell "exactly limit" from "too many", and when there are too many
    nothing is returned (the map asks the user to zoom in).

    Example: ``parcels_in_bbox(user=request.user, bbox=(121.39, 31.59, 121.41, 31.61), limit=5000)``
    """
    rows = list(
        parcels_overlapping(user=user, bbox=bbox)
        .annotate(
            geojson=AsGeoJSON("geom", precision=MAP_PRECISION),
            dklb_name=_code_name("C.7", "category"),
            tdlylx_name=_code_name("GB21010", "land_use_type"),
        )
        .order_by("code")
        .values_list(
            "code",
            "name",
            "category",
            "dklb_name",
            "land_use_type",
            "tdlylx_name",
            "surveyed_area",
            "surveyed_area_mu",
            "status",
            "geojson",
        )[: limit + 1]
    )
    if len(rows) > limit:
        return MapParcelPage(parcels=[], truncated=True, limit=limit)
    return MapParcelPage(parcels=[MapParcel(*row) for row in rows], truncated=False, limit=limit)


@dataclass(frozen=True)
class MapOverview:
    """Where the home map opens: the bounds to fit (min lng, min lat, max lng, max lat), the
    outline of the user's region (or of the county, for the public) and a label of what the
    user sees."""

    bounds: BBox | None
    outline: str | None
    region_code: str | None
    region_name: str | None
    scope_label: str


def map_overview(*, user: User | None) -> MapOverview:
    """The region the home map shows: the user's jurisdiction, or the configured county for
    the public and for users who see everything. Bounds come from the region's boundary when
    it is stored, otherwise from the extent of the visible parcels."""
    signed_in = user is not None and user.is_authenticated
    prefix = region_prefix(user) if signed_in else NOWHERE
    restricted = prefix not in ("", NOWHERE)
    region_code = prefix if restricted else str(settings.NONGDI["COUNTY_CODE"])
    region = (
        Region.objects.filter(code=region_code)
        .annotate(
            outline=AsGeoJSON(SimplifyPreserveTopology("geom", OUTLINE_TOLERANCE_DEG), precision=OUTLINE_PRECISION),
            envelope=Envelope("geom"),
        )
        .values("code", "name", "outline", "envelope")
        .first()
    )
    region_name = region["name"] if region else None
    if restricted:
        label = f"辖区：{region_name or region_code}"
    elif signed_in and prefix == "":
        label = "全部区域"
    else:
        label = "公开地图（不含个人信息）"
    bounds: BBox | None = None
    outline: str | None = None
    if region and region["envelope"] is not None:
        bounds = region["envelope"].extent
        outline = region["outline"]
    else:
        extent = map_parcels(user).aggregate(extent=Extent("geom"))["extent"]
        bounds = tuple(extent) if extent else None  # type: ignore[assignment]
    return MapOverview(
        bounds=bounds,
        outline=outline,
        region_code=region["code"] if region else None,
        region_name=region_name,
        scope_label=label,
    )


# --- the dossier -------------------------------------------------------------------------

DOSSIER_CODE_TABLES = ("C.6", "C.7", "C.8", "C.9", "C.10", "C.16", "C.17", "C.19", "GB4761", "GB21010")


@dataclass(frozen=True)
class MemberSummary:
    name: str
    sex: str
    sex_name: str | None
    relation: str
    relation_name: str | None
    is_co_owner: str | None


@dataclass(frozen=True)
class ContractorSummary:
    code: str
    name: str
    kind: str
    kind_name: str | None
    member_count: int
    members: list[MemberSummary]


@dataclass(frozen=True)
class TransferSummary:
    code: str
    method: str
    method_name: str | None
    term: str
    start_date: dt.date
    end_date: dt.date
    area: Decimal
    area_mu: Decimal | None
    transferee_name: str
    includes_parcel: bool


@dataclass(frozen=True)
class RegisterSummary:
    """The register entry (登记簿) and its certificate (权证): ``certificate_status`` is
    ``none`` (未发证), ``valid`` (有效) or ``cancelled`` (已注销)."""

    code: str
    status: str
    registered_on: dt.date
    certificate_status: str
    certificate_status_name: str
    certificate_issued_on: dt.date | None


@dataclass(frozen=True)
class ContractSummary:
    code: str
    status: str
    method: str
    method_name: str | None
    term_start: dt.date
    term_end: dt.date
    signed_on: dt.date
    total_area: Decimal
    total_area_mu: Decimal | None
    parcel_count: int
    contract_area: Decimal
    contract_area_mu: Decimal | None
    link_status: str
    contractor: ContractorSummary
    register: RegisterSummary | None
    transfers: list[TransferSummary]


@dataclass(frozen=True)
class ParcelDossier:
    dkbm: str
    dkmc: str
    status: str
    version: int
    syqxz: str | None
    syqxz_name: str | None
    dklb: str
    dklb_name: str | None
    tdlylx: str | None
    tdlylx_name: str | None
    dldj: str
    dldj_name: str | None
    tdyt: str
    tdyt_name: str | None
    sfjbnt: str
    sfjbnt_name: str | None
    scmj: Decimal
    scmjm: Decimal | None
    dkdz: str | None
    dkxz: str | None
    dknz: str | None
    dkbz: str | None
    dkbzxx: str | None
    zjrxm: str | None
    contracts: list[ContractSummary]


CERTIFICATE_STATUS_NAMES = {"none": "未发证", "valid": "有效", "cancelled": "已注销"}


def parcel_dossier(*, user: User | None, code: str) -> ParcelDossier | None:
    """One parcel (current or historic) with its contracts, contractors and members, register
    entries, certificates and transfers; ``None`` when it does not exist or lies outside the
    user's jurisdiction (the caller answers 404 for both, so codes cannot be probed).

    At most six queries, whatever the number of contracts and members.

    Example: ``parcel_dossier(user=request.user, code="3101511010010100001")``
    """
    parcel = scope(Parcel.objects.defer("geom"), user).filter(code=code).first()
    if parcel is None:
        return None
    links = list(
        ContractParcel.objects.filter(parcel_id=parcel.code)
        .select_related("contract", "contractor")
        .order_by("status", "contract_id")
    )
    contractor_codes = {link.contractor_id for link in links}
    contract_codes = {link.contract_id for link in links}
    register_codes = {link.register_code for link in links}
    members: dict[str, list[FamilyMember]] = {c: [] for c in contractor_codes}
    books: dict[str, RegisterBook] = {}
    transfers: dict[str, list[TransferContract]] = {c: [] for c in contract_codes}
    if links:
        for member in FamilyMember.objects.filter(contractor_id__in=contractor_codes, status=Status.CURRENT):
            members[member.contractor_id].append(member)
        for book in RegisterBook.objects.filter(code__in=register_codes).select_related("certificate"):
            books[book.code] = book
        for transfer in TransferContract.objects.filter(contract_id__in=contract_codes).order_by("code"):
            transfers[transfer.contract_id].append(transfer)
    names = code_names(DOSSIER_CODE_TABLES)

    def name(table: str, value: str | None) -> str | None:
        return names.get((table, value)) if value else None

    def register_of(register_code: str) -> RegisterSummary | None:
        book = books.get(register_code)
        if book is None:
            return None
        certificate = getattr(book, "certificate", None)
        state = certificate.state if certificate is not None else "none"
        return RegisterSummary(
            code=book.code,
            status=book.status,
            registered_on=book.registered_on,
            certificate_status=state,
            certificate_status_name=CERTIFICATE_STATUS_NAMES.get(state, state),
            certificate_issued_on=certificate.issued_on if certificate is not None else None,
        )

    contracts = []
    for link in links:
        contract, contractor = link.contract, link.contractor
        contracts.append(
            ContractSummary(
                code=contract.code,
                status=contract.status,
                method=contract.method,
                method_name=name("C.10", contract.method),
                term_start=contract.term_start,
                term_end=contract.term_end,
                signed_on=contract.signed_on,
                total_area=contract.total_area,
                total_area_mu=contract.total_area_mu,
                parcel_count=contract.parcel_count,
                contract_area=link.contract_area,
                contract_area_mu=link.contract_area_mu,
                link_status=link.status,
                contractor=ContractorSummary(
                    code=contractor.code,
                    name=contractor.name,
                    kind=contractor.kind,
                    kind_name=name("C.16", contractor.kind),
                    member_count=contractor.member_count,
                    members=[
                        MemberSummary(
                            name=m.name,
                            sex=m.sex,
                            sex_name=name("C.17", m.sex),
                            relation=m.relation,
                            relation_name=name("GB4761", m.relation),
                            is_co_owner=m.is_co_owner,
                        )
                        for m in members[contractor.code]
                    ],
                ),
                register=register_of(link.register_code),
                transfers=[
                    TransferSummary(
                        code=t.code,
                        method=t.method,
                        method_name=name("C.10", t.method),
                        term=t.term,
                        start_date=t.start_date,
                        end_date=t.end_date,
                        area=t.area,
                        area_mu=t.area_mu,
                        transferee_name=t.transferee_name,
                        includes_parcel=t.code == link.transfer_contract_code,
                    )
                    for t in transfers[contract.code]
                ],
            )
        )
    return ParcelDossier(
        dkbm=parcel.code,
        dkmc=parcel.name,
        status=parcel.status,
        version=parcel.version,
        syqxz=parcel.ownership,
        syqxz_name=name("C.6", parcel.ownership),
        dklb=parcel.category,
        dklb_name=name("C.7", parcel.category),
        tdlylx=parcel.land_use_type,
        tdlylx_name=name("GB21010", parcel.land_use_type),
        dldj=parcel.fertility,
        dldj_name=name("C.8", parcel.fertility),
        tdyt=parcel.land_use,
        tdyt_name=name("C.9", parcel.land_use),
        sfjbnt=parcel.basic_farmland,
        sfjbnt_name=name("C.19", parcel.basic_farmland),
        scmj=parcel.surveyed_area,
        scmjm=parcel.surveyed_area_mu,
        dkdz=parcel.east,
        dkxz=parcel.west,
        dknz=parcel.south,
        dkbz=parcel.north,
        dkbzxx=parcel.remarks,
        zjrxm=parcel.witnesses,
        contracts=contracts,
    )
