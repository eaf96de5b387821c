"""Import benchmark: our full package import against ``ogr2ogr`` loading the DK layer.

A generated county (``manage.py load_demo --parcels N --no-raster`` in a source database) is
exported once with ``manage.py export_package`` to a package folder, cached under
``var/bench/import/``. Then, in the benchmark's **own** database (``NONGDI_PG_DB``, default
``bench_import``), each round times, in alternating order:

* ours: ``manage.py import_package PKG`` in a child process: inspection of every file, all
  layers (DK, JZD, JZX, regions, reference layers) and the 12 Access tables staged with COPY,
  every check (formats, code tables, references, geometry validity, areas, overlaps), the
  load into the register and the commit; the county is emptied before each round;
* ogr2ogr: ``ogr2ogr -f PostgreSQL PG:… DK….shp -nln dk_ogr -lco GEOMETRY_NAME=geom
  -t_srs EPSG:4490 -overwrite``: the bare DK layer, nothing checked (the issue's baseline);
* bare tools, whole package: every shapefile by ``ogr2ogr`` and every Access table by
  ``mdb-export | psql \\copy``, one after the other, nothing checked: the same data as ours.

It prints both times (median and minimum), their ratio (target: within 2x), our peak memory
(the child's ``ru_maxrss``, mdb-export included; target < 1 GB) and our per-step timings from
the import report. The machine may be shared: CPU count and load average are printed.

Example::

    .venv/bin/python bench/import_bench.py --parcels 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PSQL_HOST = str(ROOT / "var" / "pg" / "run")
PSQL_PORT = os.environ.get("NONGDI_PG_PORT", "54329")
PSQL_USER = os.environ.get("NONGDI_PG_USER", "nongdi")
COUNTY = "310151"

# Every table the import writes, emptied before each round (the benchmark database holds
# nothing else). Regions are kept: the import upserts them.
REGISTER_TABLES = (
    "qslyzlfj, cbjyqz_qzzx, cbjyqz_qzhf, cbjyqz_qzbf, cbjyqz, cbjyqzdjb, lzht, cbdkxx, cbht, cbf_jtcy, cbf, fbf, "
    "jzx, jzd, dk_lineage, dk, kzd, qyjx, dzdw, xzdw, mzdw, jbntbhq, import_job"
)


def psql(db: str, sql: str) -> str:
    return subprocess.run(
        ["psql", "-h", PSQL_HOST, "-p", PSQL_PORT, "-U", PSQL_USER, "-v", "ON_ERROR_STOP=1", "-Atqc", sql, db],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def manage(db: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NONGDI_PG_DB": db, "DJANGO_SETTINGS_MODULE": "gisapp.settings.local"}
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=check, text=True)


def ensure_database(db: str) -> None:
    if db == "nongdi":
        raise SystemExit("refusing to benchmark in the development database 'nongdi'")
    if not psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
        psql("postgres", f"CREATE DATABASE {db}")
    psql(db, "CREATE EXTENSION IF NOT EXISTS postgis")
    manage(db, "migrate", "-v0")


def make_package(parcels: int, source_db: str, year: int) -> Path:
    """The exported package of the demo county with ``parcels`` parcels (cached)."""
    out = ROOT / "var" / "bench" / "import" / str(parcels)
    found = sorted(out.glob(f"{COUNTY}*/矢量数据/DK{COUNTY}{year}.shp"))
    if found:
        return found[0].parents[1]
    ensure_database(source_db)
    held = psql(source_db, f"SELECT count(*) FROM dk WHERE dkbm LIKE '{COUNTY}%' AND status = 'current'")
    if int(held or 0) != parcels:
        print(f"generating the demo county with {parcels} parcels in {source_db} …", flush=True)
        manage(source_db, "load_demo", "--parcels", str(parcels), "--no-raster", "--replace")
    out.mkdir(parents=True, exist_ok=True)
    print(f"exporting it to {out} …", flush=True)
    manage(source_db, "export_package", "--county", COUNTY, "--year", str(year), "--out", str(out), "--overwrite")
    return sorted(out.glob(f"{COUNTY}*/矢量数据/DK{COUNTY}{year}.shp"))[0].parents[1]


def bare_package_script(package: Path, pg: str, db: str) -> str:
    """A shell script loading the whole package with the bare tools, nothing checked: every
    shapefile of 矢量数据 by ``ogr2ogr -f PostgreSQL`` (one table each, into EPSG:4490) and every
    table of the attribute database by ``mdb-export`` piped into ``psql \\copy`` (all-text
    tables named after the CSV header), one after the other."""
    lines = ["set -euo pipefail"]
    for shp in sorted((package / "矢量数据").glob("*.shp")):
        table = "bare_" + shp.stem.lower()
        lines.append(
            f"ogr2ogr -f PostgreSQL {shlex.quote('PG:' + pg)} {shlex.quote(str(shp))} -nln {table} "
            "-lco GEOMETRY_NAME=geom -t_srs EPSG:4490 -overwrite"
        )
    psql_cmd = f"psql -h {shlex.quote(PSQL_HOST)} -p {PSQL_PORT} -U {PSQL_USER} -d {db} -v ON_ERROR_STOP=1 -q"
    for mdb in sorted((package / "权属数据").glob("*.mdb")):
        quoted = shlex.quote(str(mdb))
        lines.append(f"for t in $(mdb-tables -1 {quoted}); do")
        lines.append(f'  header=$( (mdb-export {quoted} "$t" || true) | head -1)')
        lines.append("  columns=$(echo \"$header\" | sed 's/,/ text, /g; s/$/ text/')")
        lines.append(f'  {psql_cmd} -c "DROP TABLE IF EXISTS bare_$t; CREATE TABLE bare_$t ($columns)"')
        lines.append(
            f'  mdb-export {quoted} "$t" | {psql_cmd} -c "\\copy bare_$t FROM STDIN (FORMAT csv, HEADER true)"'
        )
        lines.append("done")
    return "\n".join(lines)


def drop_bare_tables(db: str) -> None:
    tables = psql(db, "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE tablename LIKE 'bare\\_%'")
    if tables:
        psql(db, f"DROP TABLE {tables}")


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``cmd`` in a fresh wrapper process; wall seconds and the peak resident memory of
    the command and its children (``ru_maxrss`` of the wrapper's waited children)."""
    wrapper = [sys.executable, __file__, "--measure", "--", *cmd]
    done = subprocess.run(wrapper, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{cmd[0]} failed with status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure_main(cmd: list[str]) -> None:
    started = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode("utf-8", errors="replace")[-4000:])
        raise SystemExit(done.returncode)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024}))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        _measure_main(sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--package", type=Path, help="an existing county folder instead of the generated one")
    parser.add_argument("--source-db", default="bench_import_src", help="where the demo county is generated")
    parser.add_argument("--no-overlaps", action="store_true", help="pass --no-overlaps to the import")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    db = os.environ.get("NONGDI_PG_DB", "bench_import")

    package = args.package or make_package(args.parcels, args.source_db, args.year)
    dk = sorted((package / "矢量数据").glob("DK*.shp"))
    ensure_database(db)
    sizes = {p.name: p.stat().st_size for p in sorted(package.rglob("*")) if p.is_file()}
    print(f"package {package} ({sum(sizes.values()) / 1e6:.0f} MB)")
    print(f"CPUs {os.cpu_count()}, load average at start {os.getloadavg()}")

    env = {**os.environ, "NONGDI_PG_DB": db, "DJANGO_SETTINGS_MODULE": "gisapp.settings.local"}
    pg = f"host={PSQL_HOST} port={PSQL_PORT} dbname={db} user={PSQL_USER}"
    ours: list[dict[str, float]] = []
    ogr: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        import_cmd = [sys.executable, str(ROOT / "manage.py"), "import_package", str(package), "--no-progress"]
        import_cmd += ["--report", str(report_path)] + (["--no-overlaps"] if args.no_overlaps else [])
        ogr_cmd = ["ogr2ogr", "-f", "PostgreSQL", f"PG:{pg}", *map(str, dk), "-nln", "dk_ogr"]
        ogr_cmd += ["-lco", "GEOMETRY_NAME=geom", "-t_srs", "EPSG:4490", "-overwrite"]
        bare_cmd = ["bash", "-c", bare_package_script(package, pg, db)]
        for round_no in range(args.rounds):
            psql(db, f"TRUNCATE {REGISTER_TABLES} CASCADE")
            psql(db, "DROP TABLE IF EXISTS dk_ogr")
            drop_bare_tables(db)
            psql(db, "CHECKPOINT")
            order = [("ours", "ogr", "bare"), ("ogr", "bare", "ours"), ("bare", "ours", "ogr")][round_no % 3]
            for which in order:
                if which == "ours":
                    ours.append(measure(import_cmd, env))
                    report = json.loads(report_path.read_text(encoding="utf-8"))
                    if report.get("status") != "loaded":
                        raise SystemExit(f"the import was not loaded: {json.dumps(report)[:2000]}")
                elif which == "ogr":
                    ogr.append(measure(ogr_cmd, env))
                else:
                    bare.append(measure(bare_cmd, env))
            print(
                f"round {round_no + 1}: ours {ours[-1]['seconds']:.2f} s ({ours[-1]['peak_mb']:.0f} MB), "
                f"ogr2ogr DK {ogr[-1]['seconds']:.2f} s, bare tools whole package {bare[-1]['seconds']:.2f} s",
                flush=True,
            )
        drop_bare_tables(db)
    counts = report.get("counts", {})
    ours_s = [m["seconds"] for m in ours]
    ogr_s = [m["seconds"] for m in ogr]
    peak = max(m["peak_mb"] for m in ours)
    print(f"load average at end {os.getloadavg()}")
    print(f"loaded: {json.dumps(counts, ensure_ascii=False)}")
    print(f"quality problems flagged: {report.get('summary', {}).get('quality')}")  # type: ignore[union-attr]
    print(f"ours (full import with validation): median {statistics.median(ours_s):.2f} s, min {min(ours_s):.2f} s")
    print(f"ogr2ogr (DK layer only):            median {statistics.median(ogr_s):.2f} s, min {min(ogr_s):.2f} s")
    bare_s = [m["seconds"] for m in bare]
    print(f"bare tools, whole package:          median {statistics.median(bare_s):.2f} s, min {min(bare_s):.2f} s")
    ratio = statistics.median(ours_s) / statistics.median(ogr_s)
    print(f"ratio ours / ogr2ogr: {ratio:.2f} x (median), {min(ours_s) / min(ogr_s):.2f} x (min); target <= 2")
    bare_ratio = statistics.median(ours_s) / statistics.median(bare_s)
    print(
        f"ratio ours / bare tools on the same package: {bare_ratio:.2f} x (median), "
        f"{min(ours_s) / min(bare_s):.2f} x (min)"
    )
    helper = max((float(v) for v in report.get("helper_peak_mb", {}).values()), default=0.0)  # type: ignore[union-attr]
    print(
        f"peak memory of the import: {peak:.0f} MB (target < 1024 MB); the overlap sweep's own process, "
        f"beside it: {helper:.0f} MB, together at most {peak + helper:.0f} MB"
    )
    timings = report.get("timings", {})
    assert isinstance(timings, dict)
    # The overlap sweep runs in a process of its own beside the SQL checks: what it costs the
    # import is the time spent waiting for it after them ("overlaps wait").
    dk_keys = ("stage DK", "check DK", "check geometry DK", "overlaps wait", "load DK")
    dk_share = sum(float(timings.get(k, 0.0)) for k in dk_keys)
    print(
        f"of which the DK layer ({' + '.join(dk_keys)}): {dk_share:.2f} s = "
        f"{dk_share / statistics.median(ogr_s):.2f} x ogr2ogr (without start-up, commit and the other tables)"
    )
    print("steps of the last import (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))  # type: ignore[union-attr]
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "ours": ours,
                    "ogr2ogr": ogr,
                    "bare_package": bare,
                    "ratio": ratio,
                    "ratio_bare_package": bare_ratio,
                    "dk_share_s": dk_share,
                    "peak_mb": peak,
                    "counts": counts,
                    "timings": timings,
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
