"""The import report: every problem found in a county package, and what was loaded.

A problem names where it is (file, layer or table, feature, field), which rule it breaks
and how bad it is:

* ``structural``: the package cannot be loaded as it is (a missing or unreadable file, a
  wrong field set, an unknown CRS, a broken reference the database's keys cannot hold).
  Any structural problem rejects the whole package and nothing is written.
* ``quality``: the data can be stored but breaks a rule of the standard (invalid or
  multi-part geometry, overlaps, areas that disagree, values outside a code table). Such
  features are loaded and listed; ``--strict`` rejects the package instead.

The report is JSON-ready (``as_dict``) and renders as a readable page (``to_html``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["structural", "quality"]
STRUCTURAL: Severity = "structural"
QUALITY: Severity = "quality"

# Problems kept per rule; the rest are counted. A county with 100 k invalid parcels gives a
# report that still opens in a browser, and the count says how many there were.
MAX_PER_RULE = 20_000


class Status:
    LOADED = "loaded"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    FAILED = "failed"

    LABELS = {LOADED: "已导入", UNCHANGED: "未更改（相同数据包已导入）", REJECTED: "已拒绝", FAILED: "导入失败"}


# Chinese titles of the rules, for the readable page (the JSON keeps the rule id).
RULE_TITLES: dict[str, str] = {
    "package_path": "数据包路径",
    "package_name": "数据包命名",
    "zip_invalid": "压缩包无法读取",
    "zip_unsafe": "压缩包路径不安全",
    "folder_missing": "目录缺失",
    "file_missing": "文件缺失",
    "file_name": "文件命名",
    "file_unreadable": "文件无法读取",
    "layer_missing": "图层缺失",
    "layer_empty": "图层为空",
    "shp_truncated": "SHP文件被截断",
    "shp_mismatch": "SHP/SHX/DBF记录数不一致",
    "geometry_type": "几何类型不符",
    "crs_missing": "缺少坐标系文件",
    "crs_unknown": "无法识别的坐标系",
    "crs_coordinates": "坐标与坐标系不符",
    "encoding": "文字编码",
    "field_missing": "字段缺失",
    "field_type": "字段类型不符",
    "field_width": "字段宽度不符",
    "table_missing": "数据表缺失",
    "value_format": "数值格式",
    "value_length": "值超过字段宽度",
    "required": "必填项为空",
    "duplicate_key": "编码重复",
    "code_format": "编码格式",
    "out_of_county": "编码不属于本县",
    "reference": "引用不存在",
    "constraint": "不满足数据库约束",
    "geometry_missing": "图形为空",
    "geometry_invalid": "图形无效",
    "geometry_multipart": "多部件图形",
    "overlap": "图斑重叠",
    "area_mismatch": "面积与图形不符",
    "mu_mismatch": "亩与平方米不符",
    "domain": "代码值不在代码表中",
    "feature_code": "要素代码不符",
    "consistency": "表间不一致",
    "metadata": "元数据",
    "jurisdiction": "超出管辖范围",
    "already_loaded": "本县已有数据",
    "database": "数据库拒绝写入",
}


@dataclass
class Problem:
    """One finding. ``feature`` is the feature's code (DKBM, CBFBM…) or BSM, or ``#n`` for
    the n-th record when it has neither."""

    severity: Severity
    rule: str
    message: str
    file: str = ""
    layer: str = ""
    feature: str = ""
    field: str = ""


@dataclass
class ImportReport:
    """What one import found and did. ``status`` is one of :class:`Status`."""

    source: str
    strict: bool = False
    status: str = ""
    county_code: str = ""
    county_name: str = ""
    year: str = ""
    fingerprint: str = ""
    problems: list[Problem] = field(default_factory=list)
    # Rule -> problems found beyond MAX_PER_RULE (counted, not listed).
    omitted: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # Seconds per step (inspect, stage DK, checks, overlaps, load, …), for benchmarks.
    timings: dict[str, float] = field(default_factory=dict)
    # Peak resident memory (MB) of helper processes that ran beside the import (the overlap
    # sweep of a large DK layer), for benchmarks.
    helper_peak_mb: dict[str, float] = field(default_factory=dict)
    started_at: str = field(default_factory=lambda: dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    seconds: float = 0.0
    _per_rule: Counter[str] = field(default_factory=Counter, repr=False)

    def add(
        self,
        severity: Severity,
        rule: str,
        message: str,
        *,
        file: str = "",
        layer: str = "",
        feature: str = "",
        field: str = "",
    ) -> None:
        key = f"{severity}:{rule}"
        self._per_rule[key] += 1
        if self._per_rule[key] > MAX_PER_RULE:
            self.omitted[key] += 1
            return
        self.problems.append(Problem(severity, rule, message, file, layer, feature, field))

    def structural(self, rule: str, message: str, **where: str) -> None:
        self.add(STRUCTURAL, rule, message, **where)

    def quality(self, rule: str, message: str, **where: str) -> None:
        self.add(QUALITY, rule, message, **where)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def count(self, severity: Severity) -> int:
        """Problems of a severity, listed or not."""
        return sum(n for key, n in self._per_rule.items() if key.startswith(severity + ":"))

    @property
    def count_structural(self) -> int:
        return self.count(STRUCTURAL)

    @property
    def count_quality(self) -> int:
        return self.count(QUALITY)

    @property
    def has_structural(self) -> bool:
        return self.count(STRUCTURAL) > 0

    @property
    def has_quality(self) -> bool:
        return self.count(QUALITY) > 0

    @property
    def accepted(self) -> bool:
        return self.status in (Status.LOADED, Status.UNCHANGED)

    def rules(self) -> list[dict[str, Any]]:
        """Problems grouped by severity and rule, structural first, for the readable page."""
        groups: dict[tuple[str, str], list[Problem]] = {}
        for problem in self.problems:
            groups.setdefault((problem.severity, problem.rule), []).append(problem)
        out = []
        for (severity, rule), problems in sorted(groups.items(), key=lambda kv: (kv[0][0] != STRUCTURAL, kv[0][1])):
            out.append(
                {
                    "severity": severity,
                    "rule": rule,
                    "title": RULE_TITLES.get(rule, rule),
                    "count": len(problems) + self.omitted.get(f"{severity}:{rule}", 0),
                    "problems": problems,
                }
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "strict": self.strict,
            "county_code": self.county_code,
            "county_name": self.county_name,
            "year": self.year,
            "fingerprint": self.fingerprint,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
            "counts": self.counts,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "helper_peak_mb": {k: round(v, 1) for k, v in self.helper_peak_mb.items()},
            "summary": {
                "structural": self.count(STRUCTURAL),
                "quality": self.count(QUALITY),
                "by_rule": {key: n for key, n in sorted(self._per_rule.items())},
            },
            "notes": self.notes,
            "problems": [asdict(p) for p in self.problems],
            "omitted": dict(self.omitted),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        report = cls(source=data.get("source", ""), strict=bool(data.get("strict")))
        for name in ("status", "county_code", "county_name", "year", "fingerprint", "started_at"):
            setattr(report, name, data.get(name, ""))
        report.seconds = float(data.get("seconds", 0.0))
        report.counts = dict(data.get("counts", {}))
        report.timings = dict(data.get("timings", {}))
        report.helper_peak_mb = dict(data.get("helper_peak_mb", {}))
        report.notes = list(data.get("notes", []))
        report.problems = [Problem(**p) for p in data.get("problems", [])]
        report.omitted = Counter(data.get("omitted", {}))
        report._per_rule = Counter(data.get("summary", {}).get("by_rule", {}))
        return report

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=1)

    def to_html(self) -> str:
        """A standalone page (no site layout), for ``--report FILE.html`` and e-mail."""
        from django.template.loader import render_to_string

        return render_to_string("layers/import_report_page.html", {"report": self})

    def write(self, path: Path) -> None:
        """JSON, or the readable page when the name ends in ``.html``/``.htm``."""
        text = self.to_html() if path.suffix.lower() in (".html", ".htm") else self.to_json()
        path.write_text(text, encoding="utf-8")

    @property
    def status_label(self) -> str:
        return Status.LABELS.get(self.status, self.status)
