"""承包合同 (the standard contracting contract) as PDF: parties, parcels with 四至 and areas
in m² and 亩, the term (长久不变 where it applies), parcel sketches, the parties' signatures
and a QR code that opens the public verification page."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Image, Spacer, Table, TableStyle

from registration.documents.data import Entry, mu, sqm
from registration.documents.pdf import FRAME_WIDTH, Styles, build, p, qr_code, sketch_grid, table, watermark
from registration.documents.sketch import render_sketch

CLAUSES = (
    "发包方将上述地块发包给承包方经营，承包方依法享有承包地使用、收益、流转的权利，有权自主组织生产经营和处置产品。",
    "承包方应维持土地的农业用途，未经依法批准不得用于非农建设；应依法保护和合理利用土地，不得给土地造成永久性损害。",
    "承包期内，发包方不得收回、调整承包地；承包方全家迁入设区的市转为非农业户口的，按照法律规定办理。",
    "承包经营权的转让、互换等变更，应当依法向登记机构申请变更登记。",
    "本合同自双方签字（盖章）之日起生效，一式三份，发包方、承包方和登记机构各执一份。",
)


@dataclass(frozen=True)
class SignatureLine:
    party: str  # 发包方 / 承包方
    signer: str
    signed_on: dt.date
    method: str
    image: bytes | None = None


def render_contract(
    entry: Entry,
    *,
    verify_url: str,
    case_number: str,
    draft: bool,
    signatures: list[SignatureLine] | None = None,
) -> bytes:
    """The contract of ``entry``. A draft (before registration) carries a 草稿 mark."""
    s = Styles()
    signatures = signatures or []
    story: list[Flowable] = [
        p("农村土地承包经营权承包合同", s.title),
        p(f"合同编号：{entry.code}        业务流水号：{case_number}", s.subtitle),
        Spacer(1, 6),
        p("一、合同双方", s.heading),
        table(
            [
                ["发包方", entry.collective.name, "发包方代码", entry.collective.code],
                ["负责人", entry.collective.head_name, "地址", entry.collective.address],
                ["承包方（代表）", entry.contractor.name, "承包方代码", entry.contractor.code],
                [f"证件（{entry.id_type}）", entry.contractor.id_number, "地址", entry.contractor.address],
            ],
            s,
            [28 * mm, 57 * mm, 25 * mm, FRAME_WIDTH - 110 * mm],
            header=False,
            label_columns=(0, 2),
        ),
    ]
    if entry.members:
        story += [
            p("承包方家庭成员（共有人）", s.heading),
            table(
                [["姓名", "性别", "与户主关系", "证件号码", "备注"]]
                + [[m.name, m.sex, m.relation, m.id_number, m.remark] for m in entry.members],
                s,
                [28 * mm, 14 * mm, 28 * mm, 50 * mm, FRAME_WIDTH - 120 * mm],
            ),
        ]
    rows: list[list[object]] = [
        ["地块代码", "地块名称", "东至", "西至", "南至", "北至", "合同面积（m²）", "合同面积（亩）"]
    ]
    for parcel in entry.parcels:
        rows.append(
            [
                parcel.code,
                parcel.name + ("（确股）" if parcel.is_share else ""),
                parcel.east,
                parcel.west,
                parcel.south,
                parcel.north,
                sqm(parcel.area),
                mu(parcel.area_mu),
            ]
        )
    rows.append(["合计", f"{len(entry.parcels)} 块", "", "", "", "", sqm(entry.total_area), mu(entry.total_area_mu)])
    story += [
        p("二、承包地块", s.heading),
        table(rows, s, [37 * mm, 20 * mm, 14 * mm, 14 * mm, 14 * mm, 14 * mm, 25 * mm, FRAME_WIDTH - 138 * mm]),
        p("三、承包方式与期限", s.heading),
        p(f"承包方式：{entry.method}。承包期限：{entry.term_label}。", s.body),
        p("四、双方的权利和义务", s.heading),
    ]
    story += [p(f"{i}. {text}", s.body) for i, text in enumerate(CLAUSES, start=1)]
    story += [p("五、地块示意图", s.heading)]
    story += sketch_grid([render_sketch(c) for c in entry.parcel_codes], s, columns=2, scale=0.85)
    by_party = {line.party: line for line in signatures}

    def sign_cell(party: str, title: str) -> list[Flowable]:
        line = by_party.get(party)
        cell: list[Flowable] = [p(title, s.body)]
        if line is None:
            cell += [Spacer(1, 14 * mm), p("签字：____________    日期：____年__月__日", s.body)]
            return cell
        if line.image:
            cell.append(Image(io.BytesIO(line.image), width=40 * mm, height=15 * mm, kind="proportional"))
        cell.append(p(f"已签字确认：{line.signer}（{line.method}）", s.body))
        cell.append(p(f"签字日期：{line.signed_on:%Y年%m月%d日}", s.body))
        return cell

    signing = Table(
        [[sign_cell("发包方", "发包方（盖章）："), sign_cell("承包方", "承包方（代表）：")]],
        colWidths=[FRAME_WIDTH / 2] * 2,
    )
    signing.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    verification = Table(
        [
            [
                qr_code(verify_url),
                [p("扫描二维码核验本合同的登记状态。", s.small), p(f"核验地址：{verify_url}", s.small)],
            ]
        ],
        colWidths=[32 * mm, FRAME_WIDTH - 32 * mm],
    )
    verification.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [p("六、签字确认", s.heading), signing, Spacer(1, 6), verification]
    if draft:
        story.insert(2, p("（合同草稿：双方签字确认、登记机构登簿后生效）", s.subtitle))
    return build(
        story,
        title=f"承包合同 {entry.code}",
        footer=f"承包合同 {entry.code}  业务 {case_number}",
        on_page=watermark("草稿") if draft else None,
    )
