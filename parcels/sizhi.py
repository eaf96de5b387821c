"""四至 (DKDZ/DKXZ/DKNZ/DKBZ): what lies east, west, south and north of a parcel, suggested
from its neighbours when a parcel is drawn, reshaped, split or merged.

The boundary of the parcel (outer ring, in the county's projected CRS, metres) is cut into its
edges; each edge faces the side its outward normal points to (east = within 45° of +x, north
= within 45° of +y, ...). A neighbour claims the length of the edges of a side that run within
its reach:

* a current parcel: 0.5 m (drawn with snapping, neighbours share edges; 0.5 m forgives a
  hand-drawn edge);
* a linear feature (XZDW: 道路, 沟渠, 田埂…): half its width (KD) + 2.5 m from its centre line
  (verges, and a hand-drawn edge a pixel off); a width of 4 m when KD is not recorded;
* an area feature (MZDW: 坑塘, 居民点…): 1 m.

The neighbour with the longest claim on a side names it, the way 四至 are written in the
register: a parcel by its contractor's name (CBFMC of its current contract: "张三"), or, held
by nobody, "自留地" / "集体机动地" / "集体土地" by its category; a feature by its kind ("道路"
for 机耕路, "沟渠" for 灌溉渠…, see ``feature_label``), else its name (DWMC). A side whose best
claim is under a fifth of its length (or 1 m) stays empty: the surveyor writes it.

Everything is one SQL statement on the GiST indexes (candidates within ~30 m). Parcels that
are written in the same save and are not in the table yet (the other pieces of a split) are
passed in as ``extra`` neighbours, named like their source parcel (``parcel_label``).

Example::

    suggest_sizhi(geom=drawn_polygon, exclude=["3101511010010100001"], area_srid=4528)
    # Sizhi(east=Side("张三", "parcel", "3101511010010100002"), west=Side("机耕路", "line", None), ...)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction

STORAGE_SRID = 4490
PARCEL_REACH_M = 0.5
LINE_EXTRA_REACH_M = 2.5
LINE_DEFAULT_WIDTH_M = 4.0
AREA_REACH_M = 1.0
# Candidate search box around the parcel, in degrees: 0.0003° of latitude is 33 m, of longitude
# 28 m at 31°N (21 m at 45°N): room for the centre line of a 20 m road plus its reach.
SEARCH_DEG = 0.0003
MIN_SHARE = 0.2
MIN_CLAIM_M = 1.0

SIDES = ("east", "west", "south", "north")
SIDE_NAMES = {"east": "东至", "west": "西至", "south": "南至", "north": "北至"}


@dataclass(frozen=True)
class Side:
    text: str
    kind: str  # parcel | line | area
    code: str | None  # DKBM of a neighbouring parcel


@dataclass(frozen=True)
class Sizhi:
    east: Side | None
    west: Side | None
    south: Side | None
    north: Side | None

    def texts(self) -> dict[str, str | None]:
        """{"east": "张三", ...}: what goes into DKDZ/DKXZ/DKNZ/DKBZ (``None`` = no suggestion)."""
        return {side: (getattr(self, side).text if getattr(self, side) else None) for side in SIDES}


@dataclass(frozen=True)
class Neighbour:
    """A parcel not in the table yet (another piece of the same split): its DKBM, its shape
    (EPSG:4490) and the text its neighbours write for it."""

    code: str
    geom: GEOSGeometry
    text: str


# How a parcel t is written in its neighbours' 四至: its holder's name, else its category.
HOLDER_SQL = """
    SELECT f.cbfmc FROM cbdkxx x JOIN cbht h ON h.cbhtbm = x.cbhtbm JOIN cbf f ON f.cbfbm = x.cbfbm
    WHERE x.dkbm = t.dkbm AND x.status = 'current' AND h.status = 'current'
    ORDER BY x.id LIMIT 1
