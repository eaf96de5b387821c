"""Writing Ministry shapefiles (.shp/.shx/.dbf/.prj) exactly as the templates declare them.

We write the three binary files ourselves rather than through GDAL because the DBF header
must equal the template DBFs field for field (GDAL picks its own widths for strings) and
because a plain writer over WKB rows is as fast as ``ogr2ogr``.

* DBF: dBase III (version byte 0x03), fields in ``ShapeLayer.fields`` order with their type,
  width and decimals, text in GBK, language-driver byte 0x4D (code page 936) at offset 29 as
  in the templates. A value that does not fit its field (text longer than the width in GBK
  bytes, a number with too many digits, a character GBK cannot encode) is an
  :class:`ExportError` naming layer, feature and field: never cut silently.
* No ``.cpg``: the template has none, and GDAL, QGIS and ArcGIS all read the LDID byte 0x4D
  as CP936. A ``.cpg`` would be a second statement of the same fact that some checkers
  list as an unexpected file.
* SHP: Point (1), PolyLine (3) or Polygon (5) records from 2-D little-endian WKB; the caller
  hands polygons with clockwise outer rings (PostGIS ``ST_ForcePolygonCW``), as the format
  requires. ``None`` geometry is a null shape.
* PRJ: ESRI WKT of the export CRS (``CGCS2000_3_Degree_GK_...`` names, as ArcGIS writes).
"""

from __future__ import annotations

import datetime as dt
import struct
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pyproj import CRS
from pyproj.enums import WktVersion

from layers.exchange.schema import Field, ShapeLayer

ENCODING = "gbk"  # code page 936
LDID_GBK = 0x4D
SHAPE_TYPES = {"Point": 1, "LineString": 3, "Polygon": 5}
_FLUSH_BYTES = 1 << 20


class ExportError(Exception):
    """A value or a feature cannot be written as the standard declares it."""

    def __init__(self, message: str, *, layer: str = "", feature: str = "", field: str = "") -> None:
        super().__init__(message)
        self.layer = layer
        self.feature = feature
        self.field = field


def esri_wkt(srid: int) -> str:
    """The ``.prj`` text of an EPSG CRS, in ESRI's WKT1 dialect."""
    return CRS.from_epsg(srid).to_wkt(WktVersion.WKT1_ESRI)


def export_srid(area_srid: int) -> int:
    """The export CRS for a county whose area CRS is ``area_srid``: the same 3° zone, without
    the zone prefix (why: ``layers.exchange.export``). 4528 (zone 40) -> 4549 (CM 120°E)."""
    if area_srid not in range(4513, 4555):
        raise ExportError(f"面积计算坐标系 EPSG:{area_srid} 不是 CGCS2000 3° 高斯-克吕格投影带")
    return area_srid + 21 if area_srid <= 4533 else area_srid


def zone_parameters(srid: int) -> tuple[int, float]:
    """Central meridian (degrees) and false easting (km) of a CGCS2000 3° zone."""
    if 4513 <= srid <= 4533:
        zone = srid - 4488
        return 3 * zone, zone * 1000 + 500.0
    return 3 * (srid - 4509), 500.0


# --- DBF ---------------------------------------------------------------------------------

Encoder = Callable[[object], bytes]


class _Misfit(Exception):
    """Raised by an encoder; the writer turns it into an ExportError with names."""


def _text_encoder(width: int) -> Encoder:
    blank = b" " * width

    def encode(value: object) -> bytes:
        if value is None:
            return blank
        try:
            raw = str(value).encode(ENCODING)
        except UnicodeEncodeError as exc:
            raise _Misfit(f"含有GBK无法表示的字符 {exc.object[exc.start : exc.end]!r}") from exc
        if len(raw) > width:
            raise _Misfit(f"长度 {len(raw)} 字节超过字段宽度 {width}（值 {value!r}）")
        return raw.ljust(width)

    return encode


