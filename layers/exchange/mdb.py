"""Write and read the ownership database ``权属数据/{county6}{year4}.mdb`` (Access 2000/2003, JET4).

No library that runs here writes Access files (mdbtools' libmdb cannot allocate pages, Jackcess
and UCanAccess are Java and not packaged by Debian 12), so :func:`write_mdb` writes JET4 pages
itself, into a copy of the Ministry's empty template, following the page formats documented by
mdbtools (``HACKING.md``) and the choices Jackcess makes when it writes files that Access opens:

* each row goes into a data page (type 0x01) that points at its table's definition (TDEF) page;
  rows are packed from the end of the page, with a row-offset table after the 14-byte header;
* JET4 rows: column count, fixed-length area (Integer, DateTime at their TDEF offsets), the
  variable-length area (Text, Numeric - a "variable" column in this template - and Memo), the
  end-of-data offset, the variable-column offsets in reverse order, their count and the null mask;
* Text: UTF-16LE, or "Unicode compression" (0xFF 0xFE + one byte a character) for printable
  ASCII in columns that have the flag, as Jackcess does; Numeric(15,2): sign byte and a 128-bit
  unscaled integer as four little-endian 32-bit words, most significant first; DateTime: days
  since 1899-12-30 as a double; Memo: 12-byte long-value header, the text inline when it is at
  most 64 bytes, else in rows of LVAL pages (one row, or a chain of rows when over 4076 bytes);
* afterwards the TDEF row count, the table's usage maps (owned pages, pages with free space), the
  memo columns' own usage maps and the database's global usage map (page 1, row 0: a set bit is
  a *free* page, pages past its window are free) are updated so that Access, mdbtools and
  Jackcess-style readers find the pages and Access does not hand them out again.

The template's 12 tables have no indexes (checked when the template is read: a table with an index
is refused, since its B-tree pages would have to be written too). Values are validated against
:data:`layers.exchange.schema.MDB_TABLES` before each row is encoded; the file is written to a
temporary name and renamed at the end, so a failure leaves no half-written database behind.

Reading (:func:`iter_table`, :func:`read_mdb`) goes through ``mdb-export`` (mdbtools), on a
scratch copy whose DateTime columns are relabelled Double: libmdb prints any date after about
2737 or before 1899-12-30 as ``1900-01-00`` (its ``mdb_date_to_tm`` gives up), which would lose
CBQXZ = 9999-01-01 (长久不变); as a Double it prints the day number, converted here.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import math
import mmap
import os
import re
import secrets
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, Inexact, InvalidOperation
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from layers.exchange.schema import MDB_TABLES, AccessKind, Column

# The Ministry's empty 权属数据.mdb; NONGDI_MDB_TEMPLATE overrides where shared/ is not beside the code.
TEMPLATE = Path(
    os.environ.get(
        "NONGDI_MDB_TEMPLATE",
        Path(__file__).resolve().parents[3] / "shared" / "ministry" / "templates" / "权属数据.mdb",
    )
)

PAGE_SIZE = 4096
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# mdb-export reads a value into a 16 KiB buffer (libmdb's MDB_BIND_SIZE) and silently cuts what
# does not fit; refusing longer memos keeps every value we write readable by our own importer.
MEMO_MAX_UTF8_BYTES = 16383

# JET4 constants (mdbtools HACKING.md; Jackcess JetFormat.Jet4Format).
_PAGE_DATA = 0x01
_PAGE_TDEF = 0x02
_PAGE_USAGE_MAP = 0x05
_DATA_HEADER = 14
_MAX_ROWS_PER_PAGE = 255
_MAX_ROW_SIZE = 4060
_MAX_INLINE_LONG_VALUE = 64
_MAX_LONG_VALUE_ROW = 4076
_MAX_COMPRESSED_CHARS = 1024
_USAGE_PAGE_BITS = (PAGE_SIZE - 4) * 8
# Row-offset flags as Jackcess reads them (libmdb names them the other way round).
_ROW_DELETED = 0x8000
_ROW_OVERFLOW = 0x4000

_TYPE_INTEGER = 0x03
_TYPE_DATETIME = 0x08
_TYPE_TEXT = 0x0A
_TYPE_MEMO = 0x0C
_TYPE_NUMERIC = 0x10
_KIND_TYPES: dict[AccessKind, int] = {
    "text": _TYPE_TEXT,
    "numeric": _TYPE_NUMERIC,
    "integer": _TYPE_INTEGER,
    "date": _TYPE_DATETIME,
    "memo": _TYPE_MEMO,
}
_FIXED_SIZES = {_TYPE_INTEGER: 2, _TYPE_DATETIME: 8}

_ACCESS_EPOCH = dt.datetime(1899, 12, 30)
_COMPRESSIBLE = re.compile(r"[\x20-\x7e\t\r\n]*")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I16 = struct.Struct("<h")
_F64 = struct.Struct("<d")
_NUMERIC = struct.Struct("<BIIII")
# Exact decimal arithmetic: more digits than any Numeric column, and rounding is an error.
_EXACT = Context(prec=64, traps=[Inexact, InvalidOperation])
_STEPS = [Decimal(1).scaleb(-scale) for scale in range(29)]


class MdbWriteError(ValueError):
    """A row breaks a rule of the table, or the template is not what the writer expects."""

    def __init__(self, message: str, *, table: str = "", row: int = 0, column: str = "", rule: str = "") -> None:
        super().__init__(message)
        self.table = table
        self.row = row
        self.column = column
        self.rule = rule


class MdbReadError(RuntimeError):
    """mdb-export failed, or printed a value that does not parse as its column's type."""


# --------------------------------------------------------------------------------------------
# Template structure
# --------------------------------------------------------------------------------------------


@dataclass
class _TemplateColumn:
    name: str
    type: int
    number: int
    var_index: int
    fixed_offset: int
    length: int
    fixed: bool
    compressed: bool
    precision: int
    scale: int


@dataclass
class _TemplateTable:
    name: str
    tdef_page: int
    max_cols: int
    num_var_cols: int
    num_rows: int
    columns: list[_TemplateColumn]
    owned_map: tuple[int, int]
    free_map: tuple[int, int]
    # Memo columns' own usage maps (column number -> (owned, free)), written by Access 2007+.
    lval_maps: dict[int, tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=dict)


