"""``manage.py demo_accounts``: one demo user per role, scoped to the demo county."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from parcels import demo


class Command(BaseCommand):
    help = (
        "创建（或重置）演示账户：每个角色一个用户（surveyor、clerk、reviewer、datastaff、admin、department），"
        "管辖区域为示范区 310151（admin 为全部区域的超级用户），另有第一个村的经办人 villageclerk；"
        f"密码均为 {demo.DEMO_PASSWORD}，仅供本地演示。可重复执行。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--county", default=demo.DEMO_COUNTY, help="县级区域代码（默认 310151）")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            accounts = demo.ensure_demo_accounts(options["county"])
        except demo.DemoError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("演示账户（仅供本地演示）：")
        self.stdout.write(demo.accounts_table(accounts))
