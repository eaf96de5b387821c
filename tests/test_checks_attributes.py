"""Quality inspection of attributes: codes off by one digit, a wrong 亩, SCMJ against the
shape, missing 四至 and mandatory fields, values outside the code tables, dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from layers.checks.engine import run_inspection
from parcels import services
from parcels.models import Certificate, Contract, Contractor, ContractParcel, FamilyMember, RegisterBook
from tests.conftest import GROUP, TOWN, VILLAGE, contractor_fields, head_member
from tests.test_checks_dataset import add_parcel, code, rect, rules_of

D = dt.date


def household(name: str, id_number: str, *, code: str | None = None) -> str:
    contractor = services.contractor_create(
        actor=None,
        collective_code=GROUP,
        kind="1",
        code=code,
        members=[head_member(name, id_number)],
        **contractor_fields(name, id_number),
    )
    return contractor.code


SIGNED = D(2019, 6, 1)


def contract_for(contractor: str, parcels: list[str], signed: dt.date = SIGNED) -> str:
    contract = services.contract_create(
        actor=None,
        contractor_code=contractor,
        method="110",
        term_start=D(2019, 1, 1),
        term_end=D(2049, 1, 1),
        signed_on=signed,
        parcels=[services.ParcelShare(p) for p in parcels],
    )
    return contract.code


def register(contract: str, registered: dt.date, issued: dt.date | None) -> None:
    services.register_book_create(
        actor=None, contract_code=contract, registrar="王登簿", registered_on=registered, serial="0001"
    )
    if issued is not None:
        services.certificate_issue(actor=None, register_code=contract, authority="示范区人民政府", issued_on=issued)


@pytest.mark.django_db
def test_codes_off_by_one_digit(county: dict[str, str]) -> None:
    add_parcel(1, rect(0, 0, 10, 10))
    # the group digit off by one: collective 31015110100102 does not exist
    wrong_group = f"{GROUP[:13]}2" + "00001"
    add_parcel(0, rect(100, 0, 10, 10), dkbm=wrong_group)
    # the village digit off by one: neither the collective nor the village exists
    wrong_village = "310151101003" + "01" + "00001"
    add_parcel(0, rect(200, 0, 10, 10), dkbm=wrong_village)
    # a household with an individual's sequence number (8001 is 个人: 8001-9000)
    cbf = GROUP + "8001"
    Contractor.objects.create(
        code=cbf, collective_id=GROUP, kind="1", member_count=1, **contractor_fields("赵六", "310151196001011111")
    )
    FamilyMember.objects.create(contractor_id=cbf, **head_member("赵六", "310151196001011111"))
    # a family contract (CBFS 110) whose code ends in Q instead of J
    ok = household("张三", "310151198001011234")
    Contract.objects.create(
        code=ok + "Q",
        collective_id=GROUP,
        contractor_id=ok,
        method="110",
        term_start=D(2019, 1, 1),
        term_end=D(2049, 1, 1),
        total_area=Decimal("0"),
        parcel_count=0,
        signed_on=D(2019, 6, 1),
    )
    result = run_inspection(TOWN)  # the town: the wrong village is outside village 001
    assert [(f.rule, f.dkbm, f.codes) for f in result.findings] == [
        ("DK_CODE", (wrong_group,), ()),
        ("DK_CODE", (wrong_village,), ()),
        ("CBF_CODE", (), (cbf,)),
        ("CBHT_CODE", (), (ok + "Q",)),
    ]
    assert "31015110100102 不是已登记的发包方代码" in result.findings[0].message
    assert "村级区域 310151101003 不存在" in result.findings[1].message
    assert "0001-8000" in result.findings[2].message
    assert "应使用后缀J" in result.findings[3].message


@pytest.mark.django_db
def test_areas_sizhi_required_and_domains(county: dict[str, str]) -> None:
    first = add_parcel(1, rect(0, 0, 10, 10))
    assert first.surveyed_area == Decimal("100.00")
    add_parcel(2, rect(100, 0, 10, 10), scmjm=Decimal("0.16"))  # 100 m² is 0.15 亩
    add_parcel(3, rect(200, 0, 10, 10), scmj=Decimal("101.00"))  # the shape has 100.00
    add_parcel(4, rect(300, 0, 10, 10), scmj=Decimal("100.01"))  # within 0.01 m²: accepted
    add_parcel(5, rect(400, 0, 10, 10), west=None, north="  ")
    add_parcel(6, rect(500, 0, 10, 10), north=None)  # three of four: enough
    add_parcel(7, rect(600, 0, 10, 10), name="")
    add_parcel(8, rect(700, 0, 10, 10), fertility="11", land_use_type="014")
    result = run_inspection(VILLAGE)
    assert rules_of(result.findings) == [
        ("DK_REQUIRED", (code(7),)),
        ("DK_DOMAIN", (code(8),)),
        ("DK_SIZHI", (code(5),)),
        ("DK_AREA", (code(3),)),
        ("DK_AREA_MU", (code(2),)),
    ]
    required, domain, sizhi, area, mu = result.findings
    assert "DKMC" in required.message
    assert "DLDJ='11'" in domain.message and "TDLYLX='014'" in domain.message
    assert "2项" in sizhi.message
    assert area.value == pytest.approx(1.0)
    assert "应为 0.15" in mu.message


@pytest.mark.django_db
def test_dates_and_contract_areas_in_mu(county: dict[str, str]) -> None:
    for k in range(1, 4):
        add_parcel(k, rect(k * 100, 0, 10, 10))
    a = contract_for(household("张三", "310151198001011234"), [code(1)])
    b = contract_for(household("李四", "310151198001015678"), [code(2)])
    c = contract_for(household("王五", "310151198001019999"), [code(3)])
    register(a, D(2019, 7, 1), D(2019, 8, 1))  # in order
    register(b, D(2019, 6, 1), D(2019, 8, 1))  # registered the day it was signed
    register(c, D(2019, 7, 1), D(2019, 8, 1))
    Certificate.objects.filter(register_book_id=c).update(issued_on=D(2019, 6, 30))  # before registration
    ContractParcel.objects.filter(contract_id=a).update(contract_area_mu=Decimal("0.14"))
    result = run_inspection(VILLAGE)
    assert [(f.rule, f.codes) for f in result.findings] == [
        ("AREA_MU", (a,)),
        ("DATE_ORDER", (c,)),
        ("DATE_SAME_DAY", (b,)),
    ]
    assert "晚于" in result.findings[1].message
    assert RegisterBook.objects.count() == 3
