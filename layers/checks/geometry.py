"""Rules on the shape of one parcel: empty, invalid (with GEOS's reason and location),
multi-part, sliver, duplicate or near consecutive vertices, sharp angles, a boundary that runs
back along itself. Vectorised over all parcels (numpy over the coordinate arrays); only the
rare candidates of the self-overlap rule are looked at one by one.

Findings are aggregated per parcel and rule (all the places in one MultiPoint or
MultiLineString) so that a densely digitised curve gives one line of the report, not 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely

from layers.checks.catalogue import Finding, Tolerances, finding
from layers.checks.dataset import ParcelSet

REASONS_ZH = {
    "Self-intersection": "自相交",
    "Ring Self-intersection": "环自相交",
    "Too few points in geometry component": "图形组成部分的点数过少",
    "Invalid Coordinate": "坐标无效",
    "Nested shells": "外环嵌套",
    "Hole lies outside shell": "内环位于外环之外",
    "Holes are nested": "内环嵌套",
    "Interior is disconnected": "内部不连通",
    "Duplicate Rings": "重复的环",
    "Ring is not closed": "环未闭合",
}
_REASON = re.compile(r"^(?P<reason>[^\[]+?)\s*\[(?P<x>[-+\deE.naif]+) (?P<y>[-+\deE.naif]+)\]$")


@dataclass(frozen=True)
class Rings:
    """Every ring of every polygon part, flattened: ``coords`` (n × 2) with the ring of each
    coordinate (``ring``), the parcel of each ring (``parcel``, a position in the ParcelSet),
    and each ring's first coordinate (``start``) and coordinate count (``size``, closing
    point included)."""

    coords: np.ndarray
    ring: np.ndarray
    parcel: np.ndarray
    start: np.ndarray
    size: np.ndarray

    @property
    def vertex_positions(self) -> np.ndarray:
        """Positions in ``coords`` of each ring's distinct vertices (closing point left out)."""
        last = self.start + self.size - 1
        keep = np.ones(len(self.coords), dtype=bool)
        keep[last] = False
        return np.flatnonzero(keep)


