"""The demo county 310151 示范区: a deterministic, realistic register for development,
demonstrations and benchmarks.

Everything comes from ``random.Random`` streams derived from one seed: no file is read and
nothing is fetched, so the same seed and parcel count give the same county, byte for byte.

Geometry is built in metres in the county's Gauss-Krüger zone (EPSG:4528, x = easting) and
stored in CGCS2000 lon/lat (EPSG:4490):

* a lattice of farm blocks whose lines are roads (机耕路) and canals (沟渠); lattice nodes are
  jittered, so blocks are irregular quadrilaterals and roads kink at crossings;
* regions are rectangles of whole blocks in lattice index space (county → towns → villages →
  groups by guillotine cuts), their rings walk the shared lattice nodes, so every level tiles
  its parent exactly;
* each block, inset by half the width of its roads and canals, is cut into rows and each row
  into strip fields; every vertex on a row line is computed once and used by every parcel on
  that line (T-junctions included), so neighbours share exact vertices and never overlap;
* ponds (坑塘) and hamlets (居民点) take some cells; the parcel count is exactly the one asked.

Everything is bulk data (PostgreSQL COPY, or ``bulk_create`` for the few reference features):
version 1 and no ChangeRecord history, checked against the coding rules as it is built and by
the database's constraints as it is written. Areas (SCMJ, SCMJM) are computed by one SQL
UPDATE with the rule of ``parcels.services.measure_area`` and ``sqm_to_mu``; the other
figures (contract totals, 亩, term text) use the services' own helpers.

Example::

    from parcels.demo import load_demo
    summary = load_demo(parcels=3000, seed=2019)
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.gis.geos import GEOSGeometry, LineString, MultiLineString, MultiPolygon, Point
from django.contrib.gis.geos import Polygon as GeosPolygon
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from pyproj import Transformer

from accounts.models import Profile, Role
from gisapp.config import config
from layers.models import (
    BasicFarmlandZone,
    ControlPoint,
    LineFeature,
    PointFeature,
    PolygonFeature,
    Raster,
    RegionBoundary,
)
from parcels import coding, services
from parcels.models import (
    BoundaryLine,
    BoundaryPoint,
    Certificate,
    CertificateCancellation,
    CertificateReissue,
    CertificateReplacement,
    ChangeRecord,
    Collective,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    ParcelLineage,
    Region,
    RegisterBook,
    SourceAttachment,
    TransferContract,
)

DEMO_COUNTY = "310151"
DEMO_COUNTY_NAME = "示范区"
DEMO_PROVINCE = ("31", "上海市")
STORAGE_SRID = 4490  # CGCS2000 lon/lat, the models' SRID (gisapp.config insists on it)
DEMO_AREA_SRID = 4528  # CGCS2000 3° Gauss-Krüger zone 40 (CM 120°E), zone-prefixed eastings
DEMO_CENTER = (121.40, 31.625)  # lon, lat: the middle of 121.30-121.50 E, 31.55-31.70 N
DEMO_PASSWORD = "nongdi-demo"  # local demonstrations only
DEFAULT_PARCELS = 3000
DEFAULT_SEED = 2019
MIN_PARCELS = 100
RASTER_NAME = "demo-dom"
EXISTS_MESSAGE = "县级区域 {county} 已存在。请使用新的空数据库，或加 --replace 先删除示范区的全部数据"
RASTER_RELATIVE_PATH = Path("rasters") / "demo-dom.tif"

FIELD, POND, HAMLET = "field", "pond", "hamlet"
ROAD, CANAL = "road", "canal"
LINE_LABELS = {ROAD: "道路", CANAL: "沟渠"}
LINE_NAMES = {ROAD: "机耕路", CANAL: "沟渠"}

# Sizing. Mean block ≈ 210 m × 175 m; roads, ponds and hamlets take ≈ 12 % of it; a parcel
# averages ≈ 1150 m² (1.7 亩), so a block holds ≈ 28 parcels and a group ≈ 110 parcels.
MEAN_PARCEL_M2 = 1150.0
FIELD_SHARE = 0.88
COLUMN_WIDTH_M = (170.0, 250.0)
ROW_HEIGHT_M = (140.0, 210.0)
NODE_JITTER_M = 12.0
PARCELS_PER_GROUP = 110

Point2 = tuple[float, float]
Rect = tuple[int, int, int, int]  # i0, j0, i1, j1: block indexes, end exclusive


class DemoError(Exception):
    """The demo cannot be loaded as asked; the message says why and what to do."""


# --- names and identity numbers ------------------------------------------------------------

SURNAMES = "施施黄黄陆陆顾顾沈沈张张朱朱陈陈王王李倪龚杨徐周吴蔡宋袁茅郁秦范金姚钱孙曹董季汤邱"
MALE_CHARS = "建国华明军伟强林忠平德生荣海根福兴良东新永金卫勇春祥宝云龙峰杰涛斌浩宇志刚文俊"
FEMALE_CHARS = "英芳红梅兰秀珍丽敏霞琴燕萍娟凤玲娣美莉静婷雪洁慧菊桂"
TOWN_NAMES = ["新河镇", "东安镇", "丰乐镇", "永兴镇", "和平镇", "清水镇", "白鹤镇", "金桥镇", "兴隆镇", "太平镇"]
# Two-character village names (村名), read in pairs.
_VILLAGE_PAIRS = (
    "东风红星前进光明新民胜利团结永丰跃进建新联合富民安乐长征先锋民主"
    "向阳丰收五一八一桃园柳河杨湾陈家李家北港南圩西沙中心新华朝阳育才"
    "兴旺和睦仁和福安吉祥瑞丰金星银河绿华港东堡北三星永乐大同新桥合兴"
)
VILLAGE_WORDS = [_VILLAGE_PAIRS[k : k + 2] for k in range(0, len(_VILLAGE_PAIRS), 2)]
DIRECTIONS = "东西南北中新"
PLACE_NAMES = ["东大田", "西大田", "大块田", "长条田", "中间田", "方田", "十亩田", "三角田", "圩里田", "高田", "低田"]
PLACE_BY_NEIGHBOUR = {
    ROAD: ["路边田", "路南田", "路北田", "桥头田"],
    CANAL: ["河边地", "沟边田", "渠边田", "沟东地", "沟西地"],
    POND: ["塘边地", "塘前田"],
    HAMLET: ["宅前田", "宅后地", "屋后田"],
}
CN_DIGITS = "零一二三四五六七八九"

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 35 → 三十五 (1..99)."""
    tens, units = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN_DIGITS[tens] + "十")
    return head + (CN_DIGITS[units] if units else "")


def resident_id_check(first17: str) -> str:
    """The GB 11643-1999 check character of an 18-character resident ID number."""
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def resident_id_valid(number: str) -> bool:
    return len(number) == 18 and number[:17].isdigit() and resident_id_check(number[:17]) == number[17]


def uscc(prefix: str, area: str, rng: random.Random) -> str:
    """A well-formed unified social credit code (GB 32100-2015) with a valid organisation code
    (GB 11714-1997) inside: ``prefix`` is the registration authority and type (93 co-op)."""
    body = "".join(rng.choice("0123456789") for _ in range(8))
    org = 11 - sum(int(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True)) % 11
    org_check = {10: "X", 11: "0"}.get(org, str(org))
    first17 = prefix + area + body + org_check
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return first17 + USCC_CHARS[(31 - total % 31) % 31]


class People:
    """Names, resident ID numbers (unique in the county) and phone numbers."""

    def __init__(self, rng: random.Random, county: str) -> None:
        self.rng = rng
        self.county = county
        self.used_ids: set[str] = set()

    def given(self, sex: str) -> str:
        chars = MALE_CHARS if sex == "1" else FEMALE_CHARS
        length = 2 if self.rng.random() < 0.75 else 1
        return "".join(self.rng.choice(chars) for _ in range(length))

    def name(self, sex: str, surname: str | None = None) -> str:
        return (surname or self.rng.choice(SURNAMES)) + self.given(sex)

    def id_number(self, birth: dt.date, sex: str) -> str:
        # The 3-digit order code is odd for men and even for women (GB 11643).
        while True:
            order = self.rng.randrange(0, 500) * 2 + (1 if sex == "1" else 0)
            first17 = f"{self.county}{birth:%Y%m%d}{order:03d}"
            if first17 not in self.used_ids:
                self.used_ids.add(first17)
                return first17 + resident_id_check(first17)

    def birth(self, year_from: int, year_to: int) -> dt.date:
        year = self.rng.randint(year_from, year_to)
        return dt.date(year, 1, 1) + dt.timedelta(days=self.rng.randrange(365))

    def phone(self) -> str:
        return f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}"


# --- layout: lattice, regions, blocks, cells -----------------------------------------------


@dataclass(slots=True)
class LatticeLine:
    kind: str  # ROAD or CANAL
    width: float  # metres


@dataclass
class RegionPlan:
    code: str
    name: str
    level: str
    rect: Rect
    children: list[RegionPlan] = field(default_factory=list)
    full_name: str = ""


