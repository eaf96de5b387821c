"""``python manage.py import_package PATH [--strict] [--replace] [--report FILE]``

Validates a Ministry county package (the county folder or a .zip of it) and loads it in one
transaction; a progress bar goes to stderr. Exit status 0 when loaded (or unchanged: the
same package was imported before), 1 when rejected, with the problems listed and, with
``--report``, written as JSON (or as a readable page when FILE ends in ``.html``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from layers.exchange.importer import PackageImporter, iter_problems
from layers.exchange.report import Status

SHOWN = 50  # problems printed; the report file has them all


class Command(BaseCommand):
    help = "导入农业农村部县级汇交数据包（县级目录或其 .zip）：先全部校验，再在一个事务中写入"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="县级数据包目录（如 310151示范区/）或其 .zip 压缩包")
        parser.add_argument("--strict", action="store_true", help="数据质量问题也拒绝整个数据包")
        parser.add_argument("--replace", action="store_true", help="本县已有数据时，删除后用本数据包替换（同一事务）")
        parser.add_argument("--report", metavar="FILE", help="检查报告写入 FILE（JSON；以 .html 结尾则为网页）")
        parser.add_argument("--no-overlaps", action="store_true", help="不检查地块重叠（大县可省时间）")
        parser.add_argument("--inspect", action="store_true", help="导入后运行完整质检并保存质检记录")
        parser.add_argument("--no-progress", action="store_true", help="不显示进度条")

    def handle(self, *args: Any, **options: Any) -> None:
        from tqdm import tqdm

        path = Path(options["path"])
        bar = None
        if not options["no_progress"]:
            bar = tqdm(total=100, unit="%", file=sys.stderr, bar_format="{desc} {bar} {n:.0f}% [{elapsed}]")

        def progress(stage: str, fraction: float) -> None:
            if bar is not None:
                bar.set_description_str(stage)
                bar.n = round(100 * fraction, 1)
                bar.refresh()

        try:
            report = PackageImporter(
                path,
                strict=options["strict"],
                replace=options["replace"],
                progress=progress,
                check_overlaps=not options["no_overlaps"],
                inspect=options["inspect"],
            ).run()
        finally:
            if bar is not None:
                bar.close()
        if options["report"]:
            report.write(Path(options["report"]))
        lines = list(iter_problems(report))
        for line in lines[:SHOWN]:
            self.stdout.write(line)
        if len(lines) > SHOWN:
            self.stdout.write(f"……另有 {len(lines) - SHOWN} 条问题，见报告文件")
        for note in report.notes:
            self.stdout.write(f"说明：{note}")
        summary = (
            f"{report.status_label}：{report.county_code}{report.county_name} {report.year}，"
            f"结构问题 {report.count('structural')} 条，数据质量问题 {report.count('quality')} 条，"
            f"用时 {report.seconds:.1f} 秒"
        )
        if report.counts:
            summary += "；写入 " + "、".join(f"{k} {v}" for k, v in report.counts.items() if v)
        if report.status in (Status.LOADED, Status.UNCHANGED):
            self.stdout.write(self.style.SUCCESS(summary))
            return
        self.stderr.write(self.style.ERROR(summary))
        raise CommandError("数据包被拒绝，数据库未做任何更改", returncode=1)
