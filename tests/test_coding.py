"""Element codes (digest §3): the standard's examples pass; wrong lengths, prefixes, ranges
and J/Q suffixes are refused with a message that names the rule."""

from __future__ import annotations

import pytest

from parcels import coding
from parcels.coding import CodeError

FBF = "22058110000701"  # the digest's 权属单位代码表 example group, as a collective code


@pytest.mark.parametrize(
    "code,level",
    [
        ("22", "province"),
        ("2205", "city"),
        ("220581", "county"),
        ("220581100", "town"),
        ("220581100007", "village"),
        ("22058110000701", "group"),
    ],
)
def test_region_codes_of_the_standard_examples(code: str, level: str) -> None:
    coding.validate_region_code(code, level)


@pytest.mark.parametrize(
    "code,level,rule",
    [
        ("00", "province", "zero"),
        ("2200", "city", "zero"),
        ("220", "province", "length"),
        ("22058", "county", "length"),
        ("2205811", "county", "length"),
        ("220581000", "town", "zero"),
        ("22058110000A", "village", "digits"),
        ("22058110000700", "group", "zero"),
    ],
)
def test_region_codes_refused(code: str, level: str, rule: str) -> None:
    with pytest.raises(CodeError) as err:
        coding.validate_region_code(code, level)
    assert err.value.code == rule


def test_fbfbm_village_collective_ends_in_00() -> None:
    coding.validate_fbfbm("22058110000700")
    coding.validate_fbfbm(FBF)
    assert coding.make_fbfbm("220581100007") == "22058110000700"
    assert coding.make_fbfbm("220581100007", 1) == FBF


@pytest.mark.parametrize("code", ["2205811000070", "220581100007011", "2205811000070X"])
def test_fbfbm_wrong_length_or_characters(code: str) -> None:
    with pytest.raises(CodeError):
        coding.validate_fbfbm(code)


@pytest.mark.parametrize(
    "seq,kind",
    [(1, "1"), (8000, "1"), (8001, "2"), (9000, "2"), (9001, "3"), (9999, "3")],
)
def test_cbfbm_range_bounds_accepted(seq: int, kind: str) -> None:
    code = f"{FBF}{seq:04d}"
    coding.validate_cbfbm(code, kind)
    assert coding.contractor_type_of(code) == kind


@pytest.mark.parametrize("seq,kind", [(8001, "1"), (8000, "2"), (9001, "2"), (9000, "3"), (1, "3"), (1, "2")])
def test_cbfbm_out_of_range_for_its_kind(seq: int, kind: str) -> None:
    with pytest.raises(CodeError) as err:
        coding.validate_cbfbm(f"{FBF}{seq:04d}", kind)
    assert err.value.code == "range"
    assert f"{seq:04d}" in err.value.message


def test_cbfbm_zero_sequence_and_lengths() -> None:
    with pytest.raises(CodeError) as err:
        coding.validate_cbfbm(f"{FBF}0000")
    assert err.value.code == "zero"
    for bad in (f"{FBF}001", f"{FBF}00001"):
        with pytest.raises(CodeError) as err:
            coding.validate_cbfbm(bad)
        assert err.value.code == "length"


def test_dkbm() -> None:
    coding.validate_dkbm(f"{FBF}00001")
    assert coding.make_dkbm(FBF, 12) == f"{FBF}00012"
    for bad, rule in [(f"{FBF}00000", "zero"), (f"{FBF}0001", "length"), (f"{FBF}000001", "length")]:
        with pytest.raises(CodeError) as err:
            coding.validate_dkbm(bad)
        assert err.value.code == rule
    with pytest.raises(CodeError):
        coding.make_dkbm(FBF, 100000)


def test_contract_codes_j_for_family_q_otherwise() -> None:
    cbfbm = f"{FBF}0001"
    assert coding.make_contract_code(cbfbm, "110") == cbfbm + "J"
    for method in ("120", "121", "122", "123", "129"):
        assert coding.make_contract_code(cbfbm, method) == cbfbm + "Q"
    coding.validate_contract_code(cbfbm + "J", "110")
    coding.validate_register_code(cbfbm + "Q", "121")


@pytest.mark.parametrize(
    "code,method,rule",
    [
        (f"{FBF}0001Q", "110", "suffix_method"),
        (f"{FBF}0001J", "121", "suffix_method"),
        (f"{FBF}0001X", None, "suffix"),
        (f"{FBF}0001j", None, "suffix"),
        (f"{FBF}001J", None, "length"),
        (f"{FBF}00001J", None, "length"),
        (f"{FBF}0000J", None, "zero"),
    ],
)
def test_contract_codes_refused(code: str, method: str | None, rule: str) -> None:
    with pytest.raises(CodeError) as err:
        coding.validate_contract_code(code, method)
    assert err.value.code == rule


def test_lzhtbm() -> None:
    coding.validate_lzhtbm(f"{FBF}0001")
    assert coding.make_lzhtbm(FBF, 7) == f"{FBF}0007"
    for bad, rule in [(f"{FBF}0000", "zero"), (f"{FBF}001", "length"), (f"{FBF}00001", "length")]:
        with pytest.raises(CodeError) as err:
            coding.validate_lzhtbm(bad)
        assert err.value.code == rule


def test_messages_name_the_code_and_rule() -> None:
    with pytest.raises(CodeError) as err:
        coding.validate_dkbm("123")
    assert "地块代码（DKBM）" in err.value.message and "19位" in err.value.message and "3位" in err.value.message
