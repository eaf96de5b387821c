"""Boundary points (JZD) and lines (JZX) generated from the parcels, for a county that holds
none, and the parcels' key-point lists (KJZB). All set-wise in PostGIS, into temporary tables
of the export's transaction (``ON COMMIT DROP``): ~1 M vertices for 100 k parcels.

Rules (NY/T 2539 A.10-A.12; the numbering rule is not in the material found, see the digest):

* Parcels are taken in the export CRS with clockwise outer rings (holes counter-clockwise).
  Every ring vertex, rounded to 1 mm (the QC tolerance 0.001 m), is a point; vertices that
  round to the same millimetre are one point, and its DKBM lists every parcel that has it,
  sorted, ``/``-separated.
* Points are numbered ``J1``..``Jn`` per county in the order they are first met walking the
  parcels by DKBM, each ring clockwise from its north-westernmost vertex (largest
  northing - easting). So a parcel's points read J(k), J(k+1)... clockwise from its NW corner,
  and a point shared with an earlier parcel keeps that parcel's number.
* Each pair of consecutive vertices of a ring is a line (JZX) between two points; a segment
  that two parcels share (same two points) is one line whose DKBM lists both, sorted; it runs
  in the clockwise direction of its first parcel (the standard's JZXWZ rule refers to the
  first parcel). A vertex of one parcel lying on another's edge without being its vertex
  (a T-junction without a shared vertex) does not split that edge: neighbours are found by
  shared vertices only, which parcels digitised with snapping, and the demo county, have.
* JZXWZ (position) is 2 中, JZXSM says ``J{a}至J{b}``, PLDWQLR lists each parcel's contractor
  (the collective, FBFMC, for a parcel in no current contract) and PLDWZJR its 指界人 (ZJRXM,
  or the same name when empty), in DKBM order. JZDLX is 3 图解法 unless told otherwise: the
  points are read off the parcel drawing, not staked out.
* KJZB, the key points: on the outer ring, clockwise from the NW vertex, the points where the
  boundary turns by at least ``KEY_TURN_DEGREES`` or where the neighbour changes (the lines
  before and after have different DKBM). If the list would exceed the 254 characters of the
  field, the points with the smallest turns are left out first; a parcel keeps at least three
  points (neighbour changes first, then the sharpest turns).

Held points and lines. ``generate`` fills temporary tables for an export of a county that
holds no JZD. A county that holds them (imported, or stored by ``regenerate_county``) keeps
them current with ``regenerate_for_parcels`` after every change of parcel geometry, in the
same transaction: the same rules applied to the changed parcels and their neighbours only.
Points that stay at the same millimetre keep their row, JZDH and BSM (and JZDLX/JBLX, which
a survey may have set); new points get the county's next free JZDH (J<n>) and BSM, new lines
the next BSM with JZXH the same number (as the export numbers them). Lines and KJZB of the
recomputed parcels are rebuilt. XZBZ/YZBZ of stored points are in the county's area CRS
(``Region.area_srid``, as quality inspection reads them); the 1 mm identity is taken in the
export CRS, as above. ``regenerate_county`` stores a whole county's generation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from accounts.scoping import ensure_in_jurisdiction
from gisapp.config import config
from gisapp.errors import DomainError, NotFoundError
from layers.exchange.shapefile import ExportError, export_srid
from parcels import coding
from parcels.code_tables import FEATURE_CODES
from parcels.models import Collective, Contractor, ContractParcel, Parcel, Region
from parcels.models.base import Status

KEY_TURN_DEGREES = 10.0
KJZB_WIDTH = 254
POINT_PREFIX = "J"
# Every ring of every part (a multi-part parcel, loaded from another vendor's package and
# flagged, gets boundary points on all its parts): part p's ring r is numbered
# (p - 1) * 4096 + r, so a single-part parcel's rings keep their numbers 1, 2, … and ring 1
# is the first part's outer ring. The walking order packs parcel, ring and position in a
# bigint: pr × 2^41 + ring × 2^20 + rseq (doubled once more for a segment's direction).
RING_OF_PATH = "(((d.path)[1] - 1) * 4096 + (d.path)[2])"

# Key points (KJZB), shared by the whole-county generation and the regeneration: from the CTE
# ``segment`` (pr, rseq, pid, dx, dy, line: the segment leaving each vertex of an outer ring),
# the turn at each vertex and whether the neighbour changes there.
_KEY_POINT_SCORES = """turns AS (
    SELECT pr, rseq, pid, line, dx, dy,
           coalesce(lag(line) OVER w, last_value(line) OVER wall) AS line_in,
           coalesce(lag(dx) OVER w, last_value(dx) OVER wall) AS dx_in,
           coalesce(lag(dy) OVER w, last_value(dy) OVER wall) AS dy_in
    FROM segment
    WINDOW w AS (PARTITION BY pr ORDER BY rseq),
           wall AS (PARTITION BY pr ORDER BY rseq ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
), scored AS (
    SELECT pr, rseq, pid, line IS DISTINCT FROM line_in AS change,
           abs(degrees(atan2(dx_in * dy - dy_in * dx, dx_in * dx + dy_in * dy))) AS turn
    FROM turns
)"""


@dataclass(frozen=True)
class Generated:
    points: int
    lines: int
    parcels: int


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(model: type, attname: str) -> str:
    return _q(model._meta.get_field(attname).column)  # type: ignore[attr-defined]


def generate(cursor: CursorWrapper, *, county: str, srid: int) -> Generated:
    """Fill the temporary tables ``jzdx_point``, ``jzdx_line`` and ``jzdx_key`` for the current
    parcels of ``county`` in ``srid``. Must run inside the export's transaction."""
    dk = _q(Parcel._meta.db_table)
    dkbm, geom, status = _column(Parcel, "code"), _column(Parcel, "geom"), _column(Parcel, "status")
    witness = _column(Parcel, "witnesses")
    cbdkxx = _q(ContractParcel._meta.db_table)
    cbf, fbf = _q(Contractor._meta.db_table), _q(Collective._meta.db_table)
    params: dict[str, Any] = {"prefix": county + "%", "srid": srid, "current": Status.CURRENT}
    cursor.execute("SET LOCAL work_mem = '256MB'")
    # The parcels numbered in DKBM order (``pr``, so that the heavy steps sort integers),
    # with the names the lines need. DKBM is all digits: the
    # "C" collation sorts it as any other would, and without locale overhead.
    cursor.execute(
        f"""
        CREATE TEMP TABLE jzdx_parcel ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY p.{dkbm} COLLATE "C")::int AS pr, p.{dkbm} COLLATE "C" AS dkbm,
               coalesce(o.name, f.fbfmc, '') AS owner,
               coalesce(nullif(p.{witness}, ''), o.name, f.fbfmc, '') AS witness
        FROM {dk} p
        LEFT JOIN (SELECT x.dkbm, min(b.cbfmc) AS name
                   FROM {cbdkxx} x JOIN {cbf} b ON b.cbfbm = x.cbfbm
                   WHERE x.dkbm LIKE %(prefix)s AND x.status = %(current)s GROUP BY x.dkbm) o ON o.dkbm = p.{dkbm}
        LEFT JOIN {fbf} f ON f.fbfbm = left(p.{dkbm}, 14)
        WHERE p.{dkbm} LIKE %(prefix)s AND p.{status} = %(current)s
        """,
        params,
    )
    # Every ring vertex at 1 mm, the closing vertex included (it makes the last segment);
    # ``m`` is the ring's vertex count without it, ``rseq`` the position clockwise from the
    # NW vertex, ``ord`` the walking order (parcel, ring, rseq) packed in one bigint.
    cursor.execute("CREATE UNIQUE INDEX ON jzdx_parcel (dkbm)")
    cursor.execute(
        f"""
        CREATE TEMP TABLE jzdx_vertex ON COMMIT DROP AS
        WITH v AS (
            SELECT p.pr, p.dkbm, {RING_OF_PATH} AS ring, (d.path)[3] AS seq,
                   round(ST_X(d.geom) * 1000)::bigint AS ix, round(ST_Y(d.geom) * 1000)::bigint AS iy
            FROM jzdx_parcel p JOIN {dk} k ON k.{dkbm} = p.dkbm,
                 LATERAL ST_DumpPoints(ST_ForcePolygonCW(ST_Transform(k.{geom}, %(srid)s))) d
        ), w AS (
            SELECT v.*, count(*) OVER r - 1 AS m,
                   first_value(seq) OVER (PARTITION BY pr, ring ORDER BY iy - ix DESC, seq) AS start
            FROM v WINDOW r AS (PARTITION BY pr, ring)
        )
        SELECT pr, dkbm, ring, seq, ix, iy, m, mod(seq - start + m, m) AS rseq,
               pr::bigint * 2199023255552 + ring::bigint * 1048576 + mod(seq - start + m, m) AS ord
        FROM w
        """,
        params,
    )
    cursor.execute(
        """
        CREATE TEMP TABLE jzdx_point ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY first) AS id, ix, iy, dkbm
        FROM (SELECT ix, iy, min(ord) AS first,
                     string_agg(DISTINCT dkbm, '/' ORDER BY dkbm) AS dkbm
              FROM jzdx_vertex WHERE seq <= m GROUP BY ix, iy) s
        """
    )
    # Each vertex with its point id and the next vertex's: the segments, in ring order.
    cursor.execute(
        """
        CREATE TEMP TABLE jzdx_seq ON COMMIT DROP AS
        SELECT v.pr, v.ring, v.seq, v.rseq, v.m, v.ord, p.id AS pid,
               lead(p.id) OVER (PARTITION BY v.pr, v.ring ORDER BY v.seq) AS next_pid
        FROM jzdx_vertex v JOIN jzdx_point p USING (ix, iy)
        """
    )
    # One line per pair of points. ``first`` packs the walking order of the segment met first
    # with its direction (bit 0: it ran from the lower point id), so one min() gives both.
    # A line has one parcel or two; three or more (overlapping parcels) take the slow,
    # ordered aggregate.
    cursor.execute(
        """
        CREATE TEMP TABLE jzdx_line ON COMMIT DROP AS
        WITH segment AS MATERIALIZED (
            SELECT least(pid, next_pid) AS lo, greatest(pid, next_pid) AS hi, pr,
                   ord * 2 + (pid < next_pid)::int AS first
            FROM jzdx_seq WHERE next_pid IS NOT NULL AND next_pid <> pid
        ), grouped AS (
            SELECT lo, hi, min(first) AS first, min(pr) AS pr1, max(pr) AS pr2, count(*) AS n
            FROM segment GROUP BY lo, hi
        ), crowded AS (
            SELECT s.lo, s.hi,
                   string_agg(p.dkbm, '/' ORDER BY p.pr) AS dkbm,
                   string_agg(p.owner, '/' ORDER BY p.pr) AS owners,
                   string_agg(p.witness, '/' ORDER BY p.pr) AS witnesses
            FROM segment s JOIN jzdx_parcel p USING (pr)
            WHERE (s.lo, s.hi) IN (SELECT lo, hi FROM grouped WHERE n > 2)
            GROUP BY s.lo, s.hi
        )
        SELECT row_number() OVER (ORDER BY g.first) AS id, g.lo, g.hi,
               CASE WHEN g.first % 2 = 1 THEN g.lo ELSE g.hi END AS a,
               CASE WHEN g.first % 2 = 1 THEN g.hi ELSE g.lo END AS b,
               coalesce(c.dkbm, CASE WHEN g.pr1 = g.pr2 THEN p1.dkbm ELSE p1.dkbm || '/' || p2.dkbm END) AS dkbm,
               coalesce(c.owners, CASE WHEN g.pr1 = g.pr2 THEN p1.owner ELSE p1.owner || '/' || p2.owner END)
                   AS owners,
               coalesce(c.witnesses,
                        CASE WHEN g.pr1 = g.pr2 THEN p1.witness ELSE p1.witness || '/' || p2.witness END)
                   AS witnesses
        FROM grouped g
        JOIN jzdx_parcel p1 ON p1.pr = g.pr1
        JOIN jzdx_parcel p2 ON p2.pr = g.pr2
        LEFT JOIN crowded c ON c.lo = g.lo AND c.hi = g.hi
        """
    )
    cursor.execute("CREATE INDEX ON jzdx_line (lo, hi)")
    for table in ("jzdx_parcel", "jzdx_point", "jzdx_seq", "jzdx_line"):
        cursor.execute(f"ANALYZE {table}")
    # Key points of each outer ring. Each row of the ring is the segment leaving a vertex
    # (direction, line); the one arriving is the row before (the last row for the first).
    # The turn at the vertex is the angle between the two; the neighbour changes when the
    # two lines list different parcels. Priority: neighbour changes, then sharper turns;
    # the key points are kept while the list fits the field, and the first three always.
    cursor.execute(
        """
        CREATE TEMP TABLE jzdx_key ON COMMIT DROP AS
        WITH segment AS (
            SELECT s.pr, s.rseq, s.pid, (b.ix - a.ix)::float8 AS dx, (b.iy - a.iy)::float8 AS dy, l.dkbm AS line
            FROM jzdx_seq s
            JOIN jzdx_point a ON a.id = s.pid
            JOIN jzdx_point b ON b.id = s.next_pid
            JOIN jzdx_line l ON l.lo = least(s.pid, s.next_pid) AND l.hi = greatest(s.pid, s.next_pid)
            WHERE s.ring = 1 AND s.seq <= s.m AND s.next_pid <> s.pid
        ), """
        + _KEY_POINT_SCORES
        + """, ranked AS (
            SELECT s.*, row_number() OVER p AS priority, sum(length(%(jp)s || pid) + 1) OVER p AS used
            FROM scored s
            WINDOW p AS (PARTITION BY pr ORDER BY change DESC, turn DESC, rseq)
        )
        SELECT p.dkbm, k.kjzb
        FROM (SELECT pr, string_agg(%(jp)s || pid, '/' ORDER BY rseq) AS kjzb
              FROM ranked
              WHERE ((change OR turn >= %(turn)s) AND used <= %(width)s + 1) OR priority <= 3
              GROUP BY pr) k
        JOIN jzdx_parcel p USING (pr)
        """,
        {"jp": POINT_PREFIX, "turn": KEY_TURN_DEGREES, "width": KJZB_WIDTH},
    )
    cursor.execute("CREATE UNIQUE INDEX ON jzdx_key (dkbm)")
    cursor.execute("ANALYZE jzdx_key")
    cursor.execute("SELECT (SELECT count(*) FROM jzdx_point), (SELECT count(*) FROM jzdx_line), count(*) FROM jzdx_key")
    points, lines, parcels = cursor.fetchone()
    return Generated(points=points, lines=lines, parcels=parcels)


# Rows of the generated layers in the DBF field order of SHAPE_LAYERS["JZD"/"JZX"], after
# the NDR WKB of the geometry in the export CRS (coordinates are the 1 mm points).
POINT_ROWS_SQL = """
    SELECT ST_AsBinary(ST_MakePoint(ix / 1000.0, iy / 1000.0), 'NDR'),
           id, %(ysdm)s, %(prefix)s || id, NULL, %(point_type)s, dkbm,
           round(iy::numeric / 1000, 3), round(ix::numeric / 1000, 3)
    FROM jzdx_point ORDER BY id
"""

LINE_ROWS_SQL = """
    SELECT ST_AsBinary(ST_MakeLine(ST_MakePoint(a.ix / 1000.0, a.iy / 1000.0),
                                   ST_MakePoint(b.ix / 1000.0, b.iy / 1000.0)), 'NDR'),
           l.id, %(ysdm)s, NULL, NULL, %(position)s,
           %(prefix)s || l.a || '至' || %(prefix)s || l.b,
           l.owners, l.witnesses, l.id::text, %(prefix)s || l.a, %(prefix)s || l.b, l.dkbm
    FROM jzdx_line l JOIN jzdx_point a ON a.id = l.a JOIN jzdx_point b ON b.id = l.b
    ORDER BY l.id
"""


# --- held points and lines ---------------------------------------------------------------

# Margin (degrees of the storage CRS, ~5 mm at 31°N) for finding the neighbours of a changed
# parcel and the stored rows near it. Only a margin: identity is the 1 mm rounding above.
SEARCH_MARGIN_DEGREES = 5e-8
LINE_OWNER_WIDTH = 100
LINE_CODES_WIDTH = 254
POINT_TYPE_GRAPHIC = "3"  # C.11 图解法: read off the parcel drawing
LINE_POSITION_MIDDLE = "2"  # C.14 中
_GENERATED_TABLES = ("jzdx_key", "jzdx_line", "jzdx_seq", "jzdx_point", "jzdx_vertex", "jzdx_parcel")


@dataclass(frozen=True)
class RegenerationResult:
    """What ``regenerate_for_parcels`` changed. ``parcels``: current parcels whose points and
    lines were recomputed (the changed ones and their neighbours); ``not_held``: counties
    that hold no boundary points, left alone (their export generates them all)."""

    parcels: int = 0
    points_added: int = 0
    points_updated: int = 0
    points_removed: int = 0
    lines_added: int = 0
    lines_updated: int = 0
    lines_removed: int = 0
    key_points_updated: int = 0
    not_held: tuple[str, ...] = ()

    def __add__(self, other: RegenerationResult) -> RegenerationResult:
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "not_held"}
        return RegenerationResult(**counts, not_held=self.not_held + other.not_held)


