"""地块示意图: one raster map per parcel at 300 dpi (NY/T 2539 B.8: DKSYT ≥ 300 dpi), the
parcel filled and labelled, its neighbours outlined with their names, a north arrow and a
scale bar. Geometry is projected to the county's Gauss-Krüger zone in PostGIS so that the
map is true to scale (metres), and drawn with Pillow."""

from __future__ import annotations

import io
import math
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import connection
from PIL import Image, ImageDraw, ImageFont

from parcels.services import area_srid_for
from registration.documents.fonts import font_path

DPI = 300
# Printed size of one sketch: 2.8 in × 2.4 in (≈ 71 mm × 61 mm), six to an A4 page.
WIDTH_IN = 2.8
HEIGHT_IN = 2.4
# The map shows the parcel and this much of its surroundings on each side (fraction of the
# parcel's larger extent, at least NEIGHBOUR_MIN_M metres).
NEIGHBOUR_MARGIN = 0.6
NEIGHBOUR_MIN_M = 20.0

PARCEL_FILL = (252, 228, 160)
PARCEL_LINE = (178, 34, 34)
NEIGHBOUR_FILL = (238, 242, 236)
NEIGHBOUR_LINE = (110, 120, 110)
TEXT = (20, 20, 20)


@dataclass(frozen=True)
class Sketch:
    code: str
    name: str
    area: Decimal
    png: bytes
    width_px: int
    height_px: int
    neighbours: int

    @property
    def width_in(self) -> float:
        return self.width_px / DPI

    @property
    def height_in(self) -> float:
        return self.height_px / DPI


