"""The six 汇总表格 and the 权属单位代码表 of the county package (digest §4.4-4.5), as .xls.

Headers are copied from the Ministry's templates (``shared/ministry/templates/按*.xls``): the
header rows' text, merged cells, column widths, row heights, fonts, alignment and borders,
so that our tables look like theirs; data rows follow, one per 权属单位 (region) from the
county down to the groups, each the sum over the collectives (发包方) whose code begins with
the unit's code. Sums are taken in Decimal from per-parcel 亩 values, so a unit's total is
exactly the sum of its children (the QC tolerance is 0.05 亩).

What is counted (the templates do not say; SII and YuLinTu do as here, digest §4.5):

* parcels: current parcels; 承包地块 are DKLB 10, 非承包地块 the others (21/22/23/99); the
  area is SCMJM (实测面积亩), or SCMJ × 0.0015 rounded half-up where SCMJM is empty. The land
  use and basic-farmland tables split the 承包地块 area, so their 合计 equals 承包地块总面积;
  the non-contracted table splits the rest, so its 合计 equals 非承包地块总面积.
* contractors: current CBF rows by CBFLX (1 农户, 2 个人, 3 单位); 家庭成员数量 counts the
  current CBF_JTCY rows of the households.
* certificates: valid CBJYQZ rows; 家庭承包 when the register book's CBFS is 110; the area is
  the contract's HTZMJM (HTZMJ × 0.0015 where empty).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import xlrd
import xlwt
from django.db.models import Count, DecimalField, F, Sum, Value
from django.db.models.functions import Coalesce, Left, Round

from gisapp.config import config
from parcels.models import Certificate, Collective, Contract, Contractor, FamilyMember, Parcel, Region
from parcels.models.base import Status

# The Ministry's templates; NONGDI_TEMPLATE_DIR where the shared folder is elsewhere (images).
TEMPLATES = Path(
    os.environ.get("NONGDI_TEMPLATE_DIR", Path(__file__).resolve().parents[3] / "shared" / "ministry" / "templates")
)
ZERO = Decimal("0")
CODE_WIDTH = 14

Metrics = dict[str, Decimal]


def unit_code(code: str) -> str:
    """权属单位代码: the region code right-padded with 0 to 14 digits."""
    return code.ljust(CODE_WIDTH, "0")


def full_names(regions: Iterable[Region]) -> dict[str, str]:
    """Each region's full name: its ancestors' names then its own (省 市 县 乡 村 组; the
    levels held among ``regions``)."""
    names = {r.code: r.name for r in regions}
    return {
        code: "".join(names[code[:n]] for n in (2, 4, 6, 9, 12, 14) if n <= len(code) and code[:n] in names)
        for code in names
    }


def county_regions(county: Region) -> list[Region]:
    return list(Region.objects.filter(code__startswith=county.code).order_by("code"))


def upper_regions(county: Region) -> list[Region]:
    """The province and city above the county, where held."""
    prefixes = [county.code[:2], county.code[:4]]
    return list(Region.objects.filter(code__in=prefixes, level__in=["province", "city"]).order_by("code"))


# --- the figures, per collective (14-digit code) -----------------------------------------


def _mu(area: str, area_mu: str) -> Coalesce:
    """亩 of a row: the stored 亩 field, else round(m² × 0.0015, 2) (half-up, as sqm_to_mu)."""
    return Coalesce(area_mu, Round(F(area) * Value(config().mu_per_sqm), 2), Value(ZERO), output_field=DecimalField())


def collect(county: str) -> dict[str, Metrics]:
    """Every figure of the six tables, per collective code (the first 14 digits)."""
    units: dict[str, Metrics] = defaultdict(lambda: defaultdict(lambda: ZERO))

    def add(unit: str, key: str, value: Decimal | int | None) -> None:
        units[unit][key] += Decimal(value or 0)

    for collective in Collective.objects.filter(code__startswith=county).values_list("code", flat=True):
        add(collective, "fbf", 1)
    parcels = (
        Parcel.objects.filter(code__startswith=county, status=Status.CURRENT)
        .annotate(unit=Left("code", CODE_WIDTH))
        .values("unit", "category", "land_use", "basic_farmland")
        .annotate(n=Count("id"), mu=Sum(_mu("surveyed_area", "surveyed_area_mu")))
    )
    for row in parcels:
        unit, mu = row["unit"], row["mu"]
        if row["category"] == "10":
            add(unit, "dk10_n", row["n"])
            add(unit, "dk10_mu", mu)
            add(unit, f"use{row['land_use']}", mu)
            add(unit, f"jbnt{row['basic_farmland']}", mu)
        else:
            add(unit, "other_n", row["n"])
            add(unit, "other_mu", mu)
            add(unit, f"dklb{row['category']}", mu)
    contractors = (
        Contractor.objects.filter(code__startswith=county, status=Status.CURRENT)
        .annotate(unit=Left("code", CODE_WIDTH))
        .values("unit", "kind")
        .annotate(n=Count("id"))
    )
    for row in contractors:
        add(row["unit"], "cbf", row["n"])
        add(row["unit"], f"cbf{row['kind']}", row["n"])
    members = (
        FamilyMember.objects.filter(
            contractor__code__startswith=county,
            status=Status.CURRENT,
            contractor__status=Status.CURRENT,
            contractor__kind=Contractor.Kind.HOUSEHOLD,
        )
        .annotate(unit=Left("contractor_id", CODE_WIDTH))
        .values("unit")
        .annotate(n=Count("id"))
    )
    for row in members:
        add(row["unit"], "members", row["n"])
    contract_mu = {
        row["code"]: row["mu"]
        for row in Contract.objects.filter(code__startswith=county)
        .annotate(mu=_mu("total_area", "total_area_mu"))
        .values("code", "mu")
    }
    certificates = Certificate.objects.filter(
        register_book__code__startswith=county, state=Certificate.State.VALID
    ).values_list("register_book_id", "register_book__method")
    for book, method in certificates:
        code = str(book)
        unit = code[:CODE_WIDTH]
        add(unit, "cert", 1)
        add(unit, "cert_family" if method == "110" else "cert_other", 1)
        add(unit, "cert_mu", contract_mu.get(code, ZERO))
    return units


def rollup(units: Mapping[str, Metrics], code: str) -> Metrics:
    """A region's figures: the sum over the collectives whose code starts with its code."""
    total: Metrics = defaultdict(lambda: ZERO)
    for unit, metrics in units.items():
        if unit.startswith(code):
            for key, value in metrics.items():
                total[key] += value
    return total


