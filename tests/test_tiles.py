"""Vector tiles (``/tiles/<layer>/<z>/<x>/<y>.pbf``): decoded with mapbox-vector-tile at
several zooms — features, properties, positions — jurisdiction, personal data, the cache and
its invalidation, ETags, and the GiST index."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from django.contrib.auth.models import User
from django.contrib.gis.geos import LineString, MultiLineString, MultiPolygon, Point, Polygon
from django.db import DatabaseError, connection, transaction
from django.test import Client

from layers import tiles
from layers.models import BasicFarmlandZone, LineFeature
from parcels import services
from parcels.models import BoundaryLine, BoundaryPoint, Parcel, Region
from tests import test_parcel_api
from tests.conftest import (
    COUNTY,
    GROUP,
    OTHER_GROUP,
    VILLAGE,
    contractor_fields,
    head_member,
    square,
)

pytestmark = pytest.mark.django_db

# The same four parcels as the map API tests (three adjacent squares in 东村一组, one in 西村一组).
parcels = test_parcel_api.parcels

LON0, LAT0 = 121.40, 31.60
PARCEL_PROPERTIES = {"dkbm", "dkmc", "dklb", "tdlylx", "sfjbnt", "status", "scmj", "scmjm"}
WITNESS = test_parcel_api.WITNESS  # written on the fixture parcels
CONTRACTOR = "孙承包"
CONTRACTOR_ID = "310151197002023456"
PHONE = "13812345678"
PARCEL_FIELDS: dict[str, Any] = {
    "name": "试验田",
    "category": "10",
    "fertility": "03",
    "land_use": "1",
    "basic_farmland": "1",
    "land_use_type": "011",
}
NEIGHBOUR = test_parcel_api.NEIGHBOUR


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tile_url(layer: str, lon: float, lat: float, z: int) -> str:
    x, y = tile_of(lon, lat, z)
    return f"/tiles/{layer}/{z}/{x}/{y}.pbf"


def lonlat_of(z: int, x: int, y: int, px: float, py: float, extent: int = 4096) -> tuple[float, float]:
    """Tile-local coordinates of a decoded feature (origin bottom-left, y up, as
    mapbox-vector-tile decodes by default) back to lon/lat."""
    n = 2**z
    fx = (x + px / extent) / n
    fy = (y + (extent - py) / extent) / n
    return fx * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * fy))))


def decode(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.content) if response.content else {}


@pytest.fixture(autouse=True)
def tile_cache(settings: Any, tmp_path: Path) -> Path:
    settings.TILE_CACHE_DIR = str(tmp_path / "tiles")
    return tmp_path / "tiles"


def centre(parcel: Parcel) -> tuple[float, float]:
    point = parcel.geom.centroid
    return point.x, point.y


# --- parcels -----------------------------------------------------------------------------------


@pytest.mark.parametrize("z", [14, 16, 18])
def test_parcel_tile_decodes_with_its_properties(client: Client, parcels: dict[str, Parcel], z: int) -> None:
    lon, lat = centre(parcels["east2"])

    layer = decode(client.get(tile_url("parcels", lon, lat, z)))["parcels"]

    by_code = {f["properties"]["dkbm"]: f for f in layer["features"]}
    assert parcels["east2"].code in by_code
    assert layer["extent"] == 4096
    feature = by_code[parcels["east2"].code]
    assert set(feature["properties"]) == PARCEL_PROPERTIES
    props = feature["properties"]
    assert (props["dkmc"], props["dklb"], props["tdlylx"], props["status"]) == ("东小田", "21", "013", "current")
    assert props["scmj"] == pytest.approx(float(parcels["east2"].surveyed_area))
    assert props["scmjm"] == pytest.approx(float(parcels["east2"].surveyed_area_mu))
    assert feature["id"] == parcels["east2"].pk
    assert feature["geometry"]["type"] == "Polygon"
    # A parcel without TDLYLX has no such property value rather than a made-up one.
    if parcels["east3"].code in by_code:
        assert by_code[parcels["east3"].code]["properties"].get("tdlylx") is None


def test_zoom_14_holds_the_whole_group_and_zoom_18_only_neighbours(client: Client, parcels: dict[str, Parcel]) -> None:
    lon, lat = centre(parcels["east2"])

    z14 = {
        f["properties"]["dkbm"] for f in decode(client.get(tile_url("parcels", lon, lat, 14)))["parcels"]["features"]
    }
    z18 = {
        f["properties"]["dkbm"] for f in decode(client.get(tile_url("parcels", lon, lat, 18)))["parcels"]["features"]
    }

    # z14 (~2 km) covers the 1.1 km from 东大田 to 西大田 unless a tile edge falls between.
    assert {parcels["east1"].code, parcels["east2"].code, parcels["east3"].code} <= z14
    # z18 (~130 m wide) around 东小田's centre: itself and, within the 64-unit buffer, its
    # neighbours' shared edges at most; never 西大田 900 m away.
    assert parcels["east2"].code in z18
    assert parcels["west1"].code not in z18


def test_tile_geometry_lands_where_the_parcel_is(client: Client, parcels: dict[str, Parcel]) -> None:
    parcel = parcels["east2"]
    z = 18
    lon, lat = centre(parcel)
    x, y = tile_of(lon, lat, z)

    layer = decode(client.get(f"/tiles/parcels/{z}/{x}/{y}.pbf"))["parcels"]
    (feature,) = [f for f in layer["features"] if f["properties"]["dkbm"] == parcel.code]

    ring = feature["geometry"]["coordinates"][0]
    corners = [lonlat_of(z, x, y, px, py) for px, py in ring]
    west, south, east, north = parcel.geom.extent
    # One grid unit at z18 is 3.8 cm of longitude here: allow two units.
    tolerance = 2 * 360 / 2**z / 4096
    for lon_, lat_ in corners:
        assert west - tolerance <= lon_ <= east + tolerance
        assert south - tolerance <= lat_ <= north + tolerance
    xs = sorted(c[0] for c in corners)
    assert xs[0] == pytest.approx(west, abs=tolerance) or xs[-1] == pytest.approx(east, abs=tolerance)


def rotations_match(a: list[Any], b: list[Any], tolerance: int = 0) -> bool:
    """Two closed rings are the same ring, whatever vertex each starts at (same direction)."""
    a, b = [tuple(p) for p in a[:-1]], [tuple(p) for p in b[:-1]]
    if len(a) != len(b):
        return False
    return any(
        all(
            abs(p[0] - q[0]) <= tolerance and abs(p[1] - q[1]) <= tolerance
            for p, q in zip(a, b[k:] + b[:k], strict=True)
        )
        for k in range(len(b))
    )


def decoded_features(z: int, x: int, y: int) -> dict[str, dict[str, Any]]:
    sql, params = tiles.mvt_sql(tiles.layers()["parcels"], z, x, y)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        data = bytes(cursor.fetchone()[0])
    layer = mapbox_vector_tile.decode(data).get("parcels", {"features": []})
    return {f["properties"]["dkbm"]: f for f in layer["features"]}


def polygons(feature: dict[str, Any]) -> list[list[Any]]:
    geometry = feature["geometry"]
    return [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]


ST_ASMVTGEOM = f"ST_AsMVTGeom(t.geom, env.box, {tiles.EXTENT}, {tiles.BUFFER}, true)"


@pytest.mark.parametrize("z", [12, 14])
def test_lon_lat_mapping_agrees_with_web_mercator_within_a_grid_unit(
    parcels: dict[str, Parcel], monkeypatch: pytest.MonkeyPatch, z: int
) -> None:
    x, y = tile_of(*centre(parcels["east2"]), z)

    linear = decoded_features(z, x, y)
    monkeypatch.setattr(tiles, "LINEAR_MIN_ZOOM", 99)
    exact = decoded_features(z, x, y)

    assert linear.keys() == exact.keys() and linear
    for code, feature in exact.items():
        (ring,) = polygons(feature)[0]
        (linear_ring,) = polygons(linear[code])[0]
        assert rotations_match(ring, linear_ring, tolerance=1), (code, z, ring, linear_ring)


@pytest.mark.parametrize("z", [14, 16, 18])
def test_the_short_path_draws_what_st_asmvtgeom_draws(
    parcels: dict[str, Parcel], monkeypatch: pytest.MonkeyPatch, z: int
) -> None:
    """Parcels inside the buffered tile come out of ``tiles.FAST_POLYGON`` exactly as
    ``ST_AsMVTGeom`` (with Wagyu) makes them: same vertices, same winding."""
    small = services.parcel_create(actor=None, collective_code=GROUP, geom=square(520, 20, 30), **PARCEL_FIELDS)
    x, y = tile_of(*centre(small), z)

    short = decoded_features(z, x, y)
    monkeypatch.setattr(tiles, "FAST_POLYGON", ST_ASMVTGEOM)
    reference = decoded_features(z, x, y)

    inside = {
        code
        for code, feature in short.items()
        if all(-64 <= px <= 4160 and -64 <= py <= 4160 for p in polygons(feature) for px, py in p[0])
    }
    assert small.code in inside and (z != 14 or len(inside) == 5)
    for code in inside:
        assert short[code]["properties"] == reference[code]["properties"]
        assert short[code]["id"] == reference[code]["id"]
        mine, theirs = polygons(short[code]), polygons(reference[code])
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            assert len(a) == len(b) and all(rotations_match(ra, rb) for ra, rb in zip(a, b, strict=True)), code


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    west, north = lonlat_of(z, x, y, 0, 4096)
    east, south = lonlat_of(z, x, y, 4096, 0)
    return west, south, east, north


def box(west: float, south: float, east: float, north: float) -> Polygon:
    return Polygon(((west, south), (west, north), (east, north), (east, south), (west, south)), srid=4490)


def test_parcels_near_the_edge_go_in_whole_and_far_reaching_ones_are_clipped(county: dict[str, str]) -> None:
    z = 18
    x, y = tile_of(LON0 + 0.01, LAT0 + 0.01, z)
    west, south, east, north = tile_bounds(z, x, y)
    width, height = east - west, north - south
    # Across the east edge, 30 % of a tile wide: within half a tile of it.
    near = services.parcel_create(
        actor=None,
        collective_code=GROUP,
        geom=box(east - 0.15 * width, south + 0.4 * height, east + 0.15 * width, south + 0.6 * height),
        **PARCEL_FIELDS,
    )
    # From the middle of the tile to three tiles east of it: clipped to the tile and its buffer.
    far = services.parcel_create(
        actor=None,
        collective_code=GROUP,
        geom=box(west + 0.5 * width, south + 0.1 * height, east + 3 * width, south + 0.3 * height),
        **PARCEL_FIELDS,
    )

    features = decoded_features(z, x, y)

    near_x = [px for px, _ in polygons(features[near.code])[0][0]]
    far_x = [px for px, _ in polygons(features[far.code])[0][0]]
    assert max(near_x) == pytest.approx(4096 * 1.15, abs=2)  # unclipped
    assert min(near_x) == pytest.approx(4096 * 0.85, abs=2)
    assert max(far_x) == 4096 + 64  # clipped at the buffer
    assert min(far_x) == pytest.approx(2048, abs=2)


def test_polygons_thinner_than_the_grid_are_left_to_st_asmvtgeom(
    county: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A strip 0.3 grid units high (15 cm at z14) between two grid lines: rounding alone
    would flatten it to nothing; the guard of ``FAST_POLYGON`` sends it through
    ``ST_AsMVTGeom``, like every polygon under two grid units wide on average."""
    z = 14
    x, y = tile_of(LON0 + 0.003, LAT0 + 0.003, z)
    west, south, east, north = tile_bounds(z, x, y)
    unit_x, unit_y = (east - west) / 4096, (north - south) / 4096
    strip = services.parcel_create(
        actor=None,
        collective_code=GROUP,
        geom=box(west + 1000 * unit_x, north - 2000.4 * unit_y, west + 1120 * unit_x, north - 2000.1 * unit_y),
        **PARCEL_FIELDS,
    )
    wide = services.parcel_create(
        actor=None,
        collective_code=GROUP,
        geom=box(west + 1000 * unit_x, north - 1900 * unit_y, west + 1120 * unit_x, north - 1800 * unit_y),
        **PARCEL_FIELDS,
    )

    guarded = decoded_features(z, x, y)
    monkeypatch.setattr(tiles, "FAST_POLYGON", ST_ASMVTGEOM)
    reference = decoded_features(z, x, y)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{tiles.ENVELOPE_SQL} SELECT t.dkbm, {tiles.SHORT_PATH_APPLIES}, ST_Area({tiles.SHORT_PATH}) "
            "FROM dk t, env WHERE t.dkbm IN (%s, %s)",
            [*tiles._envelope_params(z, x, y), strip.code, wide.code],
        )
        short_path = {code: (applies, area) for code, applies, area in cursor.fetchall()}

    # Without the guard the strip would be a ring of no area; the wide parcel takes the short path.
    assert short_path[strip.code] == (False, 0)
    assert short_path[wide.code] == (True, 120 * 100)
    assert wide.code in guarded
    assert (strip.code in guarded) == (strip.code in reference)
    if strip.code in reference:
        assert rotations_match(polygons(guarded[strip.code])[0][0], polygons(reference[strip.code])[0][0])


