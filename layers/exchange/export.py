"""The Ministry county package (NY/T 2539 §7; digest §4), written from the register.

One exporter per layer or table, each a small function over a queryset whose columns come
from ``schema.SHAPE_LAYERS`` / ``schema.MDB_TABLES`` (a DBF field or MDB column ``X`` is the
model field whose ``db_column`` is ``x``), so the field lists are declared once.

What goes in, and the choices made where the material is silent:

* Only the register's current state: rows with a ``status`` are exported when current;
  tables without one (certificates and their reissues, transfers, attachments), all rows.
* Export CRS: the county's CGCS2000 3° Gauss-Krüger zone **without** the zone number in the
  false easting (EPSG 4534-4554: 500 km), also when the county's area CRS is the
  zone-prefixed twin (EPSG 4513-4533). The template JZD.dbf declares XZBZ/YZBZ as N(11,3),
  which holds a 7-digit northing but not an 8-digit zone-prefixed easting (40 512 345.123 is
  12 characters); the standard's Float(10,3) says the same. With the unprefixed zone every
  coordinate fits the template exactly, and the metadata states the zone (central meridian,
  false easting 500 km). ``export_srid`` is the one place this is decided.
* BSM: the stored value, else the feature's rank in the layer (1..n, by code).
* A value that does not fit its field, or a multi-part parcel, is an :class:`ExportError`
  and nothing is left behind: the package is written into a hidden folder and renamed
  into place at the end. ``keep_multipart=True`` writes a multi-part parcel (one an import
  loaded and flagged) as one DK record with several rings instead, and lists it in
  ``PackageResult.multipart``: a package can then go back out as it came in.
* JZD/JZX: exported as held; a county that holds no JZD gets both generated from its parcels
  (``layers.exchange.jzdx``) and its parcels' KJZB from the same points.

Example::

    result = export_package(county="310151", year=2020, out_dir=Path("/tmp/out"), make_zip=True)
    result.root  # /tmp/out/310151示范区
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.contrib.gis.db.models.functions import ForcePolygonCW, NumGeometries, Transform
from django.db import DatabaseError, connection, models, transaction
from django.db.models import F, Func, Value, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, RowNumber

from gisapp.config import config
from layers.exchange import jzdx
from layers.exchange.mdb import MdbWriteError, write_mdb
from layers.exchange.metadata import MetadataInfo, write_metadata
from layers.exchange.schema import (
    MDB_TABLES,
    PACKAGE_FOLDERS,
    REGION_LAYERS,
    SHAPE_LAYERS,
    TABLE_MODELS,
    ShapeLayer,
)
from layers.exchange.shapefile import ENCODING, ExportError, ShapefileWriter, dbf_record_sql, export_srid
from layers.exchange.summary import write_code_table, write_summaries
from parcels.models import BoundaryLine, BoundaryPoint, Parcel, Region
from parcels.models.base import Status

__all__ = ["ExportError", "PackageResult", "export_package", "export_srid"]

Progress = Callable[[str, int], None]
# A layer's rows as SQL: the NDR WKB in the export CRS, then the DBF fields' raw values in
# field order; the writer wraps it to have PostgreSQL format the DBF records.
Source = tuple[str, Sequence[Any] | Mapping[str, Any]]
PROGRESS_EVERY = 2000
FETCH_SIZE = 5000

# The feature named in an error message: its code where it has one.
FEATURE_KEYS = {"DK": "DKBM", "JZD": "JZDH", "JZX": "JZXH"} | {name: spec[1] for name, spec in REGION_LAYERS.items()}
# Package order of the layers: the order of the metadata sample (digest §2.8).
LAYER_ORDER = ("KZD", "XJXZQ", "XJQY", "CJQY", "ZJQY", "QYJX", "DZDW", "XZDW", "MZDW", "DK", "JZD", "JZX", "JBNTBHQ")


@dataclass
class PackageResult:
    root: Path
    srid: int
    layers: dict[str, int] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    generated_jzdx: bool = False
    zip_path: Path | None = None
    multipart: list[str] = field(default_factory=list)  # DKBM of parcels written multi-part


def county_of(code: str) -> Region:
    region = Region.objects.filter(code=code, level=Region.Level.COUNTY).first()
    if region is None:
        raise ExportError(f"县级行政区 {code} 不存在")
    return region


def package_dirname(county: Region) -> str:
    return f"{county.code}{county.name}"


# --- queryset plumbing -------------------------------------------------------------------


class AsNdrWkb(Func):
    """ST_AsBinary(geom, 'NDR'): little-endian WKB, what the shapefile writer reads."""

    function = "ST_AsBinary"
    template = "%(function)s(%(expressions)s, 'NDR')"
    output_field = models.BinaryField()


class StY(Func):
    function = "ST_Y"
    output_field = models.FloatField()


class StX(Func):
    function = "ST_X"
    output_field = models.FloatField()


def columns_of(model: type[models.Model]) -> dict[str, str]:
    """Standard column name (upper case) -> model attribute, from the fields' db_column."""
    return {f.column.upper(): f.attname for f in model._meta.concrete_fields}