def _shapes(code: str) -> tuple[list[tuple[str, str, bool, GEOSGeometry]], Decimal, str]:
    """The parcel and its current neighbours within the margin, projected to metres."""
    srid = area_srid_for(code)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH t AS (
                SELECT geom, scmj, dkmc,
                       GREATEST(ST_XMax(geom) - ST_XMin(geom), ST_YMax(geom) - ST_YMin(geom)) AS extent
                FROM dk WHERE dkbm = %s
            )
            SELECT d.dkbm, d.dkmc, d.dkbm = %s, ST_AsBinary(ST_Transform(d.geom, %s))
            FROM dk d, t
            WHERE d.dkbm = %s
               OR (d.status = 'current' AND d.geom && ST_Expand(t.geom, t.extent * %s + %s)
                   AND ST_DWithin(d.geom, t.geom, t.extent * %s + %s))
            ORDER BY d.dkbm = %s, d.dkbm
            """,
            [
                code,
                code,
                srid,
                code,
                NEIGHBOUR_MARGIN,
                NEIGHBOUR_MIN_M / 100_000,
                NEIGHBOUR_MARGIN,
                NEIGHBOUR_MIN_M / 100_000,
                code,
            ],
        )
        rows = cursor.fetchall()
        cursor.execute("SELECT scmj, dkmc FROM dk WHERE dkbm = %s", [code])
        area, name = cursor.fetchone()
    shapes = [(row[0], row[1], bool(row[2]), GEOSGeometry(memoryview(row[3]), srid=srid)) for row in rows]
    return shapes, area, name


def _polygons(geom: GEOSGeometry) -> list[Polygon]:
    if isinstance(geom, MultiPolygon):
        return [part for part in geom if isinstance(part, Polygon)]  # every part is one
    if isinstance(geom, Polygon):
        return [geom]
    return []


def _nice_length(metres: float) -> float:
    """A round scale-bar length (1, 2, 5 × 10^n m) not longer than ``metres``."""
    if metres <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(metres))
    for step in (5, 2, 1):
        if step * power <= metres:
            return float(step * power)
    return float(power)


_cache: OrderedDict[tuple[object, ...], Sketch] = OrderedDict()
CACHE_SIZE = 128  # sketches of one case's documents are drawn once, not once per document


def render_sketch(code: str, *, dpi: int = DPI) -> Sketch:
    """The sketch of one parcel as a PNG carrying its resolution (``dpi``) in its metadata.
    Drawn again only when the parcel, a neighbour or their shapes change.

    Example: ``render_sketch("3101511010010100001").png``
    """
    shapes, area, name = _shapes(code)
    key = (code, dpi, str(area), name, tuple((c, n, t, bytes(g.wkb)) for c, n, t, g in shapes))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    sketch = _draw(code, shapes, area, name, dpi)
    _cache[key] = sketch
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return sketch


def _draw(code: str, shapes: list[tuple[str, str, bool, GEOSGeometry]], area: Decimal, name: str, dpi: int) -> Sketch:
    width, height = round(WIDTH_IN * dpi), round(HEIGHT_IN * dpi)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    target = next(s for s in shapes if s[2])
    xmin, ymin, xmax, ymax = target[3].extent
    extent = max(xmax - xmin, ymax - ymin, 1.0)
    margin = max(extent * NEIGHBOUR_MARGIN, NEIGHBOUR_MIN_M)
    pad = round(0.12 * dpi)  # room for the title and the scale bar
    scale = min((width - 2 * pad) / (xmax - xmin + 2 * margin), (height - 2 * pad) / (ymax - ymin + 2 * margin))
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2

    def to_px(x: float, y: float) -> tuple[float, float]:
        return width / 2 + (x - cx) * scale, height / 2 - (y - cy) * scale

    small = ImageFont.truetype(font_path(), max(10, round(dpi * 0.085)), index=0)
    label = ImageFont.truetype(font_path(), max(12, round(dpi * 0.11)), index=0)
    line = max(1, round(dpi / 150))

    neighbours = [s for s in shapes if not s[2]]
    for _code, _name, _is_target, geom in neighbours:
        for polygon in _polygons(geom):
            draw.polygon(
                [to_px(x, y) for x, y in polygon.exterior_ring.coords],
                fill=NEIGHBOUR_FILL,
                outline=NEIGHBOUR_LINE,
                width=line,
            )
    for polygon in _polygons(target[3]):
        ring = [to_px(x, y) for x, y in polygon.exterior_ring.coords]
        draw.polygon(ring, fill=PARCEL_FILL, outline=PARCEL_LINE, width=line * 3)
        for hole in polygon[1:]:
            draw.polygon([to_px(x, y) for x, y in hole.coords], fill="white", outline=PARCEL_LINE, width=line * 2)
    for n_code, n_name, _is_target, geom in neighbours:
        point = geom.point_on_surface
        px, py = to_px(point.x, point.y)
        if 0 < px < width and 0 < py < height:
            text = f"{n_name or ''} {n_code[-5:]}".strip()
            draw.text((px, py), text, font=small, fill=NEIGHBOUR_LINE, anchor="mm")
    point = target[3].point_on_surface
    px, py = to_px(point.x, point.y)
    draw.text((px, py - dpi * 0.06), name or "", font=label, fill=TEXT, anchor="mm")
    draw.text((px, py + dpi * 0.06), f"{area} m²", font=small, fill=TEXT, anchor="mm")
    draw.text((pad / 2, pad / 3), f"地块代码 {code}", font=small, fill=TEXT)

    # North arrow (the projected grid's north; GK grid convergence is < 2° near the
    # central meridian, below what a sketch can show).
    ax, ay = width - pad, pad * 1.4
    arrow = round(dpi * 0.12)
    draw.polygon([(ax, ay - arrow), (ax - arrow / 3, ay), (ax + arrow / 3, ay)], fill=TEXT)
    draw.text((ax, ay - arrow - 2), "北", font=small, fill=TEXT, anchor="mb")

    # Scale bar: a round length about a quarter of the map width.
    metres = _nice_length((width / 4) / scale)
    bar = metres * scale
    bx, by = pad / 2, height - pad / 2
    draw.rectangle([bx, by - line * 3, bx + bar, by], fill=TEXT)
    draw.text((bx + bar + 6, by), f"{metres:g} 米", font=small, fill=TEXT, anchor="lb")
    draw.rectangle([0, 0, width - 1, height - 1], outline=NEIGHBOUR_LINE, width=line)

    buffer = io.BytesIO()
    image.save(buffer, "PNG", dpi=(dpi, dpi), compress_level=6)
    return Sketch(
        code=code,
        name=name or "",
        area=area,
        png=buffer.getvalue(),
        width_px=width,
        height_px=height,
        neighbours=len(neighbours),
    )
