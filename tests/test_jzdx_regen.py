"""Held boundary points and lines (JZD/JZX) kept current after parcel edits
(``layers.exchange.jzdx.regenerate_for_parcels``): a moved vertex, a split, a merge, a retired
parcel and the surveyor's editor API each leave the stored layers equal to a fresh full
generation (``jzdx.generate``, what the export makes) on geometry and attributes, with the
numbers of untouched points unchanged.

The world: 东村一组 holds a 3 x 2 grid of fields (A B C on the south row, D E F on the north
row; 40 m x 30 m each) whose shared corners are bit-identical, plus a midpoint on the A|B and
D|E edges that both sides have, and an isolated field G far to the east.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from django.contrib.auth.models import User
from django.contrib.gis.geos import LineString, Point, Polygon
from django.db import connection
from django.test import Client
from pyproj import Transformer

from gisapp.errors import DomainError, NotFoundError, OutOfJurisdictionError
from layers.exchange import jzdx
from layers.exchange.export import export_package
from parcels import services
from parcels.models import BoundaryLine, BoundaryPoint, Parcel
from tests.conftest import COUNTY, DEG_LAT_PER_M, DEG_LON_PER_M, GROUP, OTHER_VILLAGE, VILLAGE

pytestmark = pytest.mark.django_db

LON0, LAT0 = 121.40, 31.60
EXPORT_SRID = 4549  # zone 40 without the zone prefix: what generate() and the export use
AREA_SRID = 4528
TO_EXPORT = Transformer.from_crs(4490, EXPORT_SRID, always_xy=True)
TO_AREA = Transformer.from_crs(4490, AREA_SRID, always_xy=True)
GENERATED = ("jzdx_key", "jzdx_line", "jzdx_seq", "jzdx_point", "jzdx_vertex", "jzdx_parcel")
PARCEL = {"category": "10", "fertility": "03", "land_use": "1", "basic_farmland": "1", "land_use_type": "011"}

Loc = tuple[int, int]


def at(x: float, y: float) -> tuple[float, float]:
    """lng/lat of a point x, y metres east and north of (121.40E, 31.60N); the same (x, y)
    always gives the same floats, so shared corners are bit-identical."""
    return LON0 + x * DEG_LON_PER_M, LAT0 + y * DEG_LAT_PER_M


def polygon(*points: tuple[float, float]) -> Polygon:
    ring = [at(x, y) for x, y in points]
    return Polygon([*ring, ring[0]], srid=4490)


def loc(x: float, y: float) -> Loc:
    """Where (x, y) metres is at 1 mm in the export CRS, computed here with pyproj."""
    e, n = TO_EXPORT.transform(*at(x, y))
    return round(e * 1000), round(n * 1000)


def create(name: str, *points: tuple[float, float]) -> Parcel:
    return services.parcel_create(actor=None, collective_code=GROUP, geom=polygon(*points), name=name, **PARCEL)


def reshape(parcel: Parcel, *points: tuple[float, float]) -> Parcel:
    current = Parcel.objects.get(code=parcel.code)
    return services.parcel_update(
        actor=None, code=parcel.code, expected_version=current.version, geom=polygon(*points), reason="测试"
    )


A_RING = [(0, 0), (0, 30), (40, 30), (40, 15), (40, 0)]
B_RING = [(40, 0), (40, 15), (40, 30), (80, 30), (80, 0)]
C_RING = [(80, 0), (80, 30), (120, 30), (120, 0)]
D_RING = [(0, 30), (0, 60), (40, 60), (40, 45), (40, 30)]
E_RING = [(40, 30), (40, 45), (40, 60), (80, 60), (80, 30)]
F_RING = [(80, 30), (80, 60), (120, 60), (120, 30)]
G_RING = [(500, 0), (500, 30), (540, 30), (540, 0)]


@pytest.fixture
def grid(county: dict[str, str]) -> dict[str, Parcel]:
    rings = {"A": A_RING, "B": B_RING, "C": C_RING, "D": D_RING, "E": E_RING, "F": F_RING, "G": G_RING}
    return {name: create(f"{name}田", *ring) for name, ring in rings.items()}


@pytest.fixture
def held(grid: dict[str, Parcel]) -> dict[str, Parcel]:
    """The grid with its boundary points and lines stored, as a full generation numbers them."""
    jzdx.regenerate_county(COUNTY)
    return grid


# --- reading the stored layers and a fresh generation ---------------------------------------


@dataclass
class Layers:
    points: dict[Loc, dict[str, Any]]  # place -> attributes (number, bsm, dkbm, ...)
    lines: dict[tuple[Loc, Loc], dict[str, Any]]  # (start, end) -> attributes
    keys: dict[str, list[Loc]]  # DKBM -> KJZB as places


def stored() -> Layers:
    """The held JZD/JZX of the county and the parcels' KJZB, every number replaced by the
    place it names (and checked to name exactly one place)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT jzdh, bsm, dkbm, jzdlx, jblx, ysdm, xzbz, yzbz, ST_X(g), ST_Y(g), ST_AsBinary(geom) "
            "FROM jzd, LATERAL ST_Transform(geom, %s) g WHERE dkbm LIKE %s",
            [EXPORT_SRID, COUNTY + "%"],
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT qjzdh, zjzdh, dkbm, pldwqlr, pldwzjr, jzxsm, jzxwz, jzxh, bsm, ysdm, ST_NPoints(geom), "
            "ST_X(s), ST_Y(s), ST_X(e), ST_Y(e) FROM jzx, LATERAL ST_Transform(ST_StartPoint(geom), %s) s, "
            "LATERAL ST_Transform(ST_EndPoint(geom), %s) e WHERE dkbm LIKE %s",
            [EXPORT_SRID, EXPORT_SRID, COUNTY + "%"],
        )
        line_rows = cursor.fetchall()
    points: dict[Loc, dict[str, Any]] = {}
    where: dict[str, Loc] = {}
    for number, bsm, dkbm, kind, marker, ysdm, x, y, e, n, _ in rows:
        place = (round(e * 1000), round(n * 1000))
        assert place not in points, f"two points at {place}"
        assert number not in where, f"JZDH {number} twice"
        where[number] = place
        points[place] = {"number": number, "bsm": bsm, "dkbm": dkbm, "jzdlx": kind, "jblx": marker, "ysdm": ysdm}
        # XZBZ/YZBZ: northing/easting in the county's area CRS, as quality inspection reads them.
        lon, lat = _lonlat_of(number)
        east, north = TO_AREA.transform(lon, lat)
        assert abs(float(x) - north) < 0.0006 and abs(float(y) - east) < 0.0006
    assert len({p["bsm"] for p in points.values()}) == len(points)
    lines: dict[tuple[Loc, Loc], dict[str, Any]] = {}
    for q, z, dkbm, owners, witnesses, sm, wz, xh, bsm, ysdm, npoints, sx, sy, ex, ey in line_rows:
        start, end = (round(sx * 1000), round(sy * 1000)), (round(ex * 1000), round(ey * 1000))
        assert (where[q], where[z]) == (start, end), "QJZDH/ZJZDH name the line's own ends"
        assert sm == f"{q}至{z}" and npoints == 2 and ysdm == "211031"
        key = (start, end)
        assert key not in lines and (end, start) not in lines, f"two lines on {key}"
        lines[key] = {"dkbm": dkbm, "owners": owners, "witnesses": witnesses, "jzxwz": wz, "jzxh": xh, "bsm": bsm}
    assert len({line["jzxh"] for line in lines.values()}) == len(lines)
    keys = {
        code: [where[n] for n in kjzb.split("/")]
        for code, kjzb in Parcel.objects.filter(code__startswith=COUNTY, status="current")
        .exclude(key_points="")
        .values_list("code", "key_points")
    }
    return Layers(points, lines, keys)


