"""Boundary-point benchmark: keeping held JZD/JZX current after one parcel edit, against
regenerating the whole county, on the demo county in its own database.

In the same run, on the same data:

* baseline, whole county: ``layers.exchange.jzdx.generate`` (what the export runs for a county
  that holds no points: every point, line and KJZB of the county, into temporary tables),
  ``--rounds`` times;
* ours, one edited parcel: a random current parcel gets one vertex moved 0.3 m towards its
  centroid through ``parcels.services.parcel_update`` (overlap check, re-measured area,
  version + 1, ChangeRecord; timed apart), then ``jzdx.regenerate_for_parcels([dkbm])`` is
  timed: the parcel's and its neighbours' points and lines recomputed, diffed against the
  held rows and written, KJZB updated;
* ours, one split: a random parcel split in two by a north-south line through its centroid
  (``parcel_split``), then ``regenerate_for_parcels([old, *pieces])`` timed.

Every sample runs in a transaction that is rolled back, so each starts from the same held
layers (stored once, committed, by ``jzdx.regenerate_county`` when the county holds none).
Printed: p50 / p95 / max in ms and what each regeneration changed (target: well under 100 ms
for one edited parcel). The machine may be shared: the load average is printed before and after.

Then a check, not a timing: in one transaction (rolled back) ``--verify-edits`` random
parcels get a vertex moved and ``--verify-splits`` are split, each followed by its
regeneration; the held layers are then compared with a fresh ``generate()`` of the county
(points by place at 1 mm with DKBM; lines by their two ends, direction, DKBM and names; KJZB
as the list of places it names) and the mismatches counted (0 expected), and
``regenerate_for_parcels`` over every current parcel is timed (it should change nothing).

Its own database (``NONGDI_PG_DB``, default ``bench_jzdx``; ``nongdi`` is refused): ``--setup N``
creates it if missing, migrates it and loads the demo county with N parcels if it is empty.
The held layers it stores are committed there.

Example::

    NONGDI_PG_DB=bench_jzdx .venv/bin/python bench/jzdx_bench.py --setup 3000 --samples 200
    NONGDI_PG_DB=bench_jzdx_100k .venv/bin/python bench/jzdx_bench.py --setup 100000 --samples 100 --skip-verify
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gisapp.settings.local")
os.environ.setdefault("NONGDI_PG_DB", "bench_jzdx")

from bench.common import pct, setup_database  # noqa: E402  (after the settings are chosen)

MOVE_METRES = 0.3


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f}"


def summary(label: str, ms: list[float]) -> str:
    if not ms:
        return f"{label:<38} no samples"
    return (
        f"{label:<38} p50 {statistics.median(ms):7.1f}  p95 {pct(ms, 0.95):7.1f}  max {max(ms):7.1f} ms  (n={len(ms)})"
    )


def moved_vertex(geom: Any, rng: random.Random) -> Any:
    """The parcel with one vertex of its outer ring moved ``MOVE_METRES`` towards its centroid."""
    from django.contrib.gis.geos import LinearRing, Polygon

    polygon = geom[0]
    ring = list(polygon.exterior_ring.coords)[:-1]
    i = rng.randrange(len(ring))
    cx, cy = polygon.centroid.coords
    x, y = ring[i]
    # Degrees to metres near 31.6°N; only the direction and a small step matter.
    dx, dy = (cx - x) * 94_800.0, (cy - y) * 110_900.0
    step = MOVE_METRES / max(math.hypot(dx, dy), 1e-9)
    ring[i] = (x + (cx - x) * step, y + (cy - y) * step)
    return Polygon(LinearRing([*ring, ring[0]]), *polygon[1:], srid=geom.srid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--county", default="310151")
    parser.add_argument("--setup", type=int, metavar="PARCELS", help="create, migrate and load the demo county first")
    parser.add_argument("--samples", type=int, default=200, help="edited parcels (default 200)")
    parser.add_argument("--splits", type=int, default=50, help="split parcels (default 50)")
    parser.add_argument("--rounds", type=int, default=5, help="whole-county generations (default 5)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--verify-edits", type=int, default=30, help="edits before the comparison (default 30)")
    parser.add_argument("--verify-splits", type=int, default=5, help="splits before the comparison (default 5)")
    parser.add_argument("--skip-verify", action="store_true", help="timings only, no comparison")
    args = parser.parse_args()
    if os.environ["NONGDI_PG_DB"] == "nongdi":
        sys.exit("refusing to run on the database nongdi: its parcels would be written to")
    if args.setup:
        setup_database(args.setup)

    import django

    django.setup()
    from django.contrib.gis.geos import LineString
    from django.db import connection, transaction

    from gisapp.errors import DomainError
    from layers.exchange import jzdx
    from layers.exchange.shapefile import export_srid
    from parcels import services
    from parcels.models import BoundaryLine, BoundaryPoint, Parcel, Region

    print(f"start: {load()}")
    county = args.county
    parcels = Parcel.objects.filter(code__startswith=county, status="current")
    print(f"county {county}: {parcels.count()} current parcels")
    if not BoundaryPoint.objects.filter(parcel_codes__startswith=county).exists():
        t0 = time.perf_counter()
        stored = jzdx.regenerate_county(county)
        print(
            f"stored the county's points once: {stored.points} points, {stored.lines} lines in "
            f"{time.perf_counter() - t0:.2f} s"
        )
    points = BoundaryPoint.objects.filter(parcel_codes__startswith=county).count()
    lines = BoundaryLine.objects.filter(parcel_codes__startswith=county).count()
    print(f"held: {points} points, {lines} lines")
    area_srid = Region.objects.get(code=county).area_srid or 4528
    srid = export_srid(area_srid)

    baseline: list[float] = []
    for _ in range(args.rounds):
        with transaction.atomic(), connection.cursor() as cursor:
            t0 = time.perf_counter()
            jzdx.generate(cursor, county=county, srid=srid)
            baseline.append((time.perf_counter() - t0) * 1000)
            transaction.set_rollback(True)

    rng = random.Random(args.seed)
    codes = list(parcels.order_by("code").values_list("code", flat=True))
    edit_ms: list[float] = []
    update_ms: list[float] = []
    changed: list[int] = []
    skipped = 0
    for code in rng.sample(codes, min(args.samples, len(codes))):
        with transaction.atomic():
            parcel = Parcel.objects.get(code=code)
            try:
                t0 = time.perf_counter()
                services.parcel_update(
                    actor=None, code=code, expected_version=parcel.version, geom=moved_vertex(parcel.geom, rng)
                )
                t1 = time.perf_counter()
            except DomainError:
                skipped += 1
                transaction.set_rollback(True)
                continue
            result = jzdx.regenerate_for_parcels([code])
            t2 = time.perf_counter()
            update_ms.append((t1 - t0) * 1000)
            edit_ms.append((t2 - t1) * 1000)
            changed.append(result.points_added + result.points_removed + result.points_updated)
            transaction.set_rollback(True)

    split_ms: list[float] = []
    split_skipped = 0
    for code in rng.sample(codes, min(args.splits, len(codes))):
        with transaction.atomic():
            parcel = Parcel.objects.get(code=code)
            _, ymin, _, ymax = parcel.geom.extent
            cx = parcel.geom.centroid.x
            line = LineString((cx, ymin - 1e-5), (cx, ymax + 1e-5), srid=4490)
            try:
                pieces = services.parcel_split(actor=None, code=code, expected_version=parcel.version, line=line)
            except DomainError:
                split_skipped += 1
                transaction.set_rollback(True)
                continue
            t0 = time.perf_counter()
            jzdx.regenerate_for_parcels([code, *(p.code for p in pieces)])
            split_ms.append((time.perf_counter() - t0) * 1000)
            transaction.set_rollback(True)

    print()
    print(summary("baseline: whole-county generate()", baseline))
    print(summary("ours: regenerate one edited parcel", edit_ms))
    print(summary("ours: regenerate one split parcel", split_ms))
    print(summary("(context) parcel_update with its checks", update_ms))
    if edit_ms:
        print(f"ratio whole county / one edit (p50): {statistics.median(baseline) / statistics.median(edit_ms):.0f} x")
        print(f"points added/removed/updated per edit: median {statistics.median(changed):.0f}, max {max(changed)}")
    print(f"skipped: {skipped} edits, {split_skipped} splits refused by the services (invalid or sliver shapes)")
    if not args.skip_verify:
        verify(args, codes, rng, srid)
    print(f"end: {load()}")


# The held layers against a fresh generation, by place (export CRS, 1 mm): rows in one and
# not in the other. Numbers are compared through the places they name.
COMPARE_SQL = """
WITH held_point AS (
    SELECT jzdh, round(ST_X(t) * 1000)::bigint AS ix, round(ST_Y(t) * 1000)::bigint AS iy, dkbm
    FROM jzd, LATERAL ST_Transform(geom, %(srid)s) t WHERE dkbm LIKE %(prefix)s
), held_line AS (
    SELECT a.ix AS ax, a.iy AS ay, b.ix AS bx, b.iy AS b_y, l.dkbm, l.pldwqlr, l.pldwzjr
    FROM jzx l JOIN held_point a ON a.jzdh = l.qjzdh JOIN held_point b ON b.jzdh = l.zjzdh
    WHERE l.dkbm LIKE %(prefix)s
), held_key AS (
    SELECT d.dkbm, array_agg(ARRAY[p.ix, p.iy] ORDER BY k.n) AS places
    FROM dk d, unnest(string_to_array(d.kjzb, '/')) WITH ORDINALITY k(jzdh, n)
    JOIN held_point p ON p.jzdh = k.jzdh
    WHERE d.dkbm LIKE %(prefix)s AND d.status = 'current' GROUP BY d.dkbm
), fresh_line AS (
    SELECT a.ix AS ax, a.iy AS ay, b.ix AS bx, b.iy AS b_y, l.dkbm, l.owners, l.witnesses
    FROM jzdx_line l JOIN jzdx_point a ON a.id = l.a JOIN jzdx_point b ON b.id = l.b
), fresh_key AS (
    SELECT g.dkbm, array_agg(ARRAY[p.ix, p.iy] ORDER BY k.n) AS places
    FROM jzdx_key g, unnest(string_to_array(g.kjzb, '/')) WITH ORDINALITY k(jzdh, n)
    JOIN jzdx_point p ON %(jp)s || p.id = k.jzdh GROUP BY g.dkbm
)
SELECT (SELECT count(*) FROM held_point), (SELECT count(*) FROM held_line),
       (SELECT count(*) FROM ((SELECT ix, iy, dkbm FROM held_point EXCEPT SELECT ix, iy, dkbm FROM jzdx_point)
                              UNION ALL
                              (SELECT ix, iy, dkbm FROM jzdx_point EXCEPT SELECT ix, iy, dkbm FROM held_point)) p),
       (SELECT count(*) FROM ((SELECT * FROM held_line EXCEPT SELECT * FROM fresh_line)
                              UNION ALL (SELECT * FROM fresh_line EXCEPT SELECT * FROM held_line)) l),
       (SELECT count(*) FROM ((SELECT * FROM held_key EXCEPT SELECT * FROM fresh_key)
                              UNION ALL (SELECT * FROM fresh_key EXCEPT SELECT * FROM held_key)) k)
