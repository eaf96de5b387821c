"""Benchmark of the quality inspection on a generated county of 100,000 parcels.

Prints, measured in the same run on the same data:

* our overlap detection (stream WKB out of PostGIS, project, shrink by the tolerance, STRtree,
  prepared ``intersects``, overlap areas), split into load and detection;
* baseline 1, the PostGIS self-join (``ST_Intersects`` on the GiST index, ``ST_Relate(a, b,
  'T********')``, ``ST_Area(ST_Intersection)``): its natural plan (``EXPLAIN``; on this data
  the planner ANDs a bitmap of the ``a.id < b.id`` range into the index scan, which takes
  minutes) and, timed, the plan forced onto the spatial index alone (``enable_bitmapscan=off``);
* baseline 2, the vectorised GEOS pipeline (STRtree ``query(predicate="intersects")`` +
  ``relate_pattern(a, b, "T********")`` + overlap areas) on the same WKB, timed with the
  server projecting (``ST_AsBinary(ST_Transform(geom, srid))``) and with our client-side
  projection, the faster of the two counting as the baseline;
* the ratio ours / fastest baseline, and that the three find the same overlapping pairs;
* the full inspection (every rule), per stage;
* the edit-time check of one parcel (p50/p95 over 200 parcels, each moved 0.5 m, and as it is).

It uses its own database (``NONGDI_PG_DB``, default ``bench_qc``; created and migrated if
missing, never ``nongdi``) and its own county: a jittered lattice of quadrilateral fields with
edge midpoints (8 vertices each), neighbours sharing vertices exactly, grouped 500 to a group
(组), 5 groups to a village, 10 villages to a town; 0.2 % of the fields grown by 2 % (real
overlaps), 0.05 % shrunk by 2 % (gaps), 10 bow-ties; households of 4 parcels with 3 members,
their contracts, register entries and certificates. ``--source demo`` uses ``load_demo`` instead.

Run (see bench/README.md)::

    NONGDI_PG_DB=bench_qc .venv/bin/python -m bench.qc_bench --parcels 100000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gisapp.settings.local")
os.environ.setdefault("NONGDI_PG_DB", "bench_qc")

COUNTY = "310151"
AREA_SRID = 4528
BLOCK_COLS, BLOCK_ROWS = 25, 20  # one group: 500 fields
CELL_W, CELL_H = 40.0, 25.0  # metres
ORIGIN = (40_600_000.0, 3_490_000.0)  # zone 40, near 121.0E 31.5N


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- database ------------------------------------------------------------------------------


def ensure_database(name: str) -> None:
    if name == "nongdi":
        sys.exit("qc_bench: refusing to use the development database 'nongdi'; set NONGDI_PG_DB=bench_qc")
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=name, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- the generated county ------------------------------------------------------------------


def lattice(columns: int, rows: int, seed: int) -> Any:
    """Jittered lattice fields with a jittered midpoint on each edge: (rows × columns)
    polygons of 8 vertices in EPSG:4528, neighbours sharing every vertex."""
    import numpy as np
    import shapely

    rng = np.random.default_rng(seed)
    x0, y0 = ORIGIN
    X = x0 + np.arange(columns + 1)[None, :] * CELL_W + rng.uniform(-6, 6, (rows + 1, columns + 1))
    Y = y0 + np.arange(rows + 1)[:, None] * CELL_H + rng.uniform(-4, 4, (rows + 1, columns + 1))
    HX = (X[:, :-1] + X[:, 1:]) / 2 + rng.uniform(-1, 1, (rows + 1, columns))
    HY = (Y[:, :-1] + Y[:, 1:]) / 2 + rng.uniform(-1, 1, (rows + 1, columns))
    VX = (X[:-1, :] + X[1:, :]) / 2 + rng.uniform(-1, 1, (rows, columns + 1))
    VY = (Y[:-1, :] + Y[1:, :]) / 2 + rng.uniform(-1, 1, (rows, columns + 1))
    j, i = (a.ravel() for a in np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij"))
    xs = np.stack(
        [X[j, i], HX[j, i], X[j, i + 1], VX[j, i + 1], X[j + 1, i + 1], HX[j + 1, i], X[j + 1, i], VX[j, i]], 1
    )
    ys = np.stack(
        [Y[j, i], HY[j, i], Y[j, i + 1], VY[j, i + 1], Y[j + 1, i + 1], HY[j + 1, i], Y[j + 1, i], VY[j, i]], 1
    )
    ring = np.stack([xs, ys], axis=2)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    return shapely.polygons(ring), j, i


def generate(parcels: int, seed: int = 2019) -> dict[str, Any]:
    """Write the county: regions, collectives, parcels (COPY), register tables (SQL)."""
    import numpy as np
    import shapely
    from django.db import connection

    from layers.checks.dataset import reproject

    if parcels % 500:
        sys.exit("qc_bench: --parcels must be a multiple of 500 (one group is 500 fields)")
    t0 = time.perf_counter()
    blocks = parcels // 500
    bx = max(1, math.ceil(math.sqrt(blocks * 2)))
    by = math.ceil(blocks / bx)
    cells, row, col = lattice(bx * BLOCK_COLS, by * BLOCK_ROWS, seed)
    block = (row // BLOCK_ROWS) * bx + (col // BLOCK_COLS)
    within = (row % BLOCK_ROWS) * BLOCK_COLS + (col % BLOCK_COLS) + 1
    keep = block < blocks
    cells, block, within = cells[keep], block[keep], within[keep]
    order = np.lexsort((within, block))
    cells, block, within = cells[order], block[order], within[order]

    def group_code(g: int) -> str:
        village, town = g // 5, g // 50
        return f"{COUNTY}{101 + town:03d}{village % 10 + 1:03d}{g % 5 + 1:02d}"

    groups = [group_code(g) for g in range(blocks)]
    codes = [f"{groups[g]}{s:05d}" for g, s in zip(block.tolist(), within.tolist(), strict=True)]

    # regions: unions of whole blocks (exact: the blocks share their lattice vertices)
    shapes: dict[str, Any] = {}
    for g in range(blocks):
        shapes[groups[g]] = shapely.coverage_union_all(cells[block == g])
    for length in (12, 9, 6):
        parents = sorted({c[:length] for c in groups})
        children = {
            p: [shapes[c] for c in shapes if len(c) == {12: 14, 9: 12, 6: 9}[length] and c.startswith(p)]
            for p in parents
        }
        for p, parts in children.items():
            shapes[p] = shapely.coverage_union_all(np.array(parts, dtype=object))

    # defects
    rng = np.random.default_rng(seed + 1)
    geoms = cells.copy()
    picks = rng.permutation(len(geoms))
    grown = picks[: len(geoms) // 500]
    shrunk = picks[len(geoms) // 500 : len(geoms) // 500 + len(geoms) // 2000]
    bowties = picks[len(geoms) // 500 + len(geoms) // 2000 :][:10]
    for k in grown:
        geoms[k] = shapely.affinity.scale(geoms[k], 1.02, 1.02)
    for k in shrunk:
        geoms[k] = shapely.affinity.scale(geoms[k], 0.98, 0.98)
    for k in bowties:
        c = shapely.get_coordinates(geoms[k])
        c[[2, 4]] = c[[4, 2]]
        geoms[k] = shapely.Polygon(c)
    areas = np.abs(shapely.area(geoms))
    lonlat = reproject(geoms, AREA_SRID, 4490)
    multi = shapely.set_srid(shapely.multipolygons(lonlat[:, None]), 4490)
    hexes = shapely.to_wkb(multi, hex=True, include_srid=True)
    log(f"generated {len(codes)} fields in {time.perf_counter() - t0:.1f} s")

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE qc_finding, qc_run, cbjyqz, cbjyqzdjb, cbdkxx, cbht, cbf_jtcy, cbf, fbf, dk, mzdw, xzdw, "
            "account_profile, region RESTART IDENTITY CASCADE"
        )
        region_rows = []
        for code_, geom in sorted(shapes.items()):
            level = {6: "county", 9: "town", 12: "village", 14: "group"}[len(code_)]
            poly = shapely.set_srid(
                reproject(shapely.multipolygons([geom]) if geom.geom_type == "Polygon" else geom, AREA_SRID, 4490), 4490
            )
            region_rows.append((code_, level, shapely.to_wkb(poly, hex=True, include_srid=True)))
        for code_, level, geom_hex in region_rows:
            cursor.execute(
                "INSERT INTO region (qydm, qymc, level, geom, area_srid, parent_id) VALUES "
                "(%s, %s, %s, %s::geometry, %s, (SELECT id FROM region WHERE qydm = %s))",
                [
                    code_,
                    f"{level} {code_}",
                    level,
                    geom_hex,
                    AREA_SRID if level == "county" else None,
                    code_[: {6: 0, 9: 6, 12: 9, 14: 12}[len(code_)]],
                ],
            )
    t1 = time.perf_counter()
    raw = connection.connection
    scmj = [Decimal(repr(float(a))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for a in areas]
    scmj = [max(s, Decimal("0.01")) for s in scmj]
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY dk (version, created_at, updated_at, bsm, ysdm, dkbm, dkmc, dklb, dldj, tdyt, sfjbnt, scmj, "
            "dkdz, dkxz, dknz, dkbz, kjzb, scmjm, geom, status) FROM STDIN"
        ) as copy,
    ):
        for k, (code_, s, h) in enumerate(zip(codes, scmj, hexes, strict=True)):
            mu = (s * Decimal("0.0015")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            copy.write_row(
                (
                    1,
                    "now",
                    "now",
                    k + 1,
                    "211011",
                    code_,
                    "大田",
                    "10",
                    "05",
                    "1",
                    "1",
                    s,
                    "路",
                    "沟",
                    "田",
                    "田",
                    "",
                    mu,
                    h,
                    "current",
                )
            )
    log(f"copied {len(codes)} parcels in {time.perf_counter() - t1:.1f} s")
    _register_tables()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    log(f"county written in {time.perf_counter() - t0:.1f} s")
    return {"parcels": len(codes), "grown": len(grown), "shrunk": len(shrunk), "bowties": len(bowties)}


def _register_tables() -> None:
    """Households of 4 parcels (3 members, the first the head), their family contracts,
    register entries and certificates: set-wise SQL over the parcels."""
    from django.db import connection

    statements = [
        """INSERT INTO fbf (version, created_at, updated_at, fbfbm, fbfmc, fbffzrxm, fzrzjlx, fzrzjhm, fbfdz,
               yzbm, fbfdcy, fbfdcrq)
           SELECT 1, now(), now(), qydm, qymc, '王建国', '1', '310151196501011234', '示范镇', '202150', '李调查',
               DATE '2019-05-01' FROM region WHERE level = 'group'""",
        """CREATE TEMP TABLE bench_hh ON COMMIT DROP AS
           SELECT dkbm, substr(dkbm, 1, 14) AS fbfbm,
                  substr(dkbm, 1, 14) || lpad(((substr(dkbm, 15, 5)::int - 1) / 4 + 1)::text, 4, '0') AS cbfbm, scmj
           FROM dk WHERE status = 'current'""",
        """INSERT INTO cbf (version, created_at, updated_at, cbfbm, fbfbm, cbflx, cbfmc, cbfzjlx, cbfzjhm, cbfdz,
               yzbm, cbfcysl, cbfdcrq, cbfdcy, gsjsr, gsshrq, gsshr, status)
           SELECT DISTINCT 1, now(), now(), cbfbm, fbfbm, '1', '农户' || right(cbfbm, 4), '1',
               '3101511980' || right(cbfbm, 8), '示范村', '202150', 3, DATE '2019-05-02', '李调查', '张公示',
               DATE '2019-06-01', '赵审核', 'current' FROM bench_hh""",
        """INSERT INTO cbf_jtcy (version, created_at, updated_at, cbfbm, cyxm, cyxb, cyzjlx, cyzjhm, yhzgx, status)
           SELECT 1, now(), now(), c.cbfbm, '成员' || n, '1', '1',
               '31015119' || lpad(n::text, 2, '0') || right(c.cbfbm, 8),
               CASE n WHEN 1 THEN '02' WHEN 2 THEN '10' ELSE '20' END, 'current'
           FROM cbf c CROSS JOIN generate_series(1, 3) n""",
        """INSERT INTO cbht (version, created_at, updated_at, cbhtbm, fbfbm, cbfbm, cbfs, cbqxq, cbqxz, htzmj,
               htzmjm, cbdkzs, qdsj, status)
           SELECT 1, now(), now(), cbfbm || 'J', fbfbm, cbfbm, '110', DATE '2019-01-01', DATE '2049-01-01',
               sum(scmj), round(sum(scmj) * 0.0015, 2), count(*), DATE '2019-06-01', 'current'
           FROM bench_hh GROUP BY cbfbm, fbfbm""",
        """INSERT INTO cbdkxx (version, created_at, updated_at, dkbm, fbfbm, cbfbm, cbhtbm, cbjyqqdfs, htmj, htmjm,
               cbjyqzbm, status)
           SELECT 1, now(), now(), dkbm, fbfbm, cbfbm, cbfbm || 'J', '110', scmj, round(scmj * 0.0015, 2),
               cbfbm || 'J', 'current' FROM bench_hh""",
        """INSERT INTO cbjyqzdjb (version, created_at, updated_at, cbjyqzbm, fbfbm, cbfbm, cbfs, cbqx, cbqxq, cbqxz,
               dksyt, cbjyqzlsh, dbr, djsj, status)
           SELECT 1, now(), now(), cbhtbm, fbfbm, cbfbm, cbfs, '2019年01月01日至2049年01月01日', cbqxq, cbqxz,
               'DKSYT' || cbhtbm || '.pdf', right(cbhtbm, 5), '王登簿', DATE '2019-07-01', 'current' FROM cbht""",
        """INSERT INTO cbjyqz (version, created_at, updated_at, cbjyqzbm, fzjg, fzrq, qzsflq, state)
           SELECT 1, now(), now(), cbjyqzbm, '示范区人民政府', DATE '2019-08-01', '2', 'valid' FROM cbjyqzdjb""",
    ]
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def county_ready(parcels: int) -> bool:
    from parcels.models import Parcel

    return Parcel.objects.filter(code__startswith=COUNTY, status="current").count() == parcels


# --- the measurements ---------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(best, median) seconds over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


# Pairs with an invalid parcel get no area (GEOS cannot intersect them; the other two
# pipelines leave invalid parcels out too): guarded per result row, not per candidate pair.
SELF_JOIN = """
SELECT a.dkbm, b.dkbm,
       CASE WHEN ST_IsValid(a.geom) AND ST_IsValid(b.geom)
            THEN ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), {srid})) END AS area
