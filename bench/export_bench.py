"""Export benchmark: our DK layer and the full county package against ``ogr2ogr``.

On a generated county of at least 100 000 parcels in its own database, in the same run:

* ours, DK: ``layers.exchange.export.write_layer`` for DK alone (the template's 19 fields,
  GBK, clockwise rings, ST_Transform to the export zone), stored KJZB as held;
* ogr2ogr, DK: ``ogr2ogr -f "ESRI Shapefile"`` from PostGIS with the same columns, the same
  ``ST_ForcePolygonCW(ST_Transform(geom, zone))`` and ``-lco ENCODING=CP936``;
* ours, full package: ``export_package`` (every layer, JZD/JZX generated from the parcels,
  metadata, the Access database, the code table and the six summary tables), no zip.

Rounds alternate the two DK runs; medians and minima are printed with their ratio (target:
ours within 1.5x of ogr2ogr), and our peak memory. The machine may be shared: the load
average is printed before and after.

Example::

    NONGDI_PG_DB=bench_export .venv/bin/python bench/export_bench.py --setup 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gisapp.settings.local")
os.environ.setdefault("NONGDI_PG_DB", "bench_export")

from bench.common import setup_database  # noqa: E402  (after the settings are chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--county", default="310151")
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--rounds", type=int, default=3, help="DK runs of each tool (default 3)")
    parser.add_argument("--package-rounds", type=int, default=1, help="full package runs (default 1)")
    parser.add_argument("--setup", type=int, metavar="PARCELS", help="create, migrate and load the demo county first")
    parser.add_argument("--min-parcels", type=int, default=100_000)
    args = parser.parse_args()
    if args.setup:
        setup_database(args.setup)

    import django

    django.setup()
    from django.conf import settings
    from django.db import transaction

    from layers.exchange import export as exporter
    from layers.exchange.schema import SHAPE_LAYERS
    from parcels.models import Parcel

    county = exporter.county_of(args.county)
    srid = exporter.export_srid(county.area_srid or 4528)
    parcels = Parcel.objects.filter(code__startswith=args.county, status="current").count()
    if parcels < args.min_parcels:
        raise SystemExit(f"{parcels} parcels in {args.county}: load at least {args.min_parcels} (--setup)")
    db = settings.DATABASES["default"]
    pg = f"host={db['HOST']} port={db['PORT']} dbname={db['NAME']} user={db['USER']}"
    columns = ", ".join(f.name.lower() for f in SHAPE_LAYERS["DK"].fields)
    sql = (
        f"SELECT {columns}, ST_ForcePolygonCW(ST_Transform(geom, {srid})) AS geom FROM dk "
        f"WHERE dkbm LIKE '{args.county}%' AND status = 'current' ORDER BY dkbm"
    )
    print(f"database {db['NAME']}: county {args.county} {county.name}, {parcels} current parcels, EPSG:{srid}")
    print(f"load average before: {os.getloadavg()}   cpus: {os.cpu_count()}")

    work = Path(tempfile.mkdtemp(prefix="export-bench-"))
    ours: list[float] = []
    theirs: list[float] = []

    def run_ours(n: int) -> None:
        folder = work / f"ours{n}"
        folder.mkdir()
        ctx = exporter.Context(county=county, year=args.year, srid=srid)
        started = time.perf_counter()
        with transaction.atomic():
            count = exporter.write_layer(folder, ctx, "DK")
        ours.append(time.perf_counter() - started)
        assert count == parcels, count

    def run_ogr(n: int) -> None:
        folder = work / f"ogr{n}"
        folder.mkdir()
        started = time.perf_counter()
        subprocess.run(
            [
                "ogr2ogr",
                "-f",
                "ESRI Shapefile",
                str(folder / "DK.shp"),
                f"PG:{pg}",
                "-sql",
                sql,
                "-lco",
                "ENCODING=CP936",
            ],
            check=True,
        )
        theirs.append(time.perf_counter() - started)

    for n in range(args.rounds):
        first, second = (run_ours, run_ogr) if n % 2 == 0 else (run_ogr, run_ours)
        first(n)
        second(n)
        print(f"round {n + 1}: ours {ours[-1]:.2f} s, ogr2ogr {theirs[-1]:.2f} s")

    packages: list[float] = []
    for n in range(args.package_rounds):
        # The progress callback marks when each step starts: a rough per-step breakdown.
        marks: dict[str, float] = {}

        def progress(label: str, done: int, marks: dict[str, float] = marks) -> None:
            marks.setdefault(label, time.perf_counter())

        started = time.perf_counter()
        result = exporter.export_package(
            county=args.county, year=args.year, out_dir=work / f"package{n}", progress=progress
        )
        packages.append(time.perf_counter() - started)
        layers = ", ".join(f"{k} {v}" for k, v in result.layers.items() if v)
        print(f"package {n + 1}: {packages[-1]:.2f} s ({layers}; tables {sum(result.tables.values())} rows)")
        steps = [("start", started), *sorted(marks.items(), key=lambda item: item[1])]
        ends = [t for _, t in steps[1:]] + [started + packages[-1]]
        print(
            "  until the next step starts:",
            "; ".join(f"{name} {end - t:.1f} s" for (name, t), end in zip(steps, ends, strict=True)),
        )

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutil.rmtree(work, ignore_errors=True)
    med_ours, med_ogr = statistics.median(ours), statistics.median(theirs)
    print(f"load average after: {os.getloadavg()}")
    print()
    print(f"DK layer, {parcels} parcels ({args.rounds} rounds each, median / min):")
    print(f"  ours      {med_ours:7.2f} s / {min(ours):.2f} s")
    print(f"  ogr2ogr   {med_ogr:7.2f} s / {min(theirs):.2f} s")
    print(f"  ratio     {med_ours / med_ogr:7.2f}x (median) / {min(ours) / min(theirs):.2f}x (min); target <= 1.5x")
    if packages:
        print(f"full package: {statistics.median(packages):.2f} s (median of {len(packages)})")
    print(f"peak memory (this process): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