def _export_srid(county: str, area_srid: int | None) -> tuple[int, int]:
    """The county's area CRS (XZBZ/YZBZ) and export CRS (1 mm identity, as ``generate``)."""
    area = int(area_srid or config().area_srid)
    try:
        return area, export_srid(area)
    except ExportError as exc:
        raise DomainError(f"县 {county} 的{exc}，无法生成界址点线", code="bad_srid") from exc


def _drop_sql(tables: Iterable[str]) -> str:
    return "DROP TABLE IF EXISTS " + ", ".join(f"pg_temp.{table}" for table in tables)


def _key(geom: str, axis: str) -> str:
    """A coordinate of a projected point in whole millimetres (the 1 mm identity)."""
    return f"round(ST_{axis}({geom}) * 1000)::bigint"


def _pair(ax: str, ay: str, bx: str, by: str) -> str:
    """The two ends of a segment in a fixed order (x1, y1) < (x2, y2): an undirected key."""
    first = f"({ax}, {ay}) < ({bx}, {by})"
    return (
        f"CASE WHEN {first} THEN {ax} ELSE {bx} END AS x1, CASE WHEN {first} THEN {ay} ELSE {by} END AS y1, "
        f"CASE WHEN {first} THEN {bx} ELSE {ax} END AS x2, CASE WHEN {first} THEN {by} ELSE {ay} END AS y2"
    )


