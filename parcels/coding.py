"""Element codes of the register (NY/T 2538-2014 / GB/T 35958-2018, digest §3).

Every code is a plain positional number; none has a check digit:

* region codes: county 6 (GB/T 2260), town 9, village 12, group 14;
* FBFBM (发包方) 14 = village 12 + group 2 (``00`` when the village collective contracts);
* CBFBM (承包方) 18 = FBFBM + 4-digit sequence: 农户 0001-8000, 个人 8001-9000, 单位 9001-9999;
* DKBM (地块) 19 = FBFBM + 5-digit sequence (never 00000);
* CBHTBM (承包合同) and CBJYQZBM (登记簿/权证) 19 = CBFBM + ``J`` (家庭承包, CBFS 110) or
  ``Q`` (any other contracting method);
* LZHTBM (流转合同) 18 = FBFBM + 4-digit sequence (never 0000).

Validators raise ``CodeError`` (a ``ValidationError``) whose message names the code, the rule
and what was found, so importers and forms can show it as it is.
"""

from __future__ import annotations

import re
from typing import Final

from django.core.exceptions import ValidationError

# Province (省级) and city (地级) codes are the GB/T 2260 prefixes of a county's code; they
# appear in the 权属单位代码表 and give a city bureau its jurisdiction.
REGION_LEVELS: Final = {"province": 2, "city": 4, "county": 6, "town": 9, "village": 12, "group": 14}

FAMILY_CONTRACTING: Final = "110"  # C.10 家庭承包: contract codes end in J

CONTRACTOR_RANGES: Final = {
    # C.16 承包方类型 -> inclusive range of the 4-digit sequence
    "1": (1, 8000),  # 农户
    "2": (8001, 9000),  # 个人
    "3": (9001, 9999),  # 单位
}
CONTRACTOR_TYPE_NAMES: Final = {"1": "农户", "2": "个人", "3": "单位"}

_DIGITS = re.compile(r"\d+")


class CodeError(ValidationError):
    """A code that breaks the coding rules; the message says which rule."""


def _digits(code: str, length: int, label: str) -> None:
    if not isinstance(code, str):
        raise CodeError(f"{label}必须是字符串，实际为 {type(code).__name__}", code="type")
    if len(code) != length:
        raise CodeError(
            f"{label}应为{length}位，实际为{len(code)}位：{code!r}",
            code="length",
        )
    if not _DIGITS.fullmatch(code):
        raise CodeError(f"{label}只能由数字组成：{code!r}", code="digits")


def validate_region_code(code: str, level: str) -> None:
    """Administrative or collective region code of the given level.

    Example: ``validate_region_code("310151101", "town")``.
    """
    if level not in REGION_LEVELS:
        raise CodeError(f"未知的区域级别：{level!r}", code="level")
    _digits(code, REGION_LEVELS[level], f"{level}级区域代码")
    length = REGION_LEVELS[level]
    if (level == "province" and code == "00") or (level == "city" and code[2:] == "00"):
        raise CodeError(f"区域代码 {code} 的本级代码不能为00", code="zero")
    segment = {9: code[6:9], 12: code[9:12]}.get(length)
    if segment is not None and segment == "000":
        raise CodeError(f"区域代码 {code} 的本级顺序码不能为000", code="zero")
    if level == "group" and code[12:] == "00":
        raise CodeError(f"组级区域代码 {code} 的组顺序码不能为00", code="zero")


def validate_fbfbm(code: str) -> None:
    """FBFBM: 14 digits, county 6 + town 3 + village 3 + group 2 (``00`` = village collective)."""
    _digits(code, 14, "发包方代码（FBFBM）")
    if code[6:9] == "000" or code[9:12] == "000":
        raise CodeError(f"发包方代码 {code} 的乡级或村级顺序码不能为000", code="zero")


def validate_cbfbm(code: str, contractor_type: str | None = None) -> None:
    """CBFBM: FBFBM + 4-digit sequence in the range of the contractor type (C.16)."""
    _digits(code, 18, "承包方代码（CBFBM）")
    validate_fbfbm(code[:14])
    seq = int(code[14:])
    if seq == 0:
        raise CodeError(f"承包方代码 {code} 的顺序码不能为0000", code="zero")
    if contractor_type is not None:
        if contractor_type not in CONTRACTOR_RANGES:
            raise CodeError(f"未知的承包方类型：{contractor_type!r}", code="type")
        low, high = CONTRACTOR_RANGES[contractor_type]
        if not low <= seq <= high:
            name = CONTRACTOR_TYPE_NAMES[contractor_type]
            raise CodeError(
                f"承包方代码 {code}：{name}的顺序码应在{low:04d}-{high:04d}之间，实际为{seq:04d}",
                code="range",
            )


