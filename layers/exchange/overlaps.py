"""The import's overlap check of the DK layer, read straight from its shapefiles.

Pairs of parcels whose interiors overlap by more than the topology tolerance: each polygon
is shrunk by the tolerance (parcels that only share an edge then stay apart) and the shrunk
shapes are tested for intersection with an STR-tree. The records' bounding boxes are read
first and sorted by their western edge; the shapes are then read in that order, a batch at
a time, and swept west to east: only the batch and the parcels still reaching into it are
held in memory. Deleted records, null, empty and invalid shapes are left out (the importer
reports the latter as invalid).

The sweep needs no database, so for a large layer it runs in a process of its own while
the importer's SQL checks keep PostgreSQL busy (a thread would share the interpreter lock
with the importer and gain nothing). This module imports no Django, so that a spawned
process can load it.

Example::

    sweep = OverlapSweep([PartSpec(...)], batch=20_000, tolerance=0.001)
    sweep.start()            # in a process when the layer is large
    ...                      # other work
    result = sweep.result()  # findings as (file, feature, message)
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import resource
import time
from dataclasses import dataclass, field

import numpy as np

# Below this many records the sweep runs in the importer's own process when its result is
# asked for: starting a process (~0.5 s) costs more than sweeping a few thousand parcels.
PROCESS_MIN_RECORDS = 20_000


@dataclass(frozen=True)
class PartSpec:
    """One DK shapefile (of a layer split into DK…-1, DK…-2, …) and where in its DBF records
    the parcel's names are, to label findings as the importer's SQL checks do."""

    shp: str
    dbf: str
    file: str  # relative path, for the report
    header_len: int
    record_len: int
    codec: str
    keys: tuple[tuple[str, int, int], ...]  # (DKBM or BSM, offset, width), in order of preference
    records: int


@dataclass
class SweepResult:
    findings: list[tuple[str, str, str]] = field(default_factory=list)  # (file, feature, message)
    seconds: float = 0.0
    peak_mb: float = 0.0  # of the process the sweep ran in


def sweep(parts: list[PartSpec], batch: int, tolerance: float) -> SweepResult:
    import pyogrio
    import pyogrio.raw
    import shapely

    started = time.perf_counter()
    result = SweepResult()
    part_no, fids, xmin, xmax = [], [], [], []
    for index, part in enumerate(parts):
        if part.records == 0:
            continue
        ids, bounds = pyogrio.read_bounds(part.shp)
        keep = np.isfinite(bounds[0])  # null shapes have no box
        part_no.append(np.full(int(keep.sum()), index))
        fids.append(ids[keep])
        xmin.append(bounds[0][keep])
        xmax.append(bounds[2][keep])
    if fids:
        all_parts, all_fids = np.concatenate(part_no), np.concatenate(fids)
        all_xmin, all_xmax = np.concatenate(xmin), np.concatenate(xmax)
        order = np.lexsort((all_fids, all_parts, all_xmin))  # by xmin, ties by file and record
        active_geoms = np.empty(0, dtype=object)
        active_keys: list[tuple[int, int]] = []
        active_xmax = np.empty(0)
        for begin in range(0, len(order), batch):
            members = order[begin : begin + batch]
            shapes = np.empty(len(members), dtype=object)
            for index in np.unique(all_parts[members]).tolist():
                at = np.nonzero(all_parts[members] == index)[0]
                wanted = all_fids[members[at]]
                _meta, got, geometry, _fields = pyogrio.raw.read(
                    parts[index].shp, columns=[], fids=wanted, return_fids=True, force_2d=True
                )
                by_fid = dict(zip(got.tolist(), geometry.tolist(), strict=True))
                shapes[at] = shapely.from_wkb([by_fid.get(f) for f in wanted.tolist()])
            usable = ~(shapely.is_missing(shapes) | shapely.is_empty(shapes))
            usable[usable] = shapely.is_valid(shapes[usable])
            members, shapes = members[usable], shapes[usable]
            if not len(members):
                continue
            keys = list(zip(all_parts[members].tolist(), all_fids[members].tolist(), strict=True))
            shrunk = shapely.buffer(shapes, -tolerance, join_style="mitre")
            keep = active_xmax >= all_xmin[members[0]] - tolerance
            active_geoms = active_geoms[keep]
            active_keys = [k for k, kept in zip(active_keys, keep.tolist(), strict=True) if kept]
            active_xmax = active_xmax[keep]
            pool = np.concatenate([active_geoms, shrunk])
            pool_keys = active_keys + keys
            offset = len(active_geoms)
            left, right = shapely.STRtree(pool).query(shrunk, predicate="intersects")
            left = left + offset
            mask = left < right  # each pair once; a batch member against earlier ones too
            mask |= right < offset
            for i, j in zip(left[mask].tolist(), right[mask].tolist(), strict=True):
                if i == j:
                    continue
                a, b = sorted((_label(parts, *pool_keys[i]), _label(parts, *pool_keys[j])))
                area = float(shapely.area(shapely.intersection(pool[i], pool[j]))) + 0.0
                result.findings.append(
                    (a[1], a[0], f"与地块 {b[0]} 重叠（缩进 {tolerance} m 后仍相交，重叠约 {area:.2f} m²）")
                )
            active_geoms = pool
            active_keys = pool_keys
            active_xmax = np.concatenate([active_xmax, all_xmax[members]])
    result.seconds = time.perf_counter() - started
    result.peak_mb = _peak_mb()
    return result


def _peak_mb() -> float:
    """Peak resident memory of this process since it started its program: ``VmHWM`` (the
    ``ru_maxrss`` of a spawned process also counts the parent's pages it was forked with)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _label(parts: list[PartSpec], index: int, record: int) -> tuple[str, str]:
    """The parcel as the SQL checks name it (DKBM, else ``BSM n``, else ``#record``), and
    its file."""
    part = parts[index]
    with open(part.dbf, "rb") as handle:
        handle.seek(part.header_len + record * part.record_len)
        row = handle.read(part.record_len)
    for name, offset, width in part.keys:
        text = row[offset : offset + width].replace(b"\0", b" ")
        text = text.strip() if name == "BSM" else text.rstrip()
        if text:
            value = text.decode(part.codec, errors="replace")
            return (value if name == "DKBM" else f"BSM {value}"), part.file
    return f"#{record + 1}", part.file


class OverlapSweep:
    """The sweep of one layer, in a spawned process for a large layer (started by
    :meth:`start`), or in the caller's process when :meth:`result` is asked for."""

    def __init__(self, parts: list[PartSpec], *, batch: int, tolerance: float, in_process: bool | None = None) -> None:
        self.parts, self.batch, self.tolerance = parts, batch, tolerance
        records = sum(p.records for p in parts)
        self.in_process = records < PROCESS_MIN_RECORDS if in_process is None else in_process
        self._pool: multiprocessing.pool.Pool | None = None
        self._async: multiprocessing.pool.AsyncResult[SweepResult] | None = None

    def start(self) -> None:
        if self.in_process:
            return
        self._pool = multiprocessing.get_context("spawn").Pool(1)
        self._async = self._pool.apply_async(sweep, (self.parts, self.batch, self.tolerance))

    def result(self) -> SweepResult:
        """The findings; waits for the process (its errors are raised here)."""
        try:
            if self._async is None:
                return sweep(self.parts, self.batch, self.tolerance)
            return self._async.get()
        finally:
            self.close()

    def close(self) -> None:
        """Stops the process, finished or not (an import rejected meanwhile)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
