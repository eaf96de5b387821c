"""Quality inspection between parcels: overlaps just above and below the tolerances, gaps
(and the features that fill them), parcels outside their region, neighbours' vertices."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
import shapely

from layers.checks.catalogue import Tolerances
from layers.checks.engine import run_inspection
from layers.checks.topology import find_overlaps
from layers.models import LineFeature, PolygonFeature
from parcels.models import Region
from tests.conftest import COUNTY, GROUP, VILLAGE
from tests.test_checks_dataset import add_parcel, code, geos, metric, rect, rules_of


@pytest.mark.django_db
def test_overlaps_just_above_and_below_the_tolerances(county: dict[str, str]) -> None:
    # 1-2: a strip 2.5 mm wide (wider than 2 × 0.001 m) and 10 m long: 0.025 m², reported
    add_parcel(1, rect(0, 0, 10, 10))
    add_parcel(2, rect(10 - 0.0025, 0, 10, 10))
    # 3-4: a strip 1.5 mm wide: 0.015 m² (above the area) but within the topology tolerance
    add_parcel(3, rect(100, 0, 10, 10))
    add_parcel(4, rect(110 - 0.0015, 0, 10, 10))
    # 5-6: corners overlapping 0.11 m × 0.11 m = 0.0121 m² ≥ 0.01 m²: reported
    add_parcel(5, rect(200, 0, 10, 10))
    add_parcel(6, rect(209.89, 9.89, 10, 10))
    # 7-8: corners overlapping 0.09 m × 0.09 m = 0.0081 m² < 0.01 m²: not reported
    add_parcel(7, rect(300, 0, 10, 10))
    add_parcel(8, rect(309.91, 9.91, 10, 10))
    result = run_inspection(VILLAGE)
    overlaps = [f for f in result.findings if f.rule == "DK_OVERLAP"]
    assert [f.dkbm for f in overlaps] == [(code(1), code(2)), (code(5), code(6))]
    assert overlaps[0].area_m2 == pytest.approx(0.025, abs=1e-6)
    assert overlaps[1].area_m2 == pytest.approx(0.0121, abs=1e-6)
    # the overlap's shape comes back in lon/lat
    strip = metric(rect(10 - 0.0025, 0, 0.0025, 10))
    assert overlaps[0].geometry.symmetric_difference(strip).area < 1e-14
    # the 1.5 mm strip is no overlap, but it leaves the corners 1.5 mm apart (the vertex
    # rules leave overlapping pairs alone: 1-2 has its DK_OVERLAP)
    assert rules_of([f for f in result.findings if f.rule != "DK_OVERLAP"]) == [
        ("DK_NEIGHBOUR_VERTEX", (code(3), code(4))),
    ]
    assert result.findings[-1].value == pytest.approx(0.0015, abs=1e-7)
    # a larger minimum area drops the corner overlap; a finer tolerance reports the thin strip
    coarse = run_inspection(VILLAGE, tolerances=Tolerances(min_overlap_area=0.02))
    assert [f.dkbm for f in coarse.findings if f.rule == "DK_OVERLAP"] == [(code(1), code(2))]
    fine = run_inspection(VILLAGE, tolerances=Tolerances(topology=0.0005))
    assert [f.dkbm for f in fine.findings if f.rule == "DK_OVERLAP"] == [
        (code(1), code(2)),
        (code(3), code(4)),
        (code(5), code(6)),
    ]


def test_overlap_detection_agrees_with_relate() -> None:
    """Set-wise detection against a pair-by-pair DE-9IM baseline on a jittered lattice with
    shared vertices, some parcels grown by 2 %: the same pairs, the same areas."""
    rng = np.random.default_rng(7)
    n = 30
    xs = np.arange(n + 1)[None, :] * 20.0 + rng.uniform(-3, 3, (n + 1, n + 1))
    ys = np.arange(n + 1)[:, None] * 15.0 + rng.uniform(-2, 2, (n + 1, n + 1))
    cells = []
    for j in range(n):
        for i in range(n):
            ring = [(xs[j, i], ys[j, i]), (xs[j, i + 1], ys[j, i + 1]), (xs[j + 1, i + 1], ys[j + 1, i + 1])]
            ring.append((xs[j + 1, i], ys[j + 1, i]))
            cells.append(shapely.Polygon(ring))
    geoms = np.array(cells, dtype=object)
    for k in rng.choice(len(geoms), 40, replace=False):
        geoms[k] = shapely.affinity.scale(geoms[k], 1.02, 1.02)
    found = find_overlaps(geoms, Tolerances())
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    inner = shapely.relate_pattern(geoms[a], geoms[b], "T********")
    a, b = a[inner], b[inner]
    area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    big = area >= 0.01
    order = np.lexsort((b[big], a[big]))
    a, b, area = a[big][order], b[big][order], area[big][order]
    assert len(found) > 100
    assert found.a.tolist() == a.tolist()
    assert found.b.tolist() == b.tolist()
    assert np.allclose(found.area, area)


@pytest.mark.django_db
def test_a_gap_and_what_fills_it(county: dict[str, str]) -> None:
    """Eight 10 m squares around an empty one: a 100 m² gap, bordered by all eight. A pond
    (MZDW) over part of it and a 2 m wide canal (XZDW) across it shrink it; a pond over all
    of it fills it."""
    seq = 0
    for row in range(3):
        for col in range(3):
            if (row, col) != (1, 1):
                seq += 1
                add_parcel(seq, rect(col * 10, row * 10, 10, 10))
    result = run_inspection(VILLAGE)
    assert rules_of(result.findings) == [("DK_GAP", tuple(code(k) for k in range(1, 9)))]
    assert result.findings[0].area_m2 == pytest.approx(100.0, abs=1e-6)
    assert result.findings[0].severity == "warning"

    PolygonFeature.objects.create(county_id=COUNTY, name="坑塘", geom=geos(rect(10, 10, 4, 10)))
    canal = shapely.MultiLineString([[(10, 15), (20, 15)]])
    LineFeature.objects.create(county_id=COUNTY, name="沟渠", width=Decimal("2.00"), geom=_line(canal))
    result = run_inspection(VILLAGE)
    assert rules_of(result.findings) == [("DK_GAP", tuple(code(k) for k in range(1, 9)))]
    assert result.findings[0].area_m2 == pytest.approx(100 - 40 - 12, abs=1e-6)  # 6 × 2 m of canal left

    PolygonFeature.objects.create(county_id=COUNTY, name="坑塘", geom=geos(rect(10, 10, 10, 10)))
    assert run_inspection(VILLAGE).findings == []


def _line(geom: shapely.Geometry):  # type: ignore[no-untyped-def]
    from django.contrib.gis.geos import GEOSGeometry

    return GEOSGeometry(memoryview(shapely.to_wkb(metric(geom))), srid=4490)


@pytest.mark.django_db
def test_a_thin_gap_within_the_tolerance_is_no_gap(county: dict[str, str]) -> None:
    """A ring of parcels whose inner edges miss each other by 1.5 mm leaves a hole narrower
    than 2 × 0.001 m: not reported."""
    add_parcel(1, rect(0, 0, 30, 10))
    add_parcel(2, rect(0, 20, 30, 10))
    add_parcel(3, rect(0, 10, 10, 10))
    add_parcel(4, rect(20, 10, 10, 10))
    add_parcel(5, rect(10.0015, 10.0015, 10 - 0.003, 10 - 0.003))
    findings = run_inspection(VILLAGE).findings
    assert "DK_GAP" not in {f.rule for f in findings}
    assert "DK_OVERLAP" not in {f.rule for f in findings}


@pytest.mark.django_db
def test_parcel_outside_its_group(county: dict[str, str]) -> None:
    Region.objects.filter(code=GROUP).update(geom=geos(rect(0, 0, 100, 100)))
    add_parcel(1, rect(10, 10, 10, 10))
    add_parcel(2, rect(95, 0, 10, 10))  # 5 m × 10 m outside
    add_parcel(3, rect(0, 90, 10, 10.0015))  # 1.5 mm outside: within the tolerance
    result = run_inspection(VILLAGE)
    assert rules_of(result.findings) == [("DK_REGION", (code(2),))]
    assert result.findings[0].codes == (GROUP,)
    assert result.findings[0].area_m2 == pytest.approx(50.0, abs=1e-6)


@pytest.mark.django_db
def test_t_junction_and_near_vertices(county: dict[str, str]) -> None:
    # two squares on top of a long one: their shared corner lies on its edge, where the long
    # one has no vertex (a T-junction)
    add_parcel(1, rect(0, 0, 20, 10))
    add_parcel(2, rect(0, 10, 10, 10))
    add_parcel(3, rect(10, 10, 10, 10))
    # neighbours whose corners miss each other by 2 cm
    add_parcel(4, rect(100, 0, 10, 10))
    add_parcel(5, shapely.Polygon([(110.02, 0), (120, 0), (120, 10), (110, 10)]))
    result = run_inspection(VILLAGE)
    assert rules_of(result.findings) == [
        ("DK_NEIGHBOUR_VERTEX", (code(4), code(5))),
        ("DK_VERTEX_ON_EDGE", (code(1), code(2), code(3))),
    ]
    near, tee = result.findings
    assert near.value == pytest.approx(0.02, abs=1e-6)
    assert tee.value == pytest.approx(0.0, abs=1e-6)
    assert tee.geometry.distance(metric(shapely.Point(10, 10))) < 1e-9


@pytest.mark.django_db
def test_overlap_with_a_neighbour_outside_the_scope(county: dict[str, str]) -> None:
    """A village inspection sees the overlap with the next village's parcel (context)."""
    from tests.conftest import OTHER_GROUP

    add_parcel(1, rect(0, 0, 10, 10))
    add_parcel(1, rect(9, 0, 10, 10), collective=OTHER_GROUP)
    result = run_inspection(VILLAGE)
    assert rules_of(result.findings) == [("DK_OVERLAP", (code(1), code(1, OTHER_GROUP)))]