FROM dk a JOIN dk b ON ST_Intersects(a.geom, b.geom) AND a.id < b.id
WHERE ST_Relate(a.geom, b.geom, 'T********')
  AND a.status = 'current' AND b.status = 'current'
  AND a.dkbm LIKE '{county}%' AND b.dkbm LIKE '{county}%'
"""


def sql_baseline(repeat: int, bad_plan_timeout: float) -> dict[str, Any]:
    from django.db import connection, transaction

    sql = SELF_JOIN.format(srid=AREA_SRID, county=COUNTY)
    out: dict[str, Any] = {}
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        out["natural_plan"] = "\n".join(r[0] for r in cursor.fetchall())
    out["natural_plan_uses_id_bitmap"] = "BitmapAnd" in out["natural_plan"]

    def forced() -> list[tuple[str, str, float]]:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute(sql)
            return list(cursor.fetchall())

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql)
        out["forced_plan"] = "\n".join(r[0] for r in cursor.fetchall())
    best, median, rows = timed(forced, repeat)
    out.update(forced_best_s=best, forced_median_s=median, pairs=rows)
    if bad_plan_timeout > 0:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL statement_timeout = {int(bad_plan_timeout * 1000)}")
                t = time.perf_counter()
                cursor.execute(sql)
                cursor.fetchall()
                out["natural_s"] = time.perf_counter() - t
        except Exception as exc:  # a timeout is the expected outcome
            out["natural_s"] = f"> {bad_plan_timeout:g} s (cancelled: {type(exc).__name__})"
    return out


def geos_baseline(repeat: int, min_area: float) -> dict[str, Any]:
    """STRtree + relate_pattern + intersection areas, on server-projected WKB and on the
    client-projected one; no tolerance in the detection (as the issue describes it)."""
    import numpy as np
    import shapely

    from layers.checks.dataset import Scope, fetch_wkb, load_parcels

    def detect(geoms: Any) -> tuple[Any, Any, Any]:
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        inner = shapely.relate_pattern(geoms[a], geoms[b], "T********")
        a, b = a[inner], b[inner]
        area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        big = area >= min_area
        return a[big], b[big], area[big]

    def server() -> tuple[list[str], Any]:
        rows = fetch_wkb(
            f"SELECT dkbm, ST_AsBinary(ST_Transform(geom, {AREA_SRID})) FROM dk "
            "WHERE status = 'current' AND dkbm LIKE %s",
            [COUNTY + "%"],
        )
        codes = [r[0] for r in rows]
        geoms = shapely.from_wkb([r[1] for r in rows])
        ok = shapely.is_valid(geoms)
        return [c for c, k in zip(codes, ok, strict=True) if k], geoms[ok]

    def client() -> tuple[list[str], Any]:
        ps = load_parcels(Scope(COUNTY), context=False)
        return [ps.codes[i] for i in ps.topology_index], ps.geoms[ps.topology_index]

    out: dict[str, Any] = {}
    for label, load in (("server_transform", server), ("client_transform", client)):
        load_best, _, (codes, geoms) = timed(load, repeat)
        detect_best, detect_median, (a, b, area) = timed(lambda g=geoms: detect(g), repeat)
        full_best, full_median, _ = timed(lambda ld=load: detect(ld()[1]), repeat)
        pairs = sorted(tuple(sorted((codes[i], codes[j]))) for i, j in zip(a, b, strict=True))
        out[label] = {
            "load_best_s": load_best,
            "detect_best_s": detect_best,
            "detect_median_s": detect_median,
            "total_best_s": full_best,
            "total_median_s": full_median,
            "pairs": pairs,
            "areas": dict(zip(pairs, np.asarray(area).tolist(), strict=True)),
        }
    return out


def ours(repeat: int) -> dict[str, Any]:
    from layers.checks.catalogue import Tolerances
    from layers.checks.dataset import Scope, load_parcels
    from layers.checks.topology import check_overlaps

    tol = Tolerances()

    def run() -> tuple[float, float, Any]:
        t = time.perf_counter()
        ps = load_parcels(Scope(COUNTY))
        loaded = time.perf_counter() - t
        _, found = check_overlaps(ps, tol)
        return loaded, time.perf_counter() - t - loaded, (ps, found)

    best, median, (loaded, detected, (ps, found)) = timed(run, repeat)
    pairs = sorted(tuple(sorted((ps.codes[i], ps.codes[j]))) for i, j in zip(found.a, found.b, strict=True))
    return {"best_s": best, "median_s": median, "load_s": loaded, "detect_s": detected, "pairs": pairs}


def full_inspection(repeat: int) -> dict[str, Any]:
    from layers.checks.engine import run_inspection

    best, median, result = timed(lambda: run_inspection(COUNTY), repeat)
    return {
        "best_s": best,
        "median_s": median,
        "timings": result.timings,
        "errors": result.errors,
        "warnings": result.warnings,
        "counts": result.counts(),
    }


def edit_check(samples: int) -> dict[str, Any]:
    import numpy as np
    import shapely
    from django.contrib.gis.geos import GEOSGeometry

    from layers.checks.dataset import reproject
    from layers.checks.guard import check_parcel_edit
    from parcels.models import Parcel

    rng = np.random.default_rng(5)
    ids = list(Parcel.objects.filter(code__startswith=COUNTY, status="current").values_list("pk", flat=True))
    chosen = sorted(rng.choice(len(ids), size=min(samples, len(ids)), replace=False).tolist())
    parcels = list(Parcel.objects.filter(pk__in=[ids[k] for k in chosen]).order_by("code"))
    moved_times, same_times, refused = [], [], 0
    for parcel in parcels:
        shape = shapely.from_wkb(bytes(parcel.geom.wkb))
        metric = reproject(shape, 4490, AREA_SRID)
        moved = GEOSGeometry(
            memoryview(shapely.to_wkb(reproject(shapely.affinity.translate(metric, 0.5, 0), AREA_SRID, 4490))),
            srid=4490,
        )
        t = time.perf_counter()
        found = check_parcel_edit(geom=moved, exclude_code=parcel.code)
        moved_times.append(time.perf_counter() - t)
        refused += bool(found)
        t = time.perf_counter()
        check_parcel_edit(geom=parcel.geom, exclude_code=parcel.code)
        same_times.append(time.perf_counter() - t)

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(np.array(values) * 1000, q))

    return {
        "samples": len(parcels),
        "moved_p50_ms": pct(moved_times, 50),
        "moved_p95_ms": pct(moved_times, 95),
        "unchanged_p50_ms": pct(same_times, 50),
        "unchanged_p95_ms": pct(same_times, 95),
        "moved_refused": refused,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--source", choices=["grid", "demo"], default="grid")
    parser.add_argument("--regenerate", action="store_true", help="write the county again even if present")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per measurement (best and median)")
    parser.add_argument("--edit-samples", type=int, default=200)
    parser.add_argument("--skip-sql", action="store_true", help="leave out the PostGIS self-join baseline")
    parser.add_argument(
        "--bad-plan-timeout", type=float, default=0.0, help="also run the natural SQL plan, cancelled after S s"
    )
    parser.add_argument("--out", help="write the figures as JSON here too")
    args = parser.parse_args(argv)

    database = os.environ["NONGDI_PG_DB"]
    import django

    django.setup()
    ensure_database(database)
    migrate()
    generated: dict[str, Any] | None = None
    if args.regenerate or not county_ready(args.parcels):
        if args.source == "demo":
            from django.core.management import call_command

            call_command("load_demo", parcels=args.parcels, no_raster=True, replace=True)
        else:
            generated = generate(args.parcels)
    load = os.getloadavg()
    log(f"database {database}, {args.parcels} parcels, {os.cpu_count()} CPUs, load {load[0]:.2f}")

    from layers.checks.catalogue import DEFAULT_TOLERANCES

    figures: dict[str, Any] = {"parcels": args.parcels, "database": database, "generated": generated}
    mine = ours(args.repeat)
    log(f"ours: {mine['best_s']:.2f} s (load {mine['load_s']:.2f} + detect {mine['detect_s']:.2f})")
    geos = geos_baseline(args.repeat, DEFAULT_TOLERANCES.min_overlap_area)
    for label, g in geos.items():
        log(
            f"GEOS baseline ({label}): {g['total_best_s']:.2f} s "
            f"(load {g['load_best_s']:.2f} + detect {g['detect_best_s']:.2f})"
        )
    sql = None if args.skip_sql else sql_baseline(args.repeat, args.bad_plan_timeout)
    if sql:
        log(f"SQL self-join, forced onto the spatial index: {sql['forced_best_s']:.2f} s")

    baselines = {f"geos_{k}": v["total_best_s"] for k, v in geos.items()}
    if sql:
        baselines["sql_forced_good_plan"] = sql["forced_best_s"]
    fastest = min(baselines, key=baselines.__getitem__)
    # Our pairs are the baseline's minus the overlaps narrower than 2 × 0.001 m (the tolerance):
    base_pairs = set(geos["client_transform"]["pairs"])
    our_pairs = set(mine["pairs"])
    thin = base_pairs - our_pairs
    sql_pairs = (
        {tuple(sorted((a, b))) for a, b, area in sql["pairs"] if (area or 0) >= DEFAULT_TOLERANCES.min_overlap_area}
        if sql
        else None
    )
    figures.update(
        ours={k: v for k, v in mine.items() if k != "pairs"} | {"overlapping_pairs": len(our_pairs)},
        geos_baseline={
            k: {kk: vv for kk, vv in v.items() if kk not in ("pairs", "areas")} | {"overlapping_pairs": len(v["pairs"])}
            for k, v in geos.items()
        },
        sql_baseline=(
            {k: v for k, v in sql.items() if k != "pairs"} | {"overlapping_pairs": len(sql_pairs or ())}
            if sql
            else None
        ),
        fastest_baseline=fastest,
        ratio_ours_to_fastest=mine["best_s"] / baselines[fastest],
        same_pairs={
            "ours_subset_of_geos": our_pairs <= base_pairs,
            "geos_only_pairs": len(thin),
            "geos_only_max_area_m2": max((geos["client_transform"]["areas"][p] for p in thin), default=0.0),
            "sql_equals_geos": sql_pairs == base_pairs if sql_pairs is not None else None,
        },
    )
    figures["full_inspection"] = full_inspection(args.repeat)
    figures["edit_check"] = edit_check(args.edit_samples)
    figures["load_average_end"] = os.getloadavg()[0]
    figures["load_average_start"] = load[0]
    print_report(figures, sql)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, ensure_ascii=False, indent=1, default=str)
    return 0


def print_report(f: dict[str, Any], sql: dict[str, Any] | None) -> None:
    o, g = f["ours"], f["geos_baseline"]
    lines = [
        f"parcels: {f['parcels']}   CPUs: {os.cpu_count()}   load average: {f['load_average_start']:.2f} → "
        f"{f['load_average_end']:.2f}",
        "",
        "overlap detection (best of runs; median in brackets)",
        f"  ours                          {o['best_s']:7.2f} s  ({o['median_s']:.2f})  load {o['load_s']:.2f} + "
        f"detect {o['detect_s']:.2f}   pairs {o['overlapping_pairs']}",
    ]
    for label, v in g.items():
        lines.append(
            f"  GEOS baseline, {label:16s}{v['total_best_s']:7.2f} s  ({v['total_median_s']:.2f})  load "
            f"{v['load_best_s']:.2f} + detect {v['detect_best_s']:.2f}   pairs {v['overlapping_pairs']}"
        )
    if sql:
        s = f["sql_baseline"]
        lines.append(
            f"  SQL self-join, forced plan    {s['forced_best_s']:7.2f} s  ({s['forced_median_s']:.2f})   pairs "
            f"{s['overlapping_pairs']} (≥ min area)"
        )
        natural = s.get("natural_s")
        lines.append(
            "  SQL self-join, natural plan   "
            + (f"{natural:7.2f} s" if isinstance(natural, float) else str(natural or "not run (--bad-plan-timeout)"))
            + f"   uses the id-range bitmap: {s['natural_plan_uses_id_bitmap']}"
        )
    lines += [
        f"  fastest baseline: {f['fastest_baseline']}   ratio ours / fastest = {f['ratio_ours_to_fastest']:.2f}",
        f"  same pairs: {json.dumps(f['same_pairs'])}",
        "",
        f"full inspection: {f['full_inspection']['best_s']:.2f} s (median {f['full_inspection']['median_s']:.2f})  "
        f"errors {f['full_inspection']['errors']}, warnings {f['full_inspection']['warnings']}",
        "  stages: " + ", ".join(f"{k} {v:.2f}" for k, v in f["full_inspection"]["timings"].items()),
        "  counts: " + json.dumps(f["full_inspection"]["counts"]),
        "",
        f"edit-time check over {f['edit_check']['samples']} parcels: moved 0.5 m p50 "
        f"{f['edit_check']['moved_p50_ms']:.1f} ms, p95 {f['edit_check']['moved_p95_ms']:.1f} ms "
        f"({f['edit_check']['moved_refused']} refused); unchanged p50 {f['edit_check']['unchanged_p50_ms']:.1f} ms, "
        f"p95 {f['edit_check']['unchanged_p95_ms']:.1f} ms",
    ]
    if sql:
        lines += [
            "",
            "EXPLAIN, natural plan:",
            sql["natural_plan"],
            "",
            "EXPLAIN, enable_bitmapscan = off:",
            sql["forced_plan"],
        ]
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
