"""The inspection report as JSON, as GeoJSON of the problem geometries, and as an xlsx
workbook (a summary by rule and the list of findings), from a fresh result or a stored run.

JSON (the management command's ``--json`` and the API)::

    {"county": "310151", "scope": "310151", "parcels_checked": 3000, "errors": 2, "warnings": 5,
     "counts": {"DK_OVERLAP": 1, ...},
     "findings": [{"seq": 1, "rule": "DK_OVERLAP", "severity": "error", "dkbm": ["…", "…"],
                   "codes": [], "area_m2": 12.5, "value": null, "message": "…"}, ...]}

GeoJSON: one Feature per finding that has a place (lon/lat, EPSG:4490 like the rest of the
site's GeoJSON), its properties those of the JSON finding; ``seq`` links the two.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from layers.checks.catalogue import RULE_BY_ID, RULES, Finding, Severity
from layers.models import InspectionFinding, InspectionRun


@dataclass
class Report:
    county: str
    scope: str
    srid: int
    parcels_checked: int
    findings: list[Finding]
    tolerances: dict[str, float] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    duration_s: float | None = None
    run_id: int | None = None
    # stored findings' ids, parallel to ``findings`` (a stored run), else empty
    ids: list[int] = field(default_factory=list)
    # the position of each finding in the full report (1-based), parallel to ``findings``
    seqs: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Any) -> Report:
        """From ``engine.InspectionResult``."""
        return cls(
            county=result.county,
            scope=result.scope.code,
            srid=result.srid,
            parcels_checked=result.parcels_checked,
            findings=list(result.findings),
            tolerances=result.tolerances.as_dict(),
            started_at=result.started_at,
            duration_s=result.duration_s,
            seqs=list(range(1, len(result.findings) + 1)),
            timings=dict(result.timings),
        )

    @classmethod
    def from_run(cls, run: InspectionRun, *, rule: str | None = None, severity: str | None = None) -> Report:
        """From a stored run, optionally only the findings of one rule and/or severity."""
        rows = InspectionFinding.objects.filter(run=run).order_by("seq")
        if rule:
            rows = rows.filter(rule=rule)
        if severity:
            rows = rows.filter(severity=severity)
        findings, ids, seqs = [], [], []
        for row in rows:
            geom = shapely.from_wkb(bytes(row.geom.wkb)) if row.geom is not None else None
            findings.append(
                Finding(
                    rule=row.rule,
                    message=row.message,
                    dkbm=tuple(row.dkbm),
                    codes=tuple(row.codes),
                    area_m2=row.area_m2,
                    value=row.value,
                    geometry=geom,
                )
            )
            ids.append(row.pk)
            seqs.append(row.seq)
        return cls(
            county=run.county,
            scope=run.scope,
            srid=run.area_srid,
            parcels_checked=run.parcels_checked,
            findings=findings,
            tolerances=dict(run.tolerances),
            started_at=run.started_at,
            duration_s=run.duration_s,
            run_id=run.pk,
            ids=ids,
            seqs=seqs,
            timings=dict(run.timings),
        )

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == Severity.WARNING)

    def counts(self) -> dict[str, int]:
        seen: dict[str, int] = {}
        for f in self.findings:
            seen[f.rule] = seen.get(f.rule, 0) + 1
        return {r.id: seen[r.id] for r in RULES if r.id in seen}

    def _finding_dict(self, k: int, f: Finding) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seqs[k] if self.seqs else k + 1}
        if self.ids:
            out["id"] = self.ids[k]
        out.update(f.as_dict())
        return out


def as_json(report: Report) -> dict[str, Any]:
    return {
        "county": report.county,
        "scope": report.scope,
        "run": report.run_id,
        "area_srid": report.srid,
        "parcels_checked": report.parcels_checked,
        "started_at": report.started_at.isoformat() if report.started_at else None,
        "duration_s": report.duration_s,
        "tolerances": report.tolerances,
        "errors": report.errors,
        "warnings": report.warnings,
        "counts": report.counts(),
        "findings": [report._finding_dict(k, f) for k, f in enumerate(report.findings)],
    }


def as_geojson(report: Report) -> dict[str, Any]:
    """A FeatureCollection (lon/lat) of the findings that have a place."""
    placed = [k for k, f in enumerate(report.findings) if f.geometry is not None and not f.geometry.is_empty]
    geoms = np.empty(len(placed), dtype=object)
    geoms[:] = [report.findings[k].geometry for k in placed]
    texts = shapely.to_geojson(geoms) if len(placed) else []
    features = [
        {"type": "Feature", "geometry": json.loads(text), "properties": report._finding_dict(k, report.findings[k])}
        for k, text in zip(placed, texts, strict=True)
    ]
    return {
        "type": "FeatureCollection",
        "properties": {"county": report.county, "scope": report.scope, "run": report.run_id},
        "features": features,
    }


SEVERITY_ZH = {"error": "错误", "warning": "警告"}


def as_xlsx(report: Report) -> bytes:
    """A workbook with a summary sheet (scope, counts by rule with the rule's explanation and
    default tolerance) and the list of findings (with a lon/lat to find each on the map)."""
    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    summary = wb.create_sheet("汇总")
    for col, width in zip("ABCDEFG", (22, 10, 12, 10, 60, 60, 14), strict=True):
        summary.column_dimensions[col].width = width
    started = report.started_at.strftime("%Y-%m-%d %H:%M:%S") if report.started_at else ""
    for label, value in (
        ("检查范围", report.scope),
        ("县级行政区代码", report.county),
        ("投影坐标系（EPSG）", report.srid),
        ("检查地块数", report.parcels_checked),
        ("错误", report.errors),
        ("警告", report.warnings),
        ("开始时间", started),
        ("耗时（秒）", report.duration_s),
    ):
        summary.append([label, value])
    summary.append([])
    titles = ("规则", "严重程度", "类别", "问题数", "说明", "Explanation", "默认容差")
    summary.append([_bold(summary, h, bold) for h in titles])
    counts = report.counts()
    for rule in RULES:
        tolerance = f"{rule.default_tolerance:g} {rule.unit}" if rule.default_tolerance is not None else ""
        severity = SEVERITY_ZH[rule.severity]
        summary.append([rule.id, severity, str(rule.category), counts.get(rule.id, 0), rule.zh, rule.en, tolerance])

    sheet = wb.create_sheet("问题清单")
    widths = (8, 22, 8, 44, 30, 14, 12, 90, 14, 14)
    for col, width in zip("ABCDEFGHIJ", widths, strict=True):
        sheet.column_dimensions[col].width = width
    header = ("序号", "规则", "严重程度", "地块代码", "其他代码", "面积（平方米）", "数值", "说明", "经度", "纬度")
    sheet.append([_bold(sheet, h, bold) for h in header])
    placed = [f.geometry for f in report.findings]
    points = _anchor_points(placed)
    for k, f in enumerate(report.findings):
        lon, lat = points[k]
        sheet.append(
            [
                report.seqs[k] if report.seqs else k + 1,
                f.rule,
                SEVERITY_ZH[RULE_BY_ID[f.rule].severity],
                "、".join(f.dkbm),
                "、".join(f.codes),
                None if f.area_m2 is None else round(f.area_m2, 4),
                None if f.value is None else round(f.value, 6),
                f.message,
                lon,
                lat,
            ]
        )
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _bold(sheet: Any, text: str, font: Font) -> Any:
    cell = WriteOnlyCell(sheet, value=text)
    cell.font = font
    return cell


def _anchor_points(geoms: list[shapely.Geometry | None]) -> list[tuple[float | None, float | None]]:
    """A point on each geometry (lon/lat, 7 decimals ≈ 1 cm) to find it on the map."""
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    has = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    out: list[tuple[float | None, float | None]] = [(None, None)] * len(geoms)
    if has.any():
        pts = shapely.point_on_surface(arr[has])
        xy = shapely.get_coordinates(pts)
        for k, (x, y) in zip(np.flatnonzero(has), xy, strict=True):
            out[int(k)] = (round(float(x), 7), round(float(y), 7))
    return out
