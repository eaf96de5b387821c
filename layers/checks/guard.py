"""The edit-time check: a parcel's new shape against its current neighbours, with the same
overlap rule as the inspection (DK_OVERLAP: wider than 2 × 0.001 m and at least 0.01 m²), so
that a shape the services accept is never reported as an overlap afterwards.

One indexed query fetches the neighbours whose boxes meet the shape (``&&`` on the GiST
index), the rest is a few GEOS calls on a handful of polygons: a few milliseconds.

Concurrent saves. The neighbours are read under READ COMMITTED, so two transactions saving
overlapping shapes at the same instant would each miss the other's uncommitted row and both
pass. ``ensure_no_overlap`` therefore first takes transaction-scoped advisory locks on the
cells of a fixed grid in EPSG:4490 (``LOCK_CELL_DEG``) that the shape's box, widened by the
tolerance, covers (``lock_cells``). Two shapes that overlap have meeting boxes, so they share
a cell and the second save waits until the first commits; its query (a new statement, a new
snapshot) then sees the first parcel and refuses. Saves in other cells do not wait. Keys are
taken in ascending order (no deadlock between two savers), after a shared lock on one
"whole map" key that a shape too big to lock cell by cell (``LOCK_MAX_CELLS``) takes
exclusively instead. The locks last until the caller's transaction ends: call it inside
``transaction.atomic`` (the services do).

Example (in a service, inside its transaction, after ``normalise_parcel_geometry``)::

    ensure_no_overlap(geom=shape, exclude_code=code)   # raises ParcelOverlapError
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from typing import Any

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection

from gisapp.errors import DomainError
from layers.checks.catalogue import DEFAULT_TOLERANCES, Finding, Tolerances, finding
from layers.checks.dataset import STORAGE_SRID, area_srid_of, fetch_wkb, reproject
from layers.checks.topology import polygonal

NEIGHBOURS_SQL = (
    "SELECT dkbm, geom::bytea FROM dk WHERE status = 'current' "
    "AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 4490) AND NOT (dkbm = ANY(%s)) ORDER BY dkbm"
)

# The lock grid: 0.005° is 555 m of latitude and 475 m of longitude at 31.6°N (390 m at
# 45°N), a few fields across: a parcel's box usually lies in 1 to 4 cells, and saves more than
# about half a kilometre apart never wait for each other. A degree grid (not the county's
# Gauss-Krüger zone) gives neighbouring counties in different zones the same cells.
LOCK_CELL_DEG = 0.005
# A shape covering more cells (about 4 km × 4 km) takes the whole-map key exclusively instead:
# each advisory lock takes a slot in the server's shared lock table (max_locks_per_transaction
# × max_connections slots: 6,400 by default).
LOCK_MAX_CELLS = 64
# Advisory keys of this module: 0x4E44 ("ND") << 40, far above the int4 range of the
# ``hashtext`` keys that code allocation locks (parcels.services.lock), so they never meet.
# A cell's key adds (column + 36001) << 20 and (row + 18001): columns -36000..36000,
# rows -18000..18000 for the whole globe. The bare base is the whole-map key.
LOCK_KEY_BASE = 0x4E44 << 40
LOCK_WHOLE_MAP = LOCK_KEY_BASE
METRES_PER_DEGREE = 111_320.0


def lock_keys(bounds: tuple[float, float, float, float], *, margin_m: float) -> list[int] | None:
    """The sorted advisory keys of the grid cells that ``bounds`` (lon/lat degrees, EPSG:4490)
    widened by ``margin_m`` metres covers; ``None`` when that is more than ``LOCK_MAX_CELLS``
    (the caller locks the whole map instead)."""
    xmin, ymin, xmax, ymax = bounds
    lat = min(max(abs(ymin), abs(ymax)), 89.0)
    dy = margin_m / METRES_PER_DEGREE
    dx = dy / math.cos(math.radians(lat))
    cols = range(math.floor((xmin - dx) / LOCK_CELL_DEG), math.floor((xmax + dx) / LOCK_CELL_DEG) + 1)
    rows = range(math.floor((ymin - dy) / LOCK_CELL_DEG), math.floor((ymax + dy) / LOCK_CELL_DEG) + 1)
    if len(cols) * len(rows) > LOCK_MAX_CELLS:
        return None
    return sorted(LOCK_KEY_BASE + ((c + 36001) << 20) + (r + 18001) for c in cols for r in rows)


def lock_cells(*, geom: Any, margin_m: float = DEFAULT_TOLERANCES.topology) -> None:
    """Hold, until the current transaction ends, the grid cells that a shape (GEOS or shapely,
    EPSG:4490 unless the GEOS geometry says otherwise) could touch: another transaction
    locking a shared cell waits until this one commits or rolls back. Locks are re-entrant
    within a transaction (a split locks the old parcel's cells, then each piece's again)."""
    shape = _as_shapely_4490(geom)
    if shape.is_empty:
        return
    keys = lock_keys(shape.bounds, margin_m=margin_m)
    with connection.cursor() as cursor:
        if keys is None:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_WHOLE_MAP])
            return
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCK_WHOLE_MAP])
        # unnest yields the (sorted) array in order, and the rows are locked in that order.
        cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys])


class ParcelOverlapError(DomainError):
    """The new shape overlaps current parcels beyond the tolerance. ``details`` carries the
    overlaps as a GeoJSON FeatureCollection (lon/lat) with each neighbour's DKBM and the
    overlap's area, for the editor to show them."""

    code = "parcel_overlap"

    def __init__(self, findings: list[Finding]) -> None:
        parts = "、".join(f"{f.dkbm[-1]}（{f.area_m2:.4f} 平方米）" for f in findings[:10])
        more = f" 等{len(findings)}个地块" if len(findings) > 10 else ""
        super().__init__(
            f"地块图形与相邻地块重叠：{parts}{more}",
            details={"overlaps": overlaps_geojson(findings), "count": len(findings)},
        )
        self.findings = findings


