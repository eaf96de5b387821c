"""``manage.py load_demo``: the deterministic demo county 310151 示范区."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from parcels import demo


class Command(BaseCommand):
    help = (
        "生成并导入示范区（县级代码 310151）的演示数据：乡镇、村、组的范围，发包方，地块（默认 3000 个），"
        "承包方及家庭成员，承包合同、登记簿、权证、流转合同，道路沟渠、坑塘、基本农田保护区、控制点，"
        "一幅合成正射影像，以及各角色的演示账户。同一随机种子和地块数总是生成完全相同的数据。"
        "示范区已存在时默认拒绝执行（请换用新的空数据库）；--replace 先删除示范区的全部数据再生成；"
        "--if-empty 在数据库中已有任一县级区域时什么也不做。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--parcels", type=int, default=demo.DEFAULT_PARCELS, help=f"地块数（默认 {demo.DEFAULT_PARCELS}）"
        )
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help=f"随机种子（默认 {demo.DEFAULT_SEED}）")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--if-empty", action="store_true", help="数据库中已有县级区域时跳过，不报错")
        mode.add_argument("--replace", action="store_true", help="先删除已有的示范区（310151）全部数据")
        parser.add_argument("--no-raster", action="store_true", help="不生成正射影像（更快）")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and demo.any_county_exists():
            self.stdout.write("数据库中已有县级区域，跳过示范数据导入（--if-empty）。")
            return
        try:
            summary = demo.load_demo(
                parcels=options["parcels"],
                seed=options["seed"],
                raster=not options["no_raster"],
                replace=options["replace"],
                log=self.stdout.write,
            )
        except demo.DemoError as exc:
            raise CommandError(str(exc)) from exc
        # Fresh planner statistics: without them the first exports and inspections after a
        # bulk load of 100k parcels pick nested-loop plans that run for minutes.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write(self.style.SUCCESS(summary.report()))
        if summary.accounts:
            self.stdout.write("\n演示账户（仅供本地演示）：")
            self.stdout.write(demo.accounts_table(summary.accounts))