def code_path(model: type[models.Model], column: str) -> str:
    """The lookup path of a code column: the field, or for a foreign key on a code its target
    (``contractor__code``), which Django resolves on the local column without a join."""
    fld = next(f for f in model._meta.concrete_fields if f.column.upper() == column)
    if isinstance(fld, models.ForeignKey):
        return f"{fld.name}__{fld.target_field.name}"
    return fld.name


def _shape(layer: ShapeLayer, srid: int) -> Func:
    projected: Func = Transform("geom", srid)
    if layer.geometry == "Polygon":
        projected = ForcePolygonCW(projected)
    return AsNdrWkb(projected)


def _queryset_source(
    queryset: models.QuerySet[Any],
    layer: ShapeLayer,
    srid: int,
    overrides: Mapping[str, Any],
    order_by: str,
) -> Source:
    """SQL selecting the shape then the DBF fields' values in order, from ``queryset``."""
    attnames = columns_of(queryset.model)
    annotations: dict[str, Any] = {"_shape": _shape(layer, srid)}
    names = []
    for index, fld in enumerate(layer.fields):
        if fld.name in overrides:
            alias = f"_f{index}"
            annotations[alias] = overrides[fld.name]
            names.append(alias)
        elif fld.name == "BSM" and "BSM" in attnames:
            annotations["_bsm"] = Coalesce(
                "bsm", Window(RowNumber(), order_by=F(order_by).asc()), output_field=models.BigIntegerField()
            )
            names.append("_bsm")
        elif fld.name in attnames:
            names.append(attnames[fld.name])
        else:
            raise ExportError(f"{layer.name} 图层字段 {fld.name} 在模型 {queryset.model.__name__} 中没有对应的列")
    rows = queryset.annotate(**annotations).order_by(order_by).values_list("_shape", *names)
    return rows.query.sql_with_params()


# --- one exporter per layer --------------------------------------------------------------


@dataclass
class Context:
    county: Region
    year: int
    srid: int
    generated: jzdx.Generated | None = None
    keep_multipart: bool = False
    multipart: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.county.code


def dk_rows(ctx: Context) -> Source:
    layer = SHAPE_LAYERS["DK"]
    parcels = Parcel.objects.filter(code__startswith=ctx.code, status=Status.CURRENT)
    multi_parts = parcels.annotate(parts=NumGeometries("geom")).filter(parts__gt=1).order_by("code")
    if ctx.keep_multipart:
        ctx.multipart = list(multi_parts.values_list("code", flat=True))
    elif multi := list(multi_parts.values_list("code", flat=True)[:20]):
        raise ExportError(
            f"以下地块是多部件图形，不能按单部件地块导出（请先在质检中处理）：{', '.join(multi)}",
            layer="DK",
            feature=multi[0],
        )
    overrides: dict[str, Any] = {}
    if ctx.generated is not None:
        table, column = connection.ops.quote_name(Parcel._meta.db_table), Parcel._meta.get_field("code").column
        overrides["KJZB"] = Coalesce(
            RawSQL(f"SELECT k.kjzb FROM jzdx_key k WHERE k.dkbm = {table}.{connection.ops.quote_name(column)}", ()),
            Value(""),
            output_field=models.CharField(),
        )
    return _queryset_source(parcels, layer, ctx.srid, overrides, "code")


