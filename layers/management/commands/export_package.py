"""``manage.py export_package``: write a county's Ministry package (NY/T 2539) to a folder."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from layers.exchange.export import ExportError, export_package
from layers.exchange.metadata import MetadataInfo


class Command(BaseCommand):
    help = (
        "导出县级汇交成果包：{县级代码}{县名}/ 下的矢量数据（各图层 Shapefile 与 SL 元数据）、权属数据（.mdb 与"
        "权属单位代码表）、汇总表格，以及其余标准目录。--zip 另生成同名 .zip。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--county", required=True, help="县级行政区代码（6位），如 310151")
        parser.add_argument("--year", type=int, default=dt.date.today().year, help="年份（4位，默认今年）")
        parser.add_argument("--out", required=True, type=Path, help="输出目录")
        parser.add_argument("--zip", action="store_true", help="同时生成 .zip 压缩包（UTF-8 文件名）")
        parser.add_argument("--overwrite", action="store_true", help="输出目录中已有同名成果包时替换它")
        parser.add_argument(
            "--keep-multipart",
            action="store_true",
            help="多部件地块（导入时已标记的质量问题）按原样导出为一条多环记录，而不是拒绝导出",
        )
        parser.add_argument("--org", default="", help="元数据：负责单位名称（rpOrgName）")
        parser.add_argument("--contact", default="", help="元数据：联系人（rpCnt）")
        parser.add_argument("--phone", default="", help="元数据：联系电话（voiceNum）")
        parser.add_argument("--address", default="", help="元数据：通信地址（cntAddress）")
        parser.add_argument("--postcode", default="", help="元数据：邮政编码（cntCode）")

    def handle(self, *args: Any, **options: Any) -> None:
        info = MetadataInfo(
            org=options["org"],
            contact=options["contact"],
            phone=options["phone"],
            address=options["address"],
            postcode=options["postcode"],
        )
        bar = tqdm(file=sys.stderr, unit="条", desc="导出", dynamic_ncols=True)

        def progress(label: str, done: int) -> None:
            if bar.desc != label:
                bar.set_description_str(label)
            bar.update(done)

        started = time.perf_counter()
        try:
            result = export_package(
                county=options["county"],
                year=options["year"],
                out_dir=options["out"],
                make_zip=options["zip"],
                overwrite=options["overwrite"],
                metadata=info,
                progress=progress,
                keep_multipart=options["keep_multipart"],
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        elapsed = time.perf_counter() - started
        layers = "，".join(f"{name} {count}" for name, count in result.layers.items() if count)
        tables = "，".join(f"{name} {count}" for name, count in result.tables.items() if count)
        self.stdout.write(f"图层：{layers}")
        if result.generated_jzdx:
            self.stdout.write("界址点、界址线由地块生成（库中未登记界址点）。")
        self.stdout.write(f"权属数据：{tables or '无'}")
        if result.multipart:
            listed = ", ".join(result.multipart[:20])
            self.stdout.write(self.style.WARNING(f"{len(result.multipart)} 个多部件地块按原样导出：{listed}"))
        self.stdout.write(self.style.SUCCESS(f"已导出 {result.root}（{elapsed:.1f} 秒，EPSG:{result.srid}）"))
        if result.zip_path is not None:
            self.stdout.write(self.style.SUCCESS(f"压缩包 {result.zip_path}"))
