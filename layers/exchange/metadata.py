"""The vector metadata ``矢量数据/SL{county6}{year4}.xml`` (NY/T 2539 appendix D), shaped like
the Ministry's sample ``SL2205812016.xml``: ``<Metadata>`` with ``dataIdInfo``, ``refSysInfo``,
``contInfo`` (one ``<layer>`` per layer with its Chinese field names) and ``dqInfo``; UTF-8
with a byte-order mark and a double-quoted declaration, as the sample.

Field names (``fieldID``) come from the models' verbose names through the columns of
``schema.SHAPE_LAYERS``; only BSM/YSDM and the region layers' code and name, which the
models hold under other names, are spelled here.
"""

from __future__ import annotations

import codecs
import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps

from layers.exchange.schema import REGION_LAYERS, SHAPE_LAYERS
from layers.exchange.shapefile import zone_parameters
from parcels.models import Region

COMMON_TITLES = {"BSM": "标识码", "YSDM": "要素代码"}
REGION_TITLES = {"XJXZQ": "行政区", "XJQY": "乡级区域", "CJQY": "村级区域", "ZJQY": "组级区域"}
# Layer order of the sample (its ZJ 注记 layer is not one we hold).
METADATA_LAYERS = (
    "KZD",
    "XJXZQ",
    "XJQY",
    "CJQY",
    "ZJQY",
    "QYJX",
    "DZDW",
    "XZDW",
    "MZDW",
    "DK",
    "JZD",
    "JZX",
    "JBNTBHQ",
)


@dataclass(frozen=True)
class MetadataInfo:
    """What the register does not know: who answers for the data. Codes as appendix D:
    status 001 完成; classCode 001 绝密 … 005 内部, 006 无限制."""

    org: str = ""
    contact: str = ""
    phone: str = ""
    fax: str = ""
    address: str = ""
    postcode: str = ""
    email: str = ""
    status: str = "001"
    classification: str = "005"
    edition: str = "Access2000(JET4)、ESRI Shapefile"
    quality: str = ""
    lineage: str = ""
    date: dt.date | None = None


def field_titles(layer_name: str) -> list[str]:
    """The Chinese names of a layer's DBF fields, in DBF order."""
    layer = SHAPE_LAYERS[layer_name]
    if layer_name in REGION_LAYERS:
        _, code_field, name_field = REGION_LAYERS[layer_name]
        prefix = REGION_TITLES[layer_name]
        titles = COMMON_TITLES | {code_field: f"{prefix}代码", name_field: f"{prefix}名称"}
    else:
        model = apps.get_model(layer.model)
        titles = COMMON_TITLES | {f.column.upper(): str(f.verbose_name) for f in model._meta.concrete_fields}
    return [titles.get(f.name, f.name) for f in layer.fields]


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text:
        element.text = text
    return element


def build_metadata(
    *, county: Region, year: int, srid: int, layers: Mapping[str, int], info: MetadataInfo
) -> ET.Element:
    day = (info.date or dt.date.today()).strftime("%Y%m%d")
    held = [name for name in METADATA_LAYERS if layers.get(name)]
    root = ET.Element("Metadata")
    ident = _sub(root, "dataIdInfo")
    _sub(ident, "title", f"{county.name}农村土地承包经营权数据库")
    _sub(ident, "date", day)
    _sub(ident, "geoID", county.code)
    _sub(ident, "dataEdition", info.edition)
    _sub(ident, "dataLang", "zh")
    _sub(
        ident,
        "idAbs",
        f"{county.name}{year}年农村土地承包经营权确权登记数据库成果。共{len(METADATA_LAYERS)}个图层，"
        f"其中{','.join(held) or '无'}图层有数据，其他图层为空",
    )
    _sub(ident, "status", info.status)
    _sub(ident, "ending", day)
    _sub(ident, "rpOrgName", info.org)
    _sub(ident, "rpCnt", info.contact)
    _sub(ident, "voiceNum", info.phone)
    _sub(ident, "faxNum", info.fax)
    _sub(ident, "cntAddress", info.address)
    _sub(ident, "cntCode", info.postcode)
    _sub(ident, "cntEmail", info.email)
    _sub(ident, "classCode", info.classification)
    meridian, false_easting = zone_parameters(srid)
    ref = _sub(root, "refSysInfo")
    _sub(ref, "coorRSID", "001")  # 2000 国家大地坐标系
    _sub(ref, "centralMer", str(meridian))
    _sub(ref, "eastFAL", f"{false_easting:.1f}")
    _sub(ref, "northFAL", "0.0")
    _sub(ref, "coorFDKD", "002")  # 3° zones
    content = _sub(root, "contInfo")
    for name in METADATA_LAYERS:
        layer = _sub(content, "layer")
        _sub(layer, "layerName", name)
        _sub(layer, "catFetTyps", SHAPE_LAYERS[name].title)
        fields = _sub(layer, "attrTypList")
        for title in field_titles(name):
            _sub(fields, "fieldID", title)
        _sub(layer, "capacity", str(layers[name]) if name in layers else None)
    quality = _sub(root, "dqInfo")
    _sub(
        quality,
        "dqStatement",
        info.quality or "数据按 NY/T 2539 导出自登记簿现势数据，字段结构与农业农村部模板一致，面积单位平方米与亩。",
    )
    _sub(
        quality,
        "dqLineage",
        info.lineage or f"{day} 由农地承包经营权信息管理系统导出，坐标系 EPSG:{srid}。",
    )
    return root


def write_metadata(
    path: Path, *, county: Region, year: int, srid: int, layers: Mapping[str, int], info: MetadataInfo
) -> Path:
    root = build_metadata(county=county, year=year, srid=srid, layers=layers, info=info)
    ET.indent(root, space="  ")
    text = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    return path