def test_below_the_minimum_zoom_the_tile_is_empty_without_a_query(
    client: Client, parcels: dict[str, Parcel], django_assert_num_queries: Any
) -> None:
    lon, lat = centre(parcels["east2"])
    with django_assert_num_queries(0):
        response = client.get(tile_url("parcels", lon, lat, 12))

    assert response.status_code == 200
    assert response.content == b""


def test_historic_parcels_are_not_drawn(client: Client, parcels: dict[str, Parcel]) -> None:
    Parcel.objects.filter(pk=parcels["east2"].pk).update(status="historic")
    lon, lat = centre(parcels["east2"])

    features = decode(client.get(tile_url("parcels", lon, lat, 16)))["parcels"]["features"]

    assert parcels["east2"].code not in {f["properties"]["dkbm"] for f in features}


def test_public_tiles_carry_no_personal_data(client: Client, parcels: dict[str, Parcel]) -> None:
    """The parcels hold a household contract (contractor's name, ID number, phone) and a
    witness and neighbour in their DKDZ-ZJRXM fields: no tile the public gets carries any of
    them, and parcel tiles carry exactly the public properties."""
    contractor = services.contractor_create(
        actor=None,
        collective_code=GROUP,
        kind="1",
        members=[head_member(CONTRACTOR, CONTRACTOR_ID)],
        phone=PHONE,
        **contractor_fields(CONTRACTOR, CONTRACTOR_ID),
    )
    services.contract_create(
        actor=None,
        contractor_code=contractor.code,
        method="110",
        term_start=dt.date(2019, 1, 1),
        term_end=dt.date(2048, 12, 31),
        signed_on=dt.date(2019, 6, 1),
        parcels=[services.ParcelShare(parcels["east1"].code), services.ParcelShare(parcels["east2"].code)],
    )
    lon, lat = centre(parcels["east1"])
    secrets = [CONTRACTOR, CONTRACTOR_ID, PHONE, WITNESS, NEIGHBOUR]

    for z in (14, 16, 18):
        response = client.get(tile_url("parcels", lon, lat, z))
        features = decode(response)["parcels"]["features"]
        assert parcels["east1"].code in {f["properties"]["dkbm"] for f in features}
        assert all(set(f["properties"]) <= PARCEL_PROPERTIES for f in features)
        for secret in secrets:
            assert secret.encode() not in response.content, (z, secret)


