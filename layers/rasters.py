"""Orthophoto (DOM) tiles cut on the fly from a registered GeoTIFF with rasterio.

A tile is the 256 x 256 px square of Web Mercator (EPSG:3857) at ``z/x/y``, the XYZ scheme
Leaflet uses. The source may be in any CRS: ``rasterio.warp.reproject`` warps it onto the
tile's own pixel grid, so a tile pixel shows what lies under its centre on the ground
(bilinear resampling; transparent where the image has no data: outside its extent, under its
alpha band or its nodata value). When the tile is coarser than the image, the source is read
from the overview level that is just finer than the tile.

Tiles are PNG (RGBA, or RGB when fully covered) or WebP, cached on disk under
``TILE_CACHE_DIR/raster/<name>/<version>/`` where the version hashes the file's path, size and
modification time: re-registering or rewriting the file starts a fresh cache.

Example::

    raster = Raster.objects.get(name="demo-dom")
    tile = raster_tile(raster, z=17, x=109703, y=53577, fmt="png")
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from PIL import Image

from layers.models import Raster
from layers.tiles import cache_root, valid_tile

TILE_SIZE = 256
MERCATOR_HALF_WORLD = 20037508.342789244  # metres: half the equator in EPSG:3857
FORMATS = {"png": "image/png", "webp": "image/webp"}
WEBP_QUALITY = 82


@dataclass(frozen=True)
class RasterTile:
    data: bytes
    content_type: str
    etag: str
    cached: bool


def mercator_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of an XYZ tile in EPSG:3857 metres."""
    size = 2 * MERCATOR_HALF_WORLD / 2**z
    left = -MERCATOR_HALF_WORLD + x * size
    top = MERCATOR_HALF_WORLD - y * size
    return left, top - size, left + size, top


