"""Writes to the register. Every state change of a register object goes through a function
here: keyword-only arguments, one transaction, ``full_clean()`` before save, a ChangeRecord
with the state before and after, ``version`` bumped (optimistic locking), jurisdiction checked
against the actor. ``actor=None`` means system work (migrations, the demo loader).

Registration cases (``registration.business``) write the register through these functions
too: member changes, a household's representative, retiring contractors, contracts, parcel
links and register entries, and the certificate records (补发, 换发, 注销). Error messages
name a person or household by the masked name and the code (``gisapp.privacy``), never by
the full name: they reach pages, API responses and message cookies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.scoping import ensure_in_jurisdiction
from gisapp.config import config
from gisapp.errors import DomainError, NotFoundError, StaleObjectError
from gisapp.privacy import mask_name
from layers.checks.guard import ensure_no_overlap, lock_cells
from parcels import coding
from parcels.models import (
    Certificate,
    CertificateCancellation,
    CertificateReissue,
    CertificateReplacement,
    ChangeRecord,
    Collective,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    Region,
    RegisterBook,
    TransferContract,
)
from parcels.models.base import Status
from parcels.sizhi import Neighbour, parcel_label, suggest_sizhi

M = TypeVar("M", bound=models.Model)
Actor = User | None

STORAGE_SRID = config().storage_srid
MU_PER_SQM = config().mu_per_sqm
CENT = Decimal("0.01")
LONG_TERM_END = dt.date(9999, 1, 1)  # CBQXZ for 长久不变 (NY/T 2539 B.8 note a)


# --- areas -------------------------------------------------------------------------------


def round_area(value: float | Decimal) -> Decimal:
    """Square metres (or 亩) to two decimals, half-up, as the Ministry's tools round."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def sqm_to_mu(sqm: Decimal) -> Decimal:
    """亩 = round(m² × 0.0015, 2), half-up (1 亩 = 666.67 m²)."""
    return (Decimal(sqm) * MU_PER_SQM).quantize(CENT, rounding=ROUND_HALF_UP)


_area_srid_cache: dict[str, int] = {}


def area_srid_for(code: str) -> int:
    """The projected CRS for legal areas of the county that a code belongs to."""
    county = code[:6]
    if county not in _area_srid_cache:
        srid = Region.objects.filter(code=county).values_list("area_srid", flat=True).first()
        _area_srid_cache[county] = srid or config().area_srid
    return _area_srid_cache[county]


def measure_area(geom: GEOSGeometry, area_srid: int) -> tuple[Decimal, Decimal]:
    """Area of a geometry in m² (in ``area_srid``) and in 亩, both rounded to 2 decimals.

    PostGIS does the projection so that the figure is the one quality inspection and exports
    compute from the stored geometry.

    Example: ``measure_area(parcel.geom, 4528) -> (Decimal("1334.00"), Decimal("2.00"))``
    """
    srid = geom.srid or STORAGE_SRID
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Area(ST_Transform(ST_SetSRID(ST_GeomFromWKB(%s), %s), %s))",
            [bytes(geom.wkb), srid, area_srid],
        )
        (value,) = cursor.fetchone()
    sqm = round_area(value)
    return sqm, sqm_to_mu(sqm)


def normalise_parcel_geometry(geom: GEOSGeometry) -> MultiPolygon:
    """A drawn or edited parcel shape: one valid polygon, stored as a 1-part MultiPolygon in
    the storage SRID. Invalid, empty or multi-part shapes are refused with the reason."""
    if geom.srid is None:
        geom = GEOSGeometry(geom.wkb, srid=STORAGE_SRID)
    if geom.srid != STORAGE_SRID:
        geom = geom.transform(STORAGE_SRID, clone=True)
    if geom.empty:
        raise DomainError("地块图形为空", code="invalid_geometry")
    if isinstance(geom, MultiPolygon):
        if len(geom) != 1:
            raise DomainError(f"地块必须是单个多边形，实际包含{len(geom)}个部分", code="multipart")
        geom = geom[0]
    if not isinstance(geom, Polygon):
        raise DomainError(f"地块图形必须是多边形，实际为{geom.geom_type}", code="invalid_geometry")
    if not geom.valid:
        raise DomainError(f"地块图形无效：{geom.valid_reason}", code="invalid_geometry")
    return MultiPolygon(geom, srid=STORAGE_SRID)


# --- history and optimistic locking ------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, GEOSGeometry):
        return value.ewkt
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


SKIP_IN_SNAPSHOT = {"created_at", "updated_at", "updated_by_id"}


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The object's stored fields as JSON-ready values (geometry as EWKT)."""
    return {
        f.attname: _json_value(getattr(obj, f.attname))
        for f in obj._meta.concrete_fields
        if f.attname not in SKIP_IN_SNAPSHOT
    }


def _code_of(obj: models.Model) -> str:
    for attr in ("code", "register_book_id", "contractor_id"):
        value = getattr(obj, attr, None)
        if value:
            return str(value)
    return ""


def record_change(
    obj: models.Model,
    *,
    action: str,
    actor: Actor,
    before: dict[str, Any] | None,
    reason: str = "",
) -> ChangeRecord:
    return ChangeRecord.objects.create(
        model=obj._meta.label,
        object_id=obj.pk,
        object_code=_code_of(obj),
        action=action,
        version=getattr(obj, "version", 1),
        actor=actor,
        before=before,
        after=snapshot(obj) if action != ChangeRecord.Action.DELETE else None,
        reason=reason,
    )


def _actor_label(obj: models.Model) -> str:
    user = getattr(obj, "updated_by", None)
    return user.get_username() if user is not None else "系统"


def create_versioned(obj: M, *, actor: Actor, reason: str = "") -> M:
    obj.full_clean()
    if hasattr(obj, "updated_by"):
        obj.updated_by = actor  # type: ignore[attr-defined]
    obj.save()
    record_change(obj, action=ChangeRecord.Action.CREATE, actor=actor, before=None, reason=reason)
    return obj


def update_versioned(
    model: type[M],
    *,
    pk: Any,
    expected_version: int,
    changes: Mapping[str, Any],
    actor: Actor,
    reason: str = "",
    action: str = ChangeRecord.Action.UPDATE,
) -> M:
    """Apply ``changes`` to the row if it is still at ``expected_version``; otherwise refuse
    with who changed it and when. The row is locked for the rest of the transaction."""
    current = model._default_manager.select_for_update().get(pk=pk)
    version = current.version  # type: ignore[attr-defined]
    if version != expected_version:
        changed_at = timezone.localtime(current.updated_at).strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[attr-defined]
        raise StaleObjectError(
            f"{model._meta.verbose_name}已被 {_actor_label(current)} 于 {changed_at} 修改"
            f"（当前版本 {version}，您编辑的是版本 {expected_version}），请刷新后重试",
            details={"current_version": version, "changed_by": _actor_label(current), "changed_at": changed_at},
        )
    before = snapshot(current)
    for name, value in changes.items():
        setattr(current, name, value)
    current.full_clean()
    current.version = version + 1  # type: ignore[attr-defined]
    current.updated_by = actor  # type: ignore[attr-defined]
    current.save()
    record_change(current, action=action, actor=actor, before=before, reason=reason)
    return current


