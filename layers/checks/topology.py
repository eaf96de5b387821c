"""Rules between parcels: overlaps, gaps, parcels reaching outside their region, neighbours'
vertices that nearly coincide, vertices on a neighbour's edge without a shared vertex.

Only valid, non-empty parcels take part (an invalid shape has no well-defined interior; it is
reported by DK_INVALID). Everything is in the county's projected CRS, in metres.

Overlaps, set-wise (the heart of the inspection; ``bench/qc_bench.py`` times it against a
PostGIS self-join and a plain STRtree + ``relate_pattern`` pipeline):

1. every parcel is shrunk by the topology tolerance t = 0.001 m (``buffer(-t)``);
2. an STRtree over the shrunk parcels gives the pairs whose boxes meet;
3. the pairs whose shrunk shapes intersect (prepared GEOS ``intersects``) are the overlaps
   wider than 2t: (A ⊖ t) ∩ (B ⊖ t) = (A ∩ B) ⊖ t, erosion distributes over intersection, so
   this *is* the vendors' "overlap after buffer(-0.001)", not a filter in front of it;
4. for those few pairs the overlap ``A ∩ B`` and its area; pairs under the minimum area go.

Step 3 replaces a full DE-9IM ``relate`` per touching pair (most pairs in a county touch and
only a handful overlap) with a prepared intersects of shapes that are 2 mm apart, which GEOS
answers from the segment index without building a topology graph.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import shapely

from layers.checks.catalogue import Finding, Tolerances, finding
from layers.checks.dataset import ParcelSet
from layers.checks.geometry import Rings, rings_of


@dataclass(frozen=True)
class Overlaps:
    """Overlapping pairs as positions into the geometry array given to ``find_overlaps``
    (``a < b``), with the overlap's area (m²) and shape."""

    a: np.ndarray
    b: np.ndarray
    area: np.ndarray
    shape: np.ndarray

    def __len__(self) -> int:
        return len(self.a)


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of an overlay result (intersections of touching polygons bring
    lines and points along)."""
    if geom is None or geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


def wider_than(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Whether each shape is somewhere wider than 2 × tolerance (survives ``buffer(-t)``)."""
    if not len(geoms):
        return np.zeros(0, dtype=bool)
    return ~shapely.is_empty(shapely.buffer(geoms, -tolerance, quad_segs=2))


def find_overlaps(geoms: np.ndarray, tol: Tolerances) -> Overlaps:
    """All pairs of ``geoms`` (valid polygons, metres) overlapping by more than the topology
    tolerance and at least ``min_overlap_area``. Deterministic: sorted by (a, b)."""
    n = len(geoms)
    if n < 2:
        return _no_overlaps()
    # quad_segs=2 (arcs in 45° chords): the arcs only arise at concave corners, where chords
    # inside the true arc leave the shrunk shape larger by at most t·(1 - cos 22.5°) ≈ 0.08 t
    # (0.08 mm at t = 1 mm): a shade more reported, never less, and the guard uses the same.
    shrunk = shapely.buffer(geoms, -tol.topology, quad_segs=2)
    alive = np.flatnonzero(~shapely.is_empty(shrunk))
    shrunk = shrunk[alive]
    tree = shapely.STRtree(shrunk)
    a, b = tree.query(shrunk)
    keep = a < b
    a, b = a[keep], b[keep]
    shapely.prepare(shrunk)
    hit = shapely.intersects(shrunk[a], shrunk[b])
    a, b = alive[a[hit]], alive[b[hit]]
    return overlaps_of_pairs(geoms, a, b, tol)


def overlaps_of_pairs(geoms: np.ndarray, a: np.ndarray, b: np.ndarray, tol: Tolerances) -> Overlaps:
    """The overlap shapes and areas of candidate pairs, keeping those of at least the
    minimum area, sorted by (a, b)."""
    if not len(a):
        return _no_overlaps()
    shapes = shapely.intersection(geoms[a], geoms[b])
    area = shapely.area(shapes)
    keep = area >= tol.min_overlap_area
    a, b, area, shapes = a[keep], b[keep], area[keep], shapes[keep]
    order = np.lexsort((b, a))
    return Overlaps(a=a[order], b=b[order], area=area[order], shape=shapes[order])