def test_village_user_gets_the_village_only_and_the_public_everything(
    client: Client, parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    lon, lat = centre(parcels["east3"])
    url = tile_url("parcels", lon, lat, 14)

    public = {f["properties"]["dkbm"] for f in decode(client.get(url))["parcels"]["features"]}
    client.force_login(make_user("clerk", VILLAGE))
    village = {f["properties"]["dkbm"] for f in decode(client.get(url))["parcels"]["features"]}
    client.force_login(make_user("clerk", "310151101002"))
    other = {f["properties"]["dkbm"] for f in decode(client.get(url))["parcels"]["features"]}

    assert parcels["west1"].code in public and parcels["east1"].code in public
    assert parcels["west1"].code not in village and parcels["east1"].code in village
    assert other == {parcels["west1"].code}


# --- the other layers --------------------------------------------------------------------------


@pytest.fixture
def reference_layers(parcels: dict[str, Parcel]) -> None:
    extents = {GROUP: square(-50, -50, 400), OTHER_GROUP: square(900, -50, 300)}
    for code, shape in extents.items():
        Region.objects.filter(code=code).update(geom=MultiPolygon(shape, srid=4490))
    Region.objects.filter(code=VILLAGE).update(geom=MultiPolygon(square(-100, -100, 600), srid=4490))
    Region.objects.filter(code=COUNTY).update(geom=MultiPolygon(square(-3000, -3000, 8000), srid=4490))
    BasicFarmlandZone.objects.create(
        county_id=COUNTY, number="3101511010001", geom=MultiPolygon(square(0, 0, 300), srid=4490)
    )
    west, south, east, _ = parcels["east1"].geom.extent
    LineFeature.objects.create(
        county_id=COUNTY,
        name="机耕路",
        width=Decimal("4.00"),
        geom=MultiLineString(LineString((west, south - 0.00003), (east + 0.003, south - 0.00003)), srid=4490),
    )
    corner = Point(west, south, srid=4490)
    BoundaryPoint.objects.create(
        number="J1",
        point_type="3",
        parcel_codes=parcels["east1"].code,
        x=Decimal("3500000.000"),
        y=Decimal("40500000.000"),
        geom=corner,
    )
    BoundaryLine.objects.create(
        position="2",
        description="J1至J2",
        neighbour_owner=NEIGHBOUR,
        neighbour_witness=WITNESS,
        parcel_codes=parcels["east1"].code,
        geom=LineString((west, south), (east, south), srid=4490),
    )


def test_regions_by_level_and_zoom(client: Client, parcels: dict[str, Parcel], reference_layers: None) -> None:
    lon, lat = centre(parcels["east2"])

    z12 = decode(client.get(tile_url("regions", lon, lat, 12)))["regions"]["features"]
    z14 = decode(client.get(tile_url("regions", lon, lat, 14)))["regions"]["features"]

    assert {f["properties"]["level"] for f in z12} == {"county", "village"}
    assert {f["properties"]["level"] for f in z14} == {"county", "village", "group"}
    assert set(z14[0]["properties"]) == {"code", "name", "level"}
    names = {f["properties"]["name"] for f in z14}
    assert {"示范区", "东村", "东村一组"} <= names


def test_farmland_features_and_boundary_layers(
    client: Client, parcels: dict[str, Parcel], reference_layers: None
) -> None:
    west, south, _, _ = parcels["east1"].geom.extent
    lon, lat = west + 0.0001, south + 0.0001

    farmland = decode(client.get(tile_url("farmland", lon, lat, 14)))["farmland"]["features"]
    roads = decode(client.get(tile_url("xzdw", lon, lat, 16)))["xzdw"]["features"]
    lines = decode(client.get(tile_url("jzx", lon, lat, 18)))["jzx"]["features"]
    points = decode(client.get(tile_url("jzd", lon, lat, 18)))["jzd"]["features"]

    assert farmland[0]["properties"]["bhqbh"] == "3101511010001"
    assert roads[0]["properties"]["dwmc"] == "机耕路" and roads[0]["geometry"]["type"] == "LineString"
    assert lines[0]["properties"]["dkbm"] == parcels["east1"].code
    assert set(lines[0]["properties"]) == {"jzxwz", "dkbm"}  # empty JZXH/JZXLB/JXXZ are left out
    assert points[0]["properties"]["jzdh"] == "J1" and points[0]["geometry"]["type"] == "Point"
    body = client.get(tile_url("jzx", lon, lat, 18)).content
    assert NEIGHBOUR.encode() not in body and WITNESS.encode() not in body


# --- HTTP: errors, headers, cache ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/tiles/nosuch/14/1/1.pbf", "/tiles/parcels/23/0/0.pbf", "/tiles/parcels/3/8/0.pbf", "/tiles/parcels/3/0/9.pbf"],
)
def test_unknown_layers_and_addresses_are_404(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_cache_headers_and_etag_revalidation(
    client: Client, parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    lon, lat = centre(parcels["east2"])
    url = tile_url("parcels", lon, lat, 16)

    first = client.get(url)
    second = client.get(url)
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])

    assert (first["X-Tile-Cache"], second["X-Tile-Cache"]) == ("miss", "hit")
    assert first["ETag"] == second["ETag"] and re.fullmatch(r'"[0-9a-f]{24}"', first["ETag"])
    assert first.content == second.content
    assert first["Cache-Control"] == "public, no-cache"
    assert first["Vary"] == "Cookie"
    assert again.status_code == 304 and again.content == b""
    client.force_login(make_user("clerk", VILLAGE))
    assert client.get(url)["Cache-Control"] == "private, no-cache"


