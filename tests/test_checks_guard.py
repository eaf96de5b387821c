"""The edit-time overlap check that the parcel services run before a save."""

from __future__ import annotations

import json

import pytest
import shapely
from django.contrib.gis.geos import MultiPolygon

from layers.checks.guard import ParcelOverlapError, check_parcel_edit, ensure_no_overlap
from tests.conftest import square
from tests.test_checks_dataset import add_parcel, code, geos, metric, rect


@pytest.mark.django_db
def test_overlaps_with_neighbours_are_found_with_their_shape(county: dict[str, str]) -> None:
    add_parcel(1, rect(0, 0, 10, 10))
    add_parcel(2, rect(10, 0, 10, 10))
    # touching the second parcel: fine, as GEOS or as shapely
    assert check_parcel_edit(geom=geos(rect(20, 0, 10, 10))) == []
    assert check_parcel_edit(geom=metric(rect(20, 0, 10, 10))) == []
    # 1 m into the second parcel: 10 m²
    found = check_parcel_edit(geom=geos(rect(19, 0, 10, 10)))
    assert [(f.rule, f.dkbm) for f in found] == [("DK_OVERLAP", (code(2),))]
    assert found[0].area_m2 == pytest.approx(10.0, abs=1e-6)
    assert found[0].geometry.symmetric_difference(metric(rect(19, 0, 1, 10))).area < 1e-14
    # the parcel being edited does not overlap itself
    assert check_parcel_edit(geom=geos(rect(10, 0, 10.5, 10)), exclude_code=code(2)) == []
    # moved 1.5 mm into the neighbour: within the topology tolerance
    assert check_parcel_edit(geom=geos(rect(0.0015, 0, 10, 10)), exclude_code=code(1)) == []
    # 2.5 mm: refused, with the editing parcel's code first
    found = check_parcel_edit(geom=geos(rect(0.0025, 0, 10, 10)), exclude_code=code(1))
    assert [f.dkbm for f in found] == [(code(1), code(2))]
    # a split: both halves replace the parent
    both = check_parcel_edit(geom=geos(rect(5, 0, 10, 10)), exclude_code=[code(1), code(2)])
    assert both == []


@pytest.mark.django_db
def test_ensure_no_overlap_refuses_with_the_overlap_as_geojson(county: dict[str, str]) -> None:
    add_parcel(1, rect(0, 0, 10, 10))
    with pytest.raises(ParcelOverlapError) as err:
        ensure_no_overlap(geom=geos(rect(5, 5, 10, 10)))
    assert err.value.code == "parcel_overlap"
    assert code(1) in err.value.message and "25.0000" in err.value.message
    features = err.value.details["overlaps"]["features"]
    assert [f["properties"]["dkbm"] for f in features] == [code(1)]
    assert features[0]["properties"]["area_m2"] == pytest.approx(25.0)
    assert features[0]["geometry"]["type"] == "Polygon"
    assert shapely.from_geojson(json.dumps(features[0]["geometry"])).area > 0


@pytest.mark.django_db
def test_the_services_test_layout_passes(county: dict[str, str]) -> None:
    """Squares drawn with tests.conftest.square side by side share their edges exactly: the
    guard wired into parcel_create must not refuse them."""
    add_parcel(1, MultiPolygon(square(0, 0), srid=4490))
    assert check_parcel_edit(geom=square(100, 0)) == []
    assert check_parcel_edit(geom=square(0, 100)) == []
    assert [f.dkbm for f in check_parcel_edit(geom=square(50, 0))] == [(code(1),)]