def _lonlat_of(number: str) -> tuple[float, float]:
    point = BoundaryPoint.objects.get(number=number, parcel_codes__startswith=COUNTY)
    return point.geom.x, point.geom.y


def fresh() -> Layers:
    """What the export generates from the current parcels (``jzdx.generate``), by place."""
    with connection.cursor() as cursor:
        for table in GENERATED:
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        jzdx.generate(cursor, county=COUNTY, srid=EXPORT_SRID)
        cursor.execute("SELECT id, ix, iy, dkbm FROM jzdx_point")
        rows = cursor.fetchall()
        cursor.execute("SELECT a, b, dkbm, owners, witnesses FROM jzdx_line")
        line_rows = cursor.fetchall()
        cursor.execute("SELECT dkbm, kjzb FROM jzdx_key")
        key_rows = cursor.fetchall()
        for table in GENERATED:
            cursor.execute(f"DROP TABLE pg_temp.{table}")
    where = {f"J{pid}": (ix, iy) for pid, ix, iy, _ in rows}
    by_id = {pid: (ix, iy) for pid, ix, iy, _ in rows}
    points = {(ix, iy): {"dkbm": dkbm, "jzdlx": "3", "jblx": None, "ysdm": "211021"} for _, ix, iy, dkbm in rows}
    lines = {
        (by_id[a], by_id[b]): {"dkbm": dkbm, "owners": owners, "witnesses": witnesses, "jzxwz": "2"}
        for a, b, dkbm, owners, witnesses in line_rows
    }
    keys = {code: [where[n] for n in kjzb.split("/")] for code, kjzb in key_rows}
    return Layers(points, lines, keys)