def retire_versioned(obj: M, *, actor: Actor, reason: str) -> M:
    """Make a current register object history (status ``historic``) at its present version:
    the row stays, its ChangeRecord says who retired it, when and why."""
    return update_versioned(
        type(obj),
        pk=obj.pk,
        expected_version=obj.version,  # type: ignore[attr-defined]
        changes={"status": Status.HISTORIC},
        actor=actor,
        reason=reason,
        action=ChangeRecord.Action.RETIRE,
    )


def get_by_code(model: type[M], code: str, *, for_update: bool = False) -> M:
    """The register object with this code, or ``NotFoundError`` (HTTP 404) naming the code
    and the kind of object (instead of ``Model.DoesNotExist`` escaping as a server error).
    ``for_update``: lock the row for the rest of the transaction."""
    manager = model._default_manager
    queryset = manager.select_for_update() if for_update else manager.all()
    found = queryset.filter(code=code).first()
    if found is None:
        raise NotFoundError(f"{model._meta.verbose_name} {code} 不存在", details={"code": code})
    return found


def get_by_id(model: type[M], pk: int) -> M:
    """``get_by_code`` for rows without a code of their own (family members, CBDKXX rows):
    the row with this id, or ``NotFoundError`` naming the id and the kind of object."""
    found = model._default_manager.filter(pk=pk).first()
    if found is None:
        raise NotFoundError(f"{model._meta.verbose_name} {pk} 不存在", details={"id": pk})
    return found


# --- code allocation ---------------------------------------------------------------------


