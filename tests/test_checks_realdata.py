"""Quality inspection on real cadastres from ``shared/data``, loaded as parcels of a test
county with synthetic DKBMs (in the order of the source file) and the source's own projected
CRS as the county's area SRID (so that distances are measured in the data's metres):

* Swellendam farms (South Africa, EPSG:32733): parents and their portions are both present,
  so thousands of real overlaps, and 16 invalid rings (inspection.json: 13 self-intersections,
  3 ring self-intersections; 3,604 overlapping pairs above 0.01 m², 3,351 above 1 m²);
* Flemish LPIS parcels (Belgium, EPSG:31370): a clean field pattern, no overlap, 9 holes in
  the union, one empty geometry; and the Flemish map-sheet index, 43 rectangles tiling
  exactly: nothing to report at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from pyogrio import raw

from layers.checks import report
from layers.checks.dataset import reproject
from layers.checks.engine import run_inspection
from parcels import services
from parcels.models import Collective, Parcel, Region
from tests.conftest import collective_fields
from tests.test_checks_dataset import ATTRS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SWELLENDAM = DATA / "za-swellendam-farms-qgis-training" / "farms_33S.shp"
FLANDERS = DATA / "be-flanders-lpis-parcels-geofileops"

needs_data = pytest.mark.skipif(not SWELLENDAM.exists(), reason="shared/data is not available")


def load_county(path: Path, county: str, srid: int) -> list[str]:
    """A test county ``county`` (area SRID ``srid``) with one village and group, and the
    features of ``path`` as its parcels; returns their DKBMs in file order."""
    Region.objects.create(code=county, name="测试县", level="county", area_srid=srid)
    town = Region.objects.create(code=county + "001", name="测试镇", level="town")
    village = Region.objects.create(code=county + "001001", name="测试村", level="village", parent=town)
    group = county + "00100101"
    Region.objects.create(code=group, name="测试组", level="group", parent=village)
    Collective.objects.create(code=group, **collective_fields("测试组"))  # type: ignore[arg-type]
    _, _, wkb, _ = _read(path)
    geoms = shapely.from_wkb(wkb)
    lonlat = reproject(geoms, srid, 4490)
    areas = shapely.area(geoms)
    codes = [f"{group}{k + 1:05d}" for k in range(len(geoms))]
    rows = []
    for dkbm, g, area in zip(codes, lonlat, areas, strict=True):
        if g is None or g.is_empty:
            geom = GEOSGeometry("MULTIPOLYGON EMPTY", srid=4490)
        else:
            multi = shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g
            geom = GEOSGeometry(memoryview(shapely.to_wkb(multi)), srid=4490)
        scmj = services.round_area(max(abs(float(area)), 0.01))
        rows.append(
            Parcel(code=dkbm, geom=geom, surveyed_area=scmj, surveyed_area_mu=services.sqm_to_mu(scmj), **ATTRS)
        )
    Parcel.objects.bulk_create(rows, batch_size=1000)
    return codes


def _read(path: Path) -> tuple[Any, Any, Any, Any]:
    meta, fids, wkb, fields = raw.read(path)
    return meta, fids, wkb, fields


@needs_data
@pytest.mark.django_db
def test_swellendam_farms(county: dict[str, str]) -> None:
    codes = load_county(SWELLENDAM, "990101", 32733)
    assert len(codes) == 2008
    result = run_inspection("990101")
    # The same counts as the independent inspection where it has them: 16 invalid (13 + 3),
    # 10 multi-part; overlaps between its 3,351 pairs above 1 m² and 3,604 above 0.01 m²: the
    # 23 pairs in between overlap by strips narrower than 2 × 0.001 m. Pinned: a change here
    # is a change of behaviour (or of GEOS) to look at.
    assert result.counts() == {
        "DK_INVALID": 16,
        "DK_MULTIPART": 10,
        "DK_VERTEX_DUPLICATE": 1,
        "DK_VERTEX_NEAR": 14,
        "DK_SHARP_ANGLE": 46,
        "DK_SELF_OVERLAP": 9,
        "DK_OVERLAP": 3581,
        "DK_GAP": 87,
        "DK_NEIGHBOUR_VERTEX": 20,
        "DK_VERTEX_ON_EDGE": 624,
    }
    invalid = [f for f in result.findings if f.rule == "DK_INVALID"]
    assert sum("（Ring Self-intersection）" in f.message for f in invalid) == 3
    assert sum("（Self-intersection）" in f.message for f in invalid) == 13
    overlaps = [f for f in result.findings if f.rule == "DK_OVERLAP"]
    assert max(f.area_m2 or 0 for f in overlaps) == pytest.approx(122644521.742, rel=1e-6)
    # same input, same report, line for line
    again = run_inspection("990101")
    assert (
        report.as_json(report.Report.from_result(again))["findings"]
        == report.as_json(report.Report.from_result(result))["findings"]
    )
    assert np.isfinite([f.area_m2 for f in overlaps]).all()


@needs_data
@pytest.mark.django_db
def test_flemish_parcels(county: dict[str, str]) -> None:
    load_county(FLANDERS / "polygon-parcel.gpkg", "990102", 31370)
    result = run_inspection("990102")
    # no overlap; the 9 holes of the union (7 of 1-100 m², 2 larger); the empty geometry;
    # two parcels of two parts each; a 0.22 m² needle (two corners of 0.001°)
    assert result.counts() == {
        "DK_EMPTY": 1,
        "DK_MULTIPART": 2,
        "DK_SLIVER": 1,
        "DK_SHARP_ANGLE": 1,
        "DK_GAP": 9,
    }
    gaps = sorted(f.area_m2 or 0 for f in result.findings if f.rule == "DK_GAP")
    assert sum(1 <= a <= 100 for a in gaps) == 7 and sum(a > 100 for a in gaps) == 2


@needs_data
@pytest.mark.django_db
def test_flemish_map_sheets_tile_exactly(county: dict[str, str]) -> None:
    load_county(FLANDERS / "BEFL-kbl.gpkg", "990103", 31370)
    result = run_inspection("990103")
    assert result.parcels_checked == 43
    assert result.findings == []
