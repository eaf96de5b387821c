"""Import a Ministry county package (NY/T 2539) into the register.

Modelled on Django's ``LayerMapping``: open the source, validate everything, then load in
one transaction, and return a per-feature report (:class:`~layers.exchange.report.ImportReport`).

How it runs
-----------
1. **Inspect** (no database): find the parts (``package.py``), read every header: DBF field
   sets, types and widths (the §2.6 variants of the published text accepted), ``.shp``/
   ``.shx``/``.dbf`` lengths and record counts, the ``.cpg`` and the ``.prj`` (a CGCS2000 or
   Xian 1980 Gauss-Krüger zone, checked against the layer's extent), the Access schema, the
   权属单位代码表 and the metadata. Any structural problem ends the import here.
2. **Stage**: in one transaction, every layer and table is streamed into temporary tables
   (``ON COMMIT DROP``) with binary ``COPY``: DBF records are sliced with numpy straight from
   a memory map, blanks trimmed, and sent in the file's own code page (PostgreSQL converts
   GBK to UTF-8); geometries come from pyogrio as WKB in chunks of ``CHUNK`` features; Access
   tables go from ``mdb-export`` to ``COPY … (FORMAT csv)`` without being parsed in Python.
   Memory stays at a few chunks whatever the size of the county. Text that is not valid in
   its code page (GBK: every row of a chunk at once, against a table of GBK's byte pairs),
   or that looks like UTF-8 read as GBK, is found here, per feature.
3. **Check** in SQL over the staged rows: value formats and widths, required values, code
   tables, code formats (``parcels.coding``), unique codes, references between tables,
   database constraints; geometry validity, parts, area against SCMJ, SCMJM against SCMJ.
   Overlaps of parcels are found meanwhile from the DK shapefiles themselves (shapely,
   swept west to east so that memory stays flat; ``overlaps.py``), for a large layer in a
   process of its own, on the second CPU.
4. **Load** when there is no structural problem (and, with ``strict``, no quality
   problem either): ``INSERT … SELECT`` from the staged rows into the register, geometry
   transformed to the storage SRID by PostGIS, and commit. Otherwise roll back: the
   register is exactly as before.

Re-importing
------------
A county that already holds register data is not loaded twice. If the package is the one
last imported for that county (same SHA-256 over its files, whether given as folder or
zip), the import is ``unchanged`` and succeeds without writing. Any other package is
refused with a message, unless ``replace=True``: then the county's register rows are
deleted and the package loaded in the same transaction (references by code from other
tables, e.g. registration cases, keep pointing at the same codes).

Coordinates
-----------
Layers may be in any CGCS2000 Gauss-Krüger zone (3° EPSG 4513-4554, 6° 4491-4512) or Xian
1980 zone (2327-2390). Geometries are stored in EPSG:4490 through PostGIS ``ST_Transform``
(PROJ). For Xian 1980 there is no published transformation to CGCS2000 in the EPSG
database, so PROJ uses its *ballpark* operation: latitude and longitude are taken over
unchanged from one datum to the other (only the ellipsoid changes under the projection).
The real offset between the two datums is not applied: positions can be off by the datum
difference, which surveys report as tens of metres; the report says so for every Xian 1980
layer. Areas are compared in the source's own projected plane, as the vendor measured them.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import enum
import functools
import logging
import os
import re
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.gis.db import models as gis_models
from django.db import DatabaseError, connection, models, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from layers.exchange import package as pkg
from layers.exchange.overlaps import OverlapSweep, PartSpec
from layers.exchange.package import (
    DbfField,
    DbfHeader,
    GaussKruger,
    MdbColumn,
    Package,
    PackageError,
    ShapefileParts,
    ShpHeader,
    TextEncoding,
)
from layers.exchange.report import MAX_PER_RULE, QUALITY, STRUCTURAL, ImportReport, Severity, Status
from layers.exchange.schema import MDB_TABLES, REGION_LAYERS, SHAPE_LAYERS, TABLE_LOAD_ORDER, TABLE_MODELS, Field
from parcels.models.base import InCodeTable

logger = logging.getLogger(__name__)

STORAGE_SRID = 4490
CHUNK = 20_000  # features per read; a DK chunk is ~20 MB of DBF records

# Tolerances (none is given by the standard; see the digest §6.2/§6.3):
AREA_TOLERANCE_SQM = 0.01  # SCMJ is rounded to 0.01 m²…
AREA_TOLERANCE_REL = 1e-4  # …and may come from another tool's area: allow 0.01 %
MU_TOLERANCE = 0.01  # SCMJM = round(SCMJ × 0.0015, 2): one cent of a mu for rounding order
OVERLAP_TOLERANCE_M = 0.001  # the QC rules' topology tolerance: overlaps thinner than this pass
MU_PER_SQM = Decimal("0.0015")

REQUIRED_LAYERS = ("DK", "JZD", "JZX")
# Tables the standard marks M (S1 Table 3); CBF_JTCY and LZHT are conditional, QZ* optional.
REQUIRED_TABLES = ("FBF", "CBF", "CBDKXX", "CBHT", "CBJYQZDJB", "CBJYQZ", "QSLYZLFJ")

# §2.6: names and widths of a transcription of the published text, accepted on import.
MDB_ALIASES: dict[tuple[str, str], str] = {
    ("CBJYQZDJB", "YCBJYQZLSH"): "YCBJYQZBH",
    ("CBJYQZ", "QZSFLY"): "QZSFLQ",
    ("LZHT", "CFBBM"): "CBFBM",
    ("LZHT", "YCBHTBM"): "CBHTBM",
}
MDB_VARIANT_WIDTHS: dict[tuple[str, str], int] = {
    ("CBDKXX", "CBHTBM"): 18,
    ("CBJYQZDJB", "CBJYQZLSH"): 50,
    ("CBJYQZDJB", "DJBFJ"): 50,
    ("CBJYQZDJB", "YCBJYQZBH"): 50,
}
_MDB_TEXT = {"text", "memo", "hyperlink", "memo/hyperlink"}
_MDB_NUMBER = {"numeric", "double", "single", "currency", "decimal", "integer", "long integer", "byte", "float"}
_MDB_DATE = {"datetime", "date", "datetime (short)"}

# The feature each layer's problems are reported by.
LAYER_KEYS: dict[str, tuple[str, ...]] = {
    "DK": ("DKBM", "BSM"),
    "JZD": ("JZDH", "BSM"),
    "JZX": ("JZXH", "BSM"),
    "XJXZQ": ("XZQDM", "BSM"),
    "XJQY": ("XJQYDM", "BSM"),
    "CJQY": ("CJQYDM", "BSM"),
    "ZJQY": ("ZJQYDM", "BSM"),
    "KZD": ("KZDDH", "BSM"),
}
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "FBF": ("FBFBM",),
    "CBF": ("CBFBM",),
    "CBF_JTCY": ("CBFBM", "CYXM"),
    "CBHT": ("CBHTBM",),
    "CBDKXX": ("CBHTBM", "DKBM"),
    "LZHT": ("LZHTBM",),
    "CBJYQZDJB": ("CBJYQZBM",),
    "CBJYQZ": ("CBJYQZBM",),
    "CBJYQZ_QZBF": ("CBJYQZBM",),
    "CBJYQZ_QZHF": ("CBJYQZBM",),
    "CBJYQZ_QZZX": ("CBJYQZBM",),
    "QSLYZLFJ": ("CBJYQZBM", "ZLFJBH"),
}

WKB_TYPES = {"POINT": 1, "LINESTRING": 2, "POLYGON": 3, "MULTIPOINT": 4, "MULTILINESTRING": 5, "MULTIPOLYGON": 6}

User = AbstractBaseUser | AnonymousUser
# NONGDI_IMPORT_PROFILE=1: every check query's time goes to the report's timings.
PROFILE = bool(os.environ.get("NONGDI_IMPORT_PROFILE"))
ProgressCallback = Callable[[str, float], None]


class Rejected(Exception):
    """Raised inside the load transaction to roll it back; the report says why."""


def _apps_model(label: str) -> type[models.Model]:
    from django.apps import apps

    return apps.get_model(label)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _plain(value: Any) -> Any:
    """A model default as the database takes it (TextChoices members are their value)."""
    return value.value if isinstance(value, enum.Enum) else value


# --- plans made by the inspection -----------------------------------------------------------


@dataclass
class PartPlan:
    parts: ShapefileParts
    file: str  # relative path, for the report
    dbf: DbfHeader
    shp: ShpHeader
    encoding: TextEncoding
    crs: GaussKruger
    fields: dict[str, DbfField]  # standard name -> field in this file


@dataclass
class LayerPlan:
    name: str
    fields: list[Field]  # the standard's fields present in at least one part (staged)
    parts: list[PartPlan]
    staging: str
    records: int = 0
    # text check across the layer: whether any value has bytes >= 0x80, and whether every
    # such value seen so far is also valid UTF-8 (a mislabelled UTF-8 file)
    has_high: bool = False
    maybe_utf8: bool = True
    # What the staged WKB holds (read from its header bytes while staging), so that the SQL
    # shape checks run only when there is something to find.
    null_geoms: int = 0
    wkb_types: set[int] = field(default_factory=set)
    utf8_samples: list[tuple[str, str, str]] = field(default_factory=list)
    complete: bool = True

    def file_of(self, part: int) -> str:
        return next((p.file for p in self.parts if p.parts.part == part), self.parts[0].file)


@dataclass
class TablePlan:
    name: str
    columns: list[tuple[str, str]]  # (name in the file, standard name) in file order
    staging: str
    complete: bool = True


@dataclass
class Target:
    """A register table and where its columns come from in the staged rows."""

    key: str  # DK, CBF, …
    model: type[models.Model]
    staging: str
    columns: dict[str, str]  # model column -> staging expression (``s.col``)
    label: str  # SQL expression naming the feature in problems
    file: str
    layer_plan: LayerPlan | None = None
    extra: dict[str, str] = field(default_factory=dict)  # model column -> SQL expression
    where: str = "TRUE"
    table_plan: TablePlan | None = None

    @property
    def complete(self) -> bool:
        """False when staging stopped short (unreadable file or text): its rows are not
        checked further, nor are references into it (they would all look broken)."""
        plan = self.layer_plan or self.table_plan
        return plan is None or plan.complete


def _key_label(keys: Sequence[str], available: set[str]) -> str:
    parts = [f"s.{k.lower()}" for k in keys if k in available]
    if "BSM" in keys and "BSM" in available:
        parts[-1] = "'BSM ' || s.bsm"
    return "COALESCE(" + ", ".join([*parts, "'#' || (s.rec + 1)"]) + ")" if parts else "'#' || (s.rec + 1)"


# --- binary COPY rows, built with numpy ------------------------------------------------------

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)


@dataclass
class _Column:
    """One column of a chunk of binary COPY rows: per row a length (-1 = NULL) and where
    its bytes start in ``source``."""

    lengths: np.ndarray
    source: np.ndarray  # uint8
    starts: np.ndarray


def _int4_column(values: np.ndarray) -> _Column:
    data = values.astype(">i4").view(np.uint8)
    m = len(values)
    return _Column(np.full(m, 4, dtype=np.int64), data, np.arange(m, dtype=np.int64) * 4)


def _binary_rows(m: int, columns: Sequence[_Column]) -> bytes:
    """``m`` rows of PostgreSQL binary COPY: a field count, then per field a big-endian
    int32 length and the bytes. All vectorised: no Python per row."""
    n = len(columns)
    lengths = [np.maximum(c.lengths, 0) for c in columns]
    row_bytes = np.full(m, 2 + 4 * n, dtype=np.int64)
    for length in lengths:
        row_bytes += length
    row_start = np.zeros(m, dtype=np.int64)
    np.cumsum(row_bytes[:-1], out=row_start[1:])
    out = np.empty(int(row_bytes.sum()), dtype=np.uint8)
    out[row_start] = n >> 8
    out[row_start + 1] = n & 0xFF
    pos = row_start + 2
    four = np.arange(4, dtype=np.int64)
    for column, length in zip(columns, lengths, strict=True):
        out[pos[:, None] + four] = column.lengths.astype(">i4").view(np.uint8).reshape(m, 4)
        pos = pos + 4
        total = int(length.sum())
        if total:
            nz = length > 0
            seg = length[nz]
            within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(seg) - seg, seg)
            out[np.repeat(pos[nz], seg) + within] = column.source[np.repeat(column.starts[nz], seg) + within]
        pos = pos + length
    return out.tobytes()


def _trimmed(block: np.ndarray, offset: int, width: int, *, left: bool) -> tuple[np.ndarray, np.ndarray]:
    """Start and length (-1 when blank) of each record's value of one DBF field: trailing
    blanks cut, leading ones too for numbers (right-aligned)."""
    sub = block[:, offset : offset + width]
    filled = sub != 0x20
    any_ = filled.any(axis=1)
    end = width - filled[:, ::-1].argmax(axis=1)
    start = filled.argmax(axis=1) if left else np.zeros(len(block), dtype=np.int64)
    length = np.where(any_, end - start, -1).astype(np.int64)
    return start.astype(np.int64) + offset, length


@functools.cache
def _double_byte_pairs(codec: str) -> tuple[np.ndarray, np.ndarray] | None:
    """For GBK: which two-byte sequences (lead byte >= 0x80, indexed ``lead << 8 | trail``)
    decode, and which decode to U+FFFD, found by decoding every pair once. GBK has no longer
    sequences, so a value decodes exactly when each pair at a lead position does."""
    if codecs.lookup(codec).name != "gbk":
        return None
    valid = np.zeros(1 << 16, dtype=bool)
    replaced = np.zeros(1 << 16, dtype=bool)
    for lead in range(0x80, 0x100):
        for trail in range(0x100):
            try:
                text = bytes((lead, trail)).decode(codec)
            except UnicodeDecodeError:
                continue
            valid[lead << 8 | trail] = True
            replaced[lead << 8 | trail] = "\ufffd" in text
    return valid, replaced


def _double_byte_check(values: np.ndarray, valid: np.ndarray, replaced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``values`` (blank-padded bytes) that do not decode, and rows holding U+FFFD:
    the byte positions are walked left to right for all rows at once."""
    k = len(values)
    bad = np.zeros(k, dtype=bool)
    has_replaced = np.zeros(k, dtype=bool)
    pending = np.zeros(k, dtype=bool)  # the previous byte was a lead byte
    previous = np.zeros(k, dtype=np.int32)
    for j in range(values.shape[1]):
        byte = values[:, j].astype(np.int32)
        if pending.any():
            pair = (previous << 8) | byte
            bad |= pending & ~valid[pair]
            has_replaced |= pending & replaced[pair]
            pending = ~pending & (byte >= 0x80)
        else:
            pending = byte >= 0x80
        previous = byte
    # A lead byte at the end of the value (the padding blank cannot follow it).
    return bad | pending, has_replaced