def jzd_rows(ctx: Context) -> Source:
    layer = SHAPE_LAYERS["JZD"]
    if ctx.generated is not None:
        params = {"ysdm": layer.feature_code, "prefix": jzdx.POINT_PREFIX, "point_type": "3"}
        return jzdx.POINT_ROWS_SQL, params
    # X = northing, Y = easting, recomputed in the export CRS from the stored point.
    projected = Transform("geom", ctx.srid)
    overrides = {"XZBZ": StY(projected), "YZBZ": StX(projected)}
    points = BoundaryPoint.objects.filter(parcel_codes__startswith=ctx.code)
    return _queryset_source(points, layer, ctx.srid, overrides, "pk")


def jzx_rows(ctx: Context) -> Source:
    layer = SHAPE_LAYERS["JZX"]
    if ctx.generated is not None:
        params = {"ysdm": layer.feature_code, "prefix": jzdx.POINT_PREFIX, "position": "2"}
        return jzdx.LINE_ROWS_SQL, params
    lines = BoundaryLine.objects.filter(parcel_codes__startswith=ctx.code)
    return _queryset_source(lines, layer, ctx.srid, {}, "pk")


def region_rows(name: str) -> Callable[[Context], Source]:
    """XJXZQ/XJQY/CJQY/ZJQY from parcels.Region: the level's code and name columns, for the
    regions that have a shape. One without (known from a 权属单位代码表 only) travels in the
    code table; a polygon record with a NULL shape is what importers, ours included, refuse."""
    level, code_field, name_field = REGION_LAYERS[name]

    def rows(ctx: Context) -> Source:
        layer = SHAPE_LAYERS[name]
        regions = Region.objects.filter(level=level, code__startswith=ctx.code, geom__isnull=False)
        overrides = {"YSDM": Value(layer.feature_code), code_field: F("code"), name_field: F("name")}
        return _queryset_source(regions, layer, ctx.srid, overrides, "code")

    return rows


def county_layer_rows(name: str) -> Callable[[Context], Source]:
    """KZD, QYJX, DZDW, XZDW, MZDW, JBNTBHQ: features of layers.models held per county."""

    def rows(ctx: Context) -> Source:
        layer = SHAPE_LAYERS[name]
        model = apps.get_model(layer.model)
        return _queryset_source(model.objects.filter(county_id=ctx.code), layer, ctx.srid, {}, "pk")

    return rows


LAYER_SOURCES: dict[str, Callable[[Context], Source]] = {
    "DK": dk_rows,
    "JZD": jzd_rows,
    "JZX": jzx_rows,
    **{name: region_rows(name) for name in REGION_LAYERS},
    **{name: county_layer_rows(name) for name in ("KZD", "QYJX", "DZDW", "XZDW", "MZDW", "JBNTBHQ")},
}


