"""Finding and opening the parts of a county package (NY/T 2539 §7; digest §4).

``PATH`` is the county folder ``{county6}{县名}/`` or a ``.zip`` of it. A zip is unpacked to
a temporary folder first, member by member, refusing the whole archive if any member's path
is absolute, climbs out with ``..`` or is a symbolic link (names without the zip's UTF-8
flag are decoded as GBK, as Windows' own zip writes them). The parts, by the standard's
names (case-insensitive, as packages come from Windows):

* ``矢量数据/{PREFIX}{county6}{year4}.shp`` for every layer of ``SHAPE_LAYERS``, with split
  files ``{PREFIX}{county6}{year4}-1.shp``, ``-2``… A file belongs to a layer when its name
  starts with the prefix and the next character is a digit (so ``XJQY…`` is not ``XJXZQ…``).
* ``权属数据/{county6}{year4}.mdb`` and ``权属数据/…权属单位代码表.xls``;
* ``SL{county6}{year4}.xml`` in ``矢量数据/`` (what tools write) or ``元数据/`` (the standard).

Besides finding files, this module reads the parts' headers without loading any data: DBF
header (fields, widths, code page), SHP/SHX headers (shape type, lengths, extent), the
``.cpg``, the ``.prj`` (identified as a Gauss-Krüger zone of CGCS2000 or Xian 1980), the
Access schema (``mdb-schema``) and rows (``mdb-export``), the 权属单位代码表 and the metadata.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Literal

from layers.exchange.report import ImportReport
from layers.exchange.schema import SHAPE_LAYERS

if TYPE_CHECKING:
    from layers.exchange.mdb import NumericColumns

_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # where ``python -m layers…`` finds the package

VECTOR_DIR = "矢量数据"
OWNERSHIP_DIR = "权属数据"
METADATA_DIR = "元数据"
CODE_TABLE_SUFFIX = "权属单位代码表"

# A package larger than this when unpacked is refused before anything is written to disk.
MAX_UNPACKED_BYTES = 64 * 1024**3

_LAYER_NAME = re.compile(r"^(?P<prefix>[A-Z]+)(?P<county>\d{6})(?P<year>\d{4})(?:-(?P<part>\d+))?$")


class PackageError(Exception):
    """A part of the package cannot be read; the message says why, in Chinese."""

    def __init__(self, message: str, rule: str = "file_unreadable") -> None:
        super().__init__(message)
        self.rule = rule


# --- the package on disk ------------------------------------------------------------------


@dataclass
class ShapefileParts:
    """One ``.shp`` and its companions (None when absent)."""

    layer: str
    part: int  # 0 for an unsplit file, n for ``-n``
    shp: Path
    shx: Path | None
    dbf: Path | None
    prj: Path | None
    cpg: Path | None
    county: str
    year: str

    @property
    def name(self) -> str:
        return self.shp.name

    def files(self) -> list[Path]:
        return [p for p in (self.shp, self.shx, self.dbf, self.prj, self.cpg) if p is not None]


@dataclass
class Package:
    root: Path
    county_code: str
    county_name: str
    year: str = ""
    layers: dict[str, list[ShapefileParts]] = field(default_factory=dict)
    mdb: Path | None = None
    code_table: Path | None = None
    metadata: Path | None = None

    def files(self) -> list[Path]:
        out: list[Path] = []
        for parts in self.layers.values():
            for part in parts:
                out.extend(part.files())
        out.extend(p for p in (self.mdb, self.code_table, self.metadata) if p is not None)
        return out

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name


def _child(folder: Path, name: str) -> Path | None:
    """A sub-folder by name, ignoring case and surrounding blanks."""
    if not folder.is_dir():
        return None
    for entry in folder.iterdir():
        if entry.is_dir() and entry.name.strip().lower() == name.lower():
            return entry
    return None


def _find_root(base: Path) -> Path:
    """The county folder: ``base`` itself, or its only sub-folder (a zip of the folder, or
    the folder's parent given by mistake)."""
    if _child(base, VECTOR_DIR) or _child(base, OWNERSHIP_DIR):
        return base
    subdirs = [d for d in base.iterdir() if d.is_dir() and not d.name.startswith((".", "__MACOSX"))]
    if len(subdirs) == 1 and (_child(subdirs[0], VECTOR_DIR) or _child(subdirs[0], OWNERSHIP_DIR)):
        return subdirs[0]
    if len(subdirs) == 1 and not any(p.is_file() for p in base.iterdir()):
        return _find_root(subdirs[0])
    return base


def _companion(shp: Path, ext: str) -> Path | None:
    """The file next to ``shp`` with the same stem and extension ``ext``, ignoring case."""
    exact = shp.with_suffix(ext)
    if exact.exists():
        return exact
    stem = shp.stem.lower()
    for entry in shp.parent.iterdir():
        if entry.is_file() and entry.stem.lower() == stem and entry.suffix.lower() == ext:
            return entry
    return None


def _layer_for(stem: str) -> str | None:
    """The layer a file belongs to: its name starts with the prefix and then a digit."""
    upper = stem.upper()
    for prefix in SHAPE_LAYERS:
        if upper.startswith(prefix) and len(upper) > len(prefix) and upper[len(prefix)].isdigit():
            return prefix
    return None


def discover(root: Path, report: ImportReport, *, name: str | None = None) -> Package | None:
    """Find the parts of the package under ``root``; structural problems go to the report.
    ``name`` is the package's name when ``root`` is a temporary folder (a zip's stem)."""
    folder_name = (name or root.name).strip()
    match = re.match(r"^(\d{6})(.*)$", folder_name)
    if not match:
        report.structural(
            "package_name",
            f"数据包目录名“{folder_name}”应以6位县级行政区代码开头（如“310151示范区”）",
            file=folder_name,
        )
        return None
    package = Package(root=root, county_code=match.group(1), county_name=match.group(2).strip())
    report.county_code = package.county_code
    report.county_name = package.county_name

    vector = _child(root, VECTOR_DIR)
    ownership = _child(root, OWNERSHIP_DIR)
    for label, folder in ((VECTOR_DIR, vector), (OWNERSHIP_DIR, ownership)):
        if folder is None:
            report.structural("folder_missing", f"缺少“{label}”目录", file=label)
    if vector is not None:
        _discover_layers(package, vector, report)
    if ownership is not None:
        _discover_ownership(package, ownership, report)
    for folder in (vector, _child(root, METADATA_DIR)):
        if folder is None or package.metadata is not None:
            continue
        candidates = sorted(p for p in folder.iterdir() if p.is_file() and re.match(r"(?i)^SL.*\.xml$", p.name))
        if candidates:
            package.metadata = candidates[0]
    return package


def _discover_layers(package: Package, vector: Path, report: ImportReport) -> None:
    ignored: list[str] = []
    for shp in sorted(p for p in vector.iterdir() if p.is_file() and p.suffix.lower() == ".shp"):
        layer = _layer_for(shp.stem)
        match = _LAYER_NAME.match(shp.stem.upper())
        if layer is None or match is None or match.group("prefix") != layer:
            ignored.append(shp.name)
            continue
        if match.group("county") != package.county_code:
            report.structural(
                "file_name",
                f"文件 {shp.name} 的县级代码 {match.group('county')} 与数据包目录的 {package.county_code} 不一致",
                file=package.relative(shp),
                layer=layer,
            )
            continue
        found = ShapefileParts(
            layer=layer,
            part=int(match.group("part") or 0),
            shp=shp,
            shx=_companion(shp, ".shx"),
            dbf=_companion(shp, ".dbf"),
            prj=_companion(shp, ".prj"),
            cpg=_companion(shp, ".cpg"),
            county=match.group("county"),
            year=match.group("year"),
        )
        package.layers.setdefault(layer, []).append(found)
    for layer, parts in package.layers.items():
        parts.sort(key=lambda p: p.part)
        years = {p.year for p in parts}
        if len(years) > 1:
            report.quality(
                "file_name", f"图层 {layer} 的文件年份不一致：{'、'.join(sorted(years))}", layer=layer, file=VECTOR_DIR
            )
    dk = package.layers.get("DK")
    package.year = dk[0].year if dk else next((p[0].year for p in package.layers.values()), "")
    if ignored:
        report.note(f"矢量数据中未按标准命名而未读取的文件：{'、'.join(ignored)}")


def _discover_ownership(package: Package, folder: Path, report: ImportReport) -> None:
    files = [p for p in folder.iterdir() if p.is_file()]
    mdbs = sorted(p for p in files if p.suffix.lower() == ".mdb")
    expected = f"{package.county_code}{package.year}.mdb".lower()
    exact = [p for p in mdbs if p.name.lower() == expected]
    if exact:
        package.mdb = exact[0]
    elif len(mdbs) == 1:
        package.mdb = mdbs[0]
        report.quality(
            "file_name",
            f"权属数据库应命名为 {package.county_code}{package.year}.mdb，实际为 {mdbs[0].name}",
            file=package.relative(mdbs[0]),
        )
    elif len(mdbs) > 1:
        report.structural(
            "file_name",
            f"权属数据目录中有多个 .mdb 文件且没有 {expected}：{'、'.join(p.name for p in mdbs)}",
            file=OWNERSHIP_DIR,
        )
    tables = sorted(p for p in files if p.suffix.lower() in (".xls", ".xlsx") and p.stem.endswith(CODE_TABLE_SUFFIX))
    if tables:
        package.code_table = tables[0]


# --- zip archives -------------------------------------------------------------------------


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name: UTF-8 when the archive says so, else GBK (Windows' zip), else the
    CP437 that ``zipfile`` assumed."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437", errors="replace")
    for codec in ("utf-8", "gbk"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return info.filename


def _unsafe(name: str, info: zipfile.ZipInfo) -> str | None:
    """Why a member may not be unpacked, or None."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "是符号链接"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "是绝对路径"
    if any(part == ".." for part in PurePosixPath(name).parts):
        return "含有“..”，会写到数据包目录之外"
    return None


def unpack_zip(archive: Path, target: Path, report: ImportReport) -> bool:
    """Unpack ``archive`` into ``target`` if every member is safe; False (with the problems
    in the report) otherwise. Nothing is written unless all members pass."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        report.structural("zip_invalid", f"无法读取压缩包：{exc}", file=archive.name)
        return False
    with zf:
        members: list[tuple[str, zipfile.ZipInfo]] = []
        total = 0
        for info in zf.infolist():
            name = _member_name(info).replace("\\", "/")
            reason = _unsafe(name, info)
            if reason:
                report.structural("zip_unsafe", f"压缩包成员“{name}”{reason}，拒绝解压", file=archive.name)
                continue
            members.append((name, info))
            total += info.file_size
        if report.has_structural:
            return False
        if total > MAX_UNPACKED_BYTES or total > shutil.disk_usage(target).free:
            report.structural(
                "zip_invalid", f"压缩包解压后为 {total / 1024**3:.1f} GiB，超过可用空间或上限", file=archive.name
            )
            return False
        base = target.resolve()
        for name, info in members:
            dest = (base / name).resolve()
            if not dest.is_relative_to(base):  # belt and braces after the ``..`` test
                report.structural("zip_unsafe", f"压缩包成员“{name}”会写到数据包目录之外", file=archive.name)
                return False
            if info.is_dir() or name.endswith("/"):
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                report.structural("zip_invalid", f"压缩包成员“{name}”无法解压：{exc}", file=archive.name)
                return False
    return True


@contextlib.contextmanager
def open_package(path: Path, report: ImportReport, *, workdir: Path | None = None) -> Iterator[Package | None]:
    """The package at ``path`` (folder or zip), unpacked for the duration of the block.

    Example::

        with open_package(Path("310151示范区.zip"), report) as package:
            ...
    """
    path = Path(path)
    if not path.exists():
        report.structural("package_path", f"找不到数据包：{path}", file=str(path))
        yield None
        return
    if path.is_dir():
        root = _find_root(path)
        yield discover(root, report, name=root.name)
        return
    if path.suffix.lower() != ".zip":
        report.structural("package_path", "数据包应为县级目录或其 .zip 压缩包", file=path.name)
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="nongdi-import-", dir=workdir) as tmp:
        if not unpack_zip(path, Path(tmp), report):
            yield None
            return
        root = _find_root(Path(tmp))
        yield discover(root, report, name=path.stem if root == Path(tmp) else root.name)


# --- fingerprint ------------------------------------------------------------------------------


class Fingerprint(threading.Thread):
    """SHA-256 over the package's files (relative path and content), computed in a thread
    while the import reads the data (hashlib releases the GIL): the same folder and a zip of
    it give the same value."""

    def __init__(self, package: Package) -> None:
        super().__init__(daemon=True)
        self.package = package
        self.value = ""
        self._stop_event = threading.Event()

    def run(self) -> None:
        digest = hashlib.sha256()
        for path in sorted(self.package.files(), key=lambda p: self.package.relative(p).lower()):
            digest.update(self.package.relative(path).lower().encode("utf-8") + b"\0")
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    if self._stop_event.is_set():
                        return
                    digest.update(chunk)
        self.value = digest.hexdigest()

    def result(self) -> str:
        if self.ident is None:  # never started: compute here
            self.run()
        else:
            self.join()
        return self.value

    def stop(self) -> None:
        """Stop early (the package is rejected, its folder about to be removed)."""
        self._stop_event.set()
        if self.is_alive():
            self.join()


# --- DBF ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbfField:
    name: str
    kind: str
    width: int
    decimals: int
    offset: int  # within the record, after the deletion flag byte at 0


@dataclass(frozen=True)
class DbfHeader:
    records: int
    header_len: int
    record_len: int
    ldid: int
    fields: tuple[DbfField, ...]

    def field(self, name: str) -> DbfField | None:
        return next((f for f in self.fields if f.name == name), None)


def read_dbf_header(path: Path) -> DbfHeader:
    """The dBase header: record count, field descriptors, language-driver byte."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            raise PackageError(f"{path.name} 不是有效的 DBF 文件（文件头不完整）")
        records, header_len, record_len = struct.unpack_from("<IHH", head, 4)
        ldid = head[29]
        descriptors = fh.read(max(0, header_len - 32))
    raw_fields: list[tuple[str, str, int, int]] = []
    for start in range(0, len(descriptors) - 31, 32):
        desc = descriptors[start : start + 32]
        if desc[0] == 0x0D:
            break
        name = desc[:11].split(b"\0", 1)[0].decode("gbk", errors="replace").strip().upper()
        raw_fields.append((name, chr(desc[11]).upper(), desc[16], desc[17]))
    # Clipper/FoxPro store text widths over 255 with the decimals byte as the high byte;
    # use that reading only when the record length says so (others leave junk there).
    plain = 1 + sum(w for _, _, w, _ in raw_fields)
    clipper = plain != record_len
    fields: list[DbfField] = []
    offset = 1
    for name, kind, width, decimals in raw_fields:
        if kind == "C":
            width, decimals = (width | (decimals << 8)) if clipper else width, 0
        fields.append(DbfField(name, kind, width, decimals, offset))
        offset += width
    if not fields or header_len < 33:
        raise PackageError(f"{path.name} 不是有效的 DBF 文件（没有字段定义）")
    if offset != record_len:
        raise PackageError(f"{path.name} 的记录长度 {record_len} 与字段宽度之和 {offset} 不一致")
    if size < header_len + records * record_len:
        raise PackageError(
            f"{path.name} 被截断：应有 {records} 条记录（{header_len + records * record_len} 字节），"
            f"实际只有 {size} 字节",
            "shp_truncated",
        )
    return DbfHeader(records, header_len, record_len, ldid, tuple(fields))


# --- SHP / SHX ------------------------------------------------------------------------------

SHAPE_TYPE_NAMES = {
    0: "Null",
    1: "Point",
    3: "PolyLine",
    5: "Polygon",
    8: "MultiPoint",
    11: "PointZ",
    13: "PolyLineZ",
    15: "PolygonZ",
    18: "MultiPointZ",
    21: "PointM",
    23: "PolyLineM",
    25: "PolygonM",
    28: "MultiPointM",
    31: "MultiPatch",
}
# Shape types a layer's geometry may come as (Z and M are read as 2-D).
ACCEPTED_SHAPE_TYPES = {
    "Polygon": {5, 15, 25},
    "LineString": {3, 13, 23},
    "Point": {1, 11, 21, 8, 18, 28},
}


@dataclass(frozen=True)
class ShpHeader:
    shape_type: int
    declared_bytes: int
    actual_bytes: int
    bbox: tuple[float, float, float, float]


def read_shp_header(path: Path) -> ShpHeader:
    actual = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or struct.unpack_from(">i", head, 0)[0] != 9994:
        raise PackageError(f"{path.name} 不是有效的 shapefile（文件头不正确）")
    (words,) = struct.unpack_from(">i", head, 24)
    (shape_type,) = struct.unpack_from("<i", head, 32)
    bbox = struct.unpack_from("<4d", head, 36)
    return ShpHeader(shape_type, words * 2, actual, bbox)


def shx_records(path: Path, shp_size: int) -> int:
    """Records indexed by the ``.shx``; raises when the index points past the end of the
    ``.shp`` (a ``.shp`` cut short after its header was written)."""
    size = path.stat().st_size
    if size < 100 or (size - 100) % 8:
        raise PackageError(f"{path.name} 不是有效的 .shx 索引文件（长度 {size} 字节）")
    count = (size - 100) // 8
    if count:
        with open(path, "rb") as fh:
            fh.seek(size - 8)
            offset_words, length_words = struct.unpack(">ii", fh.read(8))
        end = offset_words * 2 + 8 + length_words * 2
        if end > shp_size:
            raise PackageError(
                f".shp 文件被截断：索引中最后一个要素结束于第 {end} 字节，文件只有 {shp_size} 字节", "shp_truncated"
            )
    return count


# --- text encoding ------------------------------------------------------------------------


@dataclass(frozen=True)
class TextEncoding:
    codec: str  # Python codec
    pg: str  # PostgreSQL client encoding
    declared: str  # what the .cpg said ('' = no .cpg)

    @property
    def label(self) -> str:
        return f"{self.codec.upper()}（.cpg：{self.declared}）" if self.declared else f"{self.codec.upper()}（无 .cpg）"


GBK = TextEncoding("gbk", "GBK", "")
_CPG: dict[str, tuple[str, str]] = {
    "936": ("gbk", "GBK"),
    "CP936": ("gbk", "GBK"),
    "GBK": ("gbk", "GBK"),
    "GB2312": ("gbk", "GBK"),
    "ANSI 936": ("gbk", "GBK"),
    "CP_936": ("gbk", "GBK"),
    "WINDOWS-936": ("gbk", "GBK"),
    "GB18030": ("gb18030", "GB18030"),
    "54936": ("gb18030", "GB18030"),
    "UTF-8": ("utf-8", "UTF8"),
    "UTF8": ("utf-8", "UTF8"),
    "65001": ("utf-8", "UTF8"),
    "BIG5": ("big5", "BIG5"),
    "950": ("big5", "BIG5"),
    "1252": ("cp1252", "WIN1252"),
    "CP1252": ("cp1252", "WIN1252"),
    "ISO-8859-1": ("latin-1", "LATIN1"),
    "ISO8859-1": ("latin-1", "LATIN1"),
    "88591": ("latin-1", "LATIN1"),
    "LATIN1": ("latin-1", "LATIN1"),
}


def text_encoding(cpg: Path | None) -> TextEncoding:
    """GBK unless a ``.cpg`` says otherwise (the template DBFs have none and LDID 0x4D)."""
    if cpg is None:
        return GBK
    declared = cpg.read_bytes().decode("ascii", errors="replace").strip()
    if not declared:
        return GBK
    key = declared.upper()
    if key not in _CPG:
        raise PackageError(f"{cpg.name} 声明的编码“{declared}”无法识别", "encoding")
    codec, pg = _CPG[key]
    return TextEncoding(codec, pg, declared)


# --- coordinate reference systems -----------------------------------------------------------


@dataclass(frozen=True)
class GaussKruger:
    """A Gauss-Krüger zone of CGCS2000 or Xian 1980, as EPSG knows it."""

    epsg: int
    datum: Literal["CGCS2000", "Xian80"]
    central_meridian: int
    zone_width: Literal[3, 6]
    prefixed: bool  # false easting carries the zone number (zone * 1e6 + 500 000)

    @property
    def zone(self) -> int:
        return self.central_meridian // 3 if self.zone_width == 3 else (self.central_meridian + 3) // 6

    @property
    def cgcs2000_3_degree(self) -> int:
        """The CGCS2000 3° zone with the same central meridian and false easting style, the
        projected CRS for legal areas of the county (None-safe: 6° central meridians are
        3° ones too)."""
        zone = self.central_meridian // 3
        return 4488 + zone if self.prefixed and self.zone_width == 3 else 4509 + zone

    @property
    def label(self) -> str:
        datum = "2000国家大地坐标系" if self.datum == "CGCS2000" else "1980西安坐标系"
        prefix = "带号" if self.prefixed else "不带带号"
        return f"EPSG:{self.epsg} {datum} {self.zone_width}°分带 中央经线{self.central_meridian}°E（{prefix}）"


def _gauss_kruger_table() -> dict[int, GaussKruger]:
    table: dict[int, GaussKruger] = {}
    for zone in range(25, 46):  # 3° zones, CM 75E-135E
        cm = zone * 3
        table[4488 + zone] = GaussKruger(4488 + zone, "CGCS2000", cm, 3, True)
        table[4509 + zone] = GaussKruger(4509 + zone, "CGCS2000", cm, 3, False)
        table[2324 + zone] = GaussKruger(2324 + zone, "Xian80", cm, 3, True)
        table[2345 + zone] = GaussKruger(2345 + zone, "Xian80", cm, 3, False)
    for zone in range(13, 24):  # 6° zones, CM 75E-135E
        cm = zone * 6 - 3
        table[4478 + zone] = GaussKruger(4478 + zone, "CGCS2000", cm, 6, True)
        table[4489 + zone] = GaussKruger(4489 + zone, "CGCS2000", cm, 6, False)
        table[2314 + zone] = GaussKruger(2314 + zone, "Xian80", cm, 6, True)
        table[2325 + zone] = GaussKruger(2325 + zone, "Xian80", cm, 6, False)
    return table


GAUSS_KRUGER = _gauss_kruger_table()
# Semi-major axis and inverse flattening: CGCS2000 (≈ GRS80) and Xian 1980 (IAU 1975).
_ELLIPSOIDS = {"CGCS2000": (6378137.0, 298.257222101), "Xian80": (6378140.0, 298.257)}


def identify_crs(prj_text: str) -> GaussKruger:
    """The Gauss-Krüger zone a ``.prj`` describes (ESRI or OGC WKT), or PackageError.

    EPSG identification is tried first; otherwise the projection's parameters decide
    (Transverse Mercator, k = 1, latitude of origin 0, false northing 0, metres, a
    CGCS2000 or Xian 1980 ellipsoid, a 3° or 6° central meridian and a false easting of
    500 000 m with or without the zone number in front).
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(prj_text.strip())
    except CRSError as exc:
        raise PackageError(f"坐标系文件无法解析：{exc}", "crs_unknown") from exc
    name = crs.name
    code = crs.to_epsg(min_confidence=70)
    if code in GAUSS_KRUGER:
        return GAUSS_KRUGER[code]
    if not crs.is_projected:
        raise PackageError(f"坐标系“{name}”不是投影坐标系，应为高斯-克吕格投影", "crs_unknown")
    datum: Literal["CGCS2000", "Xian80"] | None = None
    ellipsoid = crs.ellipsoid
    if ellipsoid is not None:
        for key, (a, inv_f) in _ELLIPSOIDS.items():
            if abs(ellipsoid.semi_major_metre - a) < 0.01 and abs(ellipsoid.inverse_flattening - inv_f) < 1e-5:
                datum = key  # type: ignore[assignment]
    operation = crs.coordinate_operation
    # Numeric parameters only (EPSG codes of the parameters as keys).
    params: dict[str, float] = {}
    if operation is not None:
        params = {p.code: float(p.value) for p in operation.params if isinstance(p.value, int | float)}
    method = (operation.method_name if operation is not None else "").lower()
    units = {axis.unit_name.lower() for axis in crs.axis_info}
    ok = (
        datum is not None
        and "transverse mercator" in method.replace("_", " ").replace("gauss-kruger", "transverse mercator")
        and abs(params.get("8805", 0) - 1.0) < 1e-9  # scale factor
        and abs(params.get("8801", 1)) < 1e-9  # latitude of origin
        and abs(params.get("8807", 1)) < 1e-6  # false northing
        and units <= {"metre", "meter", "m"}
    )
    if ok and datum is not None:
        cm = params.get("8802", -1.0)
        fe = params.get("8806", -1.0)
        for gk in GAUSS_KRUGER.values():
            if gk.datum != datum or abs(gk.central_meridian - cm) > 1e-9:
                continue
            expected_fe = gk.zone * 1_000_000 + 500_000 if gk.prefixed else 500_000
            if abs(fe - expected_fe) < 1e-6:
                return gk
    raise PackageError(
        f"坐标系“{name}”不是2000国家大地坐标系或1980西安坐标系的高斯-克吕格分带坐标系（EPSG 4491-4554、2327-2390）",
        "crs_unknown",
    )


def check_extent(gk: GaussKruger, bbox: tuple[float, float, float, float]) -> str | None:
    """Why a layer's extent (from its .shp header) cannot be in zone ``gk``, or None: eastings
    with a zone prefix under a CRS without one (and the reverse), X/Y swapped, or a place
    outside China or far from the zone's central meridian."""
    from pyproj import Transformer

    xmin, ymin, xmax, ymax = bbox
    if xmax < xmin or ymax < ymin:
        return None  # an empty layer: nothing to check
    if bbox == (0.0, 0.0, 0.0, 0.0):
        # Writers put zeros in the header of a layer whose records all have null shapes: the
        # records' missing shapes are reported as such, not as a wrong zone.
        return None
    east = (xmin + xmax) / 2
    north = (ymin + ymax) / 2
    if gk.prefixed and int(east // 1_000_000) != gk.zone:
        return f"横坐标（东）约为 {east:.0f}，与 {gk.label} 应有的带号 {gk.zone} 不符"
    if not gk.prefixed and not 0 < east < 1_000_000:
        return f"横坐标（东）约为 {east:.0f}，超出 {gk.label} 的范围（0-1 000 000 m，可能带有带号或X/Y颠倒）"
    lon, lat = Transformer.from_crs(gk.epsg, 4490, always_xy=True).transform(east, north)
    if not (73 <= lon <= 136 and 3 <= lat <= 54):
        return f"图层中心换算为经纬度 ({lon:.3f}, {lat:.3f})，不在中国境内（X/Y 是否颠倒？）"
    if abs(lon - gk.central_meridian) > gk.zone_width / 2 + 1.5:
        return f"图层中心经度 {lon:.3f}°E 离中央经线 {gk.central_meridian}°E 过远"
    return None


# --- Access database (mdbtools) --------------------------------------------------------------


@dataclass(frozen=True)
class MdbColumn:
    name: str
    type: str  # as mdb-schema writes it: Text, Memo, Numeric, Integer, Long Integer, DateTime, …
    width: int
    scale: int
    not_null: bool


_MDB_TABLE = re.compile(r"^CREATE TABLE \[(.+?)\]")
_MDB_COLUMN = re.compile(
    r"^\s*\[(.+?)\]\s+([A-Za-z][A-Za-z /]*?)\s*(?:\((\d+)(?:,\s*(\d+))?\))?\s*(NOT NULL)?\s*,?\s*$"
)


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, check=False, timeout=600)
    except FileNotFoundError as exc:
        raise PackageError(f"读取权属数据库需要 mdbtools（{args[0]}），系统中没有安装") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", errors="replace").strip() or f"{args[0]} 退出码 {done.returncode}"
        raise PackageError(f"权属数据库无法读取：{message}")
    return done.stdout.decode("utf-8", errors="replace")


def mdb_schema(path: Path) -> dict[str, list[MdbColumn]]:
    """Tables and columns of an Access file, names upper-cased, as ``mdb-schema`` reads them."""
    text = _run(["mdb-schema", "--no-comments", "--no-indexes", "--no-relations", str(path)])
    tables: dict[str, list[MdbColumn]] = {}
    current: list[MdbColumn] | None = None
    for line in text.splitlines():
        match = _MDB_TABLE.match(line)
        if match:
            current = tables.setdefault(match.group(1).upper(), [])
            continue
        column = _MDB_COLUMN.match(line)
        if column and current is not None:
            name, kind, width, scale, not_null = column.groups()
            current.append(MdbColumn(name.upper(), kind.strip(), int(width or 0), int(scale or 0), bool(not_null)))
    if not tables:
        raise PackageError(f"{path.name} 中没有数据表，或不是 Access 数据库")
    return tables


@contextlib.contextmanager
def mdb_export_copy(
    path: Path, tables: list[str], *, numerics: bool = False
) -> Iterator[tuple[Path, dict[str, set[str]], dict[str, NumericColumns]]]:
    """The file ``mdb-export`` should read, per table the DateTime columns it will print as
    Access day numbers (days since 1899-12-30), and with ``numerics`` the tables whose
    Numeric columns it will print empty, to be read by :class:`MdbExports` instead.

    libmdb prints any date after about 2737 as ``1900-01-00``, which would lose CBQXZ =
    9999-01-01 (长久不变); ``layers.exchange.mdb`` reads a scratch copy whose DateTime
    columns are relabelled Double, and so do we. Without that module the file is read as it
    is (and such dates are reported as unreadable)."""
    try:
        from layers.exchange.mdb import _scratch_copy, relabel_numerics
    except ImportError:
        yield path, {}, {}
        return
    with _scratch_copy(path, tables) as (copy, dates):
        specs = relabel_numerics(copy, tables) if numerics and copy != path else {}
        yield (
            copy,
            {table.upper(): {c.upper() for c in columns} for table, columns in dates.items()},
            {table.upper(): spec for table, spec in specs.items()},
        )


_MDB_EXPORT_ARGS = ["mdb-export", "-D", "%Y-%m-%d %H:%M:%S", "-T", "%Y-%m-%d %H:%M:%S", "-b", "strip"]


class MdbExports:
    """``mdb-export`` of several tables at once, each into a CSV file, all started together.

    libmdb prints Numeric values slowly (about 30 µs each: CBDKXX's 92 k rows with four
    area columns take ~12 s), so the exports run in their own processes while the import
    reads the shapefiles, and the tables are copied into PostgreSQL when they are ready.
    The CSV is the dialect PostgreSQL's ``COPY … (FORMAT csv)`` reads: text quoted, quotes
    doubled, NULL as an empty unquoted field, dates ``YYYY-MM-DD HH:MM:SS`` (or day numbers,
    see :func:`mdb_export_copy`), UTF-8. Nothing is parsed in Python.

    Example::

        with MdbExports(path, ["CBF", "CBDKXX"]) as exports:
            names, stream = exports.open("CBF")
    """

    def __init__(
        self,
        path: Path,
        tables: list[str],
        *,
        numerics: dict[str, NumericColumns] | None = None,
        original: Path | None = None,
    ) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="nongdi-mdb-")
        folder = Path(self._folder.name)
        env = {**os.environ, "LC_ALL": "C.UTF-8"}  # '.' as the decimal point
        self._procs: dict[str, tuple[subprocess.Popen[bytes], Path, Path]] = {}
        self._open: list[IO[bytes]] = []
        jobs = [(table, [*_MDB_EXPORT_ARGS, str(path), table]) for table in tables]
        # The Numeric columns relabelled in ``path``: read from the original by our own reader
        # (layers.exchange.mdb), in a process of its own like the exports.
        self.numerics = {t: s for t, s in (numerics or {}).items() if t in tables and original is not None}
        for table, spec in self.numerics.items():
            command = [sys.executable, "-m", "layers.exchange.mdb", "numerics", str(original), spec.table, spec.key]
            jobs.append((f"{table}.numerics", [*command, *spec.names]))
        for name, args in jobs:
            out, err = folder / f"{name}.csv", folder / f"{name}.err"
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                try:
                    proc = subprocess.Popen(args, stdout=stdout, stderr=stderr, env=env, cwd=_PROJECT_ROOT)
                except FileNotFoundError as exc:
                    self.close()
                    raise PackageError("读取权属数据库需要 mdbtools（mdb-export），系统中没有安装") from exc
            self._procs[name] = (proc, out, err)

    def open(self, table: str) -> tuple[list[str], IO[bytes]]:
        """Wait for ``table``'s export; its column names (upper-cased) and the rows after
        the header line as a byte stream."""
        proc, out, err = self._procs[table]
        code = proc.wait()
        if code != 0:
            message = err.read_bytes().decode("utf-8", errors="replace").strip()
            raise PackageError(f"权属数据库表 {table} 无法读取：{message or f'mdb-export 退出码 {code}'}")
        stream = open(out, "rb")  # noqa: SIM115 (closed with the exports)
        self._open.append(stream)
        header = stream.readline().decode("utf-8", errors="replace")
        names = [n.strip().upper() for n in next(csv.reader(io.StringIO(header)), [])]
        return names, stream

    def numeric_rows(self, table: str) -> tuple[NumericColumns, IO[bytes]] | None:
        """Wait for the reader of ``table``'s Numeric columns: its columns and its CSV (the
        key column, then the Numeric columns, a row per row of the export, no header); None
        when the table's Numeric columns were not relabelled. Raises :class:`PackageError`
        when the reader failed (the caller then exports the table as it is)."""
        spec = self.numerics.get(table)
        if spec is None:
            return None
        proc, out, err = self._procs[f"{table}.numerics"]
        if proc.wait() != 0:
            raise PackageError(err.read_bytes().decode("utf-8", errors="replace").strip() or "numeric reader failed")
        stream = open(out, "rb")  # noqa: SIM115 (closed with the exports)
        self._open.append(stream)
        return spec, stream

    def close(self) -> None:
        for proc, _out, _err in self._procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for stream in self._open:
            stream.close()
        self._folder.cleanup()

    def __enter__(self) -> MdbExports:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- 权属单位代码表 and metadata -----------------------------------------------------------------