# --- the six tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    title: str
    header_rows: int
    columns: Callable[[Metrics], list[int | Decimal]]  # the figures after code and name
    areas: frozenset[int]  # which of those are 亩 (two decimals)


def _g(m: Metrics, *keys: str) -> Decimal:
    return sum((m[k] for k in keys), ZERO)


TABLES: tuple[Table, ...] = (
    Table(
        "按地块汇总表",
        4,
        lambda m: [m["fbf"], m["dk10_n"], m["dk10_mu"], m["other_n"], m["other_mu"], m["cert"]],
        frozenset({2, 4}),
    ),
    Table(
        "按承包地土地用途汇总表",
        4,
        lambda m: [
            _g(m, "use1", "use2", "use3", "use4"),
            m["use1"],
            m["use2"],
            m["use3"],
            m["use4"],
            m["use5"],
            _g(m, "use1", "use2", "use3", "use4", "use5"),
        ],
        frozenset(range(7)),
    ),
    Table(
        "按承包地是否基本农田汇总表",
        3,
        lambda m: [m["jbnt1"], m["jbnt2"], _g(m, "jbnt1", "jbnt2")],
        frozenset(range(3)),
    ),
    Table(
        "按承包方汇总表",
        4,
        lambda m: [m["cbf"], m["cbf1"], m["members"], _g(m, "cbf2", "cbf3"), m["cbf3"], m["cbf2"]],
        frozenset(),
    ),
    Table(
        "按非承包地地块类别汇总表",
        4,
        lambda m: [
            m["dklb21"],
            m["dklb22"],
            m["dklb23"],
            m["dklb99"],
            _g(m, "dklb21", "dklb22", "dklb23", "dklb99"),
        ],
        frozenset(range(5)),
    ),
    Table(
        "按权证信息汇总表",
        4,
        lambda m: [m["cert"], m["cert_family"], m["cert_other"], m["cert_mu"]],
        frozenset({3}),
    ),
)


# --- xls writing -------------------------------------------------------------------------