def contractor_type_of(code: str) -> str:
    """The contractor type (C.16) implied by a CBFBM's sequence range."""
    seq = int(code[14:18])
    for kind, (low, high) in CONTRACTOR_RANGES.items():
        if low <= seq <= high:
            return kind
    raise CodeError(f"承包方代码 {code} 的顺序码不在任何承包方类型的范围内", code="range")


def validate_dkbm(code: str) -> None:
    """DKBM: FBFBM + 5-digit parcel sequence, never 00000."""
    _digits(code, 19, "地块代码（DKBM）")
    validate_fbfbm(code[:14])
    if code[14:] == "00000":
        raise CodeError(f"地块代码 {code} 的地块顺序码不能为00000", code="zero")


def suffix_for(contracting_method: str) -> str:
    """``J`` for family contracting (C.10 110), ``Q`` for every other method."""
    return "J" if contracting_method == FAMILY_CONTRACTING else "Q"


def validate_contract_code(
    code: str, contracting_method: str | None = None, label: str = "承包合同代码（CBHTBM）"
) -> None:
    """CBHTBM / CBJYQZBM: CBFBM + J|Q, the letter matching the contracting method."""
    if not isinstance(code, str) or len(code) != 19:
        length = len(code) if isinstance(code, str) else "?"
        raise CodeError(f"{label}应为19位，实际为{length}位：{code!r}", code="length")
    letter = code[18]
    if letter not in ("J", "Q"):
        raise CodeError(f"{label} {code} 的第19位应为J（家庭承包）或Q（其他方式承包），实际为{letter!r}", code="suffix")
    validate_cbfbm(code[:18])
    if contracting_method is not None:
        expected = suffix_for(contracting_method)
        if letter != expected:
            raise CodeError(
                f"{label} {code}：承包方式{contracting_method}应使用后缀{expected}，实际为{letter}",
                code="suffix_method",
            )


def validate_register_code(code: str, contracting_method: str | None = None) -> None:
    """CBJYQZBM shares the contract's code and rules."""
    validate_contract_code(code, contracting_method, label="承包经营权证（登记簿）代码（CBJYQZBM）")


def validate_lzhtbm(code: str) -> None:
    """LZHTBM: FBFBM + 4-digit contract sequence, never 0000."""
    _digits(code, 18, "流转合同代码（LZHTBM）")
    validate_fbfbm(code[:14])
    if code[14:] == "0000":
        raise CodeError(f"流转合同代码 {code} 的合同顺序码不能为0000", code="zero")


def make_fbfbm(village_code: str, group: int = 0) -> str:
    validate_region_code(village_code, "village")
    code = f"{village_code}{group:02d}"
    validate_fbfbm(code)
    return code


def make_cbfbm(fbfbm: str, seq: int, contractor_type: str) -> str:
    code = f"{fbfbm}{seq:04d}"
    validate_cbfbm(code, contractor_type)
    return code


def make_dkbm(fbfbm: str, seq: int) -> str:
    if not 0 < seq <= 99999:
        raise CodeError(f"地块顺序码应在00001-99999之间，实际为{seq}", code="range")
    code = f"{fbfbm}{seq:05d}"
    validate_dkbm(code)
    return code


def make_contract_code(cbfbm: str, contracting_method: str) -> str:
    validate_cbfbm(cbfbm)
    return cbfbm + suffix_for(contracting_method)


def make_lzhtbm(fbfbm: str, seq: int) -> str:
    if not 0 < seq <= 9999:
        raise CodeError(f"流转合同顺序码应在0001-9999之间，实际为{seq}", code="range")
    code = f"{fbfbm}{seq:04d}"
    validate_lzhtbm(code)
    return code


def first_free_sequence(used: set[int], low: int, high: int, label: str) -> int:
    """The lowest sequence in [low, high] not yet used; a full range is an error, not a wrap."""
    for seq in range(low, high + 1):
        if seq not in used:
            return seq
    raise CodeError(f"{label}的顺序码已用完（{low}-{high}）", code="exhausted")