def read_code_table(path: Path) -> list[tuple[int, str, str]]:
    """Rows (row number, 14-digit code, name) of the 权属单位代码表 (first sheet, header row
    first). Numeric cells are read as integers written with 14 digits."""
    rows: list[list[object]] = []
    try:
        if path.suffix.lower() == ".xlsx":
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            sheet = book.worksheets[0]
            rows = [list(r) for r in sheet.iter_rows(values_only=True)]
            book.close()
        else:
            import xlrd

            wb = xlrd.open_workbook(str(path), on_demand=True)
            ws = wb.sheet_by_index(0)
            rows = [ws.row_values(i) for i in range(ws.nrows)]
            wb.release_resources()
    except Exception as exc:  # xlrd/openpyxl raise many kinds on a broken file
        raise PackageError(f"{path.name} 无法读取：{exc}") from exc
    out: list[tuple[int, str, str]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(v in (None, "") for v in row):
            continue
        code_cell = row[0]
        if isinstance(code_cell, float) and code_cell.is_integer():
            code = f"{int(code_cell):014d}"
        else:
            code = str(code_cell or "").strip()
        name = str(row[1] if len(row) > 1 and row[1] is not None else "").strip()
        out.append((number, code, name))
    return out


def read_metadata(path: Path) -> dict[str, str]:
    """The vector metadata's identifying and spatial-reference elements (first occurrence of
    each tag, namespaces ignored)."""
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError) as exc:
        raise PackageError(f"{path.name} 不是有效的 XML：{exc}", "metadata") from exc
    wanted = {"title", "geoID", "coorRSID", "centralMer", "eastFAL", "northFAL", "coorFDKD"}
    found: dict[str, str] = {}
    for element in tree.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag in wanted and tag not in found and element.text:
            found[tag] = element.text.strip()
    return found
