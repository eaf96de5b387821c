"""The rule catalogue of the quality inspection, its tolerances, and the finding every rule reports.

Tolerances follow the Ministry's QC rules and the vendors' defaults (shared reference §6):
coordinates are exchanged to 0.0001 m, the XY and topology tolerance is 0.001 m, summary
totals are compared to 0.05 亩; slivers are parcels under 1 m², near vertices are closer than
0.05 m, sharp angles are under 5°, a boundary overlaps itself within 0.1 m over 0.05 m.

All distances and areas are measured in the county's projected CRS (``Region.area_srid``, a
CGCS2000 Gauss-Krüger zone; metres and m²), never in degrees.

Example::

    from layers.checks.catalogue import RULES, Tolerances
    [r.id for r in RULES if r.severity == "error"]
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import shapely


class Severity(StrEnum):
    """As the Ministry's checker: an error blocks the submission, a warning asks for a look."""

    ERROR = "error"
    WARNING = "warning"


class Category(StrEnum):
    GEOMETRY = "geometry"
    TOPOLOGY = "topology"
    ATTRIBUTE = "attribute"
    CROSSREF = "crossref"


@dataclass(frozen=True)
class Tolerances:
    """Every threshold of the inspection, in metres, m², degrees or 亩."""

    # XY / topology tolerance of the Ministry's checker. An overlap (or a gap, or the part of a
    # parcel outside its region) counts only where it is wider than 2 × 0.001 m, i.e. where it
    # survives shrinking both sides by 0.001 m: the vendors' "overlap after buffer(-0.001)".
    topology: float = 0.001
    # Overlaps, gaps and parts outside the region smaller than this are ignored: SCMJ is stored
    # to 0.01 m² (Float 15.2), so a smaller overlap cannot change any recorded area.
    min_overlap_area: float = 0.01
    sliver_area: float = 1.0  # m²: 碎小图斑
    duplicate_vertex: float = 0.0001  # m: the exchange format's coordinate precision
    near_vertex: float = 0.05  # m: 面状要素节点重复 / 相邻节点
    sharp_angle: float = 5.0  # degrees: 狭长角
    self_overlap_distance: float = 0.1  # m: 边界自重叠, distance
    self_overlap_length: float = 0.05  # m: 边界自重叠, length
    neighbour_vertex: float = 0.05  # m: 相邻面要素节点重叠
    vertex_on_edge: float = 0.05  # m: 面要素公用节点
    # SCMJ against the projected area of the stored shape, both rounded to 0.01 m²: one unit of
    # the last place absorbs a different PROJ build or summation order at a rounding boundary.
    area: float = 0.01
    # Contract totals (HTZMJ against the sum of HTMJ): the decimals add up exactly, so anything
    # beyond half a cent of a m² is a real difference.
    total_area: float = 0.005
    # Boundary points and lines lie on the parcels' vertices / boundaries within this distance.
    jzd: float = 0.001
    # A line feature (XZDW) with no width (KD) is taken to be this wide when it fills a gap.
    line_feature_width: float = 1.0

    def replace(self, **changes: Any) -> Tolerances:
        """A copy with some values changed; ``None`` values keep the default."""
        return dataclasses.replace(self, **{k: float(v) for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


DEFAULT_TOLERANCES = Tolerances()


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    category: Category
    table: str
    zh: str
    en: str
    # the field of ``Tolerances`` that parameterises the rule, and its unit
    parameter: str | None = None
    unit: str = ""

    @property
    def default_tolerance(self) -> float | None:
        return getattr(DEFAULT_TOLERANCES, self.parameter) if self.parameter else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": str(self.severity),
            "category": str(self.category),
            "table": self.table,
            "tolerance": self.default_tolerance,
            "parameter": self.parameter,
            "unit": self.unit,
            "zh": self.zh,
            "en": self.en,
        }


E, W = Severity.ERROR, Severity.WARNING
G, T, A, X = Category.GEOMETRY, Category.TOPOLOGY, Category.ATTRIBUTE, Category.CROSSREF

# The order here is the order of the report.
RULES: tuple[Rule, ...] = (
    # --- geometry of one parcel ---------------------------------------------------------
    Rule("DK_EMPTY", E, G, "DK", "地块图形为空", "The parcel has no geometry."),
    Rule(
        "DK_INVALID",
        E,
        G,
        "DK",
        "地块图形无效（自相交、环自相交等），给出原因和位置；无效地块不参加拓扑检查",
        "Invalid geometry (self-intersection, ring self-intersection…), with the reason and location; "
        "invalid parcels are left out of the topology rules.",
    ),
    Rule("DK_MULTIPART", E, G, "DK", "地块包含多个图元（多部件多边形）", "The parcel is a multi-part polygon."),
    Rule(
        "DK_SLIVER",
        E,
        G,
        "DK",
        "碎小图斑：地块面积小于阈值",
        "Sliver: the parcel's area is below the threshold.",
        "sliver_area",
        "m²",
    ),
    Rule(
        "DK_VERTEX_DUPLICATE",
        E,
        G,
        "DK",
        "节点重复：相邻两个节点的距离小于坐标精度",
        "Duplicate vertex: two consecutive vertices closer than the coordinate precision.",
        "duplicate_vertex",
        "m",
    ),
    Rule(
        "DK_VERTEX_NEAR",
        W,
        G,
        "DK",
        "相邻节点过近：相邻两个节点的距离小于阈值",
        "Near vertices: two consecutive vertices closer than the threshold.",
        "near_vertex",
        "m",
    ),
    Rule(
        "DK_SHARP_ANGLE",
        W,
        G,
        "DK",
        "狭长角：相邻两条边的夹角小于阈值",
        "Sharp angle: two consecutive boundary segments meet at an angle below the threshold.",
        "sharp_angle",
        "°",
    ),
    Rule(
        "DK_SELF_OVERLAP",
        W,
        G,
        "DK",
        "边界自重叠：同一地块不相邻的两段边界相距小于0.1米且长度超过0.05米",
        "Self-overlapping boundary: two non-adjacent stretches of the boundary run within 0.1 m of each "
        "other for more than 0.05 m.",
        "self_overlap_distance",
        "m",
    ),
    # --- topology between parcels -------------------------------------------------------
    Rule(
        "DK_OVERLAP",
        E,
        T,
        "DK",
        "地块重叠：两个地块的重叠部分宽于2×拓扑容差且面积不小于阈值",
        "Overlap: two parcels overlap by more than twice the topology tolerance and at least the minimum area.",
        "min_overlap_area",
        "m²",
    ),
    Rule(
        "DK_GAP",
        W,
        T,
        "DK",
        "地块缝隙：地块之间的空洞，未被其他地块或面状、线状地物覆盖",
        "Gap: a hole between parcels that no parcel and no polygon or line feature covers.",
        "min_overlap_area",
        "m²",
    ),
    Rule(
        "DK_REGION",
        W,
        T,
        "DK",
        "地块超出其所属组级（或村级）区域的范围",
        "The parcel reaches outside its group (or village) region.",
        "min_overlap_area",
        "m²",
    ),
    Rule(
        "DK_NEIGHBOUR_VERTEX",
        W,
        T,
        "DK",
        "相邻地块节点接近但不重合",
        "Vertices of neighbouring parcels are close but not coincident.",
        "neighbour_vertex",
        "m",
    ),
    Rule(
        "DK_VERTEX_ON_EDGE",
        W,
        T,
        "DK",
        "公用节点缺失：地块节点位于相邻地块的边上，相邻地块在此处没有节点",
        "Missing shared vertex: a vertex lies on a neighbour's edge where the neighbour has no vertex.",
        "vertex_on_edge",
        "m",
    ),
    # --- attributes of parcels ----------------------------------------------------------
    Rule(
        "DK_CODE",
        E,
        A,
        "DK",
        "地块代码（DKBM）不符合编码规则，或其发包方、村组区域不存在",
        "The parcel code (DKBM) breaks the coding rules, or its collective or region does not exist.",
    ),
    Rule("DK_REQUIRED", E, A, "DK", "地块必填字段为空", "A mandatory field of the parcel is empty."),
    Rule("DK_DOMAIN", E, A, "DK", "地块字段值不在代码表中", "A coded field of the parcel is not in its code table."),
    Rule(
        "DK_SIZHI",
        E,
        A,
        "DK",
        "四至（东、西、南、北至）至少应填写三项",
        "At least three of the four neighbours (east, west, south, north) must be filled.",
    ),
    Rule(
        "DK_AREA",
        E,
        A,
        "DK",
        "实测面积（SCMJ）与图形在本县投影坐标系中的面积不符",
        "The surveyed area (SCMJ) differs from the shape's area in the county's projected CRS.",
        "area",
        "m²",
    ),
    Rule(
        "DK_AREA_MU",
        E,
        A,
        "DK",
        "实测面积（亩）（SCMJM）不等于 round(SCMJ×0.0015, 2)",
        "The area in mu (SCMJM) is not round(SCMJ × 0.0015, 2).",
    ),
    # --- attributes of the ownership tables ---------------------------------------------
    Rule(
        "FBF_CODE",
        E,
        A,
        "FBF",
        "发包方代码不符合编码规则或其村级区域不存在",
        "The collective code is malformed or its village does not exist.",
    ),
    Rule(
        "CBF_CODE",
        E,
        A,
        "CBF",
        "承包方代码不符合编码规则（顺序码范围与承包方类型不符、前缀不是发包方代码）",
        "The contractor code is malformed (sequence outside its type's range, prefix not the collective).",
    ),
    Rule(
        "CBHT_CODE",
        E,
        A,
        "CBHT",
        "承包合同代码应为承包方代码加J（家庭承包）或Q（其他方式）",
        "The contract code must be the contractor code plus J (family contracting) or Q (other methods).",
    ),
    Rule(
        "DJB_CODE",
        E,
        A,
        "CBJYQZDJB",
        "登记簿代码应为承包方代码加J或Q，与承包方式一致",
        "The register code must be the contractor code plus J or Q, as the contracting method says.",
    ),
    Rule(
        "LZHT_CODE",
        E,
        A,
        "LZHT",
        "流转合同代码应为发包方代码加4位顺序码，且属于承包合同的发包方",
        "The transfer code must be the collective code plus a 4-digit sequence, of the contract's collective.",
    ),
    Rule(
        "CBDKXX_CODE",
        E,
        A,
        "CBDKXX",
        "承包地块信息中的发包方、承包方、合同、登记簿代码互不一致",
        "The collective, contractor, contract and register codes of a contract parcel disagree.",
    ),
    Rule(
        "CBDKXX_DKBM_PREFIX",
        W,
        A,
        "CBDKXX",
        "承包地块不属于合同的发包方（DKBM前14位不是FBFBM）",
        "The contracted parcel does not belong to the contract's collective (DKBM prefix is not FBFBM).",
    ),
    Rule("REQUIRED", E, A, "*", "权属表必填字段为空", "A mandatory field of an ownership table is empty."),
    Rule(
        "DOMAIN", E, A, "*", "权属表字段值不在代码表中", "A coded field of an ownership table is not in its code table."
    ),
    Rule(
        "AREA_MU",
        E,
        A,
        "*",
        "亩面积不等于 round(平方米面积×0.0015, 2)",
        "An area in mu is not round(area in m² × 0.0015, 2).",
    ),
    Rule(
        "DATE_ORDER",
        E,
        A,
        "*",
        "日期顺序错误：应为签订时间 ≤ 登记时间 ≤ 发证日期，承包期限起 < 止",
        "Dates out of order: signing ≤ registration ≤ issue, term start < term end.",
    ),
    Rule(
        "DATE_SAME_DAY",
        W,
        A,
        "*",
        "签订、登记、发证在同一天（部级检查要求严格先后）",
        "Signing, registration or issue fall on the same day (the Ministry's checker wants them strictly ordered).",
    ),
    # --- cross-table --------------------------------------------------------------------
    Rule(
        "XREF_MISSING",
        E,
        X,
        "*",
        "引用的对象不存在：承包地块不是现势地块、登记簿没有合同或权证、流转合同不存在",
        "A referenced object is missing: a contracted parcel is not a current parcel, a register entry has "
        "no contract or certificate, a transfer contract does not exist.",
    ),
    Rule("XREF_MEMBERS", E, X, "CBF", "农户承包方没有家庭成员", "A household contractor has no family members."),
    Rule(
        "XREF_HEAD",
        E,
        X,
        "CBF",
        "农户承包方应有且只有一个户主（与户主关系 01 本人 或 02 户主）",
        "A household contractor must have exactly one head (relation 01 self or 02 head).",
    ),
    Rule(
        "XREF_MEMBER_COUNT",
        E,
        X,
        "CBF",
        "承包方成员数量（CBFCYSL）与家庭成员数不符（个人、单位为1）",
        "The member count (CBFCYSL) differs from the family members (1 for individuals and units).",
    ),
    Rule(
        "XREF_CBDKZS",
        E,
        X,
        "CBHT",
        "承包地块总数（CBDKZS）与合同的承包地块信息条数不符",
        "The parcel count (CBDKZS) differs from the contract's parcel rows.",
    ),
    Rule(
        "XREF_HTZMJ",
        E,
        X,
        "CBHT",
        "合同总面积（HTZMJ）与各承包地块合同面积之和不符",
        "The contract's total area (HTZMJ) differs from the sum of its parcels' contract areas.",
        "total_area",
        "m²",
    ),
    Rule(
        "XREF_JZD",
        E,
        X,
        "JZD",
        "界址点不在其所列地块的节点上，或坐标值与位置不符，或所列地块不存在",
        "A boundary point is not on a vertex of each parcel it lists, its X/Y disagree with its position, "
        "or a listed parcel does not exist.",
        "jzd",
        "m",
    ),
    Rule(
        "XREF_JZX",
        E,
        X,
        "JZX",
        "界址线不在其所列地块的边界上，或所列地块不存在",
        "A boundary line is not on the boundary of each parcel it lists, or a listed parcel does not exist.",
        "jzd",
        "m",
    ),
    Rule(
        "XREF_KJZB",
        W,
        X,
        "DK",
        "空间坐标（KJZB）列出的界址点号不是本地块的界址点",
        "The key points (KJZB) list point numbers that are not boundary points of the parcel.",
    ),
)

RULE_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
RULE_ORDER: dict[str, int] = {rule.id: i for i, rule in enumerate(RULES)}


@dataclass(frozen=True)
class Finding:
    """One problem. ``dkbm`` lists the parcels involved (sorted), ``codes`` the other objects
    (CBFBM, CBHTBM, JZDH…); ``geometry`` is where it is, in the storage CRS (EPSG:4490,
    lon/lat) once the engine hands it out (rules build it in the projected CRS)."""

    rule: str
    message: str
    dkbm: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    area_m2: float | None = None
    value: float | None = None
    geometry: shapely.Geometry | None = field(default=None, compare=False, hash=False)

    @property
    def severity(self) -> str:
        return str(RULE_BY_ID[self.rule].severity)

    @property
    def table(self) -> str:
        return RULE_BY_ID[self.rule].table

    def sort_key(self) -> tuple[int, tuple[str, ...], tuple[str, ...], float, str]:
        # Larger problems first within one set of objects (two overlaps of the same pair cannot
        # happen, but a parcel may have several sharp angles); then the message.
        return (RULE_ORDER[self.rule], self.dkbm, self.codes, -(self.area_m2 or self.value or 0.0), self.message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "dkbm": list(self.dkbm),
            "codes": list(self.codes),
            "area_m2": _round(self.area_m2, 4),
            "value": _round(self.value, 6),
            "message": self.message,
        }


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def finding(rule: str, message: str, **kw: Any) -> Finding:
    if rule not in RULE_BY_ID:
        raise KeyError(f"unknown rule {rule!r}")
    return Finding(rule=rule, message=message, **kw)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=Finding.sort_key)