def assert_same_as_fresh(layers: Layers) -> None:
    """Equal on geometry (places at 1 mm, line directions) and every attribute but numbers."""
    expected = fresh()
    drop = {"number", "bsm"}
    assert {k: {f: v for f, v in p.items() if f not in drop} for k, p in layers.points.items()} == expected.points
    assert {k: {f: v for f, v in line.items() if f not in {"jzxh", "bsm"}} for k, line in layers.lines.items()} == (
        expected.lines
    )
    assert layers.keys == expected.keys


def numbers(layers: Layers) -> dict[Loc, tuple[str, int]]:
    return {place: (p["number"], p["bsm"]) for place, p in layers.points.items()}


def lines_of(layers: Layers, code: str) -> dict[tuple[Loc, Loc], str]:
    return {k: line["dkbm"] for k, line in layers.lines.items() if code in line["dkbm"].split("/")}


def held_rows_naming(code: str) -> int:
    return (
        BoundaryPoint.objects.filter(parcel_codes__contains=code).count()
        + BoundaryLine.objects.filter(parcel_codes__contains=code).count()
    )


# --- the whole-county generation ------------------------------------------------------------


def test_stored_county_equals_the_export_generation_with_its_numbers(held: dict[str, Parcel]) -> None:
    layers = stored()
    assert_same_as_fresh(layers)
    a, b = held["A"].code, held["B"].code
    # Numbered as the export does: J1.. in DKBM order from each parcel's NW corner, BSM = n.
    assert layers.points[loc(0, 30)]["number"] == "J1" and layers.points[loc(0, 30)]["bsm"] == 1
    assert sorted(p["bsm"] for p in layers.points.values()) == list(range(1, len(layers.points) + 1))
    assert layers.points[loc(40, 15)]["dkbm"] == f"{a}/{b}"
    assert len(layers.points) == 4 * 3 + 2 + 4  # 4 x 3 corners and 2 midpoints of the grid, G's 4
    assert lines_of(layers, b)[(loc(40, 30), loc(40, 15))] == f"{a}/{b}"  # A's clockwise direction


# --- one edit at a time -----------------------------------------------------------------------


def planner_settings() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), current_setting('enable_nestloop')")
        jit, nestloop = cursor.fetchone()
        return jit, nestloop


