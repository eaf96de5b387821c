"""What each business item does to the register at 登簿 (and, rolled back, in a dry run).

A case's ``proposal`` (JSON, written by the clerk at pre-application) says what to change;
``parcels_of`` says which parcels the case holds while it is open; ``apply`` writes the
changes through the register services, all in the caller's transaction, and returns an
``Outcome``: the contracts, register entries and certificates the case made, changed or
ended, and the type-specific business data of the platform message.

Proposal keys per item (codes are the standard's; dates ISO ``YYYY-MM-DD``):

* 1011/1012 初始登记: ``contractor_code`` *or* ``new_contractor`` {kind, name, id_type,
  id_number, address, postcode, phone, members: [...]}; ``method`` (C.10), ``term_start``,
  ``term_end`` (``9999-01-01`` = 长久不变), ``parcels``: [{code, contract_area?}].
* 102x 转让: ``transferor``, ``transferee``; 1022 ``parcels``; 1023 ``split``; 1024 ``share``
  {parcel, area}.
* 1031: ``contractor_code``, ``add`` [member], ``remove`` [member id], ``update`` [{id, …}].
* 1032: ``contractor_code``, ``member_id``, ``former_head_relation``.
* 1033: ``contractor_code``, ``add`` [{code, contract_area?}], ``remove`` [code],
  ``reduce`` [{code, contract_area}].
* 104x 互换: ``party_a``, ``party_b``, ``a_parcels``, ``b_parcels``; 1042 ``a_split`` and/or
  ``b_split``.
* 105x 分户: ``original``, ``members`` [member id], ``head_member_id``, ``relations``
  {member id: GB4761}, ``parcels``; 1052 ``split``.
* 1061 合户: ``target``, ``merged`` [contractor code].
* 107x 注销: ``contractor_code``, ``cause``.
* 2011/2021: ``register_code``, ``reason``, ``collector_name``, ``collector_id_type``,
  ``collector_id_number``. 2031: ``register_code``, ``reason``.

A ``split`` is {parcel, line (WKT, CGCS2000 lon/lat), give: "smaller" | "larger" | a WKT
point inside the piece that changes hands}.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.gis.geos import GEOSException, GEOSGeometry, Point
from django.db import connection
from django.utils import timezone

from gisapp.errors import DomainError
from gisapp.privacy import mask_name
from parcels import coding
from parcels import services as register
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
from parcels.services import LONG_TERM_END, Actor, ParcelShare
from registration.models import BusinessItem, Case

TRANSFER_ACQUISITION = "200"  # C.10 转让
EXCHANGE_ACQUISITION = "300"  # C.10 互换
OTHER_CONTRACTING = frozenset({"120", "121", "122", "123", "129"})
MERGED_HEAD_RELATION = "97"  # GB4761 其他亲属: a merged household's former head in the target household
AREA_TOLERANCE = Decimal("0.01")  # m² per piece: each measured area is rounded to 0.01 m²

# Items whose new or changed contracts both parties sign before 登簿 (网签: 新签 / 变更).
SIGNING_ITEMS = frozenset(
    {
        "1011",
        "1012",
        "1021",
        "1022",
        "1023",
        "1024",
        "1033",
        "1041",
        "1042",
        "1051",
        "1052",
        "1061",
    }
)
# Items that end with no certificate to print (注销登记, 权证注销).
NO_CERTIFICATE_ITEMS = frozenset({"1071", "1072", "1073", "2031"})

PROVINCE_ABBREVIATIONS = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
    "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "贵",
    "53": "云", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}  # fmt: skip


@dataclass
class Outcome:
    """What a registration did. Codes map to ``new`` / ``changed`` / ``retired``."""

    contractors: dict[str, str] = field(default_factory=dict)
    contracts: dict[str, str] = field(default_factory=dict)
    books: dict[str, str] = field(default_factory=dict)
    # register code -> issue / replace (at 缮证) or reissued / replaced / cancelled (at 登簿)
    certificates: dict[str, str] = field(default_factory=dict)
    splits: dict[str, list[str]] = field(default_factory=dict)  # old parcel -> its pieces
    moved: dict[str, str] = field(default_factory=dict)  # parcel -> its former contractor
    retired_parcels: list[str] = field(default_factory=list)
    main_contractor: str = ""
    main_contract: str = ""
    extension: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "contractors": self.contractors,
            "contracts": self.contracts,
            "books": self.books,
            "certificates": self.certificates,
            "splits": self.splits,
            "moved": self.moved,
            "retired_parcels": self.retired_parcels,
            "main_contractor": self.main_contractor,
            "main_contract": self.main_contract,
            "extension": self.extension,
        }

    def signing_contracts(self) -> list[str]:
        return sorted(code for code, what in self.contracts.items() if what in ("new", "changed"))


@dataclass(frozen=True)
class Context:
    """Who registers, when, and the signing dates of the contracts (by code)."""

    actor: Actor
    case: Case
    on: dt.date
    registrar: str
    signed_on: Mapping[str, dt.date]
    surveyor: str

    @property
    def reason(self) -> str:
        return f"{self.case.get_item_display()}（业务 {self.case.number}）"


# --- reading the proposal ----------------------------------------------------------------


def _need(data: Mapping[str, Any], key: str, label: str) -> Any:
    value = data.get(key)
    if value in (None, "", [], {}):
        raise DomainError(f"请填写{label}", code="proposal_incomplete", details={"field": key})
    return value


def _date(value: Any, label: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise DomainError(f"{label}不是有效日期：{value!r}", code="invalid_date") from exc


def _area(value: Any, label: str) -> Decimal:
    try:
        area = register.round_area(Decimal(str(value)))
    except (InvalidOperation, ValueError) as exc:
        raise DomainError(f"{label}不是有效面积：{value!r}", code="invalid_area") from exc
    if area <= 0:
        raise DomainError(f"{label}必须大于0", code="invalid_area")
    return area


def _codes(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.replace("，", ",").replace(";", ",").replace("\n", ",").split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def _geometry(wkt: Any, label: str) -> GEOSGeometry:
    try:
        geom = GEOSGeometry(str(wkt), srid=register.STORAGE_SRID)
    except (GEOSException, ValueError, TypeError) as exc:
        raise DomainError(f"{label}不是有效的WKT图形", code="invalid_geometry") from exc
    if geom.srid is None:
        geom.srid = register.STORAGE_SRID
    return geom


def _contractor(code: str, label: str) -> Contractor:
    contractor = Contractor.objects.filter(code=code).first()
    if contractor is None:
        raise DomainError(f"{label} {code} 不存在", code="contractor_missing")
    if contractor.status != Status.CURRENT:
        raise DomainError(f"{label} {mask_name(contractor.name)}（{code}）已注销", code="contractor_historic")
    return contractor


def _current_contract(contractor: Contractor, label: str) -> Contract:
    contract = Contract.objects.filter(contractor_id=contractor.code, status=Status.CURRENT).first()
    if contract is None:
        raise DomainError(
            f"{label} {mask_name(contractor.name)}（{contractor.code}）没有现势承包合同", code="no_contract"
        )
    return contract


def _links(contract_code: str) -> list[ContractParcel]:
    return list(ContractParcel.objects.filter(contract_id=contract_code, status=Status.CURRENT).order_by("parcel_id"))


def _link_of(contract: Contract, parcel_code: str, label: str) -> ContractParcel:
    link = ContractParcel.objects.filter(
        contract_id=contract.code, parcel_id=parcel_code, status=Status.CURRENT
    ).first()
    if link is None:
        raise DomainError(f"地块 {parcel_code} 不在{label}的承包合同 {contract.code} 中", code="parcel_not_in_contract")
    return link


def _same_collective(*contractors: Contractor) -> None:
    collectives = {c.collective_id for c in contractors}
    if len(collectives) != 1:
        raise DomainError("双方必须属于同一发包方（集体经济组织）", code="collectives_differ")


def _both_sides(
    data: Mapping[str, Any], a_key: str, b_key: str, a_label: str, b_label: str
) -> tuple[Contractor, Contractor]:
    a_code = data.get(a_key) or ""
    b_code = data.get(b_key) or ""
    if not a_code or not b_code:
        raise DomainError(f"必须同时填写{a_label}和{b_label}", code="both_sides_required")
    if a_code == b_code:
        raise DomainError(f"{a_label}和{b_label}不能是同一承包方", code="same_party")
    a = _contractor(a_code, a_label)
    b = _contractor(b_code, b_label)
    _same_collective(a, b)
    return a, b


# --- which parcels a case holds ----------------------------------------------------------


def _contract_parcels_of(contractor_code: str) -> list[str]:
    # ``parcel__code``, not ``parcel_id``: the same column (Django drops the join to the FK's
    # to_field), but django-stubs types ``_id`` of a to_field FK as the target's integer pk.
    return list(
        ContractParcel.objects.filter(
            contractor_id=contractor_code, status=Status.CURRENT, contract__status=Status.CURRENT
        ).values_list("parcel__code", flat=True)
    )


def parcels_of(item: str, proposal: Mapping[str, Any]) -> list[str]:
    """The parcels a case with this proposal changes (held while the case is open)."""
    p = proposal
    codes: list[str] = []
    if item in ("1011", "1012"):
        codes = [str(x.get("code", "")) if isinstance(x, dict) else str(x) for x in p.get("parcels", [])]
    elif item == "1021":
        codes = _contract_parcels_of(p.get("transferor", ""))
    elif item == "1022":
        codes = _codes(p.get("parcels"))
    elif item == "1023":
        codes = [p.get("split", {}).get("parcel", "")]
    elif item == "1024":
        codes = [p.get("share", {}).get("parcel", "")]
    elif item == "1033":
        codes = [x["code"] if isinstance(x, dict) else x for x in p.get("add", [])]
        codes += _codes(p.get("remove"))
        codes += [x["code"] for x in p.get("reduce", []) if isinstance(x, dict)]
    elif item in ("1041", "1042"):
        codes = _codes(p.get("a_parcels")) + _codes(p.get("b_parcels"))
        codes += [s.get("parcel", "") for s in (p.get("a_split"), p.get("b_split")) if s]
    elif item in ("1051", "1052"):
        codes = _codes(p.get("parcels"))
        if p.get("split"):
            codes.append(p["split"].get("parcel", ""))
    elif item == "1061":
        for code in _codes(p.get("merged")):
            codes += _contract_parcels_of(code)
    elif item in ("1071", "1072", "1073"):
        codes = _contract_parcels_of(p.get("contractor_code", ""))
    return sorted({c for c in codes if c})


def subjects_of(item: str, proposal: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(contractor code, role) of the households a case names."""
    p = proposal
    if item.startswith("102"):
        return [(p.get("transferor", ""), "transferor"), (p.get("transferee", ""), "transferee")]
    if item.startswith("104"):
        return [(p.get("party_a", ""), "party_a"), (p.get("party_b", ""), "party_b")]
    if item.startswith("105"):
        return [(p.get("original", ""), "original")]
    if item == "1061":
        return [(p.get("target", ""), "target")] + [(c, "merged") for c in _codes(p.get("merged"))]
    if item.startswith("2"):
        code = str(p.get("register_code", ""))[:18]
        return [(code, "applicant")]
    return [(p.get("contractor_code", ""), "applicant")]