def _no_overlaps() -> Overlaps:
    empty = np.zeros(0, dtype=np.int64)
    return Overlaps(a=empty, b=empty, area=np.zeros(0), shape=np.empty(0, dtype=object))


def check_overlaps(ps: ParcelSet, tol: Tolerances) -> tuple[list[Finding], Overlaps]:
    """DK_OVERLAP for every pair with at least one parcel in scope. Returns the overlaps as
    positions in the ParcelSet too (the vertex rules look at overlapping parcels)."""
    topo = ps.topology_index
    found = find_overlaps(ps.geoms[topo], tol)
    found = Overlaps(a=topo[found.a], b=topo[found.b], area=found.area, shape=found.shape)
    out = []
    for i, j, area, shape in zip(found.a, found.b, found.area, found.shape, strict=True):
        if not (ps.in_scope[i] or ps.in_scope[j]):
            continue
        ci, cj = ps.codes[i], ps.codes[j]
        out.append(
            finding(
                "DK_OVERLAP",
                f"地块 {ci} 与 {cj} 重叠 {area:.4f} 平方米",
                dkbm=(ci, cj),
                area_m2=float(area),
                geometry=polygonal(shape),
            )
        )
    return out, found


# --- gaps ---------------------------------------------------------------------------------


def topology_rings(ps: ParcelSet) -> Rings:
    """The rings of the topology parcels (computed once per inspection)."""
    if "rings" not in ps.extras:
        ps.extras["rings"] = rings_of(ps.geoms, ps.topology_index)
    rings: Rings = ps.extras["rings"]
    return rings


def unmatched_segments(ps: ParcelSet) -> np.ndarray:
    """Start positions (in ``topology_rings(ps).coords``) of the segments that are not shared,
    in the opposite direction, by exactly one other parcel: the outline of the coverage, its
    holes, and every place where neighbours do not fit exactly (computed once)."""
    if "unmatched" not in ps.extras:
        ps.extras["unmatched"] = _unmatched(topology_rings(ps))
    found: np.ndarray = ps.extras["unmatched"]
    return found


def check_gaps(ps: ParcelSet, tol: Tolerances, cover: np.ndarray) -> list[Finding]:
    """DK_GAP: holes in the union of the parcels that no invalid parcel, polygon feature
    (MZDW) or buffered line feature (XZDW) fills, wider than 2t and at least the minimum
    area, touching at least one parcel in scope.

    Without building the union: a hole's outline has a parcel on one side and nothing on the
    other, so it is made of unmatched segments (a shared segment has a parcel on each side).
    The unmatched segments are noded and polygonised; a face whose inner point lies in no
    parcel is a hole. In a clean coverage that is the outline and the holes only, a few
    thousand segments for a county; where neighbours do not fit, more of them, never more than
    the union itself would have to node."""
    topo = ps.topology_index
    if not len(topo):
        return []
    rings = topology_rings(ps)
    seg = unmatched_segments(ps)
    if not len(seg):
        return []
    lines = shapely.linestrings(np.stack([rings.coords[seg], rings.coords[seg + 1]], axis=1))
    noded = shapely.union_all(lines)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if not len(faces):
        return []
    inner = shapely.point_on_surface(faces)
    hit, _ = ps.tree.query(inner, predicate="intersects")
    uncovered = np.ones(len(faces), dtype=bool)
    uncovered[hit] = False
    holes = faces[uncovered]
    if not len(holes):
        return []
    broken = ps.geoms[~ps.valid & ~ps.empty]
    fill = np.concatenate([shapely.make_valid(broken), cover]) if len(broken) else cover
    fill = fill[~shapely.is_empty(fill)] if len(fill) else fill
    fill_tree = shapely.STRtree(fill) if len(fill) else None
    out = []
    for hole in holes:
        rest = hole
        if fill_tree is not None:
            near = fill_tree.query(hole, predicate="intersects")
            if len(near):
                rest = polygonal(shapely.difference(hole, shapely.union_all(fill[near])))
        area = float(shapely.area(rest))
        if area < tol.min_overlap_area or not wider_than(np.array([rest], dtype=object), tol.topology)[0]:
            continue
        around = topo[ps.tree.query(hole, predicate="intersects")]
        if not ps.in_scope[around].any():
            continue
        codes = ps.codes_of(around)
        shown = "、".join(codes[:5]) + (f" 等{len(codes)}个地块" if len(codes) > 5 else "")
        out.append(
            finding(
                "DK_GAP",
                f"地块 {shown} 之间有 {area:.4f} 平方米的缝隙，未被其他地块或地物覆盖",
                dkbm=codes,
                area_m2=area,
                geometry=rest,
            )
        )
    return out


