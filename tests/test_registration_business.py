"""Registration business, item by item (2019 接入规范 表1): what 登簿 writes to the register,
and the refusals (both sides, J/Q codes, areas add up, cancelled certificates, dates …).

Documents are filed after commit (``transaction.on_commit``), so these tests, which run
inside one transaction, exercise the register writes alone; the documents have their own tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from gisapp.errors import DomainError
from parcels import services as register
from parcels.models import (
    BoundaryLine,
    BoundaryPoint,
    Certificate,
    CertificateCancellation,
    CertificateReissue,
    CertificateReplacement,
    ChangeRecord,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    RegisterBook,
)
from parcels.models.base import Status
from registration import services, testing
from registration.models import Case, CaseState
from registration.testing import member, vertical_line
from tests.conftest import COUNTY, GROUP, OTHER_GROUP, TOWN, VILLAGE

pytestmark = pytest.mark.django_db

A_ID, B_ID, C_ID = "310151198001011234", "310151197502022345", "310151199003033456"
SPOUSE_ID, SON_ID = "310151198202024321", "310151200505051111"


@pytest.fixture
def village(county: dict[str, str], make_user: Any) -> dict[str, Any]:
    """Six adjacent parcels; 张三's household (with wife and son) holds 1-3, 王五 holds 4-5,
    parcel 6 is free. Each has a contract, register entry and certificate."""
    parcels = testing.make_parcels(GROUP, 6, names=["东大田", "西大田", "南塘", "北坡", "河湾", "新垦地"])
    a = testing.registered_household(
        GROUP,
        "张三",
        A_ID,
        parcels[:3],
        others=[member("李四", SPOUSE_ID, "10"), member("张小", SON_ID, "20", sex="1")],
    )
    b = testing.registered_household(GROUP, "王五", B_ID, parcels[3:5])
    return {
        "parcels": [p.code for p in parcels],
        "a": a.contractor_id,
        "b": b.contractor_id,
        "clerk": make_user("clerk", VILLAGE),
        "reviewer": make_user("reviewer", TOWN),
    }


def run(v: dict[str, Any], item: str, proposal: dict[str, Any], *, until: str = "register") -> Case:
    case = services.case_create(
        actor=v["clerk"],
        item=item,
        collective_code=GROUP,
        applicant_name="张三",
        applicant_id_number=A_ID,
        proposal=proposal,
    )
    return testing.walk(case, clerk=v["clerk"], reviewer=v["reviewer"], until=until)


def refused(v: dict[str, Any], item: str, proposal: dict[str, Any], message: str, *, until: str = "register") -> None:
    """The case is refused with ``message``; the refused case is rolled back with it."""
    with pytest.raises(DomainError, match=message), transaction.atomic():
        run(v, item, proposal, until=until)


def contract_of(contractor: str) -> Contract:
    return Contract.objects.get(contractor_id=contractor, status=Status.CURRENT)


def parcels_of(contract: str) -> set[str]:
    return set(
        ContractParcel.objects.filter(contract_id=contract, status=Status.CURRENT).values_list("parcel_id", flat=True)
    )


def area_of(contractor: str) -> Decimal:
    links = ContractParcel.objects.filter(contractor_id=contractor, status=Status.CURRENT, contract__status="current")
    return sum((link.contract_area for link in links), Decimal("0"))


def new_household(name: str = "赵六", id_number: str = C_ID) -> dict[str, Any]:
    return {
        "name": name,
        "id_number": id_number,
        "address": "示范村8号",
        "postcode": "202150",
        "members": [{"name": name, "sex": "1", "id_number": id_number, "relation": "02"}],
    }


# --- 101 初始登记 ------------------------------------------------------------------------


def test_1011_family_contracting_registers_household_contract_and_book(village: dict[str, Any]) -> None:
    free = village["parcels"][5]
    case = run(
        village,
        "1011",
        {"new_contractor": new_household(), "method": "110", "term_start": "2024-01-01", "parcels": [{"code": free}]},
        until="close",
    )
    contractor = Contractor.objects.get(name="赵六")
    contract = contract_of(contractor.code)
    assert contract.code == contractor.code + "J"
    assert contract.term_end.isoformat() == "9999-01-01"
    assert contract.total_area == Parcel.objects.get(code=free).surveyed_area
    assert RegisterBook.objects.get(code=contract.code).term == "长久不变"
    assert Certificate.objects.get(register_book_id=contract.code).state == "valid"
    assert case.state == CaseState.CLOSED
    assert case.result["contracts"] == {contract.code: "new"}
    # the case links to every register change it made, each with its after-state
    models = set(case.changes.values_list("change__model", flat=True))
    assert {"parcels.Contractor", "parcels.FamilyMember", "parcels.Contract", "parcels.RegisterBook"} <= models
    assert not case.parcels.filter(is_open=True).exists()


def test_1012_other_contracting_gets_a_q_code(village: dict[str, Any]) -> None:
    person = new_household("钱七", C_ID) | {"kind": "2", "members": []}
    run(
        village,
        "1012",
        {"new_contractor": person, "method": "123", "term_start": "2024-01-01", "term_end": "2034-01-01",
         "parcels": [{"code": village["parcels"][5], "contract_area": "5000"}]},
    )  # fmt: skip
    contract = contract_of(Contractor.objects.get(name="钱七").code)
    assert contract.code.endswith("Q") and contract.method == "123"
    assert contract.total_area == Decimal("5000.00")


def test_101_refusals(village: dict[str, Any]) -> None:
    free = village["parcels"][5]
    base = {"new_contractor": new_household(), "term_start": "2024-01-01", "parcels": [{"code": free}]}
    refused(village, "1011", base | {"method": "121"}, "必须为 110", until="accept")
    refused(village, "1012", base | {"method": "110"}, "应为 120-129", until="accept")
    refused(village, "1011", base | {"method": "110", "term_end": "2020-01-01"}, "早于承包期限止", until="accept")
    taken = base | {"method": "110", "parcels": [{"code": village["parcels"][0]}]}
    refused(village, "1011", taken, "已在现势承包合同中", until="accept")
    existing = {"contractor_code": village["a"], "method": "110", "term_start": "2024-01-01", "parcels": [free]}
    refused(village, "1011", existing, "已有现势承包合同", until="accept")


# --- 102 转让 ----------------------------------------------------------------------------


def test_1021_whole_transfer_ends_the_transferors_contract_and_certificate(village: dict[str, Any]) -> None:
    a, b = village["a"], village["b"]
    before = area_of(a) + area_of(b)
    case = run(village, "1021", {"transferor": a, "transferee": b})
    old = Contract.objects.get(contractor_id=a)
    assert old.status == Status.HISTORIC
    assert Certificate.objects.get(register_book_id=old.code).state == "cancelled"
    assert RegisterBook.objects.get(code=old.code).status == Status.HISTORIC
    taker = contract_of(b)
    assert parcels_of(taker.code) == set(village["parcels"][:5])
    assert area_of(b) == before
    acquired = ContractParcel.objects.filter(contract_id=taker.code, parcel_id=village["parcels"][0], status="current")
    assert acquired.get().acquisition == "200"  # C.10 转让
    assert case.result["extension"]["ZCCBFBM"] == a and case.result["extension"]["ZRCBFBM"] == b
    assert case.result["certificates"][taker.code] == "replace"


def test_1022_some_parcels_to_a_household_without_contract(village: dict[str, Any]) -> None:
    c = testing.household(GROUP, "赵六", C_ID)
    first = village["parcels"][0]
    run(village, "1022", {"transferor": village["a"], "transferee": c.code, "parcels": [first]})
    taker = contract_of(c.code)
    assert taker.code == c.code + "J" and parcels_of(taker.code) == {first}
    assert parcels_of(contract_of(village["a"]).code) == set(village["parcels"][1:3])
    assert contract_of(village["a"]).parcel_count == 2


def test_102_refusals(village: dict[str, Any]) -> None:
    a, b = village["a"], village["b"]
    refused(village, "1022", {"transferor": a, "parcels": [village["parcels"][0]]}, "必须同时填写", until="accept")
    refused(village, "1021", {"transferor": a, "transferee": a}, "不能是同一承包方", until="accept")
    refused(
        village, "1022", {"transferor": a, "transferee": b, "parcels": village["parcels"][:3]}, "1021", until="accept"
    )
    refused(
        village,
        "1022",
        {"transferor": a, "transferee": b, "parcels": [village["parcels"][3]]},
        "不在转出方",
        until="accept",
    )
    other = testing.household(OTHER_GROUP, "孙八", C_ID)
    with pytest.raises(DomainError, match="同一发包方"):
        # the proposal names a household of another collective
        services.case_accept(
            actor=village["clerk"],
            number=services.case_create(
                actor=village["clerk"],
                item="1021",
                collective_code=GROUP,
                applicant_name="张三",
                applicant_id_number=A_ID,
                proposal={"transferor": a, "transferee": other.code},
            ).number,
        )


def test_1023_part_of_a_parcel_after_split(village: dict[str, Any]) -> None:
    a, b = village["a"], village["b"]
    target = village["parcels"][1]  # 100-200 m east; the line at 130 m cuts a 30 m strip
    original = Parcel.objects.get(code=target)
    case = run(
        village,
        "1023",
        {
            "transferor": a,
            "transferee": b,
            "split": {"parcel": target, "line": vertical_line(130).wkt, "give": "smaller"},
        },
    )
    pieces = case.result["splits"][target]
    assert len(pieces) == 2
    assert Parcel.objects.get(code=target).status == Status.HISTORIC
    areas = [Parcel.objects.get(code=c).surveyed_area for c in pieces]
    assert abs(sum(areas) - original.surveyed_area) <= Decimal("0.02")
    small = min(pieces, key=lambda c: Parcel.objects.get(code=c).surveyed_area)
    assert small in parcels_of(contract_of(b).code)
    assert max(pieces, key=lambda c: Parcel.objects.get(code=c).surveyed_area) in parcels_of(contract_of(a).code)


def test_1024_share_transfer_keeps_the_parcels_shares_adding_up(village: dict[str, Any]) -> None:
    a, b = village["a"], village["b"]
    shared = village["parcels"][5]
    register.link_create(
        actor=None, contract_code=contract_of(a).code, parcel_code=shared, contract_area=Decimal("6000"),
        acquisition="110", is_share="1", reason="确权确股",
    )  # fmt: skip
    register.link_create(
        actor=None, contract_code=contract_of(b).code, parcel_code=shared, contract_area=Decimal("4000"),
        acquisition="110", is_share="1", reason="确权确股",
    )  # fmt: skip
    refused(
        village,
        "1024",
        {"transferor": a, "transferee": b, "share": {"parcel": shared, "area": "7000"}},
        "超过",
        until="accept",
    )
    run(village, "1024", {"transferor": a, "transferee": b, "share": {"parcel": shared, "area": "1500"}})
    links = ContractParcel.objects.filter(parcel_id=shared, status=Status.CURRENT)
    by_holder = {link.contractor_id: link.contract_area for link in links}
    assert by_holder == {a: Decimal("4500.00"), b: Decimal("5500.00")}
    assert all(link.is_share == "1" for link in links)


# --- 103 一般变更 ------------------------------------------------------------------------


def test_1031_members_added_removed_renamed(village: dict[str, Any]) -> None:
    a = village["a"]
    son = FamilyMember.objects.get(contractor_id=a, id_number=SON_ID)
    wife = FamilyMember.objects.get(contractor_id=a, id_number=SPOUSE_ID)
    case = run(
        village,
        "1031",
        {
            "contractor_code": a,
            "add": [member("张囡", "310151202001011234", "30")],
            "remove": [son.pk],
            "update": [{"id": wife.pk, "name": "李思"}],
        },
        until="close",
    )
    current = FamilyMember.objects.filter(contractor_id=a, status=Status.CURRENT)
    assert sorted(current.values_list("name", flat=True)) == ["张三", "张囡", "李思"]
    assert Contractor.objects.get(code=a).member_count == 3
    assert FamilyMember.objects.get(pk=son.pk).status == Status.HISTORIC  # history, not deleted
    code = contract_of(a).code
    assert case.result["certificates"] == {code: "replace"}
    assert CertificateReplacement.objects.filter(certificate_id=code).exists()
    renamed = ChangeRecord.objects.get(model="parcels.FamilyMember", object_id=wife.pk, action="update")
    assert renamed.before["name"] == "李四" and renamed.after["name"] == "李思"


def test_1031_refusals(village: dict[str, Any]) -> None:
    a = village["a"]
    head = FamilyMember.objects.get(contractor_id=a, relation="02")
    refused(village, "1031", {"contractor_code": a}, "请填写家庭成员", until="accept")
    refused(village, "1031", {"contractor_code": a, "remove": [head.pk]}, "有且只有一名户主", until="accept")
    stranger = FamilyMember.objects.get(contractor_id=village["b"])
    refused(village, "1031", {"contractor_code": a, "remove": [stranger.pk]}, "不是该户", until="accept")


def test_1032_representative_change(village: dict[str, Any]) -> None:
    a = village["a"]
    wife = FamilyMember.objects.get(contractor_id=a, id_number=SPOUSE_ID)
    run(village, "1032", {"contractor_code": a, "member_id": wife.pk, "former_head_relation": "11"})
    contractor = Contractor.objects.get(code=a)
    assert (contractor.name, contractor.id_number) == ("李四", SPOUSE_ID)
    assert FamilyMember.objects.get(contractor_id=a, relation="02").name == "李四"
    assert FamilyMember.objects.get(contractor_id=a, id_number=A_ID).relation == "11"
    stranger = FamilyMember.objects.get(contractor_id=village["b"])
    refused(
        village,
        "1032",
        {"contractor_code": a, "member_id": stranger.pk, "former_head_relation": "11"},
        "现有家庭成员",
        until="accept",
    )


def test_1033_parcels_added_removed_reduced(village: dict[str, Any]) -> None:
    a = village["a"]
    p = village["parcels"]
    run(
        village,
        "1033",
        {
            "contractor_code": a,
            "add": [{"code": p[5]}],
            "remove": [p[2]],
            "reduce": [{"code": p[0], "contract_area": "8000"}],
        },
    )
    contract = contract_of(a)
    assert parcels_of(contract.code) == {p[0], p[1], p[5]}
    reduced = ContractParcel.objects.get(contract_id=contract.code, parcel_id=p[0], status="current")
    assert reduced.contract_area == Decimal("8000.00") and reduced.original_area is not None
    links = ContractParcel.objects.filter(contract_id=contract.code, status="current")
    assert contract.total_area == sum((link.contract_area for link in links), Decimal("0"))
    assert contract.parcel_count == 3


def test_1033_refusals(village: dict[str, Any]) -> None:
    a, p = village["a"], village["parcels"]
    refused(
        village,
        "1033",
        {"contractor_code": a, "reduce": [{"code": p[0], "contract_area": "20000"}]},
        "必须小于",
        until="accept",
    )
    refused(village, "1033", {"contractor_code": a, "remove": p[:3]}, "没有地块", until="accept")
    refused(village, "1033", {"contractor_code": a, "add": [{"code": p[3]}]}, "已在现势承包合同", until="accept")


# --- 104 互换 ----------------------------------------------------------------------------


def test_1041_exchange_of_whole_parcels(village: dict[str, Any]) -> None:
    a, b, p = village["a"], village["b"], village["parcels"]
    before = area_of(a) + area_of(b)
    case = run(village, "1041", {"party_a": a, "party_b": b, "a_parcels": [p[0]], "b_parcels": [p[3]]})
    assert parcels_of(contract_of(a).code) == {p[1], p[2], p[3]}
    assert parcels_of(contract_of(b).code) == {p[0], p[4]}
    assert ContractParcel.objects.get(parcel_id=p[3], status="current").acquisition == "300"  # C.10 互换
    assert area_of(a) + area_of(b) == before
    assert case.result["extension"]["JF"]["DKBM"] == p[0]
    assert set(case.result["certificates"].values()) == {"replace"}


def test_1042_exchange_of_part_of_a_parcel(village: dict[str, Any]) -> None:
    a, b, p = village["a"], village["b"], village["parcels"]
    case = run(
        village,
        "1042",
        {
            "party_a": a,
            "party_b": b,
            "b_parcels": [p[4]],
            "a_split": {"parcel": p[2], "line": vertical_line(260).wkt, "give": "larger"},
        },
    )
    pieces = case.result["splits"][p[2]]
    assert pieces[0] in parcels_of(contract_of(b).code)  # the larger piece went to B
    assert pieces[1] in parcels_of(contract_of(a).code)
    assert p[4] in parcels_of(contract_of(a).code)


def test_104_refusals(village: dict[str, Any]) -> None:
    a, b, p = village["a"], village["b"], village["parcels"]
    refused(village, "1041", {"party_a": a, "party_b": b, "a_parcels": [p[0]]}, "双方都有", until="accept")
    refused(village, "1041", {"party_a": a, "a_parcels": [p[0]], "b_parcels": [p[3]]}, "必须同时填写", until="accept")
    refused(
        village,
        "1042",
        {"party_a": a, "party_b": b, "a_parcels": [p[0]], "b_parcels": [p[3]]},
        "分割线",
        until="accept",
    )


# --- 105 分户, 106 合户 -------------------------------------------------------------------


def test_1051_household_split_with_whole_parcels(village: dict[str, Any]) -> None:
    a, p = village["a"], village["parcels"]
    son = FamilyMember.objects.get(contractor_id=a, id_number=SON_ID)
    before = area_of(a)
    case = run(
        village,
        "1051",
        {"original": a, "members": [son.pk], "head_member_id": son.pk, "parcels": [p[2]]},
        until="close",
    )
    new = Contractor.objects.get(name="张小", status="current")
    assert new.code != a and new.member_count == 1
    assert FamilyMember.objects.get(contractor_id=new.code).relation == "02"
    assert parcels_of(contract_of(new.code).code) == {p[2]}
    assert parcels_of(contract_of(a).code) == {p[0], p[1]}
    assert Contractor.objects.get(code=a).member_count == 2
    assert area_of(a) + area_of(new.code) == before
    assert case.result["certificates"] == {contract_of(a).code: "replace", contract_of(new.code).code: "issue"}
    assert Certificate.objects.get(register_book_id=contract_of(new.code).code).state == "valid"
    assert {row["CBFBM"] for row in case.result["extension"]["FHHCBF"]} == {a, new.code}


def test_1052_household_split_with_parcel_split(village: dict[str, Any]) -> None:
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
    small, large = sorted(case.result["splits"][p[0]], key=lambda c: Parcel.objects.get(code=c).surveyed_area)
    new = Contractor.objects.get(name="张小", status="current")
    assert parcels_of(contract_of(new.code).code) == {small}
    assert large in parcels_of(contract_of(a).code)


def test_105_refusals(village: dict[str, Any]) -> None:
    a, p = village["a"], village["parcels"]
    members = {m.id_number: m.pk for m in FamilyMember.objects.filter(contractor_id=a)}
    son, head = members[SON_ID], members[A_ID]
    refused(
        village,
        "1051",
        {"original": a, "members": [head], "head_member_id": head, "parcels": [p[2]]},
        "原户主不能分出",
        until="accept",
    )
    everyone = list(members.values())
    refused(
        village,
        "1051",
        {"original": a, "members": everyone, "head_member_id": son, "parcels": [p[2]]},
        "至少要保留",
        until="accept",
    )
    refused(
        village,
        "1052",
        {"original": a, "members": [son], "head_member_id": son, "parcels": [p[2]]},
        "分割线",
        until="accept",
    )
    refused(
        village,
        "1051",
        {"original": a, "members": [son], "head_member_id": son, "parcels": p[:3]},
        "没有地块",
        until="accept",
    )


def test_1061_household_merge(village: dict[str, Any]) -> None:
    a, b, p = village["a"], village["b"], village["parcels"]
    before = area_of(a) + area_of(b)
    old_b = contract_of(b).code
    case = run(village, "1061", {"target": a, "merged": [b]})
    assert Contractor.objects.get(code=b).status == Status.HISTORIC
    assert Contract.objects.get(code=old_b).status == Status.HISTORIC
    assert Certificate.objects.get(register_book_id=old_b).state == "cancelled"
    assert parcels_of(contract_of(a).code) == set(p[:5])
    assert area_of(a) == before
    merged_head = FamilyMember.objects.get(contractor_id=a, name="王五", status="current")
    assert merged_head.relation == "97"
    assert Contractor.objects.get(code=a).member_count == 4
    assert case.result["extension"]["HHHCBF"]["CBFBM"] == a


# --- 107 注销 ----------------------------------------------------------------------------


def test_1071_voluntary_cancellation(village: dict[str, Any]) -> None:
    a = village["a"]
    code = contract_of(a).code
    case = run(village, "1071", {"contractor_code": a, "cause": "自愿退出承包地"}, until="close")
    assert Contract.objects.get(code=code).status == Status.HISTORIC
    assert CertificateCancellation.objects.get(certificate_id=code).reason.startswith("注销")
    assert Contractor.objects.get(code=a).status == Status.CURRENT
    assert case.state == CaseState.CLOSED  # no certificate step
    with pytest.raises(DomainError, match="不发放权证"):
        services.case_certify(actor=village["clerk"], number=case.number)


def test_1072_household_extinct_and_1073_land_lost(village: dict[str, Any]) -> None:
    a, b = village["a"], village["b"]
    run(village, "1072", {"contractor_code": a, "cause": "农户消亡"})
    assert Contractor.objects.get(code=a).status == Status.HISTORIC
    assert not FamilyMember.objects.filter(contractor_id=a, status="current").exists()
    run(village, "1073", {"contractor_code": b, "cause": "洪水冲毁"})
    assert set(Parcel.objects.filter(code__in=village["parcels"][3:5]).values_list("status", flat=True)) == {"historic"}
    refused(village, "1071", {"contractor_code": village["b"]}, "注销原因", until="accept")


# --- 201-203 权证业务 --------------------------------------------------------------------


def test_201_202_203_certificate_business(village: dict[str, Any]) -> None:
    code = contract_of(village["a"]).code
    collector = {"collector_name": "张三", "collector_id_number": A_ID}
    case = run(village, "2011", {"register_code": code, "reason": "权证遗失"} | collector, until="close")
    assert CertificateReissue.objects.get(certificate_id=code).collector_name == "张三"
    assert case.result["extension"]["QZBF"]["QZBFYY"] == "权证遗失"
    run(village, "2021", {"register_code": code, "reason": "权证破损"} | collector)
    assert CertificateReplacement.objects.filter(certificate_id=code).count() == 1
    run(village, "2031", {"register_code": code, "reason": "权证作废"})
    assert Certificate.objects.get(register_book_id=code).state == "cancelled"
    # a cancelled certificate can be neither reissued, replaced nor cancelled again
    refused(
        village, "2011", {"register_code": code, "reason": "又遗失"} | collector, "已注销，不能补发", until="accept"
    )
    refused(village, "2021", {"register_code": code, "reason": "破损"} | collector, "已注销，不能换发", until="accept")
    refused(village, "2031", {"register_code": code, "reason": "再注销"}, "已注销，不能注销", until="accept")


def test_certificate_business_needs_an_existing_book(village: dict[str, Any]) -> None:
    refused(village, "2011", {"register_code": "3101511010010100009J", "reason": "遗失"}, "不存在", until="accept")


# --- personal data in refusals -----------------------------------------------------------


def refusal(v: dict[str, Any], item: str, proposal: dict[str, Any]) -> str:
    """The message of a refused pre-application (rolled back with it)."""
    with pytest.raises(DomainError) as raised, transaction.atomic():
        run(v, item, proposal, until="accept")
    return raised.value.message


def test_refusals_name_a_household_by_masked_name_and_code(village: dict[str, Any]) -> None:
    """Refusals reach pages, API responses and message cookies: a household is named by its
    masked name and its code, never by the full name (README: personal data)."""
    a, b, free = village["a"], village["b"], village["parcels"][5]
    existing = {"contractor_code": a, "method": "110", "term_start": "2024-01-01", "parcels": [free]}
    message = refusal(village, "1011", existing)
    assert f"承包方 张*（{a}）已有现势承包合同" in message and "张三" not in message
    c = testing.household(GROUP, "赵六", C_ID)  # no contract
    message = refusal(village, "1021", {"transferor": c.code, "transferee": b})
    assert f"转出方 赵*（{c.code}）没有现势承包合同" in message and "赵六" not in message
    run(village, "1072", {"contractor_code": b, "cause": "农户消亡"})
    message = refusal(village, "1021", {"transferor": a, "transferee": b})
    assert f"受让方 王*（{b}）已注销" in message and "王五" not in message


def test_a_split_case_keeps_the_held_boundary_points_current(village: dict[str, Any]) -> None:
    """A county that holds its JZD/JZX: a case that splits a parcel leaves them equal to a
    fresh generation from the new parcels, and nothing names the retired parcel."""
    from layers.exchange import jzdx
    from tests.test_jzdx_regen import assert_same_as_fresh, stored

    jzdx.regenerate_county(COUNTY)
    target = village["parcels"][1]
    case = run(
        village,
        "1023",
        {
            "transferor": village["a"],
            "transferee": village["b"],
            "split": {"parcel": target, "line": vertical_line(130).wkt, "give": "smaller"},
        },
    )
    pieces = case.result["splits"][target]
    assert not BoundaryPoint.objects.filter(parcel_codes__contains=target).exists()
    assert not BoundaryLine.objects.filter(parcel_codes__contains=target).exists()
    assert all(BoundaryLine.objects.filter(parcel_codes__contains=piece).exists() for piece in pieces)
    assert_same_as_fresh(stored())
