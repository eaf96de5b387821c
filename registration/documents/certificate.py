"""承包经营权证 (the certificate) and the register book page (登记簿) as PDF."""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer

from parcels.models import ChangeRecord
from registration.documents.data import Entry, mu, sqm
from registration.documents.pdf import FRAME_WIDTH, Styles, build, p, sketch_grid, table
from registration.documents.sketch import render_sketch


def _parcel_rows(entry: Entry) -> list[list[object]]:
    rows: list[list[object]] = [
        ["地块代码", "地块名称", "东至", "西至", "南至", "北至", "面积（m²）", "面积（亩）", "土地利用类型"]
    ]
    for parcel in entry.parcels:
        rows.append(
            [
                parcel.code,
                parcel.name,
                parcel.east,
                parcel.west,
                parcel.south,
                parcel.north,
                sqm(parcel.area),
                mu(parcel.area_mu),
                parcel.land_use_type,
            ]
        )
    rows.append(
        ["合计", f"{len(entry.parcels)} 块", "", "", "", "", sqm(entry.total_area), mu(entry.total_area_mu), ""]
    )
    return rows


PARCEL_WIDTHS = [37 * mm, 18 * mm, 13 * mm, 13 * mm, 13 * mm, 13 * mm, 19 * mm, 16 * mm]


def render_certificate(entry: Entry, *, case_number: str) -> bytes:
    """中华人民共和国农村土地承包经营权证: holder, co-owners, parcels, term, sketches."""
    s = Styles()
    book = entry.book
    certificate = entry.certificate
    story: list[Flowable] = [
        p("中华人民共和国", s.subtitle),
        p("农村土地承包经营权证", s.title),
        p(book.serial if book else "", s.subtitle),
        Spacer(1, 8),
        table(
            [
                ["权证编码", entry.code, "发证机关", certificate.issuing_authority if certificate else ""],
                ["承包方（代表）", entry.contractor.name, "证件号码", entry.contractor.id_number],
                ["发包方", entry.collective.name, "承包方式", entry.method],
                [
                    "承包期限",
                    entry.term_label,
                    "发证日期",
                    f"{certificate.issued_on:%Y年%m月%d日}" if certificate else "",
                ],
                [
                    "承包方地址",
                    entry.contractor.address,
                    "状态",
                    certificate.get_state_display() if certificate else "未发证",
                ],
            ],
            s,
            [26 * mm, 62 * mm, 22 * mm, FRAME_WIDTH - 110 * mm],
            header=False,
            label_columns=(0, 2),
        ),
    ]
    if entry.members:
        story += [
            p("家庭成员（共有人）", s.heading),
            table(
                [["姓名", "性别", "与户主关系", "证件号码", "备注"]]
                + [[m.name, m.sex, m.relation, m.id_number, m.remark] for m in entry.members],
                s,
                [28 * mm, 14 * mm, 28 * mm, 50 * mm, FRAME_WIDTH - 120 * mm],
            ),
        ]
    story += [
        p("承包地块", s.heading),
        table(_parcel_rows(entry), s, [*PARCEL_WIDTHS, FRAME_WIDTH - sum(PARCEL_WIDTHS)]),
        p("附记", s.heading),
        p((book.note if book and book.note else "无"), s.body),
        p("地块示意图", s.heading),
    ]
    story += sketch_grid([render_sketch(c) for c in entry.parcel_codes], s, columns=2, scale=0.85)
    return build(story, title=f"承包经营权证 {entry.code}", footer=f"承包经营权证 {entry.code}  业务 {case_number}")


def render_register_page(entry: Entry, *, case_number: str) -> bytes:
    """The register book page (农村土地承包经营权登记簿) with its change history."""
    s = Styles()
    book = entry.book
    story: list[Flowable] = [
        p("农村土地承包经营权登记簿", s.title),
        p(f"登记簿代码：{entry.code}", s.subtitle),
        Spacer(1, 8),
        table(
            [
                [
                    "发包方",
                    f"{entry.collective.name}（{entry.collective.code}）",
                    "承包方",
                    f"{entry.contractor.name}（{entry.contractor.code}）",
                ],
                ["承包方式", entry.method, "承包期限", book.term if book else entry.term_label],
                [
                    "承包期限起",
                    f"{entry.term_start:%Y-%m-%d}",
                    "承包期限止",
                    "长久不变" if entry.long_term else f"{entry.term_end:%Y-%m-%d}",
                ],
                [
                    "权证流水号",
                    book.serial if book else "",
                    "原权证编号",
                    (book.original_certificate_number or "") if book else "",
                ],
                [
                    "登簿人",
                    book.registrar if book else "",
                    "登记时间",
                    f"{book.registered_on:%Y-%m-%d}" if book else "",
                ],
                ["地块示意图", book.sketch_map if book else "", "状态", book.get_status_display() if book else ""],
            ],
            s,
            [24 * mm, 62 * mm, 24 * mm, FRAME_WIDTH - 110 * mm],
            header=False,
            label_columns=(0, 2),
        ),
        p("承包地块", s.heading),
        table(_parcel_rows(entry), s, [*PARCEL_WIDTHS, FRAME_WIDTH - sum(PARCEL_WIDTHS)]),
        p("登记簿附记", s.heading),
        p((book.note if book and book.note else "无"), s.body),
    ]
    if book is not None:
        history = ChangeRecord.objects.filter(model="parcels.RegisterBook", object_id=book.pk).order_by("version", "id")
        rows: list[list[object]] = [["版本", "时间", "操作", "原因", "登簿人"]]
        for record in history:
            after = record.after or {}
            rows.append(
                [
                    record.version,
                    record.at.strftime("%Y-%m-%d"),
                    record.get_action_display(),
                    record.reason or "",
                    after.get("registrar", ""),
                ]
            )
        story += [
            p("登记簿变更记录", s.heading),
            table(rows, s, [14 * mm, 26 * mm, 22 * mm, 90 * mm, FRAME_WIDTH - 152 * mm]),
        ]
    return build(story, title=f"登记簿 {entry.code}", footer=f"登记簿 {entry.code}  业务 {case_number}")


def render_sketch_map(entry: Entry, *, case_number: str) -> bytes:
    """地块示意图 (DKSYT) of a register entry: every parcel with its neighbours, 300 dpi."""
    s = Styles()
    story: list[Flowable] = [
        p("地块示意图", s.title),
        p(
            f"承包经营权证（登记簿）代码：{entry.code}    承包方：{entry.contractor.name}    "
            f"发包方：{entry.collective.name}",
            s.subtitle,
        ),
        Spacer(1, 6),
    ]
    story += sketch_grid([render_sketch(c) for c in entry.parcel_codes], s, columns=2)
    story.append(p("比例尺见各图；图中红框为本户承包地块，灰色为相邻地块。分辨率 300 dpi。", s.small))
    return build(story, title=f"地块示意图 {entry.code}", footer=f"DKSYT{entry.code}  业务 {case_number}")