# --- regions ------------------------------------------------------------------------------


def check_regions(ps: ParcelSet, tol: Tolerances, regions: dict[str, shapely.Geometry]) -> list[Finding]:
    """DK_REGION: the part of a parcel outside its group region (FBFBM = group code), or its
    village region for a village collective (group 00) or a group without a shape; wider than
    2t and at least the minimum area. Parcels whose region has no shape are not checked."""
    by_region: dict[str, list[int]] = defaultdict(list)
    for i in ps.topology_index[ps.in_scope[ps.topology_index]]:
        code = ps.codes[i]
        key = code[:14] if code[:14] in regions else code[:12] if code[:12] in regions else None
        if key is not None:
            by_region[key].append(int(i))
    out = []
    for key in sorted(by_region):
        region = regions[key]
        shapely.prepare(region)
        sel = np.array(by_region[key])
        outside = sel[~shapely.covers(region, ps.geoms[sel])]
        if not len(outside):
            continue
        rest = shapely.difference(ps.geoms[outside], region)
        area = shapely.area(rest)
        wide = wider_than(rest, tol.topology)
        for i, part, a, w in zip(outside, rest, area, wide, strict=True):
            if a < tol.min_overlap_area or not w:
                continue
            out.append(
                finding(
                    "DK_REGION",
                    f"地块 {ps.codes[i]} 有 {a:.4f} 平方米在区域 {key} 之外",
                    dkbm=(ps.codes[i],),
                    codes=(key,),
                    area_m2=float(a),
                    geometry=polygonal(part),
                )
            )
    return out


# --- neighbours' vertices ----------------------------------------------------------------


@dataclass(frozen=True)
class Vertices:
    """Distinct vertex locations of the topology parcels (``z`` = x + iy, sorted) and who owns
    each (``owner_keys`` = location × n + parcel position, sorted)."""

    z: np.ndarray
    owner_keys: np.ndarray
    n: int

    def locate(self, z: np.ndarray) -> np.ndarray:
        """Location ids of coordinates that are vertices (-1 where none is)."""
        at = np.searchsorted(self.z, z)
        at = np.minimum(at, len(self.z) - 1)
        return np.where(self.z[at] == z, at, -1)

    def owns(self, location: np.ndarray, parcel: np.ndarray) -> np.ndarray:
        keys = location.astype(np.int64) * self.n + parcel
        return np.isin(keys, self.owner_keys) & (location >= 0)

    def owners(self, location: int) -> np.ndarray:
        lo = np.searchsorted(self.owner_keys, location * self.n)
        hi = np.searchsorted(self.owner_keys, (location + 1) * self.n)
        return self.owner_keys[lo:hi] - location * self.n


