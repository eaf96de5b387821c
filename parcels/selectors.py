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
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import shapely
from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.contrib.gis.db.models.functions import AsGeoJSON, Envelope, GeomOutputGeoFunc
from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery

from accounts.scoping import NOWHERE, User, region_prefix, scope
from layers.checks.guard import check_parcel_edit
from parcels.models import (
    ChangeRecord,
    CodeItem,
    Collective,
    ContractParcel,
    FamilyMember,
    Parcel,
    ParcelLineage,
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


# --- identify, search, history, the editor's reads -------------------------------------------

IDENTIFY_PRECISION = 7
# The editor's geometry keeps every digit (15 significant decimals is all a double holds): a
# vertex snapped onto a neighbour's must be bit-identical with it, or the two parcels would
# overlap or gap by ~1e-10 degrees and the shared boundary point would be two points.
EDIT_PRECISION = 15


@dataclass(frozen=True)
class ContractBrief:
    """One current contract holding a parcel, as the identify popup and search list show it."""

    code: str
    contractor_code: str
    contractor_name: str
    contract_area: Decimal
    contract_area_mu: Decimal | None
    register_code: str
    certificate_status: str
    certificate_status_name: str
    transfer_contract_code: str | None


@dataclass(frozen=True)
class IdentifiedParcel:
    """The parcel under a point: the map's desensitised attributes, its GeoJSON geometry and
    bbox; ``contracts`` is ``None`` unless the caller may read the register."""

    parcel: MapParcel
    version: int
    sfjbnt: str
    bbox: BBox
    contracts: list[ContractBrief] | None


IDENTIFY_SQL = """
SELECT t.dkbm, t.dkmc, t.dklb, c7.name, t.tdlylx, lu.name, t.scmj, t.scmjm, t.status,
       ST_AsGeoJSON(t.geom, %(precision)s, 0), ST_XMin(t.geom), ST_YMin(t.geom), ST_XMax(t.geom), ST_YMax(t.geom),
       t.version, t.sfjbnt,
       CASE WHEN %(register)s THEN (
           SELECT coalesce(json_agg(json_build_object(
                      'code', x.cbhtbm, 'contractor_code', x.cbfbm, 'contractor_name', f.cbfmc,
                      'contract_area', x.htmj::text, 'contract_area_mu', x.htmjm::text,
                      'register_code', x.cbjyqzbm, 'certificate_state', z.state,
                      'transfer_contract_code', x.lzhtbm) ORDER BY x.cbhtbm), '[]'::json)
           FROM cbdkxx x JOIN cbht h ON h.cbhtbm = x.cbhtbm JOIN cbf f ON f.cbfbm = x.cbfbm
           LEFT JOIN cbjyqz z ON z.cbjyqzbm = x.cbjyqzbm
           WHERE x.dkbm = t.dkbm AND x.status = 'current' AND h.status = 'current')
       END
FROM dk t
LEFT JOIN code_item c7 ON c7."table" = 'C.7' AND c7.code = t.dklb
LEFT JOIN code_item lu ON lu."table" = 'GB21010' AND lu.code = t.tdlylx
WHERE t.status = 'current' AND ST_Intersects(t.geom, ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4490))
  AND t.dkbm LIKE %(prefix)s
ORDER BY t.scmj, t.dkbm
LIMIT 1
"""


def parcel_at(*, user: User | None, lng: float, lat: float, with_register: bool) -> IdentifiedParcel | None:
    """The current parcel under a point (lng/lat, CGCS2000) among those the user sees on the
    map (``map_parcels``); where parcels overlap (bad data), the smallest. ``with_register``
    adds the current contracts (personal data: the caller checks ``register.view``).

    One statement — the parcel, its code-table names and its contracts — because a map asks
    on every click: the ORM's compilation of the same reads cost more than running them.
    ``ST_Intersects(geom, point)`` is answered by the GiST index.

    Example: ``parcel_at(user=request.user, lng=121.4003, lat=31.6004, with_register=False)``
    """
    prefix = region_prefix(user) if user is not None and user.is_authenticated else NOWHERE
    with connection.cursor() as cursor:
        cursor.execute(
            IDENTIFY_SQL,
            {
                "precision": IDENTIFY_PRECISION,
                "register": with_register,
                "lng": lng,
                "lat": lat,
                "prefix": ("" if prefix == NOWHERE else prefix) + "%",
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    (code, name, category, category_name, land_use, land_use_name, sqm, mu, status, geojson) = row[:10]
    west, south, east, north, version, basic_farmland, contracts = row[10:]
    briefs = None
    if with_register:
        rows = json.loads(contracts) if isinstance(contracts, str) else (contracts or [])
        briefs = [
            ContractBrief(
                code=c["code"],
                contractor_code=c["contractor_code"],
                contractor_name=c["contractor_name"],
                contract_area=Decimal(c["contract_area"]),
                contract_area_mu=Decimal(c["contract_area_mu"]) if c["contract_area_mu"] is not None else None,
                register_code=c["register_code"],
                certificate_status=c["certificate_state"] or "none",
                certificate_status_name=CERTIFICATE_STATUS_NAMES.get(
                    c["certificate_state"] or "none", c["certificate_state"]
                ),
                transfer_contract_code=c["transfer_contract_code"],
            )
            for c in rows
        ]
    return IdentifiedParcel(
        parcel=MapParcel(
            dkbm=code,
            dkmc=name,
            dklb=category,
            dklb_name=category_name,
            tdlylx=land_use,
            tdlylx_name=land_use_name,
            scmj=sqm,
            scmjm=mu,
            status=status,
            geometry=geojson,
        ),
        version=version,
        sfjbnt=basic_farmland,
        bbox=(west, south, east, north),
        contracts=briefs,
    )


@dataclass(frozen=True)
class SearchHit:
    """One search result: a parcel (``code`` = DKBM) or a region (``code`` = region code),
    what matched, and where it is (bbox, lng/lat) so the map can go there."""

    kind: str
    code: str
    title: str
    subtitle: str
    matched: str
    bbox: BBox | None


SEARCH_LIMIT = 20
_DIGITS = re.compile(r"^\d{1,19}$")
_CERTIFICATE = re.compile(r"^\d{18}[JQjq]$")


def _parcel_hits(parcels: QuerySet[Parcel], matched: str, contractors: dict[str, str], limit: int) -> list[SearchHit]:
    rows = parcels.annotate(envelope=Envelope("geom")).values_list("code", "name", "envelope")[:limit]
    return [
        SearchHit(
            kind="parcel",
            code=code,
            title=f"{name}（{code}）",
            subtitle=contractors.get(code, ""),
            matched=matched,
            bbox=envelope.extent if envelope is not None else None,
        )
        for code, name, envelope in rows
    ]


def _contractor_names(codes: Iterable[str]) -> dict[str, str]:
    rows = ContractParcel.objects.filter(
        parcel_id__in=list(codes), status=Status.CURRENT, contract__status=Status.CURRENT
    ).values_list("parcel_id", "contractor__name")
    names: dict[str, list[str]] = {}
    for code, name in rows:
        names.setdefault(str(code), []).append(str(name))
    return {code: "承包方：" + "、".join(sorted(set(v))) for code, v in names.items()}


def parcel_search(*, user: User | None, query: str, limit: int = SEARCH_LIMIT) -> list[SearchHit]:
    """Parcels and regions matching what a clerk types: a DKBM (or its leading digits), a
    certificate / register code (CBJYQZBM, 18 digits + J/Q) or serial number, a contractor's
    name, a parcel name, or a village / town / group name. Scoped to the user's jurisdiction;
    current parcels only. Codes are matched by prefix (``LIKE 'q%'`` on the code indexes);
    names by substring.

    Example: ``parcel_search(user=request.user, query="张三")``
    """
    q = query.strip()
    if not q:
        return []
    hits: list[SearchHit] = []
    current = scope(Parcel.objects.filter(status=Status.CURRENT), user)
    if _DIGITS.match(q):
        parcels = current.filter(code__startswith=q).order_by("code")
        codes = list(parcels.values_list("code", flat=True)[:limit])
        hits += _parcel_hits(parcels, "地块编码", _contractor_names(codes), limit)
    if _CERTIFICATE.match(q) or (_DIGITS.match(q) and len(q) >= 14) or not _DIGITS.match(q):
        books = scope(RegisterBook.objects.all(), user).filter(Q(code__startswith=q.upper()) | Q(serial=q))
        book_codes = list(books.values_list("code", flat=True)[:limit])
        if book_codes:
            parcel_codes = ContractParcel.objects.filter(register_code__in=book_codes, status=Status.CURRENT)
            parcels = current.filter(code__in=parcel_codes.values("parcel_id")).order_by("code")
            codes = list(parcels.values_list("code", flat=True)[:limit])
            hits += _parcel_hits(parcels, "承包经营权证", _contractor_names(codes), limit)
    if not _DIGITS.match(q):
        regions = (
            Region.objects.filter(
                name__contains=q, level__in=[Region.Level.TOWN, Region.Level.VILLAGE, Region.Level.GROUP]
            )
            .annotate(envelope=Envelope("geom"))
            .order_by("code")
            .values_list("code", "name", "level", "envelope")
        )
        prefix = region_prefix(user)
        for code, name, level, envelope in regions[: limit * 2]:
            if prefix == NOWHERE or not (code.startswith(prefix) or prefix.startswith(code)):
                continue
            hits.append(
                SearchHit(
                    kind="region",
                    code=code,
                    title=name,
                    subtitle=f"{Region.Level(level).label} {code}",
                    matched="区域",
                    bbox=envelope.extent if envelope is not None else None,
                )
            )
        holders = ContractParcel.objects.filter(
            status=Status.CURRENT, contract__status=Status.CURRENT, contractor__name__contains=q
        )
        parcels = current.filter(code__in=holders.values("parcel_id")).order_by("code")
        codes = list(parcels.values_list("code", flat=True)[:limit])
        hits += _parcel_hits(parcels, "承包方", _contractor_names(codes), limit)
        named = current.filter(name__contains=q).order_by("code")
        codes = list(named.values_list("code", flat=True)[:limit])
        hits += _parcel_hits(named, "地块名称", _contractor_names(codes), limit)
    seen: set[tuple[str, str]] = set()
    unique = []
    for hit in hits:
        if (hit.kind, hit.code) not in seen:
            seen.add((hit.kind, hit.code))
            unique.append(hit)
    return unique[:limit]


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    action: str
    action_name: str
    actor: str
    at: dt.datetime
    reason: str
    changed: list[str]


@dataclass(frozen=True)
class LineageLink:
    code: str
    operation: str
    operation_name: str
    at: dt.datetime


@dataclass(frozen=True)
class ParcelHistory:
    dkbm: str
    entries: list[HistoryEntry]
    parents: list[LineageLink]
    children: list[LineageLink]


def _field_labels() -> dict[str, str]:
    labels = {f.attname: str(f.verbose_name) for f in Parcel._meta.concrete_fields}
    labels["geom"] = "地块范围（图形）"
    return labels


def parcel_history(*, user: User | None, code: str) -> ParcelHistory | None:
    """The changes of one parcel (who, when, which fields, why) and the split/merge links
    to the parcels it came from and became; ``None`` outside the jurisdiction.

    Example: ``parcel_history(user=request.user, code="3101511010010100001")``
    """
    parcel = scope(Parcel.objects.only("id", "code"), user).filter(code=code).first()
    if parcel is None:
        return None
    labels = _field_labels()
    ignore = {"version", "id"}
    entries = []
    for record in ChangeRecord.objects.filter(model=Parcel._meta.label, object_id=parcel.pk).select_related("actor"):
        before, after = record.before or {}, record.after or {}
        changed = [
            labels.get(key, key) for key in after if key not in ignore and before and before.get(key) != after.get(key)
        ]
        entries.append(
            HistoryEntry(
                version=record.version,
                action=record.action,
                action_name=ChangeRecord.Action(record.action).label,
                actor=record.actor.get_username() if record.actor else "系统",
                at=record.at,
                reason=record.reason,
                changed=changed,
            )
        )
    operations = dict(ParcelLineage.Operation.choices)
    parents = [
        LineageLink(
            code=link.parent.code, operation=link.operation, operation_name=operations[link.operation], at=link.at
        )
        for link in ParcelLineage.objects.filter(child=parcel).select_related("parent").order_by("parent__code")
    ]
    children = [
        LineageLink(
            code=link.child.code, operation=link.operation, operation_name=operations[link.operation], at=link.at
        )
        for link in ParcelLineage.objects.filter(parent=parcel).select_related("child").order_by("child__code")
    ]
    return ParcelHistory(dkbm=parcel.code, entries=entries, parents=parents, children=children)


EDITABLE_ATTRIBUTES = (
    ("name", "dkmc"),
    ("ownership", "syqxz"),
    ("category", "dklb"),
    ("land_use_type", "tdlylx"),
    ("fertility", "dldj"),
    ("land_use", "tdyt"),
    ("basic_farmland", "sfjbnt"),
    ("east", "dkdz"),
    ("west", "dkxz"),
    ("south", "dknz"),
    ("north", "dkbz"),
    ("remarks", "dkbzxx"),
    ("witnesses", "zjrxm"),
)


@dataclass(frozen=True)
class ParcelFeature:
    """A parcel as the editor loads it: full-precision geometry (GeoJSON, every digit), its
    version for optimistic locking, and its editable attributes under the standard's names."""

    dkbm: str
    status: str
    version: int
    geometry: str
    bbox: BBox
    scmj: Decimal
    scmjm: Decimal | None
    attributes: dict[str, str | None]
    editable: bool


def parcel_feature(*, user: User | None, code: str) -> ParcelFeature | None:
    """One parcel (current or historic) in the user's jurisdiction, for zooming and editing."""
    row = (
        scope(Parcel.objects.all(), user)
        .filter(code=code)
        .annotate(geojson=AsGeoJSON("geom", precision=EDIT_PRECISION), envelope=Envelope("geom"))
        .first()
    )
    if row is None:
        return None
    return ParcelFeature(
        dkbm=row.code,
        status=row.status,
        version=row.version,
        geometry=row.geojson,  # type: ignore[attr-defined]
        bbox=row.envelope.extent,  # type: ignore[attr-defined]
        scmj=row.surveyed_area,
        scmjm=row.surveyed_area_mu,
        attributes={column: getattr(row, name) for name, column in EDITABLE_ATTRIBUTES},
        editable=row.status == Status.CURRENT,
    )


def editor_neighbours(*, user: User | None, bbox: BBox, limit: int) -> tuple[list[dict[str, object]], bool]:
    """Every current parcel whose bbox overlaps ``bbox``, whatever the jurisdiction (snapping
    and the overlap check need the neighbours across a village line), with the version and an
    ``editable`` flag (inside the user's jurisdiction). Desensitised like the public map.
    Answers (features, truncated); one query."""
    prefix = region_prefix(user)
    rows = list(
        parcels_overlapping(user=None, bbox=bbox)
        .annotate(geojson=AsGeoJSON("geom", precision=EDIT_PRECISION))
        .order_by("code")
        .values_list("code", "name", "category", "land_use_type", "version", "geojson")[: limit + 1]
    )
    if len(rows) > limit:
        return [], True
    features: list[dict[str, object]] = [
        {
            "type": "Feature",
            "id": code,
            "geometry": json.loads(geojson),
            "properties": {
                "dkbm": code,
                "dkmc": name,
                "dklb": category,
                "tdlylx": land_use_type,
                "version": version,
                "editable": prefix != NOWHERE and code.startswith(prefix),
            },
        }
        for code, name, category, land_use_type, version, geojson in rows
    ]
    return features, False


def code_choices(tables: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """The values of some code tables for select boxes: {table: [(code, name), ...]}."""
    out: dict[str, list[tuple[str, str]]] = {}
    for table, code, name in (
        CodeItem.objects.filter(table__in=list(tables)).order_by("table", "code").values_list("table", "code", "name")
    ):
        out.setdefault(table, []).append((code, name))
    return out


@dataclass(frozen=True)
class CollectiveChoice:
    code: str
    name: str


def collective_at(*, geom: GEOSGeometry) -> CollectiveChoice | None:
    """The collective (发包方) whose group — or, without groups, village — contains a point
    inside ``geom``: where a newly drawn parcel belongs. Group collectives share the group's
    14-digit code; a village collective is the village code + ``00``."""
    point = geom.point_on_surface
    point.srid = geom.srid or STORAGE_SRID
    regions = list(
        Region.objects.filter(level__in=[Region.Level.GROUP, Region.Level.VILLAGE], geom__intersects=point)
        .order_by("-level")
        .values_list("code", "level")
    )
    candidates = [code if level == Region.Level.GROUP else code + "00" for code, level in regions]
    for collective in Collective.objects.filter(code__in=candidates).values_list("code", "name"):
        return CollectiveChoice(*collective)
    return None


def collectives_in_jurisdiction(*, user: User | None, limit: int = 2000) -> list[CollectiveChoice]:
    return [
        CollectiveChoice(code, name)
        for code, name in scope(Collective.objects.order_by("code"), user).values_list("code", "name")[:limit]
    ]


# --- the overlap check ---------------------------------------------------------------------


@dataclass(frozen=True)
class Overlap:
    """A current parcel that a drawn shape overlaps: the overlap's area in m² (in the
    county's projected CRS) and its shape as GeoJSON (lng/lat)."""

    dkbm: str
    dkmc: str
    area_m2: float
    geometry: str


def parcel_overlaps(*, geom: GEOSGeometry, exclude: Iterable[str] = (), area_srid: int) -> list[Overlap]:
    """Current parcels (every jurisdiction) that ``geom`` overlaps beyond the tolerance,
    largest overlap first; ``exclude``: the parcels being replaced (the one edited, those
    merged or split). The rule is ``layers.checks.guard.check_parcel_edit``: the one the
    services enforce on save and the quality inspection reports (DK_OVERLAP), so the live
    check never disagrees with the save.

    Example: ``parcel_overlaps(geom=drawn, exclude=["3101511010010100001"], area_srid=4528)``
    """
    shape = geom if geom.srid else GEOSGeometry(geom.wkb, srid=STORAGE_SRID)
    findings = check_parcel_edit(geom=shape, exclude_code=sorted(set(exclude)), area_srid=area_srid)
    codes = [f.dkbm[-1] for f in findings]
    names = dict(Parcel.objects.filter(code__in=codes).values_list("code", "name"))
    overlaps = [
        Overlap(
            dkbm=f.dkbm[-1],
            dkmc=names.get(f.dkbm[-1], ""),
            area_m2=round(float(f.area_m2 or 0.0), 2),
            geometry=str(shapely.to_geojson(f.geometry)) if f.geometry is not None else "null",
        )
        for f in findings
    ]
    return sorted(overlaps, key=lambda o: (-o.area_m2, o.dkbm))


# --- export of a selection -----------------------------------------------------------------

EXPORT_LIMIT = 20000


def parcels_for_export(
    *, user: User | None, codes: Iterable[str] | None = None, bbox: BBox | None = None
) -> tuple[list[dict[str, object]], bool]:
    """Current parcels in the user's jurisdiction picked by codes or by bbox, with every DK
    attribute of the standard (no contractor data), as GeoJSON features. One query."""
    parcels = scope(Parcel.objects.filter(status=Status.CURRENT), user)
    if codes is not None:
        parcels = parcels.filter(code__in=list(codes))
    if bbox is not None:
        envelope = Polygon.from_bbox(bbox)
        envelope.srid = STORAGE_SRID
        parcels = parcels.filter(geom__bboverlaps=envelope, geom__intersects=envelope)
    fields = [f for f in Parcel._meta.concrete_fields if f.attname not in {"id", "geom", "updated_by_id"}]
    rows = list(
        parcels.annotate(geojson=AsGeoJSON("geom", precision=EDIT_PRECISION))
        .order_by("code")
        .values_list("geojson", *[f.attname for f in fields])[: EXPORT_LIMIT + 1]
    )
    truncated = len(rows) > EXPORT_LIMIT
    features: list[dict[str, object]] = []
    for geojson, *values in rows[:EXPORT_LIMIT]:
        properties = {}
        for f, value in zip(fields, values, strict=True):
            if isinstance(value, Decimal):
                value = float(value)
            elif isinstance(value, dt.datetime | dt.date):
                value = value.isoformat()
            properties[f.column] = value
        features.append(
            {"type": "Feature", "id": properties["dkbm"], "geometry": json.loads(geojson), "properties": properties}
        )
    return features, truncated