def test_layers_alike_for_everyone_never_look_up_the_session(
    client: Client,
    parcels: dict[str, Parcel],
    reference_layers: None,
    make_user: Callable[..., User],
    django_assert_num_queries: Any,
) -> None:
    client.force_login(make_user("clerk", VILLAGE))
    lon, lat = centre(parcels["east2"])
    x, y = tile_of(lon, lat, 14)
    client.get(f"/tiles/regions/14/{x + 1}/{y}.pbf")  # prepares the statement

    with django_assert_num_queries(1):  # the tile's statement: no session, no user, no profile
        regions = client.get(f"/tiles/regions/14/{x}/{y}.pbf")
    with django_assert_num_queries(4):  # session, user, profile, then the tile
        scoped = client.get(f"/tiles/parcels/14/{x}/{y}.pbf")

    assert decode(regions)["regions"]["features"]
    assert regions["Cache-Control"] == "public, no-cache" and not regions.has_header("Vary")
    assert scoped["Cache-Control"] == "private, no-cache" and scoped["Vary"] == "Cookie"


def test_tilejson_describes_the_layer_and_names_its_codes(client: Client, settings: Any) -> None:
    settings.NONGDI_TILE_MIN_ZOOM = {"parcels": 15}

    response = client.get("/tiles/parcels.json")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    doc = response.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://testserver/tiles/parcels/{z}/{x}/{y}.pbf"]
    assert (doc["minzoom"], doc["maxzoom"]) == (15, 18)
    (layer,) = doc["vector_layers"]
    assert layer["id"] == "parcels" and set(layer["fields"]) == PARCEL_PROPERTIES
    assert doc["codes"]["dklb"]["10"] == "承包地块"
    assert doc["codes"]["tdlylx"]["011"] == "水田" and doc["codes"]["tdlylx"]["013"] == "旱地"
    assert doc["codes"]["sfjbnt"] == {"1": "是", "2": "否"}
    assert client.get("/tiles/regions.json").json()["codes"] == {}