# --- shared steps ------------------------------------------------------------------------


def next_certificate_serial(county_code: str, year: int) -> str:
    """CBJYQZLSH, e.g. 沪（2024）示范区农村土地承包经营权证第000001号: one sequence per
    county and year, allocated under an advisory lock."""
    register.lock(f"cbjyqzlsh:{county_code}:{year}")
    county = Region.objects.filter(code=county_code).values_list("name", flat=True).first() or county_code
    prefix = f"{PROVINCE_ABBREVIATIONS.get(county_code[:2], '')}（{year}）{county}农村土地承包经营权证第"
    used = [
        int(serial[len(prefix) : len(prefix) + 6])
        for serial in RegisterBook.objects.filter(serial__startswith=prefix).values_list("serial", flat=True)
        if serial[len(prefix) : len(prefix) + 6].isdigit()
    ]
    return f"{prefix}{max(used, default=0) + 1:06d}号"


def _registered(ctx: Context, outcome: Outcome, contract_code: str, *, new: bool) -> None:
    """A contract the case made or changed: its register entry follows (new or changed), and
    its certificate is issued or replaced at 缮证."""
    if new:
        register.register_book_create(
            actor=ctx.actor,
            contract_code=contract_code,
            registrar=ctx.registrar,
            registered_on=ctx.on,
            serial=next_certificate_serial(contract_code[:6], ctx.on.year),
        )
        outcome.books[contract_code] = "new"
        outcome.certificates[contract_code] = "issue"
        return
    book = RegisterBook.objects.filter(code=contract_code).first()
    if book is None or book.status != Status.CURRENT:
        register.register_book_create(
            actor=ctx.actor,
            contract_code=contract_code,
            registrar=ctx.registrar,
            registered_on=ctx.on,
            serial=next_certificate_serial(contract_code[:6], ctx.on.year),
        )
        outcome.books[contract_code] = "new"
        outcome.certificates[contract_code] = "issue"
        return
    register.register_book_update(
        actor=ctx.actor,
        code=contract_code,
        registrar=ctx.registrar,
        registered_on=ctx.on,
        reason=ctx.reason,
        note=f"{ctx.on:%Y年%m月%d日}{ctx.case.get_business_type_display()}，业务流水号{ctx.case.number}",
    )
    outcome.books[contract_code] = "changed"
    valid = Certificate.objects.filter(register_book__code=contract_code, state=Certificate.State.VALID).exists()
    outcome.certificates[contract_code] = "replace" if valid else "issue"


