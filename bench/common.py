"""What the benchmarks share: their own database with the demo county, and percentiles.
Import after Django's settings module and ``NONGDI_PG_DB`` are chosen (the scripts set both)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_database(parcels: int) -> None:
    """Create the benchmark database, migrate it and load the demo county if it is empty."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    name, host, port, user = db["NAME"], str(db["HOST"]), str(db["PORT"]), db["USER"]
    psql = ["psql", "-h", host, "-p", port, "-U", user]
    exists = subprocess.run(
        [*psql, "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'", "postgres"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not exists:
        subprocess.run([*psql, "-c", f"CREATE DATABASE {name}", "postgres"], check=True)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], check=True)
    subprocess.run([*manage, "load_demo", "--parcels", str(parcels), "--no-raster", "--if-empty"], check=True)


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