def test_tilejson_of_an_unknown_layer_is_404_and_only_get_is_allowed(client: Client) -> None:
    missing = client.get("/tiles/nosuch.json")

    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.post("/tiles/parcels.json").status_code == 405
    assert client.post(tile_url("parcels", LON0, LAT0, 16)).status_code == 405


def test_an_edit_invalidates_exactly_the_tiles_of_the_parcel(client: Client, parcels: dict[str, Parcel]) -> None:
    here = tile_url("parcels", *centre(parcels["east2"]), 18)
    there = tile_url("parcels", *centre(parcels["west1"]), 18)
    etag_here = client.get(here)["ETag"]
    etag_there = client.get(there)["ETag"]

    services.parcel_update(actor=None, code=parcels["east2"].code, expected_version=1, name="改名田")

    changed = client.get(here, HTTP_IF_NONE_MATCH=etag_here)
    unchanged = client.get(there, HTTP_IF_NONE_MATCH=etag_there)
    assert changed.status_code == 200 and changed["ETag"] != etag_here
    names = {f["properties"]["dkmc"] for f in decode(changed)["parcels"]["features"]}
    assert "改名田" in names
    assert unchanged.status_code == 304


def test_a_reshaped_parcel_leaves_its_old_tiles(client: Client, parcels: dict[str, Parcel]) -> None:
    url = tile_url("parcels", *centre(parcels["east3"]), 18)
    before = {f["properties"]["dkbm"] for f in decode(client.get(url))["parcels"]["features"]}
    assert parcels["east3"].code in before

    services.parcel_update(actor=None, code=parcels["east3"].code, expected_version=1, geom=square(500, 0))

    after = {f["properties"]["dkbm"] for f in decode(client.get(url))["parcels"]["features"]}
    assert parcels["east3"].code not in after