# --- the importer -----------------------------------------------------------------------------


class PackageImporter:
    """Validate and load one county package.

    Example::

        report = PackageImporter(Path("310151示范区.zip"), strict=False).run()
        if not report.accepted:
            print(report.to_json())
    """

    def __init__(
        self,
        source: Path | str,
        *,
        strict: bool = False,
        replace: bool = False,
        user: User | None = None,
        job_id: int | None = None,
        progress: ProgressCallback | None = None,
        check_overlaps: bool = True,
        inspect: bool = False,
        workdir: Path | None = None,
        overlaps_in_process: bool | None = None,
    ) -> None:
        self.source = Path(source)
        self.strict = strict
        self.replace = replace
        self.user = user
        self.job_id = job_id
        self.progress = progress or (lambda stage, fraction: None)
        self.check_overlaps = check_overlaps
        # None: a large DK layer's overlap sweep runs in a process of its own (see overlaps.py)
        self.overlaps_in_process = overlaps_in_process
        self.inspect = inspect
        self.workdir = workdir
        self.report = ImportReport(source=self.source.name, strict=strict)
        self.package: Package | None = None
        self.layers: dict[str, LayerPlan] = {}
        self.tables: dict[str, TablePlan] = {}
        self.code_table: list[tuple[int, str, str]] = []
        self.targets: dict[str, Target] = {}
        self._fingerprint: pkg.Fingerprint | None = None
        self._stage_total = 1
        self._stage_done = 0
        self._mdb_exports: pkg.MdbExports | None = None

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.report.timings[name] = self.report.timings.get(name, 0.0) + time.perf_counter() - started

    # -- entry point ------------------------------------------------------------------------

    def run(self) -> ImportReport:
        started = time.perf_counter()
        try:
            with pkg.open_package(self.source, self.report, workdir=self.workdir) as package:
                if package is not None and not self.report.has_structural:
                    self.package = package
                    self._run(package)
        finally:
            if self._fingerprint is not None:
                self._fingerprint.stop()
            self.report.seconds = time.perf_counter() - started
        if not self.report.status:
            self.report.status = Status.REJECTED
        return self.report

    def _run(self, package: Package) -> None:
        report = self.report
        report.year = package.year
        self.progress("检查数据包结构", 0.0)
        self._check_user(package.county_code)
        if report.has_structural:
            return
        self._fingerprint = pkg.Fingerprint(package)
        with self._timed("inspect"):
            self._inspect(package)
        if report.has_structural:
            return
        self._fingerprint.start()
        held = self._county_has_data(package.county_code)
        if held and not self.replace:
            report.fingerprint = self._fingerprint.result()
            if self._unchanged(package.county_code):
                return
        try:
            with transaction.atomic():
                self._stage_all()
                with self._timed("checks"):
                    self._check_all()
                if held and not self.replace:
                    self._refuse(package.county_code, held)
                if report.has_structural:
                    raise Rejected
                if self.strict and report.has_quality:
                    report.note("严格模式（--strict）：存在数据质量问题，整个数据包被拒绝")
                    raise Rejected
                with self._timed("fingerprint wait"):
                    report.fingerprint = self._fingerprint.result()
                with self._timed("load"):
                    self._load_all()
                report.status = Status.LOADED
                self._record_job()
                commit_started = time.perf_counter()
            # Leaving the block commits: the deferred foreign-key checks of every row run here.
            report.timings["commit"] = time.perf_counter() - commit_started
        except Rejected:
            report.status = Status.REJECTED
        except DatabaseError as exc:
            # A constraint the checks did not foresee: nothing was written (rolled back).
            report.structural("database", f"数据库拒绝写入，全部回滚：{str(exc).strip()}")
            report.status = Status.REJECTED
        if report.status == Status.LOADED and self.inspect:
            with self._timed("inspection"):
                self._run_inspection(package.county_code)
        self.progress("完成", 1.0)

    def _check_user(self, county: str) -> None:
        if self.user is None:
            return
        from accounts.permissions import has_capability
        from accounts.scoping import in_jurisdiction

        if not has_capability(self.user, "data.manage"):
            self.report.structural("jurisdiction", "您的角色无权导入数据包（需要权限 data.manage）")
        elif not in_jurisdiction(self.user, county):
            self.report.structural("jurisdiction", f"数据包所属县 {county} 不在您的管辖区域内")

    def _run_inspection(self, county: str) -> None:
        """The full quality inspection (``layers.checks``) of the county just loaded, stored
        as an InspectionRun: gaps, vertices, region containment and the other rules that need
        the register rather than the package. After the commit: the import stands whatever
        the inspection finds."""
        self.progress("质检", 0.99)
        try:
            from layers.checks.engine import record_inspection

            run = record_inspection(actor=self.user, scope=county)
        except Exception as exc:  # the import is committed; say why the inspection did not run
            self.report.note(f"导入后质检未能完成：{exc}")
            return
        self.report.note(
            f"导入后已运行质检（质检记录 #{run.pk}）：错误 {run.error_count} 个，警告 {run.warning_count} 个"
        )

    # -- 1. inspection ------------------------------------------------------------------------

    def _inspect(self, package: Package) -> None:
        report = self.report
        for name in SHAPE_LAYERS:
            parts = package.layers.get(name, [])
            if not parts:
                if name in REQUIRED_LAYERS:
                    report.structural(
                        "layer_missing",
                        f"缺少{SHAPE_LAYERS[name].title}图层：{pkg.VECTOR_DIR}/{name}{package.county_code}"
                        f"{package.year or 'YYYY'}.shp",
                        layer=name,
                    )
                elif SHAPE_LAYERS[name].required:
                    report.quality(
                        "layer_missing", f"标准要求的{SHAPE_LAYERS[name].title}图层（{name}）缺失", layer=name
                    )
                continue
            plan = self._inspect_layer(name, parts)
            if plan is not None:
                self.layers[name] = plan
        dk = self.layers.get("DK")
        if dk is not None and dk.records == 0 and not report.has_structural:
            report.structural("layer_empty", "地块图层（DK）没有任何要素", layer="DK", file=dk.parts[0].file)
        for name in ("JZD", "JZX"):
            plan = self.layers.get(name)
            if plan is not None and plan.records == 0:
                report.quality("layer_empty", f"{SHAPE_LAYERS[name].title}图层没有任何要素", layer=name)
        crs = {p.crs.epsg for plan in self.layers.values() for p in plan.parts}
        if len(crs) > 1:
            report.note(f"各图层的坐标系不同（EPSG {', '.join(map(str, sorted(crs)))}），均已分别转换")
        for plan in self.layers.values():
            for part in plan.parts:
                if part.crs.datum == "Xian80":
                    report.note(
                        f"{part.file} 为1980西安坐标系（{part.crs.label}）：PROJ 没有西安80到CGCS2000的正式转换参数，"
                        "按“ballpark”近似转换（经纬度不变，只换椭球），未做七参数转换，位置可能偏差数十米"
                    )
        if package.mdb is None:
            report.structural(
                "file_missing",
                f"缺少权属数据库：{pkg.OWNERSHIP_DIR}/{package.county_code}{package.year or 'YYYY'}.mdb",
                file=pkg.OWNERSHIP_DIR,
            )
        else:
            self._inspect_mdb(package, package.mdb)
        if package.code_table is None:
            report.structural(
                "file_missing",
                f"缺少权属单位代码表：{pkg.OWNERSHIP_DIR}/{package.county_code}{package.year or 'YYYY'}"
                f"{pkg.CODE_TABLE_SUFFIX}.xls",
                file=pkg.OWNERSHIP_DIR,
            )
        else:
            self._inspect_code_table(package, package.code_table)
        self._inspect_metadata(package)

    def _inspect_layer(self, name: str, parts: list[ShapefileParts]) -> LayerPlan | None:
        report = self.report
        assert self.package is not None
        spec = SHAPE_LAYERS[name]
        plans: list[PartPlan] = []
        for part in parts:
            where = {"file": self.package.relative(part.shp), "layer": name}
            missing = [
                ext for ext, path in ((".shx", part.shx), (".dbf", part.dbf), (".prj", part.prj)) if path is None
            ]
            for ext in missing:
                rule = "crs_missing" if ext == ".prj" else "file_missing"
                report.structural(rule, f"{part.shp.name} 缺少同名的 {ext} 文件", **where)
            if missing:
                continue
            assert part.shx is not None and part.dbf is not None and part.prj is not None
            try:
                shp = pkg.read_shp_header(part.shp)
                if shp.actual_bytes < shp.declared_bytes:
                    raise PackageError(
                        f".shp 文件被截断：文件头声明 {shp.declared_bytes} 字节，实际只有 {shp.actual_bytes} 字节",
                        "shp_truncated",
                    )
                shx_count = pkg.shx_records(part.shx, shp.actual_bytes)
                dbf = pkg.read_dbf_header(part.dbf)
                encoding = pkg.text_encoding(part.cpg)
            except PackageError as exc:
                report.structural(exc.rule, str(exc), **where)
                continue
            if shx_count != dbf.records:
                report.structural(
                    "shp_mismatch", f".shx 索引有 {shx_count} 条记录，.dbf 有 {dbf.records} 条，二者应相同", **where
                )
            if dbf.records and shp.shape_type not in pkg.ACCEPTED_SHAPE_TYPES[spec.geometry]:
                got = pkg.SHAPE_TYPE_NAMES.get(shp.shape_type, str(shp.shape_type))
                report.structural("geometry_type", f"{spec.title}图层应为 {spec.geometry} 类型，实际为 {got}", **where)
            try:
                prj_text = part.prj.read_bytes().decode("utf-8", errors="replace")
                crs = pkg.identify_crs(prj_text)
            except PackageError as exc:
                report.structural(exc.rule, f"{part.prj.name}：{exc}", **where)
                continue
            if dbf.records:
                problem = pkg.check_extent(crs, shp.bbox)
                if problem:
                    report.structural("crs_coordinates", f"坐标与 .prj 不符：{problem}", **where)
            fields = self._match_fields(spec.fields, dbf, where)
            plans.append(PartPlan(part, where["file"], dbf, shp, encoding, crs, fields))
            if encoding.declared:
                report.note(f"{where['file']}：按 .cpg 声明的 {encoding.label} 读取文字")
        if not plans:
            return None
        present = [f for f in spec.fields if any(f.name in p.fields for p in plans)]
        plan = LayerPlan(name, present, plans, staging=f"stg_{name.lower()}")
        plan.records = sum(p.dbf.records for p in plans)
        return plan

    def _match_fields(self, expected: Sequence[Field], dbf: DbfHeader, where: dict[str, str]) -> dict[str, DbfField]:
        """The standard's fields found in a DBF. A missing required field, a text field
        stored as a number (or the reverse) or a text field narrower than the standard is
        structural; a missing optional field is a quality problem (loaded as empty);
        wider fields and any numeric width are accepted (vendors differ, see §4.7)."""
        report = self.report
        found: dict[str, DbfField] = {}
        for spec in expected:
            actual = dbf.field(spec.name)
            loc = {**where, "field": spec.name}
            if actual is None:
                if spec.required:
                    report.structural("field_missing", f"缺少必填字段 {spec.name}", **loc)
                else:
                    report.quality("field_missing", f"缺少字段 {spec.name}，按空值导入", **loc)
                continue
            kind_ok = actual.kind in ("N", "F") if spec.kind == "N" else actual.kind == spec.kind
            if not kind_ok:
                report.structural(
                    "field_type",
                    f"字段 {spec.name} 的类型为 {actual.kind}({actual.width},{actual.decimals})，"
                    f"标准为 {spec.kind}({spec.width},{spec.decimals})",
                    **loc,
                )
                continue
            if spec.kind == "C" and actual.width < spec.width:
                report.structural(
                    "field_width",
                    f"字段 {spec.name} 宽度为 {actual.width}，标准为 {spec.width}（值可能已被截断）",
                    **loc,
                )
                continue
            found[spec.name] = actual
        extra = [f.name for f in dbf.fields if f.name not in {s.name for s in expected}]
        if extra:
            report.note(f"{where['file']}：标准以外的字段未导入：{'、'.join(extra)}")
        return found

    def _inspect_mdb(self, package: Package, path: Path) -> None:
        report = self.report
        where = {"file": package.relative(path)}
        try:
            schema = pkg.mdb_schema(path)
        except PackageError as exc:
            report.structural(exc.rule, str(exc), **where)
            return
        for table, standard in MDB_TABLES.items():
            columns = schema.get(table)
            if columns is None:
                if table in REQUIRED_TABLES:
                    report.structural("table_missing", f"权属数据库缺少数据表 {table}", layer=table, **where)
                continue
            plan = self._match_columns(table, standard, columns, where)
            if plan is not None:
                self.tables[table] = plan

    def _match_columns(
        self, table: str, standard: Sequence[Any], columns: list[MdbColumn], where: dict[str, str]
    ) -> TablePlan | None:
        report = self.report
        by_name: dict[str, MdbColumn] = {}
        mapped: list[tuple[str, str]] = []
        names = {c.name for c in columns}
        for column in columns:
            std = MDB_ALIASES.get((table, column.name), column.name)
            if std != column.name and std in names:
                continue  # both the alias and the standard name: the standard one wins
            if std != column.name:
                report.note(f"{table}.{column.name} 按 {std} 读取（已发布标准文本中的写法）")
            by_name[std] = column
            mapped.append((column.name, std))
        ok = True
        for spec in standard:
            loc = {**where, "layer": table, "field": spec.name}
            actual = by_name.get(spec.name)
            if actual is None:
                if spec.not_null:
                    report.structural("field_missing", f"数据表 {table} 缺少必填字段 {spec.name}", **loc)
                    ok = False
                else:
                    report.quality("field_missing", f"数据表 {table} 缺少字段 {spec.name}，按空值导入", **loc)
                continue
            kind = actual.type.lower()
            allowed = {
                "text": _MDB_TEXT,
                "memo": _MDB_TEXT,
                "numeric": _MDB_NUMBER,
                "integer": _MDB_NUMBER,
                "date": _MDB_DATE | _MDB_TEXT,
            }[spec.kind]
            if kind not in allowed:
                report.structural(
                    "field_type", f"{table}.{spec.name} 的类型为 {actual.type}，标准为 {spec.kind}", **loc
                )
                ok = False
                continue
            if spec.kind == "text" and kind == "text" and actual.width < spec.width:
                variant = MDB_VARIANT_WIDTHS.get((table, spec.name))
                if variant is None or actual.width < variant:
                    report.structural(
                        "field_width",
                        f"{table}.{spec.name} 宽度为 {actual.width}，标准为 {spec.width}（值可能已被截断）",
                        **loc,
                    )
                    ok = False
        if not ok:
            return None
        return TablePlan(table, mapped, staging=f"stg_{table.lower()}")

    def _inspect_code_table(self, package: Package, path: Path) -> None:
        where = {"file": package.relative(path), "layer": "权属单位代码表"}
        try:
            rows = pkg.read_code_table(path)
        except PackageError as exc:
            self.report.structural(exc.rule, str(exc), **where)
            return
        for number, code, _name in rows:
            if not re.fullmatch(r"\d{14}", code):
                self.report.quality("code_format", f"第{number}行的权属单位代码“{code}”应为14位数字", **where)
        self.code_table = [r for r in rows if re.fullmatch(r"\d{14}", r[1])]
        if not any(code.startswith(package.county_code) for _, code, _ in self.code_table):
            self.report.quality("consistency", f"权属单位代码表中没有本县（{package.county_code}）的单位", **where)

    def _inspect_metadata(self, package: Package) -> None:
        report = self.report
        if package.metadata is None:
            report.quality(
                "metadata", f"缺少矢量数据元数据 SL{package.county_code}{package.year}.xml（矢量数据或元数据目录）"
            )
            return
        where = {"file": package.relative(package.metadata), "layer": "元数据"}
        try:
            meta = pkg.read_metadata(package.metadata)
        except PackageError as exc:
            report.quality("metadata", str(exc), **where)
            return
        if meta.get("geoID") and meta["geoID"] != package.county_code:
            report.quality("metadata", f"元数据 geoID {meta['geoID']} 与县级代码 {package.county_code} 不一致", **where)
        dk = self.layers.get("DK")
        if dk is None:
            return
        crs = dk.parts[0].crs
        expected_rs = "001" if crs.datum == "CGCS2000" else "002"
        if meta.get("coorRSID") and meta["coorRSID"] != expected_rs:
            report.quality("metadata", f"元数据坐标系代码 coorRSID={meta['coorRSID']} 与地块 .prj 不一致", **where)
        try:
            if "centralMer" in meta and abs(float(meta["centralMer"]) - crs.central_meridian) > 1e-6:
                report.quality(
                    "metadata",
                    f"元数据中央经线 {meta['centralMer']} 与地块 .prj 的 {crs.central_meridian} 不一致",
                    **where,
                )
            if "eastFAL" in meta:
                false_easting = crs.zone * 1000 + 500 if crs.prefixed else 500
                if abs(float(meta["eastFAL"]) - false_easting) > 1e-6:
                    report.quality(
                        "metadata",
                        f"元数据东偏移 {meta['eastFAL']} km 与地块 .prj 的 {false_easting} km 不一致",
                        **where,
                    )
        except ValueError:
            report.quality("metadata", "元数据中的中央经线或东偏移不是数值", **where)

    # -- re-import ----------------------------------------------------------------------------

    def _county_has_data(self, county: str) -> dict[str, int]:
        """Register rows the county holds now, by table (empty when none)."""
        found: dict[str, int] = {}
        checks = [
            ("地块", "parcels.Parcel", "code"),
            ("发包方", "parcels.Collective", "code"),
            ("承包方", "parcels.Contractor", "code"),
            ("界址点", "parcels.BoundaryPoint", "parcel_codes"),
        ]
        for label, model_label, attr in checks:
            model = _apps_model(model_label)
            n = model._default_manager.filter(**{f"{attr}__startswith": county}).count()
            if n:
                found[label] = n
        for name in ("KZD", "QYJX", "DZDW", "XZDW", "MZDW", "JBNTBHQ"):
            model = _apps_model(SHAPE_LAYERS[name].model)
            n = model._default_manager.filter(county_id=county).count()
            if n:
                found[SHAPE_LAYERS[name].title] = n
        return found

    def _unchanged(self, county: str) -> bool:
        """True (and the report says so) when this package is the county's last import."""
        from layers.models import ImportJob

        report = self.report
        earlier = ImportJob.objects.filter(county_code=county, state=ImportJob.State.LOADED)
        if self.job_id is not None:
            earlier = earlier.exclude(pk=self.job_id)
        last = earlier.order_by("-finished_at", "-pk").first()
        if last is None or last.fingerprint != report.fingerprint:
            return False
        when = timezone.localtime(last.finished_at or last.created_at).strftime("%Y-%m-%d %H:%M")
        report.status = Status.UNCHANGED
        report.note(f"此数据包已于 {when} 导入（导入记录 #{last.pk}），内容相同，未做任何更改")
        report.counts = dict(last.counts or {})
        return True

    def _refuse(self, county: str, held: dict[str, int]) -> None:
        listed = "、".join(f"{k} {v} 个" for k, v in held.items())
        self.report.structural(
            "already_loaded",
            f"县 {county} 已有登记数据（{listed}），且与本数据包不同。为避免重复，未导入任何数据；"
            "如需用本数据包替换该县现有数据，请使用 --replace（网页上勾选“替换本县现有数据”）",
        )

    # -- 2. staging -----------------------------------------------------------------------------

    def _advance(self, units: int, stage: str) -> None:
        self._stage_done += units
        self.progress(stage, 0.05 + 0.65 * min(1.0, self._stage_done / self._stage_total))

    def _stage_all(self) -> None:
        self._stage_total = max(1, sum(p.records for p in self.layers.values()) + 5_000 * len(self.tables))
        with connection.cursor() as cursor:
            self._create_helpers(cursor)
            with contextlib.ExitStack() as stack:
                if self.tables:
                    # Exports start now and run while the shapefiles are read.
                    assert self.package is not None and self.package.mdb is not None
                    copy, _dates, numerics = stack.enter_context(
                        pkg.mdb_export_copy(self.package.mdb, list(self.tables), numerics=True)
                    )
                    self._mdb_exports = stack.enter_context(
                        pkg.MdbExports(copy, list(self.tables), numerics=numerics, original=self.package.mdb)
                    )
                for plan in self.layers.values():
                    with self._timed(f"stage {plan.name}"):
                        self._stage_layer(cursor, plan)
                for table_plan in self.tables.values():
                    with self._timed("stage mdb"):
                        self._stage_table(cursor, table_plan)
                self._mdb_exports = None
            self._stage_regions(cursor)
            with self._timed("analyze"):
                # Statistics for the join keys only: sampling the wide text columns costs
                # seconds and the checks never filter on them.
                keys = {"dkbm", "fbfbm", "cbfbm", "cbhtbm", "cbjyqzbm", "lzhtbm", "bsm", "part", "rec"}
                for name, staged in [(p.staging, [f.name.lower() for f in p.fields]) for p in self.layers.values()] + [
                    (p.staging, [std.lower() for _, std in p.columns]) for p in self.tables.values()
                ]:
                    columns = [c for c in staged if c in keys]
                    if columns:
                        cursor.execute(f"ANALYZE {name} ({', '.join(columns)})")
        self._make_targets()

    def _create_helpers(self, cursor: CursorWrapper) -> None:
        """Temporary SQL functions for value checks that must not raise (PostgreSQL 15 has
        no ``pg_input_is_valid``)."""
        cursor.execute(
            r"""
            CREATE OR REPLACE FUNCTION pg_temp.nd_ymd_ok(y int, m int, d int) RETURNS boolean
            LANGUAGE sql IMMUTABLE AS $$
              SELECT CASE WHEN y BETWEEN 1 AND 9999 AND m BETWEEN 1 AND 12 AND d >= 1
                THEN d <= extract(day FROM make_date(y, m, 1) + interval '1 month - 1 day') ELSE false END $$;
            CREATE OR REPLACE FUNCTION pg_temp.nd_date_ok(t text) RETURNS boolean
            LANGUAGE sql IMMUTABLE AS $$
              SELECT CASE
                WHEN t ~ '^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$'
                  THEN pg_temp.nd_ymd_ok(substr(t, 1, 4)::int, substr(t, 6, 2)::int, substr(t, 9, 2)::int)
                WHEN t ~ '^\d{8}$'
                  THEN pg_temp.nd_ymd_ok(substr(t, 1, 4)::int, substr(t, 5, 2)::int, substr(t, 7, 2)::int)
                WHEN t ~ '^-?\d{1,7}(\.\d*)?([eE][-+]?\d+)?$'
                  THEN t::float8 BETWEEN -657434 AND 2958465
                ELSE false END $$;
            -- YYYY-MM-DD[ hh:mm:ss] (mdb-export), YYYYMMDD (Date 8 of the standard), or an
            -- Access day number (days since 1899-12-30; DateTime columns read as Double).
            CREATE OR REPLACE FUNCTION pg_temp.nd_date(t text) RETURNS date
            LANGUAGE sql IMMUTABLE AS $$
              SELECT CASE WHEN t ~ '^\d{8}$' THEN to_date(t, 'YYYYMMDD')
                WHEN t ~ '^-?\d{1,7}(\.\d*)?([eE][-+]?\d+)?$' THEN DATE '1899-12-30' + trunc(t::float8)::int
                ELSE substr(t, 1, 10)::date END $$;
            """
        )

    def _stage_layer(self, cursor: CursorWrapper, plan: LayerPlan) -> None:
        columns = ", ".join(f"{f.name.lower()} text" for f in plan.fields)
        cursor.execute(f"DROP TABLE IF EXISTS {plan.staging}")
        cursor.execute(
            f"CREATE TEMP TABLE {plan.staging} (part int, rec int, del text, {columns}, srid int, geom geometry)"
            " ON COMMIT DROP"
        )
        for part in plan.parts:
            try:
                self._stage_part(cursor, plan, part)
            except (OSError, ValueError, RuntimeError) as exc:
                # pyogrio/GDAL could not read a record: the COPY was cancelled with it, which
                # leaves the transaction unusable; report and reject.
                plan.complete = False
                self.report.structural("file_unreadable", f"读取失败：{exc}", file=part.file, layer=plan.name)
                raise Rejected from exc
            except DatabaseError as exc:
                # Text PostgreSQL cannot convert from the file's code page: the COPY is
                # aborted, and with it the transaction; report and reject.
                plan.complete = False
                self.report.structural(
                    "encoding",
                    f"按 {part.encoding.label} 写入失败：{str(exc).strip()}",
                    file=part.file,
                    layer=plan.name,
                )
                raise Rejected from exc
        self._check_utf8_heuristic(plan)

    def _stage_part(self, cursor: CursorWrapper, plan: LayerPlan, part: PartPlan) -> None:
        import pyogrio.raw

        assert part.parts.dbf is not None
        header = part.dbf
        n = header.records
        if n == 0:
            return
        mm = np.memmap(part.parts.dbf, dtype=np.uint8, mode="r", offset=header.header_len, shape=(n, header.record_len))
        key_field = next((part.fields[k] for k in LAYER_KEYS.get(plan.name, ("BSM",)) if k in part.fields), None)
        cursor.execute(f"SET client_encoding TO '{part.encoding.pg}'")
        try:
            with cursor.copy(f"COPY {plan.staging} FROM STDIN (FORMAT binary)") as copy:
                copy.write(_COPY_HEADER)
                for start in range(0, n, CHUNK):
                    block = np.array(mm[start : start + CHUNK])
                    m = len(block)
                    block[block == 0] = 0x20  # NUL padding (some writers) is a blank
                    flat = block.reshape(-1)
                    base = np.arange(m, dtype=np.int64) * header.record_len
                    cols: list[_Column] = [
                        _int4_column(np.full(m, part.parts.part)),
                        _int4_column(np.arange(start, start + m)),
                        _Column(np.ones(m, dtype=np.int64), flat, base.copy()),
                    ]
                    for spec in plan.fields:
                        dbf_field = part.fields.get(spec.name)
                        if dbf_field is None:
                            cols.append(_Column(np.full(m, -1, dtype=np.int64), flat, base.copy()))
                            continue
                        starts, lengths = _trimmed(block, dbf_field.offset, dbf_field.width, left=spec.kind == "N")
                        if spec.kind == "C":
                            self._check_text(plan, part, block, start, dbf_field, key_field, lengths)
                        cols.append(_Column(lengths, flat, base + starts))
                    cols.append(_int4_column(np.full(m, part.crs.epsg)))
                    cols.append(self._geometry_column(pyogrio.raw, plan, part, start, m))
                    copy.write(_binary_rows(m, cols))
                    self._advance(m, f"读取 {plan.name}")
                copy.write(_COPY_TRAILER)
        finally:
            with contextlib.suppress(DatabaseError):  # an aborted COPY leaves the transaction unusable
                cursor.execute("SET client_encoding TO 'UTF8'")
            del mm

    def _geometry_column(self, reader: Any, plan: LayerPlan, part: PartPlan, start: int, m: int) -> _Column:
        """WKB of records ``start``..``start+m`` (NULL for null shapes and deleted records).
        For a shapefile, skipping features positions GDAL on that record number, and
        deleted records are skipped while reading: the FIDs place each geometry."""
        _meta, fids, geometry, _fields = reader.read(
            str(part.parts.shp), columns=[], skip_features=start, max_features=m, return_fids=True, force_2d=True
        )
        wkb: list[bytes | None]
        if len(fids) == m and m and fids[0] == start and fids[-1] == start + m - 1:
            wkb = geometry.tolist()  # no deleted records: one geometry per record, in order
        else:
            wkb = [None] * m
            for fid, geom in zip(fids.tolist(), geometry.tolist(), strict=True):
                index = fid - start
                if 0 <= index < m:
                    wkb[index] = geom
        if None in wkb:
            lengths = np.fromiter((len(g) if g is not None else -1 for g in wkb), dtype=np.int64, count=m)
            blob = np.frombuffer(b"".join(g for g in wkb if g is not None) or b"\0", dtype=np.uint8)
        else:
            lengths = np.fromiter(map(len, wkb), dtype=np.int64, count=m)  # type: ignore[arg-type]
            blob = np.frombuffer(b"".join(wkb) or b"\0", dtype=np.uint8)  # type: ignore[arg-type]
        starts = np.zeros(m, dtype=np.int64)
        sizes = np.maximum(lengths, 0)
        np.cumsum(sizes[:-1], out=starts[1:])
        # Null shapes, and WKB too short to hold a coordinate (an empty geometry).
        plan.null_geoms += int(np.count_nonzero(lengths < 10))
        at = starts[lengths >= 10]
        if len(at):
            little = blob[at] == 1
            kinds = np.where(little, blob[at + 1], blob[at + 4])
            plan.wkb_types.update(int(k) for k in np.unique(kinds))
        return _Column(lengths, blob, starts)

    def _check_text(
        self,
        plan: LayerPlan,
        part: PartPlan,
        block: np.ndarray,
        start: int,
        dbf_field: DbfField,
        key_field: DbfField | None,
        lengths: np.ndarray,
    ) -> None:
        """Values with bytes >= 0x80 must decode in the file's code page; a value that does
        not is reported with its feature and staged as NULL (so the COPY goes on and the
        other problems are found too). GBK is checked for all rows at once against a table
        of its valid byte pairs; other code pages decode the distinct values."""
        offset, width = dbf_field.offset, dbf_field.width
        sub = block[:, offset : offset + width]
        high = (sub >= 0x80).any(axis=1)
        if not high.any():
            return
        plan.has_high = True
        rows = np.nonzero(high)[0]
        codec = part.encoding.codec
        values = np.ascontiguousarray(sub[rows])
        if codec == "utf-8":
            plan.maybe_utf8 = False  # read as UTF-8 already
        elif plan.maybe_utf8:
            self._try_utf8(plan, dbf_field, values, codec)
        pairs = _double_byte_pairs(codec)
        if pairs is not None:
            longest = int(lengths[rows].max())
            bad_mask, replaced_mask = _double_byte_check(values[:, : max(longest, 1)], *pairs)
            if not bad_mask.any() and not replaced_mask.any():
                return
            suspect = bad_mask | replaced_mask
            rows, values = rows[suspect], values[suspect]
        strings = values.view(f"S{width}").ravel()
        unique, inverse = np.unique(strings, return_inverse=True)
        inverse = inverse.ravel()
        for index, raw in enumerate(unique.tolist()):
            text = raw.rstrip(b" ")
            try:
                decoded = text.decode(codec)
            except UnicodeDecodeError as exc:
                bad_rows = rows[inverse == index]
                lengths[bad_rows] = -1
                try:
                    why = f"不是有效的 {part.encoding.label} 编码，实为 UTF-8 文字“{text.decode('utf-8')}”"
                except UnicodeDecodeError:
                    why = (
                        f"不是有效的 {part.encoding.label} 编码"
                        f"（第 {exc.start + 1} 字节 {text[exc.start : exc.start + 2].hex(' ')}）"
                    )
                for row in bad_rows.tolist():
                    self.report.structural(
                        "encoding",
                        f"字段 {dbf_field.name} 的文字{why}",
                        file=part.file,
                        layer=plan.name,
                        feature=self._feature_key(block, row, start, key_field),
                        field=dbf_field.name,
                    )
                continue
            if "\ufffd" in decoded:
                first = rows[inverse == index][0]
                self.report.quality(
                    "encoding",
                    f"字段 {dbf_field.name} 含有替换字符“\ufffd”（文字在此前的转换中已经丢失）：{decoded}",
                    file=part.file,
                    layer=plan.name,
                    feature=self._feature_key(block, int(first), start, key_field),
                    field=dbf_field.name,
                )

    @staticmethod
    def _try_utf8(plan: LayerPlan, dbf_field: DbfField, values: np.ndarray, codec: str) -> None:
        """Whether the layer's text might be UTF-8 read as ``codec``: decided by the first
        value that is not valid UTF-8 (GBK text practically never is); until then, a few
        samples are kept for the message."""
        for raw in np.unique(values.view(f"S{values.shape[1]}").ravel()).tolist():
            text = raw.rstrip(b" ")
            try:
                as_utf8 = text.decode("utf-8")
            except UnicodeDecodeError:
                plan.maybe_utf8 = False
                plan.utf8_samples.clear()
                return
            if len(plan.utf8_samples) < 5:
                plan.utf8_samples.append((dbf_field.name, text.decode(codec, errors="replace"), as_utf8))

    def _check_utf8_heuristic(self, plan: LayerPlan) -> None:
        """GBK text is practically never valid UTF-8: when every non-ASCII value of a layer
        read as GBK is valid UTF-8, the file is UTF-8 without a .cpg saying so, and loading
        it as GBK would store mojibake (``东村`` read as ``涓滄潙``)."""
        if plan.has_high and plan.maybe_utf8:
            encoding = plan.parts[0].encoding
            samples = "；".join(f"{f}：“{gbk}”应为“{utf8}”" for f, gbk, utf8 in plan.utf8_samples[:3])
            cause = "没有 .cpg 文件" if not encoding.declared else f".cpg 声明为“{encoding.declared}”"
            self.report.structural(
                "encoding",
                f"文字实为 UTF-8 编码，但{cause}，按 {encoding.codec.upper()} 读取会成为乱码"
                f"{'（' + samples + '）' if samples else ''}。请改为 GBK 编码，或补充内容为“UTF-8”的 .cpg 文件",
                file=plan.parts[0].file,
                layer=plan.name,
            )
            plan.complete = False

    @staticmethod
    def _feature_key(block: np.ndarray, row: int, start: int, key_field: DbfField | None) -> str:
        if key_field is not None:
            raw = bytes(block[row, key_field.offset : key_field.offset + key_field.width]).strip()
            text = raw.decode("ascii", errors="replace")
            if text:
                return text if key_field.name != "BSM" else f"BSM {text}"
        return f"#{start + row + 1}"

    def _stage_table(self, cursor: CursorWrapper, plan: TablePlan) -> None:
        assert self.package is not None and self.package.mdb is not None
        columns = ", ".join(f"{std.lower()} text" for _, std in plan.columns)
        cursor.execute(f"DROP TABLE IF EXISTS {plan.staging}")
        cursor.execute(
            f"CREATE TEMP TABLE {plan.staging} (rec bigint GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START 0), "
            f"{columns}) ON COMMIT DROP"
        )
        where = {"file": self.package.relative(self.package.mdb), "layer": plan.name}
        assert self._mdb_exports is not None
        try:
            header, stream = self._mdb_exports.open(plan.name)
            expected = [name for name, _ in plan.columns]
            if header != expected:
                raise PackageError(f"导出的列 {header} 与表结构 {expected} 不一致")
            self._copy_csv(cursor, plan, stream)
            if not self._merge_numerics(cursor, plan):
                cursor.execute(f"TRUNCATE {plan.staging} RESTART IDENTITY")
                self._stage_table_plainly(cursor, plan)
        except PackageError as exc:
            plan.complete = False
            self.report.structural(exc.rule, str(exc), **where)
        except DatabaseError as exc:
            self.report.structural("file_unreadable", f"数据表 {plan.name} 无法读取：{str(exc).strip()}", **where)
            raise Rejected from exc
        self._advance(5_000, f"读取 {plan.name}")

    def _merge_numerics(self, cursor: CursorWrapper, plan: TablePlan) -> bool:
        """Fill the Numeric columns that the export printed empty (see
        :class:`~layers.exchange.mdb.NumericColumns`) from their own reader, row by row, each
        row's key column compared. False when the reader failed or the rows disagree."""
        assert self._mdb_exports is not None
        try:
            found = self._mdb_exports.numeric_rows(plan.name)
        except PackageError as exc:
            logger.warning("%s: Numeric columns not read (%s); exporting the table as it is", plan.name, exc)
            return False
        if found is None:
            return True
        spec, stream = found
        std = {name.upper(): standard.lower() for name, standard in plan.columns}
        if spec.key.upper() not in std or any(n.upper() not in std for n in spec.names):
            return False
        side = f"{plan.staging}_numeric"
        columns = [std[n.upper()] for n in spec.names]
        cursor.execute(
            f"CREATE TEMP TABLE {side} (rec bigint GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START 0), "
            f"key text, {', '.join(f'{c} text' for c in columns)}) ON COMMIT DROP"
        )
        with cursor.copy(f"COPY {side} (key, {', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
            while data := stream.read(1 << 20):
                copy.write(data)
        key = std[spec.key.upper()]
        cursor.execute(
            f"UPDATE {plan.staging} s SET {', '.join(f'{c} = n.{c}' for c in columns)} FROM {side} n "
            f"WHERE n.rec = s.rec AND n.key IS NOT DISTINCT FROM s.{key}"
        )
        updated = cursor.rowcount
        cursor.execute(f"SELECT (SELECT count(*) FROM {plan.staging}), (SELECT count(*) FROM {side})")
        staged, read = cursor.fetchone()
        cursor.execute(f"DROP TABLE {side}")
        if updated == staged == read:
            return True
        logger.warning(
            "%s: %s rows exported, %s read for the Numeric columns, %s matched; exporting the table as it is",
            plan.name,
            staged,
            read,
            updated,
        )
        return False

    def _stage_table_plainly(self, cursor: CursorWrapper, plan: TablePlan) -> None:
        """The table exported with its Numeric columns printed by libmdb (slow, always right)."""
        assert self.package is not None and self.package.mdb is not None
        with (
            pkg.mdb_export_copy(self.package.mdb, [plan.name]) as (copy_path, _dates, _numerics),
            pkg.MdbExports(copy_path, [plan.name]) as exports,
        ):
            _header, stream = exports.open(plan.name)
            self._copy_csv(cursor, plan, stream)

    @staticmethod
    def _copy_csv(cursor: CursorWrapper, plan: TablePlan, stream: IO[bytes]) -> None:
        names = ", ".join(std.lower() for _, std in plan.columns)
        with cursor.copy(f"COPY {plan.staging} ({names}) FROM STDIN (FORMAT csv)") as copy:
            while data := stream.read(1 << 20):
                copy.write(data)

    def _stage_regions(self, cursor: CursorWrapper) -> None:
        """Regions of the county from the region layers (with shapes) and the 权属单位代码表
        (names; full names cut to the part below the parent), and the province and city rows
        above the county that the table lists (e.g. ``31000000000000 上海市``)."""
        assert self.package is not None
        county = self.package.county_code
        cursor.execute("DROP TABLE IF EXISTS stg_region")
        cursor.execute(
            "CREATE TEMP TABLE stg_region (code text, name text, level text, bsm text, srid int, geom geometry,"
            " source text, part int, rec int) ON COMMIT DROP"
        )
        full_names: dict[str, str] = {}
        rows: list[tuple[str, str, str]] = []
        for _number, code14, name in sorted(self.code_table, key=lambda r: r[1]):
            if code14[2:] == "000000000000" and county.startswith(code14[:2]):
                code, level = code14[:2], "province"
            elif code14[4:] == "0000000000" and county.startswith(code14[:4]):
                code, level = code14[:4], "city"
            elif not code14.startswith(county):
                continue
            elif code14[6:] == "00000000":
                code, level = code14[:6], "county"
            elif code14[9:] == "00000":
                code, level = code14[:9], "town"
            elif code14[12:] == "00":
                code, level = code14[:12], "village"
            else:
                code, level = code14, "group"
            full_names[code] = name
            if level in ("province", "city", "county"):
                parent = next((code[:n] for n in (4, 2) if n < len(code) and code[:n] in full_names), "")
            else:
                parent = {"town": code[:6], "village": code[:9], "group": code[:12]}[level]
            short = name
            parent_name = full_names.get(parent, "")
            if parent_name and name.startswith(parent_name) and len(name) > len(parent_name):
                short = name[len(parent_name) :]
            rows.append((code, short[:100], level))
        if not any(level == "county" for _, _, level in rows):
            rows.append((county, self.package.county_name or county, "county"))
        with cursor.copy("COPY stg_region (code, name, level, source) FROM STDIN") as copy:
            for code, name, level in rows:
                copy.write_row((code, name, level, "代码表"))
        for layer, (level, code_field, name_field) in REGION_LAYERS.items():
            plan = self.layers.get(layer)
            if plan is None:
                continue
            names = {f.name for f in plan.fields}
            code_sql = f"s.{code_field.lower()}" if code_field in names else "NULL"
            name_sql = f"s.{name_field.lower()}" if name_field in names else "NULL"
            bsm_sql = "s.bsm" if "BSM" in names else "NULL"
            cursor.execute(
                f"INSERT INTO stg_region (code, name, level, bsm, srid, geom, source, part, rec) "
                f"SELECT {code_sql}, {name_sql}, %s, {bsm_sql}, s.srid, s.geom, %s, s.part, s.rec "
                f"FROM {plan.staging} s WHERE s.del IS DISTINCT FROM '*'",
                [level, layer],
            )

    # -- 3. checks ------------------------------------------------------------------------------

    def _make_targets(self) -> None:
        assert self.package is not None
        county = self.package.county_code
        for name, plan in self.layers.items():
            if name in REGION_LAYERS:
                continue
            model = _apps_model(SHAPE_LAYERS[name].model)
            available = {f.name for f in plan.fields}
            columns = {f.name.lower(): f"s.{f.name.lower()}" for f in plan.fields}
            extra: dict[str, str] = {}
            if any(f.column == "xzqdm" for f in model._meta.concrete_fields):
                extra["xzqdm"] = f"'{county}'"  # six digits, checked when the package was found
            self.targets[name] = Target(
                key=name,
                model=model,
                staging=plan.staging,
                columns=columns,
                label=_key_label(LAYER_KEYS.get(name, ("BSM",)), available),
                file=plan.parts[0].file,
                layer_plan=plan,
                extra=extra,
                where="s.del IS DISTINCT FROM '*'",
            )
        assert self.package.mdb is not None
        mdb_file = self.package.relative(self.package.mdb)
        for name in TABLE_LOAD_ORDER:
            table_plan = self.tables.get(name)
            if table_plan is None:
                continue
            model = _apps_model(TABLE_MODELS[name])
            columns = {std.lower(): f"s.{std.lower()}" for _, std in table_plan.columns}
            available = {std for _, std in table_plan.columns}
            extra = {}
            if name == "CBF":
                extra["fbfbm"] = "left(s.cbfbm, 14)"  # the collective: CBFBM's prefix
            label_keys = [k for k in TABLE_KEYS[name] if k in available]
            label = " || '/' || ".join(f"COALESCE(s.{k.lower()}, '?')" for k in label_keys) or "'#' || (s.rec + 1)"
            self.targets[name] = Target(
                name, model, table_plan.staging, columns, label, mdb_file, extra=extra, table_plan=table_plan
            )

    def _check_all(self) -> None:
        self.progress("校验", 0.72)
        sweep = self._start_overlap_sweep()
        try:
            self._check_sql()
            if sweep is not None and not self.report.has_structural:
                self.progress("检查地块重叠", 0.8)
                with self._timed("overlaps wait"):
                    found = sweep.result()
                self.report.timings["overlaps"] = found.seconds  # beside the SQL checks when in a process
                if not sweep.in_process:
                    self.report.helper_peak_mb["overlaps"] = found.peak_mb
                for file, feature, message in found.findings:
                    self.report.quality("overlap", message, file=file, layer="DK", feature=feature)
                if found.findings:
                    self.report.note(f"地块重叠检查：{len(found.findings)} 对地块重叠（容差 {OVERLAP_TOLERANCE_M} m）")
        finally:
            if sweep is not None:
                sweep.close()  # still running when the checks failed or found the package unusable

    def _check_sql(self) -> None:
        with connection.cursor() as cursor:
            for target in self.targets.values():
                if not target.complete:
                    continue
                with self._timed(f"check {target.key}"):
                    self._check_values(cursor, target)
                    self._check_unique(cursor, target)
                    self._check_references(cursor, target)
            with self._timed("check regions"):
                self._check_regions(cursor)
            with self._timed("check geometry"):
                self._check_layers(cursor)
            with self._timed("check between tables"):
                self._check_tables(cursor)

    def _emit(
        self,
        cursor: CursorWrapper,
        sql: str,
        params: Sequence[Any],
        *,
        severity: Severity,
        rule: str,
        target: Target,
        message: str | Callable[[tuple[Any, ...]], str],
        field: str = "",
    ) -> None:
        """Run a check query returning ``(part, feature, detail…)`` rows and report each."""
        started = time.perf_counter()
        cursor.execute(f"SELECT * FROM ({sql}) q LIMIT %s", [*params, MAX_PER_RULE + 1])
        if PROFILE:
            key = f"  {rule} {target.key} {field}"
            self.report.timings[key] = self.report.timings.get(key, 0.0) + time.perf_counter() - started
        for row in cursor.fetchall():
            text = message(row) if callable(message) else message.format(*row[2:])
            file = target.layer_plan.file_of(row[0]) if target.layer_plan and row[0] is not None else target.file
            self.report.add(severity, rule, text, file=file, layer=target.key, feature=str(row[1]), field=field)

    def _part_sql(self, target: Target) -> str:
        return "s.part" if target.layer_plan is not None else "NULL::int"

    def _check_values(self, cursor: CursorWrapper, target: Target) -> None:
        """Per column, from the model field it loads into: width, number/date format and
        range, required values, code-table values. One scan of the staged table; each
        check's problems are capped in SQL."""
        checks: list[tuple[Severity, str, str, str, str]] = []  # severity, rule, column, condition, message
        for model_field in target.model._meta.concrete_fields:
            source = target.columns.get(model_field.column)
            if source is None or isinstance(model_field, gis_models.GeometryField):
                continue
            std = model_field.column.upper()
            kind = model_field.get_internal_type()
            if isinstance(model_field, models.ForeignKey):
                kind = model_field.target_field.get_internal_type()
            text_kind = kind in ("CharField", "TextField")
            if text_kind:
                max_length = model_field.max_length
                if max_length:
                    checks.append(
                        (
                            STRUCTURAL,
                            "value_length",
                            std,
                            f"char_length({source}) > {int(max_length)}",
                            f"{std} 的值长度超过 {max_length} 个字符，无法保存",
                        )
                    )
                if not model_field.null:
                    checks.append((QUALITY, "required", std, f"COALESCE({source}, '') = ''", f"必填字段 {std} 为空"))
                for validator in model_field.validators:
                    if isinstance(validator, InCodeTable):
                        checks.append(
                            (
                                QUALITY,
                                "domain",
                                std,
                                f"{source} <> '' AND {source} NOT IN "
                                f"(SELECT code FROM code_item WHERE \"table\" = '{validator.table}')",
                                f"{std} 的值不在代码表 {validator.table} 中",
                            )
                        )
                continue
            if not model_field.null:
                checks.append((STRUCTURAL, "required", std, f"{source} IS NULL", f"必填字段 {std} 为空，无法保存"))
            if isinstance(model_field, models.DecimalField):
                digits = model_field.max_digits - model_field.decimal_places
                checks.append(
                    (
                        STRUCTURAL,
                        "value_format",
                        std,
                        rf"CASE WHEN {source} ~ '^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$' "
                        f"THEN abs({source}::numeric) >= 1e{digits} ELSE {source} IS NOT NULL END",
                        f"{std} 不是有效的数值（最多 {digits} 位整数）",
                    )
                )
            elif kind in ("IntegerField", "SmallIntegerField", "BigIntegerField", "PositiveIntegerField"):
                limit = {"SmallIntegerField": 32767, "BigIntegerField": 9_223_372_036_854_775_807}.get(
                    kind, 2_147_483_647
                )
                checks.append(
                    (
                        STRUCTURAL,
                        "value_format",
                        std,
                        rf"CASE WHEN {source} ~ '^[-+]?\d{{1,18}}(\.0*)?$' THEN abs({source}::numeric) > {limit} "
                        f"ELSE {source} IS NOT NULL END",
                        f"{std} 不是有效的整数",
                    )
                )
            elif kind == "DateField":
                checks.append(
                    (
                        STRUCTURAL,
                        "value_format",
                        std,
                        f"{source} IS NOT NULL AND NOT pg_temp.nd_date_ok({source})",
                        f"{std} 不是有效的日期（应为 YYYY-MM-DD 或 YYYYMMDD）",
                    )
                )
        if not checks:
            return
        cases = ", ".join(f"CASE WHEN {cond} THEN {i} END" for i, (_, _, _, cond, _) in enumerate(checks))
        # One scan: each row yields the numbers of the checks it fails; each check's rows
        # are capped in SQL so that a county-wide fault does not flood the report.
        sql = (
            f"SELECT c, part, feature FROM ("
            f"  SELECT c, part, feature, row_number() OVER (PARTITION BY c) AS n FROM ("
            f"    SELECT part, feature, unnest(cs) AS c FROM ("
            f"      SELECT {self._part_sql(target)} AS part, {target.label} AS feature, "
            f"        array_remove(ARRAY[{cases}], NULL) AS cs FROM {target.staging} s WHERE {target.where}"
            f"    ) x WHERE cardinality(cs) > 0"
            f"  ) y"
            f") z WHERE n <= {MAX_PER_RULE}"
        )
        cursor.execute(sql)
        for c, part, feature in cursor.fetchall():
            severity, rule, std, _cond, message = checks[c]
            file = target.layer_plan.file_of(part) if target.layer_plan and part is not None else target.file
            self.report.add(severity, rule, message, file=file, layer=target.key, feature=str(feature), field=std)

    def _check_unique(self, cursor: CursorWrapper, target: Target) -> None:
        for model_field in target.model._meta.concrete_fields:
            if not model_field.unique or model_field.primary_key:
                continue
            source = target.columns.get(model_field.column)
            if source is None:
                continue
            std = model_field.column.upper()
            self._emit(
                cursor,
                f"SELECT {self._part_sql(target)}, {target.label}, d.n FROM {target.staging} s "
                f"JOIN (SELECT {source} AS v, count(*) AS n FROM {target.staging} s WHERE {target.where} "
                f"GROUP BY 1 HAVING count(*) > 1) d ON d.v = {source} WHERE {target.where}",
                [],
                severity=STRUCTURAL,
                rule="duplicate_key",
                target=target,
                message=f"{std} 重复（共出现 {{0}} 次）",
                field=std,
            )

    def _staging_of(self, model: type[models.Model]) -> tuple[Target, str] | None:
        for target in self.targets.values():
            if target.model is model:
                code = next((f for f in model._meta.concrete_fields if f.unique and not f.primary_key), None)
                if code is not None and code.column in target.columns:
                    return target, target.columns[code.column]
        return None

    def _check_references(self, cursor: CursorWrapper, target: Target) -> None:
        """Every foreign key on a code must find its row in the package (the database's
        keys would refuse the load otherwise): structural. Every code must belong to the
        package's county."""
        assert self.package is not None
        county = self.package.county_code
        for model_field in target.model._meta.concrete_fields:
            if not isinstance(model_field, models.ForeignKey):
                continue
            source = target.extra.get(model_field.column) or target.columns.get(model_field.column)
            related = model_field.related_model
            if source is None or not isinstance(related, type) or related._meta.label == "parcels.Region":
                continue
            std = model_field.column.upper()
            found = self._staging_of(related)  # type: ignore[arg-type]
            if found is None:
                other_key = next((k for k, t in TABLE_MODELS.items() if t == related._meta.label), related.__name__)
                other = self.targets.get(other_key)
                if other is None:
                    self.report.structural(
                        "reference",
                        f"{target.key}.{std} 引用的 {other_key} 在数据包中不存在（缺少该表或其代码字段）",
                        file=target.file,
                        layer=target.key,
                        field=std,
                    )
                continue
            other, other_source = found
            if not other.complete:
                continue
            self._emit(
                cursor,
                f"SELECT {self._part_sql(target)}, {target.label}, {source} FROM {target.staging} s "
                f"WHERE {target.where} AND {source} <> '' AND NOT EXISTS (SELECT 1 FROM {other.staging} s2 "
                f"WHERE {other_source.replace('s.', 's2.', 1)} = {source})",
                [],
                severity=STRUCTURAL,
                rule="reference",
                target=target,
                message=f"{std}“{{0}}”在 {other.key} 中不存在",
                field=std,
            )
        code_columns = [
            f
            for f in target.model._meta.concrete_fields
            if (f.unique and not f.primary_key)
            or (isinstance(f, models.ForeignKey) and f.related_model._meta.label != "parcels.Region")  # type: ignore[union-attr]
        ]
        for model_field in code_columns:
            source = target.extra.get(model_field.column) or target.columns.get(model_field.column)
            if source is None:
                continue
            std = model_field.column.upper()
            self._emit(
                cursor,
                f"SELECT {self._part_sql(target)}, {target.label}, {source} FROM {target.staging} s "
                f"WHERE {target.where} AND {source} <> '' AND left({source}, 6) <> %s",
                [county],
                severity=STRUCTURAL,
                rule="out_of_county",
                target=target,
                message=f"{std}“{{0}}”不属于本县 {county}",
                field=std,
            )

    def _geometry_checks(self, cursor: CursorWrapper, target: Target) -> None:
        """Shape rules of one layer in one scan of the staged rows (each geometry detoasted
        once): missing or empty, a type the register cannot hold, parts, validity."""
        geom_field = next(f for f in target.model._meta.concrete_fields if isinstance(f, gis_models.GeometryField))
        kind = geom_field.geom_type.upper()
        allowed = {
            "MULTIPOLYGON": ("POLYGON", "MULTIPOLYGON"),
            "POLYGON": ("POLYGON",),
            "POINT": ("POINT", "MULTIPOINT"),
            "LINESTRING": ("LINESTRING", "MULTILINESTRING"),
            "MULTILINESTRING": ("LINESTRING", "MULTILINESTRING"),
        }[kind]
        names = ", ".join(f"'{a}'" for a in allowed)
        # (severity, rule, condition on g = the geometry, detail, message with {0} = detail)
        checks: list[tuple[Severity, str, str, str, str]] = [
            (STRUCTURAL, "geometry_missing", "g IS NULL OR ST_IsEmpty(g)", "''", "要素没有图形（空图形），无法保存"),
            (
                STRUCTURAL,
                "geometry_type",
                f"NOT ST_IsEmpty(g) AND GeometryType(g) NOT IN ({names})",
                "GeometryType(g)",
                "图形类型 {0} 不符合图层要求",
            ),
        ]
        if kind == "POINT":
            checks.append(
                (
                    STRUCTURAL,
                    "geometry_multipart",
                    "GeometryType(g) = 'MULTIPOINT' AND ST_NumGeometries(g) <> 1",
                    "ST_NumGeometries(g)::text",
                    "点要素包含 {0} 个点，只能保存一个",
                )
            )
        if kind == "LINESTRING":
            checks.append(
                (
                    STRUCTURAL,
                    "geometry_multipart",
                    "GeometryType(g) = 'MULTILINESTRING' AND GeometryType(ST_LineMerge(g)) <> 'LINESTRING'",
                    "ST_NumGeometries(g)::text",
                    "线要素由 {0} 段不相连的线组成，只能保存一条线",
                )
            )
        if kind in ("MULTIPOLYGON", "POLYGON"):
            checks.append(
                (
                    QUALITY,
                    "geometry_invalid",
                    "NOT ST_IsEmpty(g) AND GeometryType(g) IN ('POLYGON', 'MULTIPOLYGON') AND NOT ST_IsValid(g)",
                    "ST_IsValidReason(g)",
                    "图形无效：{0}",
                )
            )
            checks.append(
                (
                    QUALITY,
                    "geometry_multipart",
                    "GeometryType(g) = 'MULTIPOLYGON' AND ST_NumGeometries(g) > 1",
                    "ST_NumGeometries(g)::text",
                    "图形由 {0} 个部分组成（地块应为单个多边形）",
                )
            )
        plan = target.layer_plan
        if plan is not None:
            # Skip what the WKB headers seen while staging rule out (2-D ISO/OGC type codes:
            # 1 point, 2 line, 3 polygon, 4-6 their multi forms).
            codes = WKB_TYPES
            allowed_codes = {codes[a] for a in allowed}
            wanted = {"geometry_invalid"}
            if plan.null_geoms:
                wanted.add("geometry_missing")
            if plan.wkb_types - allowed_codes or not plan.wkb_types <= set(codes.values()):
                wanted.add("geometry_type")
            if plan.wkb_types & {4, 5, 6}:
                wanted.add("geometry_multipart")
            checks = [c for c in checks if c[1] in wanted]
            if not checks:
                return
        cases = ", ".join(f"CASE WHEN {cond} THEN {i} END" for i, (_, _, cond, _, _) in enumerate(checks))
        details = " ".join(f"WHEN {i} THEN {detail}" for i, (_, _, _, detail, _) in enumerate(checks))
        cursor.execute(
            f"SELECT c, part, feature, CASE c {details} END FROM ("
            f"  SELECT c, part, feature, g, row_number() OVER (PARTITION BY c) AS n FROM ("
            f"    SELECT part, feature, g, unnest(cs) AS c FROM ("
            f"      SELECT part, feature, g, array_remove(ARRAY[{cases}], NULL) AS cs FROM ("
            f"        SELECT {self._part_sql(target)} AS part, {target.label} AS feature, s.geom AS g "
            f"        FROM {target.staging} s WHERE {target.where}) w"
            f"    ) x WHERE cardinality(cs) > 0"
            f"  ) y"
            f") z WHERE n <= {MAX_PER_RULE}"
        )
        for c, part, feature, detail in cursor.fetchall():
            severity, rule, _cond, _detail, message = checks[c]
            file = target.layer_plan.file_of(part) if target.layer_plan and part is not None else target.file
            self.report.add(
                severity, rule, message.format(detail or ""), file=file, layer=target.key, feature=str(feature)
            )

    def _check_layers(self, cursor: CursorWrapper) -> None:
        for name, target in self.targets.items():
            plan = target.layer_plan
            if plan is None or not plan.complete:
                continue
            with self._timed(f"check geometry {name}"):
                self._geometry_checks(cursor, target)
            if "ysdm" in target.columns:
                code = SHAPE_LAYERS[name].feature_code
                self._emit(
                    cursor,
                    f"SELECT {self._part_sql(target)}, {target.label}, s.ysdm FROM {target.staging} s "
                    f"WHERE {target.where} AND s.ysdm IS DISTINCT FROM %s",
                    [code],
                    severity=QUALITY,
                    rule="feature_code",
                    target=target,
                    message=f"要素代码 YSDM 为“{{0}}”，{SHAPE_LAYERS[name].title}应为 {code}",
                    field="YSDM",
                )
        dk = self.targets.get("DK")
        if dk is not None and dk.layer_plan is not None and dk.layer_plan.complete:
            self._check_parcels(cursor, dk)
        for name in ("JZD", "JZX"):
            points = self.targets.get(name)
            if points is None or dk is None or "dkbm" not in points.columns or "dkbm" not in dk.columns:
                continue
            self._emit(
                cursor,
                f"SELECT s.part, {points.label}, c FROM {points.staging} s, "
                f"LATERAL unnest(string_to_array(s.dkbm, '/')) AS c WHERE {points.where} AND c <> '' "
                f"AND NOT EXISTS (SELECT 1 FROM {dk.staging} d WHERE d.dkbm = c)",
                [],
                severity=QUALITY,
                rule="reference",
                target=points,
                message="DKBM 中的地块“{0}”在地块图层中不存在",
                field="DKBM",
            )

    def _check_parcels(self, cursor: CursorWrapper, dk: Target) -> None:
        base = f"FROM {dk.staging} s WHERE {dk.where}"
        label = f"s.part, {dk.label}"
        self._emit(
            cursor,
            rf"SELECT {label}, s.dkbm {base} AND s.dkbm !~ '^\d{{14}}(?!00000)\d{{5}}$'",
            [],
            severity=STRUCTURAL,
            rule="code_format",
            target=dk,
            message=lambda row: f"地块代码“{row[2]}”不符合19位编码规则（发包方代码14位 + 地块顺序码5位，不为00000），"
            f"实际为 {len(row[2] or '')} 位",
            field="DKBM",
        )
        numeric = r"'^[-+]?(\d+\.?\d*|\.\d+)$'"
        self._emit(
            cursor,
            f"SELECT {label}, s.scmj {base} AND s.scmj ~ {numeric} AND s.scmj::numeric <= 0",
            [],
            severity=STRUCTURAL,
            rule="constraint",
            target=dk,
            message="实测面积 SCMJ 为 {0}，应大于0",
            field="SCMJ",
        )
        if "scmjm" in dk.columns:
            self._emit(
                cursor,
                f"SELECT {label}, s.scmjm, s.scmj {base} AND s.scmj ~ {numeric} AND s.scmjm ~ {numeric} "
                f"AND abs(s.scmjm::numeric - round(s.scmj::numeric * {MU_PER_SQM}, 2)) > {MU_TOLERANCE}",
                [],
                severity=QUALITY,
                rule="mu_mismatch",
                target=dk,
                message="实测面积（亩）SCMJM 为 {0}，与 SCMJ {1} m² × 0.0015 不符",
                field="SCMJM",
            )
        self._emit(
            cursor,
            f"SELECT {label}, s.scmj, round(ST_Area(s.geom)::numeric, 2) {base} AND s.scmj ~ {numeric} "
            f"AND s.geom IS NOT NULL AND GeometryType(s.geom) IN ('POLYGON', 'MULTIPOLYGON') "
            f"AND abs(s.scmj::numeric - ST_Area(s.geom)::numeric) > "
            f"greatest({AREA_TOLERANCE_SQM}, {AREA_TOLERANCE_REL} * abs(s.scmj::numeric))",
            [],
            severity=QUALITY,
            rule="area_mismatch",
            target=dk,
            message="实测面积 SCMJ 为 {0} m²，图形面积为 {1} m²",
            field="SCMJ",
        )
        fbf = self.targets.get("FBF")
        if fbf is not None and "fbfbm" in fbf.columns:
            self._emit(
                cursor,
                f"SELECT {label}, left(s.dkbm, 14) {base} AND length(s.dkbm) = 19 AND NOT EXISTS "
                f"(SELECT 1 FROM {fbf.staging} f WHERE f.fbfbm = left(s.dkbm, 14))",
                [],
                severity=QUALITY,
                rule="reference",
                target=dk,
                message="地块所属的发包方 {0} 在发包方表中不存在",
                field="DKBM",
            )
        if "bsm" in dk.columns:
            self._emit(
                cursor,
                f"SELECT {label}, d.n FROM {dk.staging} s JOIN (SELECT bsm, count(*) n FROM {dk.staging} s "
                f"WHERE {dk.where} AND bsm IS NOT NULL GROUP BY bsm HAVING count(*) > 1) d ON d.bsm = s.bsm "
                f"WHERE {dk.where}",
                [],
                severity=QUALITY,
                rule="duplicate_key",
                target=dk,
                message="标识码 BSM 重复（共出现 {0} 次）",
                field="BSM",
            )

    def _check_regions(self, cursor: CursorWrapper) -> None:
        assert self.package is not None
        county = self.package.county_code
        lengths = {"province": 2, "city": 4, "county": 6, "town": 9, "village": 12, "group": 14}
        cursor.execute(
            "SELECT source, part, rec, code, level FROM stg_region WHERE code IS NULL OR NOT ("
            r"(level = 'county' AND code ~ '^\d{6}$') OR (level = 'town' AND code ~ '^\d{9}$') OR "
            r"(level = 'village' AND code ~ '^\d{12}$') OR (level = 'group' AND code ~ '^\d{14}$') OR "
            r"(level IN ('province', 'city') AND source = '代码表')) "
            "OR (left(code, 6) <> %s AND level NOT IN ('province', 'city')) LIMIT %s",
            [county, MAX_PER_RULE],
        )
        for source, part, rec, code, level in cursor.fetchall():
            plan = self.layers.get(source)
            file = plan.file_of(part) if plan else self.package.relative(self.package.code_table or self.package.root)
            self.report.structural(
                "code_format",
                f"区域代码“{code or ''}”应为本县（{county}）的{lengths[level]}位数字代码",
                file=file,
                layer=source,
                feature=code or f"#{(rec or 0) + 1}",
            )
        cursor.execute(
            "SELECT source, min(part), code, count(*) FROM stg_region WHERE source <> '代码表' "
            "GROUP BY source, code HAVING count(*) > 1"
        )
        for source, part, code, n in cursor.fetchall():
            plan = self.layers[source]
            self.report.structural(
                "duplicate_key", f"区域代码 {code} 重复（{n} 次）", file=plan.file_of(part), layer=source, feature=code
            )
        cursor.execute(
            "SELECT source, part, code, GeometryType(geom) FROM stg_region WHERE source <> '代码表' AND "
            "(geom IS NULL OR ST_IsEmpty(geom) OR GeometryType(geom) NOT IN ('POLYGON', 'MULTIPOLYGON'))"
        )
        for source, part, code, kind in cursor.fetchall():
            plan = self.layers[source]
            self.report.structural(
                "geometry_missing" if kind is None else "geometry_type",
                "区域没有图形" if kind is None else f"区域图形类型 {kind} 不是多边形",
                file=plan.file_of(part),
                layer=source,
                feature=code or "",
            )

    def _check_tables(self, cursor: CursorWrapper) -> None:
        """Rules between and within the ownership tables that the generic checks miss."""
        t = self.targets
        numeric = r"'^[-+]?(\d+\.?\d*|\.\d+)$'"

        def emit(key: str, sql: str, severity: Severity, rule: str, message: str, field: str = "") -> None:
            target = t[key]
            self._emit(
                cursor,
                f"SELECT NULL::int, {target.label}, {sql}",
                [],
                severity=severity,
                rule=rule,
                target=target,
                message=message,
                field=field,
            )

        def has(key: str, *columns: str) -> bool:
            return key in t and t[key].complete and all(c in t[key].columns for c in columns)

        if has("FBF", "fbfbm"):
            emit(
                "FBF",
                r"s.fbfbm FROM stg_fbf s WHERE s.fbfbm !~ '^\d{6}(?!000)\d{3}(?!000)\d{3}\d{2}$'",
                QUALITY,
                "code_format",
                "发包方代码“{0}”应为14位：县6位 + 乡3位 + 村3位 + 组2位（乡、村不为000）",
                "FBFBM",
            )
            if self.code_table:
                codes = [c for _, c, _ in self.code_table]
                cursor.execute("CREATE TEMP TABLE IF NOT EXISTS stg_code14 (code text) ON COMMIT DROP")
                cursor.execute("TRUNCATE stg_code14")
                with cursor.copy("COPY stg_code14 (code) FROM STDIN") as copy:
                    for code in codes:
                        copy.write_row((code,))
                emit(
                    "FBF",
                    "s.fbfbm FROM stg_fbf s WHERE length(s.fbfbm) = 14 AND NOT EXISTS (SELECT 1 FROM stg_code14 c "
                    "WHERE c.code = s.fbfbm OR c.code = left(s.fbfbm, 12) || '00')",
                    QUALITY,
                    "consistency",
                    "发包方“{0}”不在权属单位代码表中",
                    "FBFBM",
                )
        if has("CBF", "cbfbm", "cbflx"):
            emit(
                "CBF",
                r"s.cbfbm, s.cbflx FROM stg_cbf s WHERE s.cbfbm !~ '^\d{14}(?!0000)\d{4}$' "
                "OR (s.cbflx IN ('1','2','3') "
                "AND NOT CASE s.cbflx WHEN '1' THEN right(s.cbfbm, 4) BETWEEN '0001' AND '8000' "
                "WHEN '2' THEN right(s.cbfbm, 4) BETWEEN '8001' AND '9000' ELSE right(s.cbfbm, 4) >= '9001' END)",
                QUALITY,
                "code_format",
                "承包方代码“{0}”应为发包方代码 + 4位顺序码，且顺序码符合承包方类型 {1}"
                "（农户0001-8000，个人8001-9000，单位9001-9999）",
                "CBFBM",
            )
        if has("CBF", "cbfcysl"):
            emit(
                "CBF",
                f"s.cbfcysl FROM stg_cbf s WHERE s.cbfcysl ~ {numeric} AND s.cbfcysl::numeric <= 0",
                STRUCTURAL,
                "constraint",
                "承包方成员数量 CBFCYSL 为 {0}，应大于0",
                "CBFCYSL",
            )
        if has("CBF", "cbfbm", "cbflx", "cbfcysl") and has("CBF_JTCY", "cbfbm"):
            emit(
                "CBF",
                f"s.cbfcysl, COALESCE(m.n, 0) FROM stg_cbf s LEFT JOIN (SELECT cbfbm, count(*) AS n "
                f"FROM stg_cbf_jtcy GROUP BY cbfbm) m ON m.cbfbm = s.cbfbm "
                f"WHERE s.cbflx = '1' AND s.cbfcysl ~ {numeric} AND s.cbfcysl::numeric <> COALESCE(m.n, 0)",
                QUALITY,
                "consistency",
                "农户的成员数量 CBFCYSL 为 {0}，家庭成员表中有 {1} 人",
                "CBFCYSL",
            )
        if has("CBF_JTCY", "cbfbm", "yhzgx") and has("CBF", "cbfbm", "cbflx"):
            emit(
                "CBF",
                "s.cbfbm FROM stg_cbf s WHERE s.cbflx = '1' AND EXISTS (SELECT 1 FROM stg_cbf_jtcy j "
                "WHERE j.cbfbm = s.cbfbm) AND NOT EXISTS (SELECT 1 FROM stg_cbf_jtcy j WHERE j.cbfbm = s.cbfbm "
                "AND j.yhzgx IN ('01', '02'))",
                QUALITY,
                "consistency",
                "农户 {0} 的家庭成员中没有户主（与户主关系 01 本人 或 02 户主）",
                "YHZGX",
            )
        for key in ("CBHT", "CBJYQZDJB"):
            if has(key, "cbqxq", "cbqxz"):
                emit(
                    key,
                    "s.cbqxq, s.cbqxz FROM "
                    f"{t[key].staging} s WHERE pg_temp.nd_date_ok(s.cbqxq) AND pg_temp.nd_date_ok(s.cbqxz) "
                    "AND pg_temp.nd_date(s.cbqxq) >= pg_temp.nd_date(s.cbqxz)",
                    STRUCTURAL,
                    "constraint",
                    "承包期限起 {0} 不早于承包期限止 {1}",
                    "CBQXZ",
                )
        if has("LZHT", "lzqxksrq", "lzqxjsrq"):
            emit(
                "LZHT",
                "s.lzqxksrq, s.lzqxjsrq FROM stg_lzht s WHERE pg_temp.nd_date_ok(s.lzqxksrq) AND "
                "pg_temp.nd_date_ok(s.lzqxjsrq) AND pg_temp.nd_date(s.lzqxksrq) >= pg_temp.nd_date(s.lzqxjsrq)",
                STRUCTURAL,
                "constraint",
                "流转期限开始日期 {0} 不早于结束日期 {1}",
                "LZQXJSRQ",
            )
        if has("LZHT", "lzhtbm"):
            emit(
                "LZHT",
                r"s.lzhtbm FROM stg_lzht s WHERE s.lzhtbm !~ '^\d{14}(?!0000)\d{4}$'",
                QUALITY,
                "code_format",
                "流转合同代码“{0}”应为发包方代码14位 + 合同顺序码4位",
                "LZHTBM",
            )
        if has("CBHT", "cbhtbm"):
            emit(
                "CBHT",
                r"s.cbhtbm FROM stg_cbht s WHERE s.cbhtbm !~ '^\d{18}[JQ]$'",
                STRUCTURAL,
                "code_format",
                "承包合同代码“{0}”应为承包方代码18位 + J（家庭承包）或 Q（其他方式）",
                "CBHTBM",
            )
            if has("CBHT", "cbfs"):
                emit(
                    "CBHT",
                    r"s.cbhtbm, s.cbfs FROM stg_cbht s WHERE s.cbhtbm ~ '^\d{18}[JQ]$' AND s.cbfs <> '' AND "
                    "right(s.cbhtbm, 1) <> CASE WHEN s.cbfs = '110' THEN 'J' ELSE 'Q' END",
                    QUALITY,
                    "code_format",
                    "承包合同代码“{0}”的后缀与承包方式 {1} 不符（家庭承包110为J，其他为Q）",
                    "CBHTBM",
                )
            if has("CBHT", "cbfbm"):
                emit(
                    "CBHT",
                    "s.cbhtbm, s.cbfbm FROM stg_cbht s WHERE left(s.cbhtbm, 18) <> s.cbfbm",
                    QUALITY,
                    "consistency",
                    "承包合同代码“{0}”的前18位应为承包方代码 {1}",
                    "CBFBM",
                )
            if has("CBDKXX", "cbhtbm") and has("CBHT", "cbdkzs"):
                emit(
                    "CBHT",
                    f"s.cbdkzs, COALESCE(x.n, 0) FROM stg_cbht s LEFT JOIN (SELECT cbhtbm, count(*) AS n "
                    f"FROM stg_cbdkxx GROUP BY cbhtbm) x ON x.cbhtbm = s.cbhtbm "
                    f"WHERE s.cbdkzs ~ {numeric} AND s.cbdkzs::numeric <> COALESCE(x.n, 0)",
                    QUALITY,
                    "consistency",
                    "承包地块总数 CBDKZS 为 {0}，承包地块信息表中有 {1} 块",
                    "CBDKZS",
                )
            if has("CBDKXX", "cbhtbm", "htmj") and has("CBHT", "htzmj"):
                emit(
                    "CBHT",
                    f"s.htzmj, a.total FROM stg_cbht s JOIN (SELECT cbhtbm, sum(htmj::numeric) total, count(*) n "
                    f"FROM stg_cbdkxx WHERE htmj ~ {numeric} GROUP BY cbhtbm) a ON a.cbhtbm = s.cbhtbm "
                    f"WHERE s.htzmj ~ {numeric} AND abs(s.htzmj::numeric - a.total) > 0.01 * a.n",
                    QUALITY,
                    "consistency",
                    "合同总面积 HTZMJ 为 {0} m²，各地块合同面积之和为 {1} m²",
                    "HTZMJ",
                )
        if has("CBDKXX", "htmj"):
            emit(
                "CBDKXX",
                f"s.htmj FROM stg_cbdkxx s WHERE s.htmj ~ {numeric} AND s.htmj::numeric <= 0",
                STRUCTURAL,
                "constraint",
                "合同面积 HTMJ 为 {0}，应大于0",
                "HTMJ",
            )
            if has("CBDKXX", "htmjm"):
                emit(
                    "CBDKXX",
                    f"s.htmjm, s.htmj FROM stg_cbdkxx s WHERE s.htmj ~ {numeric} AND s.htmjm ~ {numeric} "
                    f"AND abs(s.htmjm::numeric - round(s.htmj::numeric * {MU_PER_SQM}, 2)) > {MU_TOLERANCE}",
                    QUALITY,
                    "mu_mismatch",
                    "合同面积（亩）HTMJM 为 {0}，与 HTMJ {1} m² × 0.0015 不符",
                    "HTMJM",
                )
        if has("CBDKXX", "cbhtbm", "dkbm"):
            emit(
                "CBDKXX",
                "d.n FROM stg_cbdkxx s JOIN (SELECT cbhtbm, dkbm, count(*) n FROM stg_cbdkxx GROUP BY 1, 2 "
                "HAVING count(*) > 1) d ON d.cbhtbm = s.cbhtbm AND d.dkbm = s.dkbm",
                STRUCTURAL,
                "duplicate_key",
                "同一合同中同一地块出现 {0} 次",
                "DKBM",
            )
        if has("CBDKXX", "fbfbm", "cbfbm"):
            emit(
                "CBDKXX",
                "s.fbfbm, s.cbfbm FROM stg_cbdkxx s WHERE s.fbfbm <> left(s.cbfbm, 14)",
                QUALITY,
                "consistency",
                "发包方代码 {0} 与承包方代码 {1} 的前14位不一致",
                "FBFBM",
            )
        if has("CBDKXX", "cbjyqzbm") and has("CBJYQZDJB", "cbjyqzbm"):
            emit(
                "CBDKXX",
                "s.cbjyqzbm FROM stg_cbdkxx s WHERE s.cbjyqzbm <> '' AND NOT EXISTS "
                "(SELECT 1 FROM stg_cbjyqzdjb d WHERE d.cbjyqzbm = s.cbjyqzbm)",
                QUALITY,
                "reference",
                "承包经营权证（登记簿）代码“{0}”在登记簿中不存在",
                "CBJYQZBM",
            )
        if has("CBJYQZDJB", "cbjyqzbm"):
            emit(
                "CBJYQZDJB",
                r"s.cbjyqzbm FROM stg_cbjyqzdjb s WHERE s.cbjyqzbm !~ '^\d{18}[JQ]$'",
                QUALITY,
                "code_format",
                "登记簿代码“{0}”应为承包方代码18位 + J 或 Q",
                "CBJYQZBM",
            )
            if has("CBHT", "cbhtbm"):
                emit(
                    "CBJYQZDJB",
                    "s.cbjyqzbm FROM stg_cbjyqzdjb s WHERE NOT EXISTS "
                    "(SELECT 1 FROM stg_cbht h WHERE h.cbhtbm = s.cbjyqzbm)",
                    QUALITY,
                    "consistency",
                    "登记簿“{0}”没有同代码的承包合同（有权证未签订合同）",
                    "CBJYQZBM",
                )
            if has("CBJYQZ", "cbjyqzbm"):
                emit(
                    "CBJYQZDJB",
                    "s.cbjyqzbm FROM stg_cbjyqzdjb s WHERE NOT EXISTS "
                    "(SELECT 1 FROM stg_cbjyqz z WHERE z.cbjyqzbm = s.cbjyqzbm)",
                    QUALITY,
                    "consistency",
                    "登记簿“{0}”没有对应的承包经营权证",
                    "CBJYQZBM",
                )

    # -- overlaps ---------------------------------------------------------------------------------

    def _start_overlap_sweep(self) -> OverlapSweep | None:
        """The overlap check reads the DK shapefiles itself (not the staged rows): for a
        large layer it runs in a process of its own while the SQL checks keep the database
        busy (see :mod:`layers.exchange.overlaps`)."""
        dk = self.layers.get("DK")
        if not self.check_overlaps or dk is None or not dk.complete or self.report.has_structural:
            return None
        specs = []
        for part in dk.parts:
            assert part.parts.dbf is not None
            keys = tuple((k, part.fields[k].offset, part.fields[k].width) for k in LAYER_KEYS["DK"] if k in part.fields)
            specs.append(
                PartSpec(
                    shp=str(part.parts.shp),
                    dbf=str(part.parts.dbf),
                    file=part.file,
                    header_len=part.dbf.header_len,
                    record_len=part.dbf.record_len,
                    codec=part.encoding.codec,
                    keys=keys,
                    records=part.dbf.records,
                )
            )
        sweep = OverlapSweep(specs, batch=CHUNK, tolerance=OVERLAP_TOLERANCE_M, in_process=self.overlaps_in_process)
        sweep.start()
        return sweep

    # -- 4. loading -------------------------------------------------------------------------------

    def _value_sql(self, model_field: models.Field, source: str | None, params: list[Any], now: dt.datetime) -> str:
        """The SQL expression that fills one column of a register table from the staging row."""
        if source is None:
            if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
                params.append(now)
                return "%s"
            if model_field.has_default():
                params.append(_plain(model_field.get_default()))
                return "%s"
            return "NULL"
        if isinstance(model_field, gis_models.GeometryField):
            return self._geometry_sql(model_field, source)
        kind = model_field.get_internal_type()
        if isinstance(model_field, models.ForeignKey):
            kind = model_field.target_field.get_internal_type()
        if kind in ("CharField", "TextField"):
            if model_field.null:
                return f"NULLIF({source}, '')"
            if model_field.has_default():
                params.append(_plain(model_field.get_default()))
                return f"COALESCE(NULLIF({source}, ''), %s)"
            return f"COALESCE({source}, '')"
        if kind == "DecimalField":
            return f"({source})::numeric({model_field.max_digits}, {model_field.decimal_places})"  # type: ignore[attr-defined]
        if kind in ("IntegerField", "SmallIntegerField", "BigIntegerField", "PositiveIntegerField"):
            return f"round(({source})::numeric)::bigint"
        if kind == "DateField":
            return f"pg_temp.nd_date({source})"
        return source

    @staticmethod
    def _geometry_sql(model_field: gis_models.GeometryField, source: str) -> str:
        geom = f"ST_Transform(ST_SetSRID(ST_Force2D({source}), s.srid), {STORAGE_SRID})"
        kind = model_field.geom_type.upper()
        if kind.startswith("MULTI"):
            return f"ST_Multi({geom})"
        if kind == "POINT":
            return f"ST_GeometryN({geom}, 1)"
        if kind == "LINESTRING":
            return f"CASE WHEN GeometryType({source}) = 'MULTILINESTRING' THEN ST_LineMerge({geom}) ELSE {geom} END"
        return geom

    def _insert(self, cursor: CursorWrapper, target: Target, now: dt.datetime) -> int:
        model = target.model
        params: list[Any] = []
        columns: list[str] = []
        values: list[str] = []
        actor_id = getattr(self.user, "pk", None)
        for model_field in model._meta.concrete_fields:
            if model_field.primary_key:
                continue
            column = model_field.column
            if column == "updated_by_id":
                params.append(actor_id)
                expr = "%s"
            elif column in target.extra:
                expr = target.extra[column]
            elif isinstance(model_field, gis_models.GeometryField):
                expr = self._value_sql(model_field, "s.geom", params, now)
            else:
                expr = self._value_sql(model_field, target.columns.get(column), params, now)
            columns.append(_q(column))
            values.append(expr)
        sql = (
            f"INSERT INTO {_q(model._meta.db_table)} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {target.staging} s WHERE {target.where}"
        )
        cursor.execute(sql, params)
        return cursor.rowcount

    def _delete_county(self, cursor: CursorWrapper, county: str) -> None:
        """``replace``: the county's register rows go, children before parents."""
        like = county + "%"
        report = self.report
        deleted: dict[str, int] = {}
        for table in reversed(TABLE_LOAD_ORDER):
            model = _apps_model(TABLE_MODELS[table])
            code = "cbjyqzbm" if table.startswith("CBJYQZ") or table == "QSLYZLFJ" else None
            column = (
                code
                or {
                    "FBF": "fbfbm",
                    "CBF": "cbfbm",
                    "CBF_JTCY": "cbfbm",
                    "CBHT": "cbhtbm",
                    "CBDKXX": "cbhtbm",
                    "LZHT": "cbhtbm",
                }[table]
            )
            cursor.execute(f"DELETE FROM {_q(model._meta.db_table)} WHERE {column} LIKE %s", [like])
            deleted[table] = cursor.rowcount
        lineage = _apps_model("parcels.ParcelLineage")
        parcel = _apps_model("parcels.Parcel")
        cursor.execute(
            f"DELETE FROM {_q(lineage._meta.db_table)} WHERE parent_id IN (SELECT id FROM dk WHERE dkbm LIKE %s) "
            f"OR child_id IN (SELECT id FROM dk WHERE dkbm LIKE %s)",
            [like, like],
        )
        for name in ("JZX", "JZD"):
            model = _apps_model(SHAPE_LAYERS[name].model)
            cursor.execute(f"DELETE FROM {_q(model._meta.db_table)} WHERE dkbm LIKE %s", [like])
            deleted[name] = cursor.rowcount
        cursor.execute(f"DELETE FROM {_q(parcel._meta.db_table)} WHERE dkbm LIKE %s", [like])
        deleted["DK"] = cursor.rowcount
        for name in ("KZD", "QYJX", "DZDW", "XZDW", "MZDW", "JBNTBHQ"):
            model = _apps_model(SHAPE_LAYERS[name].model)
            cursor.execute(f"DELETE FROM {_q(model._meta.db_table)} WHERE xzqdm = %s", [county])
            deleted[name] = cursor.rowcount
        held = "、".join(f"{k} {v}" for k, v in deleted.items() if v)
        report.note(f"替换模式：已删除本县原有数据（{held or '无'}）后导入")

    def _load_regions(self, cursor: CursorWrapper) -> int:
        """Regions are upserted: existing ones (accounts hang on them) keep their id and get
        the package's name and shape; new ones are added, parents linked by code prefix."""
        assert self.package is not None
        dk = self.layers.get("DK")
        area_srid = dk.parts[0].crs.cgcs2000_3_degree if dk else None
        cursor.execute(
            f"""
            INSERT INTO region (bsm, qydm, qymc, level, geom, area_srid)
            SELECT DISTINCT ON (code) CASE WHEN bsm ~ '^\\d{{1,18}}(\\.0*)?$' THEN round(bsm::numeric)::bigint END,
                   code, left(COALESCE(NULLIF(name, ''), code), 100), level,
                   CASE WHEN geom IS NOT NULL THEN ST_Multi(ST_Transform(ST_SetSRID(ST_Force2D(geom), srid),
                        {STORAGE_SRID})) END,
                   CASE WHEN level = 'county' THEN %s::int END
            FROM stg_region WHERE code IS NOT NULL
            ORDER BY code, (geom IS NULL), (source = '代码表')
            ON CONFLICT (qydm) DO UPDATE SET
                qymc = EXCLUDED.qymc,
                geom = COALESCE(EXCLUDED.geom, region.geom),
                bsm = COALESCE(EXCLUDED.bsm, region.bsm),
                area_srid = COALESCE(region.area_srid, EXCLUDED.area_srid)
            """,
            [area_srid],
        )
        count = cursor.rowcount
        cursor.execute(
            """
            UPDATE region r SET parent_id = p.id FROM region p
            WHERE r.parent_id IS NULL AND r.level NOT IN ('county', 'city', 'province') AND left(r.qydm, 6) = %s
              AND p.qydm = left(r.qydm, CASE r.level WHEN 'town' THEN 6 WHEN 'village' THEN 9 ELSE 12 END)
            """,
            [self.package.county_code],
        )
        # Above the county a parent is optional: the longest held prefix (city, else province).
        cursor.execute(
            """
            UPDATE region r SET parent_id = (
                SELECT p.id FROM region p WHERE p.level IN ('city', 'province') AND length(p.qydm) < length(r.qydm)
                  AND left(r.qydm, length(p.qydm)) = p.qydm ORDER BY length(p.qydm) DESC LIMIT 1)
            WHERE r.parent_id IS NULL AND r.level IN ('county', 'city') AND %s LIKE r.qydm || '%%'
            """,
            [self.package.county_code],
        )
        from parcels import services

        services._area_srid_cache.pop(self.package.county_code, None)
        return count

    def _load_all(self) -> None:
        assert self.package is not None
        report = self.report
        now = timezone.now()
        self.progress("写入数据库", 0.85)
        with connection.cursor() as cursor:
            if self.replace:
                self._delete_county(cursor, self.package.county_code)
            report.counts["区域"] = self._load_regions(cursor)
            order = ["KZD", "QYJX", "DZDW", "XZDW", "MZDW", "JBNTBHQ", "DK", "JZD", "JZX", *TABLE_LOAD_ORDER]
            for step, key in enumerate(order):
                target = self.targets.get(key)
                if target is None:
                    continue
                if key == "CBJYQZ" and "CBJYQZ_QZZX" in self.targets:
                    target.extra["state"] = (
                        "CASE WHEN s.cbjyqzbm IN (SELECT cbjyqzbm FROM stg_cbjyqz_qzzx) "
                        "THEN 'cancelled' ELSE 'valid' END"
                    )
                with self._timed(f"load {key}"):
                    report.counts[key] = self._insert(cursor, target, now)
                self.progress(f"写入 {key}", 0.85 + 0.14 * (step + 1) / len(order))
            for table in [t.staging for t in self.targets.values()] + ["stg_region", "stg_code14"]:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        from parcels.models.base import clear_code_cache

        clear_code_cache()

    def _record_job(self) -> None:
        """The import record that makes a re-import of the same package a no-op. Written
        last in the transaction (and no progress is reported after it): a web job's row is
        updated here while its progress is written through another connection."""
        from layers.models import ImportJob

        assert self.package is not None
        report = self.report
        fields = {
            "state": ImportJob.State.LOADED,
            "county_code": self.package.county_code,
            "year": self.package.year,
            "fingerprint": report.fingerprint,
            "counts": report.counts,
            "finished_at": timezone.now(),
        }
        if self.job_id is not None:
            ImportJob.objects.filter(pk=self.job_id).update(**fields)
        else:
            ImportJob.objects.create(
                source_name=str(self.source)[-255:],
                strict=self.strict,
                replace=self.replace,
                progress=1.0,
                stage="完成",
                **fields,
            )


def import_package(source: Path | str, **options: Any) -> ImportReport:
    """Shortcut: ``import_package("310151示范区.zip", strict=True)``."""
    return PackageImporter(source, **options).run()


def register_counts() -> dict[str, int]:
    """Rows of every register table (parcels and reference layers), for tests and the
    command's summary: an import that is refused leaves every number as it was."""
    from django.apps import apps

    out: dict[str, int] = {}
    for app in ("parcels", "layers"):
        for model in apps.get_app_config(app).get_models():
            if model._meta.db_table in ("code_item", "change_record", "import_job", "qc_run", "qc_finding"):
                continue
            out[model._meta.db_table] = model._default_manager.count()
    return out


def iter_problems(report: ImportReport) -> Iterator[str]:
    """One line per problem, for the command line."""
    for problem in report.problems:
        where = " ".join(x for x in (problem.file, problem.layer, problem.feature, problem.field) if x)
        kind = "结构" if problem.severity == STRUCTURAL else "质量"
        yield f"[{kind}] {problem.rule} {where}: {problem.message}"