def _number_encoder(width: int, decimals: int) -> Encoder:
    blank = b" " * width

    def encode(value: object) -> bytes:
        if value is None:
            return blank
        text = f"{value:.{decimals}f}"
        if len(text) > width:
            raise _Misfit(f"数值 {text} 超过字段宽度 N({width},{decimals})")
        return text.encode("ascii").rjust(width)

    return encode


def _date_encoder() -> Encoder:
    def encode(value: object) -> bytes:
        if value is None:
            return b" " * 8
        assert isinstance(value, dt.date)
        return value.strftime("%Y%m%d").encode("ascii")

    return encode


def encoder_for(field: Field) -> Encoder:
    if field.kind == "C":
        return _text_encoder(field.width)
    if field.kind == "N":
        return _number_encoder(field.width, field.decimals)
    return _date_encoder()


def dbf_header(fields: Sequence[Field], records: int, today: dt.date | None = None) -> bytes:
    """The dBase III header as the templates have it: version 0x03, LDID 0x4D, then one
    32-byte descriptor per field (name, type, width, decimals), then 0x0D."""
    today = today or dt.date.today()
    header_len = 32 + 32 * len(fields) + 1
    record_len = 1 + sum(f.width for f in fields)
    head = bytearray(32)
    head[0] = 0x03
    head[1:4] = bytes((today.year - 1900, today.month, today.day))
    struct.pack_into("<IHH", head, 4, records, header_len, record_len)
    head[29] = LDID_GBK
    out = bytearray(head)
    for field in fields:
        desc = bytearray(32)
        desc[0:11] = field.name.encode("ascii").ljust(11, b"\0")
        desc[11] = ord(field.kind)
        desc[16] = field.width
        desc[17] = field.decimals
        out += desc
    out += b"\x0d"
    return bytes(out)


def dbf_record_sql(fields: Sequence[Field], columns: Sequence[str]) -> str:
    """A PostgreSQL expression giving one DBF record (deletion flag included) as text whose
    GBK encoding is exactly the record's bytes: text padded to the field width counted in
    GBK bytes, numbers rounded and right-aligned, NULL as blanks. A value too long for its
    field makes the record longer than the record length, which the writer checks."""
    parts = ["' '"]
    for fld, column in zip(fields, columns, strict=True):
        width = fld.width
        if fld.kind == "C":
            text = f"coalesce(({column})::text, '')"
            parts.append(f"{text} || repeat(' ', {width} - octet_length(convert_to({text}, 'GBK')))")
        elif fld.kind == "N":
            text = f"coalesce(round(({column})::numeric, {fld.decimals})::text, '')"
            parts.append(f"repeat(' ', {width} - length({text})) || {text}")
        else:
            parts.append(f"coalesce(to_char({column}, 'YYYYMMDD'), '{' ' * 8}')")
    return " || ".join(f"({part})" for part in parts)


# --- SHP geometry from WKB ---------------------------------------------------------------

_U32 = struct.Struct("<I")
_BE2 = struct.Struct(">ii")
_POLY_HEAD = struct.Struct("<i4d3i")  # type, bbox, one part, point count, the part's start
_SIMPLE_POLYGON = b"\x01\x03\x00\x00\x00\x01\x00\x00\x00"  # NDR, Polygon, 1 ring
_LINESTRING = b"\x01\x02\x00\x00\x00"
_SIMPLE_MULTIPOLYGON = b"\x01\x06\x00\x00\x00\x01\x00\x00\x00" + _SIMPLE_POLYGON  # of 1 such polygon