def rings_of(geoms: np.ndarray, positions: np.ndarray) -> Rings:
    """The rings of the polygons ``geoms[positions]``, tagged with their position."""
    parts, part_of = shapely.get_parts(geoms[positions], return_index=True)
    rings, ring_of_part = shapely.get_rings(parts, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    parcel = positions[part_of[ring_of_part]]
    size = np.bincount(ring, minlength=len(rings)).astype(np.int64)
    start = np.zeros(len(rings), dtype=np.int64)
    np.cumsum(size[:-1], out=start[1:])
    return Rings(coords=coords, ring=ring, parcel=parcel, start=start, size=size)


def check_geometry(ps: ParcelSet, tol: Tolerances) -> list[Finding]:
    out: list[Finding] = []
    out += _empty_invalid(ps)
    out += _multipart_and_sliver(ps, tol)
    inside_valid = np.flatnonzero(ps.in_scope & ~ps.empty)
    if len(inside_valid):
        rings = rings_of(ps.geoms, inside_valid)
        out += _vertices_and_angles(ps, rings, tol)
    out += _self_overlap(ps, tol)
    return out


def _empty_invalid(ps: ParcelSet) -> Iterator[Finding]:
    for i in np.flatnonzero(ps.in_scope & ps.empty):
        yield finding("DK_EMPTY", f"地块 {ps.codes[i]} 没有图形", dkbm=(ps.codes[i],))
    bad = np.flatnonzero(ps.in_scope & ~ps.empty & ~ps.valid)
    if not len(bad):
        return
    reasons = shapely.is_valid_reason(ps.geoms[bad])
    for i, text in zip(bad, reasons, strict=True):
        reason, where = _parse_reason(str(text))
        zh = REASONS_ZH.get(reason, reason)
        place = f"，位置 ({where.x:.3f}, {where.y:.3f})" if where is not None else ""
        yield finding(
            "DK_INVALID",
            f"地块 {ps.codes[i]} 图形无效：{zh}（{reason}）{place}；该地块未参加拓扑检查",
            dkbm=(ps.codes[i],),
            geometry=where if where is not None else ps.geoms[i],
        )


def _parse_reason(text: str) -> tuple[str, shapely.Point | None]:
    match = _REASON.match(text.strip())
    if not match:
        return text.strip(), None
    try:
        return match["reason"], shapely.Point(float(match["x"]), float(match["y"]))
    except ValueError:
        return match["reason"], None


def _multipart_and_sliver(ps: ParcelSet, tol: Tolerances) -> Iterator[Finding]:
    inside = ps.in_scope & ~ps.empty
    parts = shapely.get_num_geometries(ps.geoms)
    for i in np.flatnonzero(inside & (parts > 1)):
        yield finding(
            "DK_MULTIPART",
            f"地块 {ps.codes[i]} 包含 {int(parts[i])} 个图元",
            dkbm=(ps.codes[i],),
            value=float(parts[i]),
            geometry=ps.geoms[i],
        )
    # An invalid shape's area is meaningless (a bow-tie's halves cancel): DK_INVALID says it all.
    areas = shapely.area(ps.geoms)
    for i in np.flatnonzero(inside & ps.valid & (areas < tol.sliver_area)):
        yield finding(
            "DK_SLIVER",
            f"地块 {ps.codes[i]} 面积 {areas[i]:.4f} 平方米，小于 {tol.sliver_area:g} 平方米",
            dkbm=(ps.codes[i],),
            area_m2=float(areas[i]),
            geometry=ps.geoms[i],
        )


def _vertices_and_angles(ps: ParcelSet, rings: Rings, tol: Tolerances) -> Iterator[Finding]:
    coords = rings.coords
    n = len(coords)
    last_of_ring = rings.start + rings.size - 1
    # segment k runs from coordinate k to k + 1 within a ring (rings are closed)
    is_seg = np.ones(n, dtype=bool)
    is_seg[last_of_ring] = False
    seg = np.flatnonzero(is_seg)
    seg_len = np.hypot(*(coords[seg + 1] - coords[seg]).T)

    dup = seg[seg_len < tol.duplicate_vertex]
    near = seg[(seg_len >= tol.duplicate_vertex) & (seg_len < tol.near_vertex)]
    length_at = np.full(n, np.inf)
    length_at[seg] = seg_len
    yield from _per_parcel(
        ps,
        "DK_VERTEX_DUPLICATE",
        rings.parcel[rings.ring[dup]],
        coords[dup],
        length_at[dup],
        lambda code, k, v: f"地块 {code} 有 {k} 处相邻节点重合（距离小于 {tol.duplicate_vertex:g} 米）",
    )
    yield from _per_parcel(
        ps,
        "DK_VERTEX_NEAR",
        rings.parcel[rings.ring[near]],
        coords[near],
        length_at[near],
        lambda code, k, v: f"地块 {code} 有 {k} 处相邻节点距离小于 {tol.near_vertex:g} 米（最近 {v:.4f} 米）",
    )

    # the angle at each distinct vertex between the segments to its previous and next vertex
    vertex = rings.vertex_positions
    ring = rings.ring[vertex]
    prev = vertex - 1
    at_start = vertex == rings.start[ring]
    prev[at_start] = last_of_ring[ring[at_start]] - 1
    nxt = vertex + 1
    u = coords[prev] - coords[vertex]
    w = coords[nxt] - coords[vertex]
    lu = np.hypot(u[:, 0], u[:, 1])
    lw = np.hypot(w[:, 0], w[:, 1])
    ok = (lu >= tol.duplicate_vertex) & (lw >= tol.duplicate_vertex) & (rings.size[ring] > 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("ij,ij->i", u, w) / (lu * lw)
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    sharp = ok & (angle < tol.sharp_angle)
    yield from _per_parcel(
        ps,
        "DK_SHARP_ANGLE",
        rings.parcel[ring[sharp]],
        coords[vertex[sharp]],
        angle[sharp],
        lambda code, k, v: f"地块 {code} 有 {k} 处夹角小于 {tol.sharp_angle:g}°（最小 {v:.3f}°）",
    )


def _per_parcel(
    ps: ParcelSet,
    rule: str,
    parcel: np.ndarray,
    points: np.ndarray,
    values: np.ndarray,
    message: object,
) -> Iterator[Finding]:
    """One finding per parcel: all its places as a MultiPoint, the smallest value."""
    if not len(parcel):
        return
    order = np.lexsort((points[:, 1], points[:, 0], parcel))
    parcel, points, values = parcel[order], points[order], values[order]
    bounds = np.flatnonzero(np.diff(parcel)) + 1
    for chunk in np.split(np.arange(len(parcel)), bounds):
        i = int(parcel[chunk[0]])
        smallest = float(values[chunk].min())
        text = message(ps.codes[i], len(chunk), smallest)  # type: ignore[operator]
        yield finding(
            rule,
            text,
            dkbm=(ps.codes[i],),
            value=smallest,
            geometry=shapely.multipoints(points[chunk]),
        )


def _self_overlap(ps: ParcelSet, tol: Tolerances) -> Iterator[Finding]:
    """Two non-adjacent segments of one parcel that run alongside each other: over a common
    stretch longer than ``self_overlap_length`` (measured along one of them) the other stays
    within ``self_overlap_distance``. Only parcels whose minimum clearance is below the
    distance can have such a pair, which leaves a handful of candidates."""
    inside = np.flatnonzero(ps.in_scope & ps.valid)
    if not len(inside):
        return
    clearance = shapely.minimum_clearance(ps.geoms[inside])
    for i in inside[clearance < tol.self_overlap_distance]:
        pieces = _self_overlap_pieces(ps.geoms[i], tol.self_overlap_distance, tol.self_overlap_length)
        if pieces:
            longest = max(p.length for p in pieces)
            yield finding(
                "DK_SELF_OVERLAP",
                f"地块 {ps.codes[i]} 有 {len(pieces)} 段边界与自身其他边界相距小于 "
                f"{tol.self_overlap_distance:g} 米（最长 {longest:.3f} 米）",
                dkbm=(ps.codes[i],),
                value=float(longest),
                geometry=shapely.multilinestrings(pieces),
            )


def _self_overlap_pieces(geom: shapely.Geometry, distance: float, length: float) -> list[shapely.LineString]:
    rings = rings_of(np.array([geom], dtype=object), np.array([0]))
    c = rings.coords
    last = rings.start + rings.size - 1
    is_seg = np.ones(len(c), dtype=bool)
    is_seg[last] = False
    seg = np.flatnonzero(is_seg)
    ring = rings.ring[seg]
    index_in_ring = seg - rings.start[ring]
    count_in_ring = rings.size[ring] - 1
    lines = shapely.linestrings(np.stack([c[seg], c[seg + 1]], axis=1))
    tree = shapely.STRtree(lines)
    a, b = tree.query(lines, predicate="dwithin", distance=distance)
    keep = a < b
    a, b = a[keep], b[keep]
    same_ring = ring[a] == ring[b]
    gap = np.abs(index_in_ring[a] - index_in_ring[b])
    adjacent = same_ring & ((gap == 1) | (gap == count_in_ring[a] - 1))
    a, b = a[~adjacent], b[~adjacent]
    pieces: list[shapely.LineString] = []
    for s, t in zip(a, b, strict=True):
        for base, other in ((s, t), (t, s)):
            piece = _alongside(c[seg[base]], c[seg[base] + 1], c[seg[other]], c[seg[other] + 1], distance)
            if piece is not None and piece.length > length:
                pieces.append(piece)
                break
    return pieces


def _alongside(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray, distance: float
) -> shapely.LineString | None:
    """The stretch of segment p along which segment q runs within ``distance`` of p's line:
    q is projected onto p, and the common interval is cut to where q's offset is below the
    distance (the offset is linear along p). Segments meeting square-on give nothing."""
    d = p1 - p0
    length = float(np.hypot(*d))
    if length == 0.0:
        return None
    unit = d / length
    normal = np.array([-unit[1], unit[0]])
    t0, t1 = float((q0 - p0) @ unit), float((q1 - p0) @ unit)
    h0, h1 = float((q0 - p0) @ normal), float((q1 - p0) @ normal)
    if t1 < t0:
        t0, t1, h0, h1 = t1, t0, h1, h0
    lo, hi = max(0.0, t0), min(length, t1)
    if hi <= lo or t1 == t0:
        return None
    # q's offset from p's line is linear along p: h(t) = h0 + k (t - t0); keep |h| < distance
    k = (h1 - h0) / (t1 - t0)
    if k == 0.0:
        if abs(h0) >= distance:
            return None
    else:
        ta, tb = sorted(((-distance - h0) / k + t0, (distance - h0) / k + t0))
        lo, hi = max(lo, ta), min(hi, tb)
        if hi <= lo:
            return None
    return shapely.LineString([p0 + unit * lo, p0 + unit * hi])