_START = "ST_Transform(ST_StartPoint(l.geom), %(srid)s)"
_END = "ST_Transform(ST_EndPoint(l.geom), %(srid)s)"
_LINE_ENDS = _pair(_key("s", "X"), _key("s", "Y"), _key("e", "X"), _key("e", "Y"))


@transaction.atomic
def regenerate_county(county: str) -> Generated:
    """Replace every boundary point and line of ``county`` (and its parcels' KJZB) with a
    fresh generation from its current parcels: the export's numbering J1..Jn, BSM = n, lines
    numbered 1..m. Points held before (imported surveys) are replaced too.

    Example: ``regenerate_county("310151")``
    """
    if not re.fullmatch(r"\d{6}", county or ""):
        raise DomainError(f"县级行政区代码“{county}”应为6位数字", code="invalid_code")
    area = Region.objects.filter(code=county).values_list("area_srid", flat=True).first()
    area_srid, srid = _export_srid(county, area)
    params: dict[str, Any] = {
        "prefix": county + "%",
        "lock": f"jzdx:{county}",
        "srid": srid,
        "area_srid": area_srid,
        "jp": POINT_PREFIX,
        "point_ysdm": FEATURE_CODES["JZD"],
        "line_ysdm": FEATURE_CODES["JZX"],
        "point_type": POINT_TYPE_GRAPHIC,
        "position": LINE_POSITION_MIDDLE,
        "current": Status.CURRENT,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%(lock)s))", params)
        cursor.execute(_drop_sql(_GENERATED_TABLES))
        generated = generate(cursor, county=county, srid=srid)
        cursor.execute(_WIDTH_SQL.format(lines="jzdx_line", points="jzdx_point"), _width_params())
        _refuse_too_long(cursor.fetchone())
        for sql in _STORE_COUNTY:
            cursor.execute(sql, params)
        cursor.execute(_drop_sql(_GENERATED_TABLES))
    return generated


