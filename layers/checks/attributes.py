"""Rules on attributes: codes (format, prefixes), mandatory fields, code-table domains, areas
(SCMJ against the shape, every 亩 against its m²), 四至, dates.

The database already refuses some of these (unique codes, the DKBM and CBHTBM patterns, the
CBFBM prefix, positive areas, term start before end); imports keep what they read in other
respects, and the rules below are what is left. Mandatory means the standard's M fields
(NY/T 2539 appendix A/B) as the models declare them (``blank=False``); KJZB, mandatory in
the standard, is checked against the boundary points instead (XREF_KJZB), because it is
derived from them and empty until they exist.

Speed: each rule runs in Python on the rows a SQL filter picks out. The filter is written to
let through every row the Python check could flag (a superset: format, prefix, blank, code
table, 亩 conditions in SQL), so the messages come from one place and a county's 100,000 clean
rows never reach Python. "Blank" is the same on both sides: only ASCII whitespace and the
ideographic space U+3000.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any

import numpy as np
import shapely
from django.db import connection, models

from gisapp.config import config
from layers.checks.catalogue import Finding, Tolerances, finding
from layers.checks.dataset import ParcelSet, Scope
from parcels import coding
from parcels.code_tables import FEATURE_CODES
from parcels.models import (
    Certificate,
    Collective,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    Region,
    RegisterBook,
    TransferContract,
)
from parcels.models.base import InCodeTable, code_values
from parcels.services import sqm_to_mu

CENT = Decimal("0.01")
WHITESPACE = " \t\n\r\f\v\u3000"


def check_attributes(ps: ParcelSet, scope: Scope, tol: Tolerances) -> list[Finding]:
    out = list(_parcels(ps, scope, tol))
    out += _ownership_codes(scope)
    out += _required_and_domains(scope)
    out += _areas_in_mu(scope)
    out += _dates(scope)
    return out


# --- generic helpers ----------------------------------------------------------------------


def coded_fields(model: type[models.Model]) -> list[tuple[models.Field[Any, Any], str]]:
    """The model's fields that take their values from a code table, with the table."""
    out = []
    for f in model._meta.concrete_fields:
        for v in f.validators:
            if isinstance(v, InCodeTable):
                out.append((f, v.table))
    return out


def required_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """Mandatory text fields (``blank=False``): the standard's M fields. NOT NULL is the
    database's job; an empty or blank string is what gets through."""
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField)
        and not f.blank
        and not f.is_relation
        and not f.choices
        and f.db_column is not None
    ]


def column(f: models.Field[Any, Any]) -> str:
    return (f.db_column or f.name).upper()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip(WHITESPACE))