@pytest.mark.parametrize("few_codes", [jzdx.FEW_CODES, 0], ids=["like", "hashed"])
def test_moving_a_shared_vertex_updates_both_parcels_and_keeps_other_numbers(
    held: dict[str, Parcel], few_codes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jzdx, "FEW_CODES", few_codes)  # both ways of finding the rows that name them
    a, b = held["A"], held["B"]
    before = stored()
    settings = planner_settings()
    # The A|B midpoint moves 2 m east: B gives the strip up first, then A takes it.
    reshape(b, (40, 0), (42, 15), (40, 30), (80, 30), (80, 0))
    reshape(a, (0, 0), (0, 30), (40, 30), (42, 15), (40, 0))
    result = jzdx.regenerate_for_parcels([a.code, b.code])
    after = stored()
    assert_same_as_fresh(after)

    old, new = loc(40, 15), loc(42, 15)
    assert old not in after.points  # no parcel has a vertex there any more
    assert after.points[new]["dkbm"] == f"{a.code}/{b.code}"
    # A new place: the county's next number and BSM, not a renumbering of the village.
    top = max(int(n[1:]) for n, _ in numbers(before).values())
    assert after.points[new]["number"] == f"J{top + 1}" and after.points[new]["bsm"] == top + 1
    untouched = {place: n for place, n in numbers(before).items() if place != old}
    assert {place: numbers(after)[place] for place in untouched} == untouched
    # Both parcels' lines now run through the new point; the old ones are gone.
    assert lines_of(after, a.code)[(loc(40, 30), new)] == f"{a.code}/{b.code}"
    assert lines_of(after, a.code)[(new, loc(40, 0))] == f"{a.code}/{b.code}"
    assert not [k for k in after.lines if old in k]
    assert (result.points_added, result.points_removed, result.lines_added, result.lines_removed) == (1, 1, 2, 2)
    assert result.parcels == 6 and not result.not_held  # A, B and their neighbours C, D, E (F by a corner)
    assert planner_settings() == settings  # the caller's transaction gets its settings back


def test_moving_a_vertex_of_one_side_only_keeps_the_neighbours_point(held: dict[str, Parcel]) -> None:
    a, b = held["A"], held["B"]
    before = stored()
    number = before.points[loc(40, 15)]["number"]
    reshape(a, (0, 0), (0, 30), (40, 30), (38, 15), (40, 0))  # A gives up a sliver; B unchanged
    jzdx.regenerate_for_parcels([a.code])
    after = stored()
    assert_same_as_fresh(after)
    assert after.points[loc(40, 15)] == before.points[loc(40, 15)] | {"dkbm": b.code}
    assert after.points[loc(40, 15)]["number"] == number
    assert after.points[loc(38, 15)]["dkbm"] == a.code
    assert lines_of(after, b.code)[(loc(40, 15), loc(40, 30))] == b.code  # B's own clockwise direction now
    assert lines_of(after, a.code)[(loc(40, 30), loc(38, 15))] == a.code


def test_split_puts_points_on_the_cut_and_new_codes_on_the_lines(held: dict[str, Parcel]) -> None:
    c, f = held["C"], held["F"]
    before = stored()
    pieces = services.parcel_split(
        actor=None, code=c.code, expected_version=1, line=LineString(at(100, -5), at(100, 35), srid=4490)
    )
    codes = sorted(p.code for p in pieces)
    jzdx.regenerate_for_parcels([c.code, *codes])
    after = stored()
    assert_same_as_fresh(after)
    assert held_rows_naming(c.code) == 0
    both = "/".join(codes)
    for place in (loc(100, 0), loc(100, 30)):
        assert after.points[place]["dkbm"] == both  # F's edge has no vertex at the cut
    (cut,) = [k for k, dkbm in after.lines.items() if set(k) == {loc(100, 0), loc(100, 30)}]
    assert after.lines[cut]["dkbm"] == both
    # F's south edge is still one line, F's alone; the west piece's edges are its own, B's and the cut.
    assert lines_of(after, f.code)[(loc(120, 30), loc(80, 30))] == f.code
    west = next(p.code for p in pieces if p.geom.centroid.x < at(100, 0)[0])
    assert set(lines_of(after, west).values()) == {west, both, f"{held['B'].code}/{west}"}
    assert after.points[loc(80, 30)]["dkbm"] == "/".join(sorted([held["B"].code, held["E"].code, f.code, west]))
    kept = {place: n for place, n in numbers(before).items() if place in after.points}
    assert {place: numbers(after)[place] for place in kept} == kept


def test_merge_removes_the_shared_boundary(held: dict[str, Parcel]) -> None:
    d, e = held["D"], held["E"]
    merged = services.parcel_merge(actor=None, expected_versions={d.code: 1, e.code: 1})
    jzdx.regenerate_for_parcels([d.code, e.code, merged.code])
    after = stored()
    assert_same_as_fresh(after)
    assert held_rows_naming(d.code) == held_rows_naming(e.code) == 0
    assert loc(40, 45) not in after.points  # the midpoint of the D|E edge is inside M now
    assert not [k for k in after.lines if loc(40, 45) in k]
    assert not [k for k in after.lines if set(k) == {loc(40, 30), loc(40, 60)}]
    assert after.points[loc(40, 30)]["dkbm"] == "/".join(sorted([held["A"].code, held["B"].code, merged.code]))
    assert merged.code in after.keys and len(after.keys[merged.code]) >= 4


