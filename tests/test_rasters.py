"""Orthophotos: ``load_raster`` registers a GeoTIFF in any CRS, and
``/tiles/raster/<name>/<z>/<x>/<y>.png`` cuts Web Mercator tiles that line up with known
coordinates — synthetic images in CGCS2000 Gauss-Krüger (EPSG:4528) and UTM (EPSG:32651), the
real Swellendam aerial photo against its own pixels, the demo orthophoto against its roads —
plus permissions, formats, the cache, and the refusals of the command."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from PIL import Image, ImageDraw
from pyproj import Transformer
from rasterio.transform import from_origin

from layers.models import Raster
from layers.rasters import lonlat_bounds, raster_file
from layers.services_rasters import raster_register

pytestmark = pytest.mark.django_db

SWELLENDAM = Path("/work/shared/data/za-swellendam-aerial-qgis-training")
FARMS = Path("/work/shared/data/za-swellendam-farms-qgis-training/farms_33S.shp")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

RED, BLUE, GREEN = (220, 30, 30), (30, 40, 210), (20, 200, 40)


@pytest.fixture(autouse=True)
def isolated_storage(settings: Any, tmp_path: Path) -> Path:
    settings.TILE_CACHE_DIR = str(tmp_path / "cache")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path


@pytest.fixture
def staff(client: Client, make_user: Callable[..., User], county: dict[str, str]) -> Client:
    client.force_login(make_user("clerk", "310151"))
    return client


def pixel_of(lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    """(tile x, tile y, column, row) of the tile pixel whose square holds (lon, lat)."""
    n = 2**z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    x, y = int(fx), int(fy)
    return x, y, int((fx - x) * 256), int((fy - y) * 256)


def tile_image(client: Client, name: str, z: int, x: int, y: int, fmt: str = "png") -> Image.Image:
    response = client.get(f"/tiles/raster/{name}/{z}/{x}/{y}.{fmt}")
    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"] == f"image/{fmt}"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (256, 256)
    return image.convert("RGBA")


def colour_at(client: Client, name: str, lon: float, lat: float, z: int) -> tuple[int, int, int, int]:
    x, y, col, row = pixel_of(lon, lat, z)
    return tile_image(client, name, z, x, y).getpixel((col, row))  # type: ignore[return-value]


def close(actual: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=False))


def write_quadrants(path: Path, epsg: int, origin: tuple[float, float], size: int = 400, res: float = 1.0) -> None:
    """A 400 m x 400 m image at 1 m: west half red, east half blue, a 40 m green square whose
    south-west corner is 100 m east and 100 m north of the south-west corner of the image."""
    rgb = np.zeros((3, size, size), dtype=np.uint8)
    for band, value in enumerate(RED):
        rgb[band, :, : size // 2] = value
    for band, value in enumerate(BLUE):
        rgb[band, :, size // 2 :] = value
    green_rows = slice(size - 140, size - 100)  # rows count from the north edge
    green_cols = slice(100, 140)
    for band, value in enumerate(GREEN):
        rgb[band, green_rows, green_cols] = value
    west, north = origin
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": f"EPSG:{epsg}",
        "transform": from_origin(west, north, res, res),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rgb)


@pytest.fixture
def gk_image(tmp_path: Path) -> tuple[Path, Transformer, tuple[float, float]]:
    """The synthetic image in CGCS2000 / 3-degree Gauss-Kruger zone 40 around 121.4E 31.6N."""
    to_gk = Transformer.from_crs(4490, 4528, always_xy=True)
    east, north = to_gk.transform(121.40, 31.60)
    origin = (round(east), round(north) + 400)
    path = tmp_path / "gk.tif"
    write_quadrants(path, 4528, origin)
    return path, Transformer.from_crs(4528, 4490, always_xy=True), (origin[0], origin[1] - 400)


def test_gauss_kruger_image_lines_up_with_known_coordinates(
    staff: Client, gk_image: tuple[Path, Transformer, tuple[float, float]]
) -> None:
    path, to_lonlat, (west, south) = gk_image
    raster_register(path=path, name="gk-test")

    for z in (17, 19):
        # Centres of the green square, of a red and of a blue area, well inside each.
        assert close(colour_at(staff, "gk-test", *to_lonlat.transform(west + 120, south + 120), z), GREEN)
        assert close(colour_at(staff, "gk-test", *to_lonlat.transform(west + 50, south + 300), z), RED)
        assert close(colour_at(staff, "gk-test", *to_lonlat.transform(west + 350, south + 300), z), BLUE)
    # Three metres either side of the green square's west edge (z20: 0.13 m pixels).
    assert close(colour_at(staff, "gk-test", *to_lonlat.transform(west + 103, south + 120), 20), GREEN)
    assert close(colour_at(staff, "gk-test", *to_lonlat.transform(west + 97, south + 120), 20), RED)
    # Outside the image: transparent.
    assert colour_at(staff, "gk-test", *to_lonlat.transform(west - 30, south + 200), 19)[3] == 0


def test_utm_image_lines_up_too(staff: Client, tmp_path: Path) -> None:
    to_utm = Transformer.from_crs(4326, 32651, always_xy=True)
    east, north = to_utm.transform(121.40, 31.60)
    west, south = round(east), round(north)
    path = tmp_path / "utm.tif"
    write_quadrants(path, 32651, (west, south + 400))
    report = raster_register(path=path, name="utm-test")
    to_lonlat = Transformer.from_crs(32651, 4326, always_xy=True)

    assert report.crs == "EPSG:32651"
    assert close(colour_at(staff, "utm-test", *to_lonlat.transform(west + 120, south + 120), 19), GREEN)
    assert close(colour_at(staff, "utm-test", *to_lonlat.transform(west + 103, south + 120), 20), GREEN)
    assert close(colour_at(staff, "utm-test", *to_lonlat.transform(west + 97, south + 120), 20), RED)


def test_load_raster_registers_the_footprint_in_cgcs2000(
    gk_image: tuple[Path, Transformer, tuple[float, float]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, to_lonlat, (west, south) = gk_image

    call_command("load_raster", str(path), "--name", "dom-2019", "--title", "2019年正射影像")

    raster = Raster.objects.get(name="dom-2019")
    assert (raster.title, raster.source_srid, raster.footprint.srid) == ("2019年正射影像", 4528, 4490)
    fw, fs, fe, fn = raster.footprint.extent
    sw = to_lonlat.transform(west, south)
    ne = to_lonlat.transform(west + 400, south + 400)
    assert fw == pytest.approx(min(sw[0], to_lonlat.transform(west, south + 400)[0]), abs=1e-7)
    assert fs == pytest.approx(min(sw[1], to_lonlat.transform(west + 400, south)[1]), abs=1e-7)
    assert fe == pytest.approx(max(ne[0], to_lonlat.transform(west + 400, south)[0]), abs=1e-7)
    assert fn == pytest.approx(max(ne[1], to_lonlat.transform(west, south + 400)[1]), abs=1e-7)
    assert len(raster.footprint.coords[0]) == 81  # 20 points per side, closed
    out = capsys.readouterr().out
    assert "已登记影像 dom-2019" in out and "EPSG:4528" in out and "/tiles/raster/dom-2019/" in out


def test_load_raster_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    no_crs = tmp_path / "nocrs.tif"
    with rasterio.open(no_crs, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((1, 10, 10), dtype=np.uint8))
    sixteen = tmp_path / "dem.tif"
    profile = {"driver": "GTiff", "width": 10, "height": 10, "count": 1, "dtype": "uint16", "crs": "EPSG:4528"}
    with rasterio.open(sixteen, "w", transform=from_origin(40500000, 3500000, 1, 1), **profile) as dst:
        dst.write(np.zeros((1, 10, 10), dtype=np.uint16))

    with pytest.raises(CommandError, match="没有坐标系"):
        call_command("load_raster", str(no_crs))
    with pytest.raises(CommandError, match="只支持8位影像"):
        call_command("load_raster", str(sixteen))
    with pytest.raises(CommandError, match="影像文件不存在"):
        call_command("load_raster", str(tmp_path / "missing.tif"))
    with pytest.raises(CommandError, match="无法从文件名生成影像名称"):
        call_command("load_raster", str(no_crs), "--name", "正射影像")


def test_load_raster_replace_and_copy(gk_image: tuple[Path, Transformer, tuple[float, float]]) -> None:
    path, _, _ = gk_image
    call_command("load_raster", str(path), "--name", "dom")

    with pytest.raises(CommandError, match="已存在"):
        call_command("load_raster", str(path), "--name", "dom")
    call_command("load_raster", str(path), "--name", "dom", "--replace", "--copy")

    raster = Raster.objects.get(name="dom")
    assert raster.path == "rasters/dom.tif"  # relative to MEDIA_ROOT
    with rasterio.open(raster_file(raster)) as src:
        assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
    assert Raster.objects.count() == 1


def test_raster_tiles_are_for_signed_in_users(
    client: Client, gk_image: tuple[Path, Transformer, tuple[float, float]]
) -> None:
    path, to_lonlat, (west, south) = gk_image
    raster_register(path=path, name="gk-test")
    x, y, _, _ = pixel_of(*to_lonlat.transform(west + 120, south + 120), 18)

    response = client.get(f"/tiles/raster/gk-test/18/{x}/{y}.png")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_authenticated"


def test_raster_tile_headers_formats_cache_and_errors(
    staff: Client, gk_image: tuple[Path, Transformer, tuple[float, float]], isolated_storage: Path
) -> None:
    path, to_lonlat, (west, south) = gk_image
    raster_register(path=path, name="gk-test")
    x, y, _, _ = pixel_of(*to_lonlat.transform(west + 120, south + 120), 18)
    url = f"/tiles/raster/gk-test/18/{x}/{y}"

    first = staff.get(url + ".png")
    second = staff.get(url + ".png")
    webp = staff.get(url + ".webp")
    revalidated = staff.get(url + ".png", HTTP_IF_NONE_MATCH=first["ETag"])

    assert (first["X-Tile-Cache"], second["X-Tile-Cache"]) == ("miss", "hit")
    assert first["Cache-Control"].startswith("private, max-age=")
    assert webp["Content-Type"] == "image/webp" and webp.content[:4] == b"RIFF"
    assert revalidated.status_code == 304
    assert list((isolated_storage / "cache" / "raster" / "gk-test").rglob("*.png"))
    assert staff.get("/tiles/raster/nosuch/18/1/1.png").status_code == 404
    assert staff.get(f"/tiles/raster/gk-test/18/{x}/{y}.jpg").status_code == 404
    far = staff.get("/tiles/raster/gk-test/18/0/0.png")  # far away: transparent, not an error
    assert far.status_code == 200
    assert Image.open(io.BytesIO(far.content)).convert("RGBA").getextrema()[3] == (0, 0)


# --- the real aerial photos of Swellendam --------------------------------------------------------


@pytest.fixture
def swellendam(staff: Client) -> Iterator[Path]:
    path = SWELLENDAM / "3320D_2010_315_RGB_LATLNG.tif"
    if not path.exists():
        pytest.skip("the Swellendam aerial photo is not in this checkout's shared data")
    raster_register(path=path, name="swellendam-3320d", title="Swellendam 2010")
    yield path


def test_swellendam_tiles_show_the_photo_pixels_at_their_coordinates(staff: Client, swellendam: Path) -> None:
    """Tile pixels against the photo's own pixels at the same lon/lat (EPSG:4326 source, its
    own alpha band): z19 tiles have 0.25 m pixels, the photo 2.5 m ones."""
    rng = np.random.default_rng(7)
    with rasterio.open(swellendam) as src:
        west, south, east, north = src.bounds
        checked = 0
        for _ in range(12):
            lon = rng.uniform(west + 0.001, east - 0.001)
            lat = rng.uniform(south + 0.001, north - 0.001)
            row, col = src.index(lon, lat)
            # Compare where the photo is locally smooth, so bilinear resampling cannot matter.
            window = src.read(window=((row - 1, row + 2), (col - 1, col + 2)))[:3].astype(int)
            if window.max(axis=(1, 2)).max() - window.min(axis=(1, 2)).min() > 60:
                continue
            expected = tuple(int(v) for v in window[:, 1, 1])
            actual = colour_at(staff, "swellendam-3320d", lon, lat, 19)
            assert actual[3] == 255
            assert close(actual, expected, tolerance=20), (lon, lat, actual, expected)
            checked += 1
    assert checked >= 4


def test_swellendam_farms_drawn_over_the_photo(staff: Client, swellendam: Path) -> None:
    """An artefact for people: z15 tiles of the southern photo (farmland; EPSG:4326 with an
    alpha band) with the farm cadastre (UTM 33S, its own CRS) drawn on top in red:
    test-artifacts/swellendam-farms-over-photo.png. Farm lines should follow field edges,
    fences and roads in the photo."""
    from pyogrio.raw import read as read_layer

    photo = SWELLENDAM / "3420B_2010_328_RGB_LATLNG.tif"
    raster_register(path=photo, name="swellendam-3420b")
    z = 15
    with rasterio.open(photo) as src:
        west, south, east, north = src.bounds
    x0, y0, _, _ = pixel_of(west, north, z)
    x1, y1, _, _ = pixel_of(east, south, z)
    mosaic = Image.new("RGBA", ((x1 - x0 + 1) * 256, (y1 - y0 + 1) * 256), (255, 255, 255, 255))
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            mosaic.alpha_composite(tile_image(staff, "swellendam-3420b", z, x, y), ((x - x0) * 256, (y - y0) * 256))
    drawn = 0
    if FARMS.exists():
        _, _, wkb, _ = read_layer(FARMS, bbox=_utm_bbox(west, south, east, north), read_geometry=True)
        draw = ImageDraw.Draw(mosaic)
        to_lonlat = Transformer.from_crs(32733, 4326, always_xy=True)
        for geom in shapely.from_wkb(wkb):
            for polygon in getattr(geom, "geoms", [geom]):
                lons, lats = to_lonlat.transform(*polygon.exterior.xy)
                points = []
                for lon, lat in zip(lons, lats, strict=True):
                    tx, ty, col, row = pixel_of(lon, lat, z)
                    points.append(((tx - x0) * 256 + col, (ty - y0) * 256 + row))
                draw.line(points, fill=(255, 0, 0, 255), width=2)
                drawn += 1
    ARTIFACTS.mkdir(exist_ok=True)
    mosaic.save(ARTIFACTS / "swellendam-farms-over-photo.png")
    assert mosaic.getextrema()[3][1] == 255
    if FARMS.exists():
        assert drawn >= 20


def _utm_bbox(west: float, south: float, east: float, north: float) -> tuple[float, float, float, float]:
    to_utm = Transformer.from_crs(4326, 32733, always_xy=True)
    xs, ys = to_utm.transform([west, east, west, east], [south, south, north, north])
    return min(xs), min(ys), max(xs), max(ys)


# --- the demo county's orthophoto -------------------------------------------------------------------


def test_demo_orthophoto_lines_up_with_its_roads(client: Client, make_user: Callable[..., User]) -> None:
    """The demo paints roads grey (168, 164, 152) along its road features (XZDW 机耕路): the
    tile pixel on a road's centre line is grey, 25 m off it is field."""
    from django.contrib.gis.geos import Point

    from layers.models import LineFeature
    from parcels.demo import RASTER_NAME, load_demo

    load_demo(parcels=120, seed=3, accounts=False)
    client.force_login(make_user("clerk", "310151"))
    staff = client
    raster = Raster.objects.get(name=RASTER_NAME)
    assert raster_file(raster).exists()
    road = LineFeature.objects.filter(name="机耕路").order_by("pk").first()
    assert road is not None
    line = road.geom[0]
    # The middle of the road's middle segment: away from crossings (canals cross roads).
    k = len(line) // 2
    (x0, y0), (x1, y1) = line[k - 1], line[k]
    mid = Point((x0 + x1) / 2, (y0 + y1) / 2, srid=4490)
    on_road = colour_at(staff, RASTER_NAME, mid.x, mid.y, 19)
    assert close(on_road, (168, 164, 152), tolerance=30), on_road
    # 25 m to the side (perpendicular to the segment), in degrees at this latitude.
    dx, dy = (x1 - x0), (y1 - y0)
    length = math.hypot(dx * 94_800, dy * 110_900)
    off = Point(mid.x - dy * 110_900 / length * 25 / 94_800, mid.y + dx * 94_800 / length * 25 / 110_900, srid=4490)
    beside = colour_at(staff, RASTER_NAME, off.x, off.y, 19)
    assert not close(beside, (168, 164, 152), tolerance=30), beside
    west, south, east, north = lonlat_bounds(12, *pixel_of(mid.x, mid.y, 12)[:2])
    assert west < mid.x < east and south < mid.y < north
