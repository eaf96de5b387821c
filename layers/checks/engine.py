"""Runs every rule over a county, town or village and hands back the findings in report order.

Order of work: parcels out of PostGIS (one binary query, projected with pyproj), the shape
of each parcel, overlaps, gaps, region boundaries, neighbours' vertices, attributes, then the
cross-table rules. The report order is the catalogue's order of rules, then the parcels'
codes, then the other codes: the same data always gives the same report, line for line.

Example::

    result = run_inspection("310151", tolerances=Tolerances(min_overlap_area=0.1))
    result.errors, result.counts()["DK_OVERLAP"]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction
from django.utils import timezone

from accounts.scoping import ensure_in_jurisdiction
from layers.checks import attributes, crossref, geometry, topology
from layers.checks.catalogue import RULES, Finding, Severity, Tolerances, sort_findings
from layers.checks.dataset import STORAGE_SRID, Scope, load_cover, load_parcels, load_regions, reproject
from layers.models import InspectionFinding, InspectionRun

Progress = Callable[[str], None]
# Told when a stage begins: its label (Chinese, for a progress bar) and the share of the
# whole run done before it (0-1).
StageProgress = Callable[[str, float], None]

KEEP_RUNS_PER_SCOPE = 10

# The stages in order, with a label and a rough share of a run's time (shares measured on the
# 3,000-parcel demo county: attributes ≈ 30 %, geometry and load ≈ 15 % each, regions ≈ 2 %);
# a progress bar advances by them. ``save`` is record_inspection's own: storing the findings.
STAGES: tuple[tuple[str, str, float], ...] = (
    ("load", "读取地块", 0.13),
    ("geometry", "检查地块图形", 0.16),
    ("overlaps", "检查重叠", 0.11),
    ("gaps", "检查缝隙", 0.10),
    ("regions", "检查区域边界", 0.03),
    ("vertices", "检查相邻节点", 0.06),
    ("attributes", "检查编码与属性", 0.26),
    ("crossref", "检查关联表", 0.08),
    ("report", "整理报告", 0.02),
    ("save", "保存结果", 0.05),
)
STAGE_LABEL = {name: label for name, label, _ in STAGES}
STAGE_START = {name: round(sum(share for *_, share in STAGES[:k]), 4) for k, (name, _, _) in enumerate(STAGES)}
# run_inspection's stages announce the next one when they end; ``save`` is announced by record_inspection
_NEXT_STAGE = {STAGES[k][0]: STAGES[k + 1][0] for k in range(len(STAGES) - 1) if STAGES[k + 1][0] != "save"}


@dataclass
class InspectionResult:
    scope: Scope
    srid: int
    parcels_checked: int
    tolerances: Tolerances
    findings: list[Finding]
    started_at: dt.datetime
    duration_s: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def county(self) -> str:
        return self.scope.county

    def counts(self) -> dict[str, int]:
        """Findings per rule, in catalogue order, rules without findings left out."""
        seen = Counter(f.rule for f in self.findings)
        return {r.id: seen[r.id] for r in RULES if seen[r.id]}

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == Severity.WARNING)


class _Clock:
    def __init__(self, progress: Progress | None, on_stage: StageProgress | None = None) -> None:
        self.progress = progress
        self.on_stage = on_stage
        self.timings: dict[str, float] = {}
        self.t0 = self.last = time.perf_counter()
        self.begin("load")

    def begin(self, stage: str) -> None:
        if self.on_stage is not None:
            self.on_stage(STAGE_LABEL[stage], STAGE_START[stage])

    def lap(self, stage: str, detail: str = "") -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self.last, 4)
        self.last = now
        if self.progress is not None:
            self.progress(f"{stage}: {self.timings[stage]:.2f} s{(' — ' + detail) if detail else ''}")
        following = _NEXT_STAGE.get(stage)
        if following is not None:
            self.begin(following)

    @property
    def total(self) -> float:
        return time.perf_counter() - self.t0


def run_inspection(
    scope: Scope | str,
    *,
    tolerances: Tolerances | None = None,
    progress: Progress | None = None,
    on_stage: StageProgress | None = None,
) -> InspectionResult:
    """Every rule over the current data of ``scope`` (a county, town or village code).
    ``progress`` gets a line per finished stage (the command prints them), ``on_stage`` the
    label and the share done when a stage begins (the QC page's progress bar)."""
    scope = scope if isinstance(scope, Scope) else Scope.of(scope)
    tol = tolerances or Tolerances()
    started = timezone.now()
    clock = _Clock(progress, on_stage)
    ps = load_parcels(scope)
    clock.lap("load", f"{ps.checked} 个地块（另有范围外相邻地块 {len(ps) - ps.checked} 个），EPSG:{ps.srid}")

    found: list[Finding] = []
    found += geometry.check_geometry(ps, tol)
    clock.lap("geometry", f"{len(ps.topology_index)} 个有效地块")
    overlap_findings, overlaps = topology.check_overlaps(ps, tol)
    found += overlap_findings
    clock.lap("overlaps", f"{len(overlap_findings)} 处重叠")
    cover = load_cover(scope, ps.srid, tol.line_feature_width)
    gaps = topology.check_gaps(ps, tol, cover)
    found += gaps
    clock.lap("gaps", f"{len(gaps)} 处缝隙")
    regions = topology.check_regions(ps, tol, load_regions(scope, ps.srid))
    found += regions
    clock.lap("regions", f"{len(regions)} 个地块超出区域")
    vertices = topology.check_vertices(ps, tol, overlaps)
    found += vertices
    clock.lap("vertices", f"{len(vertices)} 处节点问题")
    attrs = attributes.check_attributes(ps, scope, tol)
    found += attrs
    clock.lap("attributes", f"{len(attrs)} 个属性问题")
    refs = crossref.check_crossref(ps, scope, tol)
    found += refs
    clock.lap("crossref", f"{len(refs)} 个关联问题")

    findings = _to_storage_crs(sort_findings(found), ps.srid)
    clock.lap("report")
    return InspectionResult(
        scope=scope,
        srid=ps.srid,
        parcels_checked=ps.checked,
        tolerances=tol,
        findings=findings,
        started_at=started,
        duration_s=round(clock.total, 4),
        timings=clock.timings,
    )


def _to_storage_crs(findings: list[Finding], srid: int) -> list[Finding]:
    """The rules build geometry in metres; consumers (GeoJSON, the map, the database) want
    EPSG:4490 lon/lat. One vectorised transform for all of them."""
    with_geom = [k for k, f in enumerate(findings) if f.geometry is not None]
    if not with_geom:
        return findings
    geoms = np.empty(len(with_geom), dtype=object)
    geoms[:] = [findings[k].geometry for k in with_geom]
    moved = reproject(geoms, srid, STORAGE_SRID)
    out = list(findings)
    for k, g in zip(with_geom, moved, strict=True):
        out[k] = dataclasses.replace(out[k], geometry=g)
    return out


@transaction.atomic
def record_inspection(
    *,
    actor: Any,
    scope: Scope | str,
    tolerances: Tolerances | None = None,
    progress: Progress | None = None,
    on_stage: StageProgress | None = None,
    run: InspectionRun | None = None,
) -> InspectionRun:
    """Run an inspection for ``actor`` (data staff; ``None`` = system) and store it with its
    findings; older runs of the same scope beyond the latest ``KEEP_RUNS_PER_SCOPE`` go.
    ``run``: a stored ``running`` run of this scope to complete (the QC page's background
    runs) instead of a new one.

    Example: ``record_inspection(actor=request.user, scope="310151101")``
    """
    scope = scope if isinstance(scope, Scope) else Scope.of(scope)
    ensure_in_jurisdiction(actor, scope.code)
    result = run_inspection(scope, tolerances=tolerances, progress=progress, on_stage=on_stage)
    if on_stage is not None:
        on_stage(STAGE_LABEL["save"], STAGE_START["save"])
    if run is None:
        run = InspectionRun(scope=scope.code, started_at=result.started_at)
    elif run.scope != scope.code:
        raise ValueError(f"run {run.pk} is of scope {run.scope}, not {scope.code}")
    run.county = scope.county
    run.area_srid = result.srid
    run.state = InspectionRun.State.DONE
    run.stage = "完成"
    run.progress = 1.0
    run.finished_at = timezone.now()
    run.duration_s = result.duration_s
    run.requested_by = actor if getattr(actor, "pk", None) else None
    run.tolerances = result.tolerances.as_dict()
    run.parcels_checked = result.parcels_checked
    run.error_count = result.errors
    run.warning_count = result.warnings
    run.counts = result.counts()
    run.timings = result.timings
    run.save()
    InspectionFinding.objects.bulk_create(
        [
            InspectionFinding(
                run=run,
                seq=seq,
                rule=f.rule,
                severity=f.severity,
                dkbm=list(f.dkbm),
                codes=list(f.codes),
                area_m2=f.area_m2,
                value=f.value,
                message=f.message,
                geom=_geos(f.geometry),
            )
            for seq, f in enumerate(result.findings, start=1)
        ],
        batch_size=2000,
    )
    kept = InspectionRun.objects.filter(scope=scope.code).exclude(state=InspectionRun.State.RUNNING)
    stale = kept.values_list("pk", flat=True)[KEEP_RUNS_PER_SCOPE:]
    InspectionRun.objects.filter(pk__in=list(stale)).delete()
    return run


def _geos(geom: shapely.Geometry | None) -> GEOSGeometry | None:
    if geom is None or shapely.is_empty(geom):
        return None
    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=STORAGE_SRID)