_STORE_COUNTY = [
    "DELETE FROM jzx WHERE dkbm LIKE %(prefix)s",
    "DELETE FROM jzd WHERE dkbm LIKE %(prefix)s",
    """
    INSERT INTO jzd (bsm, ysdm, jzdh, jzdlx, jblx, dkbm, xzbz, yzbz, geom)
    SELECT p.id, %(point_ysdm)s, %(jp)s || p.id, %(point_type)s, NULL, p.dkbm,
           round(ST_Y(a)::numeric, 3), round(ST_X(a)::numeric, 3), ST_Transform(g, 4490)
    FROM jzdx_point p,
         LATERAL ST_SetSRID(ST_MakePoint(p.ix / 1000.0, p.iy / 1000.0), %(srid)s) g,
         LATERAL ST_Transform(g, %(area_srid)s) a
    ORDER BY p.id
    """,
    """
    INSERT INTO jzx (bsm, ysdm, jxxz, jzxlb, jzxwz, jzxsm, pldwqlr, pldwzjr, jzxh, qjzdh, zjzdh, dkbm, geom)
    SELECT l.id, %(line_ysdm)s, NULL, NULL, %(position)s, %(jp)s || l.a || '至' || %(jp)s || l.b,
           l.owners, l.witnesses, l.id::text, %(jp)s || l.a, %(jp)s || l.b, l.dkbm,
           ST_Transform(ST_SetSRID(ST_MakeLine(ST_MakePoint(a.ix / 1000.0, a.iy / 1000.0),
                                               ST_MakePoint(b.ix / 1000.0, b.iy / 1000.0)), %(srid)s), 4490)
    FROM jzdx_line l JOIN jzdx_point a ON a.id = l.a JOIN jzdx_point b ON b.id = l.b
    ORDER BY l.id
    """,
    """
    UPDATE dk SET kjzb = coalesce(k.kjzb, '')
    FROM dk d LEFT JOIN jzdx_key k ON k.dkbm = d.dkbm
    WHERE dk.id = d.id AND d.dkbm LIKE %(prefix)s AND d.status = %(current)s
      AND dk.kjzb IS DISTINCT FROM coalesce(k.kjzb, '')
    """,
]

# The first line or point (if any) whose joined DKBM, owners or witnesses do not fit their
# field: layer, field and the codes of its parcels. ``lines``/``points``: where they are.
_WIDTH_SQL = """
    (SELECT dkbm, 'JZX' AS layer,
            CASE WHEN length(dkbm) > %(codes_width)s THEN 'DKBM'
                 WHEN length(owners) > %(names_width)s THEN 'PLDWQLR' ELSE 'PLDWZJR' END AS field
     FROM {lines}
     WHERE length(dkbm) > %(codes_width)s OR length(owners) > %(names_width)s OR length(witnesses) > %(names_width)s
     LIMIT 1)
    UNION ALL
    (SELECT dkbm, 'JZD', 'DKBM' FROM {points} WHERE length(dkbm) > %(codes_width)s LIMIT 1)
    LIMIT 1
"""
LAYER_TITLES = {"JZD": "界址点", "JZX": "界址线"}


def _width_params() -> dict[str, int]:
    return {"codes_width": LINE_CODES_WIDTH, "names_width": LINE_OWNER_WIDTH}


def _refuse_too_long(row: tuple[str, str, str] | None) -> None:
    """A point or line that would not fit is refused by the codes of its parcels, never by
    the names of their people."""
    if row is None:
        return
    codes, layer, field = row
    width = LINE_CODES_WIDTH if field == "DKBM" else LINE_OWNER_WIDTH
    title = LAYER_TITLES[layer]
    raise DomainError(
        f"地块 {codes[:LINE_CODES_WIDTH]} 的{title}字段 {field} 超过 {width} 个字符，无法保存{title}",
        code=f"{layer.lower()}_too_long",
        details={"layer": layer, "field": field, "dkbm": codes},
    )


def _validated(codes: Iterable[str], actor: User | None) -> list[str]:
    if isinstance(codes, str):
        raise TypeError("codes must be an iterable of DKBM strings, not one string")
    wanted = sorted({str(code).strip() for code in codes})
    for code in wanted:
        try:
            coding.validate_dkbm(code)
        except ValidationError as exc:
            raise DomainError(exc.messages[0], code="invalid_code") from exc
    known = set(Parcel.objects.filter(code__in=wanted).values_list("code", flat=True))
    missing = [code for code in wanted if code not in known]
    if missing:
        raise NotFoundError(f"地块不存在：{', '.join(missing)}")
    for code in wanted:
        ensure_in_jurisdiction(actor, code)
    return wanted


@transaction.atomic
def regenerate_for_parcels(codes: Iterable[str], *, actor: User | None = None) -> RegenerationResult:
    """Bring the held boundary points and lines (and KJZB) up to date after the parcels
    ``codes`` changed shape, were created, or were retired by a split or merge; call it in
    the transaction of the change. Points and lines of these parcels and of their current
    neighbours are recomputed from the current geometries by the rules of ``generate``:
    rows that no longer belong to any current parcel go, points that stay at the same
    millimetre keep their row and number, new ones get the county's next free numbers.
    A county that holds no boundary points is left alone: its export generates them.

    The rows of a changed parcel are looked for where it is and was (its current or last
    shape and the shapes its change records hold), with a GiST probe each; a row naming it
    anywhere else (only inconsistent imported layers hold such rows) is left to quality
    inspection (XREF_JZD/XREF_JZX). Numbering new points and lines reads the county's
    highest BSM/JZDH (one scan of its rows each: ~3 ms for 3,000 parcels, ~80 ms for 100,000).

    ``actor`` (when given) must have every code in its jurisdiction. Unknown or malformed
    codes are refused (``DomainError``) before anything is written.

    Example: ``regenerate_for_parcels(["3101511010010100001"], actor=request.user)``
    """
    wanted = _validated(codes, actor)
    result = RegenerationResult()
    by_county: dict[str, list[str]] = {}
    for code in wanted:
        by_county.setdefault(code[:6], []).append(code)
    with connection.cursor() as cursor:
        for county, county_codes in sorted(by_county.items()):
            result += _regenerate_in_county(cursor, county, county_codes)
    return result


