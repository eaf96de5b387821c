"""The platform change message (业务报文) of the 2019 接入规范 for a registered case.

``SUBMIT`` = ``HEAD`` (FSF, FSSJ, SJLX, SJBZM) + ``BUSINESS_DATA`` (the case, plus the
extension of its business type: 转让 ZCCBFBM…, 互换 JF/YF, 分户 FHHCBF, 合户 HHQCBF/HHHCBF,
注销 ZXYY, 权证 QZBF/QZHF/QZZX) + ``ORIGINAL_DATA`` (the touched rows before the case, CZFS 01)
+ ``CHANGE_DATA`` (the rows after it, CZFS 02 增加 / 03 修改 / 04 删除 / 01 无操作). Rows
are the NY/T 2539 tables in the element order of the spec's sample message; parcels carry
their geometry as WKT (``SHP``) in the county's projected CRS, described once by ``TYZB``.

The rows come from the ChangeRecords the case's registration wrote (first ``before``, last
``after`` per object), so the message says exactly what the register did.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from parcels.models import BoundaryLine, BoundaryPoint, ChangeRecord, Collective, Parcel, ParcelLineage, Region
from parcels.services import area_srid_for, snapshot
from registration.business import srid_wkt
from registration.models import Case

CZFS_NONE, CZFS_ADD, CZFS_MODIFY, CZFS_DELETE = "01", "02", "03", "04"
WKT_DECIMALS = 4  # 0.0001 m, the coordinate precision of the Ministry's quality rules
# Items whose BUSINESS_DATA carries CBFBM/CBHTBM/CBJYQZBM (接入规范 表4 note d).
IDS_TYPES = frozenset({"101", "103", "107", "201", "202", "203"})
ORIGINAL_REQUIRED = frozenset({"102", "103", "104", "105", "106"})

Fields = Sequence[tuple[str, str]]
FIELDS: dict[str, Fields] = {
    "FBF": (
        ("FBFBM", "code"), ("FBFMC", "name"), ("FBFFZRXM", "head_name"), ("FZRZJLX", "head_id_type"),
        ("FZRZJHM", "head_id_number"), ("LXDH", "phone"), ("FBFDZ", "address"), ("YZBM", "postcode"),
        ("FBFDCY", "surveyor"), ("FBFDCRQ", "survey_date"), ("FBFDCJS", "survey_notes"),
    ),
    "CBF": (
        ("CBFBM", "code"), ("CBFLX", "kind"), ("CBFMC", "name"), ("CBFZJLX", "id_type"), ("CBFZJHM", "id_number"),
        ("CBFDZ", "address"), ("YZBM", "postcode"), ("LXDH", "phone"), ("CBFCYSL", "member_count"),
        ("CBFDCRQ", "survey_date"), ("CBFDCY", "surveyor"), ("CBFDCJS", "survey_notes"), ("GSJS", "publicity_notes"),
        ("GSJSR", "publicity_recorder"), ("GSSHRQ", "publicity_review_date"), ("GSSHR", "publicity_reviewer"),
    ),
    "JTCY": (
        ("CBFBM", "contractor_id"), ("CYXM", "name"), ("CYXB", "sex"), ("CYZJLX", "id_type"), ("CYZJHM", "id_number"),
        ("YHZGX", "relation"), ("CYBZ", "remark"), ("SFGYR", "is_co_owner"), ("CYBZSM", "remark_note"),
    ),
    "CBHT": (
        ("CBHTBM", "code"), ("YCBHTBM", "original_code"), ("FBFBM", "collective_id"), ("CBFBM", "contractor_id"),
        ("CBFS", "method"), ("CBQXQ", "term_start"), ("CBQXZ", "term_end"), ("HTZMJ", "total_area"),
        ("CBDKZS", "parcel_count"), ("QDSJ", "signed_on"), ("HTZMJM", "total_area_mu"),
        ("YHTZMJ", "original_total_area"), ("YHTZMJM", "original_total_area_mu"),
    ),
    "CBJYQZDJB": (
        ("CBJYQZBM", "code"), ("FBFBM", "collective_id"), ("CBFBM", "contractor_id"), ("CBFS", "method"),
        ("CBQX", "term"), ("CBQXQ", "term_start"), ("CBQXZ", "term_end"), ("CBJYQZLSH", "serial"), ("DJBFJ", "note"),
        ("YCBJYQZBH", "original_certificate_number"), ("DBR", "registrar"), ("DJSJ", "registered_on"),
    ),
    "CBJYQZ": (
        ("CBJYQZBM", "register_book_id"), ("FZJG", "issuing_authority"), ("FZRQ", "issued_on"),
        ("QZSFLQ", "collected"), ("QZLQRQ", "collected_on"), ("QZLQRXM", "collector_name"),
        ("QZLQRZJLX", "collector_id_type"), ("QZLQRZJHM", "collector_id_number"),
    ),
    "DK": (
        ("BSM", "bsm"), ("YSDM", "feature_code"), ("DKBM", "code"), ("DKMC", "name"), ("SYQXZ", "ownership"),
        ("DKLB", "category"), ("TDLYLX", "land_use_type"), ("DLDJ", "fertility"), ("TDYT", "land_use"),
        ("SFJBNT", "basic_farmland"), ("SCMJ", "surveyed_area"), ("DKDZ", "east"), ("DKXZ", "west"),
        ("DKNZ", "south"), ("DKBZ", "north"), ("DKBZXX", "remarks"), ("ZJRXM", "witnesses"), ("KJZB", "key_points"),
        ("SCMJM", "surveyed_area_mu"),
    ),
    "CBDKXX": (
        ("DKBM", "parcel_id"), ("FBFBM", "collective_id"), ("CBFBM", "contractor_id"), ("CBJYQQDFS", "acquisition"),
        ("HTMJ", "contract_area"), ("CBHTBM", "contract_id"), ("LZHTBM", "transfer_contract_code"),
        ("CBJYQZBM", "register_code"), ("YHTMJ", "original_area"), ("HTMJM", "contract_area_mu"),
        ("YHTMJM", "original_area_mu"), ("SFQQQG", "is_share"),
    ),
    "JZD": (
        ("BSM", "bsm"), ("YSDM", "feature_code"), ("JZDH", "number"), ("JZDLX", "point_type"), ("JBLX", "marker_type"),
        ("DKBM", "parcel_codes"), ("XZBZ", "x"), ("YZBZ", "y"),
    ),
    "JZX": (
        ("BSM", "bsm"), ("YSDM", "feature_code"), ("JXXZ", "nature"), ("JZXLB", "category"), ("JZXWZ", "position"),
        ("JZXSM", "description"), ("PLDWQLR", "neighbour_owner"), ("PLDWZJR", "neighbour_witness"), ("JZXH", "number"),
        ("QJZDH", "start_point"), ("ZJZDH", "end_point"), ("DKBM", "parcel_codes"),
    ),
}  # fmt: skip
BLOCKS = {
    "parcels.Contractor": "CBF",
    "parcels.FamilyMember": "JTCY",
    "parcels.Contract": "CBHT",
    "parcels.RegisterBook": "CBJYQZDJB",
    "parcels.Certificate": "CBJYQZ",
}
BLOCK_ORDER = ("FBF", "CBF", "JTCY", "CBHT", "CBJYQZDJB", "CBJYQZ")
DATE_FIELDS = frozenset(
    {
        "survey_date",
        "publicity_review_date",
        "term_start",
        "term_end",
        "signed_on",
        "registered_on",
        "issued_on",
        "collected_on",
    }
)


def _text(value: Any, *, is_date: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return (
            timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
            if timezone.is_aware(value)
            else f"{value:%Y-%m-%d %H:%M:%S}"
        )
    if isinstance(value, dt.date):
        return f"{value:%Y-%m-%d} 00:00:00"
    if is_date and isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return f"{value} 00:00:00"
    if isinstance(value, Decimal):
        return f"{value}"
    return str(value)


def _row(parent: ET.Element, tag: str, values: Mapping[str, Any], czfs: str | None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    for name, attname in FIELDS[tag]:
        ET.SubElement(element, name).text = _text(values.get(attname), is_date=attname in DATE_FIELDS) or None
    if czfs is not None:
        ET.SubElement(element, "CZFS").text = czfs
    return element


def _extension(parent: ET.Element, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, Mapping):
            _extension(ET.SubElement(parent, key), value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    _extension(ET.SubElement(parent, key), item)
                else:
                    ET.SubElement(parent, key).text = _text(item)
        else:
            ET.SubElement(parent, key).text = _text(value) or None


@dataclass
class ObjectChange:
    label: str
    object_id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created: bool
    last_action: str

    @property
    def czfs(self) -> str:
        if self.last_action in (ChangeRecord.Action.RETIRE, ChangeRecord.Action.DELETE):
            return CZFS_DELETE
        return CZFS_ADD if self.created else CZFS_MODIFY


def collapse(records: Iterable[ChangeRecord]) -> list[ObjectChange]:
    """One entry per changed object: its state before the case and after it."""
    changes: dict[tuple[str, int], ObjectChange] = {}
    for record in sorted(records, key=lambda r: r.pk):
        key = (record.model, record.object_id)
        if key not in changes:
            changes[key] = ObjectChange(
                record.model,
                record.object_id,
                record.before,
                record.after,
                record.action == ChangeRecord.Action.CREATE,
                record.action,
            )
        else:
            changes[key].after = record.after
            changes[key].last_action = record.action
    return list(changes.values())


def _wkt(ewkt: str | None, srid: int) -> str:
    if not ewkt:
        return ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_AsText(ST_Transform(ST_GeomFromEWKT(%s), %s), %s)", [ewkt, srid, WKT_DECIMALS])
        (wkt,) = cursor.fetchone()
    return str(wkt)


def _cbdk(
    parent: ET.Element, values: Mapping[str, Any], czfs: str, srid: int, *, parent_code: str = "", former: str = ""
) -> None:
    element = ET.SubElement(parent, "CBDK")
    _row(element, "DK", values, None)
    ET.SubElement(element, "CZFS").text = czfs
    ET.SubElement(element, "YCBDKBM").text = parent_code or None
    ET.SubElement(element, "YCBFBM").text = former or None
    ET.SubElement(element, "SHP").text = _wkt(values.get("geom"), srid)


def _boundaries(parent: ET.Element, parcel_codes: Iterable[str], srid: int) -> None:
    """DKJZD / DKJZX of the parcels: the boundary points and lines that name them."""
    codes = sorted(set(parcel_codes))
    if not codes:
        return
    points: dict[int, BoundaryPoint] = {}
    lines: dict[int, BoundaryLine] = {}
    for code in codes:
        for point in BoundaryPoint.objects.filter(parcel_codes__contains=code):
            points[point.pk] = point
        for line in BoundaryLine.objects.filter(parcel_codes__contains=code):
            lines[line.pk] = line
    if points:
        block = ET.SubElement(parent, "DKJZD")
        for point in points.values():
            element = _row(block, "JZD", snapshot(point), None)
            ET.SubElement(element, "SHP").text = _wkt(point.geom.ewkt, srid)
    if lines:
        block = ET.SubElement(parent, "DKJZX")
        for line in lines.values():
            element = _row(block, "JZX", snapshot(line), None)
            ET.SubElement(element, "SHP").text = _wkt(line.geom.ewkt, srid)


def build_message(
    *, case: Case, records: Sequence[ChangeRecord], result: Mapping[str, Any], sent_at: dt.datetime | None = None
) -> tuple[str, str]:
    """The message XML (UTF-8 text) and its SJBZM (GUID)."""
    srid = area_srid_for(case.collective_code)
    sjbzm = str(uuid.uuid4())
    county = case.collective_code[:6]
    changes = collapse(records)
    by_label: dict[str, list[ObjectChange]] = {}
    for change in changes:
        by_label.setdefault(change.label, []).append(change)

    root = ET.Element("SUBMIT")
    head = ET.SubElement(root, "HEAD")
    ET.SubElement(head, "FSF").text = str(getattr(settings, "NONGDI_PLATFORM", {}).get("FSF", "")) or None
    ET.SubElement(head, "FSSJ").text = _text(sent_at or timezone.now())
    ET.SubElement(head, "SJLX").text = case.business_type
    ET.SubElement(head, "SJBZM").text = sjbzm

    business = ET.SubElement(root, "BUSINESS_DATA")
    ids = case.business_type in IDS_TYPES
    main_contract = result.get("main_contract", "") if ids else ""
    values = {
        "XZQDM": county,
        "XZDYMC": Region.objects.filter(code=county).values_list("name", flat=True).first() or "",
        "QYWLSH": "",
        "YWLSH": case.number,
        "YWBLSJ": _text(case.registered_at or timezone.now()),
        "FBFBM": case.collective_code,
        "CBFBM": result.get("main_contractor", "") if ids else "",
        "CBHTBM": main_contract,
        "CBJYQZBM": main_contract,
    }
    for key, value in values.items():
        ET.SubElement(business, key).text = value or None
    _extension(business, result.get("extension", {}))

    parcel_changes = {c.object_id: c for c in by_label.get("parcels.Parcel", [])}
    link_changes = by_label.get("parcels.ContractParcel", [])
    case_parcels = set(case.parcels.values_list("parcel_code", flat=True))
    changed_codes = {(c.after or c.before or {}).get("code", "") for c in parcel_changes.values()}
    lineage = dict(
        ParcelLineage.objects.filter(child__code__in=changed_codes).values_list("child__code", "parent__code")
    )
    moved: Mapping[str, str] = result.get("moved", {})

    original = ET.Element("ORIGINAL_DATA")
    collective = Collective.objects.get(code=case.collective_code)
    _row(original, "FBF", snapshot(collective), CZFS_NONE)
    for label, tag in BLOCKS.items():
        for change in by_label.get(label, []):
            if change.before is not None:
                _row(original, tag, change.before, CZFS_NONE)
    before_parcels = {}
    for change in parcel_changes.values():
        if change.before is not None:
            before_parcels[change.before["code"]] = change.before
    for parcel in Parcel.objects.filter(code__in=case_parcels - set(before_parcels)):
        before_parcels[parcel.code] = snapshot(parcel)
    for code in sorted(before_parcels):
        _cbdk(original, before_parcels[code], CZFS_NONE, srid, former=moved.get(code, ""))
    for change in link_changes:
        if change.before is not None:
            _row(original, "CBDKXX", change.before, None)
    _boundaries(original, before_parcels, srid)
    ET.SubElement(original, "TYZB").text = srid_wkt(srid)
    if case.business_type in ORIGINAL_REQUIRED or any(c.before is not None for c in changes):
        root.append(original)

    change_data = ET.SubElement(root, "CHANGE_DATA")
    for label, tag in BLOCKS.items():
        for change in by_label.get(label, []):
            if change.after is not None:
                _row(change_data, tag, change.after, change.czfs)
    after_parcels: dict[str, tuple[dict[str, Any], str]] = {}
    for change in parcel_changes.values():
        if change.after is not None:
            after_parcels[change.after["code"]] = (change.after, change.czfs)
    for parcel in Parcel.objects.filter(code__in=case_parcels - set(after_parcels)):
        after_parcels[parcel.code] = (snapshot(parcel), CZFS_NONE)
    for code in sorted(after_parcels):
        values_after, czfs = after_parcels[code]
        _cbdk(change_data, values_after, czfs, srid, parent_code=lineage.get(code, ""), former=moved.get(code, ""))
    for change in link_changes:
        if change.after is not None and change.after.get("status") == "current":
            _row(change_data, "CBDKXX", change.after, None)
    _boundaries(change_data, [c for c, (_v, czfs) in after_parcels.items() if czfs != CZFS_DELETE], srid)
    ET.SubElement(change_data, "TYZB").text = srid_wkt(srid)

    ET.indent(root, space="    ")
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return xml, sjbzm


def message_sha256(xml: str) -> str:
    return hashlib.sha256(xml.encode("utf-8")).hexdigest()


# --- structure check against the spec's sample message -----------------------------------

# BUSINESS_DATA extensions of the spec's tables 14-26, which the sample (a 103 message) lacks.
EXTENSIONS: dict[str, Sequence[str]] = {
    "BUSINESS_DATA": (
        "ZCCBFBM", "ZCCBJYQZBM", "ZRCBFBM", "ZRCBJYQZBM", "CBHTBM", "DKBM", "JF", "YF", "FHQCBFBM", "FHQCBHTBM",
        "FHQCBJYQZBM", "FHHCBF", "HHQCBF", "HHHCBF", "ZXYY", "QZBF", "QZHF", "QZZX",
    ),
    "JF": ("DKBM", "FBFBM", "CBJYQZBM", "CBFBM"),
    "YF": ("DKBM", "FBFBM", "CBJYQZBM", "CBFBM"),
    "FHHCBF": ("CBFBM", "CBHTBM", "CBJYQZBM", "DKBM"),
    "HHQCBF": ("CBFBM", "CBHTBM", "CBJYQZBM"),
    "HHHCBF": ("CBFBM", "CBHTBM", "CBJYQZBM", "DKBM"),
    "QZBF": ("CBJYQZBM", "QZBFYY", "BFRQ", "QZBFLQRQ", "QZBFLQRXM", "BFLQRZJLX", "BFLQRZJHM"),
    "QZHF": ("CBJYQZBM", "QZHFYY", "HFRQ", "QZHFLQRQ", "QZHFLQRXM", "HFLQRZJLX", "HFLQRZJHM"),
    "QZZX": ("CBJYQZBM", "ZXYY", "ZXRQ"),
}  # fmt: skip


def parse_sample(text: str) -> ET.Element:
    """The spec's sample message is not well-formed XML (``<SHP/ >``, a ``<DKJZD>`` closed
    by ``</CBJZD>``); mend those two slips and parse it."""
    text = text.replace("<SHP/ >", "<SHP/>").replace("</CBJZD>", "</DKJZD>")
    return ET.fromstring(text)


def _shape(element: ET.Element, path: str, shape: dict[str, list[str]]) -> None:
    order = shape.setdefault(path, [])
    for child in element:
        if child.tag not in order:
            order.append(child.tag)
        _shape(child, f"{path}/{child.tag}", shape)


def sample_shape(sample: ET.Element) -> dict[str, list[str]]:
    """Element path -> its children's tags in the sample's order. ORIGINAL_DATA and
    CHANGE_DATA share one shape (the sample shows each block in one or the other)."""
    shape: dict[str, list[str]] = {}
    _shape(sample, sample.tag, shape)
    merged: dict[str, list[str]] = {}
    for path, order in shape.items():
        key = path.replace("/CHANGE_DATA", "/ORIGINAL_DATA")
        target = merged.setdefault(key, [])
        for tag in order:
            if tag not in target:
                target.append(tag)
    return merged


def structure_problems(xml: str, sample: ET.Element) -> list[str]:
    """Where a message departs from the sample's structure: unknown elements, children out
    of the sample's order, missing fields of a row, text in a container element. The
    business-type extensions of BUSINESS_DATA are checked against the spec's tables."""
    shape = sample_shape(sample)
    root = ET.fromstring(xml.encode("utf-8"))
    if root.tag != sample.tag:
        return [f"根元素应为 {sample.tag}，实际为 {root.tag}"]
    problems: list[str] = []

    def walk(element: ET.Element, path: str, in_extension: bool) -> None:
        key = path.replace("/CHANGE_DATA", "/ORIGINAL_DATA")
        expected = list(EXTENSIONS.get(element.tag, ())) if in_extension else shape.get(key, [])
        children = list(element)
        if not expected and children:
            problems.append(f"{path}：样例中为叶子元素，实际包含子元素")
        if expected and (element.text or "").strip():
            problems.append(f"{path}：容器元素不应有文本")
        seen: list[str] = []
        for child in children:
            if child.tag not in seen:
                seen.append(child.tag)
        known = [t for t in seen if t in expected]
        if known != [t for t in expected if t in known]:
            problems.append(f"{path}：子元素顺序 {known} 与样例 {expected} 不一致")
        if not in_extension and (element.tag in FIELDS or element.tag in ("HEAD", "CBDK")):
            missing = [t for t in expected if t not in seen]
            if missing:
                problems.append(f"{path}：缺少元素 {missing}")
        for child in children:
            child_path = f"{path}/{child.tag}"
            if child.tag in expected:
                walk(child, child_path, in_extension)
            elif not in_extension and key.endswith("/BUSINESS_DATA") and child.tag in EXTENSIONS["BUSINESS_DATA"]:
                walk(child, child_path, True)
            else:
                problems.append(f"{child_path}：样例中没有此元素")

    walk(root, root.tag, False)
    return problems
