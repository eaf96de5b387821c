"""The case workflow: numbers, states and who may take each step, four eyes, parcels held
by one open case at a time, reasons for rejection and withdrawal, signatures on the terms
actually registered, and the ChangeRecords a registration links to."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from gisapp.api import exception_handler
from gisapp.errors import DomainError, NotFoundError, OutOfJurisdictionError
from parcels import services as register
from parcels.models import Parcel
from registration import services, testing
from registration.models import Case, CaseParcel, CaseState, CaseStep
from registration.services import ForbiddenError
from tests import test_registration_business as business_tests
from tests.conftest import GROUP, OTHER_VILLAGE, TOWN
from tests.test_registration_business import C_ID, new_household

pytestmark = pytest.mark.django_db

village = business_tests.village  # the shared fixture: six parcels, two registered households


def initial(v: dict[str, Any], parcel: str | None = None, actor: Any = None) -> Case:
    return services.case_create(
        actor=actor or v["clerk"],
        item="1011",
        collective_code=GROUP,
        applicant_name="赵六",
        applicant_id_number=C_ID,
        proposal={
            "new_contractor": new_household(),
            "method": "110",
            "term_start": "2024-01-01",
            "parcels": [parcel or v["parcels"][5]],
        },
    )


def test_case_numbers_are_county_date_and_daily_sequence(village: dict[str, Any]) -> None:
    first = initial(village)
    services.case_withdraw(actor=village["clerk"], number=first.number, reason="申请人撤回")
    second = initial(village)
    today = timezone.localdate().strftime("%Y%m%d")
    assert re.fullmatch(rf"310151{today}\d{{6}}", first.number)
    assert int(second.number[-6:]) == int(first.number[-6:]) + 1
    assert first.steps.first().action == CaseStep.Action.PRE_APPLY


def test_a_parcel_is_in_one_open_case_at_a_time(village: dict[str, Any]) -> None:
    first = initial(village)
    with pytest.raises(DomainError, match="正在办理其他业务"):
        initial(village)
    with pytest.raises(IntegrityError), transaction.atomic():  # the database holds the line too
        CaseParcel.objects.create(case=first, parcel_code=village["parcels"][5])
    services.case_reject(actor=village["clerk"], number=first.number, reason="材料不全")
    assert initial(village).state == CaseState.PRE_APPLIED


def test_steps_in_order_and_by_role(village: dict[str, Any], make_user: Any) -> None:
    clerk, reviewer = village["clerk"], village["reviewer"]
    case = initial(village)
    with pytest.raises(DomainError, match="只能在“已受理”时进行"):
        services.case_preliminary(actor=clerk, number=case.number)
    with pytest.raises(ForbiddenError):
        services.case_accept(actor=reviewer, number=case.number)
    services.case_accept(actor=clerk, number=case.number)
    with pytest.raises(DomainError, match="尚未生成"):
        services.case_preliminary(actor=clerk, number=case.number)
    services.case_prepare_contracts(actor=clerk, number=case.number)
    code = case.contracts.get().contract_code
    services.case_sign(
        actor=clerk,
        number=case.number,
        contract_code=code,
        party="cbf",
        signer_name="赵六",
        signed_on=timezone.localdate(),
    )
    with pytest.raises(DomainError, match="尚待发包方签字确认"):
        services.case_preliminary(actor=clerk, number=case.number)
    services.case_sign(
        actor=clerk,
        number=case.number,
        contract_code=code,
        party="fbf",
        signer_name="王建国",
        signed_on=timezone.localdate(),
    )
    with pytest.raises(DomainError, match="已对当前合同文本签字确认"):
        services.case_sign(
            actor=clerk,
            number=case.number,
            contract_code=code,
            party="fbf",
            signer_name="王建国",
            signed_on=timezone.localdate(),
        )
    services.case_preliminary(actor=clerk, number=case.number)
    with pytest.raises(ForbiddenError):
        services.case_review(actor=clerk, number=case.number)
    services.case_review(actor=reviewer, number=case.number)
    with pytest.raises(ForbiddenError):
        services.case_register(actor=clerk, number=case.number)
    services.case_register(actor=reviewer, number=case.number)
    case.refresh_from_db()
    assert case.state == CaseState.REGISTERED
    assert [s.action for s in case.steps.all()] == [
        "pre_apply",
        "accept",
        "prepare_contracts",
        "sign",
        "sign",
        "preliminary",
        "review",
        "register",
    ]
    assert (case.accepted_by, case.reviewed_by, case.registered_by) == (clerk, reviewer, reviewer)
    assert case.accepted_at <= case.preliminary_at <= case.reviewed_at <= case.registered_at
    with pytest.raises(DomainError, match="只能在"):
        services.case_withdraw(actor=clerk, number=case.number, reason="太晚了")


def test_the_reviewer_cannot_be_the_clerk_who_accepted(village: dict[str, Any], make_user: Any) -> None:
    admin = make_user("admin", None)  # has both capabilities
    case = initial(village, actor=admin)
    testing.walk(case, clerk=admin, reviewer=village["reviewer"], until="preliminary")
    with pytest.raises(ForbiddenError, match="受理人不能审核"):
        services.case_review(actor=admin, number=case.number)
    services.case_review(actor=village["reviewer"], number=case.number)
    with pytest.raises(ForbiddenError, match="受理人不能登簿"):
        services.case_register(actor=admin, number=case.number)
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(registered_by=admin)


def test_reject_and_withdraw_need_a_reason_and_free_the_parcels(village: dict[str, Any]) -> None:
    case = initial(village)
    with pytest.raises(DomainError, match="请填写原因"):
        services.case_reject(actor=village["clerk"], number=case.number, reason=" ")
    testing.walk(case, clerk=village["clerk"], reviewer=village["reviewer"], until="preliminary")
    with pytest.raises(ForbiddenError):  # after the preliminary review only a reviewer rejects
        services.case_reject(actor=village["clerk"], number=case.number, reason="不符合条件")
    rejected = services.case_reject(actor=village["reviewer"], number=case.number, reason="不符合条件")
    assert rejected.state == CaseState.REJECTED and rejected.end_reason == "不符合条件"
    assert rejected.ended_by == village["reviewer"]
    assert not CaseParcel.objects.filter(case=case, is_open=True).exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(end_reason="")


def test_a_contract_changed_after_signing_must_be_signed_again(village: dict[str, Any]) -> None:
    case = initial(village)
    testing.walk(case, clerk=village["clerk"], reviewer=village["reviewer"], until="sign")
    parcel = Parcel.objects.get(code=village["parcels"][5])
    register.parcel_update(
        actor=None, code=parcel.code, expected_version=parcel.version, geom=testing.square(500, 0, 90)
    )
    with pytest.raises(DomainError, match="请重新生成合同"):
        services.case_preliminary(actor=village["clerk"], number=case.number)
    testing.walk(case, clerk=village["clerk"], reviewer=village["reviewer"], until="register")
    assert Case.objects.get(pk=case.pk).state == CaseState.REGISTERED


def test_registration_links_before_and_after_and_overwrites_nothing(village: dict[str, Any]) -> None:
    a = village["a"]
    case = services.case_create(
        actor=village["clerk"],
        item="1033",
        collective_code=GROUP,
        applicant_name="张三",
        applicant_id_number="310151198001011234",
        proposal={"contractor_code": a, "remove": [village["parcels"][2]]},
    )
    case = testing.walk(case, clerk=village["clerk"], reviewer=village["reviewer"], until="register")
    records = [link.change for link in case.changes.select_related("change").order_by("change_id")]
    contract = [r for r in records if r.model == "parcels.Contract"]
    assert contract[0].before["parcel_count"] == 3 and contract[-1].after["parcel_count"] == 2
    assert [r.version for r in contract] == sorted(r.version for r in contract)  # each change a new version
    (retired,) = [r for r in records if r.model == "parcels.ContractParcel"]
    assert retired.action == "retire" and retired.after["status"] == "historic"


def test_other_village_and_other_roles_are_refused(village: dict[str, Any], make_user: Any) -> None:
    other_clerk = make_user("clerk", OTHER_VILLAGE)
    with pytest.raises(OutOfJurisdictionError):
        initial(village, actor=other_clerk)
    case = initial(village)
    with pytest.raises(OutOfJurisdictionError):
        services.case_accept(actor=other_clerk, number=case.number)
    for role in ("surveyor", "department", "data_staff"):
        with pytest.raises(ForbiddenError):
            services.case_accept(actor=make_user(role, TOWN), number=case.number)


def test_an_unknown_case_number_is_not_found(village: dict[str, Any]) -> None:
    """Every step on a case number that does not exist is refused as not found (404, the
    number named), not as bad input (400), and writes nothing."""
    unknown = "310151" + timezone.localdate().strftime("%Y%m%d") + "999999"
    clerk, reviewer = village["clerk"], village["reviewer"]
    steps = {
        "accept": lambda: services.case_accept(actor=clerk, number=unknown),
        "preliminary": lambda: services.case_preliminary(actor=clerk, number=unknown),
        "review": lambda: services.case_review(actor=reviewer, number=unknown),
        "register": lambda: services.case_register(actor=reviewer, number=unknown),
        "certify": lambda: services.case_certify(actor=clerk, number=unknown),
        "close": lambda: services.case_close(actor=clerk, number=unknown),
        "reject": lambda: services.case_reject(actor=clerk, number=unknown, reason="材料不全"),
        "withdraw": lambda: services.case_withdraw(actor=clerk, number=unknown, reason="申请人撤回"),
    }
    for name, step in steps.items():
        with pytest.raises(NotFoundError) as err:
            step()
        assert (err.value.code, err.value.http_status) == ("not_found", 404), name
        assert err.value.message == f"业务 {unknown} 不存在", name
        response = exception_handler(err.value, {})
        assert response is not None and response.status_code == 404, name
        assert response.data["error"]["code"] == "not_found", name
    assert not Case.objects.exists() and not CaseStep.objects.exists()
