"""Mapbox vector tiles built by PostGIS (``ST_AsMVT``), with a validated disk cache.

Every layer is one SQL statement over one table::

    WITH env AS (SELECT ST_Transform(ST_TileEnvelope(z, x, y), 4490)::box2d AS box,
                        ST_Transform(ST_TileEnvelope(z, x, y, margin => 64/4096), 4490) AS geo)
    SELECT ST_AsMVT(...) FROM (SELECT ..., ST_AsMVTGeom(t.geom, env.box, 4096, 64, true)
                              FROM dk t, env WHERE t.geom && env.geo AND ...)

``t.geom && env.geo`` compares the stored CGCS2000 geometry with the tile's envelope brought
into CGCS2000 once, so the GiST index on the storage column answers it (a Web Mercator
rectangle is a lon/lat rectangle: the bbox is exact; see ``LINEAR_MIN_ZOOM`` for how features
are mapped onto the tile's grid). ``ST_AsMVTGeom`` clips to the tile plus
a 64-unit buffer, snaps to the 4096 grid and drops detail below half a grid unit: that is the
per-zoom simplification. One grid unit is 0.5 m on the ground at z14 and 3 cm at z18 (31°N),
finer than a screen pixel. Layers also have a minimum zoom below which they are not drawn: a
z12 tile of the demo county holds ~7,000 parcels of 2-3 px each.

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

import hashlib
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from accounts.scoping import NOWHERE, User, region_prefix

EXTENT = 4096
BUFFER = 64
# Bump when the SQL or the properties of a layer change: cached tiles of older code are ignored.
SCHEMA_VERSION = 3
MAX_ZOOM = 22
MVT_CONTENT_TYPE = "application/vnd.mapbox-vector-tile"


@dataclass(frozen=True)
class TileLayer:
    """One vector-tile layer: a table, the columns that become properties, where rows apply.

    ``scope_column`` holds a Ministry code that starts with the region code (jurisdiction);
    ``zoom_filter`` adds a condition that depends on the zoom (e.g. region levels)."""

    name: str
    table: str
    properties: tuple[tuple[str, str], ...]  # (SQL expression over alias t, property name)
    min_zoom: int
    where: str = "TRUE"
    scope_column: str | None = None
    zoom_filter: Callable[[int], str] | None = None
    description: str = ""


def _region_levels(z: int) -> str:
    # County and towns from afar; villages from z11 (a village is ~2-5 km wide: 100+ px);
    # groups from z13.
    levels = ["county", "town"]
    if z >= 11:
        levels.append("village")
    if z >= 13:
        levels.append("group")
    return "t.level IN (" + ", ".join(f"'{level}'" for level in levels) + ")"


def _min_zoom(layer: str, default: int) -> int:
    overrides = getattr(settings, "NONGDI_TILE_MIN_ZOOM", {}) or {}
    return int(overrides.get(layer, default))


def layers() -> dict[str, TileLayer]:
    """The layers served at ``/tiles/<name>/{z}/{x}/{y}.pbf``. Properties carry no personal
    data: the public map may read every one of them (DKDZ-DKBZ, ZJRXM, PLDWQLR and PLDWZJR,
    which often hold people's names, are left out)."""
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
                scope_column="t.dkbm",
                description="界址线",
            ),
            TileLayer(
                name="jzd",
                table="jzd",
                properties=(("t.jzdh", "jzdh"), ("t.jzdlx", "jzdlx"), ("t.jblx", "jblx"), ("t.dkbm", "dkbm")),
                min_zoom=_min_zoom("jzd", 17),
                scope_column="t.dkbm",
                description="界址点",
            ),
            TileLayer(
                name="xzdw",
                table="xzdw",
                properties=(("t.dwmc", "dwmc"), ("t.kd::float8", "kd")),
                min_zoom=_min_zoom("xzdw", 12),
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

ENVELOPE_SQL = (
    "WITH env AS (SELECT ST_TileEnvelope(%s, %s, %s) AS merc, "
    "ST_Transform(ST_TileEnvelope(%s, %s, %s), 4490)::box2d AS box, "
    "ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => %s), 4490) AS geo)"
)
# From z12 on, features go into the tile straight from lon/lat (``ST_AsMVTGeom`` maps the
# tile's lon/lat box linearly onto the 4096 grid) instead of through ST_Transform to Web
# Mercator: 40 % less time for a z14 tile of 3,000 parcels. Mercator's y is not linear in
# latitude, but over one tile the difference is tan(φ)·Δφ/8 of the tile's height: 0.1 grid
# unit at z14 and 0.4 at z12 at 31.6°N, under one unit up to 60°N at z12 — inside the
# rounding to the grid. Tile edges map exactly, so features stay continuous across tiles.
# Below z12 (regions, farmland zones over whole towns) tiles are projected exactly.
LINEAR_MIN_ZOOM = 12


def _mvt_geometry(z: int) -> str:
    if z >= LINEAR_MIN_ZOOM:
        return f"ST_AsMVTGeom(t.geom, env.box, {EXTENT}, {BUFFER}, true)"
    return f"ST_AsMVTGeom(ST_Transform(t.geom, 3857), env.merc, {EXTENT}, {BUFFER}, true)"


FINGERPRINT_COLUMNS = (
    "count(*)::bigint, coalesce(sum(t.xmin::text::bigint), 0)::bigint, "
    "coalesce(sum(hashtext(t.ctid::text)::bigint), 0)::bigint"
)


def _envelope_params(z: int, x: int, y: int) -> list[Any]:
    return [z, x, y, z, x, y, z, x, y, BUFFER / EXTENT]


def mvt_sql(layer: TileLayer, z: int, x: int, y: int, scope: str = "") -> tuple[str, list[Any]]:
    """The bare tile query: one row of (MVT bytes, marker). The benchmark runs exactly this."""
    where, params = _conditions(layer, z, scope)
    props = ", ".join(f"{expr} AS {alias}" for expr, alias in layer.properties)
    sql = (
        f"{ENVELOPE_SQL} SELECT ST_AsMVT(q, %s, {EXTENT}, 'geom', 'fid'), {SERIAL_PLAN} FROM ("
        f"SELECT t.id AS fid, {props}, "
        f"{_mvt_geometry(z)} AS geom "
        f"FROM {layer.table} t, env WHERE {where}) q"
    )
    return sql, [*_envelope_params(z, x, y), layer.name, *params]


def _mvt_with_fingerprint_sql(layer: TileLayer, z: int, x: int, y: int, scope: str) -> tuple[str, list[Any]]:
    """The tile and the fingerprint of the rows it was built from, in one statement (one
    snapshot), so a cached tile and its fingerprint always agree."""
    where, params = _conditions(layer, z, scope)
    props = ", ".join(f"{expr} AS {alias}" for expr, alias in layer.properties)
    aliases = ", ".join(alias for _, alias in layer.properties)
    sql = (
        f"{ENVELOPE_SQL}, rows AS MATERIALIZED ("
        f"SELECT t.id AS fid, t.xmin::text::bigint AS rx, hashtext(t.ctid::text)::bigint AS rc, {props}, "
        f"{_mvt_geometry(z)} AS geom "
        f"FROM {layer.table} t, env WHERE {where}) "
        f"SELECT (SELECT ST_AsMVT(q, %s, {EXTENT}, 'geom', 'fid') FROM "
        f"(SELECT fid, {aliases}, geom FROM rows) q), "
        f"(SELECT count(*) FROM rows)::bigint, (SELECT coalesce(sum(rx), 0) FROM rows)::bigint, "
        f"(SELECT coalesce(sum(rc), 0) FROM rows)::bigint, {SERIAL_PLAN}"
    )
    # Placeholders in text order: the envelope, the scope (in ``rows``), then the layer name.
    return sql, [*_envelope_params(z, x, y), *params, layer.name]


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
    the cache, and ``not_modified`` when the client's copy (If-None-Match) is still good."""

    data: bytes
    etag: str
    cached: bool
    not_modified: bool = False


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z


def etag_for(layer: str, z: int, x: int, y: int, scope: str, fingerprint: Fingerprint) -> str:
    key = f"{SCHEMA_VERSION}:{layer}:{scope}:{z}/{x}/{y}:{fingerprint[0]}:{fingerprint[1]}:{fingerprint[2]}"
    return '"' + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:24] + '"'