@dataclass(eq=False, slots=True)
class Cell:
    """One piece of a block row: a field (a parcel), a pond or a hamlet."""

    kind: str
    ring: list[Point2]  # projected metres, not closed
    block: Block
    row: int
    s0: float
    s1: float
    sides: dict[str, Cell | str] = field(default_factory=dict)  # 东/西/南/北 → cell or line kind
    parcel: int = -1  # index into DemoPlan.parcels for fields


@dataclass(eq=False, slots=True)
class Block:
    i: int
    j: int
    group: str
    quad: tuple[Point2, Point2, Point2, Point2]  # field area: SW, SE, NE, NW after insets
    orientation: int  # 0: strips along x (rows along y); 1: rotated a quarter turn
    size_class: float
    t_levels: list[float]
    ponds: list[int]
    hamlet_row: int | None = None
    in_zone: bool = False
    land_use_type: str = "011"
    fertility: int = 4
    fields: list[int] = field(default_factory=list)  # fields per row
    rows: list[list[Cell]] = field(default_factory=list)

    def point(self, s: float, t: float) -> Point2:
        u, v = (s, t) if self.orientation == 0 else (t, s)
        (x00, y00), (x10, y10), (x11, y11), (x01, y01) = self.quad
        a, b, c, d = (1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v
        return (a * x00 + b * x10 + c * x11 + d * x01, a * y00 + b * y10 + c * y11 + d * y01)


@dataclass
class Layout:
    nodes: list[list[Point2]]  # nodes[i][j], i = 0..nx, j = 0..ny
    vlines: list[LatticeLine]  # x = const lines, index i
    hlines: list[LatticeLine]  # y = const lines, index j
    county: RegionPlan
    blocks: list[Block]
    zones: list[tuple[str, Rect]]

    def ring(self, rect: Rect) -> list[Point2]:
        """The closed ring of a block rectangle, counter-clockwise through the lattice nodes."""
        i0, j0, i1, j1 = rect
        pts = [self.nodes[i][j0] for i in range(i0, i1 + 1)]
        pts += [self.nodes[i1][j] for j in range(j0 + 1, j1 + 1)]
        pts += [self.nodes[i][j1] for i in range(i1 - 1, i0 - 1, -1)]
        pts += [self.nodes[i0][j] for j in range(j1 - 1, j0 - 1, -1)]
        return pts

    def regions(self) -> Iterable[RegionPlan]:
        stack = [self.county]
        while stack:
            region = stack.pop(0)
            yield region
            stack.extend(region.children)

    def groups(self) -> list[RegionPlan]:
        return [r for r in self.regions() if r.level == Region.Level.GROUP]


def _offset(p: Point2, q: Point2, d: float) -> tuple[Point2, Point2]:
    """The line p→q moved ``d`` metres to its left (inwards for a counter-clockwise ring)."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    length = math.hypot(dx, dy)
    return (p[0] - dy / length * d, p[1] + dx / length * d), (dx, dy)


def _intersect(a: tuple[Point2, Point2], b: tuple[Point2, Point2]) -> Point2:
    (p, r), (q, s) = a, b
    cross = r[0] * s[1] - r[1] * s[0]
    t = ((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / cross
    return (p[0] + t * r[0], p[1] + t * r[1])


def _shoelace(pts: Sequence[Point2]) -> float:
    return 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, [*pts[1:], pts[0]], strict=True)))


def _split(rect: Rect, parts: int, rng: random.Random) -> list[Rect]:
    """Guillotine cuts of a block rectangle into ``parts`` rectangles of roughly equal area."""
    if parts <= 1:
        return [rect]
    i0, j0, i1, j1 = rect
    w, h = i1 - i0, j1 - j0
    first = parts // 2
    axes = ["x", "y"] if (w, rng.random()) > (h, 0.5) else ["y", "x"]
    for k1 in [first, *(k for k in range(1, parts) if k != first)]:
        k2 = parts - k1
        for axis in axes:
            length, across = (w, h) if axis == "x" else (h, w)
            low, high = math.ceil(k1 / across), length - math.ceil(k2 / across)
            if low > high:
                continue
            cut = min(high, max(low, round(length * k1 / parts + rng.uniform(-0.6, 0.6))))
            if axis == "x":
                a, b = (i0, j0, i0 + cut, j1), (i0 + cut, j0, i1, j1)
            else:
                a, b = (i0, j0, i1, j0 + cut), (i0, j0 + cut, i1, j1)
            return _split(a, k1, rng) + _split(b, k2, rng)
    raise DemoError(f"无法把 {w}×{h} 个方田划分为 {parts} 个区域")


def _rect_blocks(rect: Rect) -> int:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


def _plan_regions(county_code: str, nx: int, ny: int, n_parcels: int, rng: random.Random) -> RegionPlan:
    """County → towns → villages → groups as guillotine cuts of the block lattice."""
    groups_total = max(3, round(n_parcels / PARCELS_PER_GROUP))
    towns = min(len(TOWN_NAMES) * 3, max(3, round(math.sqrt(n_parcels / 1000))))
    # Small counties get villages of four groups so that every town has a few; large ones
    # grow towards the ten-odd groups of a real village.
    villages_total = max(towns, round(groups_total / max(4.0, math.sqrt(groups_total) / 4)))
    county = RegionPlan(county_code, DEMO_COUNTY_NAME, Region.Level.COUNTY, (0, 0, nx, ny), full_name="")
    all_blocks = nx * ny
    village_no = 0
    for t, town_rect in enumerate(_split(county.rect, towns, rng), start=1):
        town_name = TOWN_NAMES[(t - 1) % len(TOWN_NAMES)]
        if t > len(TOWN_NAMES):
            town_name = town_name[:-1] + DIRECTIONS[(t - 1) // len(TOWN_NAMES) - 1] + "镇"
        town = RegionPlan(f"{county_code}{100 + t}", town_name, Region.Level.TOWN, town_rect, full_name=town_name)
        county.children.append(town)
        n_villages = min(_rect_blocks(town_rect), max(1, round(villages_total * _rect_blocks(town_rect) / all_blocks)))
        for v, village_rect in enumerate(_split(town_rect, n_villages, rng), start=1):
            word = VILLAGE_WORDS[village_no % len(VILLAGE_WORDS)]
            lap = village_no // len(VILLAGE_WORDS)
            village_name = f"{word}{DIRECTIONS[lap - 1] if 0 < lap <= len(DIRECTIONS) else ''}村"
            if lap > len(DIRECTIONS):
                village_name = f"第{village_no + 1}村"
            village_no += 1
            village = RegionPlan(
                f"{town.code}{v:03d}",
                village_name,
                Region.Level.VILLAGE,
                village_rect,
                full_name=town_name + village_name,
            )
            town.children.append(village)
            blocks = _rect_blocks(village_rect)
            n_groups = min(blocks, 99, max(1, round(groups_total * blocks / all_blocks)))
            for g, group_rect in enumerate(_split(village_rect, n_groups, rng), start=1):
                name = f"{village_name}{chinese_number(g)}组"
                village.children.append(
                    RegionPlan(
                        f"{village.code}{g:02d}", name, Region.Level.GROUP, group_rect, full_name=town_name + name
                    )
                )
    return county


def build_layout(n_parcels: int, rng: random.Random, county_code: str = DEMO_COUNTY) -> Layout:
    """The county's geometry in projected metres: lattice, regions, blocks and their cells."""
    to_xy = Transformer.from_crs(STORAGE_SRID, DEMO_AREA_SRID, always_xy=True)
    cx, cy = to_xy.transform(*DEMO_CENTER)
    mean_block = (sum(COLUMN_WIDTH_M) / 2) * (sum(ROW_HEIGHT_M) / 2)
    blocks_needed = max(6, math.ceil(n_parcels * MEAN_PARCEL_M2 / FIELD_SHARE / mean_block))
    nx = max(3, round(math.sqrt(blocks_needed * 1.15)))
    ny = max(2, math.ceil(blocks_needed / nx))

    widths = [rng.uniform(*COLUMN_WIDTH_M) for _ in range(nx)]
    heights = [rng.uniform(*ROW_HEIGHT_M) for _ in range(ny)]
    x0, y0 = cx - sum(widths) / 2, cy - sum(heights) / 2
    xs = [x0 + sum(widths[:i]) for i in range(nx + 1)]
    ys = [y0 + sum(heights[:j]) for j in range(ny + 1)]
    nodes = [
        [(x + rng.uniform(-NODE_JITTER_M, NODE_JITTER_M), y + rng.uniform(-NODE_JITTER_M, NODE_JITTER_M)) for y in ys]
        for x in xs
    ]

    # Roads and canals alternate, as in consolidated farmland (沟路林渠配套), with exceptions.
    def line(k: int) -> LatticeLine:
        kind = ROAD if (k % 2 == 0) != (rng.random() < 0.15) else CANAL
        return LatticeLine(kind, round(rng.uniform(4.0, 6.0) if kind == ROAD else rng.uniform(3.0, 8.0), 1))

    vlines = [line(i) for i in range(nx + 1)]
    hlines = [line(j) for j in range(ny + 1)]

    county = _plan_regions(county_code, nx, ny, n_parcels, rng)
    layout = Layout(nodes, vlines, hlines, county, [], [])

    # Basic-farmland zones: one guillotine half of each town.
    zone_blocks: set[tuple[int, int]] = set()
    for town in county.children:
        if _rect_blocks(town.rect) >= 2:
            zone = _split(town.rect, 2, rng)[0]
            layout.zones.append((town.code, zone))
            zone_blocks.update((i, j) for i in range(zone[0], zone[2]) for j in range(zone[1], zone[3]))

    # Pass 1: shape every block, its rows, ponds; hamlets per village.
    blocks_by_group: dict[str, list[Block]] = {}
    for group in layout.groups():
        i0, j0, i1, j1 = group.rect
        # Number from the north-west corner, row by row, as surveyors usually do.
        for j in range(j1 - 1, j0 - 1, -1):
            for i in range(i0, i1):
                block = _shape_block(layout, i, j, group.code, rng)
                block.in_zone = (i, j) in zone_blocks
                layout.blocks.append(block)
                blocks_by_group.setdefault(group.code, []).append(block)
    for town in county.children:
        for village in town.children:
            candidates = [b for g in village.children for b in blocks_by_group[g.code]]
            multi_row = [b for b in candidates if len(b.t_levels) > 2]
            if multi_row:
                block = rng.choice(multi_row)
                block.hamlet_row = rng.choice([0, len(block.t_levels) - 2])
            elif len(candidates) >= 3:
                # A one-row block becomes all hamlet, but never a group's only block.
                spare = [b for b in candidates if len(blocks_by_group[b.group]) > 1]
                if spare:
                    rng.choice(spare).hamlet_row = 0
            for b in candidates:
                if b.hamlet_row is not None:
                    b.ponds[b.hamlet_row] = 0

    _allocate_fields(layout.blocks, n_parcels)
    for block in layout.blocks:
        _cut_block(layout, block, rng)
    return layout


def _shape_block(layout: Layout, i: int, j: int, group: str, rng: random.Random) -> Block:
    n = layout.nodes
    p00, p10, p11, p01 = n[i][j], n[i + 1][j], n[i + 1][j + 1], n[i][j + 1]
    hb, hr = layout.hlines[j].width / 2, layout.vlines[i + 1].width / 2
    ht, hl = layout.hlines[j + 1].width / 2, layout.vlines[i].width / 2
    e0, e1, e2, e3 = _offset(p00, p10, hb), _offset(p10, p11, hr), _offset(p11, p01, ht), _offset(p01, p00, hl)
    quad = (_intersect(e3, e0), _intersect(e0, e1), _intersect(e1, e2), _intersect(e2, e3))
    orientation = 0 if rng.random() < 0.65 else 1
    block = Block(
        i=i,
        j=j,
        group=group,
        quad=quad,
        orientation=orientation,
        size_class=rng.choices([0.7, 1.0, 1.25, 1.5], weights=[25, 40, 25, 10])[0],
        t_levels=[],
        ponds=[],
        land_use_type=rng.choices(["011", "012", "013"], weights=[55, 15, 30])[0],
        fertility=rng.randint(2, 7),
    )
    a, b = block.point(0.5, 0.0), block.point(0.5, 1.0)
    depth = math.dist(a, b)
    rows = max(1, round(depth / rng.uniform(55.0, 105.0)))
    levels = [0.0]
    for k in range(1, rows):
        levels.append((k + rng.uniform(-0.12, 0.12)) / rows)
    levels.append(1.0)
    block.t_levels = levels
    block.ponds = [1 if rng.random() < 0.06 else 0 for _ in range(rows)]
    return block


def _row_area(block: Block, r: int) -> float:
    t0, t1 = block.t_levels[r], block.t_levels[r + 1]
    return _shoelace([block.point(0, t0), block.point(1, t0), block.point(1, t1), block.point(0, t1)])


def _allocate_fields(blocks: list[Block], n_parcels: int) -> None:
    """Fields per row so that the county has exactly ``n_parcels``: each row's share of the
    field area, scaled by its block's size class, rounded by largest remainder."""
    rows: list[tuple[Block, int, float]] = []
    for block in blocks:
        block.fields = [0] * (len(block.t_levels) - 1)
        for r in range(len(block.fields)):
            if r == block.hamlet_row:
                continue
            usable = _row_area(block, r) * (0.85 if block.ponds[r] else 1.0)
            rows.append((block, r, usable / block.size_class))
    if len(rows) > n_parcels:
        raise DemoError(f"{n_parcels} 个地块太少，不足以铺满示范区（至少 {len(rows)} 个）")
    scale = n_parcels / sum(w for _, _, w in rows)
    wanted = [w * scale for _, _, w in rows]
    counts = [max(1, math.floor(x)) for x in wanted]
    missing = n_parcels - sum(counts)
    order = sorted(range(len(rows)), key=lambda k: (-(wanted[k] - math.floor(wanted[k])), k))
    k = 0
    while missing > 0:
        counts[order[k % len(order)]] += 1
        missing -= 1
        k += 1
    by_size = sorted(range(len(rows)), key=lambda k: (-counts[k], k))
    k = 0
    while missing < 0:
        idx = by_size[k % len(by_size)]
        if counts[idx] > 1:
            counts[idx] -= 1
            missing += 1
        k += 1
    for (block, r, _), count in zip(rows, counts, strict=True):
        block.fields[r] = count


def _cut_block(layout: Layout, block: Block, rng: random.Random) -> None:
    """Cut a block's rows into cells whose shared vertices are computed once per row line."""
    n_rows = len(block.fields)
    levels = block.t_levels
    lengths = [math.dist(block.point(0, t), block.point(1, t)) for t in levels]

    # Strip boundaries (s fractions) of each row. A boundary within 2.5 m of one in the row
    # below is snapped onto it: a cross-roads of ridges rather than two T-junctions a step
    # apart, which would look like a digitising error.
    cuts: list[list[float]] = []
    kinds: list[list[str]] = []
    for r in range(n_rows):
        if r == block.hamlet_row:
            row_kinds = [HAMLET]
        else:
            row_kinds = [FIELD] * block.fields[r]
            for _ in range(block.ponds[r]):
                row_kinds.insert(rng.randrange(len(row_kinds) + 1), POND)
        weights = [rng.uniform(1.2, 2.0) if k == POND else rng.uniform(0.6, 1.4) for k in row_kinds]
        total = sum(weights)
        bounds = [0.0]
        acc = 0.0
        for w in weights[:-1]:
            acc += w
            bounds.append(acc / total)
        bounds.append(1.0)
        if r > 0:
            below = cuts[r - 1]
            snap = 2.5 / lengths[r]
            for m in range(1, len(bounds) - 1):
                k = bisect.bisect_left(below, bounds[m])
                near = min(
                    (below[q] for q in (k - 1, k) if 0 < q < len(below) - 1),
                    key=lambda b: abs(b - bounds[m]),
                    default=None,
                )
                if near is not None and abs(near - bounds[m]) < snap and bounds[m - 1] < near < bounds[m + 1]:
                    bounds[m] = near
        cuts.append(bounds)
        kinds.append(row_kinds)

    # Vertices of each row line: the union of the boundaries of the rows on either side.
    line_keys: list[list[float]] = []
    line_pts: list[dict[float, Point2]] = []
    for k in range(n_rows + 1):
        keys = sorted(set(cuts[k - 1] if k > 0 else []) | set(cuts[k] if k < n_rows else []))
        t = levels[k]
        a, b = block.point(0, t), block.point(1, t)
        ux, uy = (b[0] - a[0]) / lengths[k], (b[1] - a[1]) / lengths[k]
        depth = min(
            (levels[k] - levels[k - 1]) if k > 0 else 1.0,
            (levels[k + 1] - levels[k]) if k < n_rows else 1.0,
        ) * math.dist(block.point(0.5, 0), block.point(0.5, 1))
        pts: dict[float, Point2] = {}
        for m, s in enumerate(keys):
            x, y = block.point(s, t)
            if 0 < m < len(keys) - 1:
                # Along the line: less than a third of the gap to either neighbour, so vertices
                # keep their order and no edge crosses another.
                gap = min(s - keys[m - 1], keys[m + 1] - s) * lengths[k]
                along = rng.uniform(-1, 1) * min(2.0, 0.3 * gap)
                x, y = x + ux * along, y + uy * along
            if 0 < k < n_rows:
                # Across the line (row boundaries only; block edges stay straight along roads).
                p, q = block.point(s, 0), block.point(s, 1)
                d = math.dist(p, q)
                across = rng.uniform(-1, 1) * min(1.5, 0.08 * depth)
                x, y = x + (q[0] - p[0]) / d * across, y + (q[1] - p[1]) / d * across
            pts[s] = (x, y)
        line_keys.append(keys)
        line_pts.append(pts)

    for r in range(n_rows):
        row: list[Cell] = []
        bottom_keys, top_keys = line_keys[r], line_keys[r + 1]
        for c, kind in enumerate(kinds[r]):
            s0, s1 = cuts[r][c], cuts[r][c + 1]
            lo, hi = bisect.bisect_left(bottom_keys, s0), bisect.bisect_right(bottom_keys, s1)
            ring = [line_pts[r][s] for s in bottom_keys[lo:hi]]
            lo, hi = bisect.bisect_left(top_keys, s0), bisect.bisect_right(top_keys, s1)
            ring += [line_pts[r + 1][s] for s in reversed(top_keys[lo:hi])]
            row.append(Cell(kind=kind, ring=ring, block=block, row=r, s0=s0, s1=s1))
        block.rows.append(row)
    _link_neighbours(layout, block)


def _link_neighbours(layout: Layout, block: Block) -> None:
    """四至 of each cell: the cell beside it, or the road/canal along the block edge."""
    i, j = block.i, block.j
    if block.orientation == 0:
        names = {"s-": "西", "s+": "东", "t-": "南", "t+": "北"}
        edges = {"s-": layout.vlines[i], "s+": layout.vlines[i + 1], "t-": layout.hlines[j], "t+": layout.hlines[j + 1]}
    else:
        names = {"s-": "南", "s+": "北", "t-": "西", "t+": "东"}
        edges = {"s-": layout.hlines[j], "s+": layout.hlines[j + 1], "t-": layout.vlines[i], "t+": layout.vlines[i + 1]}
    rows = block.rows
    starts = [[cell.s0 for cell in row] for row in rows]
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            cell.sides[names["s-"]] = row[c - 1] if c > 0 else edges["s-"].kind
            cell.sides[names["s+"]] = row[c + 1] if c < len(row) - 1 else edges["s+"].kind
            below = _widest_overlap(cell, rows[r - 1], starts[r - 1]) if r > 0 else edges["t-"].kind
            above = _widest_overlap(cell, rows[r + 1], starts[r + 1]) if r < len(rows) - 1 else edges["t+"].kind
            cell.sides[names["t-"]] = below
            cell.sides[names["t+"]] = above


def _widest_overlap(cell: Cell, row: list[Cell], starts: list[float]) -> Cell:
    """The cell of an adjacent row that shares the longest stretch of edge with ``cell``."""
    k = max(0, bisect.bisect_right(starts, cell.s0) - 1)
    best, best_len = row[k], -1.0
    while k < len(row) and row[k].s0 < cell.s1:
        shared = min(cell.s1, row[k].s1) - max(cell.s0, row[k].s0)
        if shared > best_len:
            best, best_len = row[k], shared
        k += 1
    return best


# --- the register: parcels, people, contracts ------------------------------------------------


@dataclass
class DemoPlan:
    """Everything to write, as plain rows keyed by model attribute names."""

    layout: Layout
    collectives: dict[str, dict[str, Any]]
    parcel_cells: list[Cell]
    parcels: list[dict[str, Any]]
    contractors: list[dict[str, Any]]
    members: list[dict[str, Any]]
    holdings: list[tuple[str, str, list[int]]]  # contractor code, method, parcel indexes
    staff: dict[str, list[str]]


def _names_for_neighbours(parcel_cells: list[Cell], holder: list[str]) -> list[dict[str, str]]:
    sides: list[dict[str, str]] = []
    for cell in parcel_cells:
        text: dict[str, str] = {}
        for direction, other in cell.sides.items():
            if isinstance(other, str):
                text[direction] = LINE_LABELS[other]
            elif other.kind == FIELD:
                text[direction] = holder[other.parcel]
            else:
                text[direction] = "坑塘" if other.kind == POND else "居民点"
        sides.append(text)
    return sides


def build_plan(layout: Layout, rng: random.Random, county_code: str = DEMO_COUNTY) -> DemoPlan:
    """Parcels with their attributes, collectives, contractors, members and who holds what."""
    people = People(rng, county_code)
    staff = {
        "surveyors": [people.name(rng.choice("12")) for _ in range(4)],
        "recorders": [people.name(rng.choice("12")) for _ in range(2)],
        "reviewers": [people.name(rng.choice("12")) for _ in range(2)],
        "registrars": [people.name(rng.choice("12")) for _ in range(2)],
    }
    groups = layout.groups()
    collectives: dict[str, dict[str, Any]] = {}
    ownership: dict[str, str] = {}
    for g in groups:
        town = g.full_name[: g.full_name.index("镇") + 1]
        head_sex = "1" if rng.random() < 0.8 else "2"
        collectives[g.code] = {
            "name": g.full_name,
            "head_name": people.name(head_sex),
            "head_id_type": "1",
            "head_id_number": people.id_number(people.birth(1955, 1978), head_sex),
            "phone": people.phone(),
            "address": f"上海市{DEMO_COUNTY_NAME}{g.full_name}",
            "postcode": f"2021{50 + int(g.code[6:9]) - 100:02d}",
            "surveyor": rng.choice(staff["surveyors"]),
            "survey_date": dt.date(2018, 3, 1) + dt.timedelta(days=rng.randrange(60)),
            "survey_notes": f"{town}农经站会同村委会实地调查，发包方信息属实。",
        }
        ownership[g.code] = "31" if rng.random() < 0.75 else "30"  # 村民小组 or 集体

    # Parcels: DKBM = FBFBM + 5-digit sequence, in survey order within each group.
    parcel_cells: list[Cell] = []
    parcels: list[dict[str, Any]] = []
    seq: dict[str, int] = {}
    for block in layout.blocks:
        for row in block.rows:
            for cell in row:
                if cell.kind != FIELD:
                    continue
                seq[block.group] = seq.get(block.group, 0) + 1
                cell.parcel = len(parcels)
                parcel_cells.append(cell)
                use = block.land_use_type if rng.random() < 0.9 else rng.choice(["011", "012", "013"])
                parcels.append(
                    {
                        "code": coding.make_dkbm(block.group, seq[block.group]),
                        "category": rng.choices(["10", "21", "22"], weights=[92, 3, 5])[0],
                        "ownership": ownership[block.group],
                        "land_use_type": use,
                        "fertility": f"{min(10, max(1, block.fertility + rng.choice([-1, 0, 0, 1]))):02d}",
                        "land_use": "1" if rng.random() < 0.97 else "2",
                        "basic_farmland": "1" if block.in_zone else "2",
                    }
                )

    contractors: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    holdings: list[tuple[str, str, list[int]]] = []
    holder = ["" for _ in parcels]
    by_group: dict[str, list[int]] = {}
    for idx, p in enumerate(parcels):
        by_group.setdefault(p["code"][:14], []).append(idx)
    individual_every = max(1, len(groups) // max(3, len(groups) // 8))
    for g_no, g in enumerate(groups):
        collective = collectives[g.code]
        pool = [k for k in by_group.get(g.code, []) if parcels[k]["category"] == "10"]
        rng.shuffle(pool)
        new = _ContractorFactory(g, collective, people, staff)

        if g_no == 0 and len(pool) > 6:
            code = coding.make_cbfbm(g.code, 9001, "3")
            name = f"{DEMO_COUNTY_NAME}绿野农业专业合作社"
            contractors.append(new(code, name, "3", "3", uscc("93", county_code, rng), 1))
            holdings.append((code, "120", _take(pool, rng.randint(3, 5))))
        if g_no % individual_every == individual_every // 2 and len(pool) > 4:
            for n in range(rng.randint(1, 2)):
                code = coding.make_cbfbm(g.code, 8001 + n, "2")
                sex = "1" if rng.random() < 0.7 else "2"
                name = people.name(sex)
                id_number = people.id_number(people.birth(1965, 1990), sex)
                contractors.append(new(code, name, "2", "1", id_number, 1))
                holdings.append((code, rng.choice(["120", "121"]), _take(pool, rng.randint(1, 3))))
        household = 0
        while pool:
            household += 1
            code = coding.make_cbfbm(g.code, household, "1")
            family = _family(people, rng)
            head = family[0]
            contractors.append(new(code, head["name"], "1", "1", head["id_number"], len(family)))
            members += [m | {"contractor_id": code} for m in family]
            holdings.append((code, "110", _take(pool, rng.choices([1, 2, 3, 4, 5], weights=[12, 22, 28, 23, 15])[0])))

    names = {c["code"]: c["name"] for c in contractors}
    for code, _, held in holdings:
        for k in held:
            holder[k] = names[code]
    for k, p in enumerate(parcels):
        if not holder[k]:
            holder[k] = "自留地" if p["category"] == "21" else "集体机动地"
    sides = _names_for_neighbours(parcel_cells, holder)
    for k, (p, cell) in enumerate(zip(parcels, parcel_cells, strict=True)):
        p.update(east=sides[k]["东"], west=sides[k]["西"], south=sides[k]["南"], north=sides[k]["北"])
        p["name"] = _place_name(cell, rng)
        p["witnesses"] = holder[k] if p["category"] == "10" else collectives[p["code"][:14]]["head_name"]
    return DemoPlan(layout, collectives, parcel_cells, parcels, contractors, members, holdings, staff)


def _take(pool: list[int], count: int) -> list[int]:
    """The first ``count`` parcels of a shuffled pool, removed from it."""
    got = pool[:count]
    del pool[:count]
    return got


@dataclass
class _ContractorFactory:
    """CBF rows of one group: the group's address, survey and publicity staff and dates."""

    group: RegionPlan
    collective: Mapping[str, Any]
    people: People
    staff: Mapping[str, list[str]]

    def __call__(self, code: str, name: str, kind: str, id_type: str, id_number: str, members: int) -> dict[str, Any]:
        rng = self.people.rng
        return {
            "code": code,
            "collective_id": self.group.code,
            "kind": kind,
            "name": name,
            "id_type": id_type,
            "id_number": id_number,
            "address": f"上海市{DEMO_COUNTY_NAME}{self.group.full_name}{rng.randint(1, 199)}号",
            "postcode": self.collective["postcode"],
            "phone": self.people.phone(),
            "member_count": members,
            "survey_date": self.collective["survey_date"] + dt.timedelta(days=rng.randrange(1, 90)),
            "surveyor": rng.choice(self.staff["surveyors"]),
            "publicity_notes": "公示七日无异议",
            "publicity_recorder": rng.choice(self.staff["recorders"]),
            "publicity_review_date": dt.date(2018, 7, 1) + dt.timedelta(days=rng.randrange(45)),
            "publicity_reviewer": rng.choice(self.staff["reviewers"]),
        }


def _place_name(cell: Cell, rng: random.Random) -> str:
    """DKMC: a small place name, often after what the field borders."""
    beside = [v if isinstance(v, str) else v.kind for v in cell.sides.values()]
    beside = [b for b in beside if b != FIELD]
    if beside and rng.random() < 0.6:
        return rng.choice(PLACE_BY_NEIGHBOUR[rng.choice(beside)])
    return rng.choice(PLACE_NAMES)


def _family(people: People, rng: random.Random) -> list[dict[str, Any]]:
    """A household of 1-6: the head (02), spouse (10), sons (20), daughters (30), a parent (51/52)."""
    size = rng.choices([1, 2, 3, 4, 5, 6], weights=[5, 15, 30, 25, 15, 10])[0]
    head_sex = "1" if rng.random() < 0.85 else "2"
    head_birth = people.birth(1948, 1982)
    surname = rng.choice(SURNAMES)
    head: dict[str, Any] = {
        "name": people.name(head_sex, surname),
        "sex": head_sex,
        "birth": head_birth,
        "relation": "02",
    }
    family = [head]
    father_surname = surname
    if size >= 2:
        sex = "2" if head_sex == "1" else "1"
        spouse_surname = rng.choice(SURNAMES)
        if sex == "1":
            father_surname = spouse_surname
        birth = head_birth + dt.timedelta(days=rng.randint(-5 * 365, 5 * 365))
        family.append({"name": people.name(sex, spouse_surname), "sex": sex, "birth": birth, "relation": "10"})
    if size >= 5 and head_birth.year > 1960:
        sex = rng.choice("12")
        birth = dt.date(head_birth.year - rng.randint(24, 32), rng.randint(1, 12), rng.randint(1, 28))
        family.append(
            {
                "name": people.name(sex, surname if sex == "1" else None),
                "sex": sex,
                "birth": birth,
                "relation": "5" + sex,
            }
        )
    while len(family) < size:
        sex = rng.choice("12")
        year = min(2017, head_birth.year + rng.randint(22, 36))
        birth = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
        relation = "20" if sex == "1" else "30"
        family.append({"name": people.name(sex, father_surname), "sex": sex, "birth": birth, "relation": relation})
    return [
        {
            "name": m["name"],
            "sex": m["sex"],
            "id_type": "1",
            "id_number": people.id_number(m["birth"], m["sex"]),
            "relation": m["relation"],
            "is_co_owner": "1" if m["birth"].year <= 2000 else "2",
        }
        for m in family
    ]


# --- writing --------------------------------------------------------------------------------


def copy_rows(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert rows with PostgreSQL COPY. Keys are attribute names (``collective_id``); every
    other concrete field gets its model default, timestamps get now; the auto id is left to
    the database. Geometry values are hex EWKB strings."""
    if not rows:
        return 0
    now = timezone.now()
    spec: list[tuple[str, str, Any]] = []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            default: Any = now
        elif f.has_default():
            default = f.get_default()
        else:
            default = None
        if isinstance(default, Enum):
            default = default.value
        spec.append((f.attname, f.column, default))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for _, column, _ in spec)
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    attnames = [attname for attname, _, _ in spec]
    defaults = [default for _, _, default in spec]
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(list(map(row.get, attnames, defaults)))
    return len(rows)


def _ewkb_polygons(rings: Sequence[Sequence[Point2]], to_lonlat: Transformer) -> list[str]:
    """Projected rings → hex EWKB of one-part MultiPolygons in EPSG:4490."""
    closed = [[*ring, ring[0]] for ring in rings]
    counts = np.fromiter((len(r) for r in closed), dtype=np.int64, count=len(closed))
    xy = np.array([pt for ring in closed for pt in ring], dtype=np.float64)
    lon, lat = to_lonlat.transform(xy[:, 0], xy[:, 1])
    ring_index = np.repeat(np.arange(len(closed)), counts)
    polygons = shapely.polygons(shapely.linearrings(np.column_stack([lon, lat]), indices=ring_index))
    multi = shapely.multipolygons(polygons, indices=np.arange(len(closed)))
    multi = shapely.set_srid(multi, STORAGE_SRID)
    return shapely.to_wkb(multi, hex=True, include_srid=True).tolist()


def _geos(ewkb_hex: str) -> MultiPolygon:
    geom = GEOSGeometry(ewkb_hex)
    assert isinstance(geom, MultiPolygon)
    return geom


def _quoted(model: type[models.Model], name: str) -> str:
    """The quoted database column of a concrete field."""
    f = model._meta.get_field(name)
    assert isinstance(f, models.Field)
    return connection.ops.quote_name(f.column)


def _lonlat(points: Sequence[Point2], to_lonlat: Transformer) -> list[Point2]:
    xs, ys = to_lonlat.transform([p[0] for p in points], [p[1] for p in points])
    return list(zip(xs, ys, strict=True))


def _update_areas(model: type[models.Model], area: str, mu: str, where: str, params: Sequence[Any], srid: int) -> None:
    """m² and 亩 of a polygon layer in one UPDATE, rounded as ``services.measure_area`` does:
    the float area is cast through its shortest text form (as Python's ``str(float)``) and
    rounded half-up to 0.01 m²; 亩 is the rounded m² × 0.0015, rounded half-up again
    (PostgreSQL's numeric ``round`` rounds halves away from zero)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    geom = _quoted(model, "geom")
    area_col = _quoted(model, area)
    mu_col = _quoted(model, mu)
    sql = (
        f"UPDATE {table} SET {area_col} = a.sqm, {mu_col} = round(a.sqm * %s, 2) "
        f"FROM (SELECT id, round(ST_Area(ST_Transform({geom}, %s))::text::numeric, 2) AS sqm "
        f"FROM {table} WHERE {where}) AS a WHERE {table}.id = a.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [config().mu_per_sqm, srid, *params])


def _write_regions(layout: Layout, to_lonlat: Transformer) -> None:
    """Regions level by level (parents first), in bulk: a county of 100 000 parcels has a
    thousand of them, and the per-object service would add seconds of validation queries."""
    regions = list(layout.regions())
    rings = _ewkb_polygons([layout.ring(r.rect) for r in regions], to_lonlat)
    geoms = dict(zip((r.code for r in regions), rings, strict=True))
    ids: dict[str, int] = {}
    parent_length = {Region.Level.TOWN: 6, Region.Level.VILLAGE: 9, Region.Level.GROUP: 12}
    county_code = regions[0].code[:6]
    if county_code.startswith(DEMO_PROVINCE[0]):
        # The province above the demo county (its 权属单位代码表 starts there); shared with
        # any other county of the province, so kept when the demo is replaced.
        province, _ = Region.objects.get_or_create(
            code=DEMO_PROVINCE[0], defaults={"name": DEMO_PROVINCE[1], "level": Region.Level.PROVINCE}
        )
        ids[province.code] = province.pk
        parent_length[Region.Level.COUNTY] = 2
    for level in Region.Level:
        batch = []
        for region in regions:
            if region.level != level:
                continue
            coding.validate_region_code(region.code, level)
            parent = ids[region.code[: parent_length[level]]] if level in parent_length else None
            batch.append(
                Region(
                    code=region.code,
                    name=region.name,
                    level=level,
                    parent_id=parent,
                    geom=_geos(geoms[region.code]),
                    area_srid=DEMO_AREA_SRID if level == Region.Level.COUNTY else None,
                )
            )
        ids.update((obj.code, obj.pk) for obj in Region.objects.bulk_create(batch))


def _write_collectives(plan: DemoPlan) -> None:
    """Collectives (FBF) in bulk, each checked against the code rules and code tables first."""
    rows = []
    for code, fields in plan.collectives.items():
        coding.validate_fbfbm(code)
        Collective(code=code, **fields).clean_fields()
        rows.append({"code": code, **fields})
    copy_rows(Collective, rows)


def _write_parcels(plan: DemoPlan, to_lonlat: Transformer, county: str) -> dict[str, tuple[Decimal, Decimal]]:
    geoms = _ewkb_polygons([c.ring for c in plan.parcel_cells], to_lonlat)
    rows = []
    for k, (p, geom, cell) in enumerate(zip(plan.parcels, geoms, plan.parcel_cells, strict=True)):
        # A provisional area satisfies the dk_area_positive check; the UPDATE below sets the
        # legal one measured by PostGIS from the stored geometry.
        provisional = services.round_area(max(1.0, _shoelace(cell.ring)))
        rows.append(p | {"bsm": k + 1, "geom": geom, "surveyed_area": provisional, "key_points": ""})
    copy_rows(Parcel, rows)
    code_col = _quoted(Parcel, "code")
    _update_areas(
        Parcel,
        "surveyed_area",
        "surveyed_area_mu",
        f"{code_col} LIKE %s",
        [county + "%"],
        DEMO_AREA_SRID,
    )
    return {
        code: (sqm, mu)
        for code, sqm, mu in Parcel.objects.filter(code__startswith=county).values_list(
            "code", "surveyed_area", "surveyed_area_mu"
        )
    }


def _write_contracts(plan: DemoPlan, areas: dict[str, tuple[Decimal, Decimal]], rng: random.Random) -> dict[str, int]:
    """Contracts, CBDKXX, register books, certificates and a handful of transfers."""
    contractors = {c["code"]: c for c in plan.contractors}
    heads = {m["contractor_id"]: m for m in plan.members if m["relation"] == "02"}
    contracts, links, books, certificates = [], [], [], []
    for serial, (code, method, held) in enumerate(plan.holdings, start=1):
        contractor = contractors[code]
        contract_code = coding.make_contract_code(code, method)
        if method == coding.FAMILY_CONTRACTING:
            start = dt.date(2018, 1, 1)
            end = services.LONG_TERM_END if rng.random() < 0.08 else dt.date(2047, 12, 31)
        else:
            start = dt.date(2019, 1, 1)
            end = dt.date(2033, 12, 31)
        signed = dt.date(2018, 9, 1) + dt.timedelta(days=rng.randrange(90))
        total = Decimal("0")
        original_total = Decimal("0")
        for k in held:
            parcel_code = plan.parcels[k]["code"]
            sqm, mu = areas[parcel_code]
            # The second-round contract (原合同) measured fields by tape and custom: usually less.
            original = services.round_area(float(sqm) * rng.uniform(0.82, 1.0))
            total += sqm
            original_total += original
            links.append(
                {
                    "parcel_id": parcel_code,
                    "collective_id": contractor["collective_id"],
                    "contractor_id": code,
                    "acquisition": method,
                    "contract_area": sqm,
                    "contract_area_mu": mu,
                    "original_area": original,
                    "original_area_mu": services.sqm_to_mu(original),
                    "contract_id": contract_code,
                    "register_code": contract_code,
                    "is_share": "2",
                }
            )
        contracts.append(
            {
                "code": contract_code,
                "collective_id": contractor["collective_id"],
                "contractor_id": code,
                "method": method,
                "term_start": start,
                "term_end": end,
                "total_area": total,
                "total_area_mu": services.sqm_to_mu(total),
                "original_total_area": original_total,
                "original_total_area_mu": services.sqm_to_mu(original_total),
                "parcel_count": len(held),
                "signed_on": signed,
            }
        )
        registered = signed + dt.timedelta(days=rng.randint(60, 200))
        books.append(
            {
                "code": contract_code,
                "collective_id": contractor["collective_id"],
                "contractor_id": code,
                "method": method,
                "term": services.term_text(start, end),
                "term_start": start,
                "term_end": end,
                "sketch_map": f"图件\\{contractor['collective_id']}\\DKSYT{contract_code}.pdf",
                "serial": f"沪（{registered.year}）{DEMO_COUNTY_NAME}农村土地承包经营权证第{serial:06d}号",
                "registrar": rng.choice(plan.staff["registrars"]),
                "registered_on": registered,
            }
        )
        issued = registered + dt.timedelta(days=rng.randint(10, 60))
        collected = rng.random() < 0.85
        head = heads.get(code)
        certificates.append(
            {
                "register_book_id": contract_code,
                "issuing_authority": f"上海市{DEMO_COUNTY_NAME}人民政府",
                "issued_on": issued,
                "collected": "1" if collected else "2",
                "collected_on": issued + dt.timedelta(days=rng.randint(3, 60)) if collected else None,
                "collector_name": contractor["name"] if collected else None,
                "collector_id_type": contractor["id_type"] if collected else None,
                "collector_id_number": (head["id_number"] if head else contractor["id_number"]) if collected else None,
            }
        )

    # 流转: some households rent one or two fields to a co-op or a family farm.
    transfers = []
    family = [k for k, c in enumerate(contracts) if c["method"] == coding.FAMILY_CONTRACTING]
    n_transfers = min(len(family), 10 + len(plan.parcels) // 20000)
    links_by_contract: dict[str, list[dict[str, Any]]] = {}
    for link in links:
        links_by_contract.setdefault(link["contract_id"], []).append(link)
    next_seq: dict[str, int] = {}
    for k in sorted(rng.sample(family, n_transfers)):
        contract = contracts[k]
        fbfbm = contract["collective_id"]
        next_seq[fbfbm] = next_seq.get(fbfbm, 0) + 1
        code = coding.make_lzhtbm(fbfbm, next_seq[fbfbm])
        chosen = links_by_contract[contract["code"]][: rng.randint(1, 2)]
        area = sum((link["contract_area"] for link in chosen), Decimal("0"))
        years = rng.choice([3, 5, 5, 10])
        start = dt.date(2020 + rng.randint(0, 3), 1, 1)
        farm = f"{rng.choice(SURNAMES)}{rng.choice(MALE_CHARS)}家庭农场"
        transferee, transferee_code = (
            (f"{DEMO_COUNTY_NAME}{farm}", uscc("92", DEMO_COUNTY, rng))
            if rng.random() < 0.6
            else (f"{DEMO_COUNTY_NAME}绿野农业专业合作社", uscc("93", DEMO_COUNTY, rng))
        )
        transfers.append(
            {
                "code": code,
                "contract_id": contract["code"],
                "contractor_id": contract["contractor_id"],
                "transferee_code": transferee_code,
                "transferee_name": transferee,
                "method": rng.choice(["900", "900", "300"]),
                "term": f"{years}年",
                "start_date": start,
                "end_date": dt.date(start.year + years - 1, 12, 31),
                "area": area,
                "area_mu": services.sqm_to_mu(area),
                "parcel_count": len(chosen),
                "land_use_before": "1",
                "land_use_after": "1",
                "price_note": f"出租，每亩每年{rng.choice([600, 700, 800, 900, 1000])}元，每年12月底前支付",
                "signed_on": start - dt.timedelta(days=rng.randint(10, 60)),
            }
        )
        for link in chosen:
            link["transfer_contract_code"] = code

    copy_rows(Contract, contracts)
    copy_rows(ContractParcel, links)
    copy_rows(TransferContract, transfers)
    copy_rows(RegisterBook, books)
    copy_rows(Certificate, certificates)
    return {
        "承包合同": len(contracts),
        "承包地块信息": len(links),
        "流转合同": len(transfers),
        "登记簿": len(books),
        "权证": len(certificates),
    }


def _county_where(model: type[models.Model]) -> str:
    return f"{_quoted(model, 'county')} = %s"


def _write_layers(plan: DemoPlan, to_lonlat: Transformer, county: str, rng: random.Random) -> dict[str, int]:
    """Roads and canals, ponds and hamlets, basic-farmland zones, the county line, control points."""
    layout = plan.layout
    nx, ny = len(layout.vlines) - 1, len(layout.hlines) - 1
    lines = []
    for i, lattice_line in enumerate(layout.vlines):
        lines.append((lattice_line, [layout.nodes[i][j] for j in range(ny + 1)]))
    for j, lattice_line in enumerate(layout.hlines):
        lines.append((lattice_line, [layout.nodes[i][j] for i in range(nx + 1)]))
    LineFeature.objects.bulk_create(
        LineFeature(
            county_id=county,
            name=LINE_NAMES[lattice_line.kind],
            width=Decimal(str(lattice_line.width)),
            note="示范数据",
            geom=MultiLineString(LineString(_lonlat(pts, to_lonlat)), srid=STORAGE_SRID),
        )
        for lattice_line, pts in lines
    )
    table = connection.ops.quote_name(LineFeature._meta.db_table)
    length_col, geom_col = _quoted(LineFeature, "length"), _quoted(LineFeature, "geom")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {length_col} = round(ST_Length(ST_Transform({geom_col}, %s))::numeric, 2) "
            f"WHERE {_county_where(LineFeature)}",
            [DEMO_AREA_SRID, county],
        )

    others = [c for b in layout.blocks for row in b.rows for c in row if c.kind != FIELD]
    geoms = _ewkb_polygons([c.ring for c in others], to_lonlat)
    PolygonFeature.objects.bulk_create(
        PolygonFeature(county_id=county, name="坑塘" if c.kind == POND else "居民点", note="示范数据", geom=_geos(geom))
        for c, geom in zip(others, geoms, strict=True)
    )
    _update_areas(PolygonFeature, "area", "area_mu", _county_where(PolygonFeature), [county], DEMO_AREA_SRID)

    zone_geoms = _ewkb_polygons([layout.ring(rect) for _, rect in layout.zones], to_lonlat)
    BasicFarmlandZone.objects.bulk_create(
        BasicFarmlandZone(county_id=county, number=f"{town}01", geom=_geos(geom))
        for (town, _), geom in zip(layout.zones, zone_geoms, strict=True)
    )
    _update_areas(BasicFarmlandZone, "area", "area_mu", _county_where(BasicFarmlandZone), [county], DEMO_AREA_SRID)

    outline = _lonlat([*layout.ring(layout.county.rect), layout.nodes[0][0]], to_lonlat)
    RegionBoundary.objects.create(
        county_id=county, kind="650200", nature="600001", geom=MultiLineString(LineString(outline), srid=STORAGE_SRID)
    )

    n_points = 6 + len(plan.parcels) // 20000
    interior = [(i, j) for i in range(1, nx) for j in range(1, ny)] or [(0, 0)]
    chosen = sorted(rng.sample(interior, min(n_points, len(interior))))
    points = []
    for k, (i, j) in enumerate(chosen, start=1):
        x, y = layout.nodes[i][j]
        ((lon, lat),) = _lonlat([(x, y)], to_lonlat)
        gnss = k % 2 == 1
        points.append(
            ControlPoint(
                county_id=county,
                name=f"{DEMO_COUNTY_NAME}{'GNSS' if gnss else '导线'}{k:02d}",
                number=f"KZ{k:03d}",
                kind="110302" if gnss else "110104",
                grade="D级" if gnss else "一级导线",
                stone_type="2",
                marker_type="1",
                state="完好",
                record=f"点之记\\KZ{k:03d}.jpg",
                x2000=Decimal(f"{y:.3f}"),  # X is the northing in Chinese surveying
                y2000=Decimal(f"{x:.3f}"),
                geom=Point(lon, lat, srid=STORAGE_SRID),
            )
        )
    ControlPoint.objects.bulk_create(points)
    return {
        "线状地物": len(lines),
        "面状地物": len(others),
        "基本农田保护区": len(layout.zones),
        "区域界线": 1,
        "控制点": len(points),
    }


# --- orthophoto -------------------------------------------------------------------------------


def write_orthophoto(plan: DemoPlan, path: Path, seed: int, max_pixels: int = 16_000_000) -> dict[str, Any]:
    """A synthetic DOM: fields in greens and browns with darker boundaries, grey roads, blue
    canals and ponds, hamlets with roofs. EPSG:4528, north up, JPEG-in-TIFF with overviews;
    the resolution is 0.5 m or coarser so that at most ``max_pixels`` pixels are painted."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    layout = plan.layout
    rng = np.random.default_rng(seed)
    all_nodes = np.array([p for column in layout.nodes for p in column])
    margin = 30.0
    minx, miny = all_nodes.min(axis=0) - margin
    maxx, maxy = all_nodes.max(axis=0) + margin
    res = max(0.5, math.ceil(math.sqrt((maxx - minx) * (maxy - miny) / max_pixels) * 10) / 10)
    width, height = math.ceil((maxx - minx) / res), math.ceil((maxy - miny) / res)
    maxx, miny = minx + width * res, maxy - height * res  # the raster's own edges
    transform = Affine(res, 0.0, minx, 0.0, -res, maxy)  # north up
    shape = (height, width)

    # Base: hedgerows, verges, unfarmed land.
    rgb = np.empty((height, width, 3), dtype=np.int16)
    rgb[:] = (96, 112, 72)

    def paint(geoms: list[Any], colour: Sequence[int], all_touched: bool = False) -> None:
        if geoms:
            mask = rasterize(geoms, out_shape=shape, transform=transform, all_touched=all_touched, dtype=np.uint8)
            rgb[mask.astype(bool)] = colour

    nx = len(layout.vlines) - 1
    corridors: dict[str, list[Any]] = {ROAD: [], CANAL: []}
    for i, line in enumerate(layout.vlines):
        corridors[line.kind].append(
            shapely.buffer(shapely.LineString(layout.nodes[i]), line.width / 2, cap_style="flat")
        )
    for j, line in enumerate(layout.hlines):
        pts = [layout.nodes[i][j] for i in range(nx + 1)]
        corridors[line.kind].append(shapely.buffer(shapely.LineString(pts), line.width / 2, cap_style="flat"))
    paint(corridors[CANAL], (62, 98, 118), all_touched=True)
    paint(corridors[ROAD], (168, 164, 152), all_touched=True)

    # Fields: one label per parcel, coloured by land-use type with per-field variation. Plain
    # GeoJSON mappings: rasterio reads them much faster than shapely objects.
    rings = [[*c.ring, c.ring[0]] for c in plan.parcel_cells]
    labels = rasterize(
        (({"type": "Polygon", "coordinates": [ring]}, k) for k, ring in enumerate(rings, start=1)),
        out_shape=shape,
        transform=transform,
        dtype=np.int32,
    )
    base = {"011": (72, 128, 58), "012": (112, 140, 72), "013": (152, 134, 96)}
    palette = np.zeros((len(rings) + 1, 3), dtype=np.int16)
    palette[1:] = [base[p["land_use_type"]] for p in plan.parcels]
    # Mostly brightness (crop stage, moisture), a little hue: no pink fields.
    palette[1:] += rng.integers(-16, 17, size=(len(rings), 1), dtype=np.int16)
    palette[1:] += rng.integers(-6, 7, size=(len(rings), 3), dtype=np.int16)
    inside = labels > 0
    rgb[inside] = palette[labels[inside]]
    edges = rasterize(
        ({"type": "LineString", "coordinates": ring} for ring in rings), out_shape=shape, transform=transform
    ).astype(bool)
    rgb[edges] = (rgb[edges] * 0.62).astype(np.int16)

    others = [c for b in layout.blocks for row in b.rows for c in row if c.kind != FIELD]
    paint([shapely.Polygon(c.ring) for c in others if c.kind == POND], (52, 92, 104))
    hamlets = [shapely.Polygon(c.ring) for c in others if c.kind == HAMLET]
    paint(hamlets, (128, 138, 112))
    roofs: dict[tuple[int, int, int], list[Any]] = {(150, 72, 56): [], (118, 120, 126): [], (72, 106, 150): []}
    trees = []
    for hamlet in hamlets:
        x0, y0, x1, y1 = hamlet.bounds
        for _ in range(int(hamlet.area / 300)):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            house = shapely.box(x, y, x + rng.uniform(8, 14), y + rng.uniform(6, 10))
            if hamlet.contains(house):
                roofs[list(roofs)[int(rng.integers(0, 3))]].append(house)
            tree = shapely.Point(x + 16, y - 4).buffer(rng.uniform(2, 4))
            if hamlet.contains(tree):
                trees.append(tree)
    paint(trees, (46, 78, 40))
    for colour, houses in roofs.items():
        paint(houses, colour)

    # Texture: luminance noise, so the image does not look like a vector map.
    rgb += rng.normal(0.0, 5.0, size=shape).astype(np.int16)[..., None]
    image = np.clip(rgb, 0, 255).astype(np.uint8).transpose(2, 0, 1)

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 3,
        "dtype": "uint8",
        "crs": f"EPSG:{DEMO_AREA_SRID}",
        "transform": transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "JPEG",
        "photometric": "YCBCR",
        "jpeg_quality": 88,
        "interleave": "pixel",
    }
    overview_env = {
        "COMPRESS_OVERVIEW": "JPEG",
        "PHOTOMETRIC_OVERVIEW": "YCBCR",
        "INTERLEAVE_OVERVIEW": "PIXEL",
        "JPEG_QUALITY_OVERVIEW": "85",
    }
    with rasterio.Env(**overview_env), rasterio.open(path, "w", **profile) as dst:
        dst.write(image)
        factors = [f for f in (2, 4, 8, 16, 32, 64) if min(width, height) // f >= 256]
        dst.build_overviews(factors, Resampling.average)
        dst.update_tags(ns="rio_overview", resampling="average")
        dst.update_tags(TIFFTAG_IMAGEDESCRIPTION="Nongdi demo county 310151: synthetic orthophoto, not real imagery")
    return {"bounds": (float(minx), float(miny), float(maxx), float(maxy)), "resolution": res, "size": (width, height)}


def _register_raster(bounds: tuple[float, float, float, float], to_lonlat: Transformer) -> Raster:
    minx, miny, maxx, maxy = bounds
    # The footprint follows the raster's edges, densified: a projected rectangle is not a
    # lon/lat rectangle, and 20 points per side keep the outline within centimetres.
    steps = [k / 20 for k in range(20)]
    edge = (
        [(minx + (maxx - minx) * f, miny) for f in steps]
        + [(maxx, miny + (maxy - miny) * f) for f in steps]
        + [(maxx - (maxx - minx) * f, maxy) for f in steps]
        + [(minx, maxy - (maxy - miny) * f) for f in steps]
    )
    ring = _lonlat(edge, to_lonlat)
    footprint = GeosPolygon([*ring, ring[0]], srid=STORAGE_SRID)
    raster, _ = Raster.objects.update_or_create(
        name=RASTER_NAME,
        defaults={
            "title": f"{DEMO_COUNTY_NAME}正射影像",
            "path": str(RASTER_RELATIVE_PATH),
            "source_srid": DEMO_AREA_SRID,
            "footprint": footprint,
        },
    )
    return raster


# --- demo accounts --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    region: str | None


DEMO_USERNAMES = {
    Role.SURVEYOR: "surveyor",
    Role.CLERK: "clerk",
    Role.REVIEWER: "reviewer",
    Role.DATA_STAFF: "datastaff",
    Role.ADMIN: "admin",
    Role.DEPARTMENT: "department",
}
VILLAGE_CLERK = "villageclerk"


@transaction.atomic
def ensure_demo_accounts(county: str = DEMO_COUNTY, password: str = DEMO_PASSWORD) -> list[DemoAccount]:
    """One user per role, scoped to the demo county (the administrator to the whole system),
    plus a clerk of its first village; created or reset, so running it twice is harmless."""
    if not Region.objects.filter(code=county, level=Region.Level.COUNTY).exists():
        raise DemoError(f"县级区域 {county} 不存在，请先运行 manage.py load_demo")
    village = (
        Region.objects.filter(code__startswith=county, level=Region.Level.VILLAGE)
        .order_by("code")
        .values_list("code", flat=True)
        .first()
    )
    wanted = [DemoAccount(DEMO_USERNAMES[role], role, None if role == Role.ADMIN else county) for role in Role]
    if village:
        wanted.append(DemoAccount(VILLAGE_CLERK, Role.CLERK, village))
    # One hash for all: a PBKDF2 hash costs a noticeable fraction of a second each.
    hashed = make_password(password)
    for account in wanted:
        user, _ = User.objects.get_or_create(username=account.username)
        admin = account.role == Role.ADMIN
        user.is_superuser = admin
        # Staff reach the read-only register admin; the department account is an API client.
        user.is_staff = account.role != Role.DEPARTMENT
        user.is_active = True
        user.password = hashed
        user.save()
        Profile.objects.update_or_create(user=user, defaults={"role": account.role, "region_id": account.region})
    return wanted


def accounts_table(accounts: Sequence[DemoAccount], password: str = DEMO_PASSWORD) -> str:
    """The demo accounts as a plain-text table for the console."""
    names = dict(Region.objects.filter(code__in=[a.region for a in accounts if a.region]).values_list("code", "name"))
    rows = [("用户名", "角色", "管辖区域", "密码")]
    for a in accounts:
        region = f"{a.region} {names.get(a.region, '')}" if a.region else "全部（系统管理员）"
        rows.append((a.username, Role(a.role).label, region, password))

    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

    cols = [max(width(row[k]) for row in rows) for k in range(4)]
    lines = ["  ".join(cell + " " * (cols[k] - width(cell)) for k, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * c for c in cols))
    return "\n".join(lines)


# --- loading and removing -------------------------------------------------------------------


@dataclass
class DemoSummary:
    county: str
    seed: int
    counts: dict[str, int]
    timings: dict[str, float]
    raster_path: Path | None = None
    accounts: list[DemoAccount] = field(default_factory=list)

    def report(self) -> str:
        counts = "，".join(f"{name} {n}" for name, n in self.counts.items())
        timings = "，".join(f"{name} {t:.1f}s" for name, t in self.timings.items())
        return f"示范区 {self.county}（种子 {self.seed}）：{counts}\n耗时：{timings}"


def county_exists(county: str = DEMO_COUNTY) -> bool:
    return Region.objects.filter(code=county).exists()


def any_county_exists() -> bool:
    return Region.objects.filter(level=Region.Level.COUNTY).exists()


@transaction.atomic
def delete_demo(county: str = DEMO_COUNTY) -> None:
    """Remove a county and everything coded under it, in foreign-key order, with one DELETE
    per table. The demo accounts' profiles go too (load_demo recreates them); any other
    user scoped inside the county stops the deletion."""
    prefix = county + "%"
    others = Profile.objects.filter(region__code__startswith=county).exclude(
        user__username__in=[*DEMO_USERNAMES.values(), VILLAGE_CLERK]
    )
    if others.exists():
        names = "、".join(others.values_list("user__username", flat=True)[:10])
        raise DemoError(f"以下用户的管辖区域在 {county} 内，不能删除该县：{names}")
    Profile.objects.filter(region__code__startswith=county).delete()
    quote = connection.ops.quote_name
    by_code: list[tuple[type[models.Model], str]] = [
        (Certificate, "register_book"),
        (CertificateReissue, "certificate"),
        (CertificateReplacement, "certificate"),
        (CertificateCancellation, "certificate"),
        (SourceAttachment, "register_book"),
        (ContractParcel, "contract"),
        (ContractParcel, "parcel"),
        (TransferContract, "code"),
        (RegisterBook, "code"),
        (Contract, "code"),
        (FamilyMember, "contractor"),
        (Contractor, "code"),
        (BoundaryPoint, "parcel_codes"),
        (BoundaryLine, "parcel_codes"),
    ]
    county_layers = [ControlPoint, RegionBoundary, PointFeature, LineFeature, PolygonFeature, BasicFarmlandZone]
    try:
        with connection.cursor() as cursor:
            for model, name in by_code:
                column = _quoted(model, name)
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)} WHERE {column} LIKE %s", [prefix])
            dk, lineage = quote(Parcel._meta.db_table), quote(ParcelLineage._meta.db_table)
            code_col = _quoted(Parcel, "code")
            cursor.execute(
                f"DELETE FROM {lineage} WHERE parent_id IN (SELECT id FROM {dk} WHERE {code_col} LIKE %s) "
                f"OR child_id IN (SELECT id FROM {dk} WHERE {code_col} LIKE %s)",
                [prefix, prefix],
            )
            for model, name in [(Parcel, "code"), (Collective, "code"), (ChangeRecord, "object_code")]:
                column = _quoted(model, name)
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)} WHERE {column} LIKE %s", [prefix])
            for model in county_layers:
                column = _quoted(model, "county")
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)} WHERE {column} = %s", [county])
            region_col = _quoted(Region, "code")
            cursor.execute(f"DELETE FROM {quote(Region._meta.db_table)} WHERE {region_col} LIKE %s", [prefix])
            # Deferred foreign keys are checked now, not at the outer commit, so that a table
            # this function does not know about is reported here with a clear message.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    except IntegrityError as exc:
        raise DemoError(f"县 {county} 的数据仍被其他表引用，无法删除：{exc}") from exc
    Raster.objects.filter(name=RASTER_NAME).delete()


def load_demo(
    *,
    parcels: int = DEFAULT_PARCELS,
    seed: int = DEFAULT_SEED,
    raster: bool = True,
    replace: bool = False,
    accounts: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> DemoSummary:
    """Generate and load the demo county in one transaction; the orthophoto is written after.

    Example: ``load_demo(parcels=300, seed=7, raster=False)``
    """
    if parcels < MIN_PARCELS:
        raise DemoError(f"地块数至少为 {MIN_PARCELS}")
    county = DEMO_COUNTY
    timings: dict[str, float] = {}
    started = time.perf_counter()
    lap = started

    def mark(name: str) -> None:
        nonlocal lap
        now = time.perf_counter()
        timings[name] = now - lap
        lap = now
        log(f"  {name}：{timings[name]:.1f}s")

    if not replace and county_exists(county):
        raise DemoError(EXISTS_MESSAGE.format(county=county))
    log(f"生成示范区 {county}：{parcels} 个地块，随机种子 {seed}")
    layout = build_layout(parcels, random.Random(f"{seed}:geometry"), county)
    plan = build_plan(layout, random.Random(f"{seed}:register"), county)
    mark("生成")

    to_lonlat = Transformer.from_crs(DEMO_AREA_SRID, STORAGE_SRID, always_xy=True)
    with transaction.atomic():
        if county_exists(county):
            if not replace:
                raise DemoError(EXISTS_MESSAGE.format(county=county))
            delete_demo(county)
            mark("删除旧数据")
        _write_regions(layout, to_lonlat)
        _write_collectives(plan)
        mark("区域与发包方")
        areas = _write_parcels(plan, to_lonlat, county)
        mark("地块")
        copy_rows(Contractor, plan.contractors)
        copy_rows(FamilyMember, plan.members)
        counts_contracts = _write_contracts(plan, areas, random.Random(f"{seed}:contracts"))
        mark("承包方与合同")
        counts_layers = _write_layers(plan, to_lonlat, county, random.Random(f"{seed}:layers"))
        mark("参考图层")
        demo_accounts = ensure_demo_accounts(county) if accounts else []
        if accounts:
            mark("演示账户")
    mark("提交")  # deferred foreign-key checks run at commit

    raster_path = None
    if raster:
        raster_path = Path(settings.MEDIA_ROOT) / RASTER_RELATIVE_PATH
        info = write_orthophoto(plan, raster_path, seed)
        _register_raster(info["bounds"], to_lonlat)
        mark("正射影像")
        log(f"  影像 {raster_path}：{info['size'][0]}×{info['size'][1]} 像素，{info['resolution']} m/像素")
    timings["合计"] = time.perf_counter() - started

    counts = {
        "乡镇": len(layout.county.children),
        "村": sum(len(t.children) for t in layout.county.children),
        "组（发包方）": len(plan.collectives),
        "地块": len(plan.parcels),
        "承包方": len(plan.contractors),
        "家庭成员": len(plan.members),
        **counts_contracts,
        **counts_layers,
    }
    return DemoSummary(county, seed, counts, timings, raster_path, demo_accounts)
