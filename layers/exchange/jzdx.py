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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

from parcels.models import Collective, Contractor, ContractParcel, Parcel
from parcels.models.base import Status

KEY_TURN_DEGREES = 10.0
KJZB_WIDTH = 254
POINT_PREFIX = "J"


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
            SELECT p.pr, p.dkbm, (d.path)[1] AS ring, (d.path)[2] AS seq,
                   round(ST_X(d.geom) * 1000)::bigint AS ix, round(ST_Y(d.geom) * 1000)::bigint AS iy
            FROM jzdx_parcel p JOIN {dk} k ON k.{dkbm} = p.dkbm,
                 LATERAL ST_DumpPoints(ST_ForcePolygonCW(ST_Transform(ST_GeometryN(k.{geom}, 1), %(srid)s))) d
        ), w AS (
            SELECT v.*, count(*) OVER r - 1 AS m,
                   first_value(seq) OVER (PARTITION BY pr, ring ORDER BY iy - ix DESC, seq) AS start
            FROM v WINDOW r AS (PARTITION BY pr, ring)
        )
        SELECT pr, dkbm, ring, seq, ix, iy, m, mod(seq - start + m, m) AS rseq,
               pr::bigint * 2147483648 + ring::bigint * 1048576 + mod(seq - start + m, m) AS ord
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
        ), turns AS (
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
        ), ranked AS (
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