def _style_from(book: xlrd.book.Book, xf_index: int) -> xlwt.XFStyle:
    """An xlwt style with the template cell's font, alignment, borders and number format."""
    xf = book.xf_list[xf_index]
    src_font = book.font_list[xf.font_index]
    style = xlwt.XFStyle()
    style.font.name = src_font.name
    style.font.height = src_font.height
    style.font.bold = bool(src_font.bold)
    style.alignment.horz = xf.alignment.hor_align
    style.alignment.vert = xf.alignment.vert_align
    style.alignment.wrap = xf.alignment.text_wrapped
    style.borders.left = xf.border.left_line_style
    style.borders.right = xf.border.right_line_style
    style.borders.top = xf.border.top_line_style
    style.borders.bottom = xf.border.bottom_line_style
    style.num_format_str = book.format_map[xf.format_key].format_str
    return style


def copy_header(template: Path, header_rows: int, workbook: xlwt.Workbook) -> xlwt.Worksheet:
    """A new sheet in ``workbook`` with the template's first ``header_rows`` rows."""
    book = xlrd.open_workbook(str(template), formatting_info=True)
    src = book.sheet_by_index(0)
    sheet = workbook.add_sheet(src.name)
    for col, info in src.colinfo_map.items():
        sheet.col(col).width = info.width
    for row, info in src.rowinfo_map.items():
        if row < header_rows:
            sheet.row(row).height_mismatch = True
            sheet.row(row).height = info.height
    merged = [m for m in src.merged_cells if m[0] < header_rows]
    covered = {(r, c) for r0, r1, c0, c1 in merged for r in range(r0, r1) for c in range(c0, c1)}
    for r0, r1, c0, c1 in merged:
        sheet.write_merge(r0, r1 - 1, c0, c1 - 1, src.cell_value(r0, c0), _style_from(book, src.cell_xf_index(r0, c0)))
    for row in range(header_rows):
        for col in range(src.ncols):
            if (row, col) not in covered:
                sheet.write(row, col, src.cell_value(row, col), _style_from(book, src.cell_xf_index(row, col)))
    return sheet


def _data_styles() -> tuple[xlwt.XFStyle, xlwt.XFStyle, xlwt.XFStyle]:
    """Text, count and 亩 styles of the data rows: 宋体 11 pt with thin borders."""

    def make(num_format: str, horz: int) -> xlwt.XFStyle:
        style = xlwt.XFStyle()
        style.font.name = "宋体"
        style.font.height = 220
        style.alignment.horz = horz
        style.alignment.vert = xlwt.Alignment.VERT_CENTER
        for side in ("left", "right", "top", "bottom"):
            setattr(style.borders, side, xlwt.Borders.THIN)
        style.num_format_str = num_format
        return style

    return (
        make("@", xlwt.Alignment.HORZ_LEFT),
        make("0", xlwt.Alignment.HORZ_RIGHT),
        make("0.00", xlwt.Alignment.HORZ_RIGHT),
    )


def write_summaries(folder: Path, county: Region) -> list[Path]:
    """The six tables ``{county6}{县名}{表名}.xls`` in ``folder``."""
    regions = county_regions(county)
    names = full_names(upper_regions(county) + regions)
    units = collect(county.code)
    figures = {r.code: rollup(units, r.code) for r in regions}
    text, count, area = _data_styles()
    written = []
    for table in TABLES:
        workbook = xlwt.Workbook(encoding="utf-8")
        sheet = copy_header(TEMPLATES / f"{table.title}.xls", table.header_rows, workbook)
        for offset, region in enumerate(regions):
            row = table.header_rows + offset
            sheet.write(row, 0, unit_code(region.code), text)
            sheet.write(row, 1, names[region.code], text)
            for index, value in enumerate(table.columns(figures[region.code])):
                if index in table.areas:
                    sheet.write(row, 2 + index, float(value), area)
                else:
                    sheet.write(row, 2 + index, int(value), count)
        path = folder / f"{county.code}{county.name}{table.title}.xls"
        workbook.save(str(path))
        written.append(path)
    return written


def write_code_table(path: Path, county: Region) -> Path:
    """权属单位代码表: 权属单位代码 (14 digits) and 权属单位名称 (full name), from the province
    and city (where held) down to the groups."""
    regions = upper_regions(county) + county_regions(county)
    names = full_names(regions)
    text, _, _ = _data_styles()
    workbook = xlwt.Workbook(encoding="utf-8")
    sheet = workbook.add_sheet("Sheet1")
    sheet.col(0).width = 5280
    sheet.col(1).width = 12000
    sheet.write(0, 0, "权属单位代码", text)
    sheet.write(0, 1, "权属单位名称", text)
    for row, region in enumerate(regions, 1):
        sheet.write(row, 0, unit_code(region.code), text)
        sheet.write(row, 1, names[region.code], text)
    workbook.save(str(path))
    return path