def lock(key: str) -> None:
    """Serialise code allocation within one collective (transaction-scoped advisory lock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


def _max_sequence(model: type[models.Model], prefix: str, start: int, end: int, low: int, high: int) -> int:
    codes = model._default_manager.filter(code__startswith=prefix).values_list("code", flat=True)
    used = [int(c[start:end]) for c in codes if c[start:end].isdigit()]
    in_range = [s for s in used if low <= s <= high]
    return max(in_range, default=low - 1)


def next_parcel_code(collective_code: str) -> str:
    """The next DKBM of a collective. Codes are never reused: a split parcel keeps its code
    in history and the new parcels get new ones."""
    (code,) = next_parcel_codes(collective_code, 1)
    return code


def next_parcel_codes(collective_code: str, count: int) -> list[str]:
    """The next ``count`` DKBMs of a collective, in sequence (the pieces of a split)."""
    lock(f"dkbm:{collective_code}")
    seq = _max_sequence(Parcel, collective_code, 14, 19, 1, 99999) + 1
    return [coding.make_dkbm(collective_code, seq + i) for i in range(count)]


def next_contractor_code(collective_code: str, kind: str) -> str:
    lock(f"cbfbm:{collective_code}")
    low, high = coding.CONTRACTOR_RANGES[kind]
    seq = _max_sequence(Contractor, collective_code, 14, 18, low, high) + 1
    if seq > high:
        raise DomainError(f"发包方 {collective_code} 的{coding.CONTRACTOR_TYPE_NAMES[kind]}承包方顺序码已用完")
    return coding.make_cbfbm(collective_code, seq, kind)


def next_transfer_code(collective_code: str) -> str:
    lock(f"lzhtbm:{collective_code}")
    seq = _max_sequence(TransferContract, collective_code, 14, 18, 1, 9999) + 1
    return coding.make_lzhtbm(collective_code, seq)


# --- regions and collectives ------------------------------------------------------------


@transaction.atomic
def region_create(
    *,
    code: str,
    name: str,
    level: str,
    geom: GEOSGeometry | None = None,
    area_srid: int | None = None,
) -> Region:
    coding.validate_region_code(code, level)
    parent = None
    if level in (Region.Level.PROVINCE, Region.Level.CITY, Region.Level.COUNTY):
        # Above the county the parents are optional: the longest held prefix.
        prefixes = [code[:n] for n in (4, 2) if n < len(code)]
        parent = Region.objects.filter(code__in=prefixes).order_by("-code").first() if prefixes else None
    else:
        parent_length = {"town": 6, "village": 9, "group": 12}[level]
        parent = Region.objects.filter(code=code[:parent_length]).first()
        if parent is None:
            raise DomainError(f"区域 {code} 的上级区域 {code[:parent_length]} 不存在")
    shape: MultiPolygon | None = None
    if isinstance(geom, Polygon):
        shape = MultiPolygon(geom, srid=geom.srid)
    elif isinstance(geom, MultiPolygon):
        shape = geom
    elif geom is not None:
        raise DomainError(f"区域 {code} 的范围必须是多边形，实际为{geom.geom_type}")
    region = Region(code=code, name=name, level=level, parent=parent, geom=shape, area_srid=area_srid)
    region.full_clean()
    region.save()
    _area_srid_cache.pop(code[:6], None)
    return region


@transaction.atomic
def collective_create(*, actor: Actor, code: str, **fields: Any) -> Collective:
    coding.validate_fbfbm(code)
    ensure_in_jurisdiction(actor, code)
    village = Region.objects.filter(code=code[:12]).exists()
    if not village:
        raise DomainError(f"发包方 {code} 所在的村级区域 {code[:12]} 不存在")
    return create_versioned(Collective(code=code, **fields), actor=actor)


# --- contractors and members ------------------------------------------------------------

HEAD_RELATIONS = ("01", "02")  # 与户主关系 (GB/T 4761): 01 本人, 02 户主


def _contractor_label(contractor: Contractor) -> str:
    """承包方 张*（CBFBM）: how messages name a contractor (masked name, full code)."""
    return f"承包方 {mask_name(contractor.name)}（{contractor.code}）"


def _member_label(member: FamilyMember) -> str:
    """家庭成员 李*（CBFBM）: how messages name a member (masked name, the household's code)."""
    return f"家庭成员 {mask_name(member.name)}（{member.contractor_id}）"


def _current_members(contractor_code: str) -> list[FamilyMember]:
    return list(FamilyMember.objects.filter(contractor_id=contractor_code, status=Status.CURRENT).order_by("id"))


@transaction.atomic
def contractor_create(
    *,
    actor: Actor,
    collective_code: str,
    kind: str,
    members: Sequence[Mapping[str, Any]] = (),
    code: str | None = None,
    **fields: Any,
) -> Contractor:
    """A new contractor with its next CBFBM in the range of its kind. A household (农户)
    needs its members, one of them the head (与户主关系 02 户主 or 01 本人); its member count
    is the number of members. Individuals and units count one."""
    ensure_in_jurisdiction(actor, collective_code)
    if not Collective.objects.filter(code=collective_code).exists():
        raise DomainError(f"发包方 {collective_code} 不存在")
    if kind == Contractor.Kind.HOUSEHOLD:
        if not members:
            raise DomainError("农户承包方必须登记家庭成员", code="members_required")
        if not any(m.get("relation") in HEAD_RELATIONS for m in members):
            raise DomainError("农户承包方的家庭成员中必须有户主（与户主关系 01 本人 或 02 户主）", code="head_required")
    if code is None:
        code = next_contractor_code(collective_code, kind)
    else:
        coding.validate_cbfbm(code, kind)
        if code[:14] != collective_code:
            raise DomainError(f"承包方代码 {code} 的前14位应为发包方代码 {collective_code}")
    member_count = len(members) if kind == Contractor.Kind.HOUSEHOLD else 1
    contractor = create_versioned(
        Contractor(code=code, collective_id=collective_code, kind=kind, member_count=member_count, **fields),
        actor=actor,
    )
    for member in members:
        create_versioned(FamilyMember(contractor_id=code, **member), actor=actor)
    return contractor


@transaction.atomic
def member_add(*, actor: Actor, contractor_code: str, expected_version: int, **fields: Any) -> FamilyMember:
    """Add a family member; the household's member count follows (and its version moves)."""
    ensure_in_jurisdiction(actor, contractor_code)
    contractor = get_by_code(Contractor, contractor_code)
    if contractor.kind != Contractor.Kind.HOUSEHOLD:
        raise DomainError("只有农户承包方有家庭成员")
    member = create_versioned(FamilyMember(contractor_id=contractor_code, **fields), actor=actor)
    update_versioned(
        Contractor,
        pk=contractor.pk,
        expected_version=expected_version,
        changes={"member_count": len(_current_members(contractor_code))},
        actor=actor,
        reason="家庭成员增加",
    )
    return member


MEMBER_EDITABLE = {"name", "sex", "id_type", "id_number", "relation", "remark", "is_co_owner", "remark_note"}


@transaction.atomic
def member_update(*, actor: Actor, member_id: int, expected_version: int, reason: str, **changes: Any) -> FamilyMember:
    """Change a family member's data (name, ID, relation, remark …). An unknown id raises
    ``NotFoundError``; a member who left the household cannot be changed."""
    member = get_by_id(FamilyMember, member_id)
    ensure_in_jurisdiction(actor, member.contractor_id)
    if member.status != Status.CURRENT:
        raise DomainError(f"{_member_label(member)}已是历史记录，不能修改")
    unknown = set(changes) - MEMBER_EDITABLE
    if unknown:
        raise DomainError(f"家庭成员属性不可修改：{', '.join(sorted(unknown))}")
    return update_versioned(
        FamilyMember, pk=member.pk, expected_version=expected_version, changes=changes, actor=actor, reason=reason
    )


@transaction.atomic
def member_retire(*, actor: Actor, member_id: int, reason: str) -> FamilyMember:
    """A member leaves the household (moved out, deceased, split off): the row becomes history.
    The household's member count follows with ``contractor_recount_members``."""
    member = get_by_id(FamilyMember, member_id)
    ensure_in_jurisdiction(actor, member.contractor_id)
    if member.status != Status.CURRENT:
        raise DomainError(f"{_member_label(member)}已是历史记录")
    return retire_versioned(member, actor=actor, reason=reason)


@transaction.atomic
def contractor_recount_members(*, actor: Actor, contractor_code: str, reason: str) -> Contractor:
    """CBFCYSL follows the household's current members; a household keeps one head.
    Individuals and units count one."""
    ensure_in_jurisdiction(actor, contractor_code)
    contractor = get_by_code(Contractor, contractor_code)
    members = _current_members(contractor_code)
    if contractor.kind == Contractor.Kind.HOUSEHOLD:
        if not members:
            raise DomainError(f"{_contractor_label(contractor)}至少要保留一名家庭成员", code="members_required")
        heads = [m for m in members if m.relation in HEAD_RELATIONS]
        if len(heads) != 1:
            raise DomainError(
                f"{_contractor_label(contractor)}必须有且只有一名户主（与户主关系 01 本人 或 02 户主），"
                f"现有 {len(heads)} 名",
                code="head_required",
            )
    count = len(members) if contractor.kind == Contractor.Kind.HOUSEHOLD else 1
    if contractor.member_count == count:
        return contractor
    return update_versioned(
        Contractor,
        pk=contractor.pk,
        expected_version=contractor.version,
        changes={"member_count": count},
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def contractor_representative_change(
    *, actor: Actor, contractor_code: str, member_id: int, former_head_relation: str, reason: str
) -> Contractor:
    """承包方代表变更: a current member becomes the head (与户主关系 02) and the household's
    representative (CBFMC, CBFZJLX, CBFZJHM); the former head gets ``former_head_relation``."""
    ensure_in_jurisdiction(actor, contractor_code)
    contractor = get_by_code(Contractor, contractor_code)
    members = _current_members(contractor_code)
    new_head = next((m for m in members if m.pk == member_id), None)
    if new_head is None:
        raise DomainError("新的承包方代表必须是该户的现有家庭成员", code="member_missing")
    if former_head_relation in HEAD_RELATIONS:
        raise DomainError("原户主的与户主关系不能仍为本人或户主", code="head_required")
    for member in members:
        if member.pk != new_head.pk and member.relation in HEAD_RELATIONS:
            member_update(
                actor=actor,
                member_id=member.pk,
                expected_version=member.version,
                reason=reason,
                relation=former_head_relation,
            )
    if new_head.relation != "02":
        member_update(
            actor=actor, member_id=new_head.pk, expected_version=new_head.version, reason=reason, relation="02"
        )
    return update_versioned(
        Contractor,
        pk=contractor.pk,
        expected_version=contractor.version,
        changes={"name": new_head.name, "id_type": new_head.id_type, "id_number": new_head.id_number},
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def contractor_retire(*, actor: Actor, contractor_code: str, reason: str) -> Contractor:
    """A household that no longer exists (消失, merged into another): it and its members
    become history. Its contracts must have ended first."""
    ensure_in_jurisdiction(actor, contractor_code)
    contractor = get_by_code(Contractor, contractor_code)
    if contractor.status != Status.CURRENT:
        raise DomainError(f"{_contractor_label(contractor)}已是历史记录")
    if Contract.objects.filter(contractor_id=contractor_code, status=Status.CURRENT).exists():
        raise DomainError(f"{_contractor_label(contractor)}还有现势承包合同，不能注销", code="contract_current")
    for member in _current_members(contractor_code):
        member_retire(actor=actor, member_id=member.pk, reason=reason)
    return retire_versioned(contractor, actor=actor, reason=reason)


# --- parcels -----------------------------------------------------------------------------

PARCEL_EDITABLE = {
    "name",
    "ownership",
    "category",
    "land_use_type",
    "fertility",
    "land_use",
    "basic_farmland",
    "east",
    "west",
    "south",
    "north",
    "remarks",
    "witnesses",
    "key_points",
}


@transaction.atomic
def parcel_create(
    *,
    actor: Actor,
    collective_code: str,
    geom: GEOSGeometry,
    code: str | None = None,
    **attrs: Any,
) -> Parcel:
    """A parcel drawn here: its DKBM is the collective's next, its area (SCMJ, m²) and 亩
    (SCMJM) are measured from the geometry in the county's projected CRS, never typed in.

    Example: ``parcel_create(actor=u, collective_code="31015110100101", geom=poly,
    name="东大田", category="10", fertility="03", land_use="1", basic_farmland="1")``
    """
    ensure_in_jurisdiction(actor, collective_code)
    unknown = set(attrs) - PARCEL_EDITABLE
    if unknown:
        raise DomainError(f"地块属性不可直接设置：{', '.join(sorted(unknown))}")
    if not Collective.objects.filter(code=collective_code).exists():
        raise DomainError(f"发包方 {collective_code} 不存在")
    shape = normalise_parcel_geometry(geom)
    ensure_no_overlap(geom=shape)
    if code is None:
        code = next_parcel_code(collective_code)
    else:
        coding.validate_dkbm(code)
        if code[:14] != collective_code:
            raise DomainError(f"地块代码 {code} 的前14位应为发包方代码 {collective_code}")
    sqm, mu = measure_area(shape, area_srid_for(code))
    parcel = Parcel(code=code, geom=shape, surveyed_area=sqm, surveyed_area_mu=mu, **attrs)
    return create_versioned(parcel, actor=actor)


@transaction.atomic
def parcel_update(
    *,
    actor: Actor,
    code: str,
    expected_version: int,
    geom: GEOSGeometry | None = None,
    reason: str = "",
    **attrs: Any,
) -> Parcel:
    """Change a parcel's attributes and/or shape. A new shape is re-measured and checked
    against the neighbours. An unknown code raises ``NotFoundError``.

    The row is locked before the overlap guard's grid cells, the order every parcel service
    keeps (rows, then cells, then code allocation), so that an update and a split or merge of
    the same parcel wait for each other instead of deadlocking."""
    ensure_in_jurisdiction(actor, code)
    unknown = set(attrs) - PARCEL_EDITABLE
    if unknown:
        raise DomainError(f"地块属性不可直接修改：{', '.join(sorted(unknown))}")
    parcel = get_by_code(Parcel, code, for_update=True)
    if parcel.status != Status.CURRENT:
        raise DomainError(f"地块 {code} 已是历史地块，不能修改")
    changes: dict[str, Any] = dict(attrs)
    if geom is not None:
        shape = normalise_parcel_geometry(geom)
        ensure_no_overlap(geom=shape, exclude_code=code)
        sqm, mu = measure_area(shape, area_srid_for(code))
        changes.update(geom=shape, surveyed_area=sqm, surveyed_area_mu=mu)
    return update_versioned(
        Parcel, pk=parcel.pk, expected_version=expected_version, changes=changes, actor=actor, reason=reason
    )


@transaction.atomic
def parcel_retire(*, actor: Actor, code: str, reason: str) -> Parcel:
    """Land that no longer exists (灭失: flood, landslide …): the parcel becomes history. Its
    contract links must have ended first. An unknown code raises ``NotFoundError``."""
    ensure_in_jurisdiction(actor, code)
    parcel = get_by_code(Parcel, code)
    if parcel.status != Status.CURRENT:
        raise DomainError(f"地块 {code} 已是历史地块")
    if ContractParcel.objects.filter(parcel_id=code, status=Status.CURRENT, contract__status=Status.CURRENT).exists():
        raise DomainError(f"地块 {code} 仍在现势承包合同中", code="parcel_contracted")
    return retire_versioned(parcel, actor=actor, reason=reason[:200])


# --- contracts, register entries, certificates, transfers --------------------------------


@dataclass(frozen=True)
class ParcelShare:
    """One parcel of a contract; ``contract_area`` defaults to the parcel's surveyed area."""

    parcel_code: str
    contract_area: Decimal | None = None
    original_area: Decimal | None = None


def _contract_parcels(collective_code: str, shares: Iterable[ParcelShare]) -> list[tuple[Parcel, ParcelShare]]:
    shares = list(shares)
    if not shares:
        raise DomainError("承包合同至少要有一个地块", code="parcels_required")
    codes = [s.parcel_code for s in shares]
    if len(set(codes)) != len(codes):
        raise DomainError("同一地块不能在合同中出现两次")
    parcels = {p.code: p for p in Parcel.objects.filter(code__in=codes)}
    missing = [c for c in codes if c not in parcels]
    if missing:
        raise DomainError(f"地块不存在：{', '.join(missing)}", code="parcel_missing")
    _ensure_contractable(list(parcels.values()))
    return [(parcels[s.parcel_code], s) for s in shares]


def _ensure_contractable(parcels: Sequence[Parcel], *, share: bool = False) -> None:
    """Parcels a contract may take: current ones that no current contract holds whole. A
    确权确股 share (``share``) may join the other shares of a parcel."""
    for parcel in parcels:
        if parcel.status != Status.CURRENT:
            raise DomainError(f"地块 {parcel.code} 已是历史地块，不能承包", code="historic")
    if share:
        return
    busy = list(
        ContractParcel.objects.filter(
            parcel_id__in=[p.code for p in parcels], status=Status.CURRENT, contract__status=Status.CURRENT
        )
        .exclude(is_share="1")
        .values_list("parcel_id", "contract_id")
    )
    if busy:
        detail = "，".join(f"{p}（合同 {c}）" for p, c in busy)
        raise DomainError(f"地块已在现势承包合同中：{detail}", code="parcel_contracted")


def _new_link(
    contract: Contract,
    *,
    parcel_code: str,
    contract_area: Decimal,
    acquisition: str,
    original_area: Decimal | None = None,
    is_share: str | None = None,
    transfer_contract_code: str | None = None,
) -> ContractParcel:
    """An unsaved CBDKXX row of ``contract``: areas in m² with their 亩, the contract's code
    as register code."""
    return ContractParcel(
        parcel_id=parcel_code,
        collective_id=contract.collective_id,
        contractor_id=contract.contractor_id,
        acquisition=acquisition,
        contract_area=contract_area,
        contract_area_mu=sqm_to_mu(contract_area),
        original_area=original_area,
        original_area_mu=sqm_to_mu(original_area) if original_area is not None else None,
        contract_id=contract.code,
        register_code=contract.code,
        is_share=is_share,
        transfer_contract_code=transfer_contract_code,
    )


@transaction.atomic
def contract_create(
    *,
    actor: Actor,
    contractor_code: str,
    method: str,
    term_start: dt.date,
    term_end: dt.date,
    signed_on: dt.date,
    parcels: Iterable[ParcelShare],
    original_code: str | None = None,
) -> Contract:
    """A contract for a contractor's parcels: code CBFBM + J (家庭承包) / Q (other), one
    CBDKXX row per parcel, total area and parcel count from those rows."""
    ensure_in_jurisdiction(actor, contractor_code)
    contractor = get_by_code(Contractor, contractor_code)
    collective_code = contractor.collective_id
    code = coding.make_contract_code(contractor_code, method)
    if Contract.objects.filter(code=code).exists():
        raise DomainError(f"承包合同 {code} 已存在", code="duplicate")
    if not term_start < term_end:
        raise DomainError("承包期限起必须早于承包期限止", code="dates_order")
    rows = _contract_parcels(collective_code, parcels)
    areas = [share.contract_area or parcel.surveyed_area for parcel, share in rows]
    total = sum(areas, Decimal("0"))
    originals = [share.original_area for _, share in rows if share.original_area is not None]
    original_total = sum(originals, Decimal("0")) if originals else None
    contract = create_versioned(
        Contract(
            code=code,
            original_code=original_code,
            collective_id=collective_code,
            contractor_id=contractor_code,
            method=method,
            term_start=term_start,
            term_end=term_end,
            total_area=total,
            total_area_mu=sqm_to_mu(total),
            original_total_area=original_total,
            original_total_area_mu=sqm_to_mu(original_total) if original_total is not None else None,
            parcel_count=len(rows),
            signed_on=signed_on,
        ),
        actor=actor,
    )
    for (parcel, share), contract_area in zip(rows, areas, strict=True):
        create_versioned(
            _new_link(
                contract,
                parcel_code=parcel.code,
                contract_area=contract_area,
                acquisition=method,
                original_area=share.original_area,
            ),
            actor=actor,
        )
    return contract


def _current_contract(contract_code: str) -> Contract:
    contract = get_by_code(Contract, contract_code)
    if contract.status != Status.CURRENT:
        raise DomainError(f"承包合同 {contract_code} 已是历史记录")
    return contract


@transaction.atomic
def contract_update(*, actor: Actor, contract_code: str, reason: str, **changes: Any) -> Contract:
    """Change a current contract's fields (a new signing date after a change registration …)."""
    ensure_in_jurisdiction(actor, contract_code)
    contract = _current_contract(contract_code)
    return update_versioned(
        Contract, pk=contract.pk, expected_version=contract.version, changes=changes, actor=actor, reason=reason
    )


def contract_recount(*, actor: Actor, contract_code: str, reason: str) -> Contract:
    """Bring CBDKZS and HTZMJ(M) back in line with the contract's current CBDKXX rows."""
    contract = get_by_code(Contract, contract_code)
    links = ContractParcel.objects.filter(contract_id=contract_code, status=Status.CURRENT)
    total = sum((link.contract_area for link in links), Decimal("0"))
    return update_versioned(
        Contract,
        pk=contract.pk,
        expected_version=contract.version,
        changes={"total_area": total, "total_area_mu": sqm_to_mu(total), "parcel_count": links.count()},
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def contract_retire(*, actor: Actor, contract_code: str, reason: str) -> Contract:
    """The contract ends (all land transferred, merged, cancelled): its parcel links and the
    contract become history; the totals stay as they were when it ended."""
    ensure_in_jurisdiction(actor, contract_code)
    contract = _current_contract(contract_code)
    for link in ContractParcel.objects.filter(contract_id=contract_code, status=Status.CURRENT):
        link_retire(actor=actor, link_id=link.pk, reason=reason)
    return retire_versioned(contract, actor=actor, reason=reason)


@transaction.atomic
def link_create(
    *,
    actor: Actor,
    contract_code: str,
    parcel_code: str,
    contract_area: Decimal,
    acquisition: str,
    reason: str,
    is_share: str | None = None,
    original_area: Decimal | None = None,
    transfer_contract_code: str | None = None,
) -> ContractParcel:
    """Add one parcel (or, for 确权确股 with ``is_share="1"``, a share of one) to a current
    contract. The contract's totals follow with ``contract_recount``."""
    ensure_in_jurisdiction(actor, contract_code)
    contract = _current_contract(contract_code)
    parcel = get_by_code(Parcel, parcel_code)
    _ensure_contractable([parcel], share=is_share == "1")
    if contract_area <= 0:
        raise DomainError(f"地块 {parcel_code} 的合同面积必须大于0", code="area")
    return create_versioned(
        _new_link(
            contract,
            parcel_code=parcel_code,
            contract_area=contract_area,
            acquisition=acquisition,
            original_area=original_area,
            is_share=is_share,
            transfer_contract_code=transfer_contract_code,
        ),
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def link_update(*, actor: Actor, link_id: int, reason: str, **changes: Any) -> ContractParcel:
    """Change a CBDKXX row (acquisition, share flag, contract area with its 亩 …)."""
    link = get_by_id(ContractParcel, link_id)
    ensure_in_jurisdiction(actor, link.contract_id)
    if "contract_area" in changes:
        changes["contract_area_mu"] = sqm_to_mu(changes["contract_area"])
    return update_versioned(
        ContractParcel, pk=link.pk, expected_version=link.version, changes=changes, actor=actor, reason=reason
    )


@transaction.atomic
def link_retire(*, actor: Actor, link_id: int, reason: str) -> ContractParcel:
    """A parcel leaves its contract (transferred, exchanged, split off): the CBDKXX row
    becomes history."""
    link = get_by_id(ContractParcel, link_id)
    ensure_in_jurisdiction(actor, link.contract_id)
    if link.status != Status.CURRENT:
        raise DomainError(f"地块 {link.parcel_id} 已不在合同 {link.contract_id} 中")
    return retire_versioned(link, actor=actor, reason=reason)


def term_text(start: dt.date, end: dt.date) -> str:
    if end == LONG_TERM_END:
        return "长久不变"
    return f"{start:%Y年%m月%d日}至{end:%Y年%m月%d日}"


def _book_terms(contract: Contract) -> dict[str, Any]:
    """What a register entry takes from its contract: the contracting method and the term."""
    return {
        "method": contract.method,
        "term": term_text(contract.term_start, contract.term_end),
        "term_start": contract.term_start,
        "term_end": contract.term_end,
    }


@transaction.atomic
def register_book_create(
    *,
    actor: Actor,
    contract_code: str,
    registrar: str,
    registered_on: dt.date,
    serial: str,
    sketch_map: str = "",
    note: str | None = None,
) -> RegisterBook:
    """The register entry (登记簿) of a signed contract; same code as the contract."""
    ensure_in_jurisdiction(actor, contract_code)
    contract = get_by_code(Contract, contract_code)
    if registered_on < contract.signed_on:
        raise DomainError("登记时间不能早于合同签订时间", code="dates_order")
    if not sketch_map:
        sketch_map = f"图件\\{contract.collective_id}\\DKSYT{contract.code}.pdf"
    return create_versioned(
        RegisterBook(
            code=contract.code,
            collective_id=contract.collective_id,
            contractor_id=contract.contractor_id,
            sketch_map=sketch_map,
            serial=serial,
            note=note,
            registrar=registrar,
            registered_on=registered_on,
            **_book_terms(contract),
        ),
        actor=actor,
    )


def _current_book(code: str) -> RegisterBook:
    book = get_by_code(RegisterBook, code)
    if book.status != Status.CURRENT:
        raise DomainError(f"登记簿 {code} 已注销")
    return book


@transaction.atomic
def register_book_update(
    *, actor: Actor, code: str, registrar: str, registered_on: dt.date, reason: str, note: str | None = None
) -> RegisterBook:
    """变更登记 of a register entry: the book follows its contract (method, term) and records
    who registered the change and when; the former state stays in history."""
    ensure_in_jurisdiction(actor, code)
    book = _current_book(code)
    contract = get_by_code(Contract, code)
    if registered_on < contract.signed_on:
        raise DomainError("登记时间不能早于合同签订时间", code="dates_order")
    changes = _book_terms(contract) | {"registrar": registrar, "registered_on": registered_on}
    if note is not None:
        changes["note"] = note[:254]
    return update_versioned(
        RegisterBook, pk=book.pk, expected_version=book.version, changes=changes, actor=actor, reason=reason
    )


@transaction.atomic
def register_book_retire(*, actor: Actor, code: str, reason: str) -> RegisterBook:
    """The register entry of an ended contract is cancelled (注销登记)."""
    ensure_in_jurisdiction(actor, code)
    book = _current_book(code)
    return retire_versioned(book, actor=actor, reason=reason)


@transaction.atomic
def certificate_issue(
    *,
    actor: Actor,
    register_code: str,
    authority: str,
    issued_on: dt.date,
    collected: bool = False,
    collected_on: dt.date | None = None,
    collector_name: str | None = None,
    collector_id_type: str | None = None,
    collector_id_number: str | None = None,
) -> Certificate:
    ensure_in_jurisdiction(actor, register_code)
    book = get_by_code(RegisterBook, register_code)
    if book.status != Status.CURRENT:
        raise DomainError(f"登记簿 {register_code} 已注销，不能发证")
    if issued_on < book.registered_on:
        raise DomainError("发证日期不能早于登记时间", code="dates_order")
    if collected and not (collected_on and collector_name and collector_id_type and collector_id_number):
        raise DomainError("已领取的权证必须填写领取日期、领取人姓名和证件")
    return create_versioned(
        Certificate(
            register_book_id=register_code,
            issuing_authority=authority,
            issued_on=issued_on,
            collected="1" if collected else "2",
            collected_on=collected_on,
            collector_name=collector_name,
            collector_id_type=collector_id_type,
            collector_id_number=collector_id_number,
        ),
        actor=actor,
    )


def _valid_certificate(register_code: str, action: str) -> Certificate:
    """The certificate of a register entry, unless it was never issued or is cancelled."""
    certificate = Certificate.objects.filter(register_book__code=register_code).first()
    if certificate is None:
        raise DomainError(f"登记簿 {register_code} 尚未发证，不能{action}", code="no_certificate")
    if certificate.state == Certificate.State.CANCELLED:
        raise DomainError(f"权证 {register_code} 已注销，不能{action}", code="certificate_cancelled")
    return certificate


@transaction.atomic
def certificate_reissue(
    *,
    actor: Actor,
    register_code: str,
    reason: str,
    reissued_on: dt.date,
    collected_on: dt.date,
    collector_name: str,
    collector_id_type: str,
    collector_id_number: str,
) -> CertificateReissue:
    """权证补发 (CBJYQZ_QZBF) of a lost certificate; a cancelled one cannot be reissued."""
    ensure_in_jurisdiction(actor, register_code)
    certificate = _valid_certificate(register_code, "补发")
    if reissued_on < certificate.issued_on:
        raise DomainError("补发日期不能早于原发证日期", code="dates_order")
    if collected_on < reissued_on:
        raise DomainError("领取日期不能早于补发日期", code="dates_order")
    return create_versioned(
        CertificateReissue(
            certificate_id=register_code,
            reason=reason,
            reissued_on=reissued_on,
            collected_on=collected_on,
            collector_name=collector_name,
            collector_id_type=collector_id_type,
            collector_id_number=collector_id_number,
        ),
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def certificate_replace(
    *,
    actor: Actor,
    register_code: str,
    reason: str,
    replaced_on: dt.date,
    collected_on: dt.date,
    collector_name: str,
    collector_id_type: str,
    collector_id_number: str,
) -> CertificateReplacement:
    """权证换发 (CBJYQZ_QZHF): a damaged certificate, or a new one after a change registration.
    The certificate's issue date moves to the replacement date (its old value stays in history)."""
    ensure_in_jurisdiction(actor, register_code)
    certificate = _valid_certificate(register_code, "换发")
    book = get_by_code(RegisterBook, register_code)
    if replaced_on < certificate.issued_on or replaced_on < book.registered_on:
        raise DomainError("换发日期不能早于原发证日期和登记时间", code="dates_order")
    if collected_on < replaced_on:
        raise DomainError("领取日期不能早于换发日期", code="dates_order")
    collector = {
        "collector_name": collector_name,
        "collector_id_type": collector_id_type,
        "collector_id_number": collector_id_number,
    }
    record = create_versioned(
        CertificateReplacement(
            certificate_id=register_code, reason=reason, replaced_on=replaced_on, collected_on=collected_on, **collector
        ),
        actor=actor,
        reason=reason,
    )
    update_versioned(
        Certificate,
        pk=certificate.pk,
        expected_version=certificate.version,
        changes={"issued_on": replaced_on, "collected": "1", "collected_on": collected_on, **collector},
        actor=actor,
        reason=reason,
    )
    return record


@transaction.atomic
def certificate_cancel(
    *, actor: Actor, register_code: str, reason: str, cancelled_on: dt.date
) -> CertificateCancellation:
    """权证注销 (CBJYQZ_QZZX): the certificate is void from then on."""
    ensure_in_jurisdiction(actor, register_code)
    certificate = _valid_certificate(register_code, "注销")
    if cancelled_on < certificate.issued_on:
        raise DomainError("注销日期不能早于发证日期", code="dates_order")
    record = create_versioned(
        CertificateCancellation(certificate_id=register_code, reason=reason, cancelled_on=cancelled_on),
        actor=actor,
        reason=reason,
    )
    update_versioned(
        Certificate,
        pk=certificate.pk,
        expected_version=certificate.version,
        changes={"state": Certificate.State.CANCELLED},
        actor=actor,
        reason=reason,
        action=ChangeRecord.Action.RETIRE,
    )
    return record


@transaction.atomic
def transfer_contract_create(
    *,
    actor: Actor,
    contract_code: str,
    parcel_codes: Sequence[str],
    transferee_code: str,
    transferee_name: str,
    method: str,
    start_date: dt.date,
    end_date: dt.date,
    price_note: str,
    signed_on: dt.date,
    land_use_before: str | None = None,
    land_use_after: str | None = None,
) -> TransferContract:
    """A land transfer (流转) of some parcels of a contract; the CBDKXX rows get its code."""
    ensure_in_jurisdiction(actor, contract_code)
    contract = get_by_code(Contract, contract_code)
    links = list(
        ContractParcel.objects.filter(contract_id=contract_code, parcel_id__in=parcel_codes, status=Status.CURRENT)
    )
    found = {link.parcel_id for link in links}
    missing = [c for c in parcel_codes if c not in found]
    if missing:
        raise DomainError(f"以下地块不属于合同 {contract_code}：{', '.join(missing)}", code="parcel_missing")
    if not start_date < end_date:
        raise DomainError("流转期限开始日期必须早于结束日期", code="dates_order")
    if end_date > contract.term_end:
        raise DomainError("流转期限不能超过承包期限", code="term_exceeded")
    area = sum((link.contract_area for link in links), Decimal("0"))
    code = next_transfer_code(contract.collective_id)
    years = max(1, round((end_date - start_date).days / 365.25))
    transfer = create_versioned(
        TransferContract(
            code=code,
            contract_id=contract_code,
            contractor_id=contract.contractor_id,
            transferee_code=transferee_code,
            transferee_name=transferee_name,
            method=method,
            term=f"{years}年",
            start_date=start_date,
            end_date=end_date,
            area=area,
            area_mu=sqm_to_mu(area),
            parcel_count=len(links),
            land_use_before=land_use_before,
            land_use_after=land_use_after,
            price_note=price_note,
            signed_on=signed_on,
        ),
        actor=actor,
    )
    for link in links:
        update_versioned(
            ContractParcel,
            pk=link.pk,
            expected_version=link.version,
            changes={"transfer_contract_code": code},
            actor=actor,
            reason=f"流转合同 {code}",
        )
    return transfer


# --- split and merge ---------------------------------------------------------------------

INHERITED = ("name", "ownership", "category", "land_use_type", "fertility", "land_use", "basic_farmland", "remarks")
# Pieces smaller than this (m²) after a split are refused: a line that only grazes a corner
# would otherwise create a sliver the quality rules reject anyway (DK_SLIVER, 1 m²).
MIN_PIECE_SQM = Decimal("1.00")


def _lock_current(codes: Sequence[str], expected_versions: Mapping[str, int]) -> list[Parcel]:
    parcels = list(Parcel.objects.select_for_update().filter(code__in=codes).order_by("code"))
    found = {p.code for p in parcels}
    missing = [c for c in codes if c not in found]
    if missing:
        raise NotFoundError(f"地块不存在：{', '.join(missing)}", details={"codes": missing})
    for parcel in parcels:
        if parcel.status != Status.CURRENT:
            raise DomainError(f"地块 {parcel.code} 已是历史地块", code="historic")
        expected = expected_versions.get(parcel.code)
        if expected is None or parcel.version != expected:
            changed_at = timezone.localtime(parcel.updated_at).strftime("%Y-%m-%d %H:%M:%S")
            raise StaleObjectError(
                f"地块 {parcel.code} 已被 {_actor_label(parcel)} 于 {changed_at} 修改"
                f"（当前版本 {parcel.version}，您编辑的是版本 {expected}），请刷新后重试",
                details={"code": parcel.code, "current_version": parcel.version},
            )
    return parcels


def _replace_contract_links(old: Sequence[Parcel], new: Sequence[Parcel], *, actor: Actor, reason: str) -> None:
    """Parcels that were under a current contract stay under it: the old CBDKXX rows become
    history, the new parcels get rows with their measured areas, and the contract's totals
    follow. Parcels of two different contracts cannot be merged (checked by the caller)."""
    links = list(
        ContractParcel.objects.select_for_update().filter(
            parcel_id__in=[p.code for p in old], status=Status.CURRENT, contract__status=Status.CURRENT
        )
    )
    if not links:
        return
    contract_codes = {link.contract_id for link in links}
    if len(contract_codes) != 1:
        raise DomainError(f"地块分属不同的承包合同：{', '.join(sorted(contract_codes))}", code="contracts_differ")
    template = links[0]
    for link in links:
        retire_versioned(link, actor=actor, reason=reason)
    for parcel in new:
        create_versioned(
            ContractParcel(
                parcel_id=parcel.code,
                collective_id=template.collective_id,
                contractor_id=template.contractor_id,
                acquisition=template.acquisition,
                contract_area=parcel.surveyed_area,
                contract_area_mu=parcel.surveyed_area_mu,
                contract_id=template.contract_id,
                transfer_contract_code=template.transfer_contract_code,
                register_code=template.register_code,
                is_share=template.is_share,
            ),
            actor=actor,
            reason=reason,
        )
    contract_recount(actor=actor, contract_code=template.contract_id, reason=reason)


def _new_parcels_from(
    source: Parcel,
    shapes: Sequence[GEOSGeometry],
    *,
    actor: Actor,
    reason: str,
    operation: str,
    parents: Sequence[Parcel],
) -> list[Parcel]:
    """The new parcels of a split or merge, each created at version 1 with its 四至 suggested
    from its neighbours (``parcels.sizhi``): current parcels and features, and the other new
    pieces, which are written for their holder like the source parcel was. A side without a
    suggestion stays empty (the surveyor writes it). Neighbours keep their own 四至: they
    name holders, which neither a split nor a merge changes."""
    from parcels.models import ParcelLineage

    area_srid = area_srid_for(source.code)
    replaced = [p.code for p in parents]
    codes = next_parcel_codes(source.collective_code, len(shapes))
    label = (parcel_label(source.code) or "") if len(shapes) > 1 else ""
    suggestions = [
        suggest_sizhi(
            geom=shape,
            exclude=replaced,
            area_srid=area_srid,
            extra=[Neighbour(code=c, geom=g, text=label) for c, g in zip(codes, shapes, strict=True) if c != code],
        ).texts()
        for code, shape in zip(codes, shapes, strict=True)
    ]
    created = []
    for code, shape, sizhi in zip(codes, shapes, suggestions, strict=True):
        attrs = {name: getattr(source, name) for name in INHERITED}
        attrs.update({side: text for side, text in sizhi.items() if text})  # east, west, south, north
        parcel = parcel_create(actor=actor, collective_code=source.collective_code, geom=shape, code=code, **attrs)
        created.append(parcel)
        for parent in parents:
            ParcelLineage.objects.create(parent=parent, child=parcel, operation=operation, by=actor)
    return created


@transaction.atomic
def parcel_split(
    *,
    actor: Actor,
    code: str,
    expected_version: int,
    line: GEOSGeometry,
    reason: str = "地块分割",
) -> list[Parcel]:
    """Split a parcel by a line drawn across it. The pieces become new parcels with the
    collective's next DKBMs, measured areas and the old parcel's attributes; the old parcel
    becomes history, linked to its pieces (ParcelLineage); a contract holding it holds the
    pieces instead.

    The pieces start at version 1 with their 四至 suggested from their neighbours (the other
    pieces included). An unknown code raises ``NotFoundError``.

    Example: ``parcel_split(actor=u, code="3101511010010100001", expected_version=3, line=ls)``
    """
    ensure_in_jurisdiction(actor, code)
    (parcel,) = _lock_current([code], {code: expected_version})
    # The old shape's grid cells before the pieces' code allocation: every piece's overlap
    # guard then finds its cells held already (lock order: rows, cells, codes).
    lock_cells(geom=parcel.geom)
    if line.srid is None:
        line = GEOSGeometry(line.wkb, srid=STORAGE_SRID)
    with connection.cursor() as cursor:
        # Split in the storage CRS so that every original vertex (shared with neighbours) stays
        # bit-identical; only the new cut vertices are computed. Areas are measured in the
        # projected CRS. Pieces are ordered largest first so their codes are stable.
        cursor.execute(
            """
            WITH parts AS (SELECT (ST_Dump(ST_Split(ST_GeometryN(%s::geometry, 1), %s::geometry))).geom AS piece)
            SELECT ST_AsBinary(piece), ST_Area(ST_Transform(piece, %s)) AS area FROM parts
            ORDER BY area DESC, ST_XMin(piece), ST_YMin(piece)
            """,
            [parcel.geom.ewkb, line.ewkb, area_srid_for(code)],
        )
        rows = cursor.fetchall()
    if len(rows) < 2:
        raise DomainError("分割线没有把地块分成两块以上：请让分割线完整穿过地块", code="split_no_effect")
    small = [round_area(area) for _, area in rows if Decimal(str(area)) < MIN_PIECE_SQM]
    if small:
        raise DomainError(
            f"分割后有面积小于{MIN_PIECE_SQM}平方米的碎块（{small[0]}平方米），请调整分割线", code="sliver"
        )
    shapes = [GEOSGeometry(memoryview(wkb), srid=STORAGE_SRID) for wkb, _ in rows]
    retire_versioned(parcel, actor=actor, reason=reason)
    pieces = _new_parcels_from(parcel, shapes, actor=actor, reason=reason, operation="split", parents=[parcel])
    _replace_contract_links([parcel], pieces, actor=actor, reason=reason)
    return pieces


@transaction.atomic
def parcel_merge(
    *,
    actor: Actor,
    expected_versions: Mapping[str, int],
    reason: str = "地块合并",
) -> Parcel:
    """Merge adjacent parcels of one collective (and of at most one contract) into a new
    parcel; the union must be one polygon (parcels that only touch at a corner are refused).
    The new parcel starts at version 1 with its 四至 suggested from its neighbours. An
    unknown code raises ``NotFoundError``."""
    codes = sorted(expected_versions)
    if len(codes) < 2:
        raise DomainError("合并至少需要两个地块", code="merge_too_few")
    for code in codes:
        ensure_in_jurisdiction(actor, code)
    collectives = {c[:14] for c in codes}
    if len(collectives) != 1:
        raise DomainError(f"只能合并同一发包方的地块：{', '.join(sorted(collectives))}", code="collectives_differ")
    parcels = _lock_current(codes, expected_versions)
    with connection.cursor() as cursor:
        # Union in the storage CRS: exactly shared edges dissolve and the outer vertices stay
        # bit-identical with the neighbours'.
        cursor.execute(
            """
            SELECT ST_AsBinary(u), ST_NumGeometries(u), ST_GeometryType(u)
            FROM (SELECT ST_UnaryUnion(ST_Collect(geom)) AS u FROM dk WHERE dkbm = ANY(%s)) s
            """,
            [codes],
        )
        wkb, parts, kind = cursor.fetchone()
    if parts != 1 or kind != "ST_Polygon":
        raise DomainError("所选地块不相邻，合并后不是一个完整地块", code="not_adjacent")
    contracted = set(
        ContractParcel.objects.filter(
            parcel_id__in=codes, status=Status.CURRENT, contract__status=Status.CURRENT
        ).values_list("parcel_id", flat=True)
    )
    if contracted and len(contracted) != len(codes):
        loose = ", ".join(c for c in codes if c not in contracted)
        raise DomainError(f"已承包地块不能与未承包地块合并：{loose} 不在承包合同中", code="contracts_differ")
    merged_shape = GEOSGeometry(memoryview(wkb), srid=STORAGE_SRID)
    lock_cells(geom=merged_shape)  # before code allocation, as in parcel_split
    largest = max(parcels, key=lambda p: p.surveyed_area)
    for parcel in parcels:
        retire_versioned(parcel, actor=actor, reason=reason)
    (merged,) = _new_parcels_from(
        largest, [merged_shape], actor=actor, reason=reason, operation="merge", parents=parcels
    )
    _replace_contract_links(parcels, [merged], actor=actor, reason=reason)
    return merged
