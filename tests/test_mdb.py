"""The pure-Python JET4 writer: rows written into a copy of 权属数据.mdb read back unchanged by two
independent readers (mdbtools' mdb-export, through ``iter_table``/``read_mdb``, and the pure-Python
``access_parser``), the template's schema untouched, the page bookkeeping consistent, bad values
refused with the table, row, column and rule."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from access_parser import AccessParser

from layers.exchange.mdb import (
    TEMPLATE,
    MdbReadError,
    MdbWriteError,
    iter_numeric_rows,
    iter_table,
    read_mdb,
    relabel_numerics,
    write_mdb,
)
from layers.exchange.schema import MDB_TABLES, Column

pytestmark = pytest.mark.skipif(shutil.which("mdb-export") is None, reason="mdbtools is not installed")

PAGE = 4096
CHINESE = "农村土地承包经营权确权登记颁证数据库规范发包方承包方地块合同"
FULL_WIDTH = "ＡＢＣ１２３（全角），、。"
SPECIAL = 'a,"b"\n；' + FULL_WIDTH + "\r\t末"
BIGGEST = Decimal("9999999999999.99")  # Numeric(15, 2): 13 digits before the point


def text(width: int, variant: int) -> str:
    """A value of at most ``width`` characters: Chinese at full width, ASCII, or awkward CSV."""
    source = [CHINESE * 10, "0123456789" * 30, SPECIAL + FULL_WIDTH * 30][variant % 3]
    return source[:width]


def value(column: Column, variant: int) -> object:
    """Column value number ``variant`` (0: extremes, 1: ordinary, 2: awkward, 3: small)."""
    if column.kind == "text":
        return text(column.width, variant) if variant < 3 else text(min(column.width, 2), 0)
    if column.kind == "memo":
        return ["记事" * 150, "短", 'memo, "quoted"\nline 2 ' + "x" * 500, "备注" * 5][variant]
    if column.kind == "numeric":
        return [BIGGEST, Decimal("1.50"), Decimal("-1234.56"), 12345.6][variant]
    if column.kind == "integer":
        return [32767, 1, -32768, 3][variant]
    return [dt.date(9999, 1, 1), dt.date(2019, 5, 1), dt.datetime(2020, 2, 29, 13, 45, 59), dt.date(1900, 1, 1)][
        variant
    ]


def sample_rows(table: str) -> list[dict[str, object]]:
    """Four rows: every column at its extreme, optional columns NULL, awkward text, empty text."""
    columns = MDB_TABLES[table]
    rows = [{c.name: value(c, variant) for c in columns} for variant in range(4)]
    for c in columns:
        if not c.not_null:
            rows[1][c.name] = None
            if c.kind == "text":
                rows[3][c.name] = ""
    optional = [c.name for c in columns if not c.not_null]
    if optional:
        del rows[1][optional[0]]  # a missing key is NULL too
    return rows


SAMPLES = {table: sample_rows(table) for table in MDB_TABLES}


def as_read(written: object) -> object:
    """A written value as a reader gives it back: floats as the Decimal they were stored as."""
    if isinstance(written, float):
        return Decimal(repr(written))
    return None if written == "" else written


def expected_export(table: str, row: dict[str, object]) -> dict[str, object]:
    """What mdb-export gives back: every column, and "" indistinguishable from NULL."""
    return {c.name: as_read(row.get(c.name)) for c in MDB_TABLES[table]}


def access_parser_value(column: Column, raw: object) -> object:
    """access_parser's output in our types (it ignores the null mask: NULL reads as ""/0/empty)."""
    if column.kind == "numeric":
        return None if raw == "" else Decimal(str(raw))
    if column.kind == "date":
        if raw == "(Empty Date)":
            return None
        moment = dt.datetime.fromisoformat(str(raw))
        moment = (moment + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        return moment.date() if moment.time() == dt.time() else moment
    if column.kind == "integer":
        return raw
    return None if raw == "" else raw


def expected_access_parser(column: Column, written: object) -> object:
    if written is None and column.kind == "integer":
        return 0
    return as_read(written)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("mdb") / "310151" / "3101512024.mdb"
    counts = write_mdb(out, {table: iter(rows) for table, rows in SAMPLES.items()})
    return out, counts


def test_every_value_reads_back_through_mdb_export(written: tuple[Path, dict[str, int]]) -> None:
    path, counts = written
    assert counts == {table: 4 for table in MDB_TABLES}
    tables = read_mdb(path)
    for table, rows in SAMPLES.items():
        assert tables[table] == [expected_export(table, row) for row in rows], table


def test_every_value_reads_back_through_access_parser(written: tuple[Path, dict[str, int]]) -> None:
    parser = AccessParser(str(written[0]))
    for table, rows in SAMPLES.items():
        parsed = parser.parse_table(table)
        for column in MDB_TABLES[table]:
            got = [access_parser_value(column, raw) for raw in parsed[column.name]]
            assert got == [expected_access_parser(column, row.get(column.name)) for row in rows], (table, column)


def test_tables_and_schema_are_the_templates(written: tuple[Path, dict[str, int]]) -> None:
    listed = subprocess.run(["mdb-tables", "-1", str(written[0])], capture_output=True, text=True, check=True)
    assert sorted(listed.stdout.split()) == sorted(MDB_TABLES)

    def schema(path: Path) -> str:
        return subprocess.run(["mdb-schema", str(path)], capture_output=True, text=True, check=True).stdout

    assert schema(written[0]) == schema(TEMPLATE)


def test_template_is_not_modified(tmp_path: Path) -> None:
    before = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()
    write_mdb(tmp_path / "a.mdb", {"CBF": SAMPLES["CBF"]})
    assert hashlib.sha256(TEMPLATE.read_bytes()).hexdigest() == before


def parcel(i: int) -> dict[str, object]:
    code = f"3101511011010{i:06d}"
    return {
        "DKBM": code,
        "FBFBM": "31015110110101",
        "CBFBM": f"31015110110101{i % 10000:04d}",
        "CBJYQQDFS": "110",
        "HTMJ": Decimal(i) / 100 + 1,
        "CBHTBM": code,
        "LZHTBM": None if i % 3 else f"31015110110101{i % 10000:04d}",
        "CBJYQZBM": code,
        "YHTMJ": BIGGEST - i,
        "HTMJM": Decimal("0.01") * (i % 5000) + 1,
        "YHTMJM": None,
        "SFQQQG": "否" if i % 2 else "2",
    }


def parcels(n: int) -> Iterator[dict[str, object]]:
    return (parcel(i) for i in range(n))


def test_a_big_table_spans_many_pages_and_reads_back_completely(tmp_path: Path) -> None:
    n = 20_000
    path = tmp_path / "big.mdb"
    assert write_mdb(path, {"CBDKXX": parcels(n)})["CBDKXX"] == n
    assert path.stat().st_size > 900 * PAGE  # past a 512-page inline usage map
    count = 0
    for i, row in enumerate(iter_table(path, "CBDKXX")):
        assert row == parcel(i), i
        count += 1
    assert count == n
    parsed = AccessParser(str(path)).parse_table("CBDKXX")
    assert parsed["DKBM"] == [parcel(i)["DKBM"] for i in range(n)]
    assert [Decimal(v) for v in parsed["HTMJ"]] == [parcel(i)["HTMJ"] for i in range(n)]


def test_long_memos_go_to_lval_pages(tmp_path: Path) -> None:
    """Inline up to 64 bytes, one LVAL row up to 4076 bytes, a chain of LVAL pages beyond."""
    base = {c.name: value(c, 1) for c in MDB_TABLES["FBF"] if c.not_null}
    memos = ["短", "汉" * 2038, "x" * 4000 + "汉" * 100, "a" * 16383, "汉" * 5461, "y" * 70]
    path = tmp_path / "memo.mdb"
    write_mdb(path, {"FBF": [{**base, "FBFDCJS": memo} for memo in memos]})
    assert [row["FBFDCJS"] for row in iter_table(path, "FBF")] == memos
    # access_parser does not follow chains of LVAL pages (its "LVAL type 2"); the others it reads.
    parsed = AccessParser(str(path)).parse_table("FBF")["FBFDCJS"]
    assert [parsed[i] for i in (0, 1, 5)] == [memos[i] for i in (0, 1, 5)]


def test_dates_mdbtools_cannot_print_still_read_back(tmp_path: Path) -> None:
    """libmdb gives up on dates after ~2737 and before 1899-12-30 (prints 1900-01-00)."""
    dates = [
        dt.date(9999, 1, 1),
        dt.datetime(9999, 12, 31, 23, 59, 59),
        dt.datetime(1899, 12, 29, 6, 0, 0),
        dt.date(1800, 3, 4),
        dt.date(100, 1, 1),
        dt.datetime(2020, 1, 1, 0, 0, 1),
    ]
    rows = [{"CBJYQZBM": "1" * 19, "ZXYY": "注销", "ZXRQ": d} for d in dates]
    path = tmp_path / "dates.mdb"
    write_mdb(path, {"CBJYQZ_QZZX": rows})
    assert [row["ZXRQ"] for row in iter_table(path, "CBJYQZ_QZZX")] == dates


def test_small_and_negative_numerics(tmp_path: Path) -> None:
    # access_parser prints 0.05 as "5" (it drops the scale below 1), so mdb-export only here.
    values = [Decimal("0"), Decimal("0.01"), Decimal("0.5"), Decimal("-0.05"), -BIGGEST, 7, 2.25]
    base = {c.name: value(c, 1) for c in MDB_TABLES["CBDKXX"] if c.not_null}
    path = tmp_path / "num.mdb"
    write_mdb(path, {"CBDKXX": [{**base, "YHTMJ": v} for v in values]})
    assert [row["YHTMJ"] for row in iter_table(path, "CBDKXX")] == [Decimal(str(v)) for v in values]


def raw_export(path: Path, table: str, columns: list[str]) -> list[tuple[str | None, ...]]:
    """mdb-export's own text of ``columns``, NULL (an empty unquoted field) as None."""
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    done = subprocess.run(["mdb-export", "-b", "strip", str(path), table], capture_output=True, check=True, env=env)
    lines = done.stdout.decode("utf-8", errors="replace").splitlines()
    header = lines[0].split(",")
    at = [header.index(c) for c in columns]
    rows = []
    for line in lines[1:]:
        fields = line.split(",")  # no commas in these tables' values
        rows.append(tuple(None if fields[i] == "" else fields[i].strip('"') for i in at))
    return rows


@pytest.mark.parametrize("rows", ["big", "small"])
def test_numeric_reader_gives_mdb_exports_text_row_for_row(tmp_path: Path, rows: str) -> None:
    """The importer reads Numeric columns itself (libmdb prints them slowly): the same text,
    NULLs and row order as mdb-export, over a table past the inline usage map and over small,
    negative and NULL values; the relabelled copy prints those columns empty."""
    path = tmp_path / "n.mdb"
    if rows == "big":
        write_mdb(path, {"CBDKXX": parcels(20_000)})
    else:
        base = {c.name: value(c, 1) for c in MDB_TABLES["CBDKXX"] if c.not_null}
        values = [Decimal("0"), Decimal("0.01"), Decimal("0.5"), Decimal("-0.05"), -BIGGEST, 7, 2.25, None]
        write_mdb(path, {"CBDKXX": [{**base, "DKBM": f"{i:019d}", "YHTMJ": v} for i, v in enumerate(values)]})
    copy = tmp_path / "copy.mdb"
    shutil.copyfile(path, copy)
    specs = relabel_numerics(copy, ["CBDKXX", "FBF"])
    assert set(specs) == {"CBDKXX"}  # FBF holds no Numeric column
    spec = specs["CBDKXX"]
    assert spec.key == "DKBM" and spec.names == ("HTMJ", "YHTMJ", "HTMJM", "YHTMJM")
    ours = list(iter_numeric_rows(path, spec))
    assert ours == raw_export(path, "CBDKXX", ["DKBM", *spec.names])
    assert any(v is None for row in ours for v in row)
    assert rows == "big" or any(v and v.startswith("-") for row in ours for v in row[1:])
    # Printed empty (quoted when the bytes have the sign bit): the importer overwrites them.
    assert {v for row in raw_export(copy, "CBDKXX", list(spec.names)) for v in row} <= {None, ""}


# --- page bookkeeping (what Access relies on, which the readers above do not all check) ---------


def usage_map(data: bytes, pointer: int) -> set[int]:
    page, row = pointer >> 8, pointer & 0xFF
    base = page * PAGE
    start = struct.unpack_from("<H", data, base + 14 + 2 * row)[0] & 0x1FFF
    end = PAGE if row == 0 else struct.unpack_from("<H", data, base + 14 + 2 * (row - 1))[0] & 0x1FFF
    raw = data[base + start : base + end]
    if raw[0] == 0:
        first = struct.unpack_from("<I", raw, 1)[0]
        return {first + i for i in range((len(raw) - 5) * 8) if raw[5 + i // 8] >> (i % 8) & 1}
    pages = set()
    for slot in range((len(raw) - 1) // 4):
        map_page = struct.unpack_from("<I", raw, 1 + 4 * slot)[0]
        if map_page:
            assert data[map_page * PAGE] == 0x05
            bitmap = data[map_page * PAGE + 4 : (map_page + 1) * PAGE]
            bits = len(bitmap) * 8
            pages |= {slot * bits + i for i in range(bits) if bitmap[i // 8] >> (i % 8) & 1}
    return pages


def test_usage_maps_list_exactly_the_pages_written(tmp_path: Path) -> None:
    path = tmp_path / "maps.mdb"
    tables = {name: iter(rows) for name, rows in SAMPLES.items()}
    tables["CBDKXX"] = parcels(12_000)
    write_mdb(path, tables)
    data = path.read_bytes()
    template_pages = TEMPLATE.stat().st_size // PAGE
    total = len(data) // PAGE
    catalog = AccessParser(str(path)).catalog
    owned: set[int] = set()
    for table in MDB_TABLES:
        tdef = catalog[table]
        used, free = struct.unpack_from("<II", data, tdef * PAGE + 55)
        pages = {
            p for p in range(total) if data[p * PAGE] == 1 and struct.unpack_from("<I", data, p * PAGE + 4)[0] == tdef
        }
        assert usage_map(data, used) == pages, table
        assert usage_map(data, free) <= pages, table
        assert struct.unpack_from("<I", data, tdef * PAGE + 16)[0] == (12_000 if table == "CBDKXX" else 4)
        owned |= pages
    lval = {p for p in range(template_pages, total) if data[p * PAGE + 4 : p * PAGE + 8] == b"LVAL"}
    memo_maps: set[int] = set()
    for table, tdef in (("CBF", catalog["CBF"]), ("FBF", catalog["FBF"])):
        tail = data[tdef * PAGE : (tdef + 1) * PAGE]
        at = tail.index(b"\xff\xff", 63 + 25 * len(MDB_TABLES[table])) - 10  # one memo column each
        memo_maps |= usage_map(data, struct.unpack_from("<I", tail, at + 2)[0])
    assert memo_maps == lval
    maps = {p for p in range(template_pages, total) if data[p * PAGE] == 0x05}
    assert owned | lval | maps == set(range(template_pages, total))  # no stray pages
    # Global usage map (page 1, row 0): set bits are free pages; pages past its window are free
    # too, so the window must reach past the end of the file and mark no written page free.
    raw = data[PAGE + struct.unpack_from("<H", data, PAGE + 14)[0] : 2 * PAGE]
    first = struct.unpack_from("<I", raw, 1)[0]
    bits = (len(raw) - 5) * 8
    assert first <= total - 1 < first + bits
    free = {first + i for i in range(bits) if raw[5 + i // 8] >> (i % 8) & 1}
    assert free & set(range(template_pages, total)) == set()
    assert set(range(total, first + bits)) <= free


# --- validation -------------------------------------------------------------------------------


def good_cbf(**changes: object) -> dict[str, object]:
    return {**SAMPLES["CBF"][1], **changes}


@pytest.mark.parametrize(
    ("tables", "row", "column", "rule"),
    [
        ({"CBF": [good_cbf(), good_cbf(CBFMC=None)]}, 2, "CBFMC", "NOT NULL"),
        ({"CBF": [{k: v for k, v in good_cbf().items() if k != "GSSHRQ"}]}, 1, "GSSHRQ", "NOT NULL"),
        ({"CBF": [good_cbf(cbfmc="张三")]}, 1, "cbfmc", "unknown column"),
        ({"CBF": [good_cbf(CBFMC="张" * 51)]}, 1, "CBFMC", "longer than 50"),
        ({"CBF": [good_cbf(YZBM="2021500")]}, 1, "YZBM", "longer than 6"),
        ({"CBF": [good_cbf(CBFLX="𠀀")]}, 1, "CBFLX", "longer than 1"),  # two UTF-16 units
        ({"CBF": [good_cbf(CBFMC=12)]}, 1, "CBFMC", "expected str"),
        ({"CBF": [good_cbf(CBFMC="a\x00b")]}, 1, "CBFMC", "NUL"),
        ({"CBF": [good_cbf(CBFCYSL=40000)]}, 1, "CBFCYSL", "Integer range"),
        ({"CBF": [good_cbf(CBFCYSL=2.0)]}, 1, "CBFCYSL", "expected int"),
        ({"CBF": [good_cbf(CBFDCRQ="2019-05-01")]}, 1, "CBFDCRQ", "expected date"),
        ({"CBF": [good_cbf(CBFDCRQ=dt.datetime(2019, 5, 1, 1, 2, 3, 4))]}, 1, "CBFDCRQ", "fractions of a second"),
        ({"CBF": [good_cbf(CBFDCJS="汉" * 5462)]}, 1, "CBFDCJS", "memo longer"),
        ({"CBDKXX": [{**SAMPLES["CBDKXX"][1], "HTMJ": Decimal("1.005")}]}, 1, "HTMJ", "more than 2 decimal"),
        ({"CBDKXX": [{**SAMPLES["CBDKXX"][1], "HTMJ": BIGGEST + 1}]}, 1, "HTMJ", "13 digits before"),
        ({"CBDKXX": [{**SAMPLES["CBDKXX"][1], "HTMJ": 0.1 + 0.2}]}, 1, "HTMJ", "decimal places"),
        ({"CBDKXX": [{**SAMPLES["CBDKXX"][1], "HTMJ": float("nan")}]}, 1, "HTMJ", "finite"),
        ({"CBDKXX": [{**SAMPLES["CBDKXX"][1], "HTMJ": "12.5"}]}, 1, "HTMJ", "expected Decimal"),
    ],
)
def test_invalid_rows_are_refused_and_nothing_is_left_behind(
    tmp_path: Path, tables: dict[str, list[dict[str, object]]], row: int, column: str, rule: str
) -> None:
    out = tmp_path / "bad.mdb"
    with pytest.raises(MdbWriteError) as caught:
        write_mdb(out, tables)
    table = next(iter(tables))
    error = caught.value
    assert (error.table, error.row, error.column) == (table, row, column)
    assert rule in error.rule
    assert f"{table} row {row}: column {column}: " in str(error)
    assert list(tmp_path.iterdir()) == []


def test_unknown_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MdbWriteError, match="unknown table CBFX"):
        write_mdb(tmp_path / "x.mdb", {"CBFX": []})
    assert list(tmp_path.iterdir()) == []


def test_reading_a_missing_table_or_file_fails_clearly(written: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    with pytest.raises(MdbReadError, match="mdb-export NOPE failed"):
        list(iter_table(written[0], "NOPE"))
    with pytest.raises(MdbReadError, match="no such file"):
        read_mdb(tmp_path / "missing.mdb")


def test_table_names_are_case_insensitive_and_streams_can_stop_early(written: tuple[Path, dict[str, int]]) -> None:
    rows = iter_table(written[0], "cbf")
    first = next(rows)
    rows.close()  # stops mdb-export and removes the scratch copy
    assert first == expected_export("CBF", SAMPLES["CBF"][0])


def test_a_missing_template_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MdbWriteError, match="template not found"):
        write_mdb(tmp_path / "x.mdb", {}, template=tmp_path / "none.mdb")


def test_a_template_that_is_not_jet4_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mdb"
    fake.write_bytes(bytes(PAGE * 2))
    with pytest.raises(MdbWriteError, match="not a JET4"):
        write_mdb(tmp_path / "out" / "x.mdb", {}, template=fake)
    assert list((tmp_path / "out").iterdir()) == []
