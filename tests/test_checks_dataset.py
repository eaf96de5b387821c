"""Quality inspection: the parcel set streamed out of PostGIS, and the factories the other
``test_checks_*`` modules build their cases with.

The factories write parcels with direct ORM inserts, not the services: the inspection must
find what the services would refuse (bow-ties, multi-part shapes, wrong 亩, bad codes), and
imports keep whatever they read. Shapes are drawn in metres in the county's CRS (EPSG:4528,
CGCS2000 GK zone 40) and stored in EPSG:4490, so that overlaps and gaps have exact sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection
from pyproj import Transformer

from layers.checks.dataset import Scope, load_parcels, transform_xy
from parcels import services
from parcels.models import Parcel
from tests.conftest import GROUP, VILLAGE

TO_4490 = Transformer.from_crs(4528, 4490, always_xy=True)
TO_4528 = Transformer.from_crs(4490, 4528, always_xy=True)
# A point near 121.4E 31.6N in zone 40 (zone-prefixed easting), rounded to whole metres.
E0, N0 = (round(v) for v in TO_4528.transform(121.40, 31.60))

ATTRS: dict[str, Any] = {
    "name": "东大田",
    "category": "10",
    "fertility": "03",
    "land_use": "1",
    "basic_farmland": "1",
    "east": "路",
    "west": "沟",
    "south": "张三",
    "north": "李四",
}


def metric(geom: shapely.Geometry) -> shapely.Geometry:
    """A shape drawn in metres from (E0, N0) in EPSG:4528, moved to EPSG:4490."""

    return shapely.transform(geom, lambda c: transform_xy(TO_4490, c + np.array([E0, N0])))


def rect(x: float, y: float, w: float, h: float) -> shapely.Polygon:
    """A rectangle in metres (lower-left x, y; width, height), counter-clockwise."""
    return shapely.Polygon([(x, y), (x + w, y), (x + w, y + h), (x, y + h)])


def geos(geom: shapely.Geometry) -> GEOSGeometry:
    """A metric shapely shape as a stored MultiPolygon (EPSG:4490); polygons are wrapped."""
    lonlat = metric(geom)
    if lonlat.geom_type == "Polygon":
        lonlat = shapely.MultiPolygon([lonlat])
    return GEOSGeometry(memoryview(shapely.to_wkb(lonlat)), srid=4490)


def code(seq: int, collective: str = GROUP) -> str:
    return f"{collective}{seq:05d}"


def add_parcel(
    seq: int,
    shape: shapely.Geometry | GEOSGeometry,
    *,
    collective: str = GROUP,
    dkbm: str | None = None,
    scmj: Decimal | None = None,
    scmjm: Decimal | None | str = "auto",
    **attrs: Any,
) -> Parcel:
    """A current parcel inserted as it is (no full_clean, no overlap guard). SCMJ defaults
    to the area PostGIS measures (as the services do), SCMJM to its 亩."""
    geom = shape if isinstance(shape, GEOSGeometry) else geos(shape)
    if scmj is None:
        if geom.empty:
            scmj = Decimal("0.01")
        else:
            scmj, _ = services.measure_area(geom, 4528)
            scmj = max(scmj, Decimal("0.01"))
    mu = services.sqm_to_mu(scmj) if scmjm == "auto" else scmjm
    fields = ATTRS | attrs
    return Parcel.objects.create(
        code=dkbm or code(seq, collective), geom=geom, surveyed_area=scmj, surveyed_area_mu=mu, **fields
    )


def rules_of(findings: Sequence[Any]) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.rule, f.dkbm) for f in findings]


@pytest.mark.django_db
def test_projection_on_the_client_matches_postgis_to_the_bit(county: dict[str, str]) -> None:
    """The inspection projects the stored lon/lat with pyproj; the services measure with
    PostGIS ``ST_Transform``. Both are PROJ: the coordinates must be identical."""
    shape = shapely.Polygon([(0, 0), (37.3, 5.2), (41.9, 88.1), (-3.3, 61.7)])
    parcel = add_parcel(1, shape)
    ps = load_parcels(Scope.of(VILLAGE))
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_AsBinary(ST_Transform(geom, 4528)) FROM dk WHERE dkbm = %s", [parcel.code])
        (wkb,) = cursor.fetchone()
    server = shapely.get_coordinates(shapely.from_wkb(bytes(wkb)))
    client = shapely.get_coordinates(ps.geoms[0])
    assert np.array_equal(server, client)
    assert ps.srid == 4528
    assert ps.codes == [parcel.code]
    assert round(ps.geoms[0].area, 2) == float(parcel.surveyed_area)


@pytest.mark.django_db
def test_parcels_are_sorted_current_only_with_context(county: dict[str, str]) -> None:
    """A village scope loads its own current parcels, sorted by code, plus the neighbours
    just across its edge (context for the topology rules), never historic ones."""
    from tests.conftest import OTHER_GROUP

    add_parcel(2, rect(0, 0, 10, 10))
    add_parcel(1, rect(10, 0, 10, 10))
    old = add_parcel(3, rect(20, 0, 10, 10))
    Parcel.objects.filter(pk=old.pk).update(status="historic")
    add_parcel(1, rect(0, 10, 10, 10), collective=OTHER_GROUP)  # next door, another village
    add_parcel(2, rect(5000, 0, 10, 10), collective=OTHER_GROUP)  # far away
    ps = load_parcels(Scope.of(VILLAGE))
    assert ps.codes == [code(1), code(2), code(1, OTHER_GROUP)]
    assert ps.in_scope.tolist() == [True, True, False]
    assert ps.checked == 2
