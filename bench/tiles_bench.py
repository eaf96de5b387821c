"""Map benchmark: vector tiles, identify and a guarded save, over HTTP against the same SQL.

On a generated county of at least 100,000 parcels in its own database, in the same run:

* tiles, cold cache: every sampled tile at z14-z18 requested once from our HTTP path (Django
  under gunicorn, one sync worker, an empty tile cache), and the bare ``ST_AsMVT`` statement
  of the same tile (``layers.tiles.mvt_sql``) run directly with psycopg; the order of the two
  alternates tile by tile, so neither always finds PostgreSQL's buffers warmed by the other.
  Printed per zoom: p50/p95 of each, the ratio, features and bytes per tile, the share of the
  features that take the short path of ``tiles.FAST_POLYGON`` (no clipping, no repair), and
  what our path adds beyond the HTTP floor and the statement (HTTP p50 - floor - bare p50)
  (targets: HTTP p95 under 50 ms, HTTP within 1.3x of the bare query). Both connections use
  prepared statements (psycopg prepares the bare one after five runs; our path prepares its
  own). For reference, the p50 of the same statement without the marker that keeps its plan
  serial (``tiles.SERIAL_PLAN``) is printed too: what the planner does on its own;
* the floor of the HTTP path: a tile below the layer's minimum zoom (no database work);
* tiles, warm: the same tiles again (disk-cache hits: one fingerprint query) and revalidated
  with their ETag (304s);
* identify: ``GET /api/parcels/at`` at points inside random parcels, as the public (one query)
  and as a signed-in clerk (register summary); target p95 under 20 ms;
* save: ``PATCH /api/editor/parcels/<dkbm>`` by a surveyor with the parcel shrunk by 0.05 %
  around its centroid (a real edit: version + 1, a ChangeRecord, the overlap check, 四至
  suggestion, re-measured area), and the overlap check alone in-process on the same shapes;
  target p95 under 100 ms. These saves change the benchmark database (its parcels shrink a
  little each run), which is why it is a database of its own.

The machine may be shared: the CPU count and load average are printed before and after.

Example::

    NONGDI_PG_DB=bench_tiles .venv/bin/python bench/tiles_bench.py --setup 100000
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gisapp.settings.local")
os.environ.setdefault("NONGDI_PG_DB", "bench_tiles")

from bench.common import pct, setup_database  # noqa: E402  (after the settings are chosen)

ZOOMS = (14, 15, 16, 17, 18)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} {five:.2f} {fifteen:.2f}"


class Server:
    """gunicorn serving the project with benchmark settings: DEBUG off, an empty tile cache."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-tiles-settings-"))
        (self.dir / "bench_tiles_settings.py").write_text(
            textwrap.dedent(
                f"""
                from gisapp.settings.local import *  # noqa: F403
                DEBUG = False
                ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
                TILE_CACHE_DIR = {str(cache_dir)!r}
                """
            )
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench_tiles_settings", PYTHONPATH=f"{self.dir}:{ROOT}")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [str(gunicorn), "gisapp.wsgi", "-b", f"127.0.0.1:{self.port}", "-w", "1", "--log-level", "warning"],
            cwd=ROOT,
            env=env,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _, _, _ = self.get("/tiles/parcels/0/0/0.pbf")
                if status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, float, bytes, http.client.HTTPResponse]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        connection.close()
        return response.status, elapsed, data, response

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, float, bytes, Any]:
        return self.request("GET", path, headers=headers)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def session_cookie(username: str) -> str:
    """A signed-in session for a demo account, written straight into the session table."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.get(username=username)
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"sessionid={store.session_key}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", type=int, metavar="PARCELS", help="create, migrate and load the demo county first")
    parser.add_argument("--min-parcels", type=int, default=100_000)
    parser.add_argument("--tiles", type=int, default=60, help="tiles sampled per zoom (default 60)")
    parser.add_argument("--identify", type=int, default=200, help="identify requests per audience (default 200)")
    parser.add_argument("--saves", type=int, default=60, help="guarded saves (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--default-samples", type=int, default=10, help="tiles per zoom also run with the server's planner defaults"
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    if args.setup:
        setup_database(args.setup)

    import django

    django.setup()
    import psycopg
    from django.conf import settings
    from django.contrib.gis.geos import GEOSGeometry
    from django.db import connection

    from layers import tiles
    from parcels import services
    from parcels.models import Parcel
    from parcels.selectors import parcel_overlaps

    db = settings.DATABASES["default"]
    if db["NAME"] == "nongdi":
        sys.exit("refusing to benchmark the development database 'nongdi': set NONGDI_PG_DB")
    current = Parcel.objects.filter(status="current").count()
    if current < args.min_parcels:
        sys.exit(f"{db['NAME']} holds {current} current parcels (< {args.min_parcels}): run with --setup 100000")
    rng = random.Random(args.seed)
    print(f"database {db['NAME']}: {current} current parcels; {load()}")

    # Sample tiles around random parcels: what a user pans over.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM dk "
            "WHERE status = 'current' ORDER BY random() LIMIT %s) s",
            [args.tiles * len(ZOOMS) * 2],
        )
        points = cursor.fetchall()
    rng.shuffle(points)
    samples: dict[int, list[tuple[int, int]]] = {}
    for z in ZOOMS:
        seen: set[tuple[int, int]] = set()
        for lon, lat in points:
            seen.add(tile_of(lon, lat, z))
            if len(seen) == args.tiles:
                break
        samples[z] = sorted(seen)
    layer = tiles.layers()["parcels"]

    cache_dir = Path(tempfile.mkdtemp(prefix="bench-tiles-cache-"))
    server = Server(cache_dir)
    dsn = {"dbname": db["NAME"], "host": str(db["HOST"]), "port": str(db["PORT"]), "user": db["USER"]}
    bare_connection = psycopg.connect(**dsn, autocommit=True)
    # The same statement without the marker that keeps its plan serial (tiles.SERIAL_PLAN), to
    # show what the planner does on its own.
    default_connection = psycopg.connect(**dsn, autocommit=True)
    results: dict[str, Any] = {"zooms": {}, "load_before": load()}
    try:
        # Warm both paths' code and PostgreSQL's catalogue caches on a tile outside the sample.
        server.get("/tiles/parcels/14/0/0.pbf")
        bare_connection.execute(*tiles.mvt_sql(layer, 14, 0, 0)).fetchone()

        # The floor of the HTTP path: a tile below the layer's minimum zoom touches no database.
        floor = [server.get(f"/tiles/parcels/10/{k}/0.pbf")[1] for k in range(100)]
        results["http_floor_p50"] = statistics.median(floor)
        print(f"HTTP floor (gunicorn + Django, no query): p50 {statistics.median(floor):.2f} ms")

        print("\nvector tiles, layer parcels, cold tile cache (ms)")
        print(
            f"{'zoom':>4} {'tiles':>5} {'feat/tile':>9} {'short':>6} {'KB/tile':>8}  {'HTTP p50':>8} {'p95':>6}  "
            f"{'bare p50':>8} {'p95':>6}  {'ratio p50':>9} {'p95':>5}  {'over floor':>10}  {'parallel-ok p50':>15}"
        )
        all_http: list[float] = []
        all_bare: list[float] = []
        etags: dict[str, str] = {}
        for z in ZOOMS:
            http_ms: list[float] = []
            bare_ms: list[float] = []
            default_ms: list[float] = []
            sizes: list[int] = []
            features: list[int] = []
            short: list[int] = []
            for k, (x, y) in enumerate(samples[z]):
                sql, params = tiles.mvt_sql(layer, z, x, y)
                path = f"/tiles/parcels/{z}/{x}/{y}.pbf"

                for step in ("http", "bare") if k % 2 == 0 else ("bare", "http"):
                    if step == "http":
                        status, ms, data, response = server.get(path)
                        assert status == 200 and response.getheader("X-Tile-Cache") == "miss", (status, path)
                        http_ms.append(ms)
                        sizes.append(len(data))
                        etags[path] = response.getheader("ETag")
                    else:
                        started = time.perf_counter()
                        bare_connection.execute(sql, params).fetchone()
                        bare_ms.append((time.perf_counter() - started) * 1000)
                if k < args.default_samples:
                    started = time.perf_counter()
                    default_connection.execute(sql.replace(tiles.SERIAL_PLAN, "1"), params).fetchone()
                    default_ms.append((time.perf_counter() - started) * 1000)
                with connection.cursor() as cursor:
                    # Rows of the tile, and how many of them take the short path (tiles.FAST_POLYGON).
                    cursor.execute(
                        f"{tiles.ENVELOPE_SQL} SELECT count(*), count(*) FILTER (WHERE {tiles.SHORT_PATH_APPLIES}) "
                        "FROM dk t, env WHERE t.geom && env.geo AND t.status = 'current'",
                        tiles._envelope_params(z, x, y),
                    )
                    total, fast = cursor.fetchone()
                    features.append(total)
                    short.append(fast)
            row = {
                "tiles": len(http_ms),
                "features_mean": statistics.mean(features),
                "short_path_share": sum(short) / max(1, sum(features)),
                "kb_mean": statistics.mean(sizes) / 1024,
                "http_p50": statistics.median(http_ms),
                "http_p95": pct(http_ms, 0.95),
                "bare_p50": statistics.median(bare_ms),
                "bare_p95": pct(bare_ms, 0.95),
            }
            row["default_p50"] = statistics.median(default_ms) if default_ms else None
            row["ratio_p50"] = row["http_p50"] / row["bare_p50"]
            row["ratio_p95"] = row["http_p95"] / row["bare_p95"]
            # What our path adds to any Django request (the floor) and to the statement.
            row["over_floor_p50"] = row["http_p50"] - results["http_floor_p50"] - row["bare_p50"]
            results["zooms"][z] = row
            all_http += http_ms
            all_bare += bare_ms
            print(
                f"{z:>4} {row['tiles']:>5} {row['features_mean']:>9.0f} {row['short_path_share']:>6.0%} "
                f"{row['kb_mean']:>8.1f}  "
                f"{row['http_p50']:>8.1f} {row['http_p95']:>6.1f}  {row['bare_p50']:>8.1f} {row['bare_p95']:>6.1f}  "
                f"{row['ratio_p50']:>8.2f}x {row['ratio_p95']:>4.2f}x  {row['over_floor_p50']:>10.1f}  "
                f"{row['default_p50'] or 0:>15.1f}"
            )
        results["all"] = {
            "http_p50": statistics.median(all_http),
            "http_p95": pct(all_http, 0.95),
            "bare_p50": statistics.median(all_bare),
            "bare_p95": pct(all_bare, 0.95),
            "sum_ratio": sum(all_http) / sum(all_bare),
        }
        a = results["all"]
        print(
            f" all {len(all_http):>5} {'':>9} {'':>6} {'':>8}  {a['http_p50']:>8.1f} {a['http_p95']:>6.1f}  "
            f"{a['bare_p50']:>8.1f} {a['bare_p95']:>6.1f}  total time ratio {a['sum_ratio']:.2f}x"
        )

        hits: list[float] = []
        revalidated: list[float] = []
        for path, etag in etags.items():
            status, ms, _, response = server.get(path)
            assert status == 200 and response.getheader("X-Tile-Cache") == "hit"
            hits.append(ms)
            status, ms, _, _ = server.get(path, {"If-None-Match": etag})
            assert status == 304
            revalidated.append(ms)
        results["warm"] = {
            "hit_p50": statistics.median(hits),
            "hit_p95": pct(hits, 0.95),
            "304_p50": statistics.median(revalidated),
            "304_p95": pct(revalidated, 0.95),
        }
        w = results["warm"]
        print(
            f"\nwarm tile cache, all zooms: hit p50 {w['hit_p50']:.1f} p95 {w['hit_p95']:.1f} ms; "
            f"304 revalidation p50 {w['304_p50']:.1f} p95 {w['304_p95']:.1f} ms"
        )

        # Identify.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM dk "
                "WHERE status = 'current' ORDER BY random() LIMIT %s) s",
                [args.identify],
            )
            spots = cursor.fetchall()
        clerk = session_cookie("clerk")
        print("\nidentify GET /api/parcels/at (ms)")
        results["identify"] = {}
        for audience, headers in (("public", {}), ("clerk", {"Cookie": clerk})):
            times = []
            for lon, lat in spots:
                status, ms, body, _ = server.get(f"/api/parcels/at?lng={lon:.9f}&lat={lat:.9f}", headers)
                assert status == 200, body[:200]
                times.append(ms)
            results["identify"][audience] = {"p50": statistics.median(times), "p95": pct(times, 0.95)}
            print(f"  {audience:<7} p50 {statistics.median(times):6.1f}  p95 {pct(times, 0.95):6.1f}  (n={len(times)})")

        # Guarded saves by the surveyor: PATCH with a slightly shrunk shape.
        surveyor = session_cookie("surveyor")
        status, _, _, response = server.get("/editor/", {"Cookie": surveyor})
        assert status == 200
        csrf = next(
            part.split("=", 1)[1]
            for part in (response.getheader("Set-Cookie") or "").replace(",", ";").split(";")
            if part.strip().startswith("csrftoken=")
        )
        cookie = f"{surveyor}; csrftoken={csrf}"
        codes = list(
            Parcel.objects.filter(status="current").order_by("?").values_list("code", "version", "geom")[: args.saves]
        )
        save_ms: list[float] = []
        check_ms: list[float] = []
        refused = 0
        for code, version, geom in codes:
            centre = geom.centroid
            ring = [(centre.x + (x - centre.x) * 0.9995, centre.y + (y - centre.y) * 0.9995) for x, y in geom[0][0]]
            shape = GEOSGeometry(json.dumps({"type": "Polygon", "coordinates": [ring]}))
            shape.srid = 4490
            started = time.perf_counter()
            parcel_overlaps(geom=shape, exclude=[code], area_srid=services.area_srid_for(code))
            check_ms.append((time.perf_counter() - started) * 1000)
            body = json.dumps({"expected_version": version, "geometry": json.loads(shape.json)}).encode()
            status, ms, data, _ = server.request(
                "PATCH",
                f"/api/editor/parcels/{code}",
                headers={"Cookie": cookie, "X-CSRFToken": csrf, "Content-Type": "application/json"},
                body=body,
            )
            if status != 200:
                refused += 1
                print(f"  save of {code} answered {status}: {data[:200]!r}")
                continue
            save_ms.append(ms)
        results["save"] = {
            "p50": statistics.median(save_ms),
            "p95": pct(save_ms, 0.95),
            "check_p50": statistics.median(check_ms),
            "check_p95": pct(check_ms, 0.95),
            "refused": refused,
        }
        s = results["save"]
        print(
            f"\nsave PATCH /api/editor/parcels/<dkbm> with the overlap check (ms): p50 {s['p50']:.1f}  p95 "
            f"{s['p95']:.1f}  (n={len(save_ms)}, refused {refused}); the overlap check alone in-process: "
            f"p50 {s['check_p50']:.1f}  p95 {s['check_p95']:.1f}"
        )
    finally:
        server.close()
        bare_connection.close()
        default_connection.close()
        shutil.rmtree(cache_dir, ignore_errors=True)
    results["load_after"] = load()
    print(f"\n{load()}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
