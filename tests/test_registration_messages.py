"""Platform change messages (2019 接入规范): every registered case stores one, and its
structure follows the spec's sample message (element names, nesting and order), with CZFS
operation codes and parcel geometry as WKT in the projected CRS named by TYZB."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from django.contrib.gis.geos import GEOSGeometry

from parcels.models import FamilyMember
from registration import messages, testing
from registration.models import Case, PlatformMessage
from registration.testing import vertical_line
from tests import test_registration_business as business_tests
from tests.test_registration_business import A_ID, SON_ID, new_household, run

pytestmark = pytest.mark.django_db

village = business_tests.village  # the shared fixture: six parcels, two registered households

SAMPLE = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "standards" / "platform-access-sample-message.xml"
)


@pytest.fixture(scope="module")
def sample() -> ET.Element:
    if not SAMPLE.exists():
        pytest.skip(f"the spec's sample message is not at {SAMPLE}")
    return messages.parse_sample(SAMPLE.read_text(encoding="utf-8"))


def check(case: Case, sample: ET.Element) -> ET.Element:
    message = PlatformMessage.objects.get(case=case)
    assert messages.structure_problems(message.xml, sample) == []
    assert message.filename == f"DJYW{case.number}.xml"
    assert message.sha256 == messages.message_sha256(message.xml)
    root = ET.fromstring(message.xml.encode("utf-8"))
    assert root.findtext("HEAD/SJLX") == case.business_type
    assert root.findtext("BUSINESS_DATA/YWLSH") == case.number
    assert root.findtext("BUSINESS_DATA/XZQDM") == case.number[:6]
    for czfs in root.iter("CZFS"):
        assert czfs.text in {"01", "02", "03", "04"}
    for shp in root.iter("SHP"):
        if shp.text:
            geom = GEOSGeometry(shp.text)
            assert geom.valid and geom.extent[0] > 40_000_000  # GK zone 40, zone-prefixed easting
    assert "Gauss-Kruger zone 40" in (root.findtext("CHANGE_DATA/TYZB") or "")
    return root


def test_the_sample_is_read_despite_its_two_slips(sample: ET.Element) -> None:
    shape = messages.sample_shape(sample)
    assert shape["SUBMIT"] == ["HEAD", "BUSINESS_DATA", "ORIGINAL_DATA", "CHANGE_DATA"]
    assert shape["SUBMIT/ORIGINAL_DATA/CBDK"] == ["DK", "CZFS", "YCBDKBM", "YCBFBM", "SHP"]


def test_structure_check_finds_departures(sample: ET.Element) -> None:
    bad = "<SUBMIT><HEAD><FSF/><SJLX>101</SJLX></HEAD><BUSINESS_DATA><XZQDM>1</XZQDM><FOO/></BUSINESS_DATA></SUBMIT>"
    problems = messages.structure_problems(bad, sample)
    assert any("缺少元素" in p for p in problems)
    assert any("FOO" in p for p in problems)


def test_initial_registration_message(village: dict[str, Any], sample: ET.Element) -> None:
    case = run(
        village,
        "1011",
        {
            "new_contractor": new_household(),
            "method": "110",
            "term_start": "2024-01-01",
            "parcels": [village["parcels"][5]],
        },
    )
    root = check(case, sample)
    assert root.find("ORIGINAL_DATA") is None  # conditional: not for 初始登记
    contract = case.result["main_contract"]
    assert root.findtext("BUSINESS_DATA/CBHTBM") == contract
    added = [e for e in root.iterfind("CHANGE_DATA/CBHT") if e.findtext("CBHTBM") == contract]
    assert added and added[0].findtext("CZFS") == "02"
    assert added[0].findtext("CBQXZ") == "9999-01-01 00:00:00"
    assert [e.findtext("CZFS") for e in root.iterfind("CHANGE_DATA/CBDK")] == ["01"]


def test_household_split_with_parcel_split_message(village: dict[str, Any], sample: ET.Element) -> None:
    a, p = village["a"], village["parcels"]
    son = FamilyMember.objects.get(contractor_id=a, id_number=SON_ID)
    case = run(
        village,
        "1052",
        {
            "original": a,
            "members": [son.pk],
            "head_member_id": son.pk,
            "split": {"parcel": p[0], "line": vertical_line(40).wkt},
        },
    )
    root = check(case, sample)
    ops = {e.findtext("DK/DKBM"): e.findtext("CZFS") for e in root.iterfind("CHANGE_DATA/CBDK")}
    pieces = case.result["splits"][p[0]]
    assert ops[p[0]] == "04" and all(ops[c] == "02" for c in pieces)
    parents = {e.findtext("DK/DKBM"): e.findtext("YCBDKBM") for e in root.iterfind("CHANGE_DATA/CBDK")}
    assert all(parents[c] == p[0] for c in pieces)
    assert [e.findtext("DK/DKBM") for e in root.iterfind("ORIGINAL_DATA/CBDK")] == [p[0]]
    rows = root.findall("BUSINESS_DATA/FHHCBF")
    assert len(rows) == 2 and rows[0].findtext("CBFBM") == a
    assert [e.text for e in rows[1].findall("DKBM")] == [pieces[-1]]  # the smaller piece went to the new household
    assert root.findtext("BUSINESS_DATA/FHQCBFBM") == a
    assert root.findtext("BUSINESS_DATA/CBFBM") == ""  # not for 分户 (表4 note d)


@pytest.mark.parametrize(
    "item,proposal",
    [
        ("1021", lambda v: {"transferor": v["a"], "transferee": v["b"]}),
        (
            "1041",
            lambda v: {
                "party_a": v["a"],
                "party_b": v["b"],
                "a_parcels": [v["parcels"][0]],
                "b_parcels": [v["parcels"][3]],
            },
        ),
        ("1061", lambda v: {"target": v["a"], "merged": [v["b"]]}),
        ("1073", lambda v: {"contractor_code": v["b"], "cause": "洪水冲毁"}),
        (
            "2011",
            lambda v: {
                "register_code": v["a"] + "J",
                "reason": "遗失",
                "collector_name": "张三",
                "collector_id_number": A_ID,
            },
        ),
        ("2031", lambda v: {"register_code": v["a"] + "J", "reason": "作废"}),
    ],
)
def test_change_messages_follow_the_sample(
    village: dict[str, Any], sample: ET.Element, item: str, proposal: Any
) -> None:
    case = run(village, item, proposal(village))
    root = check(case, sample)
    business = root.find("BUSINESS_DATA")
    assert business is not None
    extension = {
        "1021": "ZRCBFBM",
        "1041": "JF",
        "1061": "HHHCBF",
        "1073": "ZXYY",
        "2011": "QZBF",
        "2031": "QZZX",
    }[item]
    assert business.find(extension) is not None
    if item in ("1021", "1041", "1061"):
        assert root.find("ORIGINAL_DATA") is not None


def test_a_message_is_stored_for_later_upload(village: dict[str, Any]) -> None:
    case = run(village, "2031", {"register_code": village["a"] + "J", "reason": "作废"})
    message = PlatformMessage.objects.get(case=case)
    assert message.state == PlatformMessage.State.PENDING and message.sent_at is None
    assert testing  # builders used through the shared fixture
