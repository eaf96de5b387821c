"""Registering orthophotos (DOM) and other rasters so that ``/tiles/raster/<name>/…`` serves them.

A raster stays a file (GeoTIFF or anything GDAL reads) in its own CRS; the database keeps its
name, path, source EPSG code and footprint in CGCS2000 (EPSG:4490), which the maps use to
know where it is and the tile view uses to skip tiles outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import Polygon
from django.db import transaction
from django.utils.text import slugify

from gisapp.errors import DomainError
from layers.models import Raster

# Points per side of the footprint: a projected rectangle is not a lon/lat rectangle, and 20
# points per side keep the outline within centimetres of the true edge for a county image.
FOOTPRINT_POINTS_PER_SIDE = 20
# Above this many pixels an image without overviews makes county-wide tiles slow (every
# zoomed-out tile reads the full-resolution pixels it covers): offer an optimised copy.
LARGE_WITHOUT_OVERVIEWS = 4096 * 4096


@dataclass(frozen=True)
class RasterReport:
    raster: Raster
    crs: str
    size: tuple[int, int]
    bands: int
    resolution: tuple[float, float]
    overviews: list[int]
    tiled: bool
    copied_to: Path | None
    warnings: list[str]


def _stored_path(path: Path) -> str:
    """Relative to MEDIA_ROOT when inside it (the data directory can move), else absolute."""
    media = Path(settings.MEDIA_ROOT).resolve()
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(media))
    except ValueError:
        return str(resolved)


def footprint_of(src: object) -> Polygon:
    """The raster's extent as a CGCS2000 polygon, densified along its edges."""
    from rasterio.warp import transform

    left, bottom, right, top = src.bounds  # type: ignore[attr-defined]
    steps = [k / FOOTPRINT_POINTS_PER_SIDE for k in range(FOOTPRINT_POINTS_PER_SIDE)]
    xs = (
        [left + (right - left) * f for f in steps]
        + [right] * len(steps)
        + [right - (right - left) * f for f in steps]
        + [left] * len(steps)
    )
    ys = (
        [bottom] * len(steps)
        + [bottom + (top - bottom) * f for f in steps]
        + [top] * len(steps)
        + [top - (top - bottom) * f for f in steps]
    )
    lons, lats = transform(src.crs, "EPSG:4490", xs, ys)  # type: ignore[attr-defined]
    if not all(math.isfinite(v) for v in (*lons, *lats)):
        raise DomainError("影像范围无法转换到 CGCS2000 经纬度：请检查影像的坐标系", code="raster_crs")
    ring = list(zip(lons, lats, strict=True))
    return Polygon([*ring, ring[0]], srid=4490)


def optimised_copy(source: Path, target: Path) -> Path:
    """A tiled (256 px), DEFLATE-compressed GeoTIFF with overviews down to ~256 px: what the
    tile view reads fastest. The source is not modified (it may be read-only)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.shutil import copy as rio_copy

    target.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(source) as src:
        rio_copy(
            src,
            target,
            driver="GTiff",
            tiled=True,
            blockxsize=256,
            blockysize=256,
            compress="DEFLATE",
            predictor=2,
            BIGTIFF="IF_SAFER",
        )
    with rasterio.open(target, "r+") as dst:
        factors = [f for f in (2, 4, 8, 16, 32, 64, 128) if min(dst.width, dst.height) // f >= 256]
        if factors:
            dst.build_overviews(factors, Resampling.average)
            dst.update_tags(ns="rio_overview", resampling="average")
    return target


@transaction.atomic
def raster_register(
    *,
    path: Path,
    name: str | None = None,
    title: str = "",
    replace: bool = False,
    copy: bool = False,
) -> RasterReport:
    """Register a raster file (any CRS GDAL knows) under ``name`` (default: the file name as a
    slug). With ``copy`` an optimised copy is written to ``MEDIA_ROOT/rasters/<name>.tif`` and
    registered instead of the original. Refuses files without a CRS and bands other than
    8-bit, and a name already taken unless ``replace``.

    Example: ``raster_register(path=Path("dom/3101512019.tif"), title="2019年正射影像")``
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    if not path.is_file():
        raise DomainError(f"影像文件不存在：{path}", code="raster_missing")
    slug = slugify(name if name is not None else path.stem)
    if not slug:
        raise DomainError("无法从文件名生成影像名称：请用 --name 指定（字母、数字、连字符）", code="raster_name")
    existing = Raster.objects.filter(name=slug).first()
    if existing is not None and not replace:
        raise DomainError(f"影像名称 {slug} 已存在：换一个名称，或使用 --replace 替换", code="raster_exists")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise DomainError(f"无法读取影像文件 {path}：{exc}", code="raster_unreadable") from exc
    with src:
        if src.crs is None:
            raise DomainError("影像没有坐标系（缺少 .prj/地理参考信息），无法叠加到地图上", code="raster_crs")
        if set(src.dtypes) != {"uint8"}:
            raise DomainError(
                f"只支持8位影像，本影像为 {', '.join(sorted(set(src.dtypes)))}："
                "请先用 gdal_translate -ot Byte -scale 转换",
                code="raster_dtype",
            )
        footprint = footprint_of(src)
        epsg = src.crs.to_epsg()
        report_crs = f"EPSG:{epsg}" if epsg else src.crs.to_string()
        size = (src.width, src.height)
        overviews = src.overviews(1)
        tiled = src.profile.get("tiled", False)
        resolution = (abs(src.transform.a), abs(src.transform.e))
        bands = src.count
    warnings: list[str] = []
    copied_to = None
    stored = path
    if copy:
        copied_to = optimised_copy(path, Path(settings.MEDIA_ROOT) / "rasters" / f"{slug}.tif")
        stored = copied_to
    elif not overviews and size[0] * size[1] > LARGE_WITHOUT_OVERVIEWS:
        warnings.append("影像较大且没有金字塔（overviews），缩小显示时会很慢：建议加 --copy 生成优化副本")
    values = {"title": title or slug, "path": _stored_path(stored), "source_srid": epsg, "footprint": footprint}
    if existing is not None:
        for key, value in values.items():
            setattr(existing, key, value)
        raster = existing
    else:
        raster = Raster(name=slug, **values)
    raster.full_clean()
    raster.save()
    return RasterReport(
        raster=raster,
        crs=report_crs,
        size=size,
        bands=bands,
        resolution=resolution,
        overviews=overviews,
        tiled=bool(tiled),
        copied_to=copied_to,
        warnings=warnings,
    )