def _resign(ctx: Context, outcome: Outcome, contract_code: str) -> None:
    """A changed contract: totals follow its parcels, the new signing date is recorded, the
    register entry follows."""
    contract = register.contract_recount(actor=ctx.actor, contract_code=contract_code, reason=ctx.reason)
    if contract.parcel_count == 0:
        raise DomainError(
            f"承包合同 {contract_code} 变更后没有地块：请办理转让全部地块或注销登记", code="no_parcels_left"
        )
    signed = ctx.signed_on.get(contract_code, ctx.on)
    if signed != contract.signed_on:
        register.contract_update(actor=ctx.actor, contract_code=contract_code, reason=ctx.reason, signed_on=signed)
    outcome.contracts.setdefault(contract_code, "changed")
    _registered(ctx, outcome, contract_code, new=False)


def _end_contract(ctx: Context, outcome: Outcome, contract_code: str) -> None:
    """A contract that ends: contract, register entry and a valid certificate end with it."""
    register.contract_retire(actor=ctx.actor, contract_code=contract_code, reason=ctx.reason)
    outcome.contracts[contract_code] = "retired"
    book = RegisterBook.objects.filter(code=contract_code, status=Status.CURRENT).first()
    if book is not None:
        register.register_book_retire(actor=ctx.actor, code=contract_code, reason=ctx.reason)
        outcome.books[contract_code] = "retired"
    if Certificate.objects.filter(register_book__code=contract_code, state=Certificate.State.VALID).exists():
        register.certificate_cancel(
            actor=ctx.actor, register_code=contract_code, reason=ctx.reason[:200], cancelled_on=ctx.on
        )
        outcome.certificates[contract_code] = "cancelled"


@dataclass(frozen=True)
class Holding:
    """Land (or a share of it) that changes hands: parcel, contract area, C.10 acquisition."""

    parcel_code: str
    area: Decimal
    acquisition: str
    is_share: str | None = None


def _release(ctx: Context, outcome: Outcome, links: Sequence[ContractParcel], acquisition: str | None) -> list[Holding]:
    """The giver's links end; what they held is handed on (``acquisition=None`` keeps each
    link's own way of acquisition)."""
    held = []
    for link in links:
        register.link_retire(actor=ctx.actor, link_id=link.pk, reason=ctx.reason)
        outcome.moved[link.parcel_id] = link.contractor_id
        held.append(Holding(link.parcel_id, link.contract_area, acquisition or link.acquisition, link.is_share))
    return held


def _receive(
    ctx: Context, outcome: Outcome, holdings: Sequence[Holding], receiver: Contractor, template: Contract
) -> str:
    """Add the holdings to the receiver's current contract, or make one with the giver's
    contracting method and term if it has none. Returns the receiving contract's code."""
    target = Contract.objects.filter(contractor_id=receiver.code, status=Status.CURRENT).first()
    if target is not None:
        for h in holdings:
            register.link_create(
                actor=ctx.actor,
                contract_code=target.code,
                parcel_code=h.parcel_code,
                contract_area=h.area,
                acquisition=h.acquisition,
                is_share=h.is_share,
                reason=ctx.reason,
            )
        outcome.contracts.setdefault(target.code, "changed")
        return target.code
    code = coding.make_contract_code(receiver.code, template.method)
    register.contract_create(
        actor=ctx.actor,
        contractor_code=receiver.code,
        method=template.method,
        term_start=template.term_start,
        term_end=template.term_end,
        signed_on=ctx.signed_on.get(code, ctx.on),
        parcels=[ParcelShare(h.parcel_code, contract_area=h.area) for h in holdings],
    )
    outcome.contracts[code] = "new"
    by_parcel = {h.parcel_code: h for h in holdings}
    for link in ContractParcel.objects.filter(contract_id=code, status=Status.CURRENT):
        wanted = by_parcel[link.parcel_id]
        changes: dict[str, Any] = {}
        if wanted.acquisition != link.acquisition:
            changes["acquisition"] = wanted.acquisition
        if wanted.is_share != link.is_share:
            changes["is_share"] = wanted.is_share
        if changes:
            register.link_update(actor=ctx.actor, link_id=link.pk, reason=ctx.reason, **changes)
    _registered(ctx, outcome, code, new=True)
    return code


def _give_links(
    ctx: Context,
    outcome: Outcome,
    links: Sequence[ContractParcel],
    receiver: Contractor,
    *,
    acquisition: str | None,
    template: Contract,
) -> str:
    """Move parcel links from the giver's contract to the receiver's."""
    return _receive(ctx, outcome, _release(ctx, outcome, links, acquisition), receiver, template)


def _split(ctx: Context, outcome: Outcome, spec: Mapping[str, Any], contract: Contract, label: str) -> list[Parcel]:
    """Split a parcel of ``contract`` by the spec's line (through the map editor's service)
    and return the pieces that change hands. The pieces' areas must add up to the parcel's."""
    code = _need(spec, "parcel", "分割地块代码")
    _link_of(contract, code, label)
    parcel = Parcel.objects.get(code=code)
    line = _geometry(_need(spec, "line", "分割线"), "分割线")
    pieces = register.parcel_split(
        actor=ctx.actor, code=code, expected_version=parcel.version, line=line, reason=ctx.reason
    )
    outcome.splits[code] = [p.code for p in pieces]
    total = sum((p.surveyed_area for p in pieces), Decimal("0"))
    if abs(total - parcel.surveyed_area) > AREA_TOLERANCE * len(pieces):
        raise DomainError(
            f"分割后地块面积之和 {total} 平方米与原地块面积 {parcel.surveyed_area} 平方米不符", code="areas_differ"
        )
    give = spec.get("give") or "smaller"
    if give == "larger":
        return [pieces[0]]
    if give == "smaller":
        return [pieces[-1]]
    point = _geometry(give, "分出部分的位置点")
    if not isinstance(point, Point):
        raise DomainError("分出部分应为“较大”“较小”或地块内的一个点（WKT POINT）", code="invalid_geometry")
    chosen = [p for p in pieces if p.geom.contains(point)]
    if not chosen:
        raise DomainError("指定的点不在任何分割后的地块内", code="point_outside")
    return chosen