class _Pages(Protocol):
    """Pages by number: the template's in memory, or a memory-mapped file's."""

    def __len__(self) -> int: ...

    def __getitem__(self, number: int, /) -> bytes | bytearray: ...


def _pointer(value: int) -> tuple[int, int]:
    """A row pointer (row number in the low byte, page above it) as (page, row)."""
    return value >> 8, value & 0xFF


def _row_bounds(page: bytes | bytearray, row: int) -> tuple[int, int]:
    """Start and end offsets of ``row`` on a data page (flags masked off)."""
    count = _U16.unpack_from(page, 12)[0]
    if row >= count:
        raise MdbWriteError(f"template page has no row {row}")
    start = _U16.unpack_from(page, _DATA_HEADER + 2 * row)[0] & 0x1FFF
    end = PAGE_SIZE if row == 0 else _U16.unpack_from(page, _DATA_HEADER + 2 * (row - 1))[0] & 0x1FFF
    return start, end


def _decode_text(raw: bytes) -> str:
    """JET4 text: UTF-16LE, or 0xFF 0xFE then runs toggled by 0x00 (one byte, two bytes a char)."""
    if raw[:2] != b"\xff\xfe":
        return raw.decode("utf-16-le", errors="replace")
    out = bytearray()
    compressed = True
    i = 2
    while i < len(raw):
        if raw[i] == 0:
            compressed = not compressed
            i += 1
        elif compressed:
            out += bytes((raw[i], 0))
            i += 1
        else:
            out += raw[i : i + 2]
            i += 2
    return out.decode("utf-16-le", errors="replace")


def _tdef_bytes(pages: _Pages, tdef_page: int, name: str) -> tuple[bytearray, list[int]]:
    """A TDEF's bytes, continuation pages appended without their 8-byte headers, and its pages."""
    first = pages[tdef_page]
    if first[0] != _PAGE_TDEF:
        raise MdbWriteError(f"template: page {tdef_page} of table {name} is not a table definition")
    buf = bytearray(first)
    chain = [tdef_page]
    nxt = _U32.unpack_from(first, 4)[0]
    while nxt and nxt not in chain:
        chain.append(nxt)
        buf += pages[nxt][8:]
        nxt = _U32.unpack_from(pages[nxt], 4)[0]
    return buf, chain


def _tdef_location(chain: list[int], offset: int) -> tuple[int, int]:
    """(page, offset in page) of byte ``offset`` of a TDEF spread over ``chain``."""
    if offset < PAGE_SIZE:
        return chain[0], offset
    index, rest = divmod(offset - PAGE_SIZE, PAGE_SIZE - 8)
    return chain[1 + index], 8 + rest