def test_a_retired_parcel_leaves_nothing_behind(held: dict[str, Parcel]) -> None:
    g, c = held["G"], held["C"]
    before = stored()
    for parcel in (g, c):
        services.retire_versioned(Parcel.objects.get(code=parcel.code), actor=None, reason="测试注销")
    result = jzdx.regenerate_for_parcels([g.code, c.code])
    after = stored()
    assert_same_as_fresh(after)
    assert held_rows_naming(g.code) == held_rows_naming(c.code) == 0
    assert loc(540, 0) not in after.points and loc(120, 0) not in after.points
    # Where C met B and F, the points stay with B and F, under their numbers.
    assert after.points[loc(80, 0)] == before.points[loc(80, 0)] | {"dkbm": held["B"].code}
    assert after.points[loc(120, 30)]["number"] == before.points[loc(120, 30)]["number"]
    assert result.points_added == 0 and result.points_removed == 4 + 1  # G's four and C's SE corner


def test_a_parcel_moved_away_leaves_nothing_at_its_old_place(held: dict[str, Parcel]) -> None:
    """The old rows are looked for where the parcel was (its change record), not where it is."""
    g = held["G"]
    reshape(g, (700, 0), (700, 30), (740, 30), (740, 0))
    jzdx.regenerate_for_parcels([g.code])
    after = stored()
    assert_same_as_fresh(after)
    assert loc(500, 0) not in after.points and after.points[loc(700, 0)]["dkbm"] == g.code


def test_a_series_of_edits_equals_a_fresh_generation_and_numbers_stay(held: dict[str, Parcel]) -> None:
    """Create, reshape, split, merge and retire, regenerating after each: the stored layers
    equal a fresh generation, and a place that had a point all along has its first number."""
    first = numbers(stored())
    a, b, c, d, e = (held[k] for k in "ABCDE")
    ring = [at(x, y) for x, y in ((120, 0), (120, 30), (160, 30), (160, 0), (120, 0))]
    hole = [at(x, y) for x, y in ((130, 10), (150, 10), (150, 20), (130, 20), (130, 10))]
    new = services.parcel_create(
        actor=None, collective_code=GROUP, geom=Polygon(ring, hole, srid=4490), name="H田", **PARCEL
    )
    jzdx.regenerate_for_parcels([new.code])
    assert stored().points[loc(150, 20)]["dkbm"] == new.code  # a hole's corners are points too
    reshape(b, (40, 0), (42, 15), (40, 30), (80, 30), (80, 0))
    reshape(a, (0, 0), (0, 30), (40, 30), (42, 15), (40, 0))
    jzdx.regenerate_for_parcels([a.code, b.code])
    pieces = services.parcel_split(
        actor=None, code=c.code, expected_version=1, line=LineString(at(100, -5), at(100, 35), srid=4490)
    )
    jzdx.regenerate_for_parcels([c.code, *(p.code for p in pieces)])
    merged = services.parcel_merge(actor=None, expected_versions={d.code: 1, e.code: 1})
    jzdx.regenerate_for_parcels([d.code, e.code, merged.code])
    services.retire_versioned(Parcel.objects.get(code=held["G"].code), actor=None, reason="测试注销")
    jzdx.regenerate_for_parcels([held["G"].code])
    last = stored()
    assert_same_as_fresh(last)
    survivors = {place: n for place, n in first.items() if place in last.points}
    assert {place: numbers(last)[place] for place in survivors} == survivors
    assert len(survivors) == len(first) - 4 - 2  # G's corners and the two old midpoints went
    # New numbers were never handed out twice, and follow the county's highest.
    added = sorted(int(n[1:]) for place, (n, _) in numbers(last).items() if place not in first)
    assert added == list(range(len(first) + 1, len(first) + 1 + len(added)))
    # Regenerating everything changes nothing more.
    everything = list(Parcel.objects.filter(code__startswith=COUNTY).values_list("code", flat=True))
    again = jzdx.regenerate_for_parcels(everything)
    assert (again.points_added, again.points_removed, again.points_updated) == (0, 0, 0)
    assert (again.lines_added, again.lines_removed, again.lines_updated, again.key_points_updated) == (0, 0, 0, 0)
    assert stored() == last