def _wkb_parts(wkb: bytes | memoryview) -> list[memoryview]:
    """The coordinate runs (rings or lines, 16 bytes a vertex) of a 2-D NDR WKB geometry, or
    a single point's 16 bytes."""
    view = memoryview(wkb)
    parts: list[memoryview] = []

    def walk(offset: int) -> int:
        if view[offset] != 1:
            raise ValueError("WKB must be little-endian (NDR)")
        (kind,) = _U32.unpack_from(view, offset + 1)
        offset += 5
        if kind == 1:
            parts.append(view[offset : offset + 16])
            return offset + 16
        if kind == 2:
            (n,) = _U32.unpack_from(view, offset)
            parts.append(view[offset + 4 : offset + 4 + 16 * n])
            return offset + 4 + 16 * n
        if kind == 3:
            (rings,) = _U32.unpack_from(view, offset)
            offset += 4
            for _ in range(rings):
                (n,) = _U32.unpack_from(view, offset)
                parts.append(view[offset + 4 : offset + 4 + 16 * n])
                offset += 4 + 16 * n
            return offset
        if kind in (4, 5, 6):
            (count,) = _U32.unpack_from(view, offset)
            offset += 4
            for _ in range(count):
                offset = walk(offset)
            return offset
        raise ValueError(f"unsupported WKB type {kind} (2-D point, line and polygon types only)")

    walk(0)
    return parts