"""


def verify(args: argparse.Namespace, codes: list[str], rng: random.Random, srid: int) -> None:
    from django.contrib.gis.geos import LineString
    from django.db import connection, transaction

    from gisapp.errors import DomainError
    from layers.exchange import jzdx
    from parcels import services
    from parcels.models import Parcel

    with transaction.atomic():
        edited = 0
        for code in rng.sample(codes, args.verify_edits):
            parcel = Parcel.objects.get(code=code)
            if parcel.status != "current":
                continue
            try:
                with transaction.atomic():
                    services.parcel_update(
                        actor=None, code=code, expected_version=parcel.version, geom=moved_vertex(parcel.geom, rng)
                    )
                    jzdx.regenerate_for_parcels([code])
                    edited += 1
            except DomainError:
                pass
        split = 0
        for code in rng.sample(codes, args.verify_splits):
            parcel = Parcel.objects.get(code=code)
            _, ymin, _, ymax = parcel.geom.extent
            cx = parcel.geom.centroid.x
            try:
                with transaction.atomic():
                    pieces = services.parcel_split(
                        actor=None,
                        code=code,
                        expected_version=parcel.version,
                        line=LineString((cx, ymin - 1e-5), (cx, ymax + 1e-5), srid=4490),
                    )
                    jzdx.regenerate_for_parcels([code, *(p.code for p in pieces)])
                    split += 1
            except DomainError:
                pass
        current = list(
            Parcel.objects.filter(code__startswith=args.county, status="current").values_list("code", flat=True)
        )
        t0 = time.perf_counter()
        everything = jzdx.regenerate_for_parcels(current)
        whole = (time.perf_counter() - t0) * 1000
        with connection.cursor() as cursor:
            jzdx.generate(cursor, county=args.county, srid=srid)
            cursor.execute(COMPARE_SQL, {"srid": srid, "prefix": args.county + "%", "jp": jzdx.POINT_PREFIX})
            points, lines, point_diff, line_diff, key_diff = cursor.fetchone()
        transaction.set_rollback(True)
    print()
    print(f"check after {edited} edits and {split} splits, each regenerated (rolled back afterwards):")
    print(
        f"  held {points} points, {lines} lines; rows differing from a fresh generate(): points {point_diff}, "
        f"lines {line_diff}, parcels' KJZB {key_diff}"
    )
    changed = sum(
        getattr(everything, f)
        for f in (
            "points_added",
            "points_updated",
            "points_removed",
            "lines_added",
            "lines_updated",
            "lines_removed",
            "key_points_updated",
        )
    )
    print(f"  regenerate_for_parcels over all {len(current)} current parcels: {whole:.0f} ms, {changed} rows changed")


if __name__ == "__main__":
    main()