def lonlat_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of an XYZ tile in degrees."""
    n = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


def raster_file(raster: Raster) -> Path:
    """The raster's file: ``path`` is absolute, or relative to MEDIA_ROOT (the demo's is)."""
    path = Path(raster.path)
    return path if path.is_absolute() else Path(settings.MEDIA_ROOT) / path


def file_version(path: Path) -> str:
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]


@cache
def empty_tile(fmt: str) -> bytes:
    """A fully transparent tile (outside the image), encoded once per process."""
    image = Image.new("RGBA", (TILE_SIZE, TILE_SIZE), (0, 0, 0, 0))
    return _encode(image, fmt)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "webp":
        image.save(buffer, "WEBP", quality=WEBP_QUALITY, method=4)
    else:
        # zlib level 6 halves level 1's size on aerial photos for ~3 ms more per tile; tiles
        # are cached, so the smaller file wins.
        image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def _overlaps_footprint(raster: Raster, z: int, x: int, y: int) -> bool:
    west, south, east, north = lonlat_bounds(z, x, y)
    fw, fs, fe, fn = raster.footprint.extent
    return not (east < fw or west > fe or north < fs or south > fn)


def native_mercator_resolution(src: Any, latitude: float) -> float:
    """The image's pixel size in EPSG:3857 metres near ``latitude``: the Mercator scale is
    1/cos(latitude), and a degree is 111,319.49 m on the equator (WGS84/CGCS2000 a = 6378137)."""
    x_res = abs(src.transform.a)
    if src.crs.is_geographic:
        ground = x_res * 111_319.49 * math.cos(math.radians(latitude))
    else:
        ground = x_res * src.crs.linear_units_factor[1]
    return ground / math.cos(math.radians(latitude))


def render(path: Path, z: int, x: int, y: int) -> Image.Image | None:
    """The tile as an RGB(A) image, or ``None`` where the image has no valid pixel.

    ``rasterio.warp.reproject`` warps the source straight onto the tile's 256 x 256 grid;
    the source is opened at the overview level whose pixels are the largest ones still finer
    than the tile's, so a county-wide tile reads a few hundred kilobytes, not the whole image.
    (A ``WarpedVRT`` per tile was tried first: it re-creates the CGCS2000→Web Mercator
    transformation for every tile, ~150 ms, where ``reproject`` reuses GDAL's.)"""
    import rasterio
    from rasterio.enums import ColorInterp, Resampling
    from rasterio.transform import Affine
    from rasterio.warp import reproject

    left, _, right, top = mercator_bounds(z, x, y)
    tile_res = (right - left) / TILE_SIZE
    _, south, _, north = lonlat_bounds(z, x, y)
    latitude = (south + north) / 2
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        with rasterio.open(path) as src:
            native = native_mercator_resolution(src, latitude)
            factors = src.overviews(1)
            interp = list(src.colorinterp)
            colormap = _colormap(src)
        level = None
        for index, factor in enumerate(factors):
            if native * factor <= tile_res:
                level = index
        with rasterio.open(path, overview_level=level) if level is not None else rasterio.open(path) as src:
            alpha = interp.index(ColorInterp.alpha) + 1 if ColorInterp.alpha in interp else 0
            colour = [i + 1 for i, ci in enumerate(interp) if ci != ColorInterp.alpha][:3]
            out = np.zeros((len(colour) + 1, TILE_SIZE, TILE_SIZE), dtype=np.uint8)
            reproject(
                source=rasterio.band(src, colour + ([alpha] if alpha else [])),
                destination=out,
                dst_transform=Affine(tile_res, 0, left, 0, -tile_res, top),
                dst_crs="EPSG:3857",
                resampling=Resampling.bilinear,
                src_alpha=len(colour) + 1 if alpha else 0,
                dst_alpha=len(colour) + 1,
            )
    mask = out[-1]
    if not mask.any():
        return None
    bands = out[:-1]
    if colormap is not None:
        rgb = colormap[bands[0]]
    elif len(colour) >= 3:
        rgb = np.dstack(list(bands[:3]))
    else:
        rgb = np.dstack([bands[0]] * 3)
    if mask.min() == 255:
        return Image.fromarray(rgb, "RGB")
    return Image.fromarray(np.dstack([rgb, mask]), "RGBA")


def _colormap(src: Any) -> np.ndarray | None:
    """A single-band paletted image's colour table as a 256 x 3 lookup array."""
    if src.count != 1:
        return None
    try:
        table = src.colormap(1)
    except ValueError:
        return None
    lut = np.zeros((256, 3), dtype=np.uint8)
    for value, rgba in table.items():
        if 0 <= value < 256:
            lut[value] = rgba[:3]
    return lut


def raster_tile(raster: Raster, *, z: int, x: int, y: int, fmt: str) -> RasterTile | None:
    """The tile of a registered raster; ``None`` for a bad address, a format other than PNG or
    WebP, or a raster whose file is missing."""
    if fmt not in FORMATS or not valid_tile(z, x, y):
        return None
    path = raster_file(raster)
    try:
        version = file_version(path)
    except OSError:
        return None
    key = f"{raster.name}:{version}:{z}/{x}/{y}.{fmt}"
    etag = '"' + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:24] + '"'
    content_type = FORMATS[fmt]
    if not _overlaps_footprint(raster, z, x, y):
        return RasterTile(data=empty_tile(fmt), content_type=content_type, etag=etag, cached=True)
    cached = cache_root() / "raster" / raster.name / version / str(z) / str(x) / f"{y}.{fmt}"
    try:
        return RasterTile(data=cached.read_bytes(), content_type=content_type, etag=etag, cached=True)
    except OSError:
        pass
    image = render(path, z, x, y)
    data = empty_tile(fmt) if image is None else _encode(image, fmt)
    _write(cached, data)
    return RasterTile(data=data, content_type=content_type, etag=etag, cached=False)


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tile-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        return


def registered_rasters() -> list[dict[str, object]]:
    """The registered rasters for the map pages' layer switcher: name, title, lon/lat bounds
    (west, south, east, north) and the tile URL template."""
    out: list[dict[str, object]] = []
    for raster in Raster.objects.order_by("name"):
        out.append(
            {
                "name": raster.name,
                "title": raster.title or raster.name,
                "bounds": list(raster.footprint.extent),
                "url": f"/tiles/raster/{raster.name}/{{z}}/{{x}}/{{y}}.png",
            }
        )
    return out