class ShapefileWriter:
    """Streams one layer into ``{stem}.shp/.shx/.dbf/.prj``.

    Example::

        with ShapefileWriter(folder / "DK3101512020", SHAPE_LAYERS["DK"], srid=4549) as shp:
            shp.add(wkb, values, feature="310151101001010001")
    """

    def __init__(self, stem: Path, layer: ShapeLayer, *, srid: int) -> None:
        self.stem = stem
        self.layer = layer
        self.shape_type = SHAPE_TYPES[layer.geometry]
        self.fields = layer.fields
        self.encoders = [encoder_for(f) for f in layer.fields]
        self.record_len = 1 + sum(f.width for f in layer.fields)
        self.count = 0
        self.bbox = [float("inf"), float("inf"), float("-inf"), float("-inf")]
        self._shp_words = 50  # file length in 16-bit words, header included
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".prj").write_text(esri_wkt(srid), encoding="ascii")
        self._shp: BinaryIO = open(stem.with_suffix(".shp"), "wb")  # noqa: SIM115 (closed in close())
        self._shx: BinaryIO = open(stem.with_suffix(".shx"), "wb")  # noqa: SIM115
        self._dbf: BinaryIO = open(stem.with_suffix(".dbf"), "wb")  # noqa: SIM115
        self._shp.write(bytes(100))
        self._shx.write(bytes(100))
        self._dbf.write(dbf_header(self.fields, 0))
        self._shp_buf = bytearray()
        self._shx_buf = bytearray()
        self._dbf_buf = bytearray()

    # -- records

    def add(self, wkb: bytes | memoryview | None, values: Sequence[object], *, feature: str) -> None:
        """One feature: its geometry as WKB (or None) and its values in field order."""
        record = bytearray(b" ")
        for index, (encode, value) in enumerate(zip(self.encoders, values, strict=True)):
            try:
                record += encode(value)
            except _Misfit as exc:
                name = self.fields[index].name
                raise ExportError(
                    f"{self.layer.name} 图层要素 {feature} 的字段 {name}：{exc}",
                    layer=self.layer.name,
                    feature=feature,
                    field=name,
                ) from exc
        self._append(wkb, record, feature)

    def add_record(self, wkb: bytes | memoryview | None, record: bytes, *, feature: str) -> None:
        """One feature whose DBF record (from :func:`dbf_record_sql`) is already encoded.
        Raises ValueError when the record is not exactly the record length."""
        if len(record) != self.record_len:
            raise ValueError(f"record of {feature} is {len(record)} bytes, not {self.record_len}")
        self._append(wkb, record, feature)

    def _append(self, wkb: bytes | memoryview | None, record: bytes | bytearray, feature: str) -> None:
        try:
            content = self._shape(wkb)
        except ValueError as exc:
            raise ExportError(
                f"{self.layer.name} 图层要素 {feature} 的图形无法写入：{exc}", layer=self.layer.name, feature=feature
            ) from exc
        self.count += 1
        words = len(content) // 2
        self._shx_buf += _BE2.pack(self._shp_words, words)
        self._shp_buf += _BE2.pack(self.count, words)
        self._shp_buf += content
        self._shp_words += 4 + words
        self._dbf_buf += record
        if len(self._shp_buf) > _FLUSH_BYTES or len(self._dbf_buf) > _FLUSH_BYTES:
            self._flush()

    def _shape(self, wkb: bytes | memoryview | None) -> bytes:
        if wkb is None:
            return b"\0\0\0\0"
        if self.shape_type == 5 and (wkb[:9] == _SIMPLE_POLYGON or wkb[:18] == _SIMPLE_MULTIPOLYGON):
            # The common case, one polygon without holes: its one ring's points as they are.
            start = 9 if wkb[1] == 3 else 18
            (n,) = _U32.unpack_from(wkb, start)
            points = wkb[start + 4 : start + 4 + 16 * n]
            coords = array("d", points)
            box = (min(coords[0::2]), min(coords[1::2]), max(coords[0::2]), max(coords[1::2]))
            self._grow(*box)
            return _POLY_HEAD.pack(5, *box, 1, n, 0) + points
        if self.shape_type == 3 and wkb[:5] == _LINESTRING:
            (n,) = _U32.unpack_from(wkb, 5)
            points = wkb[9 : 9 + 16 * n]
            coords = array("d", points)
            box = (min(coords[0::2]), min(coords[1::2]), max(coords[0::2]), max(coords[1::2]))
            self._grow(*box)
            return _POLY_HEAD.pack(3, *box, 1, n, 0) + points
        parts = _wkb_parts(wkb)
        if self.shape_type == 1:
            if len(parts) != 1:
                raise ValueError("点图层要素必须是单点")
            x, y = struct.unpack("<2d", parts[0])
            self._grow(x, y, x, y)
            return struct.pack("<i2d", 1, x, y)
        if not parts:
            return b"\0\0\0\0"
        coords = array("d")
        starts = []
        for part in parts:
            starts.append(len(coords) // 2)
            coords.frombytes(part)
        xs = coords[0::2]
        ys = coords[1::2]
        box = (min(xs), min(ys), max(xs), max(ys))
        self._grow(*box)
        return b"".join(
            (
                struct.pack("<i4d2i", self.shape_type, *box, len(parts), len(xs)),
                struct.pack(f"<{len(starts)}i", *starts),
                coords.tobytes(),
            )
        )

    def _grow(self, xmin: float, ymin: float, xmax: float, ymax: float) -> None:
        box = self.bbox
        if xmin < box[0]:
            box[0] = xmin
        if ymin < box[1]:
            box[1] = ymin
        if xmax > box[2]:
            box[2] = xmax
        if ymax > box[3]:
            box[3] = ymax

    def _flush(self) -> None:
        self._shp.write(self._shp_buf)
        self._shx.write(self._shx_buf)
        self._dbf.write(self._dbf_buf)
        self._shp_buf.clear()
        self._shx_buf.clear()
        self._dbf_buf.clear()

    # -- closing

    def _file_header(self, words: int) -> bytes:
        box = self.bbox if self.count and self.bbox[0] != float("inf") else [0.0, 0.0, 0.0, 0.0]
        return struct.pack(">7i", 9994, 0, 0, 0, 0, 0, words) + struct.pack(
            "<2i8d", 1000, self.shape_type, *box, 0.0, 0.0, 0.0, 0.0
        )

    def close(self) -> None:
        self._flush()
        self._dbf.write(b"\x1a")
        self._shp.seek(0)
        self._shp.write(self._file_header(self._shp_words))
        self._shx.seek(0)
        self._shx.write(self._file_header(50 + 4 * self.count))
        self._dbf.seek(0)
        self._dbf.write(dbf_header(self.fields, self.count))
        for handle in (self._shp, self._shx, self._dbf):
            handle.close()

    def abort(self) -> None:
        """Close and remove the files of a layer that failed half-way."""
        for handle in (self._shp, self._shx, self._dbf):
            handle.close()
        for suffix in (".shp", ".shx", ".dbf", ".prj"):
            self.stem.with_suffix(suffix).unlink(missing_ok=True)

    def __enter__(self) -> ShapefileWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()