def _regenerate_in_county(cursor: CursorWrapper, county: str, codes: list[str]) -> RegenerationResult:
    params: dict[str, Any] = {"prefix": county + "%", "lock": f"jzdx:{county}", "county": county}
    # Regenerations of one county run one after the other (they allocate its numbers).
    # The planner cannot know the sizes of the steps below (CTEs over a few parcels, or a
    # whole county): left alone it JIT-compiles them (50-150 ms a statement for a handful of
    # parcels) and joins large steps by nested loops (a whole county: 70 s instead of 1.5 s).
    # Both are off until the last statement puts them back; a failure rolls back this
    # savepoint, and the settings with it. Index and spatial joins stay nested loops: they
    # have no other plan.
    cursor.execute(
        """
        WITH h AS MATERIALIZED (
            SELECT pg_advisory_xact_lock(hashtext(%(lock)s)),
                   EXISTS (SELECT 1 FROM jzd WHERE dkbm LIKE %(prefix)s) AS held,
                   (SELECT area_srid FROM region WHERE qydm = %(county)s) AS area,
                   current_setting('jit') AS jit, current_setting('enable_nestloop') AS nestloop
        )
        SELECT held, area, jit, nestloop,
               CASE WHEN held THEN set_config('jit', 'off', true) || set_config('enable_nestloop', 'off', true) END
        FROM h
        """,
        params,
    )
    held, area, jit, nestloop, _ = cursor.fetchone()
    if not held:
        return RegenerationResult(not_held=(county,))
    area_srid, srid = _export_srid(county, area)
    params |= {
        "codes": codes,
        "contains": ["%" + code + "%" for code in codes],
        "current": Status.CURRENT,
        "srid": srid,
        "area_srid": area_srid,
        "eps": SEARCH_MARGIN_DEGREES,
        "jp": POINT_PREFIX,
        "number_width": len(POINT_PREFIX) + 9,
        "jp_like": POINT_PREFIX + "%",
        "plain_number": "^" + re.escape(POINT_PREFIX) + "[1-9][0-9]{0,8}$",
        "skip": len(POINT_PREFIX) + 1,
        "point_ysdm": FEATURE_CODES["JZD"],
        "line_ysdm": FEATURE_CODES["JZX"],
        "point_type": POINT_TYPE_GRAPHIC,
        "position": LINE_POSITION_MIDDLE,
        "turn": KEY_TURN_DEGREES,
        "width": KJZB_WIDTH,
        "jit": jit,
        "nestloop": nestloop,
        "parcel_model": Parcel._meta.label,
    } | _width_params()
    cursor.execute(_REGENERATE_SQL[len(codes) > FEW_CODES], params)
    parcels, added, updated, removed, lines_added, lines_updated, lines_removed, *too_long, touched = cursor.fetchone()
    _refuse_too_long(tuple(too_long) if too_long[0] else None)
    cursor.execute(_KEY_POINTS_SQL, params | {"touched": list(touched)})
    (key_points, _) = cursor.fetchone()
    return RegenerationResult(
        parcels=parcels,
        points_added=added,
        points_updated=updated,
        points_removed=removed,
        lines_added=lines_added,
        lines_updated=lines_updated,
        lines_removed=lines_removed,
        key_points_updated=key_points,
    )


def _vertices(parcels: str) -> str:
    """The ring vertices of the rows ``parcels`` (pr, dkbm, geom) at 1 mm in the export CRS,
    walked exactly as ``generate`` walks them, each with the next vertex (nx, ny)."""
    return f"""
    SELECT pr, dkbm, ring, seq, ix, iy, m, mod(seq - start + m, m) AS rseq,
           pr::bigint * 2199023255552 + ring::bigint * 1048576 + mod(seq - start + m, m) AS ord,
           lead(ix) OVER s AS nx, lead(iy) OVER s AS ny
    FROM (SELECT v.*, count(*) OVER r - 1 AS m,
                 first_value(seq) OVER (PARTITION BY pr, ring ORDER BY iy - ix DESC, seq) AS start
          FROM (SELECT p.pr, p.dkbm, {RING_OF_PATH} AS ring, (d.path)[3] AS seq,
                       round(ST_X(d.geom) * 1000)::bigint AS ix, round(ST_Y(d.geom) * 1000)::bigint AS iy
                FROM {parcels} p,
                     LATERAL ST_DumpPoints(ST_ForcePolygonCW(ST_Transform(p.geom, %(srid)s))) d) v
          WINDOW r AS (PARTITION BY pr, ring)) w
    WINDOW s AS (PARTITION BY pr, ring ORDER BY seq)
    """


_OLD_POINTS = "ARRAY(SELECT id FROM old WHERE layer = 'p')"
_OLD_LINES = "ARRAY(SELECT id FROM old WHERE layer = 'l')"
_FITS = "NOT EXISTS (SELECT 1 FROM too_long)"

