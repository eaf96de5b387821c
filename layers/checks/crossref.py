"""Rules across tables: references that lead nowhere, households and their members, contract
totals against their parcels, boundary points and lines (JZD/JZX) against the parcels.

The foreign keys make a CBDKXX row without its DK row impossible in the database; what the
export can still miss is a *current* parcel: a current contract's row that points at a parcel
made historic by a split or a merge is exactly the Ministry checker's "地块编码…在矢量地块中
不存在" once the package is written (only current parcels go to the DK layer).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import shapely
from django.db import connection

from layers.checks.catalogue import Finding, Tolerances, finding
from layers.checks.dataset import STORAGE_SRID, ParcelSet, Scope, fetch_wkb, reproject
from layers.checks.topology import boundaries_of, corners_of
from parcels.models import Parcel


def check_crossref(ps: ParcelSet, scope: Scope, tol: Tolerances) -> list[Finding]:
    out = list(_missing(scope))
    out += _households(scope)
    out += _contract_totals(scope, tol)
    out += _boundary_points(ps, scope, tol)
    out += _boundary_lines(ps, scope, tol)
    return out


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _missing(scope: Scope) -> Iterator[Finding]:
    prefix = scope.code + "%"
    for contract, dkbm, status in _rows(
        """SELECT x.cbhtbm, x.dkbm, dk.status FROM cbdkxx x
           JOIN cbht h ON h.cbhtbm = x.cbhtbm
           LEFT JOIN dk ON dk.dkbm = x.dkbm
           WHERE x.status = 'current' AND h.status = 'current' AND x.cbhtbm LIKE %s
             AND (dk.id IS NULL OR dk.status <> 'current')
           ORDER BY x.cbhtbm, x.dkbm""",
        [prefix],
    ):
        state = "不存在" if status is None else "已是历史地块，不在现势地块图层中"
        yield finding(
            "XREF_MISSING",
            f"承包合同 {contract} 的承包地块 {dkbm} {state}",
            dkbm=(dkbm,),
            codes=(contract,),
        )
    for (code,) in _rows(
        """SELECT b.cbjyqzbm FROM cbjyqzdjb b LEFT JOIN cbht h ON h.cbhtbm = b.cbjyqzbm
           WHERE b.status = 'current' AND b.cbjyqzbm LIKE %s AND h.id IS NULL ORDER BY 1""",
        [prefix],
    ):
        yield finding("XREF_MISSING", f"登记簿 {code} 没有对应的承包合同", codes=(code,))
    for (code,) in _rows(
        """SELECT b.cbjyqzbm FROM cbjyqzdjb b LEFT JOIN cbjyqz z ON z.cbjyqzbm = b.cbjyqzbm
           WHERE b.status = 'current' AND b.cbjyqzbm LIKE %s AND z.id IS NULL ORDER BY 1""",
        [prefix],
    ):
        yield finding("XREF_MISSING", f"登记簿 {code} 没有颁发承包经营权证", codes=(code,))
    for contract, dkbm, transfer in _rows(
        """SELECT x.cbhtbm, x.dkbm, x.lzhtbm FROM cbdkxx x LEFT JOIN lzht l ON l.lzhtbm = x.lzhtbm
           WHERE x.status = 'current' AND x.cbhtbm LIKE %s AND coalesce(x.lzhtbm, '') <> ''
             AND l.id IS NULL ORDER BY 1, 2""",
        [prefix],
    ):
        yield finding(
            "XREF_MISSING",
            f"承包合同 {contract} 的地块 {dkbm} 引用的流转合同 {transfer} 不存在",
            dkbm=(dkbm,),
            codes=(contract, transfer),
        )


def _households(scope: Scope) -> Iterator[Finding]:
    rows = _rows(
        """SELECT c.cbfbm, c.cbflx, c.cbfcysl,
                  count(m.id),
                  count(m.id) FILTER (WHERE m.yhzgx IN ('01', '02'))
           FROM cbf c LEFT JOIN cbf_jtcy m ON m.cbfbm = c.cbfbm AND m.status = 'current'
           WHERE c.status = 'current' AND c.cbfbm LIKE %s
           GROUP BY c.cbfbm, c.cbflx, c.cbfcysl ORDER BY c.cbfbm""",
        [scope.code + "%"],
    )
    for code, kind, declared, members, heads in rows:
        if kind == "1":
            if members == 0:
                yield finding("XREF_MEMBERS", f"农户承包方 {code} 没有家庭成员", codes=(code,))
            elif heads != 1:
                state = "没有户主" if heads == 0 else f"有 {heads} 个户主"
                yield finding(
                    "XREF_HEAD",
                    f"农户承包方 {code} {state}（与户主关系应有且只有一个 01 本人 或 02 户主）",
                    codes=(code,),
                    value=float(heads),
                )
            if declared != members:
                yield finding(
                    "XREF_MEMBER_COUNT",
                    f"承包方 {code} 的成员数量（CBFCYSL）为 {declared}，家庭成员有 {members} 人",
                    codes=(code,),
                    value=float(declared - members),
                )
        elif declared != 1:
            yield finding(
                "XREF_MEMBER_COUNT",
                f"承包方 {code}（个人或单位）的成员数量（CBFCYSL）为 {declared}，应为 1",
                codes=(code,),
                value=float(declared - 1),
            )


def _contract_totals(scope: Scope, tol: Tolerances) -> Iterator[Finding]:
    rows = _rows(
        """SELECT h.cbhtbm, h.cbdkzs, h.htzmj, count(x.id), coalesce(sum(x.htmj), 0)
           FROM cbht h LEFT JOIN cbdkxx x ON x.cbhtbm = h.cbhtbm AND x.status = 'current'
           WHERE h.status = 'current' AND h.cbhtbm LIKE %s
           GROUP BY h.cbhtbm, h.cbdkzs, h.htzmj ORDER BY h.cbhtbm""",
        [scope.code + "%"],
    )
    limit = Decimal(repr(tol.total_area))
    for code, declared_count, declared_area, count, area in rows:
        if declared_count != count:
            yield finding(
                "XREF_CBDKZS",
                f"承包合同 {code} 的承包地块总数（CBDKZS）为 {declared_count}，承包地块信息有 {count} 条",
                codes=(code,),
                value=float(declared_count - count),
            )
        if abs(Decimal(declared_area) - Decimal(area)) > limit:
            yield finding(
                "XREF_HTZMJ",
                f"承包合同 {code} 的合同总面积（HTZMJ）为 {declared_area} 平方米，各地块合同面积之和为 {area} 平方米",
                codes=(code,),
                area_m2=float(area),
                value=float(Decimal(declared_area) - Decimal(area)),
            )


# --- boundary points and lines ----------------------------------------------------------------


def _listed(ps: ParcelSet, lists: list[str]) -> tuple[np.ndarray, np.ndarray, dict[int, list[str]]]:
    """Explode '/'-separated DKBM lists into (row, parcel position) pairs; codes that are not
    current parcels of the set come back per row (those that exist elsewhere in the database,
    outside the loaded set, are dropped: they are not this inspection's business)."""
    index = {c: i for i, c in enumerate(ps.codes)}
    rows, where = [], []
    unknown: dict[int, list[str]] = defaultdict(list)
    for k, text in enumerate(lists):
        for code in (c.strip() for c in (text or "").split("/")):
            if not code:
                continue
            if code in index:
                rows.append(k)
                where.append(index[code])
            else:
                unknown[k].append(code)
    if unknown:
        wanted = sorted({c for codes in unknown.values() for c in codes})
        elsewhere = {r[0] for r in _rows("SELECT dkbm FROM dk WHERE status = 'current' AND dkbm = ANY(%s)", [wanted])}
        unknown = {k: [c for c in v if c not in elsewhere] for k, v in unknown.items()}
        unknown = {k: v for k, v in unknown.items() if v}
    return np.array(rows, dtype=np.int64), np.array(where, dtype=np.int64), unknown


def _scoped_rows(table: str, columns: str, scope: Scope) -> list[tuple[Any, ...]]:
    return fetch_wkb(
        f"SELECT {columns} FROM {table} WHERE dkbm LIKE %s OR dkbm LIKE %s ORDER BY id",
        [scope.code + "%", "%/" + scope.code + "%"],
    )


def _boundary_points(ps: ParcelSet, scope: Scope, tol: Tolerances) -> Iterator[Finding]:
    rows = _scoped_rows("jzd", "id, jzdh, dkbm, xzbz, yzbz, geom::bytea", scope)
    if not rows:
        return
    numbers = [r[1] for r in rows]
    points = reproject(shapely.from_wkb([r[5] for r in rows]), STORAGE_SRID, ps.srid)
    xy = shapely.get_coordinates(points)
    for k, r in enumerate(rows):
        north, east = float(r[3]), float(r[4])
        dx, dy = abs(east - xy[k, 0]), abs(north - xy[k, 1])
        if max(dx, dy) > tol.jzd + 0.0005:  # XZBZ/YZBZ keep 3 decimals: half a mm of rounding
            yield finding(
                "XREF_JZD",
                f"界址点 {numbers[k]} 的坐标值 X={r[3]} Y={r[4]} 与其位置相差 {max(dx, dy):.4f} 米",
                dkbm=tuple(sorted(c for c in (r[2] or "").split("/") if c)),
                codes=(numbers[k],),
                value=max(dx, dy),
                geometry=points[k],
            )
    row, parcel, unknown = _listed(ps, [r[2] for r in rows])
    for k, codes in sorted(unknown.items()):
        yield finding(
            "XREF_JZD",
            f"界址点 {numbers[k]} 所列地块 {'、'.join(codes)} 不是现势地块",
            dkbm=tuple(sorted(codes)),
            codes=(numbers[k],),
            geometry=points[k],
        )
    if not len(row):
        return
    distance = shapely.distance(points[row], corners_of(ps)[parcel])
    for k, i, d in zip(row, parcel, distance, strict=True):
        if d > tol.jzd:
            yield finding(
                "XREF_JZD",
                f"界址点 {numbers[k]} 不在地块 {ps.codes[i]} 的节点上（最近节点 {d:.4f} 米）",
                dkbm=(ps.codes[i],),
                codes=(numbers[k],),
                value=float(d),
                geometry=points[k],
            )
    yield from _key_points(ps, numbers, row, parcel)


def _key_points(ps: ParcelSet, numbers: list[str], row: np.ndarray, parcel: np.ndarray) -> Iterator[Finding]:
    """KJZB lists the parcel's key boundary points, '/'-separated: each must be one of the
    JZDH of the points that list the parcel. Parcels without boundary points are skipped."""
    of_parcel: dict[int, set[str]] = defaultdict(set)
    for k, i in zip(row, parcel, strict=True):
        of_parcel[int(i)].add(numbers[k])
    codes = [ps.codes[i] for i in sorted(of_parcel)]
    key_points = dict(Parcel.objects.filter(code__in=codes).values_list("code", "key_points"))
    for i in sorted(of_parcel):
        code = ps.codes[i]
        listed = [p.strip() for p in (key_points.get(code) or "").split("/") if p.strip()]
        if not listed:
            yield finding("XREF_KJZB", f"地块 {code} 有界址点，但空间坐标（KJZB）为空", dkbm=(code,))
            continue
        strangers = [p for p in listed if p not in of_parcel[i]]
        if strangers:
            yield finding(
                "XREF_KJZB",
                f"地块 {code} 的空间坐标（KJZB）列出的 {'、'.join(strangers)} 不是本地块的界址点",
                dkbm=(code,),
                codes=tuple(strangers),
            )


def _boundary_lines(ps: ParcelSet, scope: Scope, tol: Tolerances) -> Iterator[Finding]:
    """Each JZX lies on the boundary of every parcel it lists: its vertices and the middle
    of each of its segments within ``jzd`` (0.001 m) of that boundary (the midpoints catch a
    line cutting across a parcel between two of its boundary points)."""
    rows = _scoped_rows("jzx", "id, coalesce(jzxh, ''), dkbm, geom::bytea", scope)
    if not rows:
        return
    labels = [r[1] or f"#{r[0]}" for r in rows]
    lines = reproject(shapely.from_wkb([r[3] for r in rows]), STORAGE_SRID, ps.srid)
    row, parcel, unknown = _listed(ps, [r[2] for r in rows])
    for k, codes in sorted(unknown.items()):
        yield finding(
            "XREF_JZX",
            f"界址线 {labels[k]} 所列地块 {'、'.join(codes)} 不是现势地块",
            dkbm=tuple(sorted(codes)),
            codes=(labels[k],),
            geometry=lines[k],
        )
    if not len(row):
        return
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    same = owner[1:] == owner[:-1]
    mids = (coords[1:][same] + coords[:-1][same]) / 2
    probe = np.concatenate([coords, mids])
    probe_owner = np.concatenate([owner, owner[1:][same]])
    order = np.argsort(probe_owner, kind="stable")
    probe, probe_owner = probe[order], probe_owner[order]
    starts = np.searchsorted(probe_owner, row)
    ends = np.searchsorted(probe_owner, row, side="right")
    counts = ends - starts
    pair = np.repeat(np.arange(len(row)), counts)
    which = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
    distance = shapely.distance(shapely.points(probe[which]), boundaries_of(ps)[parcel[pair]])
    worst = np.zeros(len(row))
    np.maximum.at(worst, pair, distance)
    for k, i, d in zip(row, parcel, worst, strict=True):
        if d > tol.jzd:
            yield finding(
                "XREF_JZX",
                f"界址线 {labels[k]} 不在地块 {ps.codes[i]} 的边界上（最远 {d:.4f} 米）",
                dkbm=(ps.codes[i],),
                codes=(labels[k],),
                value=float(d),
                geometry=lines[k],
            )