def _held_area(contractor_codes: Iterable[str]) -> Decimal:
    rows = ContractParcel.objects.filter(
        contractor_id__in=list(contractor_codes), status=Status.CURRENT, contract__status=Status.CURRENT
    ).values_list("contract_area", flat=True)
    return sum(rows, Decimal("0"))


def _check_areas_add_up(
    outcome: Outcome, before: Decimal, before_links: Mapping[str, Decimal], codes: Iterable[str]
) -> None:
    """Land moved between households is neither gained nor lost: the households' contract
    areas add up to what they held, except where a split re-measured a parcel."""
    delta = Decimal("0")
    pieces = 0
    for old, new_codes in outcome.splits.items():
        measured = sum(Parcel.objects.filter(code__in=new_codes).values_list("surveyed_area", flat=True), Decimal("0"))
        delta += measured - before_links.get(old, Decimal("0"))
        pieces += len(new_codes)
    after = _held_area(codes)
    if abs(after - (before + delta)) > AREA_TOLERANCE * max(pieces, 1):
        raise DomainError(
            f"登记前后承包面积不一致：登记前 {before + delta} 平方米，登记后 {after} 平方米", code="areas_differ"
        )


def _link_areas(contractor_codes: Iterable[str]) -> dict[str, Decimal]:
    return dict(
        ContractParcel.objects.filter(
            contractor_id__in=list(contractor_codes), status=Status.CURRENT, contract__status=Status.CURRENT
        ).values_list("parcel__code", "contract_area")
    )


def _member_fields(member: FamilyMember) -> dict[str, Any]:
    return {
        "name": member.name,
        "sex": member.sex,
        "id_type": member.id_type,
        "id_number": member.id_number,
        "relation": member.relation,
        "remark": member.remark,
        "is_co_owner": member.is_co_owner,
        "remark_note": member.remark_note,
    }


def _new_member_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    fields = {
        "name": _need(data, "name", "成员姓名"),
        "sex": _need(data, "sex", "成员性别"),
        "id_type": data.get("id_type") or "1",
        "id_number": _need(data, "id_number", "成员证件号码"),
        "relation": _need(data, "relation", "与户主关系"),
    }
    for key in ("remark", "is_co_owner", "remark_note"):
        if data.get(key):
            fields[key] = data[key]
    return fields


def _contractor_defaults(ctx: Context) -> dict[str, Any]:
    """The survey and publicity fields (CBFDCRQ … GSSHR) of a household registered by a
    case: the case's acceptance is the survey, its review the publicity check."""
    case = ctx.case
    accepted = case.accepted_at or case.created_at
    reviewer = ctx.registrar
    if case.reviewed_by is not None:
        reviewer = case.reviewed_by.get_full_name() or case.reviewed_by.get_username()
    return {
        "survey_date": timezone.localdate(accepted) if accepted else ctx.on,
        "surveyor": ctx.surveyor,
        "publicity_recorder": ctx.surveyor,
        "publicity_review_date": timezone.localdate(case.reviewed_at) if case.reviewed_at else ctx.on,
        "publicity_reviewer": reviewer,
    }


def _stamp(day: dt.date) -> str:
    """A date as the platform messages write it (yyyy-MM-dd HH:mm:ss)."""
    return f"{day:%Y-%m-%d} 00:00:00"


def _message_ids(outcome: Outcome, contractor: str, contract: str = "") -> None:
    outcome.main_contractor = contractor
    outcome.main_contract = contract


# --- the items ---------------------------------------------------------------------------


