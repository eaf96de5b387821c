"""The Ministry's county package (NY/T 2539) declared once, as data.

* ``SHAPE_LAYERS``: every vector layer with its geometry type, its feature code (YSDM) and its
  DBF fields in the order, type, width and decimals that exporters write and importers check.
  DK, JZD and JZX copy the template DBFs in ``shared/ministry/templates`` field for field;
  the other layers follow appendix A of the standard, with numeric widths as DBF widths
  (Float(15,2) -> N(16,2), Int(10) -> N(10,0), coordinates N(12,3): a zone-prefixed easting
  has 8 integer digits, which the nominal Float(10,3) cannot hold).
* ``MDB_TABLES``: the 12 ownership tables of the template ``权属数据.mdb`` (column order,
  Access type, width, NOT NULL), as ``mdb-schema`` reads them.
* ``TABLE_MODELS`` / ``LAYER_MODELS``: which model holds each table or layer. A column maps to
  the model field whose ``db_column`` is the column name in lower case (the models use the
  standard's names as columns), except for the region layers, whose code and name columns
  differ per level (``REGION_LAYERS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from parcels.code_tables import FEATURE_CODES

DbfKind = Literal["C", "N", "D"]
AccessKind = Literal["text", "numeric", "integer", "date", "memo"]


@dataclass(frozen=True)
class Field:
    """One DBF field of a shapefile layer."""

    name: str
    kind: DbfKind
    width: int
    decimals: int = 0
    required: bool = False


@dataclass(frozen=True)
class ShapeLayer:
    name: str
    title: str
    geometry: Literal["Polygon", "Point", "LineString"]
    fields: tuple[Field, ...]
    model: str
    required: bool = False

    @property
    def feature_code(self) -> str:
        return FEATURE_CODES[self.name]


@dataclass(frozen=True)
class Column:
    """One column of an ownership table in the template Access database."""

    name: str
    kind: AccessKind
    width: int
    scale: int
    not_null: bool


def C(name: str, width: int, required: bool = False) -> Field:
    return Field(name, "C", width, 0, required)


def N(name: str, width: int, decimals: int = 0, required: bool = False) -> Field:
    return Field(name, "N", width, decimals, required)


BSM = N("BSM", 10, required=True)
YSDM = C("YSDM", 6, required=True)

SHAPE_LAYERS: dict[str, ShapeLayer] = {
    "KZD": ShapeLayer(
        "KZD",
        "控制点",
        "Point",
        (
            BSM,
            YSDM,
            C("KZDMC", 50),
            C("KZDDH", 10),
            C("KZDLX", 6, True),
            C("KZDDJ", 20, True),
            C("BSLX", 1, True),
            C("BZLX", 1, True),
            C("KZDZT", 100),
            C("DZJ", 254, True),
            N("X2000", 12, 3, True),
            N("Y2000", 12, 3, True),
            N("X80", 12, 3),
            N("Y80", 12, 3),
        ),
        "layers.ControlPoint",
    ),
    "XJXZQ": ShapeLayer(
        "XJXZQ",
        "县级行政区",
        "Polygon",
        (BSM, YSDM, C("XZQDM", 6, True), C("XZQMC", 100, True)),
        "parcels.Region",
        True,
    ),
    "XJQY": ShapeLayer(
        "XJQY", "乡级区域", "Polygon", (BSM, YSDM, C("XJQYDM", 9, True), C("XJQYMC", 100, True)), "parcels.Region"
    ),
    "CJQY": ShapeLayer(
        "CJQY", "村级区域", "Polygon", (BSM, YSDM, C("CJQYDM", 12, True), C("CJQYMC", 100, True)), "parcels.Region"
    ),
    "ZJQY": ShapeLayer(
        "ZJQY", "组级区域", "Polygon", (BSM, YSDM, C("ZJQYDM", 14, True), C("ZJQYMC", 100, True)), "parcels.Region"
    ),
    "QYJX": ShapeLayer(
        "QYJX",
        "区域界线",
        "LineString",
        (BSM, YSDM, C("JXLX", 6, True), C("JXXZ", 6, True)),
        "layers.RegionBoundary",
        True,
    ),
    "DZDW": ShapeLayer(
        "DZDW", "点状地物", "Point", (BSM, YSDM, C("DWMC", 10, True), C("BZ", 50)), "layers.PointFeature"
    ),
    "XZDW": ShapeLayer(
        "XZDW",
        "线状地物",
        "LineString",
        (BSM, YSDM, C("DWMC", 10, True), N("CD", 11, 2), N("KD", 11, 2), C("BZ", 50)),
        "layers.LineFeature",
    ),
    "MZDW": ShapeLayer(
        "MZDW",
        "面状地物",
        "Polygon",
        (BSM, YSDM, C("DWMC", 10, True), N("MJ", 16, 2), C("BZ", 50), N("MJM", 16, 2)),
        "layers.PolygonFeature",
    ),
    # Field order, types and widths exactly as the template DK.dbf.
    "DK": ShapeLayer(
        "DK",
        "地块",
        "Polygon",
        (
            BSM,
            YSDM,
            C("DKBM", 19, True),
            C("DKMC", 50, True),
            C("SYQXZ", 2),
            C("DKLB", 2, True),
            C("DLDJ", 2, True),
            C("TDLYLX", 3),
            C("SFJBNT", 1, True),
            C("TDYT", 1, True),
            C("DKDZ", 50),
            C("DKXZ", 50),
            C("DKNZ", 50),
            C("DKBZ", 50),
            C("ZJRXM", 100),
            C("DKBZXX", 254),
            C("KJZB", 254, True),
            N("SCMJ", 16, 2, True),
            N("SCMJM", 16, 2),
        ),
        "parcels.Parcel",
        True,
    ),
    # As the template JZD.dbf (X = northing, Y = easting).
    "JZD": ShapeLayer(
        "JZD",
        "界址点",
        "Point",
        (
            BSM,
            YSDM,
            C("JZDH", 10, True),
            C("JBLX", 1),
            C("JZDLX", 1, True),
            C("DKBM", 254, True),
            N("XZBZ", 11, 3, True),
            N("YZBZ", 11, 3, True),
        ),
        "parcels.BoundaryPoint",
        True,
    ),
    # As the template JZX.dbf.
    "JZX": ShapeLayer(
        "JZX",
        "界址线",
        "LineString",
        (
            BSM,
            YSDM,
            C("JXXZ", 6),
            C("JZXLB", 2),
            C("JZXWZ", 1, True),
            C("JZXSM", 254, True),
            C("PLDWQLR", 100, True),
            C("PLDWZJR", 100, True),
            C("JZXH", 10),
            C("QJZDH", 10),
            C("ZJZDH", 10),
            C("DKBM", 254, True),
        ),
        "parcels.BoundaryLine",
        True,
    ),
    "JBNTBHQ": ShapeLayer(
        "JBNTBHQ",
        "基本农田保护区",
        "Polygon",
        (BSM, YSDM, C("BHQBH", 13), N("JBNTMJ", 16, 2), N("JBNTMJM", 16, 2)),
        "layers.BasicFarmlandZone",
        True,
    ),
}

# Region layers: (level, code column, name column).
REGION_LAYERS: dict[str, tuple[str, str, str]] = {
    "XJXZQ": ("county", "XZQDM", "XZQMC"),
    "XJQY": ("town", "XJQYDM", "XJQYMC"),
    "CJQY": ("village", "CJQYDM", "CJQYMC"),
    "ZJQY": ("group", "ZJQYDM", "ZJQYMC"),
}

TABLE_MODELS: dict[str, str] = {
    "FBF": "parcels.Collective",
    "CBF": "parcels.Contractor",
    "CBF_JTCY": "parcels.FamilyMember",
    "CBHT": "parcels.Contract",
    "CBDKXX": "parcels.ContractParcel",
    "LZHT": "parcels.TransferContract",
    "QSLYZLFJ": "parcels.SourceAttachment",
    "CBJYQZDJB": "parcels.RegisterBook",
    "CBJYQZ": "parcels.Certificate",
    "CBJYQZ_QZBF": "parcels.CertificateReissue",
    "CBJYQZ_QZHF": "parcels.CertificateReplacement",
    "CBJYQZ_QZZX": "parcels.CertificateCancellation",
}

# Ownership tables in an order where every referenced table comes first.
TABLE_LOAD_ORDER = (
    "FBF",
    "CBF",
    "CBF_JTCY",
    "CBHT",
    "CBDKXX",
    "LZHT",
    "CBJYQZDJB",
    "CBJYQZ",
    "CBJYQZ_QZBF",
    "CBJYQZ_QZHF",
    "CBJYQZ_QZZX",
    "QSLYZLFJ",
)

# The eight top-level folders of a county package (digest §4.1).
PACKAGE_FOLDERS = ("矢量数据", "栅格数据", "权属数据", "汇总表格", "图件", "文字报告", "扫描资料", "其他资料")

MDB_TABLES: dict[str, tuple[Column, ...]] = {
    "CBDKXX": (
        Column("DKBM", "text", 19, 0, True),
        Column("FBFBM", "text", 14, 0, True),
        Column("CBFBM", "text", 18, 0, True),
        Column("CBJYQQDFS", "text", 3, 0, True),
        Column("HTMJ", "numeric", 15, 2, True),
        Column("CBHTBM", "text", 19, 0, True),
        Column("LZHTBM", "text", 18, 0, False),
        Column("CBJYQZBM", "text", 19, 0, True),
        Column("YHTMJ", "numeric", 15, 2, False),
        Column("HTMJM", "numeric", 15, 2, False),
        Column("YHTMJM", "numeric", 15, 2, False),
        Column("SFQQQG", "text", 1, 0, False),
    ),
    "CBF": (
        Column("CBFBM", "text", 18, 0, True),
        Column("CBFLX", "text", 1, 0, True),
        Column("CBFMC", "text", 50, 0, True),
        Column("CBFZJLX", "text", 1, 0, True),
        Column("CBFZJHM", "text", 20, 0, True),
        Column("CBFDZ", "text", 100, 0, True),
        Column("YZBM", "text", 6, 0, True),
        Column("LXDH", "text", 20, 0, False),
        Column("CBFCYSL", "integer", 0, 0, True),
        Column("CBFDCRQ", "date", 0, 0, True),
        Column("CBFDCY", "text", 50, 0, True),
        Column("CBFDCJS", "memo", 0, 0, False),
        Column("GSJS", "text", 254, 0, False),
        Column("GSJSR", "text", 50, 0, True),
        Column("GSSHRQ", "date", 0, 0, True),
        Column("GSSHR", "text", 50, 0, True),
    ),
    "CBF_JTCY": (
        Column("CBFBM", "text", 18, 0, True),
        Column("CYXM", "text", 50, 0, True),
        Column("CYXB", "text", 1, 0, True),
        Column("CYZJLX", "text", 1, 0, True),
        Column("CYZJHM", "text", 20, 0, True),
        Column("YHZGX", "text", 2, 0, True),
        Column("CYBZ", "text", 1, 0, False),
        Column("SFGYR", "text", 1, 0, False),
        Column("CYBZSM", "text", 254, 0, False),
    ),
    "CBHT": (
        Column("CBHTBM", "text", 19, 0, True),
        Column("YCBHTBM", "text", 19, 0, False),
        Column("FBFBM", "text", 14, 0, True),
        Column("CBFBM", "text", 18, 0, True),
        Column("CBFS", "text", 3, 0, True),
        Column("CBQXQ", "date", 0, 0, True),
        Column("CBQXZ", "date", 0, 0, True),
        Column("HTZMJ", "numeric", 15, 2, True),
        Column("CBDKZS", "integer", 0, 0, True),
        Column("QDSJ", "date", 0, 0, True),
        Column("HTZMJM", "numeric", 15, 2, False),
        Column("YHTZMJ", "numeric", 15, 2, False),
        Column("YHTZMJM", "numeric", 15, 2, False),
    ),
    "CBJYQZ": (
        Column("CBJYQZBM", "text", 19, 0, True),
        Column("FZJG", "text", 50, 0, True),
        Column("FZRQ", "date", 0, 0, True),
        Column("QZSFLQ", "text", 1, 0, True),
        Column("QZLQRQ", "date", 0, 0, False),
        Column("QZLQRXM", "text", 50, 0, False),
        Column("QZLQRZJLX", "text", 1, 0, False),
        Column("QZLQRZJHM", "text", 20, 0, False),
    ),
    "CBJYQZ_QZBF": (
        Column("CBJYQZBM", "text", 19, 0, True),
        Column("QZBFYY", "text", 200, 0, True),
        Column("BFRQ", "date", 0, 0, True),
        Column("QZBFLQRQ", "date", 0, 0, True),
        Column("QZBFLQRXM", "text", 50, 0, True),
        Column("BFLQRZJLX", "text", 1, 0, True),
        Column("BFLQRZJHM", "text", 20, 0, True),
    ),
    "CBJYQZ_QZHF": (
        Column("CBJYQZBM", "text", 19, 0, True),
        Column("QZHFYY", "text", 200, 0, True),
        Column("HFRQ", "date", 0, 0, True),
        Column("QZHFLQRQ", "date", 0, 0, True),
        Column("QZHFLQRXM", "text", 50, 0, True),
        Column("HFLQRZJLX", "text", 1, 0, True),
        Column("HFLQRZJHM", "text", 20, 0, True),
    ),
    "CBJYQZ_QZZX": (
        Column("CBJYQZBM", "text", 19, 0, True),
        Column("ZXYY", "text", 200, 0, True),
        Column("ZXRQ", "date", 0, 0, True),
    ),
    "CBJYQZDJB": (
        Column("CBJYQZBM", "text", 19, 0, True),
        Column("FBFBM", "text", 14, 0, True),
        Column("CBFBM", "text", 18, 0, True),
        Column("CBFS", "text", 3, 0, True),
        Column("CBQX", "text", 30, 0, True),
        Column("CBQXQ", "date", 0, 0, True),
        Column("CBQXZ", "date", 0, 0, True),
        Column("DKSYT", "text", 254, 0, True),
        Column("YCBJYQZBH", "text", 100, 0, False),
        Column("CBJYQZLSH", "text", 254, 0, True),
        Column("DJBFJ", "text", 254, 0, False),
        Column("DBR", "text", 50, 0, True),
        Column("DJSJ", "date", 0, 0, True),
    ),
    "FBF": (
        Column("FBFBM", "text", 14, 0, True),
        Column("FBFMC", "text", 50, 0, True),
        Column("FBFFZRXM", "text", 50, 0, True),
        Column("FZRZJLX", "text", 1, 0, True),
        Column("FZRZJHM", "text", 30, 0, True),
        Column("LXDH", "text", 15, 0, False),
        Column("FBFDZ", "text", 100, 0, True),
        Column("YZBM", "text", 6, 0, True),
        Column("FBFDCY", "text", 254, 0, True),
        Column("FBFDCRQ", "date", 0, 0, True),
        Column("FBFDCJS", "memo", 0, 0, False),
    ),
    "LZHT": (
        Column("CBHTBM", "text", 19, 0, True),
        Column("LZHTBM", "text", 18, 0, True),
        Column("CBFBM", "text", 18, 0, True),
        Column("SRFBM", "text", 18, 0, True),
        Column("LZFS", "text", 3, 0, True),
        Column("LZQX", "text", 10, 0, True),
        Column("LZQXKSRQ", "date", 0, 0, True),
        Column("LZQXJSRQ", "date", 0, 0, True),
        Column("LZMJ", "numeric", 15, 2, True),
        Column("LZDKS", "integer", 0, 0, True),
        Column("LZQTDYT", "text", 1, 0, False),
        Column("LZHTDYT", "text", 1, 0, False),
        Column("LZJGSM", "text", 100, 0, True),
        Column("HTQDRQ", "date", 0, 0, True),
        Column("LZMJM", "numeric", 15, 2, False),
    ),
    "QSLYZLFJ": (
        Column("CBJYQZBM", "text", 19, 0, True),
        Column("ZLFJBH", "text", 20, 0, True),
        Column("ZLFJMC", "text", 100, 0, True),
        Column("ZLFJRQ", "date", 0, 0, True),
        Column("FJ", "text", 254, 0, True),
    ),
}
