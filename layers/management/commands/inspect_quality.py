"""``manage.py inspect_quality``: the quality inspection of a county, town or village.

Example::

    python manage.py inspect_quality --county 310151 --village 310151101001 --json out.json \\
        --geojson out.geojson --xlsx out.xlsx --min-overlap-area 0.1

Exit status 1 when the report has errors (warnings alone give 0), 2 on bad arguments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gisapp.errors import DomainError
from layers.checks import report
from layers.checks.catalogue import DEFAULT_TOLERANCES
from layers.checks.dataset import Scope
from layers.checks.engine import record_inspection, run_inspection


class Command(BaseCommand):
    help = (
        "质检：检查一个县（或其中一个乡镇、村）的地块图形、拓扑、属性和权属表关联，"
        "写出 JSON 报告（可选 GeoJSON 问题图形和 xlsx）。有错误时退出码为 1。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--county", required=True, help="县级行政区代码（6位）")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--town", help="只检查这个乡镇（9位代码）")
        where.add_argument("--village", help="只检查这个村（12位代码）")
        parser.add_argument("--json", required=True, metavar="OUT.json", help="JSON 报告的路径（- 为标准输出）")
        parser.add_argument("--geojson", metavar="OUT.geojson", help="问题图形的 GeoJSON 路径（经纬度）")
        parser.add_argument("--xlsx", metavar="OUT.xlsx", help="xlsx 报告的路径")
        parser.add_argument(
            "--min-overlap-area",
            type=float,
            metavar="M2",
            help=f"小于此面积的重叠、缝隙不报告（平方米，默认 {DEFAULT_TOLERANCES.min_overlap_area:g}）",
        )
        parser.add_argument(
            "--tolerance",
            type=float,
            metavar="M",
            help=f"拓扑容差（米，默认 {DEFAULT_TOLERANCES.topology:g}）：窄于其两倍的重叠、缝隙不报告",
        )
        parser.add_argument("--save", action="store_true", help="同时把结果存入数据库（质检记录）")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scope = Scope.parse(county=options["county"], town=options["town"], village=options["village"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        tolerances = DEFAULT_TOLERANCES.replace(
            topology=options["tolerance"], min_overlap_area=options["min_overlap_area"]
        )
        if tolerances.topology < 0 or tolerances.min_overlap_area < 0:
            raise CommandError("容差和最小面积不能为负数")

        def progress(message: str) -> None:
            self.stderr.write(message)

        if options["save"]:
            run = record_inspection(actor=None, scope=scope, tolerances=tolerances, progress=progress)
            result = report.Report.from_run(run)
        else:
            result = report.Report.from_result(run_inspection(scope, tolerances=tolerances, progress=progress))
        body = json.dumps(report.as_json(result), ensure_ascii=False, indent=1)
        if options["json"] == "-":
            self.stdout.write(body)
        else:
            Path(options["json"]).write_text(body, encoding="utf-8")
        if options["geojson"]:
            Path(options["geojson"]).write_text(json.dumps(report.as_geojson(result), ensure_ascii=False), "utf-8")
        if options["xlsx"]:
            Path(options["xlsx"]).write_bytes(report.as_xlsx(result))
        self.stderr.write(
            f"检查 {result.parcels_checked} 个地块：{result.errors} 个错误，{result.warnings} 个警告，"
            f"用时 {result.duration_s:.2f} 秒"
        )
        if result.errors:
            sys.exit(1)