def check_vertices(ps: ParcelSet, tol: Tolerances, overlaps: Overlaps) -> list[Finding]:
    """DK_NEIGHBOUR_VERTEX (a neighbour's vertex within 0.05 m but not at the same place)
    and DK_VERTEX_ON_EDGE (a vertex within 0.05 m of a neighbour's edge, where the neighbour
    has no vertex within 0.05 m). Pairs reported as overlapping (DK_OVERLAP) are left out:
    their vertices are wherever the overlap puts them.

    Where neighbours share their edges exactly (each segment used by exactly two parcels, in
    opposite directions), their vertices coincide by construction; so the rules look at the
    ends of the other segments and at the vertices of overlapping parcels only. Vertices
    within the coordinate precision (0.0001 m) count as coincident."""
    overlapping = np.union1d(overlaps.a, overlaps.b)
    paired = set(zip(overlaps.a.tolist(), overlaps.b.tolist(), strict=True))

    def apart(p: int, q: int) -> bool:
        return (min(p, q), max(p, q)) not in paired

    topo = ps.topology_index
    if len(topo) < 2:
        return []
    rings = topology_rings(ps)
    coords = rings.coords
    vertex = rings.vertex_positions
    owner = rings.parcel[rings.ring[vertex]]
    xy = coords[vertex]
    order = np.lexsort((xy[:, 1], xy[:, 0]))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (xy[order][1:] != xy[order][:-1]).any(axis=1)
    location = np.empty(len(order), dtype=np.int64)
    location[order] = np.cumsum(first) - 1
    unique_xy = xy[order][first]
    z = unique_xy[:, 0] + 1j * unique_xy[:, 1]  # sorted: complex numbers sort by (real, imag)
    n = len(ps)
    table = Vertices(z=z, owner_keys=np.unique(location * n + owner), n=n)

    seg = unmatched_segments(ps)
    candidates = np.union1d(
        location[np.isin(vertex, np.union1d(seg, seg + 1))],
        location[np.isin(owner, overlapping)],
    )
    if not len(candidates):
        return []
    reach = max(tol.neighbour_vertex, tol.vertex_on_edge)
    points = shapely.points(np.column_stack([z[candidates].real, z[candidates].imag]))
    pi, qi = ps.tree.query(points, predicate="dwithin", distance=reach)
    loc, q = candidates[pi], topo[qi]
    mine = table.owns(loc, q)
    pi, loc, q = pi[~mine], loc[~mine], q[~mine]
    if not len(loc):
        return []
    pts = points[pi]
    near_parcels, which = np.unique(q, return_inverse=True)
    corners = shapely.extract_unique_points(ps.geoms[near_parcels])[which]
    to_vertex = shapely.distance(pts, corners)
    nearest = shapely.get_coordinates(shapely.shortest_line(pts, corners)).reshape(-1, 2, 2)[:, 1]
    to_edge = shapely.distance(pts, shapely.boundary(ps.geoms[near_parcels])[which])

    near: dict[tuple[int, ...], list[tuple[float, shapely.Geometry]]] = defaultdict(list)
    on_edge: dict[tuple[int, ...], list[tuple[float, shapely.Geometry]]] = defaultdict(list)
    seen_pairs: set[tuple[int, int]] = set()
    other_loc = table.locate(nearest[:, 0] + 1j * nearest[:, 1])
    for k in range(len(loc)):
        here = z[loc[k]]
        if to_vertex[k] <= tol.duplicate_vertex:
            continue
        if to_vertex[k] <= tol.neighbour_vertex:
            there = int(other_loc[k])
            key = (min(int(loc[k]), there), max(int(loc[k]), there))
            if there < 0:
                continue
            if key in seen_pairs:
                continue
            seen_pairs.add(key)
            a_own, b_own = set(table.owners(int(loc[k])).tolist()), set(table.owners(there).tolist())
            a_only = {a for a in a_own - b_own if any(apart(a, b) for b in b_own - a_own)}
            b_only = {b for b in b_own - a_own if any(apart(a, b) for a in a_only)}
            if not a_only or not b_only:
                continue
            involved = a_only | b_only
            line = shapely.LineString([(here.real, here.imag), tuple(nearest[k])])
            near[tuple(sorted(involved))].append((float(to_vertex[k]), line))
        elif to_edge[k] <= tol.vertex_on_edge:
            mates = {o for o in table.owners(int(loc[k])).tolist() if apart(o, int(q[k]))}
            if not mates:
                continue
            involved = mates | {int(q[k])}
            on_edge[tuple(sorted(involved))].append((float(to_edge[k]), shapely.Point(here.real, here.imag)))

    out = []
    for who, items in near.items():
        if not ps.in_scope[list(who)].any():
            continue
        codes = ps.codes_of(who)
        smallest = min(d for d, _ in items)
        out.append(
            finding(
                "DK_NEIGHBOUR_VERTEX",
                f"地块 {'、'.join(codes)} 有 {len(items)} 处节点相距 {smallest:.4f} 米以内但不重合"
                f"（阈值 {tol.neighbour_vertex:g} 米）",
                dkbm=codes,
                value=smallest,
                geometry=shapely.multilinestrings([g for _, g in sorted(items, key=_place)]),
            )
        )
    for who, items in on_edge.items():
        if not ps.in_scope[list(who)].any():
            continue
        codes = ps.codes_of(who)
        largest = max(d for d, _ in items)
        out.append(
            finding(
                "DK_VERTEX_ON_EDGE",
                f"地块 {'、'.join(codes)} 有 {len(items)} 处节点位于相邻地块的边上而相邻地块没有对应节点"
                f"（距边 {largest:.4f} 米以内）",
                dkbm=codes,
                value=largest,
                geometry=shapely.multipoints([g for _, g in sorted(items, key=_place)]),
            )
        )
    return out