def cache_root() -> Path:
    configured = getattr(settings, "TILE_CACHE_DIR", None)
    return Path(configured) if configured else Path(settings.MEDIA_ROOT) / "tile-cache"


def _cache_path(layer: str, z: int, x: int, y: int, scope: str) -> Path:
    return cache_root() / "mvt" / layer / (scope or "all") / str(z) / str(x) / f"{y}.mvt"


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


def _write_cache(path: Path, fingerprint: Fingerprint, data: bytes) -> None:
    """Atomic write (temporary file + rename): concurrent readers never see half a tile."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tile-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(_HEADER.pack(_MAGIC, *fingerprint))
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        # A read-only or full disk costs speed, not correctness: the tile is served anyway.
        return


def _matches(if_none_match: str | None, etag: str) -> bool:
    return bool(if_none_match) and etag in {tag.strip() for tag in (if_none_match or "").split(",")}


def fingerprint(layer: TileLayer, z: int, x: int, y: int, scope: str) -> Fingerprint:
    sql, params = _fingerprint_sql(layer, z, x, y, scope)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count, xmin, ctids = cursor.fetchone()
    return int(count), int(xmin), int(ctids)


def build_tile(name: str, *, z: int, x: int, y: int, scope: str = "", if_none_match: str | None = None) -> Tile | None:
    """The tile of layer ``name`` for the jurisdiction prefix ``scope`` ('' = everything);
    ``None`` for an unknown layer or tile address. With ``if_none_match`` still matching the
    rows' fingerprint, no tile is built: ``Tile(not_modified=True)`` (the caller answers 304)."""
    layer = layers().get(name)
    if layer is None or not valid_tile(z, x, y):
        return None
    if z < layer.min_zoom:
        etag = etag_for(name, z, x, y, scope, (0, 0, 0))
        return Tile(data=b"", etag=etag, cached=True, not_modified=_matches(if_none_match, etag))
    path = _cache_path(name, z, x, y, scope)
    cached = _read_cache(path) if (if_none_match or path.exists()) else None
    if cached is not None or if_none_match:
        current = fingerprint(layer, z, x, y, scope)
        etag = etag_for(name, z, x, y, scope, current)
        if _matches(if_none_match, etag):
            return Tile(data=b"", etag=etag, cached=True, not_modified=True)
        if cached is not None and cached[0] == current:
            return Tile(data=cached[1], etag=etag, cached=True)
    sql, params = _mvt_with_fingerprint_sql(layer, z, x, y, scope)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        data, count, xmin, ctids, _ = cursor.fetchone()
    built: Fingerprint = (int(count), int(xmin), int(ctids))
    payload = bytes(data or b"")
    _write_cache(path, built, payload)
    return Tile(data=payload, etag=etag_for(name, z, x, y, scope, built), cached=False)