def _fetch(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> Generator[tuple[Any, ...]]:
    """Rows of ``sql`` through a server-side cursor, a batch at a time (flat memory)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH_SIZE):
            yield from batch


class _SlowPath(Exception):
    """PostgreSQL's formatting of a record did not give the bytes the DBF needs."""


def write_layer(
    folder: Path, ctx: Context, name: str, *, progress: Progress | None = None, keep_empty: bool = True
) -> int:
    """Write ``{name}{county6}{year4}.shp`` and friends; returns the feature count. An
    optional layer with no features is not written unless ``keep_empty``.

    PostgreSQL formats each DBF record (one text per feature, padded to the field widths in
    GBK bytes) and Python encodes it once: the fast path. If a record comes back with the
    wrong length, or PostgreSQL cannot convert a character to GBK, the layer is written again
    value by value in Python, which names the feature and field that do not fit."""
    layer = SHAPE_LAYERS[name]
    stem = folder / f"{name}{ctx.code}{ctx.year}"
    label = f"{name} {layer.title}"
    sql, params = LAYER_SOURCES[name](ctx)
    key = next((i for i, f in enumerate(layer.fields) if f.name == FEATURE_KEYS.get(name, "BSM")), 0)
    columns = [f"f{i}" for i in range(len(layer.fields))]
    fast = (
        f"SELECT s.shape, s.f{key}::text, {dbf_record_sql(layer.fields, [f's.{c}' for c in columns])} "
        f"FROM ({sql}) AS s(shape, {', '.join(columns)})"
    )

    def run(rows: Generator[tuple[Any, ...]], add: Callable[[ShapefileWriter, tuple[Any, ...]], None]) -> int:
        # closing(): the server-side cursor is closed here, inside the savepoint, not later
        # by the garbage collector (a CLOSE after the rollback would fail the transaction).
        with closing(rows), ShapefileWriter(stem, layer, srid=ctx.srid) as shp:
            if progress is not None:
                progress(label, 0)
            pending = 0
            for row in rows:
                add(shp, row)
                pending += 1
                if progress is not None and pending == PROGRESS_EVERY:
                    progress(label, pending)
                    pending = 0
            if progress is not None:
                progress(label, pending)
            return shp.count

    def add_formatted(shp: ShapefileWriter, row: tuple[Any, ...]) -> None:
        try:
            shp.add_record(row[0], row[2].encode(ENCODING), feature=row[1])
        except (UnicodeEncodeError, ValueError) as exc:
            raise _SlowPath from exc

    def add_values(shp: ShapefileWriter, row: tuple[Any, ...]) -> None:
        shp.add(row[0], row[1:], feature=str(row[1 + key]))

    try:
        with transaction.atomic():  # a savepoint: PostgreSQL may refuse a character GBK lacks
            count = run(_fetch(fast, params), add_formatted)
    except (_SlowPath, DatabaseError):
        count = run(_fetch(sql, params), add_values)
    if count == 0 and not keep_empty:
        for suffix in (".shp", ".shx", ".dbf", ".prj"):
            stem.with_suffix(suffix).unlink()
    return count


# --- ownership tables --------------------------------------------------------------------


def table_rows(name: str, county: str) -> Iterator[dict[str, Any]]:
    """Rows of one ownership table for the MDB: ``{COLUMN: value}`` in the template's column
    order, values straight from the model fields. Every table's first column is a code that
    starts with the county's code, which is the filter."""
    model = apps.get_model(TABLE_MODELS[name])
    attnames = columns_of(model)
    columns = [c.name for c in MDB_TABLES[name]]
    missing = [c for c in columns if c not in attnames]
    if missing:
        raise ExportError(f"表 {name} 的列 {', '.join(missing)} 在模型 {model.__name__} 中不存在")
    queryset = model._default_manager.filter(**{f"{code_path(model, columns[0])}__startswith": county})
    if any(f.name == "status" for f in model._meta.concrete_fields):
        queryset = queryset.filter(status=Status.CURRENT)
    for row in queryset.values_list(*(attnames[c] for c in columns)).iterator(chunk_size=FETCH_SIZE):
        yield dict(zip(columns, row, strict=True))


def write_tables(folder: Path, ctx: Context, *, progress: Progress | None = None) -> dict[str, int]:
    """``{county6}{year4}.mdb``: the 12 tables written into a copy of the Ministry's template
    by ``layers.exchange.mdb``, streamed row by row."""

    def counted(name: str) -> Generator[dict[str, Any]]:
        label = f"权属数据 {name}"
        if progress is not None:
            progress(label, 0)
        for n, row in enumerate(table_rows(name, ctx.code), 1):
            yield row
            if progress is not None and n % PROGRESS_EVERY == 0:
                progress(label, PROGRESS_EVERY)

    tables = {name: counted(name) for name in MDB_TABLES}
    try:
        counts = write_mdb(folder / f"{ctx.code}{ctx.year}.mdb", tables)
    except MdbWriteError as exc:
        raise ExportError(
            f"权属数据表 {exc.table} 第 {exc.row} 行 {exc.column}：{exc}", layer=exc.table, field=exc.column
        ) from exc
    finally:
        for rows in tables.values():  # their server-side cursors, before any rollback
            rows.close()
    return dict(counts)


# --- the package -------------------------------------------------------------------------


def _drop_generated() -> None:
    with connection.cursor() as cursor:
        for table in ("jzdx_key", "jzdx_line", "jzdx_seq", "jzdx_point", "jzdx_vertex", "jzdx_parcel"):
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")


def export_package(
    *,
    county: str,
    year: int,
    out_dir: Path,
    make_zip: bool = False,
    overwrite: bool = False,
    metadata: MetadataInfo | None = None,
    progress: Progress | None = None,
    keep_multipart: bool = False,
) -> PackageResult:
    """Write the county package ``{out_dir}/{county6}{县名}/`` (and ``{county6}{县名}.zip``);
    ``progress(step, n)`` hears of every ``n`` features or rows written. Multi-part parcels
    are refused unless ``keep_multipart`` (then written as they are and listed in the result)."""
    region = county_of(county)
    if not (1000 <= year <= 9999):
        raise ExportError(f"年份 {year} 不是4位数字")
    srid = export_srid(region.area_srid or config().area_srid)
    dirname = package_dirname(region)
    root = out_dir / dirname
    if root.exists() and not overwrite:
        raise ExportError(f"目录 {root} 已存在")
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f".{dirname}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    result = PackageResult(root=root, srid=srid)
    ctx = Context(county=region, year=year, srid=srid, keep_multipart=keep_multipart)
    try:
        for folder in PACKAGE_FOLDERS:
            (partial / folder).mkdir(parents=True)
        vector = partial / "矢量数据"
        fresh = not connection.in_atomic_block
        with transaction.atomic():
            if fresh:
                # One snapshot for every layer, table and summary of the package.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            _drop_generated()
            if not BoundaryPoint.objects.filter(parcel_codes__startswith=county).exists():
                if progress is not None:
                    progress("生成界址点线", 0)
                with connection.cursor() as cursor:
                    ctx.generated = jzdx.generate(cursor, county=county, srid=srid)
                result.generated_jzdx = True
            for name in LAYER_ORDER:
                layer = SHAPE_LAYERS[name]
                result.layers[name] = write_layer(vector, ctx, name, progress=progress, keep_empty=layer.required)
            _drop_generated()
            result.multipart = ctx.multipart
            if progress is not None:
                progress("元数据与权属数据", 0)
            info = metadata or MetadataInfo()
            write_metadata(
                vector / f"SL{county}{year}.xml", county=region, year=year, srid=srid, layers=result.layers, info=info
            )
            ownership = partial / "权属数据"
            write_code_table(ownership / f"{county}{year}权属单位代码表.xls", region)
            result.tables = write_tables(ownership, ctx, progress=progress)
            if progress is not None:
                progress("汇总表格", 0)
            write_summaries(partial / "汇总表格", region)
        if root.exists():
            shutil.rmtree(root)
        partial.rename(root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    result.files = sorted(p for p in root.rglob("*") if p.is_file())
    if make_zip:
        result.zip_path = zip_package(root)
    return result


def zip_package(root: Path) -> Path:
    """``{root}.zip`` holding ``{county6}{县名}/...`` with UTF-8 names, empty folders included."""
    target = root.with_name(root.name + ".zip")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(root.rglob("*")):
            arcname = path.relative_to(root.parent).as_posix()
            if path.is_dir():
                archive.writestr(zipfile.ZipInfo(arcname + "/"), b"")
            else:
                archive.write(path, arcname)
    return target