def _place(item: tuple[float, shapely.Geometry]) -> tuple[float, ...]:
    return tuple(shapely.get_coordinates(item[1]).ravel())


def corners_of(ps: ParcelSet) -> np.ndarray:
    """Each parcel's vertices as a MultiPoint (computed once)."""
    if "corners" not in ps.extras:
        ps.extras["corners"] = shapely.extract_unique_points(ps.geoms)
    corners: np.ndarray = ps.extras["corners"]
    return corners


def boundaries_of(ps: ParcelSet) -> np.ndarray:
    """Each parcel's boundary (computed once)."""
    if "boundaries" not in ps.extras:
        ps.extras["boundaries"] = shapely.boundary(ps.geoms)
    boundaries: np.ndarray = ps.extras["boundaries"]
    return boundaries


def _unmatched(rings: Rings) -> np.ndarray:
    c = rings.coords
    last = rings.start + rings.size - 1
    is_seg = np.ones(len(c), dtype=bool)
    is_seg[last] = False
    seg = np.flatnonzero(is_seg)
    p, q = c[seg], c[seg + 1]
    parcel = rings.parcel[rings.ring[seg]]
    flip = (p[:, 0] > q[:, 0]) | ((p[:, 0] == q[:, 0]) & (p[:, 1] > q[:, 1]))
    lo = np.where(flip[:, None], q, p)
    hi = np.where(flip[:, None], p, q)
    order = np.lexsort((hi[:, 1], hi[:, 0], lo[:, 1], lo[:, 0]))
    lo, hi, flip, parcel = lo[order], hi[order], flip[order], parcel[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (lo[1:] == lo[:-1]).all(axis=1) & (hi[1:] == hi[:-1]).all(axis=1)
    run = np.cumsum(~same) - 1
    size = np.bincount(run)
    first = np.flatnonzero(~same)
    pair = first[size == 2]
    good = pair[(parcel[pair] != parcel[pair + 1]) & (flip[pair] != flip[pair + 1])]
    matched = np.zeros(len(order), dtype=bool)
    matched[good] = True
    matched[good + 1] = True
    return np.sort(seg[order[~matched]])