def _as_shapely_4490(geom: Any) -> shapely.Geometry:
    if isinstance(geom, GEOSGeometry):
        if geom.srid not in (None, STORAGE_SRID):
            geom = geom.transform(STORAGE_SRID, clone=True)
        return shapely.from_wkb(bytes(geom.wkb))
    if isinstance(geom, shapely.Geometry):
        return geom
    raise TypeError(f"expected a GEOSGeometry or a shapely geometry, got {type(geom).__name__}")


def check_parcel_edit(
    *,
    geom: Any,
    exclude_code: str | Collection[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCES.topology,
    min_area: float = DEFAULT_TOLERANCES.min_overlap_area,
    area_srid: int | None = None,
) -> list[Finding]:
    """The overlaps of a parcel shape (GEOS or shapely, EPSG:4490 unless the GEOS geometry
    says otherwise) with the current parcels, leaving out ``exclude_code`` (the parcel being
    edited; several codes for a split or merge). DK_OVERLAP findings, one per neighbour, the
    overlap geometry in EPSG:4490; ``[]`` when the shape fits.

    Distances and areas are measured in ``area_srid``, by default the county's (from the
    excluded code, or the first neighbour's code)."""
    shape = _as_shapely_4490(geom)
    if shape.is_empty:
        return []
    excluded = [exclude_code] if isinstance(exclude_code, str) else sorted(exclude_code or ())
    xmin, ymin, xmax, ymax = shape.bounds
    rows = fetch_wkb(NEIGHBOURS_SQL, [xmin, ymin, xmax, ymax, excluded])
    if not rows:
        return []
    codes = [r[0] for r in rows]
    srid = area_srid or area_srid_of((excluded[0] if excluded else codes[0])[:6])
    neighbours = shapely.from_wkb([r[1] for r in rows])
    both = np.concatenate([np.array([shape], dtype=object), neighbours])
    projected = reproject(both, STORAGE_SRID, srid)
    invalid = ~shapely.is_valid(projected)
    if invalid.any():
        projected[invalid] = shapely.make_valid(projected[invalid])
    tol = Tolerances(topology=tolerance, min_overlap_area=min_area)
    mine, theirs = projected[0], projected[1:]
    shrunk_mine = shapely.buffer(mine, -tol.topology, quad_segs=2)
    if shrunk_mine.is_empty:
        return []
    shapely.prepare(shrunk_mine)
    shrunk = shapely.buffer(theirs, -tol.topology, quad_segs=2)
    hit = np.flatnonzero(shapely.intersects(shrunk_mine, shrunk))
    if not len(hit):
        return []
    overlap = shapely.intersection(mine, theirs[hit])
    area = shapely.area(overlap)
    keep = area >= tol.min_overlap_area
    hit, overlap, area = hit[keep], overlap[keep], area[keep]
    if not len(hit):
        return []
    back = reproject(np.array([polygonal(g) for g in overlap], dtype=object), srid, STORAGE_SRID)
    edited = tuple(excluded[:1])
    return [
        finding(
            "DK_OVERLAP",
            f"与地块 {codes[i]} 重叠 {a:.4f} 平方米",
            dkbm=(*edited, codes[i]),
            area_m2=float(a),
            geometry=g,
        )
        for i, a, g in zip(hit, area, back, strict=True)
    ]


def ensure_no_overlap(
    *,
    geom: Any,
    exclude_code: str | Collection[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCES.topology,
    min_area: float = DEFAULT_TOLERANCES.min_overlap_area,
) -> None:
    """Refuse a parcel shape that overlaps current neighbours: raises ParcelOverlapError.
    Takes the shape's grid cells first (``lock_cells``), so that concurrent saves of shapes
    that could overlap run one after the other (see the module's docstring)."""
    lock_cells(geom=geom, margin_m=tolerance)
    found = check_parcel_edit(geom=geom, exclude_code=exclude_code, tolerance=tolerance, min_area=min_area)
    if found:
        raise ParcelOverlapError(found)


def overlaps_geojson(findings: list[Finding]) -> dict[str, Any]:
    features = []
    for f in findings:
        if f.geometry is None:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(shapely.to_geojson(f.geometry)),
                "properties": {"dkbm": f.dkbm[-1], "area_m2": round(f.area_m2 or 0.0, 4), "message": f.message},
            }
        )
    return {"type": "FeatureCollection", "features": features}