class Suspects:
    """SQL conditions OR-ed into a WHERE clause, with their parameters."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        self.sql.append(sql)
        self.params.extend(params)

    def blank(self, col: str) -> None:
        self.add(f"btrim(coalesce({col}, ''), %s) = ''", WHITESPACE)

    def outside(self, col: str, table: str) -> None:
        self.add(
            f"(btrim(coalesce({col}, ''), %s) <> '' AND {col} NOT IN "
            '(SELECT code FROM code_item WHERE "table" = %s))',
            WHITESPACE,
            table,
        )

    def mu(self, sqm: str, mu: str) -> None:
        self.add(f"({mu} IS NOT NULL AND {sqm} IS NOT NULL AND {mu} <> round({sqm} * %s, 2))", config().mu_per_sqm)

    def where(self) -> str:
        return "(" + " OR ".join(self.sql) + ")" if self.sql else "FALSE"


def _select(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def round_area(value: float) -> Decimal:
    """As ``parcels.services.round_area``: two decimals, half-up."""
    return Decimal(repr(float(value))).quantize(CENT, rounding=ROUND_HALF_UP)


# --- parcels ------------------------------------------------------------------------------

DK_REQUIRED = ["name", "category", "fertility", "land_use", "basic_farmland", "feature_code"]
SIZHI = [("east", "东"), ("west", "西"), ("south", "南"), ("north", "北")]


def _parcels(ps: ParcelSet, scope: Scope, tol: Tolerances) -> Iterator[Finding]:
    fields = {f.name: f for f in Parcel._meta.concrete_fields}
    coded = [(f.name, table) for f, table in coded_fields(Parcel)]
    names = ["code", "surveyed_area", "surveyed_area_mu", *DK_REQUIRED, *(n for n, _ in SIZHI)]
    names += [n for n, _ in coded if n not in names]
    col = {n: "d." + fields[n].column for n in names}
    suspect = Suspects()
    suspect.add("f.id IS NULL OR v.id IS NULL OR d.dkbm !~ '^[0-9]{19}$'")
    suspect.add("substr(d.dkbm, 7, 3) = '000' OR substr(d.dkbm, 10, 3) = '000' OR substr(d.dkbm, 15) = '00000'")
    for n in DK_REQUIRED:
        suspect.blank(col[n])
    suspect.add(f"coalesce({col['feature_code']}, '') NOT IN ('', %s)", FEATURE_CODES["DK"])
    for n, table in coded:
        suspect.outside(col[n], table)
    filled = " + ".join(f"(CASE WHEN btrim(coalesce({col[n]}, ''), %s) = '' THEN 0 ELSE 1 END)" for n, _ in SIZHI)
    suspect.add(f"({filled}) < 3", *[WHITESPACE] * len(SIZHI))
    suspect.mu(col["surveyed_area"], col["surveyed_area_mu"])
    rows = _select(
        f"SELECT {', '.join(col[n] for n in names)} FROM dk d "
        "LEFT JOIN fbf f ON f.fbfbm = substr(d.dkbm, 1, 14) "
        "LEFT JOIN region v ON v.qydm = substr(d.dkbm, 1, 12) "
        f"WHERE d.status = 'current' AND d.dkbm LIKE %s AND {suspect.where()} ORDER BY d.dkbm",
        [scope.code + "%", *suspect.params],
    )
    collectives = set(Collective.objects.filter(code__startswith=scope.code).values_list("code", flat=True))
    regions = set(Region.objects.filter(code__startswith=scope.county).values_list("code", flat=True))
    domains = {table: code_values(table) for _, table in coded}
    at = {n: k for k, n in enumerate(names)}
    for row in rows:
        code: str = row[0]
        yield from _parcel_code(code, collectives, regions)
        missing = [f"{column(fields[n])}（{fields[n].verbose_name}）" for n in DK_REQUIRED if _blank(row[at[n]])]
        if missing:
            yield finding("DK_REQUIRED", f"地块 {code} 的必填字段为空：{'、'.join(missing)}", dkbm=(code,))
        bad = []
        if row[at["feature_code"]] not in (None, "", FEATURE_CODES["DK"]):
            bad.append(f"YSDM={row[at['feature_code']]!r}（应为 {FEATURE_CODES['DK']}）")
        for n, table in coded:
            value = row[at[n]]
            if not _blank(value) and value not in domains[table]:
                bad.append(f"{column(fields[n])}={value!r}（代码表 {table}）")
        if bad:
            yield finding("DK_DOMAIN", f"地块 {code} 的字段值不在代码表中：{'；'.join(bad)}", dkbm=(code,))
        sides = [label for name, label in SIZHI if not _blank(row[at[name]])]
        if len(sides) < 3:
            shown = "、".join(sides) if sides else "无"
            yield finding(
                "DK_SIZHI", f"地块 {code} 的四至只填写了{len(sides)}项（{shown}），至少应填写3项", dkbm=(code,)
            )
        scmj: Decimal = row[at["surveyed_area"]]
        mu: Decimal | None = row[at["surveyed_area_mu"]]
        if mu is not None and mu != sqm_to_mu(scmj):
            yield finding(
                "DK_AREA_MU",
                f"地块 {code} 的实测面积（亩）为 {mu}，按 {scmj} 平方米应为 {sqm_to_mu(scmj)}",
                dkbm=(code,),
                value=float(mu - sqm_to_mu(scmj)),
            )
    yield from _surveyed_areas(ps, tol)


def _surveyed_areas(ps: ParcelSet, tol: Tolerances) -> Iterator[Finding]:
    """DK_AREA: SCMJ against the valid shape's projected area rounded half-up to 0.01 m².
    numpy picks the candidates (rounding moves a value by at most 0.005 m²), Decimal decides."""
    areas = shapely.area(ps.geoms)
    with np.errstate(invalid="ignore"):
        maybe = ps.in_scope & ps.valid & np.isfinite(ps.scmj) & ~(np.abs(ps.scmj - areas) <= tol.area - 0.0051)
    limit = Decimal(repr(tol.area))
    for i in np.flatnonzero(maybe):
        code = ps.codes[i]
        scmj = Decimal(repr(float(ps.scmj[i]))).quantize(CENT)
        measured = round_area(areas[i])
        if abs(scmj - measured) > limit:
            yield finding(
                "DK_AREA",
                f"地块 {code} 的实测面积 {scmj} 平方米与图形面积 {measured} 平方米相差 {scmj - measured}",
                dkbm=(code,),
                area_m2=float(measured),
                value=float(scmj - measured),
            )


def _parcel_code(code: str, collectives: set[str], regions: set[str]) -> Iterator[Finding]:
    problems = []
    try:
        coding.validate_dkbm(code)
    except coding.CodeError as exc:
        problems.append(exc.messages[0])
    else:
        fbfbm = code[:14]
        if fbfbm not in collectives:
            problems.append(f"前14位 {fbfbm} 不是已登记的发包方代码")
        if code[:12] not in regions:
            problems.append(f"村级区域 {code[:12]} 不存在")
    if problems:
        yield finding("DK_CODE", f"地块代码 {code}：{'；'.join(problems)}", dkbm=(code,))


# --- codes of the ownership tables --------------------------------------------------------


def _code_problem(check: Any, *args: Any) -> str | None:
    try:
        check(*args)
    except coding.CodeError as exc:
        return str(exc.messages[0])
    return None


def _contractor_range_sql() -> str:
    """SQL: the CBFBM's sequence lies in its type's range (coding.CONTRACTOR_RANGES)."""
    ranges = " OR ".join(
        f"(c.cbflx = '{kind}' AND substr(c.cbfbm, 15, 4)::int BETWEEN {low} AND {high})"
        for kind, (low, high) in coding.CONTRACTOR_RANGES.items()
    )
    return f"CASE WHEN c.cbfbm ~ '^[0-9]{{18}}$' THEN NOT ({ranges}) ELSE TRUE END"


def _ownership_codes(scope: Scope) -> Iterator[Finding]:
    prefix = scope.code
    like = prefix + "%"
    villages = set(Region.objects.filter(code__startswith=prefix[:6], level="village").values_list("code", flat=True))
    for code in Collective.objects.filter(code__startswith=prefix).values_list("code", flat=True).order_by("code"):
        problems = [p for p in [_code_problem(coding.validate_fbfbm, code)] if p]
        if not problems and code[:12] not in villages:
            problems.append(f"村级区域 {code[:12]} 不存在")
        if problems:
            yield finding("FBF_CODE", f"发包方代码 {code}：{'；'.join(problems)}", codes=(code,))

    zeros = "substr({c}, 7, 3) = '000' OR substr({c}, 10, 3) = '000' OR substr({c}, 15, 4) = '0000'"
    contractors = _select(
        "SELECT c.cbfbm, c.cbflx, c.fbfbm FROM cbf c WHERE c.status = 'current' AND c.cbfbm LIKE %s AND ("
        f"{_contractor_range_sql()} OR {zeros.format(c='c.cbfbm')} OR substr(c.cbfbm, 1, 14) <> c.fbfbm"
        ") ORDER BY c.cbfbm",
        [like],
    )
    for code, kind, fbfbm in contractors:
        problems = [p for p in [_code_problem(coding.validate_cbfbm, code, kind)] if p]
        if code[:14] != fbfbm:
            problems.append(f"前14位应为发包方代码 {fbfbm}")
        if problems:
            yield finding("CBF_CODE", f"承包方代码 {code}：{'；'.join(problems)}", codes=(code,))

    for table, key, rule, label in (
        ("cbht", "cbhtbm", "CBHT_CODE", "承包合同"),
        ("cbjyqzdjb", "cbjyqzbm", "DJB_CODE", "登记簿"),
    ):
        validate = coding.validate_contract_code if table == "cbht" else coding.validate_register_code
        rows = _select(
            f"SELECT t.{key}, t.cbfs, t.cbfbm, t.fbfbm FROM {table} t WHERE t.status = 'current' AND t.{key} LIKE %s "
            f"AND (CASE WHEN t.{key} ~ '^[0-9]{{18}}[JQ]$' THEN substr(t.{key}, 19, 1) <> "
            f"CASE WHEN t.cbfs = %s THEN 'J' ELSE 'Q' END OR {zeros.format(c='t.' + key)} ELSE TRUE END "
            f"OR substr(t.{key}, 1, 18) <> t.cbfbm OR substr(t.cbfbm, 1, 14) <> t.fbfbm) ORDER BY 1",
            [like, coding.FAMILY_CONTRACTING],
        )
        for code, method, cbfbm, fbfbm in rows:
            problems = [p for p in [_code_problem(validate, code, method)] if p]
            if code[:18] != cbfbm:
                problems.append(f"前18位应为承包方代码 {cbfbm}")
            if cbfbm[:14] != fbfbm:
                problems.append(f"发包方代码 {fbfbm} 不是承包方代码的前14位")
            if problems:
                yield finding(rule, f"{label}代码 {code}：{'；'.join(problems)}", codes=(code,))

    transfers = TransferContract.objects.filter(code__startswith=prefix).order_by("code")
    for code, contract_id, contractor in transfers.values_list("code", "contract_id", "contractor_id"):
        contract, cbfbm = str(contract_id), str(contractor)
        problems = [p for p in [_code_problem(coding.validate_lzhtbm, code)] if p]
        if code[:14] != contract[:14]:
            problems.append(f"前14位应为承包合同 {contract} 的发包方代码 {contract[:14]}")
        if cbfbm != contract[:18]:
            problems.append(f"承包方代码 {cbfbm} 不是承包合同 {contract} 的承包方")
        if problems:
            yield finding("LZHT_CODE", f"流转合同代码 {code}：{'；'.join(problems)}", codes=(code,))

    links = _select(
        "SELECT cbhtbm, dkbm, fbfbm, cbfbm, cbjyqzbm FROM cbdkxx WHERE status = 'current' AND cbhtbm LIKE %s "
        "AND (substr(cbfbm, 1, 14) <> fbfbm OR substr(cbhtbm, 1, 18) <> cbfbm OR cbjyqzbm <> cbhtbm "
        "OR substr(dkbm, 1, 14) <> fbfbm) ORDER BY cbhtbm, dkbm",
        [like],
    )
    for contract, dkbm, fbfbm, cbfbm, register in links:
        problems = []
        if cbfbm[:14] != fbfbm:
            problems.append(f"FBFBM {fbfbm} 不是 CBFBM {cbfbm} 的前14位")
        if contract[:18] != cbfbm:
            problems.append(f"CBHTBM {contract} 的前18位不是 CBFBM {cbfbm}")
        if register != contract:
            problems.append(f"CBJYQZBM {register} 应与 CBHTBM {contract} 相同")
        if problems:
            yield finding(
                "CBDKXX_CODE",
                f"承包地块信息（合同 {contract}，地块 {dkbm}）：{'；'.join(problems)}",
                dkbm=(dkbm,),
                codes=(contract,),
            )
        if dkbm[:14] != fbfbm:
            yield finding(
                "CBDKXX_DKBM_PREFIX",
                f"合同 {contract} 的地块 {dkbm} 不属于发包方 {fbfbm}",
                dkbm=(dkbm,),
                codes=(contract,),
            )


# --- mandatory fields and domains of the ownership tables ----------------------------------

# model, the table's name in the standard, the field that holds the object's code, the lookup
# the scope filters on (a foreign key's target code: Django reads the local column, no join),
# whether it has a status (only current rows are inspected)
TABLES: list[tuple[type[models.Model], str, str, str, bool]] = [
    (Collective, "FBF", "code", "code", False),
    (Contractor, "CBF", "code", "code", True),
    (FamilyMember, "CBF_JTCY", "contractor_id", "contractor__code", True),
    (Contract, "CBHT", "code", "code", True),
    (ContractParcel, "CBDKXX", "contract_id", "contract__code", True),
    (TransferContract, "LZHT", "code", "code", False),
    (RegisterBook, "CBJYQZDJB", "code", "code", True),
    (Certificate, "CBJYQZ", "register_book_id", "register_book__code", False),
]


def _required_and_domains(scope: Scope) -> Iterator[Finding]:
    for model, table, key, _, has_status in TABLES:
        meta = model._meta
        fields = {f.attname: f for f in meta.concrete_fields}
        required = required_fields(model)
        coded = coded_fields(model)
        domains = {t: code_values(t) for _, t in coded}
        extra = ["parcel_id"] if model is ContractParcel else ["name"] if model is FamilyMember else []
        names = list(dict.fromkeys([key, *extra, *(f.attname for f in required), *(f.attname for f, _ in coded)]))
        suspect = Suspects()
        for f in required:
            suspect.blank(f.column)
        for f, t in coded:
            suspect.outside(f.column, t)
        where = f"{fields[key].column} LIKE %s" + (" AND status = 'current'" if has_status else "")
        rows = _select(
            f"SELECT {', '.join(fields[n].column for n in names)} FROM {meta.db_table} "
            f"WHERE {where} AND {suspect.where()} ORDER BY 1, id",
            [scope.code + "%", *suspect.params],
        )
        at = {n: k for k, n in enumerate(names)}
        for row in rows:
            label = f"{table} {row[0]}" + (f"/{row[1]}" if extra else "")
            dkbm = (row[1],) if model is ContractParcel else ()
            empty = [f"{column(f)}（{f.verbose_name}）" for f in required if _blank(row[at[f.attname]])]
            if empty:
                yield finding("REQUIRED", f"{label} 的必填字段为空：{'、'.join(empty)}", codes=(row[0],), dkbm=dkbm)
            bad = [
                f"{column(f)}={row[at[f.attname]]!r}（代码表 {t}）"
                for f, t in coded
                if not _blank(row[at[f.attname]]) and row[at[f.attname]] not in domains[t]
            ]
            if bad:
                yield finding("DOMAIN", f"{label} 的字段值不在代码表中：{'；'.join(bad)}", codes=(row[0],), dkbm=dkbm)


# --- 亩 -------------------------------------------------------------------------------------

MU_PAIRS: list[tuple[type[models.Model], str, str, str, list[tuple[str, str]]]] = [
    (
        ContractParcel,
        "CBDKXX",
        "contract_id",
        "contract__code",
        [("contract_area", "contract_area_mu"), ("original_area", "original_area_mu")],
    ),
    (
        Contract,
        "CBHT",
        "code",
        "code",
        [("total_area", "total_area_mu"), ("original_total_area", "original_total_area_mu")],
    ),
    (TransferContract, "LZHT", "code", "code", [("area", "area_mu")]),
]


def _areas_in_mu(scope: Scope) -> Iterator[Finding]:
    for model, table, key, _, pairs in MU_PAIRS:
        meta = model._meta
        fields = {f.attname: f for f in meta.concrete_fields}
        extra = ["parcel_id"] if model is ContractParcel else []
        names = [key, *extra, *(n for pair in pairs for n in pair)]
        suspect = Suspects()
        for sqm_name, mu_name in pairs:
            suspect.mu(fields[sqm_name].column, fields[mu_name].column)
        where = f"{fields[key].column} LIKE %s" + (" AND status = 'current'" if "status" in fields else "")
        rows = _select(
            f"SELECT {', '.join(fields[n].column for n in names)} FROM {meta.db_table} "
            f"WHERE {where} AND {suspect.where()} ORDER BY 1, id",
            [scope.code + "%", *suspect.params],
        )
        at = {n: k for k, n in enumerate(names)}
        for row in rows:
            for sqm_name, mu_name in pairs:
                sqm, mu = row[at[sqm_name]], row[at[mu_name]]
                if sqm is None or mu is None or mu == sqm_to_mu(sqm):
                    continue
                where_ = f"{table} {row[0]}" + (f"/{row[1]}" if extra else "")
                yield finding(
                    "AREA_MU",
                    f"{where_} 的 {column(fields[mu_name])} 为 {mu} 亩，按 {column(fields[sqm_name])} {sqm} 平方米"
                    f"应为 {sqm_to_mu(sqm)} 亩",
                    codes=(row[0],),
                    dkbm=(row[1],) if extra else (),
                    value=float(mu - sqm_to_mu(sqm)),
                )


# --- dates ----------------------------------------------------------------------------------


def _dates(scope: Scope) -> Iterator[Finding]:
    """QDSJ (签订时间, CBHT) ≤ DJSJ (登记时间, CBJYQZDJB) ≤ FZRQ (发证日期, CBJYQZ), strictly
    increasing for the Ministry's checker (SII shifts equal dates by a day before export);
    CBQXQ < CBQXZ in CBHT and CBJYQZDJB; LZHT start < end."""
    like = scope.code + "%"
    rows = _select(
        """SELECT k.code, h.qdsj, b.djsj, z.fzrq FROM (
               SELECT cbhtbm AS code FROM cbht WHERE status = 'current' AND cbhtbm LIKE %s
               UNION SELECT cbjyqzbm FROM cbjyqzdjb WHERE status = 'current' AND cbjyqzbm LIKE %s) k
           LEFT JOIN cbht h ON h.cbhtbm = k.code AND h.status = 'current'
           LEFT JOIN cbjyqzdjb b ON b.cbjyqzbm = k.code AND b.status = 'current'
           LEFT JOIN cbjyqz z ON z.cbjyqzbm = k.code
           WHERE NOT (coalesce(h.qdsj < b.djsj, TRUE) AND coalesce(b.djsj < z.fzrq, TRUE)
                      AND (b.id IS NOT NULL OR coalesce(h.qdsj < z.fzrq, TRUE)))
           ORDER BY 1""",
        [like, like],
    )
    for code, signed, registered, issued in rows:
        chain = [
            (label, day)
            for label, day in (
                ("签订时间（QDSJ）", signed),
                ("登记时间（DJSJ）", registered),
                ("发证日期（FZRQ）", issued),
            )
            if day is not None
        ]
        for (a_label, a), (b_label, b) in pairwise(chain):
            if a > b:
                yield finding("DATE_ORDER", f"{code}：{a_label} {a} 晚于 {b_label} {b}", codes=(code,))
            elif a == b:
                yield finding("DATE_SAME_DAY", f"{code}：{a_label}与{b_label}同为 {a}", codes=(code,))
    terms = _select(
        """SELECT 'CBHT', cbhtbm, cbqxq, cbqxz FROM cbht
               WHERE status = 'current' AND cbhtbm LIKE %s AND NOT (cbqxq < cbqxz)
           UNION ALL SELECT 'CBJYQZDJB', cbjyqzbm, cbqxq, cbqxz FROM cbjyqzdjb
               WHERE status = 'current' AND cbjyqzbm LIKE %s AND NOT (cbqxq < cbqxz)
           UNION ALL SELECT 'LZHT', lzhtbm, lzqxksrq, lzqxjsrq FROM lzht
               WHERE lzhtbm LIKE %s AND NOT (lzqxksrq < lzqxjsrq)
           ORDER BY 2, 1""",
        [like, like, like],
    )
    for table, code, start, end in terms:
        yield finding("DATE_ORDER", f"{table} {code}：期限起 {start} 不早于期限止 {end}", codes=(code,))