def test_surveyed_attributes_of_a_kept_point_survive(held: dict[str, Parcel]) -> None:
    """A point whose type and marker a survey recorded (JZDLX 1 实测, JBLX) keeps them while
    its parcels change around it."""
    BoundaryPoint.objects.filter(geom__dwithin=(polygon(*A_RING).boundary, 1e-7)).update(
        point_type="1", marker_type="1"
    )
    a, b = held["A"], held["B"]
    reshape(a, (0, 0), (0, 30), (40, 30), (38, 15), (40, 0))
    jzdx.regenerate_for_parcels([a.code])
    point = stored().points[loc(40, 15)]
    assert (point["jzdlx"], point["jblx"], point["dkbm"]) == ("1", "1", b.code)


@pytest.mark.parametrize(
    ("imported", "new"),
    [("J700", "J701"), ("J0050", "J51"), ("JX12345", "J19")],
    ids=["plain", "leading-zero", "letters"],
)
def test_new_numbers_follow_the_highest_held_number(held: dict[str, Parcel], imported: str, new: str) -> None:
    """Imported layers number as they please: the next JZDH follows the highest J<n> held
    (J1..J18 here, J1 renamed), whatever else the column holds; BSM follows the highest BSM."""
    BoundaryPoint.objects.filter(number="J1").update(number=imported)
    a = held["A"]
    reshape(a, (0, 0), (0, 30), (40, 30), (38, 15), (40, 0))
    jzdx.regenerate_for_parcels([a.code])
    # (The renamed number is not renamed in the lines and KJZB: read the point alone.)
    (point,) = BoundaryPoint.objects.filter(geom__dwithin=(Point(*at(38, 15), srid=4490), 1e-7))
    assert (point.number, point.bsm) == (new, 19)


def test_a_new_witness_reaches_the_lines_of_the_parcel(held: dict[str, Parcel]) -> None:
    """PLDWZJR lists the parcels' 指界人: after an attribute change, regeneration rewrites the
    parcel's lines (and only its lines) without touching a point."""
    a = held["A"]
    before = stored()
    services.parcel_update(actor=None, code=a.code, expected_version=1, witnesses="赵指界")
    result = jzdx.regenerate_for_parcels([a.code])
    after = stored()
    assert_same_as_fresh(after)
    assert after.lines[(loc(40, 30), loc(40, 15))]["witnesses"] == "赵指界/东村一组"  # A's, then B's (its collective)
    changed = {k for k in after.lines if after.lines[k] != before.lines[k]}
    assert changed == set(lines_of(after, a.code)) and numbers(after) == numbers(before)
    assert (result.points_added, result.points_removed, result.lines_updated) == (0, 0, len(changed))


def test_duplicate_held_points_at_one_place_become_one(held: dict[str, Parcel]) -> None:
    """Imported layers may hold two points at one place: the older row (smaller id) stays."""
    a = held["A"]
    original = BoundaryPoint.objects.get(number=stored().points[loc(40, 15)]["number"])
    twin = BoundaryPoint.objects.create(
        number="J900", bsm=900, point_type="1", parcel_codes=a.code, x=original.x, y=original.y, geom=original.geom
    )
    reshape(a, (0, 0), (0, 30), (40, 30), (38, 15), (40, 0))
    jzdx.regenerate_for_parcels([a.code])
    assert not BoundaryPoint.objects.filter(pk=twin.pk).exists()
    assert BoundaryPoint.objects.get(pk=original.pk).parcel_codes == held["B"].code
    assert_same_as_fresh(stored())


# --- what is refused, and what is left alone ---------------------------------------------------


def test_a_county_without_held_points_is_left_to_the_export(grid: dict[str, Parcel]) -> None:
    result = jzdx.regenerate_for_parcels([grid["A"].code])
    assert result.not_held == (COUNTY,) and result.points_added == 0
    assert not BoundaryPoint.objects.exists() and not BoundaryLine.objects.exists()