# One statement: the same rules as ``generate`` over the changed parcels and their neighbours,
# compared with the stored rows there, and the differences written (data-modifying CTEs, all
# on the statement's snapshot, each row touched once). Joins to the big tables go through
# ``= ANY(ARRAY(...))`` so that their indexes serve them whatever the planner guesses.
_REGENERATE_TEMPLATE = f"""
WITH history AS MATERIALIZED (
    -- Where the changed parcels are and were: their shapes now (a retired parcel keeps its
    -- last one) and every shape their change records hold from before a change.
    SELECT ST_Expand(geom, %(eps)s) AS box FROM dk WHERE dkbm = ANY(%(codes)s)
    UNION ALL
    SELECT ST_Expand(ST_GeomFromEWKT(before ->> 'geom'), %(eps)s) FROM change_record
    WHERE object_code = ANY(%(codes)s) AND model = %(parcel_model)s AND before ->> 'geom' IS NOT NULL
), old AS MATERIALIZED (
    -- The stored rows there that name a changed parcel: where its old vertices and edges were.
    SELECT 'p'::text AS layer, id, dkbm FROM jzd
    WHERE id = ANY(ARRAY(SELECT j.id FROM history h JOIN jzd j ON j.geom && h.box))
      AND dkbm LIKE %(prefix)s AND {{names}}
    UNION ALL
    SELECT 'l', id, dkbm FROM jzx
    WHERE id = ANY(ARRAY(SELECT l.id FROM history h JOIN jzx l ON l.geom && h.box))
      AND dkbm LIKE %(prefix)s AND {{names}}
), ids AS (
    -- The parcels to recompute: the changed ones that are current, those within the margin
    -- of them (new neighbours) and those the old rows name (old neighbours).
    SELECT p.id FROM dk c
    JOIN dk p ON p.geom && ST_Expand(c.geom, %(eps)s) AND ST_DWithin(p.geom, c.geom, %(eps)s)
    WHERE c.dkbm = ANY(%(codes)s) AND c.status = %(current)s
    UNION SELECT id FROM dk WHERE dkbm = ANY(%(codes)s)
    UNION SELECT id FROM dk WHERE dkbm = ANY(ARRAY(SELECT unnest(string_to_array(dkbm, '/')) FROM old))
), parcel AS MATERIALIZED (
    -- In DKBM order (``pr``), with the names the lines need, as in ``generate``.
    SELECT row_number() OVER (ORDER BY p.dkbm COLLATE "C")::int AS pr, p.dkbm COLLATE "C" AS dkbm, p.geom,
           coalesce(o.name, f.fbfmc, '') AS owner,
           coalesce(nullif(p.zjrxm, ''), o.name, f.fbfmc, '') AS witness
    FROM dk p
    LEFT JOIN LATERAL (
        SELECT min(b.cbfmc) AS name FROM cbf b
        WHERE b.cbfbm = ANY(ARRAY(SELECT x.cbfbm FROM cbdkxx x WHERE x.dkbm = p.dkbm AND x.status = %(current)s))
    ) o ON true
    LEFT JOIN fbf f ON f.fbfbm = left(p.dkbm, 14)
    WHERE p.id = ANY(ARRAY(SELECT id FROM ids)) AND p.status = %(current)s AND p.dkbm LIKE %(prefix)s
), vertex AS MATERIALIZED ({_vertices("parcel")}
), loc AS MATERIALIZED (
    -- Where points may change: the changed parcels' vertices now, and the old rows' places.
    SELECT DISTINCT ix, iy FROM (
        SELECT ix, iy FROM vertex WHERE dkbm = ANY(%(codes)s)
        UNION ALL
        SELECT {_key("t", "X")}, {_key("t", "Y")}
        FROM jzd j, LATERAL ST_Transform(j.geom, %(srid)s) t WHERE j.id = ANY({_OLD_POINTS})
        UNION ALL
        SELECT {_key("t", "X")}, {_key("t", "Y")}
        FROM jzx l, LATERAL (VALUES ({_START}), ({_END})) e(t) WHERE l.id = ANY({_OLD_LINES})
    ) s
), seg AS MATERIALIZED (
    -- Where lines may change: the changed parcels' edges now, and the old lines.
    SELECT DISTINCT x1, y1, x2, y2 FROM (
        SELECT {_pair("ix", "iy", "nx", "ny")} FROM vertex
        WHERE dkbm = ANY(%(codes)s) AND nx IS NOT NULL AND (ix, iy) <> (nx, ny)
        UNION ALL
        SELECT {_LINE_ENDS} FROM jzx l, LATERAL {_START} s, LATERAL {_END} e WHERE l.id = ANY({_OLD_LINES})
    ) s
), point AS MATERIALIZED (
    -- The points a full generation makes at those places, with the walking order.
    SELECT v.ix, v.iy, min(v.ord) AS first, string_agg(DISTINCT v.dkbm, '/' ORDER BY v.dkbm) AS dkbm
    FROM vertex v JOIN loc USING (ix, iy)
    WHERE v.seq <= v.m GROUP BY v.ix, v.iy
), relevant AS MATERIALIZED (
    -- The lines on those edges: parcels in DKBM order, the direction of the first one's ring.
    SELECT s.* FROM (
        SELECT {_pair("ix", "iy", "nx", "ny")}, pr, ord, ix AS sx, iy AS sy, nx AS ex, ny AS ey
        FROM vertex WHERE nx IS NOT NULL AND (ix, iy) <> (nx, ny)
    ) s JOIN seg USING (x1, y1, x2, y2)
), grouped AS (
    SELECT x1, y1, x2, y2, min(ord) AS first, min(pr) AS pr1, max(pr) AS pr2, count(*) AS n
    FROM relevant GROUP BY x1, y1, x2, y2
), crowded AS (
    SELECT r.x1, r.y1, r.x2, r.y2,
           string_agg(p.dkbm, '/' ORDER BY p.pr) AS dkbm,
           string_agg(p.owner, '/' ORDER BY p.pr) AS owners,
           string_agg(p.witness, '/' ORDER BY p.pr) AS witnesses
    FROM relevant r JOIN parcel p USING (pr)
    WHERE (r.x1, r.y1, r.x2, r.y2) IN (SELECT x1, y1, x2, y2 FROM grouped WHERE n > 2)
    GROUP BY r.x1, r.y1, r.x2, r.y2
), line AS MATERIALIZED (
    SELECT g.x1, g.y1, g.x2, g.y2, g.first, d.sx AS ax, d.sy AS ay, d.ex AS bx, d.ey AS b_y,
           coalesce(c.dkbm, CASE WHEN g.pr1 = g.pr2 THEN p1.dkbm ELSE p1.dkbm || '/' || p2.dkbm END) AS dkbm,
           coalesce(c.owners, CASE WHEN g.pr1 = g.pr2 THEN p1.owner ELSE p1.owner || '/' || p2.owner END) AS owners,
           coalesce(c.witnesses, CASE WHEN g.pr1 = g.pr2 THEN p1.witness ELSE p1.witness || '/' || p2.witness END)
               AS witnesses
    FROM grouped g
    JOIN relevant d ON d.ord = g.first
    JOIN parcel p1 ON p1.pr = g.pr1
    JOIN parcel p2 ON p2.pr = g.pr2
    LEFT JOIN crowded c ON (c.x1, c.y1, c.x2, c.y2) = (g.x1, g.y1, g.x2, g.y2)
), too_long AS MATERIALIZED ({_WIDTH_SQL.format(lines="line", points="point")}
), stored_point AS MATERIALIZED (
    -- The stored rows that may be these: the old ones and every row of the county within the
    -- margin of a recomputed parcel, at 1 mm.
    SELECT j.id, j.dkbm, j.bsm, j.jzdh, j.geom, {_key("t", "X")} AS ix, {_key("t", "Y")} AS iy,
           o.id IS NOT NULL AS old
    FROM jzd j CROSS JOIN LATERAL ST_Transform(j.geom, %(srid)s) t
    LEFT JOIN old o ON o.layer = 'p' AND o.id = j.id
    WHERE j.id = ANY(ARRAY(SELECT id FROM old WHERE layer = 'p'
                           UNION SELECT j.id FROM parcel p JOIN jzd j ON j.geom && ST_Expand(p.geom, %(eps)s)))
      AND j.dkbm LIKE %(prefix)s
), stored_line AS MATERIALIZED (
    SELECT l.id, l.dkbm, l.pldwqlr, l.pldwzjr, l.qjzdh, l.zjzdh, l.jzxsm, l.geom, {_LINE_ENDS},
           o.id IS NOT NULL AS old
    FROM jzx l CROSS JOIN LATERAL {_START} s CROSS JOIN LATERAL {_END} e
    LEFT JOIN old o ON o.layer = 'l' AND o.id = l.id
    WHERE l.id = ANY(ARRAY(SELECT id FROM old WHERE layer = 'l'
                           UNION SELECT l.id FROM parcel p JOIN jzx l ON l.geom && ST_Expand(p.geom, %(eps)s)))
      AND l.dkbm LIKE %(prefix)s
), kept_point AS MATERIALIZED (
    -- Each place keeps the stored row with the smallest id there, with its number; the other
    -- rows this regeneration decides on (old ones, and any at one of its places) go.
    SELECT DISTINCT ON (ix, iy) s.* FROM stored_point s JOIN point USING (ix, iy) ORDER BY ix, iy, s.id
), kept_line AS MATERIALIZED (
    SELECT DISTINCT ON (x1, y1, x2, y2) s.* FROM stored_line s JOIN line USING (x1, y1, x2, y2)
    ORDER BY x1, y1, x2, y2, s.id
), gone_point AS (
    SELECT s.id FROM stored_point s LEFT JOIN point n USING (ix, iy) WHERE s.old OR n.ix IS NOT NULL
    EXCEPT SELECT id FROM kept_point
), gone_line AS (
    SELECT s.id FROM stored_line s LEFT JOIN line n USING (x1, y1, x2, y2) WHERE s.old OR n.x1 IS NOT NULL
    EXCEPT SELECT id FROM kept_line
), top_point AS MATERIALIZED (
    -- New points and lines get the county's next numbers, in walking order: a point's JZDH
    -- the next of the export's form J<n> and its BSM the next BSM; a line's BSM the next and
    -- JZXH the same number, as the export numbers lines (JZXH is optional and no key). The
    -- county is scanned only when there is something to number, on the snapshot from before
    -- the deletions, so a number just freed is not given again at once.
    -- The highest J<n> is the longest, then greatest, J-string (left-padded, one cheap max);
    -- when that one is not a plain J<n> (a letter, a leading zero) every row is parsed.
    -- Both are one step down an index (jzd_county_bsm, jzd_county_number: left(dkbm, 6)).
    SELECT coalesce((SELECT max(bsm) FROM jzd WHERE left(dkbm, 6) = %(county)s), 0) AS bsm,
           (SELECT ltrim(lpad(jzdh, 10, ' ')) FROM jzd WHERE left(dkbm, 6) = %(county)s AND jzdh LIKE %(jp_like)s
            ORDER BY lpad(jzdh, 10, ' ') DESC LIMIT 1) AS top
    WHERE EXISTS (SELECT 1 FROM point n LEFT JOIN kept_point k USING (ix, iy) WHERE k.id IS NULL)
    UNION ALL SELECT 0, NULL WHERE NOT EXISTS (
        SELECT 1 FROM point n LEFT JOIN kept_point k USING (ix, iy) WHERE k.id IS NULL)
), numbering AS MATERIALIZED (
    SELECT bsm, CASE WHEN top IS NULL THEN 0
                     WHEN top ~ %(plain_number)s THEN substr(top, %(skip)s)::bigint
                     ELSE (SELECT coalesce(max(substr(jzdh, %(skip)s)::bigint) FILTER (
                                     WHERE length(jzdh) BETWEEN %(skip)s AND %(number_width)s
                                       AND rtrim(jzdh, '0123456789') = %(jp)s), 0)
                           FROM jzd WHERE dkbm LIKE %(prefix)s) END AS n
    FROM top_point
), final_point AS MATERIALIZED (
    SELECT p.ix, p.iy, p.dkbm, p.id, p.stored_dkbm, p.geom,
           CASE WHEN p.id IS NULL THEN t.bsm + p.k END AS new_bsm,
           CASE WHEN p.id IS NULL THEN %(jp)s || (t.n + p.k) ELSE p.jzdh END AS number
    FROM (SELECT n.ix, n.iy, n.dkbm, k.id, k.dkbm AS stored_dkbm, k.jzdh,
                 coalesce(k.geom, ST_Transform(ST_SetSRID(ST_MakePoint(n.ix / 1000.0, n.iy / 1000.0), %(srid)s), 4490))
                     AS geom,
                 row_number() OVER (PARTITION BY k.id IS NULL ORDER BY n.first) AS k
          FROM point n LEFT JOIN kept_point k USING (ix, iy)) p
    CROSS JOIN numbering t
), top_line AS MATERIALIZED (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM line n LEFT JOIN kept_line k USING (x1, y1, x2, y2) WHERE k.id IS NULL)
                THEN coalesce((SELECT max(bsm) FROM jzx WHERE left(dkbm, 6) = %(county)s), 0) ELSE 0 END AS bsm
), final_line AS MATERIALIZED (
    -- Each line's ends by number and its shape from point to point; whether a kept one changes.
    SELECT n.dkbm, n.owners, n.witnesses, k.id, a.number AS q, b.number AS z, ST_MakeLine(a.geom, b.geom) AS geom,
           CASE WHEN k.id IS NULL THEN t.bsm + row_number() OVER (PARTITION BY k.id IS NULL ORDER BY n.first) END
               AS new_bsm,
           k.id IS NULL
           OR (k.dkbm, k.pldwqlr, k.pldwzjr, k.qjzdh, k.zjzdh, k.jzxsm)
              IS DISTINCT FROM (n.dkbm, n.owners, n.witnesses, a.number, b.number, a.number || '至' || b.number)
           OR ST_AsBinary(k.geom) IS DISTINCT FROM ST_AsBinary(ST_MakeLine(a.geom, b.geom)) AS changed
    FROM line n
    LEFT JOIN kept_line k USING (x1, y1, x2, y2)
    JOIN final_point a ON (a.ix, a.iy) = (n.ax, n.ay)
    JOIN final_point b ON (b.ix, b.iy) = (n.bx, n.b_y)
    CROSS JOIN top_line t
), deleted_lines AS (
    DELETE FROM jzx WHERE id = ANY(ARRAY(SELECT id FROM gone_line)) AND {_FITS} RETURNING 1
), deleted_points AS (
    DELETE FROM jzd WHERE id = ANY(ARRAY(SELECT id FROM gone_point)) AND {_FITS} RETURNING 1
), updated_points AS (
    UPDATE jzd j SET dkbm = f.dkbm FROM final_point f
    WHERE j.id = ANY(ARRAY(SELECT id FROM final_point WHERE stored_dkbm IS DISTINCT FROM dkbm AND id IS NOT NULL))
      AND j.id = f.id AND {_FITS}
    RETURNING 1
), added_points AS (
    -- Kept points keep their JZDLX/JBLX (a survey may have set them); new ones are 图解法.
    INSERT INTO jzd (bsm, ysdm, jzdh, jzdlx, jblx, dkbm, xzbz, yzbz, geom)
    SELECT f.new_bsm, %(point_ysdm)s, f.number, %(point_type)s, NULL, f.dkbm,
           round(ST_Y(a)::numeric, 3), round(ST_X(a)::numeric, 3), f.geom
    FROM final_point f, LATERAL ST_Transform(f.geom, %(area_srid)s) a
    WHERE f.id IS NULL AND {_FITS} ORDER BY f.new_bsm
    RETURNING 1
), updated_lines AS (
    UPDATE jzx l SET dkbm = f.dkbm, pldwqlr = f.owners, pldwzjr = f.witnesses, qjzdh = f.q, zjzdh = f.z,
           jzxsm = f.q || '至' || f.z, geom = f.geom
    FROM final_line f
    WHERE l.id = ANY(ARRAY(SELECT id FROM final_line WHERE changed AND id IS NOT NULL)) AND l.id = f.id AND {_FITS}
    RETURNING 1
), added_lines AS (
    INSERT INTO jzx (bsm, ysdm, jxxz, jzxlb, jzxwz, jzxsm, pldwqlr, pldwzjr, jzxh, qjzdh, zjzdh, dkbm, geom)
    SELECT f.new_bsm, %(line_ysdm)s, NULL, NULL, %(position)s, f.q || '至' || f.z, f.owners, f.witnesses,
           f.new_bsm::text, f.q, f.z, f.dkbm, f.geom
    FROM final_line f WHERE f.id IS NULL AND {_FITS} ORDER BY f.new_bsm
    RETURNING 1
)
SELECT (SELECT count(*) FROM parcel), (SELECT count(*) FROM added_points), (SELECT count(*) FROM updated_points),
       (SELECT count(*) FROM deleted_points), (SELECT count(*) FROM added_lines), (SELECT count(*) FROM updated_lines),
       (SELECT count(*) FROM deleted_lines),
       (SELECT dkbm FROM too_long), (SELECT layer FROM too_long), (SELECT field FROM too_long),
       -- The parcels whose KJZB may change: those with a vertex where points may have changed.
       ARRAY(SELECT DISTINCT v.dkbm::text FROM vertex v JOIN loc USING (ix, iy))
"""