def test_cached_tile_survives_a_write_elsewhere_and_the_cache_is_on_disk(
    client: Client, parcels: dict[str, Parcel], tile_cache: Path
) -> None:
    url = tile_url("parcels", *centre(parcels["west1"]), 17)
    client.get(url)
    services.parcel_update(actor=None, code=parcels["east1"].code, expected_version=1, name="别处")

    assert client.get(url)["X-Tile-Cache"] == "hit"
    assert list((tile_cache / "mvt" / "parcels" / "all" / "17").rglob("*.mvt"))


def test_the_tile_query_uses_the_gist_index(parcels: dict[str, Parcel]) -> None:
    x, y = tile_of(*centre(parcels["east2"]), 16)
    sql, params = tiles.mvt_sql(tiles.layers()["parcels"], 16, x, y)
    with connection.cursor() as cursor:
        # On a handful of rows, all current, reading them all through the status index costs
        # about as much as the spatial lookup and the planner's choice between the two flips
        # with the statistics. In a county almost every parcel is current and that index never
        # narrows a tile: without it (dropped inside this test's transaction) and without the
        # sequential scan, the plan shows whether the envelope test can use the GiST index.
        cursor.execute("DROP INDEX dk_status")
        cursor.execute("ANALYZE dk")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert re.search(r"Index Scan (using|on) dk_geom_\w+", plan), plan