def test_bad_input_is_refused_and_changes_nothing(held: dict[str, Parcel], make_user: Callable[..., User]) -> None:
    a = held["A"]
    reshape(a, (0, 0), (0, 30), (40, 30), (38, 15), (40, 0))
    before = stored()
    with pytest.raises(DomainError, match="地块代码"):
        jzdx.regenerate_for_parcels([a.code, "31015110100101ABCDE"])
    with pytest.raises(NotFoundError, match="3101511010010199999"):
        jzdx.regenerate_for_parcels([a.code, "3101511010010199999"])
    with pytest.raises(TypeError):
        jzdx.regenerate_for_parcels(a.code)
    outsider = make_user("surveyor", OTHER_VILLAGE)
    with pytest.raises(OutOfJurisdictionError):
        jzdx.regenerate_for_parcels([a.code], actor=outsider)
    assert stored() == before
    assert jzdx.regenerate_for_parcels([a.code], actor=make_user("surveyor", VILLAGE)).points_added == 1


def test_a_line_whose_names_do_not_fit_is_refused_by_parcel_codes(held: dict[str, Parcel]) -> None:
    a, b = held["A"], held["B"]
    for parcel in (a, b):
        current = Parcel.objects.get(code=parcel.code)
        services.parcel_update(actor=None, code=parcel.code, expected_version=current.version, witnesses="指" * 60)
    before = stored()
    with pytest.raises(DomainError, match="界址线字段 PLDWZJR") as refused:
        jzdx.regenerate_for_parcels([a.code])
    assert refused.value.code == "jzx_too_long" and "指" not in refused.value.message
    assert a.code in refused.value.message
    assert stored() == before


def test_a_point_of_too_many_parcels_is_refused_by_parcel_codes(held: dict[str, Parcel]) -> None:
    """Thirteen fields meeting at one point: its DKBM list (13 x 19 digits and 12 '/') does
    not fit the 254 characters of JZD.DKBM."""
    rim = [(1000 + 20 * math.cos(2 * math.pi * k / 13), 20 * math.sin(2 * math.pi * k / 13)) for k in range(13)]
    before = stored()
    fan = [create(f"扇{k}", (1000, 0), rim[(k + 1) % 13], rim[k]) for k in range(13)]
    with pytest.raises(DomainError) as refused:
        jzdx.regenerate_for_parcels([parcel.code for parcel in fan])
    assert refused.value.code == "jzd_too_long" and "界址点字段 DKBM 超过 254" in refused.value.message
    assert stored() == before


# --- the surveyor's editor API ---------------------------------------------------------------