# The rows that name one of the codes. A DKBM has 19 digits and no '/', so '%<dkbm>%' matches
# a '/'-joined list only where the code is listed: the cheapest test for a few codes; for
# more, the list is split and looked up in the (hashed) array of codes.
FEW_CODES = 16
_REGENERATE_SQL = (
    _REGENERATE_TEMPLATE.format(names="dkbm LIKE ANY(%(contains)s)"),
    _REGENERATE_TEMPLATE.format(
        names="EXISTS (SELECT 1 FROM unnest(string_to_array(dkbm, '/')) c WHERE c = ANY(%(codes)s))"
    ),
)

# KJZB of the touched parcels by the rules of ``generate``, over the stored points and lines
# as they now are. Only this derived column is written: the parcel's version and history
# stay as they are. The statement also puts JIT back.
_KEY_POINTS_SQL = f"""
WITH parcel AS MATERIALIZED (
    SELECT row_number() OVER (ORDER BY dkbm)::int AS pr, dkbm, geom FROM dk
    WHERE dkbm = ANY(%(touched)s) AND status = %(current)s
), vertex AS MATERIALIZED ({_vertices("parcel")}
), box AS MATERIALIZED (
    SELECT ST_Expand(geom, %(eps)s) AS box FROM parcel
), point AS MATERIALIZED (
    SELECT DISTINCT ON (ix, iy) ix, iy, jzdh FROM (
        SELECT j.id, j.jzdh, {_key("t", "X")} AS ix, {_key("t", "Y")} AS iy
        FROM jzd j, LATERAL ST_Transform(j.geom, %(srid)s) t
        WHERE j.id = ANY(ARRAY(SELECT j.id FROM box JOIN jzd j ON j.geom && box.box)) AND j.dkbm LIKE %(prefix)s
    ) s ORDER BY ix, iy, id
), line AS MATERIALIZED (
    SELECT DISTINCT ON (x1, y1, x2, y2) x1, y1, x2, y2, dkbm FROM (
        SELECT l.id, l.dkbm, {_LINE_ENDS}
        FROM jzx l, LATERAL {_START} s, LATERAL {_END} e
        WHERE l.id = ANY(ARRAY(SELECT l.id FROM box JOIN jzx l ON l.geom && box.box)) AND l.dkbm LIKE %(prefix)s
    ) s ORDER BY x1, y1, x2, y2, id
), segment AS (
    SELECT v.pr, v.rseq, pt.jzdh AS pid, (v.nx - v.ix)::float8 AS dx, (v.ny - v.iy)::float8 AS dy, ln.dkbm AS line
    FROM (SELECT v.*, {_pair("v.ix", "v.iy", "v.nx", "v.ny")} FROM vertex v
          WHERE v.ring = 1 AND v.seq <= v.m AND (v.ix, v.iy) <> (v.nx, v.ny)) v
    LEFT JOIN point pt ON (pt.ix, pt.iy) = (v.ix, v.iy)
    LEFT JOIN line ln ON (ln.x1, ln.y1, ln.x2, ln.y2) = (v.x1, v.y1, v.x2, v.y2)
), {_KEY_POINT_SCORES}, ranked AS (
    SELECT s.*, row_number() OVER p AS priority, sum(length(pid) + 1) OVER p AS used
    FROM scored s
    WINDOW p AS (PARTITION BY pr ORDER BY change DESC, turn DESC, rseq)
), key AS (
    SELECT p.dkbm, k.kjzb
    FROM (SELECT pr, string_agg(pid, '/' ORDER BY rseq) AS kjzb
          FROM ranked
          WHERE ((change OR turn >= %(turn)s) AND used <= %(width)s + 1) OR priority <= 3
          GROUP BY pr) k
    JOIN parcel p USING (pr)
), written AS (
    UPDATE dk SET kjzb = key.kjzb FROM key
    WHERE dk.dkbm = ANY(%(touched)s) AND dk.dkbm = key.dkbm AND dk.status = %(current)s AND key.kjzb IS NOT NULL
      AND dk.kjzb IS DISTINCT FROM key.kjzb
    RETURNING 1
)
SELECT count(*), set_config('jit', %(jit)s, true) || set_config('enable_nestloop', %(nestloop)s, true) FROM written
"""