"""
CATEGORY_SQL = "CASE t.dklb WHEN '21' THEN '自留地' WHEN '22' THEN '集体机动地' ELSE '集体土地' END"

LABEL_SQL = f"SELECT coalesce(({HOLDER_SQL}), {CATEGORY_SQL}) FROM dk t WHERE t.dkbm = %s"

SQL = f"""
WITH p AS (
    SELECT g, ST_Transform(g, %(srid)s) AS m
    FROM (SELECT ST_Transform(%(geom)s::geometry, 4490) AS g) s
), edges AS (
    SELECT d.geom AS s, ST_Length(d.geom) AS len,
           degrees(atan2(-(ST_X(ST_EndPoint(d.geom)) - ST_X(ST_StartPoint(d.geom))),
                           ST_Y(ST_EndPoint(d.geom)) - ST_Y(ST_StartPoint(d.geom)))) AS normal
    FROM p, LATERAL ST_DumpSegments(ST_ExteriorRing(ST_ForcePolygonCCW(ST_GeometryN(p.m, 1)))) d
), sided AS (
    SELECT s, len, CASE
        WHEN normal > -45 AND normal <= 45 THEN 'east'
        WHEN normal > 45 AND normal <= 135 THEN 'north'
        WHEN normal > -135 AND normal <= -45 THEN 'south'
        ELSE 'west' END AS side
    FROM edges WHERE len > 0
), candidates AS (
    SELECT 'parcel' AS kind, t.dkbm AS code, coalesce(holder.cbfmc, {CATEGORY_SQL}) AS name,
           ST_Buffer(ST_Transform(t.geom, %(srid)s), %(parcel_reach)s) AS zone
    FROM dk t CROSS JOIN p
    LEFT JOIN LATERAL ({HOLDER_SQL}) holder ON TRUE
    WHERE t.geom && ST_Expand(p.g, %(deg)s) AND t.status = 'current' AND NOT (t.dkbm = ANY(%(exclude)s))
      AND NOT ST_Equals(t.geom, p.g)
    UNION ALL
    SELECT 'parcel', x.code, x.name,
           ST_Buffer(ST_Transform(ST_GeomFromEWKB(x.wkb), %(srid)s), %(parcel_reach)s)
    FROM unnest(%(extra_codes)s::text[], %(extra_names)s::text[], %(extra_wkb)s::bytea[]) AS x(code, name, wkb)
    UNION ALL
    SELECT 'line', NULL, t.dwmc,
           ST_Buffer(ST_Transform(t.geom, %(srid)s),
                     coalesce(t.kd::float8, %(line_width)s) / 2 + %(line_extra)s, 'endcap=flat')
    FROM xzdw t, p WHERE t.geom && ST_Expand(p.g, %(deg)s)
    UNION ALL
    SELECT 'area', NULL, t.dwmc, ST_Buffer(ST_Transform(t.geom, %(srid)s), %(area_reach)s)
    FROM mzdw t, p WHERE t.geom && ST_Expand(p.g, %(deg)s)
), claims AS (
    SELECT e.side, c.kind, c.code, c.name, sum(ST_Length(ST_Intersection(e.s, c.zone))) AS claim
    FROM sided e JOIN candidates c ON ST_Intersects(e.s, c.zone)
    GROUP BY e.side, c.kind, c.code, c.name
)
SELECT s.side, s.total, c.kind, c.code, c.name, c.claim
FROM (SELECT side, sum(len) AS total FROM sided GROUP BY side) s
LEFT JOIN claims c ON c.side = s.side
ORDER BY s.side, c.claim DESC NULLS LAST, c.kind DESC, c.code  -- ties: parcel, line, area
"""

FEATURE_LABELS = (("路", "道路"), ("道", "道路"), ("渠", "沟渠"), ("沟", "沟渠"), ("河", "河流"), ("塘", "坑塘"))


def feature_label(name: str) -> str:
    """The generic word a register uses for a feature: 机耕路 → 道路, 灌溉渠 → 沟渠."""
    for needle, label in FEATURE_LABELS:
        if needle in name:
            return label
    return name


def parcel_label(code: str) -> str | None:
    """What the neighbours of parcel ``code`` write for it: its holder's name (CBFMC of its
    current contract) or 自留地 / 集体机动地 / 集体土地 by its category; ``None`` when there
    is no such parcel."""
    with connection.cursor() as cursor:
        cursor.execute(LABEL_SQL, [code])
        row = cursor.fetchone()
    return None if row is None else str(row[0])


def _ewkb(geom: GEOSGeometry) -> bytes:
    return bytes((geom if geom.srid else GEOSGeometry(geom.wkb, srid=STORAGE_SRID)).ewkb)


def suggest_sizhi(
    *, geom: GEOSGeometry, exclude: Iterable[str] = (), area_srid: int, extra: Sequence[Neighbour] = ()
) -> Sizhi:
    """The 四至 of a parcel shape from its neighbours (see the module's docstring for the
    rules). ``exclude``: parcels that the shape replaces (itself when reshaped, the parcels
    merged), which are not its neighbours. ``extra``: neighbours that are not in the table
    yet (the other pieces of a split)."""
    shape = geom if geom.srid else GEOSGeometry(geom.wkb, srid=STORAGE_SRID)
    # Its cost estimate (buffers of every candidate) makes PostgreSQL JIT-compile a 2 ms query
    # for 1.5 s: JIT off for this transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute(
            SQL,
            {
                "geom": shape.ewkb,
                "srid": area_srid,
                "deg": SEARCH_DEG,
                "exclude": sorted(set(exclude)),
                "parcel_reach": PARCEL_REACH_M,
                "line_width": LINE_DEFAULT_WIDTH_M,
                "line_extra": LINE_EXTRA_REACH_M,
                "area_reach": AREA_REACH_M,
                "extra_codes": [n.code for n in extra],
                "extra_names": [n.text for n in extra],
                "extra_wkb": [_ewkb(n.geom) for n in extra],
            },
        )
        rows = cursor.fetchall()
    best: dict[str, Side | None] = dict.fromkeys(SIDES)
    for side, total, kind, code, name, claim in rows:
        if best[side] is not None or kind is None or not name:
            continue
        if claim >= MIN_SHARE * total and claim >= min(MIN_CLAIM_M, total):
            text = str(name) if kind == "parcel" else feature_label(str(name))
            best[side] = Side(text=text, kind=str(kind), code=code)
    return Sizhi(**best)
