"""Mapbox vector tiles built by PostGIS (``ST_AsMVT``), with a validated disk cache.

Every layer is one SQL statement over one table::

    WITH env AS (SELECT <the tile in CGCS2000: box, its 64-unit buffer, a half-tile margin,
                         the affine map of lon/lat onto the 4096 grid>)
    SELECT ST_AsMVT(...) FROM (SELECT ..., <tile geometry> FROM dk t, env
                              WHERE t.geom && env.geo AND ...)

``t.geom && env.geo`` compares the stored CGCS2000 geometry with the tile's buffered envelope in
lon/lat (``tile_bounds``, once per tile), so the GiST index on the storage column answers it (a
Web Mercator rectangle is a lon/lat rectangle: the bbox is exact; see ``LINEAR_MIN_ZOOM`` for
how features are mapped onto the tile's grid). Coordinates are snapped to the 4096 grid: that is the
per-zoom simplification. One grid unit is 0.5 m on the ground at z14 and 3 cm at z18 (31°N),
finer than a screen pixel. Layers also have a minimum zoom below which they are not drawn: a
z12 tile of the demo county holds ~7,000 parcels of 2-3 px each.

Tile geometry (``_mvt_geometry``): ``ST_AsMVTGeom`` clips, snaps and then repairs every polygon
with Wagyu, which costs ~4 µs of CPU for a parcel inside the tile and ~50 µs for one it clips:
15 of the ~23 ms of CPU a z14 tile of 3,450 demo parcels took. Polygons that need neither take
a short path (``FAST_POLYGON``): the same affine map and the same rounding to the grid,
oriented as the MVT specification wants, unclipped — 2 µs a parcel. Checked on the
100,000-parcel demo county over every tile that holds parcels: at z14 all 110,791
parcel-tile pairs took the short path, none came out invalid or empty, and the 101,558 inside
the buffered tile equal ``ST_AsMVTGeom``'s shapes (``ST_Equals``); at z16, 127,679 pairs, none
invalid or empty, all on the short path, and 193 of the 87,484 inside differ only where
``ST_AsMVTGeom`` cuts a vertex 1-4 units beyond the buffer's edge.

Caching: tiles go to ``TILE_CACHE_DIR`` (default ``MEDIA_ROOT/tile-cache``, per scope of
jurisdiction) with a fingerprint of the rows they were built from: their count, the sum of
their row versions (``xmin``, the id of the transaction that wrote each row) and a checksum of
their physical positions (``ctid``, which every UPDATE changes, even within one transaction). A
request first computes the fingerprint of the tile's rows (one index scan, no geometry work)
and serves the cached tile only if it matches, so any write by any path (services, importers,
SQL) invalidates exactly the tiles whose rows changed, without triggers or signals. The
fingerprint is also the ETag: a browser revalidating an unchanged tile gets a 304.
A tile that is not cached yet is built and fingerprinted by the same statement.

Example::

    tile = build_tile("parcels", z=16, x=54852, y=26786, scope="")
    tile.data  # bytes of application/vnd.mapbox-vector-tile
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import struct
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.db import DatabaseError, connection

from accounts.scoping import NOWHERE, User, region_prefix

EXTENT = 4096
BUFFER = 64
# Bump when the SQL or the properties of a layer change: cached tiles of older code are ignored.
SCHEMA_VERSION = 4
MAX_ZOOM = 22
# Clients draw z18 tiles beyond z18 (``maxNativeZoom``): their grid unit is 3 cm there.
NATIVE_MAX_ZOOM = 18
MVT_CONTENT_TYPE = "application/vnd.mapbox-vector-tile"


@dataclass(frozen=True)
class TileLayer:
    """One vector-tile layer: a table, the columns that become properties, where rows apply.

    ``scope_column`` holds a Ministry code that starts with the region code (jurisdiction);
    ``zoom_filter`` adds a condition that depends on the zoom (e.g. region levels);
    ``codes`` names the code table of each coded property (``parcels.CodeItem.table``), for
    the legend of a map (``tilejson``)."""

    name: str
    table: str
    properties: tuple[tuple[str, str], ...]  # (SQL expression over alias t, property name)
    min_zoom: int
    geometry: Literal["polygon", "line", "point"] = "polygon"
    where: str = "TRUE"
    scope_column: str | None = None
    zoom_filter: Callable[[int], str] | None = None
    description: str = ""
    codes: tuple[tuple[str, str], ...] = ()  # (property name, code table)


def _region_levels(z: int) -> str:
    # County and towns from afar; villages from z11 (a village is ~2-5 km wide: 100+ px);
    # groups from z13.
    levels = ["county", "town"]
    if z >= 11:
        levels.append("village")
    if z >= 13:
        levels.append("group")
    return "t.level IN (" + ", ".join(f"'{level}'" for level in levels) + ")"


def layers() -> dict[str, TileLayer]:
    """The layers served at ``/tiles/<name>/{z}/{x}/{y}.pbf``. Properties carry no personal
    data: the public map may read every one of them (DKDZ-DKBZ, ZJRXM, PLDWQLR and PLDWZJR,
    which often hold people's names, are left out). ``NONGDI_TILE_MIN_ZOOM`` ({layer: zoom})
    overrides minimum zooms."""
    overrides = getattr(settings, "NONGDI_TILE_MIN_ZOOM", None) or {}
    return _layers(tuple(sorted((str(k), int(v)) for k, v in overrides.items())))


@lru_cache(maxsize=8)
def _layers(overrides: tuple[tuple[str, int], ...]) -> dict[str, TileLayer]:
    # Built once per set of overrides: every tile request reads it.
    min_zooms = dict(overrides)

    def _min_zoom(layer: str, default: int) -> int:
        return min_zooms.get(layer, default)

    return {
        layer.name: layer
        for layer in (
            TileLayer(
                name="parcels",
                table="dk",
                properties=(
                    ("t.dkbm", "dkbm"),
                    ("t.dkmc", "dkmc"),
                    ("t.dklb", "dklb"),
                    ("t.tdlylx", "tdlylx"),
                    ("t.sfjbnt", "sfjbnt"),
                    ("t.status", "status"),
                    ("t.scmj::float8", "scmj"),
                    ("t.scmjm::float8", "scmjm"),
                ),
                # A z14 tile at 31°N covers ~2.1 km x 2.1 km: ~1,800 demo parcels of ~1,150 m²,
                # each at least 10 px wide. Below that, parcels are specks; regions show.
                min_zoom=_min_zoom("parcels", 14),
                where="t.status = 'current'",
                scope_column="t.dkbm",
                description="地块（现势）",
                codes=(("dklb", "C.7"), ("tdlylx", "GB21010"), ("sfjbnt", "C.19")),
            ),
            TileLayer(
                name="regions",
                table="region",
                properties=(("t.qydm", "code"), ("t.qymc", "name"), ("t.level", "level")),
                min_zoom=_min_zoom("regions", 5),
                where="t.geom IS NOT NULL",
                zoom_filter=_region_levels,
                description="行政区域（县、乡、村、组）",
            ),
            TileLayer(
                name="farmland",
                table="jbntbhq",
                properties=(("t.bhqbh", "bhqbh"), ("t.jbntmj::float8", "jbntmj"), ("t.jbntmjm::float8", "jbntmjm")),
                min_zoom=_min_zoom("farmland", 10),
                description="基本农田保护区",
            ),
            TileLayer(
                name="jzx",
                table="jzx",
                properties=(
                    ("t.jzxh", "jzxh"),
                    ("t.jzxlb", "jzxlb"),
                    ("t.jzxwz", "jzxwz"),
                    ("t.jxxz", "jxxz"),
                    ("t.dkbm", "dkbm"),
                ),
                min_zoom=_min_zoom("jzx", 16),
                geometry="line",
                scope_column="t.dkbm",
                description="界址线",
                codes=(("jzxlb", "C.13"), ("jzxwz", "C.14")),
            ),
            TileLayer(
                name="jzd",
                table="jzd",
                properties=(("t.jzdh", "jzdh"), ("t.jzdlx", "jzdlx"), ("t.jblx", "jblx"), ("t.dkbm", "dkbm")),
                min_zoom=_min_zoom("jzd", 17),
                geometry="point",
                scope_column="t.dkbm",
                description="界址点",
                codes=(("jzdlx", "C.11"), ("jblx", "C.12")),
            ),
            TileLayer(
                name="xzdw",
                table="xzdw",
                properties=(("t.dwmc", "dwmc"), ("t.kd::float8", "kd")),
                min_zoom=_min_zoom("xzdw", 12),
                geometry="line",
                description="线状地物（道路、沟渠）",
            ),
            TileLayer(
                name="mzdw",
                table="mzdw",
                properties=(("t.dwmc", "dwmc"),),
                min_zoom=_min_zoom("mzdw", 12),
                description="面状地物（坑塘、居民点）",
            ),
        )
    }


# --- scope -----------------------------------------------------------------------------------


def tile_scope(user: User | None, layer: TileLayer) -> str:
    """The jurisdiction prefix a user's tiles of ``layer`` are cut to: '' for everything.

    Like the GeoJSON map (``parcels.selectors.map_parcels``): users with a jurisdiction see
    its features; the public and accounts without a region see every current feature, since
    the tiles carry no personal data."""
    if layer.scope_column is None or user is None or not user.is_authenticated:
        return ""
    prefix = region_prefix(user)
    return "" if prefix == NOWHERE else prefix


# --- SQL ---------------------------------------------------------------------------------------


def _conditions(layer: TileLayer, z: int, scope: str) -> tuple[str, list[Any]]:
    clauses = ["t.geom && env.geo", layer.where]
    params: list[Any] = []
    if layer.zoom_filter is not None:
        clauses.append(layer.zoom_filter(z))
    if scope and layer.scope_column:
        # LIKE 'prefix%' on a varchar_pattern_ops index where there is one; the prefix is
        # digits only (a region code), so it needs no escaping.
        clauses.append(f"{layer.scope_column} LIKE %s")
        params.append(scope + "%")
    return " AND ".join(clauses), params


# The per-row cost PostGIS declares for ST_AsMVTGeom/ST_Transform makes the planner choose a
# parallel sequential scan of the whole table for a z15 tile (250 ms on two busy cores, against
# 10 ms for the GiST index scan it should use). A call of a PARALLEL UNSAFE function anywhere in
# a statement keeps its plan serial; ``set_config`` of a private setting, once per statement, is
# the cheapest one (no extra round trip, unlike ``SET LOCAL`` in a transaction).
SERIAL_PLAN = "(SELECT set_config('nongdi.tile_query', 'on', true))"

# The tile in CGCS2000 lon/lat (``box``), with its 64-unit buffer (``geo``: which rows belong
# to the tile) and with half a tile around it (``whole``: rows inside need no clipping), the
# affine map of lon/lat onto the tile's 4096 grid (``fx``, ``fy``, ``xoff``, ``yoff``, as
# ``ST_AsMVTGeom`` computes it from ``box``, so both paths put a vertex on the same grid point),
# and the Web Mercator tile (``merc``). The numbers come from ``_envelope_params``: computed
# by ST_Transform in the statement they cost 0.15 ms more a tile, a third of a z18 tile's time.
# Materialized, so that a generic plan of a prepared statement computes them once, not per row.
ENVELOPE_SQL = (
    "WITH env AS MATERIALIZED (SELECT ST_TileEnvelope(%s, %s, %s) AS merc, "
    "ST_MakeBox2D(ST_Point(%s, %s), ST_Point(%s, %s)) AS box, "
    "ST_MakeEnvelope(%s, %s, %s, %s, 4490) AS geo, "
    "ST_MakeEnvelope(%s, %s, %s, %s, 4490) AS whole, "
    "%s::float8 AS fx, %s::float8 AS fy, %s::float8 AS xoff, %s::float8 AS yoff)"
)
# From z12 on, features go into the tile straight from lon/lat (``ST_AsMVTGeom`` maps the
# tile's lon/lat box linearly onto the 4096 grid) instead of through ST_Transform to Web
# Mercator: 40 % less time for a z14 tile of 3,000 parcels. Mercator's y is not linear in
# latitude, but over one tile the difference is tan(φ)·Δφ/8 of the tile's height: 0.1 grid
# unit at z14 and 0.4 at z12 at 31.6°N, under one unit up to 60°N at z12 — inside the
# rounding to the grid. Tile edges map exactly, so features stay continuous across tiles.
# Below z12 (regions, farmland zones over whole towns) tiles are projected exactly.
LINEAR_MIN_ZOOM = 12
# Rows whose bbox lies within half a tile of it go into the tile unclipped: MVT coordinates may
# run past the extent, and a renderer cuts each tile at its edge anyway.
NO_CLIP_MARGIN = 0.5

# The short path for polygons, from z12 on: the affine map, rounding to the grid (which also
# drops repeated vertices and rings that collapse), and the MVT winding (exterior rings
# clockwise on screen: counter-clockwise in the grid's y-down numbers) — what ``ST_AsMVTGeom``
# does before Wagyu clips and repairs. It applies where there is nothing to clip (bbox within
# ``whole``) and nothing to repair, as far as a cheap test can tell: a polygon at least two grid
# units wide on average (2·area/perimeter; with |fy| ≥ fx, area·fx ≥ perimeter in degrees
# bounds it from below) keeps its rings when each vertex moves at most 0.71 units to the grid
# (a square needs 4 units a side: 2 m at z14, 12 cm at z18). Thinner polygons, and those that
# reach beyond ``whole`` (regions, zones, large parcels at z18), take ``ST_AsMVTGeom``. What the
# test cannot see is a narrow neck or spike in a wide polygon, which rounding could make touch
# itself; renderers fill such a ring as drawn. Vertices on a straight line stay (ST_AsMVTGeom
# drops them): tiles ~2 % larger.
SHORT_PATH = "ST_ForcePolygonCCW(ST_SnapToGrid(ST_Affine(t.geom, env.fx, 0, 0, env.fy, env.xoff, env.yoff), 1))"
SHORT_PATH_APPLIES = "t.geom @ env.whole AND ST_Area(t.geom) * env.fx >= ST_Perimeter(t.geom)"
FAST_POLYGON = (
    f"CASE WHEN {SHORT_PATH_APPLIES} THEN {SHORT_PATH} ELSE ST_AsMVTGeom(t.geom, env.box, {EXTENT}, {BUFFER}, true) END"
)


def _mvt_geometry(layer: TileLayer, z: int) -> str:
    if z < LINEAR_MIN_ZOOM:
        return f"ST_AsMVTGeom(ST_Transform(t.geom, 3857), env.merc, {EXTENT}, {BUFFER}, true)"
    if layer.geometry == "polygon":
        return FAST_POLYGON
    return f"ST_AsMVTGeom(t.geom, env.box, {EXTENT}, {BUFFER}, true)"


FINGERPRINT_COLUMNS = (
    "count(*)::bigint, coalesce(sum(t.xmin::text::bigint), 0)::bigint, "
    "coalesce(sum(hashtid(t.ctid)::bigint), 0)::bigint"
)


def tile_bounds(z: int, x: int, y: int, margin: float = 0.0) -> tuple[float, float, float, float]:
    """West, south, east, north of a Web Mercator tile in degrees, grown by ``margin`` tiles on
    each side in Mercator and cut at the edges of the Mercator world — what
    ``ST_Transform(ST_TileEnvelope(z, x, y, margin => m), 4490)`` gives (to 1e-12°), except
    across the antimeridian, where PostGIS wraps the margin round. CGCS2000 and WGS 84 lon/lat
    are the same numbers here (PROJ converts between them without a shift)."""
    n = 2.0**z

    def lon(tx: float) -> float:
        return min(max(tx, 0.0), n) / n * 360.0 - 180.0

    def lat(ty: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * min(max(ty, 0.0), n) / n))))

    return lon(x - margin), lat(y + 1 + margin), lon(x + 1 + margin), lat(y - margin)


def _envelope_params(z: int, x: int, y: int) -> list[Any]:
    west, south, east, north = tile_bounds(z, x, y)
    fx = EXTENT / (east - west)
    fy = -(EXTENT / (north - south))
    return [
        z,
        x,
        y,
        west,
        south,
        east,
        north,
        *tile_bounds(z, x, y, BUFFER / EXTENT),
        *tile_bounds(z, x, y, NO_CLIP_MARGIN),
        fx,
        fy,
        -west * fx,
        -north * fy,
    ]


def mvt_sql(layer: TileLayer, z: int, x: int, y: int, scope: str = "") -> tuple[str, list[Any]]:
    """The bare tile query: one row of (MVT bytes, marker). The benchmark runs exactly this."""
    where, params = _conditions(layer, z, scope)
    props = ", ".join(f"{expr} AS {alias}" for expr, alias in layer.properties)
    sql = (
        f"{ENVELOPE_SQL} SELECT ST_AsMVT(q, %s, {EXTENT}, 'geom', 'fid'), {SERIAL_PLAN} FROM ("
        f"SELECT t.id AS fid, {props}, "
        f"{_mvt_geometry(layer, z)} AS geom "
        f"FROM {layer.table} t, env WHERE {where}) q"
    )
    return sql, [*_envelope_params(z, x, y), layer.name, *params]


def _mvt_with_fingerprint_sql(layer: TileLayer, z: int, x: int, y: int, scope: str) -> tuple[str, list[Any]]:
    """The tile and the fingerprint of the rows it was built from, in one statement (one
    snapshot), so a cached tile and its fingerprint always agree. One pass over the rows: the
    feature of a row is a sub-row (``f``) that ``ST_AsMVT`` aggregates beside the sums."""
    where, params = _conditions(layer, z, scope)
    props = ", ".join(f"{expr} AS {alias}" for expr, alias in layer.properties)
    sql = (
        f"{ENVELOPE_SQL} SELECT ST_AsMVT(r.f, %s, {EXTENT}, 'geom', 'fid'), count(*)::bigint, "
        "coalesce(sum(r.rx), 0)::bigint, coalesce(sum(r.rc), 0)::bigint, "
        f"{SERIAL_PLAN} FROM ("
        "SELECT t.xmin::text::bigint AS rx, hashtid(t.ctid)::bigint AS rc, f "
        f"FROM {layer.table} t CROSS JOIN env CROSS JOIN LATERAL ("
        f"SELECT t.id AS fid, {props}, {_mvt_geometry(layer, z)} AS geom) f "
        f"WHERE {where}) r"
    )
    # Placeholders in text order: the envelope, the layer name, then the scope.
    return sql, [*_envelope_params(z, x, y), layer.name, *params]


def _fingerprint_sql(layer: TileLayer, z: int, x: int, y: int, scope: str) -> tuple[str, list[Any]]:
    where, params = _conditions(layer, z, scope)
    sql = f"{ENVELOPE_SQL} SELECT {FINGERPRINT_COLUMNS} FROM {layer.table} t, env WHERE {where}"
    return sql, [*_envelope_params(z, x, y), *params]


# --- tiles -------------------------------------------------------------------------------------

Fingerprint = tuple[int, int, int]
_HEADER = struct.Struct("<4sqqq")
_MAGIC = b"NGT" + bytes([SCHEMA_VERSION])


@dataclass(frozen=True)
class Tile:
    """A tile's bytes (empty when the tile has no features), its ETag, whether it came from
    the cache, and ``not_modified`` when the client's copy (If-None-Match) is still good.
    ``unsaved`` holds where a freshly built tile goes in the disk cache and its fingerprint,
    until ``save_tile`` writes it (``build_tile(..., save=False)``)."""

    data: bytes
    etag: str
    cached: bool
    not_modified: bool = False
    unsaved: tuple[Path, Fingerprint] | None = None


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z


def etag_for(layer: str, z: int, x: int, y: int, scope: str, fingerprint: Fingerprint) -> str:
    key = f"{SCHEMA_VERSION}:{layer}:{scope}:{z}/{x}/{y}:{fingerprint[0]}:{fingerprint[1]}:{fingerprint[2]}"
    return '"' + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:24] + '"'


def cache_root() -> Path:
    configured = getattr(settings, "TILE_CACHE_DIR", None)
    return Path(configured) if configured else Path(settings.MEDIA_ROOT) / "tile-cache"


def _cache_path(layer: str, z: int, x: int, y: int, scope: str) -> Path:
    # One string rather than seven pathlib joins (~80 µs a tile).
    return Path(f"{cache_root()}/mvt/{layer}/{scope or 'all'}/{z}/{x}/{y}.mvt")


def _read_cache(path: Path) -> tuple[Fingerprint, bytes] | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if len(raw) < _HEADER.size:
        return None
    magic, count, xmin, ctids = _HEADER.unpack_from(raw)
    if magic != _MAGIC:
        return None
    return (count, xmin, ctids), raw[_HEADER.size :]


_TEMP_NAMES = itertools.count()


def _write_cache(path: Path, fingerprint: Fingerprint, data: bytes) -> None:
    """Atomic write (temporary file + rename): concurrent readers never see half a tile. The
    temporary name is unique per process, thread and write; directories are made only when
    the first write into them fails (one system call less per tile than ``mkdir`` each time)."""
    tmp = path.parent / f".tile-{os.getpid()}-{threading.get_ident()}-{next(_TEMP_NAMES)}"
    payload = _HEADER.pack(_MAGIC, *fingerprint) + data
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        # A read-only or full disk costs speed, not correctness: the tile is served anyway.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _matches(if_none_match: str | None, etag: str) -> bool:
    return bool(if_none_match) and etag in {tag.strip() for tag in (if_none_match or "").split(",")}


# The tile statements prepared on each database connection (their names).
# Planning a tile statement takes ~0.2 ms, as long as running it for a z18 tile; a prepared one
# is planned a few times, then PostgreSQL keeps its generic plan (the envelope is a
# materialized CTE, so the generic plan is the custom one). Django's connection has psycopg's
# automatic preparation switched off, so the statements are prepared here with PREPARE, once per
# connection, and run with EXECUTE through Django's cursor (query logging and counting work).
# Prepared statements live in the database session: ``TILE_PREPARED_STATEMENTS = False`` turns
# this off behind a pooler that shares sessions between clients (PgBouncer in transaction mode).
_PREPARED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_STATEMENT_PREFIX = "nongdi_tile_"


def _fetch_one(sql: str, params: list[Any]) -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        if not getattr(settings, "TILE_PREPARED_STATEMENTS", True):
            cursor.execute(sql, params)
            return tuple(cursor.fetchone())
        raw = connection.connection
        names = _PREPARED.get(raw)
        if names is None:
            # A connection new to this process, or this module reloaded: what it already holds.
            cursor.execute("SELECT name FROM pg_prepared_statements WHERE starts_with(name, %s)", [_STATEMENT_PREFIX])
            names = _PREPARED[raw] = {name for (name,) in cursor.fetchall()}
        name = _STATEMENT_PREFIX + hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:20]
        if name not in names:
            numbered = sql
            for k in range(1, len(params) + 1):
                numbered = numbered.replace("%s", f"${k}", 1)
            cursor.execute(f"PREPARE {name} AS {numbered}")
            names.add(name)
        try:
            cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)
        except DatabaseError:
            # Deallocated behind our back (DISCARD ALL): ask the connection again next time.
            _PREPARED.pop(raw, None)
            raise
        return tuple(cursor.fetchone())


def fingerprint(layer: TileLayer, z: int, x: int, y: int, scope: str) -> Fingerprint:
    count, xmin, ctids = _fetch_one(*_fingerprint_sql(layer, z, x, y, scope))
    return int(count), int(xmin), int(ctids)


def save_tile(tile: Tile) -> None:
    """Write a tile built with ``build_tile(..., save=False)`` to the disk cache."""
    if tile.unsaved is not None:
        path, built = tile.unsaved
        _write_cache(path, built, tile.data)


def build_tile(
    name: str, *, z: int, x: int, y: int, scope: str = "", if_none_match: str | None = None, save: bool = True
) -> Tile | None:
    """The tile of layer ``name`` for the jurisdiction prefix ``scope`` ('' = everything);
    ``None`` for an unknown layer or tile address. With ``if_none_match`` still matching the
    rows' fingerprint, no tile is built: ``Tile(not_modified=True)`` (the caller answers 304).
    A tile built now goes to the disk cache at once, or with ``save=False`` when the caller
    calls ``save_tile`` (the tile view does it once the response is sent)."""
    layer = layers().get(name)
    if layer is None or not valid_tile(z, x, y):
        return None
    if z < layer.min_zoom:
        etag = etag_for(name, z, x, y, scope, (0, 0, 0))
        return Tile(data=b"", etag=etag, cached=True, not_modified=_matches(if_none_match, etag))
    path = _cache_path(name, z, x, y, scope)
    cached = _read_cache(path)
    if cached is not None or if_none_match:
        current = fingerprint(layer, z, x, y, scope)
        etag = etag_for(name, z, x, y, scope, current)
        if _matches(if_none_match, etag):
            return Tile(data=b"", etag=etag, cached=True, not_modified=True)
        if cached is not None and cached[0] == current:
            return Tile(data=cached[1], etag=etag, cached=True)
    data, count, xmin, ctids, _ = _fetch_one(*_mvt_with_fingerprint_sql(layer, z, x, y, scope))
    built: Fingerprint = (int(count), int(xmin), int(ctids))
    tile = Tile(
        data=bytes(data or b""), etag=etag_for(name, z, x, y, scope, built), cached=False, unsaved=(path, built)
    )
    if save:
        save_tile(tile)
    return tile


# --- TileJSON ----------------------------------------------------------------------------------


def tilejson(layer: TileLayer, *, tiles_url: str) -> dict[str, Any]:
    """TileJSON 3.0.0 of a layer (https://github.com/mapbox/tilejson-spec): the URL template,
    zoom range, fields, and — an addition of ours, ``codes`` — the names of the coded values
    of its properties from the standard's code tables ({property: {code: name}}), so that a
    map can write its legend. ``tiles_url`` has the ``{z}/{x}/{y}`` placeholders.

    Example: ``tilejson(layers()["parcels"], tiles_url="https://…/tiles/parcels/{z}/{x}/{y}.pbf")``
    """
    from parcels.selectors import code_choices

    tables = code_choices(table for _, table in layer.codes)
    titles = dict(layer.codes)
    return {
        "tilejson": "3.0.0",
        "name": layer.name,
        "description": layer.description,
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": layer.min_zoom,
        "maxzoom": NATIVE_MAX_ZOOM,
        "vector_layers": [
            {
                "id": layer.name,
                "description": layer.description,
                "minzoom": layer.min_zoom,
                "maxzoom": NATIVE_MAX_ZOOM,
                "fields": {
                    alias: f"代码表 {titles[alias]}" if alias in titles else "" for _, alias in layer.properties
                },
            }
        ],
        "codes": {prop: dict(tables.get(table, [])) for prop, table in layer.codes},
    }