def test_a_tile_is_one_statement_for_the_public(
    client: Client, parcels: dict[str, Parcel], django_assert_num_queries: Any
) -> None:
    x, y = tile_of(*centre(parcels["east2"]), 16)
    client.get(f"/tiles/parcels/16/{x + 1}/{y}.pbf")  # prepares the statements on this connection
    url = f"/tiles/parcels/16/{x}/{y}.pbf"

    with django_assert_num_queries(1) as built:
        client.get(url)  # built and fingerprinted by one statement
    with django_assert_num_queries(1) as hit:
        client.get(url)  # fingerprint, then the cached bytes

    matches = [re.fullmatch(r"EXECUTE (nongdi_tile_\w+)\(.*\)", q["sql"], re.S) for q in (*built, *hit)]
    names = [m.group(1) for m in matches if m]
    assert len(names) == 2, [q["sql"][:80] for q in (*built, *hit)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [names[0]])
        (statement,) = cursor.fetchone()
    assert tiles.SERIAL_PLAN in statement and "ST_AsMVT" in statement


def test_tile_statements_are_planned_once_and_kept(client: Client, parcels: dict[str, Parcel]) -> None:
    x, y = tile_of(*centre(parcels["east2"]), 17)
    for k in range(8):
        assert client.get(f"/tiles/parcels/17/{x + k}/{y}.pbf").status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE starts_with(name, 'nongdi_tile_') AND statement LIKE '%%ST_AsMVT(r.f%%' "
            "AND statement LIKE '%%ST_TileEnvelope%%'"
        )
        plans = cursor.fetchall()
    # After five custom plans PostgreSQL keeps the generic one: no more planning per tile.
    assert any(generic >= 1 for generic, _ in plans), plans


def test_tiles_without_prepared_statements(
    client: Client, parcels: dict[str, Parcel], settings: Any, django_assert_num_queries: Any
) -> None:
    settings.TILE_PREPARED_STATEMENTS = False
    url = tile_url("parcels", *centre(parcels["east2"]), 15)

    with django_assert_num_queries(1) as built:
        response = client.get(url)

    assert parcels["east2"].code in {f["properties"]["dkbm"] for f in decode(response)["parcels"]["features"]}
    assert tiles.SERIAL_PLAN in built.captured_queries[0]["sql"]


def test_statements_dropped_behind_our_back_are_prepared_again(client: Client, parcels: dict[str, Parcel]) -> None:
    url = tile_url("parcels", *centre(parcels["east2"]), 15)
    client.get(url)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    with pytest.raises(DatabaseError), transaction.atomic():
        client.get(tile_url("parcels", *centre(parcels["west1"]), 15))
    again = client.get(tile_url("parcels", *centre(parcels["west1"]), 15))

    assert parcels["west1"].code in {f["properties"]["dkbm"] for f in decode(again)["parcels"]["features"]}


def test_tile_plans_stay_serial(parcels: dict[str, Parcel]) -> None:
    """Even where the planner would rather run the tile query in parallel workers."""
    x, y = tile_of(*centre(parcels["east2"]), 14)
    sql, params = tiles.mvt_sql(tiles.layers()["parcels"], 14, x, y)
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; "
            "SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL max_parallel_workers_per_gather = 4"
        )
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Gather" not in plan and "Parallel" not in plan, plan