def polygon_json(*points: tuple[float, float]) -> dict[str, Any]:
    ring = [list(at(x, y)) for x, y in points]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def test_editor_api_keeps_the_layers_consistent(
    held: dict[str, Parcel], client: Client, make_user: Callable[..., User]
) -> None:
    a, b, c, d, e = (held[k] for k in "ABCDE")
    before = stored()
    # Refused callers change nothing: a clerk, a surveyor of another village, nobody.
    body = {"expected_version": 1, "geometry": polygon_json((0, 0), (0, 30), (40, 30), (38, 15), (40, 0))}
    client.force_login(make_user("clerk", VILLAGE))
    assert client.patch(f"/api/editor/parcels/{a.code}", body, content_type="application/json").status_code == 403
    client.force_login(make_user("surveyor", OTHER_VILLAGE))
    assert client.patch(f"/api/editor/parcels/{a.code}", body, content_type="application/json").status_code == 403
    client.logout()
    assert client.patch(f"/api/editor/parcels/{a.code}", body, content_type="application/json").status_code in (
        401,
        403,
    )
    assert stored() == before

    client.force_login(make_user("surveyor", VILLAGE))
    shrink = {"expected_version": 1, "geometry": polygon_json((40, 0), (42, 15), (40, 30), (80, 30), (80, 0))}
    response = client.patch(f"/api/editor/parcels/{b.code}", shrink, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["boundaries_regenerated"] is True
    assert_same_as_fresh(stored())
    grow = {"expected_version": 1, "geometry": polygon_json((0, 0), (0, 30), (40, 30), (42, 15), (40, 0))}
    assert client.patch(f"/api/editor/parcels/{a.code}", grow, content_type="application/json").status_code == 200
    assert_same_as_fresh(stored())

    line = {"type": "LineString", "coordinates": [list(at(100, -5)), list(at(100, 35))]}
    split = client.post(
        f"/api/editor/parcels/{c.code}/split", {"expected_version": 1, "line": line}, content_type="application/json"
    )
    assert split.status_code == 201, split.content
    assert_same_as_fresh(stored())
    merged = client.post("/api/editor/merge", {"parcels": {d.code: 1, e.code: 1}}, content_type="application/json")
    assert merged.status_code == 201, merged.content
    drawn = client.post(
        "/api/editor/parcels",
        {
            "collective_code": GROUP,
            "geometry": polygon_json((120, 0), (120, 30), (160, 30), (160, 0)),
            "attributes": {"dkmc": "新地", "dklb": "10", "dldj": "03", "tdyt": "1", "sfjbnt": "1"},
        },
        content_type="application/json",
    )
    assert drawn.status_code == 201, drawn.content
    after = stored()
    assert_same_as_fresh(after)
    assert held_rows_naming(c.code) == held_rows_naming(d.code) == held_rows_naming(e.code) == 0
    survivors = {place: n for place, n in numbers(before).items() if place in after.points}
    assert {place: numbers(after)[place] for place in survivors} == survivors


def test_the_export_of_held_layers_equals_its_generation(held: dict[str, Parcel], tmp_path: Path) -> None:
    """After edits, the package exported from the held layers carries the same points, lines
    and KJZB (by place) as the package of the same parcels with the layers generated."""
    a, b, c = held["A"], held["B"], held["C"]
    reshape(b, (40, 0), (42, 15), (40, 30), (80, 30), (80, 0))
    reshape(a, (0, 0), (0, 30), (40, 30), (42, 15), (40, 0))
    jzdx.regenerate_for_parcels([a.code, b.code])
    pieces = services.parcel_split(
        actor=None, code=c.code, expected_version=1, line=LineString(at(100, -5), at(100, 35), srid=4490)
    )
    jzdx.regenerate_for_parcels([c.code, *(p.code for p in pieces)])
    from_held = export_package(county=COUNTY, year=2020, out_dir=tmp_path / "held")
    assert not from_held.generated_jzdx
    BoundaryLine.objects.all().delete()
    BoundaryPoint.objects.all().delete()
    generated = export_package(county=COUNTY, year=2020, out_dir=tmp_path / "generated")
    assert generated.generated_jzdx
    assert exported(from_held) == exported(generated)


def exported(result: Any) -> tuple[dict[Loc, tuple[Any, ...]], dict[tuple[Loc, Loc], tuple[Any, ...]], dict[str, Any]]:
    """JZD, JZX and KJZB of an exported package, every number replaced by its place."""

    def read(layer: str) -> tuple[list[dict[str, Any]], list[Any]]:
        meta, _, geometry, columns = pyogrio.raw.read(result.root / "矢量数据" / f"{layer}{COUNTY}2020.shp")
        names = list(meta["fields"])
        return [dict(zip(names, v, strict=True)) for v in zip(*columns, strict=True)], list(shapely.from_wkb(geometry))

    def place(x: float, y: float) -> Loc:
        return round(x * 1000), round(y * 1000)

    rows, shapes = read("JZD")
    where = {row["JZDH"]: place(shape.x, shape.y) for row, shape in zip(rows, shapes, strict=True)}
    points = {
        place(shape.x, shape.y): (row["DKBM"], row["JZDLX"], round(row["XZBZ"], 3), round(row["YZBZ"], 3))
        for row, shape in zip(rows, shapes, strict=True)
    }
    rows, shapes = read("JZX")
    lines = {
        (where[row["QJZDH"]], where[row["ZJZDH"]]): (row["DKBM"], row["PLDWQLR"], row["PLDWZJR"], row["JZXWZ"])
        for row in rows
    }
    for row, shape in zip(rows, shapes, strict=True):
        assert (place(*shape.coords[0]), place(*shape.coords[-1])) == (where[row["QJZDH"]], where[row["ZJZDH"]])
    rows, _ = read("DK")
    keys = {row["DKBM"]: [where[n] for n in row["KJZB"].split("/")] for row in rows}
    return points, lines, keys