def _tdef_columns(buf: bytearray) -> tuple[list[_TemplateColumn], int]:
    """The column blocks and names of a TDEF, and the offset just after the names."""
    num_cols = _U16.unpack_from(buf, 45)[0]
    pos = 63 + 12 * _U32.unpack_from(buf, 51)[0]
    columns = []
    for _ in range(num_cols):
        number, var_index = struct.unpack_from("<HH", buf, pos + 5)
        fixed_offset, length = struct.unpack_from("<HH", buf, pos + 21)
        columns.append(
            _TemplateColumn(
                name="",
                type=buf[pos],
                number=number,
                var_index=var_index,
                fixed_offset=fixed_offset,
                length=length,
                fixed=bool(buf[pos + 15] & 0x01),
                compressed=bool(buf[pos + 16] & 0x01),
                precision=buf[pos + 11],
                scale=buf[pos + 12],
            )
        )
        pos += 25
    for col in columns:
        size = _U16.unpack_from(buf, pos)[0]
        col.name = _decode_text(bytes(buf[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    return columns, pos


def _read_tdef(pages: _Pages, tdef_page: int, name: str) -> _TemplateTable:
    """Parse a user table's TDEF far enough to write rows into it."""
    buf, _ = _tdef_bytes(pages, tdef_page, name)
    num_rows = _U32.unpack_from(buf, 16)[0]
    max_cols, num_var_cols = struct.unpack_from("<HH", buf, 41)
    num_idx, num_real_idx = struct.unpack_from("<II", buf, 47)
    owned, free = struct.unpack_from("<II", buf, 55)
    if num_idx or num_real_idx:
        # Rows of an indexed table must also go into its index B-tree pages; not implemented.
        raise MdbWriteError(f"template: table {name} has indexes, which this writer does not maintain", table=name)
    columns, pos = _tdef_columns(buf)
    table = _TemplateTable(name, tdef_page, max_cols, num_var_cols, num_rows, columns, _pointer(owned), _pointer(free))
    # With no index blocks, the memo columns' usage maps follow the names, ended by 0xFFFF.
    while pos + 2 <= len(buf):
        number = _U16.unpack_from(buf, pos)[0]
        if number == 0xFFFF:
            break
        col_owned, col_free = struct.unpack_from("<II", buf, pos + 2)
        table.lval_maps[number] = (_pointer(col_owned), _pointer(col_free))
        pos += 10
    return table


def _crack_row(row: bytes, columns: list[_TemplateColumn]) -> dict[str, bytes | None]:
    """Split a JET4 row into raw column values (used for the catalog only)."""
    num_cols = _U16.unpack_from(row, 0)[0]
    mask_len = (num_cols + 7) // 8
    mask = row[len(row) - mask_len :]
    var_count = _U16.unpack_from(row, len(row) - mask_len - 2)[0]
    offsets = [_U16.unpack_from(row, len(row) - mask_len - 4 - 2 * i)[0] for i in range(var_count + 1)]
    out: dict[str, bytes | None] = {}
    for col in columns:
        present = col.number < num_cols and mask[col.number // 8] >> (col.number % 8) & 1
        if not present:
            out[col.name] = None
        elif col.fixed:
            out[col.name] = row[2 + col.fixed_offset : 2 + col.fixed_offset + col.length]
        elif col.var_index < var_count:
            out[col.name] = row[offsets[col.var_index] : offsets[col.var_index + 1]]
        else:
            out[col.name] = None
    return out


def _catalog(pages: _Pages) -> dict[str, int]:
    """Table name -> TDEF page, from MSysObjects (whose TDEF is always page 2)."""
    # MSysObjects has indexes; only its columns are needed here.
    columns, _ = _tdef_columns(_tdef_bytes(pages, 2, "MSysObjects")[0])
    tables: dict[str, int] = {}
    for number in range(len(pages)):
        page = pages[number]
        if page[0] != _PAGE_DATA or _U32.unpack_from(page, 4)[0] != 2:
            continue
        for i in range(_U16.unpack_from(page, 12)[0]):
            flags = _U16.unpack_from(page, _DATA_HEADER + 2 * i)[0]
            if flags & _ROW_DELETED:
                continue
            start, end = _row_bounds(page, i)
            row = bytes(page[start:end])
            if flags & _ROW_OVERFLOW:  # the row moved: here is a pointer to where it lives now
                target_page, target_row = _pointer(_U32.unpack_from(row)[0])
                target = pages[target_page]
                start, end = _row_bounds(target, target_row)
                row = bytes(target[start:end])
            values = _crack_row(row, columns)
            kind, name, ident = values.get("Type"), values.get("Name"), values.get("Id")
            if kind is None or name is None or ident is None:
                continue
            if _I16.unpack_from(kind)[0] == 1:
                tables[_decode_text(name)] = _U32.unpack_from(ident)[0] & 0x00FFFFFF
    return tables


def _check_table(template: _TemplateTable, declared: tuple[Column, ...]) -> None:
    """The template's columns must be the declared ones, with the types the encoders expect."""
    by_name = {c.name: c for c in template.columns}
    if sorted(by_name) != sorted(c.name for c in declared):
        raise MdbWriteError(f"template: table {template.name} has columns {sorted(by_name)}, not as declared")
    for column in declared:
        tcol = by_name[column.name]
        expected = _KIND_TYPES[column.kind]
        if tcol.type != expected:
            raise MdbWriteError(
                f"template: {template.name}.{column.name} has JET type {tcol.type:#x}, not {column.kind}"
            )
        if column.kind == "text" and tcol.length != 2 * column.width:
            raise MdbWriteError(
                f"template: {template.name}.{column.name} is Text({tcol.length // 2}), not {column.width}"
            )
        if tcol.type in _FIXED_SIZES and not tcol.fixed:
            raise MdbWriteError(f"template: {template.name}.{column.name} is not a fixed-length column")
        if tcol.type in (_TYPE_TEXT, _TYPE_MEMO, _TYPE_NUMERIC) and tcol.fixed:
            raise MdbWriteError(f"template: {template.name}.{column.name} is a fixed-length {column.kind} column")
        if column.kind == "numeric" and (tcol.precision, tcol.scale) != (column.width, column.scale):
            raise MdbWriteError(f"template: {template.name}.{column.name} is Numeric({tcol.precision},{tcol.scale})")
    if template.num_rows:
        raise MdbWriteError(f"template: table {template.name} is not empty")
    var_indexes = sorted(c.var_index for c in template.columns if not c.fixed)
    if var_indexes != list(range(template.num_var_cols)):
        raise MdbWriteError(f"template: table {template.name} has gaps in its variable columns")


# --------------------------------------------------------------------------------------------
# Value encoders: each takes a Python value and returns the bytes stored in the row, or raises
# _InvalidError with the rule that was broken.
# --------------------------------------------------------------------------------------------


class _InvalidError(Exception):
    """A value breaks a column rule (becomes an MdbWriteError with table/row/column)."""


def _text_bytes(value: object, width: int | None, compressed: bool) -> bytes:
    if not isinstance(value, str):
        raise _InvalidError(f"expected str, got {type(value).__name__}")
    if value.isascii():
        # Fast path: one UTF-16 unit a character, and the only text that is ever compressed.
        if width is not None and len(value) > width:
            raise _InvalidError(f"text longer than {width} characters ({len(value)})")
        if compressed and 2 < len(value) <= _MAX_COMPRESSED_CHARS and _COMPRESSIBLE.fullmatch(value):
            return b"\xff\xfe" + value.encode("ascii")
        if "\x00" in value:
            raise _InvalidError("contains a NUL character")
        return value.encode("utf-16-le")
    if "\x00" in value:
        raise _InvalidError("contains a NUL character")
    if value.startswith("\ufeff"):
        # 0xFF 0xFE first would read as the Unicode-compression marker.
        raise _InvalidError("starts with U+FEFF (byte-order mark)")
    encoded = value.encode("utf-16-le")
    # Access counts UTF-16 units: a character outside the BMP takes two of the width.
    if width is not None and len(encoded) > 2 * width:
        raise _InvalidError(f"text longer than {width} characters ({len(encoded) // 2} UTF-16 units)")
    return encoded


def _numeric_bytes(value: object, precision: int, scale: int) -> bytes:
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr() is the shortest decimal that round-trips (12.3, not 12.300000000000000710...).
        number = Decimal(repr(value))
    else:
        raise _InvalidError(f"expected Decimal, int or float, got {type(value).__name__}")
    if not number.is_finite():
        raise _InvalidError(f"not a finite number: {value}")
    try:
        # Traps turn any rounding into an error: no silent loss of decimals.
        unscaled = int(number.quantize(_STEPS[scale], context=_EXACT).scaleb(scale, _EXACT))
    except Inexact:
        raise _InvalidError(f"more than {scale} decimal places: {value}") from None
    except InvalidOperation:
        raise _InvalidError(f"more than {precision} digits: {value}") from None
    magnitude = abs(unscaled)
    if magnitude >= 10**precision:
        raise _InvalidError(f"more than {precision - scale} digits before the decimal point: {value}")
    return _NUMERIC.pack(
        0x80 if unscaled < 0 else 0,
        (magnitude >> 96) & 0xFFFFFFFF,
        (magnitude >> 64) & 0xFFFFFFFF,
        (magnitude >> 32) & 0xFFFFFFFF,
        magnitude & 0xFFFFFFFF,
    )


def _integer_bytes(value: object) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _InvalidError(f"expected int, got {type(value).__name__}")
    if not -32768 <= value <= 32767:
        raise _InvalidError(f"outside the Integer range -32768..32767: {value}")
    return _I16.pack(value)


def _date_bytes(value: object) -> bytes:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise _InvalidError("timezone-aware datetime (Access stores local time)")
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        raise _InvalidError(f"expected date or datetime, got {type(value).__name__}")
    if moment.microsecond:
        # Access shows, and mdb-export prints, whole seconds only.
        raise _InvalidError(f"fractions of a second are not kept by Access: {value}")
    if moment.year < 100:
        raise _InvalidError(f"before the year 100, outside Access's date range: {value}")
    delta = moment - _ACCESS_EPOCH
    days = delta.days
    fraction = delta.seconds / 86400
    # Before 1899-12-30 Access keeps the time of day positive: -1.25 is 1899-12-29 06:00.
    return _F64.pack(days + fraction if days >= 0 else days - fraction)


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


class _PageBuilder:
    """A data (or LVAL) page being filled with rows."""

    __slots__ = ("number", "owner", "rows", "used")

    def __init__(self, number: int, owner: bytes) -> None:
        self.number = number
        self.owner = owner  # TDEF page number as 4 bytes, or b"LVAL"
        self.rows: list[bytes] = []
        self.used = 0

    def free(self) -> int:
        return PAGE_SIZE - _DATA_HEADER - 2 * len(self.rows) - self.used

    def fits(self, size: int) -> bool:
        return len(self.rows) < _MAX_ROWS_PER_PAGE and size + 2 <= self.free()

    def add(self, row: bytes) -> int:
        self.rows.append(row)
        self.used += len(row)
        return len(self.rows) - 1

    def render(self) -> bytes:
        offsets = []
        end = PAGE_SIZE
        for row in self.rows:
            end -= len(row)
            offsets.append(end)
        header = struct.pack("<BBH4sIH", _PAGE_DATA, 1, self.free(), self.owner, 0, len(self.rows))
        table = struct.pack(f"<{len(offsets)}H", *offsets)
        body = b"".join(reversed(self.rows))
        gap = PAGE_SIZE - len(header) - len(table) - len(body)
        return header + table + bytes(gap) + body


class _Database:
    """The copied template opened for appending pages; metadata pages patched in memory."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "r+b")  # noqa: SIM115 - closed by close()
        data = self.file.read()
        if len(data) < PAGE_SIZE or len(data) % PAGE_SIZE or data[0x14] != 0x01:
            self.file.close()
            raise MdbWriteError("template is not a JET4 (Access 2000/2003) database")
        self.pages = [bytearray(data[i : i + PAGE_SIZE]) for i in range(0, len(data), PAGE_SIZE)]
        self.initial_pages = len(self.pages)
        self.next_page = self.initial_pages
        self.dirty: set[int] = set()

    def allocate(self) -> int:
        number = self.next_page
        self.next_page += 1
        return number

    def write_page(self, number: int, data: bytes) -> None:
        self.file.seek(number * PAGE_SIZE)
        self.file.write(data)

    def map_row(self, location: tuple[int, int]) -> tuple[bytearray, int, int]:
        page, row = location
        buf = self.pages[page]
        start, end = _row_bounds(buf, row)
        return buf, start, end

    def map_is_empty(self, location: tuple[int, int]) -> bool:
        buf, start, end = self.map_row(location)
        if buf[start] == 0:
            return not any(buf[start + 5 : end])
        return not any(buf[start + 1 : end])

    def set_map(self, location: tuple[int, int], pages: list[int]) -> None:
        """Rewrite a usage-map row (same length) to list exactly ``pages``."""
        buf, start, end = self.map_row(location)
        length = end - start
        inline_bits = (length - 5) * 8
        if not pages:
            buf[start:end] = bytes(length)
        elif pages[-1] - pages[0] < inline_bits:
            # Inline map: type 0, first page, bitmap (Jackcess starts the window at the first page).
            first = pages[0]
            bitmap = bytearray(length - 5)
            for p in pages:
                bitmap[(p - first) >> 3] |= 1 << ((p - first) & 7)
            buf[start:end] = b"\x00" + _U32.pack(first) + bitmap
        else:
            # Reference map: type 1, then pointers to usage-map pages of 4092-byte bitmaps.
            slots = (length - 1) // 4
            if pages[-1] >= slots * _USAGE_PAGE_BITS:
                raise MdbWriteError("database too large for its usage map")
            bitmaps: dict[int, bytearray] = {}
            for p in pages:
                slot, bit = divmod(p, _USAGE_PAGE_BITS)
                bitmaps.setdefault(slot, bytearray(PAGE_SIZE - 4))[bit >> 3] |= 1 << (bit & 7)
            row = bytearray(length)
            row[0] = 1
            for slot, bitmap in sorted(bitmaps.items()):
                number = self.allocate()
                self.write_page(number, bytes((_PAGE_USAGE_MAP, 1, 0, 0)) + bitmap)
                _U32.pack_into(row, 1 + 4 * slot, number)
            buf[start:end] = row
        self.dirty.add(location[0])

    def finish(self) -> None:
        """Mark every appended page as used in the global usage map and write patched pages."""
        buf, start, end = self.map_row((1, 0))
        if buf[start] != 0:
            raise MdbWriteError("template: the global usage map is not an inline map")
        bits = (end - start - 5) * 8
        first = _U32.unpack_from(buf, start + 1)[0]
        total = self.next_page
        old_free = {
            first + i
            for i in range(bits)
            if buf[start + 5 + (i >> 3)] >> (i & 7) & 1 and first + i < self.initial_pages
        }
        # Pages past the window count as free, so the window must reach past the last page. Move
        # it as Jackcess does when it appends (new start = new page - half a window); pages left
        # before the window count as used.
        end_page = first + bits
        while total > end_page:
            first = end_page - bits // 2
            end_page = first + bits
        bitmap = bytearray(bits // 8)
        for i in range(bits):
            page = first + i
            if page >= total or page in old_free:
                bitmap[i >> 3] |= 1 << (i & 7)
        buf[start:end] = b"\x00" + _U32.pack(first) + bitmap
        self.dirty.add(1)
        for number in sorted(self.dirty):
            self.write_page(number, bytes(self.pages[number]))
        self.file.truncate(total * PAGE_SIZE)
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


# --------------------------------------------------------------------------------------------
# Table writer
# --------------------------------------------------------------------------------------------

Encoder = Callable[[object], bytes]


@dataclass
class _Slot:
    """One column as the row encoder sees it."""

    name: str
    number: int
    not_null: bool
    encode: Encoder
    fixed_offset: int = 0


class _TableWriter:
    def __init__(self, db: _Database, template: _TemplateTable, declared: tuple[Column, ...]) -> None:
        self.db = db
        self.template = template
        self.name = template.name
        by_name = {c.name: c for c in template.columns}
        self.known = frozenset(by_name)
        self.fixed: list[_Slot] = []
        self.var: list[_Slot] = []
        self.fixed_size = 0
        for column in declared:
            tcol = by_name[column.name]
            slot = _Slot(column.name, tcol.number, column.not_null, self._encoder(column, tcol))
            if tcol.fixed:
                slot.fixed_offset = tcol.fixed_offset
                self.fixed.append(slot)
                self.fixed_size = max(self.fixed_size, tcol.fixed_offset + _FIXED_SIZES[tcol.type])
            else:
                self.var.append(slot)
        var_index = {by_name[s.name].number: by_name[s.name].var_index for s in self.var}
        self.var.sort(key=lambda s: var_index[s.number])
        self.header = _U16.pack(template.max_cols)
        self.mask_len = (template.max_cols + 7) // 8
        self.page: _PageBuilder | None = None
        self.pages: list[int] = []
        self.lval_page: dict[int, _PageBuilder] = {}
        self.lval_pages: dict[int, list[int]] = {}
        self.count = 0

    def _encoder(self, column: Column, tcol: _TemplateColumn) -> Encoder:
        if column.kind == "text":
            width, compressed = column.width, tcol.compressed
            return lambda v: _text_bytes(v, width, compressed)
        if column.kind == "memo":
            compressed = tcol.compressed
            number = tcol.number

            def memo(value: object) -> bytes:
                data = _text_bytes(value, None, compressed)
                assert isinstance(value, str)
                if len(value.encode("utf-8")) > MEMO_MAX_UTF8_BYTES:
                    raise _InvalidError(f"memo longer than {MEMO_MAX_UTF8_BYTES} UTF-8 bytes (mdb-export's limit)")
                return self._long_value(number, data)

            return memo
        if column.kind == "numeric":
            precision, scale = column.width, column.scale
            return lambda v: _numeric_bytes(v, precision, scale)
        if column.kind == "integer":
            return _integer_bytes
        return _date_bytes

    def _long_value(self, column: int, data: bytes) -> bytes:
        """The 12-byte memo header, followed by the data when it is small enough to stay inline."""
        if len(data) <= _MAX_INLINE_LONG_VALUE:
            return _U32.pack(len(data) | 0x80000000) + bytes(8) + data
        if len(data) <= _MAX_LONG_VALUE_ROW:
            page, row = self._lval_row(column, data)
            return _U32.pack(len(data) | 0x40000000) + _U32.pack(page << 8 | row) + bytes(4)
        # Several rows, each on its own new page, each starting with a pointer to the next.
        chunk = _MAX_LONG_VALUE_ROW - 4
        pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        numbers = [self.db.allocate() for _ in pieces]
        for i, piece in enumerate(pieces):
            nxt = numbers[i + 1] << 8 if i + 1 < len(pieces) else 0
            builder = _PageBuilder(numbers[i], b"LVAL")
            builder.add(_U32.pack(nxt) + piece)
            self.db.write_page(numbers[i], builder.render())
            self.lval_pages.setdefault(column, []).append(numbers[i])
        return _U32.pack(len(data)) + _U32.pack(numbers[0] << 8) + bytes(4)

    def _lval_row(self, column: int, data: bytes) -> tuple[int, int]:
        builder = self.lval_page.get(column)
        if builder is None or not builder.fits(len(data)):
            if builder is not None:
                self.db.write_page(builder.number, builder.render())
            builder = _PageBuilder(self.db.allocate(), b"LVAL")
            self.lval_page[column] = builder
            self.lval_pages.setdefault(column, []).append(builder.number)
        return builder.number, builder.add(data)

    def _fail(self, row: int, column: str, rule: str) -> MdbWriteError:
        return MdbWriteError(
            f"{self.name} row {row}: column {column}: {rule}", table=self.name, row=row, column=column, rule=rule
        )

    def add(self, values: Mapping[str, object]) -> None:
        number = self.count + 1
        if not self.known.issuperset(values):
            name = sorted(values.keys() - self.known)[0]
            raise self._fail(number, name, f"unknown column (columns are {', '.join(sorted(self.known))})")
        mask = bytearray(self.mask_len)
        fixed = bytearray(self.fixed_size)
        for slot in self.fixed:
            value = values.get(slot.name)
            if value is None:
                if slot.not_null:
                    raise self._fail(number, slot.name, "NOT NULL column is None")
                continue
            try:
                data = slot.encode(value)
            except _InvalidError as exc:
                raise self._fail(number, slot.name, str(exc)) from None
            fixed[slot.fixed_offset : slot.fixed_offset + len(data)] = data
            mask[slot.number >> 3] |= 1 << (slot.number & 7)
        parts = [self.header, fixed]
        position = 2 + self.fixed_size
        offsets = []
        for slot in self.var:
            offsets.append(position)
            value = values.get(slot.name)
            if value is None:
                if slot.not_null:
                    raise self._fail(number, slot.name, "NOT NULL column is None")
                continue
            try:
                data = slot.encode(value)
            except _InvalidError as exc:
                raise self._fail(number, slot.name, str(exc)) from None
            parts.append(data)
            position += len(data)
            mask[slot.number >> 3] |= 1 << (slot.number & 7)
        offsets.reverse()
        parts.append(struct.pack(f"<H{len(offsets)}HH", position, *offsets, len(offsets)))
        parts.append(mask)
        row = b"".join(parts)
        if len(row) > _MAX_ROW_SIZE:
            raise self._fail(number, "*", f"row of {len(row)} bytes is longer than JET4's {_MAX_ROW_SIZE}")
        page = self.page
        if page is None or not page.fits(len(row)):
            if page is not None:
                self.db.write_page(page.number, page.render())
            page = self.page = _PageBuilder(self.db.allocate(), _U32.pack(self.template.tdef_page))
            self.pages.append(page.number)
        page.add(row)
        self.count = number

    def close(self) -> None:
        """Flush the open pages and point the table's metadata at them."""
        db, template = self.db, self.template
        if self.page is not None:
            db.write_page(self.page.number, self.page.render())
        for builder in self.lval_page.values():
            db.write_page(builder.number, builder.render())
        db.set_map(template.owned_map, self.pages)
        # As Jackcess leaves it after appending: only the last page may take more rows.
        db.set_map(template.free_map, self.pages[-1:])
        for column, (owned, free) in template.lval_maps.items():
            lval = self.lval_pages.get(column, [])
            db.set_map(owned, lval)
            last = self.lval_page.get(column)
            db.set_map(free, [last.number] if last is not None and last.free() > 0 else [])
        _U32.pack_into(db.pages[template.tdef_page], 16, self.count)
        db.dirty.add(template.tdef_page)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def write_mdb(
    out_path: Path,
    tables: Mapping[str, Iterable[Mapping[str, object]]],
    *,
    template: Path = TEMPLATE,
) -> dict[str, int]:
    """Copy the template to ``out_path`` and write the rows of each table; return rows per table.

    ``tables`` maps table names of :data:`MDB_TABLES` to iterables of rows (upper-case column
    names; None or a missing key is NULL). Rows are consumed one at a time, so a table may be a
    generator of any length. Raises :class:`MdbWriteError` on the first invalid value, naming the
    table, the 1-based row number, the column and the rule; ``out_path`` is then not created.
    """
    unknown = sorted(set(tables) - set(MDB_TABLES))
    if unknown:
        raise MdbWriteError(
            f"unknown table {unknown[0]} (tables are {', '.join(sorted(MDB_TABLES))})", table=unknown[0]
        )
    template = Path(template)
    if not template.is_file():
        raise MdbWriteError(f"template not found: {template} (set NONGDI_MDB_TEMPLATE to its path)")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target so the final rename is atomic; created by copyfile, so with the umask's
    # permissions rather than mkstemp's 0600.
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        shutil.copyfile(template, tmp)
        db = _Database(tmp)
        try:
            catalog = _catalog(db.pages)
            templates: dict[str, _TemplateTable] = {}
            for name, declared in MDB_TABLES.items():
                if name not in catalog:
                    raise MdbWriteError(f"template: table {name} is missing", table=name)
                tdef = _read_tdef(db.pages, catalog[name], name)
                _check_table(tdef, declared)
                maps = [tdef.owned_map, tdef.free_map, *(m for pair in tdef.lval_maps.values() for m in pair)]
                if not all(db.map_is_empty(m) for m in maps):
                    raise MdbWriteError(f"template: table {name} is not empty", table=name)
                templates[name] = tdef
            counts = dict.fromkeys(MDB_TABLES, 0)
            for name, rows in tables.items():
                writer = _TableWriter(db, templates[name], MDB_TABLES[name])
                for row in rows:
                    writer.add(row)
                writer.close()
                counts[name] = writer.count
            db.finish()
        finally:
            db.close()
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts


# --------------------------------------------------------------------------------------------
# Reading with mdb-export
# --------------------------------------------------------------------------------------------

_TYPE_DOUBLE = 0x07
# What mdb-export prints for a DateTime it cannot convert (libmdb's mdb_date_to_tm gives up
# outside 1899-12-30 .. about 2737 and leaves the struct tm zeroed).
_UNPRINTABLE_DATE = "1900-01-00 00:00:00"
_NUMBER = re.compile(r"-?\d+(\.\d*)?([eE][-+]?\d+)?")


class _MappedPages:
    """The pages of a memory-mapped file, as a sequence of bytes."""

    def __init__(self, mapped: mmap.mmap) -> None:
        self.mapped = mapped

    def __len__(self) -> int:
        return len(self.mapped) // PAGE_SIZE

    def __getitem__(self, number: int, /) -> bytes:
        if not 0 <= number < len(self):
            raise IndexError(number)
        return self.mapped[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]


def _relabel_dates(path: Path, tables: Iterable[str]) -> dict[str, set[str]] | None:
    """Turn the DateTime columns of ``tables`` into Doubles, in place (on a scratch copy).

    Both are 8-byte fixed columns holding the same double, so mdb-export then prints the day
    number itself, which :func:`_parse_date` converts - including 9999-01-01 (长久不变), which
    libmdb cannot print as a date. Returns the relabelled columns of each table, or None when
    the file cannot be parsed that far (it is then exported as it is).
    """
    relabelled: dict[str, set[str]] = {}
    try:
        with open(path, "r+b") as handle, mmap.mmap(handle.fileno(), 0) as mapped:
            pages = _MappedPages(mapped)
            # mdb-export finds tables whatever the case of their names; so do we.
            catalog = {name.upper(): page for name, page in _catalog(pages).items()}
            for table in tables:
                if table.upper() not in catalog:
                    continue
                buf, chain = _tdef_bytes(pages, catalog[table.upper()], table)
                columns, _ = _tdef_columns(buf)
                block = 63 + 12 * _U32.unpack_from(buf, 51)[0]
                for i, column in enumerate(columns):
                    if column.type == _TYPE_DATETIME:
                        page, offset = _tdef_location(chain, block + 25 * i)
                        mapped[page * PAGE_SIZE + offset] = _TYPE_DOUBLE
                        relabelled.setdefault(table, set()).add(column.name)
            mapped.flush()
    except (MdbWriteError, IndexError, ValueError, struct.error, OSError):
        return None
    return relabelled


_TYPE_BINARY = 0x09
# libmdb skips the rows flagged 0x4000 (its "deleted"; Jackcess's overflow pointer), and reads
# the rest in place: so do we, to give the rows in mdb-export's order.
_LIBMDB_SKIPPED = 0x4000


@dataclass(frozen=True)
class NumericColumns:
    """Numeric columns of a table that a scratch copy relabels Binary, so that mdb-export
    prints them empty at once (libmdb spends ~25 µs printing each Numeric value: 8 s of the
    100 k-parcel county's CBDKXX), and :func:`iter_numeric_rows` reads them instead. ``key``
    is a text column mdb-export still prints: each row read here carries it, so that the two
    readers' rows can be matched and a disagreement found."""

    table: str
    key: str
    names: tuple[str, ...]


def relabel_numerics(path: Path, tables: Iterable[str]) -> dict[str, NumericColumns]:
    """Relabel the Numeric columns of ``tables`` as Binary, in place (on a scratch copy);
    only for tables with a text column to match rows by, whose Numeric columns all hold
    JET4's 17-byte value. Nothing is changed for a file whose structure cannot be followed."""
    found: dict[str, NumericColumns] = {}
    try:
        with open(path, "r+b") as handle, mmap.mmap(handle.fileno(), 0) as mapped:
            pages = _MappedPages(mapped)
            catalog = {name.upper(): page for name, page in _catalog(pages).items()}
            changes: list[tuple[int, str, NumericColumns]] = []
            for table in tables:
                if table.upper() not in catalog:
                    continue
                buf, chain = _tdef_bytes(pages, catalog[table.upper()], table)
                columns, _ = _tdef_columns(buf)
                key = next((c for c in sorted(columns, key=lambda c: c.number) if c.type == _TYPE_TEXT), None)
                numerics = [c for c in columns if c.type == _TYPE_NUMERIC]
                if key is None or not numerics:
                    continue
                block = 63 + 12 * _U32.unpack_from(buf, 51)[0]
                spec = NumericColumns(table, key.name, tuple(c.name for c in numerics))
                for i, column in enumerate(columns):
                    if column.type == _TYPE_NUMERIC:
                        page, offset = _tdef_location(chain, block + 25 * i)
                        changes.append((page * PAGE_SIZE + offset, table, spec))
            for position, table, spec in changes:
                mapped[position] = _TYPE_BINARY
                found[table] = spec
            mapped.flush()
    except (MdbWriteError, IndexError, ValueError, struct.error, OSError):
        return {}
    return found


def iter_numeric_rows(path: Path, spec: NumericColumns) -> Iterator[tuple[str | None, ...]]:
    """Per row of ``spec.table``, in the order mdb-export prints them: the key column's text
    and each Numeric column as mdb-export prints it (``scale`` decimals, ``-`` when negative)
    or None. Raises :class:`MdbReadError` where the file holds what this reader does not follow."""
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            pages = _MappedPages(mapped)
            catalog = {name.upper(): page for name, page in _catalog(pages).items()}
            tdef_page = catalog[spec.table.upper()]
            buf, _chain = _tdef_bytes(pages, tdef_page, spec.table)
            by_name = {c.name: c for c in _tdef_columns(buf)[0]}
            wanted = [by_name[spec.key], *(by_name[name] for name in spec.names)]
            if any(c.type != _TYPE_NUMERIC for c in wanted[1:]):
                raise MdbReadError(f"{spec.table}: not the Numeric columns {spec.names}")
            map_page, map_row = _pointer(_U32.unpack_from(buf, 55)[0])
            start, end = _row_bounds(pages[map_page], map_row)
            usage = bytes(pages[map_page][start:end])
            for number in _mapped_pages(pages, usage):
                page = pages[number]
                if page[0] != _PAGE_DATA or _U32.unpack_from(page, 4)[0] != tdef_page:
                    continue
                for row in range(_U16.unpack_from(page, 12)[0]):
                    if _U16.unpack_from(page, _DATA_HEADER + 2 * row)[0] & _LIBMDB_SKIPPED:
                        continue
                    start, end = _row_bounds(page, row)
                    values = _crack_row(bytes(page[start:end]), wanted)
                    raw_key = values[spec.key]
                    out: list[str | None] = [None if raw_key is None else _decode_text(raw_key)]
                    for column in wanted[1:]:
                        raw = values[column.name]
                        out.append(None if raw is None else _numeric_text(raw, column.scale))
                    yield tuple(out)
    except (KeyError, IndexError, ValueError, struct.error, OSError, MdbWriteError) as exc:
        raise MdbReadError(f"{spec.table}: {exc}") from exc


def write_numeric_csv(path: Path, spec: NumericColumns, out: IO[str]) -> int:
    """The rows of :func:`iter_numeric_rows` as CSV that PostgreSQL's ``COPY … (FORMAT csv)``
    reads: text quoted, NULL as an empty unquoted field; no header. Returns the row count."""
    count = 0
    for row in iter_numeric_rows(path, spec):
        # (csv.writer cannot tell None from "": QUOTE_NONNUMERIC quotes both)
        out.write(",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row) + "\n")
        count += 1
    return count


def _mapped_pages(pages: _Pages, usage: bytes) -> Iterator[int]:
    """The pages a usage map marks, ascending (type 0: a bitmap inline; type 1: bitmaps on
    pages of their own)."""
    if usage[0] == 0:
        first = _U32.unpack_from(usage, 1)[0]
        for index in np.flatnonzero(np.unpackbits(np.frombuffer(usage[5:], dtype=np.uint8), bitorder="little")):
            yield first + int(index)
    elif usage[0] == 1:
        for k in range((len(usage) - 1) // 4):
            map_page = _U32.unpack_from(usage, 1 + 4 * k)[0]
            if not map_page:
                continue
            bits = np.unpackbits(np.frombuffer(pages[map_page][4:], dtype=np.uint8), bitorder="little")
            for index in np.flatnonzero(bits):
                yield k * _USAGE_PAGE_BITS + int(index)
    else:
        raise ValueError(f"unknown usage map type {usage[0]}")


def _numeric_text(raw: bytes, scale: int) -> str:
    """A JET4 Numeric (sign byte, then a 128-bit magnitude as four 32-bit words, the most
    significant first) as mdb-export prints it."""
    if len(raw) != _NUMERIC.size:
        raise ValueError(f"a Numeric value of {len(raw)} bytes")
    sign, w3, w2, w1, w0 = _NUMERIC.unpack(raw)
    digits = str(w3 << 96 | w2 << 64 | w1 << 32 | w0).rjust(scale + 1, "0")
    text = f"{digits[:-scale]}.{digits[-scale:]}" if scale else digits
    return f"-{text}" if sign & 0x80 else text


def _parse_text(raw: str) -> str:
    return raw


def _parse_date(raw: str) -> dt.date:
    """A day number (relabelled column) or a formatted date; midnight gives a ``date``."""
    if _NUMBER.fullmatch(raw):
        number = float(raw)
        days = math.trunc(number)
        # Before 1899-12-30 the time of day is kept positive: -1.25 is 1899-12-29 06:00.
        moment = _ACCESS_EPOCH + dt.timedelta(days=days, seconds=round(abs(number - days) * 86400))
    elif raw == _UNPRINTABLE_DATE:
        raise ValueError("a date mdb-export cannot print (outside 1899-12-30 .. 2737)")
    else:
        moment = dt.datetime.strptime(raw, DATE_FORMAT)
    return moment.date() if moment.time() == dt.time() else moment


_PARSERS: dict[AccessKind, Callable[[str], object]] = {
    "text": _parse_text,
    "memo": _parse_text,
    "numeric": Decimal,
    "integer": int,
    "date": _parse_date,
}


def _export(path: Path, table: str, dates: set[str]) -> Iterator[dict[str, object]]:
    """Rows of ``table`` as printed by mdb-export, typed by the declared column kinds; the
    columns in ``dates`` are DateTime columns relabelled Double, printed as day numbers."""
    kinds: dict[str, AccessKind] = {c.name: c.kind for c in MDB_TABLES.get(table.upper(), ())}
    kinds.update(dict.fromkeys(dates, "date"))
    cmd = ["mdb-export", "-D", DATE_FORMAT, "-T", DATE_FORMAT, str(path), table]
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, env=env)
        except FileNotFoundError:
            raise MdbReadError("mdb-export (mdbtools) is not installed") from None
        assert proc.stdout is not None
        finished = False
        try:
            reader = csv.reader(io.TextIOWrapper(proc.stdout, encoding="utf-8", newline=""), strict=True)
            header = next(reader, None)
            if header is not None:
                parsers = [_PARSERS.get(kinds.get(name, "text"), _parse_text) for name in header]
                for number, record in enumerate(reader, 1):
                    if len(record) != len(header):
                        raise MdbReadError(f"{table} row {number}: {len(record)} fields, expected {len(header)}")
                    row: dict[str, object] = {}
                    for name, parse, raw in zip(header, parsers, record, strict=True):
                        if raw == "":
                            row[name] = None
                            continue
                        try:
                            row[name] = parse(raw)
                        except (ValueError, ArithmeticError) as exc:
                            raise MdbReadError(f"{table} row {number}: column {name}: {raw!r}: {exc}") from None
                    yield row
            finished = True
        except (UnicodeDecodeError, csv.Error) as exc:
            raise MdbReadError(f"mdb-export {table}: unreadable output: {exc}") from None
        finally:
            if not finished:
                proc.kill()
            code = proc.wait()
            proc.stdout.close()
        if code:
            errors.seek(0)
            message = errors.read().decode("utf-8", errors="replace").strip()
            raise MdbReadError(f"mdb-export {table} failed ({code}): {message}")


@contextlib.contextmanager
def _scratch_copy(path: Path, tables: list[str]) -> Iterator[tuple[Path, dict[str, set[str]]]]:
    """A scratch copy of ``path`` with the dates of ``tables`` relabelled, and those columns
    (or ``path`` itself and no columns, when its structure cannot be followed)."""
    if not path.is_file():
        raise MdbReadError(f"no such file: {path}")
    with tempfile.TemporaryDirectory(prefix="mdb-read-") as scratch:
        copy = Path(scratch) / "copy.mdb"
        shutil.copyfile(path, copy)
        relabelled = _relabel_dates(copy, tables)
        yield (path, {}) if relabelled is None else (copy, relabelled)


def iter_table(path: Path, table: str) -> Generator[dict[str, object], None, None]:
    """Stream the rows of ``table`` as dicts, read with ``mdb-export``.

    Values are typed by the column's kind in :data:`MDB_TABLES` (str, Decimal, int) and every
    DateTime column gives ``datetime.date``, or ``datetime.datetime`` when the time of day is not
    midnight; other columns stay str. mdb-export prints NULL and the empty string alike, so both
    read back as None. Closing the generator early stops mdb-export. Raises
    :class:`MdbReadError` when mdb-export fails or a value does not parse. The export runs on a
    scratch copy whose DateTime columns are relabelled Double, because libmdb cannot print dates
    after about 2737 (e.g. 9999-01-01).
    """
    with _scratch_copy(Path(path), [table]) as (copy, dates):
        yield from _export(copy, table, dates.get(table, set()))


def read_mdb(path: Path, tables: Iterable[str] | None = None) -> dict[str, list[dict[str, object]]]:
    """All rows of the given tables (default: the 12 of :data:`MDB_TABLES`), in memory."""
    names = list(tables if tables is not None else MDB_TABLES)
    with _scratch_copy(Path(path), names) as (copy, dates):
        return {name: list(_export(copy, name, dates.get(name, set()))) for name in names}


if __name__ == "__main__":
    # python -m layers.exchange.mdb numerics FILE TABLE KEY COLUMN…: the CSV of
    # write_numeric_csv on stdout (run beside mdb-export by the importer).
    import sys

    if len(sys.argv) < 6 or sys.argv[1] != "numerics":
        sys.exit("usage: python -m layers.exchange.mdb numerics FILE TABLE KEY COLUMN…")
    _spec = NumericColumns(sys.argv[3], sys.argv[4], tuple(sys.argv[5:]))
    try:
        write_numeric_csv(Path(sys.argv[2]), _spec, sys.stdout)
    except MdbReadError as _exc:
        sys.exit(str(_exc))