def _initial(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    item = ctx.case.item
    method = str(_need(p, "method", "承包方式"))
    if item == "1011" and method != coding.FAMILY_CONTRACTING:
        raise DomainError("家庭承包方式的初始登记，承包方式必须为 110 家庭承包", code="method_item")
    if item == "1012" and method not in OTHER_CONTRACTING:
        raise DomainError("其他方式承包的初始登记，承包方式应为 120-129（招标、拍卖、公开协商等）", code="method_item")
    term_start = _date(_need(p, "term_start", "承包期限起"), "承包期限起")
    term_end = _date(p.get("term_end") or LONG_TERM_END.isoformat(), "承包期限止")
    if not term_start < term_end:
        raise DomainError("承包期限起必须早于承包期限止", code="dates_order")
    parcels = p.get("parcels") or []
    if not parcels:
        raise DomainError("初始登记至少要有一个地块", code="parcels_required")
    shares = []
    for row in parcels:
        row = row if isinstance(row, dict) else {"code": row}
        area = row.get("contract_area")
        shares.append(ParcelShare(str(row["code"]), contract_area=_area(area, "合同面积") if area else None))
    if p.get("contractor_code"):
        contractor = _contractor(str(p["contractor_code"]), "承包方")
        if contractor.collective_id != ctx.case.collective_code:
            raise DomainError("承包方不属于本业务的发包方", code="collectives_differ")
    else:
        data = dict(_need(p, "new_contractor", "承包方信息"))
        kind = str(data.pop("kind", Contractor.Kind.HOUSEHOLD))
        members = [_new_member_fields(m) for m in data.pop("members", [])]
        fields = {
            "name": _need(data, "name", "承包方（代表）名称"),
            "id_type": data.get("id_type") or "1",
            "id_number": _need(data, "id_number", "承包方（代表）证件号码"),
            "address": _need(data, "address", "承包方地址"),
            "postcode": _need(data, "postcode", "邮政编码"),
        }
        if data.get("phone"):
            fields["phone"] = data["phone"]
        contractor = register.contractor_create(
            actor=ctx.actor,
            collective_code=ctx.case.collective_code,
            kind=kind,
            members=members,
            **fields,
            **_contractor_defaults(ctx),
        )
        outcome.contractors[contractor.code] = "new"
    if item == "1011" and contractor.kind != Contractor.Kind.HOUSEHOLD:
        raise DomainError("家庭承包方式的承包方必须是农户", code="kind_item")
    code = coding.make_contract_code(contractor.code, method)
    if Contract.objects.filter(contractor_id=contractor.code, status=Status.CURRENT).exists():
        raise DomainError(
            f"承包方 {mask_name(contractor.name)}（{contractor.code}）已有现势承包合同，请办理变更登记",
            code="contract_exists",
        )
    register.contract_create(
        actor=ctx.actor,
        contractor_code=contractor.code,
        method=method,
        term_start=term_start,
        term_end=term_end,
        signed_on=ctx.signed_on.get(code, ctx.on),
        parcels=shares,
    )
    outcome.contracts[code] = "new"
    _registered(ctx, outcome, code, new=True)
    _message_ids(outcome, contractor.code, code)


def _transfer(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    item = ctx.case.item
    giver, taker = _both_sides(p, "transferor", "transferee", "转出方", "受让方")
    contract = _current_contract(giver, "转出方")
    all_links = _links(contract.code)
    before_links = _link_areas([giver.code, taker.code])
    before = _held_area([giver.code, taker.code])
    given: list[ContractParcel]
    if item == "1021":
        given = all_links
    elif item == "1022":
        codes = _codes(p.get("parcels"))
        if not codes:
            raise DomainError("请选择转让的地块", code="parcels_required")
        given = [_link_of(contract, c, "转出方") for c in codes]
        if len(given) == len(all_links):
            raise DomainError("转让全部地块请选择“全部地块转让”（1021）", code="item_mismatch")
    elif item == "1023":
        pieces = _split(ctx, outcome, _need(p, "split", "地块分割"), contract, "转出方")
        given = [_link_of(contract, piece.code, "转出方") for piece in pieces]
    else:  # 1024 确权确股: a share of a parcel, not the land itself
        spec = _need(p, "share", "转让的股份")
        parcel_code = _need(spec, "parcel", "确权确股地块")
        link = _link_of(contract, parcel_code, "转出方")
        if link.is_share != "1":
            raise DomainError(f"地块 {parcel_code} 不是确权确股地块", code="not_share")
        area = _area(_need(spec, "area", "转让的股份面积"), "转让的股份面积")
        if area > link.contract_area:
            raise DomainError(
                f"转让的股份面积 {area} 超过转出方持有的 {link.contract_area} 平方米", code="area_exceeded"
            )
        _release(ctx, outcome, [link], TRANSFER_ACQUISITION)
        if area < link.contract_area:
            register.link_create(
                actor=ctx.actor,
                contract_code=contract.code,
                parcel_code=parcel_code,
                contract_area=link.contract_area - area,
                acquisition=link.acquisition,
                is_share="1",
                reason=ctx.reason,
            )
        held = ContractParcel.objects.filter(
            contractor_id=taker.code, parcel_id=parcel_code, status=Status.CURRENT, contract__status=Status.CURRENT
        ).first()
        if held is not None:
            register.link_retire(actor=ctx.actor, link_id=held.pk, reason=ctx.reason)
            area += held.contract_area
        share = Holding(parcel_code, area, TRANSFER_ACQUISITION, "1")
        taker_contract = _receive(ctx, outcome, [share], taker, contract)
        _finish_transfer(ctx, outcome, p, giver, taker, contract, taker_contract, [parcel_code], before, before_links)
        return
    taker_contract = _give_links(ctx, outcome, given, taker, acquisition=TRANSFER_ACQUISITION, template=contract)
    _finish_transfer(
        ctx, outcome, p, giver, taker, contract, taker_contract, [g.parcel_id for g in given], before, before_links
    )


def _finish_transfer(
    ctx: Context,
    outcome: Outcome,
    p: Mapping[str, Any],
    giver: Contractor,
    taker: Contractor,
    contract: Contract,
    taker_contract: str,
    parcel_codes: list[str],
    before: Decimal,
    before_links: Mapping[str, Decimal],
) -> None:
    if ctx.case.item == "1021":
        _end_contract(ctx, outcome, contract.code)
    else:
        _resign(ctx, outcome, contract.code)
    if outcome.contracts.get(taker_contract) == "changed":
        _resign(ctx, outcome, taker_contract)
    _check_areas_add_up(outcome, before, before_links, [giver.code, taker.code])
    outcome.extension = {
        "ZCCBFBM": giver.code,
        "ZCCBJYQZBM": contract.code,
        "ZRCBFBM": taker.code,
        "ZRCBJYQZBM": taker_contract,
        "CBHTBM": ";".join(sorted({contract.code, taker_contract})),
        "DKBM": ";".join(parcel_codes),
    }


def _members(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    contractor = _contractor(_need(p, "contractor_code", "承包方"), "承包方")
    if contractor.kind != Contractor.Kind.HOUSEHOLD:
        raise DomainError("只有农户承包方有家庭成员", code="kind_item")
    adds = p.get("add") or []
    removes = p.get("remove") or []
    updates = p.get("update") or []
    if not (adds or removes or updates):
        raise DomainError("请填写家庭成员的增加、减少或更改", code="proposal_incomplete")
    current = {m.pk: m for m in FamilyMember.objects.filter(contractor_id=contractor.code, status=Status.CURRENT)}
    for row in updates:
        member_id = int(_need(row, "id", "成员"))
        if member_id not in current:
            raise DomainError("要更改的成员不是该户的现有家庭成员", code="member_missing")
        changes = {k: v for k, v in row.items() if k != "id"}
        register.member_update(
            actor=ctx.actor,
            member_id=member_id,
            expected_version=current[member_id].version,
            reason=ctx.reason,
            **changes,
        )
    for value in removes:
        member_id = int(value["id"] if isinstance(value, dict) else value)
        if member_id not in current:
            raise DomainError("要减少的成员不是该户的现有家庭成员", code="member_missing")
        register.member_retire(actor=ctx.actor, member_id=member_id, reason=ctx.reason)
    for row in adds:
        register.create_versioned(
            FamilyMember(contractor_id=contractor.code, **_new_member_fields(row)), actor=ctx.actor, reason=ctx.reason
        )
    register.contractor_recount_members(actor=ctx.actor, contractor_code=contractor.code, reason=ctx.reason)
    _contract_follows(ctx, outcome, contractor)


def _contract_follows(ctx: Context, outcome: Outcome, contractor: Contractor) -> None:
    """A change of the household alone: its register entry records the change and its
    certificate is replaced; the contract's terms stay."""
    contract = Contract.objects.filter(contractor_id=contractor.code, status=Status.CURRENT).first()
    outcome.contractors[contractor.code] = "changed"
    if contract is None:
        _message_ids(outcome, contractor.code)
        return
    _registered(ctx, outcome, contract.code, new=False)
    _message_ids(outcome, contractor.code, contract.code)


def _representative(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    contractor = _contractor(_need(p, "contractor_code", "承包方"), "承包方")
    if contractor.kind != Contractor.Kind.HOUSEHOLD:
        raise DomainError("只有农户承包方可以变更承包方代表", code="kind_item")
    register.contractor_representative_change(
        actor=ctx.actor,
        contractor_code=contractor.code,
        member_id=int(_need(p, "member_id", "新的承包方代表")),
        former_head_relation=str(_need(p, "former_head_relation", "原户主的与户主关系")),
        reason=ctx.reason,
    )
    _contract_follows(ctx, outcome, contractor)


def _parcels_change(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    contractor = _contractor(_need(p, "contractor_code", "承包方"), "承包方")
    contract = _current_contract(contractor, "承包方")
    adds = p.get("add") or []
    removes = _codes(p.get("remove"))
    reduces = p.get("reduce") or []
    if not (adds or removes or reduces):
        raise DomainError("请填写增加、减少或减小的地块", code="proposal_incomplete")
    for code in removes:
        link = _link_of(contract, code, "承包方")
        register.link_retire(actor=ctx.actor, link_id=link.pk, reason=ctx.reason)
    for row in reduces:
        code = _need(row, "code", "减小的地块")
        link = _link_of(contract, code, "承包方")
        area = _area(_need(row, "contract_area", "减小后的合同面积"), "减小后的合同面积")
        if area >= link.contract_area:
            raise DomainError(
                f"地块 {code} 减小后的面积 {area} 必须小于原合同面积 {link.contract_area} 平方米",
                code="area_not_reduced",
            )
        register.link_retire(actor=ctx.actor, link_id=link.pk, reason=ctx.reason)
        register.link_create(
            actor=ctx.actor,
            contract_code=contract.code,
            parcel_code=code,
            contract_area=area,
            acquisition=link.acquisition,
            is_share=link.is_share,
            original_area=link.contract_area,
            reason=ctx.reason,
        )
    for row in adds:
        row = row if isinstance(row, dict) else {"code": row}
        code = _need(row, "code", "增加的地块")
        parcel = Parcel.objects.filter(code=code).first()
        if parcel is None:
            raise DomainError(f"地块不存在：{code}", code="parcel_missing")
        if parcel.collective_code != contract.collective_id:
            raise DomainError(f"地块 {code} 不属于发包方 {contract.collective_id}", code="collectives_differ")
        area = _area(row["contract_area"], "合同面积") if row.get("contract_area") else parcel.surveyed_area
        register.link_create(
            actor=ctx.actor,
            contract_code=contract.code,
            parcel_code=code,
            contract_area=area,
            acquisition=contract.method,
            reason=ctx.reason,
        )
    _resign(ctx, outcome, contract.code)
    _message_ids(outcome, contractor.code, contract.code)


def _exchange(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    a, b = _both_sides(p, "party_a", "party_b", "互换甲方", "互换乙方")
    a_contract = _current_contract(a, "互换甲方")
    b_contract = _current_contract(b, "互换乙方")
    before_links = _link_areas([a.code, b.code])
    before = _held_area([a.code, b.code])
    a_codes = _codes(p.get("a_parcels"))
    b_codes = _codes(p.get("b_parcels"))
    a_split, b_split = p.get("a_split"), p.get("b_split")
    if ctx.case.item == "1041" and (a_split or b_split):
        raise DomainError("多块地互换不涉及地块分割；分割后互换请选择 1042", code="item_mismatch")
    if ctx.case.item == "1042" and not (a_split or b_split):
        raise DomainError("地块的部分互换必须填写分割的地块和分割线", code="split_required")
    if not (a_codes or a_split) or not (b_codes or b_split):
        raise DomainError("互换必须双方都有交换的地块", code="both_sides_required")
    a_links = [_link_of(a_contract, c, "互换甲方") for c in a_codes]
    b_links = [_link_of(b_contract, c, "互换乙方") for c in b_codes]
    if a_split:
        a_links += [
            _link_of(a_contract, x.code, "互换甲方") for x in _split(ctx, outcome, a_split, a_contract, "互换甲方")
        ]
    if b_split:
        b_links += [
            _link_of(b_contract, x.code, "互换乙方") for x in _split(ctx, outcome, b_split, b_contract, "互换乙方")
        ]
    _give_links(ctx, outcome, a_links, b, acquisition=EXCHANGE_ACQUISITION, template=a_contract)
    _give_links(ctx, outcome, b_links, a, acquisition=EXCHANGE_ACQUISITION, template=b_contract)
    _resign(ctx, outcome, a_contract.code)
    _resign(ctx, outcome, b_contract.code)
    _check_areas_add_up(outcome, before, before_links, [a.code, b.code])
    outcome.extension = {
        "JF": {
            "DKBM": ";".join(link.parcel_id for link in a_links),
            "FBFBM": a.collective_id,
            "CBJYQZBM": a_contract.code,
            "CBFBM": a.code,
        },
        "YF": {
            "DKBM": ";".join(link.parcel_id for link in b_links),
            "FBFBM": b.collective_id,
            "CBJYQZBM": b_contract.code,
            "CBFBM": b.code,
        },
    }


def _household_split(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    original = _contractor(_need(p, "original", "分户前承包方"), "分户前承包方")
    if original.kind != Contractor.Kind.HOUSEHOLD:
        raise DomainError("只有农户可以分户", code="kind_item")
    contract = _current_contract(original, "分户前承包方")
    members = {m.pk: m for m in FamilyMember.objects.filter(contractor_id=original.code, status=Status.CURRENT)}
    leaving = [int(x) for x in _need(p, "members", "分出的家庭成员")]
    unknown = [x for x in leaving if x not in members]
    if unknown:
        raise DomainError("分出的成员必须是该户的现有家庭成员", code="member_missing")
    if len(set(leaving)) == len(members):
        raise DomainError("分户后原户至少要保留一名家庭成员", code="members_required")
    if any(members[x].relation in register.HEAD_RELATIONS for x in leaving):
        raise DomainError("原户主不能分出：请先办理承包方代表变更（1032）", code="head_leaves")
    head_id = int(_need(p, "head_member_id", "新户户主"))
    if head_id not in leaving:
        raise DomainError("新户户主必须是分出的成员之一", code="head_required")
    if ctx.case.item == "1051" and p.get("split"):
        raise DomainError("只涉及整块地块的分户不分割地块；涉及分割请选择 1052", code="item_mismatch")
    if ctx.case.item == "1052" and not p.get("split"):
        raise DomainError("涉及地块分割的分户必须填写分割的地块和分割线", code="split_required")
    codes = _codes(p.get("parcels"))
    if not codes and not p.get("split"):
        raise DomainError("请选择分给新户的地块", code="parcels_required")
    before_links = _link_areas([original.code])
    before = _held_area([original.code])
    given = [_link_of(contract, c, "分户前承包方") for c in codes]
    if p.get("split"):
        given += [
            _link_of(contract, x.code, "分户前承包方")
            for x in _split(ctx, outcome, p["split"], contract, "分户前承包方")
        ]
    relations = {int(k): v for k, v in (p.get("relations") or {}).items()}
    new_members = []
    for member_id in leaving:
        fields = _member_fields(members[member_id])
        fields["relation"] = "02" if member_id == head_id else relations.get(member_id, fields["relation"])
        new_members.append({k: v for k, v in fields.items() if v is not None})
    head = members[head_id]
    new = register.contractor_create(
        actor=ctx.actor,
        collective_code=original.collective_id,
        kind=Contractor.Kind.HOUSEHOLD,
        members=new_members,
        name=head.name,
        id_type=head.id_type,
        id_number=head.id_number,
        address=p.get("address") or original.address,
        postcode=p.get("postcode") or original.postcode,
        phone=p.get("phone") or None,
        **_contractor_defaults(ctx),
    )
    outcome.contractors[new.code] = "new"
    outcome.contractors[original.code] = "changed"
    for member_id in leaving:
        register.member_retire(actor=ctx.actor, member_id=member_id, reason=ctx.reason)
    register.contractor_recount_members(actor=ctx.actor, contractor_code=original.code, reason=ctx.reason)
    new_contract = _give_links(ctx, outcome, given, new, acquisition=None, template=contract)
    _resign(ctx, outcome, contract.code)
    _check_areas_add_up(outcome, before, before_links, [original.code, new.code])

    def after(code: str, contract_code: str) -> dict[str, Any]:
        parcels = ContractParcel.objects.filter(contract_id=contract_code, status=Status.CURRENT)
        return {
            "CBFBM": code,
            "CBHTBM": contract_code,
            "CBJYQZBM": contract_code,
            "DKBM": sorted(parcels.values_list("parcel_id", flat=True)),
        }

    outcome.extension = {
        "FHQCBFBM": original.code,
        "FHQCBHTBM": contract.code,
        "FHQCBJYQZBM": contract.code,
        "FHHCBF": [after(original.code, contract.code), after(new.code, new_contract)],
    }


def _household_merge(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    target = _contractor(_need(p, "target", "合户后承包方"), "合户后承包方")
    merged_codes = _codes(p.get("merged"))
    if not merged_codes:
        raise DomainError("请填写并入的承包方", code="parcels_required")
    if target.code in merged_codes:
        raise DomainError("合户后承包方不能同时是并入的承包方", code="same_party")
    merged = [_contractor(code, "并入的承包方") for code in merged_codes]
    _same_collective(target, *merged)
    for household in [target, *merged]:
        if household.kind != Contractor.Kind.HOUSEHOLD:
            raise DomainError(
                f"只有农户可以合户：{mask_name(household.name)}（{household.code}）不是农户", code="kind_item"
            )
    before_links = _link_areas([target.code, *merged_codes])
    before = _held_area([target.code, *merged_codes])
    target_contract = Contract.objects.filter(contractor_id=target.code, status=Status.CURRENT).first()
    before_ids = [
        {"CBFBM": h.code, "CBHTBM": c.code if c else "", "CBJYQZBM": c.code if c else ""}
        for h in [target, *merged]
        for c in [Contract.objects.filter(contractor_id=h.code, status=Status.CURRENT).first()]
    ]
    relations = {int(k): v for k, v in (p.get("relations") or {}).items()}
    for household in merged:
        for member in FamilyMember.objects.filter(contractor_id=household.code, status=Status.CURRENT):
            fields = _member_fields(member)
            if fields["relation"] in register.HEAD_RELATIONS:
                fields["relation"] = MERGED_HEAD_RELATION
            fields["relation"] = relations.get(member.pk, fields["relation"])
            register.member_retire(actor=ctx.actor, member_id=member.pk, reason=ctx.reason)
            register.create_versioned(
                FamilyMember(contractor_id=target.code, **{k: v for k, v in fields.items() if v is not None}),
                actor=ctx.actor,
                reason=ctx.reason,
            )
        contract = Contract.objects.filter(contractor_id=household.code, status=Status.CURRENT).first()
        if contract is not None:
            links = _links(contract.code)
            if links:
                code = _give_links(ctx, outcome, links, target, acquisition=None, template=contract)
                target_contract = Contract.objects.get(code=code)
            _end_contract(ctx, outcome, contract.code)
        register.contractor_retire(actor=ctx.actor, contractor_code=household.code, reason=ctx.reason)
        outcome.contractors[household.code] = "retired"
    register.contractor_recount_members(actor=ctx.actor, contractor_code=target.code, reason=ctx.reason)
    outcome.contractors[target.code] = "changed"
    if target_contract is None:
        raise DomainError("合户的各户都没有现势承包合同", code="no_contract")
    if outcome.contracts.get(target_contract.code) == "changed":
        _resign(ctx, outcome, target_contract.code)
    else:  # made for the target from the first merged contract; the others' land came after
        register.contract_recount(actor=ctx.actor, contract_code=target_contract.code, reason=ctx.reason)
    _check_areas_add_up(outcome, before, before_links, [target.code])
    outcome.extension = {
        "HHQCBF": before_ids,
        "HHHCBF": {
            "CBFBM": target.code,
            "CBHTBM": target_contract.code,
            "CBJYQZBM": target_contract.code,
            "DKBM": sorted(_contract_parcels_of(target.code)),
        },
    }


def _cancellation(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    contractor = _contractor(_need(p, "contractor_code", "承包方"), "承包方")
    cause = str(_need(p, "cause", "注销原因"))[:100]
    contract = _current_contract(contractor, "承包方")
    parcels = [link.parcel_id for link in _links(contract.code)]
    _end_contract(ctx, outcome, contract.code)
    if ctx.case.item == "1072":
        register.contractor_retire(actor=ctx.actor, contractor_code=contractor.code, reason=ctx.reason)
        outcome.contractors[contractor.code] = "retired"
    if ctx.case.item == "1073":
        for code in parcels:
            register.parcel_retire(actor=ctx.actor, code=code, reason=f"{cause}（业务 {ctx.case.number}）")
            outcome.retired_parcels.append(code)
    _message_ids(outcome, contractor.code, contract.code)
    outcome.extension = {"ZXYY": cause}


def _certificate_business(ctx: Context, p: Mapping[str, Any], outcome: Outcome) -> None:
    code = str(_need(p, "register_code", "承包经营权证（登记簿）代码"))
    book = RegisterBook.objects.filter(code=code).first()
    if book is None:
        raise DomainError(f"登记簿 {code} 不存在", code="book_missing")
    if book.status != Status.CURRENT:
        raise DomainError(f"登记簿 {code} 已注销", code="book_historic")
    reason = str(_need(p, "reason", "原因"))[:200]
    item = ctx.case.item
    if item in ("2011", "2021"):
        collector = {
            "collected_on": ctx.on,
            "collector_name": _need(p, "collector_name", "领取人姓名"),
            "collector_id_type": p.get("collector_id_type") or "1",
            "collector_id_number": _need(p, "collector_id_number", "领取人证件号码"),
        }
        if item == "2011":
            record = register.certificate_reissue(
                actor=ctx.actor, register_code=code, reason=reason, reissued_on=ctx.on, **collector
            )
            outcome.certificates[code] = "reissued"
            outcome.extension = {
                "QZBF": {
                    "CBJYQZBM": code,
                    "QZBFYY": reason,
                    "BFRQ": _stamp(record.reissued_on),
                    "QZBFLQRQ": _stamp(record.collected_on),
                    "QZBFLQRXM": record.collector_name,
                    "BFLQRZJLX": record.collector_id_type,
                    "BFLQRZJHM": record.collector_id_number,
                }
            }
        else:
            replaced = register.certificate_replace(
                actor=ctx.actor, register_code=code, reason=reason, replaced_on=ctx.on, **collector
            )
            outcome.certificates[code] = "replaced"
            outcome.extension = {
                "QZHF": {
                    "CBJYQZBM": code,
                    "QZHFYY": reason,
                    "HFRQ": _stamp(replaced.replaced_on),
                    "QZHFLQRQ": _stamp(replaced.collected_on),
                    "QZHFLQRXM": replaced.collector_name,
                    "HFLQRZJLX": replaced.collector_id_type,
                    "HFLQRZJHM": replaced.collector_id_number,
                }
            }
    else:
        cancelled = register.certificate_cancel(actor=ctx.actor, register_code=code, reason=reason, cancelled_on=ctx.on)
        outcome.certificates[code] = "cancelled"
        outcome.extension = {"QZZX": {"CBJYQZBM": code, "ZXYY": reason, "ZXRQ": _stamp(cancelled.cancelled_on)}}
    _message_ids(outcome, book.contractor_id, code)


HANDLERS = {
    "101": _initial,
    "102": _transfer,
    "104": _exchange,
    "105": _household_split,
    "106": _household_merge,
    "107": _cancellation,
    "201": _certificate_business,
    "202": _certificate_business,
    "203": _certificate_business,
}
GENERAL_HANDLERS = {"1031": _members, "1032": _representative, "1033": _parcels_change}


def apply(
    *,
    actor: Actor,
    case: Case,
    on: dt.date,
    registrar: str,
    surveyor: str,
    signed_on: Mapping[str, dt.date] | None = None,
) -> Outcome:
    """Write the case's proposal to the register (in the caller's transaction)."""
    if case.item not in BusinessItem.values:
        raise DomainError(f"未知的业务事项 {case.item}")
    if not Collective.objects.filter(code=case.collective_code).exists():
        raise DomainError(f"发包方 {case.collective_code} 不存在", code="collective_missing")
    ctx = Context(actor=actor, case=case, on=on, registrar=registrar, signed_on=signed_on or {}, surveyor=surveyor)
    outcome = Outcome()
    handler = GENERAL_HANDLERS.get(case.item) if case.business_type == "103" else HANDLERS.get(case.business_type)
    if handler is None:
        raise DomainError(f"业务事项 {case.item} 没有登记规则")
    handler(ctx, case.proposal, outcome)
    if not outcome.main_contractor:
        main = next((c for c, what in outcome.contractors.items() if what == "new"), "")
        outcome.main_contractor = main
    _regenerate_boundaries(outcome)
    return outcome


def _regenerate_boundaries(outcome: Outcome) -> None:
    """Boundary points and lines (JZD/JZX) of the parcels the case split, retired or moved, or
    whose contract changed (the lines name each parcel's holder), where the county holds them."""
    from layers.exchange import jzdx

    codes = set(outcome.splits) | {c for pieces in outcome.splits.values() for c in pieces}
    codes |= set(outcome.moved) | set(outcome.retired_parcels)
    contracts = [code for code, what in outcome.contracts.items() if what in ("new", "changed", "retired")]
    if contracts:
        codes |= set(ContractParcel.objects.filter(contract_id__in=contracts).values_list("parcel__code", flat=True))
    if codes:
        jzdx.regenerate_for_parcels(sorted(codes))


# --- contract fingerprints ---------------------------------------------------------------


def contract_terms(contract_code: str) -> dict[str, Any]:
    """The terms both parties sign: parties, method, term and parcels with their areas."""
    contract = Contract.objects.select_related("contractor", "collective").get(code=contract_code)
    links = ContractParcel.objects.filter(contract_id=contract_code, status=Status.CURRENT).order_by("parcel_id")
    members = FamilyMember.objects.filter(contractor_id=contract.contractor_id, status=Status.CURRENT).order_by("id")
    return {
        "code": contract.code,
        "collective": [contract.collective_id, contract.collective.name],
        "contractor": [contract.contractor_id, contract.contractor.name, contract.contractor.id_number],
        "members": [[m.name, m.id_number, m.relation] for m in members],
        "method": contract.method,
        "term": [contract.term_start.isoformat(), contract.term_end.isoformat()],
        "parcels": [[link.parcel_id, str(link.contract_area), link.acquisition, link.is_share or ""] for link in links],
        "total": str(contract.total_area),
    }


def fingerprint(contract_code: str) -> str:
    payload = json.dumps(contract_terms(contract_code), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def srid_wkt(srid: int) -> str:
    """The projection string (TYZB) of an SRID, as PostGIS knows it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT srtext FROM spatial_ref_sys WHERE srid = %s", [srid])
        row = cursor.fetchone()
    return str(row[0]) if row else f"EPSG:{srid}"
