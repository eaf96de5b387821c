"""``python manage.py load_raster FILE.tif [--name NAME] [--title 标题] [--replace] [--copy]``

Registers an orthophoto (or any 8-bit raster GDAL reads, in any CRS) for the map's raster
tiles at ``/tiles/raster/<name>/{z}/{x}/{y}.png``. Thin wrapper around
``layers.services_rasters.raster_register``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gisapp.errors import DomainError
from layers.services_rasters import raster_register


class Command(BaseCommand):
    help = "登记正射影像（GeoTIFF 等，任意坐标系），供地图按瓦片显示"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="影像文件路径")
        parser.add_argument("--name", help="影像名称（用于瓦片地址，字母、数字、连字符；默认取文件名）")
        parser.add_argument("--title", default="", help="图层标题（中文显示名）")
        parser.add_argument("--replace", action="store_true", help="名称已存在时替换原登记")
        parser.add_argument(
            "--copy",
            action="store_true",
            help="在 MEDIA_ROOT/rasters/ 生成分块、带金字塔的优化副本并登记副本（原文件不变）",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = raster_register(
                path=options["file"],
                name=options["name"],
                title=options["title"],
                replace=options["replace"],
                copy=options["copy"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        raster = report.raster
        west, south, east, north = raster.footprint.extent
        lines = [
            f"已登记影像 {raster.name}（{raster.title}）",
            f"  文件：{raster.path}",
            f"  坐标系：{report.crs}；{report.size[0]}×{report.size[1]} 像素，{report.bands} 个波段",
            f"  分辨率：{report.resolution[0]:.6g} × {report.resolution[1]:.6g}（坐标系单位）",
            f"  范围（CGCS2000）：{west:.6f}, {south:.6f} — {east:.6f}, {north:.6f}",
            f"  金字塔：{', '.join(map(str, report.overviews)) or '无'}；分块存储：{'是' if report.tiled else '否'}",
            f"  瓦片地址：/tiles/raster/{raster.name}/{{z}}/{{x}}/{{y}}.png",
        ]
        if report.copied_to:
            lines.append(f"  优化副本：{report.copied_to}")
        self.stdout.write("\n".join(lines))
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"注意：{warning}"))
