"""Our tables against the Ministry's ground truth: the template attribute database
(权属数据.mdb, read with mdbtools) and the template DK/JZD/JZX DBF headers."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
from django.db import connection

TEMPLATES = Path(__file__).resolve().parents[2] / "shared" / "ministry" / "templates"
MDB = TEMPLATES / "权属数据.mdb"

COLUMN = re.compile(
    r'^\s*"(\w+)"\s+(VARCHAR \((\d+)\)|NUMERIC \((\d+), (\d+)\)|INTEGER|DATE|TEXT|TIMESTAMP WITHOUT TIME ZONE)(.*)$'
)


def template_tables() -> dict[str, dict[str, dict[str, object]]]:
    out = subprocess.run(["mdb-schema", str(MDB), "postgres"], capture_output=True, check=True, text=True).stdout
    tables: dict[str, dict[str, dict[str, object]]] = {}
    current = None
    for line in out.splitlines():
        m = re.match(r'CREATE TABLE IF NOT EXISTS "(\w+)"', line)
        if m:
            current = m.group(1)
            tables[current] = {}
            continue
        m = COLUMN.match(line)
        if m and current:
            name, kind, length, precision, scale, rest = m.groups()
            tables[current][name] = {
                "kind": kind.split(" ")[0],
                "length": int(length) if length else None,
                "numeric": (int(precision), int(scale)) if precision else None,
                "not_null": "NOT NULL" in rest,
            }
    return tables


def our_columns(table: str) -> dict[str, dict[str, object]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale,
                      is_nullable
               FROM information_schema.columns WHERE table_name = %s""",
            [table],
        )
        return {
            row[0]: {"type": row[1], "length": row[2], "numeric": (row[3], row[4]), "nullable": row[5] == "YES"}
            for row in cursor.fetchall()
        }


@pytest.mark.django_db
def test_template_mdb_has_the_twelve_tables() -> None:
    assert sorted(template_tables()) == sorted(
        [
            "cbdkxx",
            "cbf",
            "cbf_jtcy",
            "cbht",
            "cbjyqz",
            "cbjyqz_qzbf",
            "cbjyqz_qzhf",
            "cbjyqz_qzzx",
            "cbjyqzdjb",
            "fbf",
            "lzht",
            "qslyzlfj",
        ]
    )


@pytest.mark.django_db
@pytest.mark.parametrize("table", sorted(template_tables()))
def test_every_template_column_exists_with_width_type_and_nullability(table: str) -> None:
    ours = our_columns(table)
    assert ours, f"table {table} missing"
    for name, spec in template_tables()[table].items():
        assert name in ours, f"{table}.{name} missing"
        col = ours[name]
        if spec["kind"] == "VARCHAR":
            assert col["type"] == "character varying", f"{table}.{name}: {col['type']}"
            assert col["length"] == spec["length"], f"{table}.{name}: width {col['length']} != {spec['length']}"
        elif spec["kind"] == "NUMERIC":
            assert col["numeric"] == spec["numeric"], f"{table}.{name}: {col['numeric']} != {spec['numeric']}"
        elif spec["kind"] == "INTEGER":
            assert col["type"] in ("smallint", "integer"), f"{table}.{name}: {col['type']}"
        elif spec["kind"] in ("DATE", "TIMESTAMP"):
            assert col["type"] == "date", f"{table}.{name}: {col['type']}"
        elif spec["kind"] == "TEXT":
            assert col["type"] in ("text", "character varying"), f"{table}.{name}: {col['type']}"
        assert col["nullable"] == (not spec["not_null"]), f"{table}.{name}: nullability differs from the template"


def dbf_fields(path: Path) -> list[tuple[str, str, int, int]]:
    data = path.read_bytes()
    fields = []
    offset = 32
    while data[offset] != 0x0D:
        raw = data[offset : offset + 32]
        name = raw[:11].split(b"\0")[0].decode("ascii")
        fields.append((name, chr(raw[11]), raw[16], raw[17]))
        offset += 32
    assert struct.unpack("<H", data[8:10])[0] == offset + 1
    return fields


@pytest.mark.django_db
@pytest.mark.parametrize("layer,table", [("DK", "dk"), ("JZD", "jzd"), ("JZX", "jzx")])
def test_spatial_tables_hold_every_template_dbf_field(layer: str, table: str) -> None:
    ours = our_columns(table)
    for name, kind, width, decimals in dbf_fields(TEMPLATES / f"{layer}.dbf"):
        column = name.lower()
        assert column in ours, f"{table}.{column} missing"
        col = ours[column]
        if kind == "C":
            assert col["type"] == "character varying"
            assert col["length"] == width, f"{table}.{column}: width {col['length']} != DBF {width}"
        elif column == "bsm":
            assert col["type"] == "bigint"
        else:
            precision, scale = col["numeric"]
            # The DBF width counts the sign and the decimal point: N(16,2) holds Float(15,2).
            assert scale == decimals, f"{table}.{column}: scale {scale} != {decimals}"
            assert precision >= width - 2, (
                f"{table}.{column}: precision {precision} too small for N({width},{decimals})"
            )
