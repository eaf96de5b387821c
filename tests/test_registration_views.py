"""Registration pages and APIs: what clerks and reviewers see and do, and that everyone else
(the public, surveyors, the department interface, a clerk of another village) is refused
at every endpoint, with nothing changed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from registration import services, testing
from registration.models import ArchiveDocument, Case, CaseContract, CaseState
from tests import test_registration_business as business_tests
from tests.conftest import GROUP, OTHER_VILLAGE, TOWN
from tests.test_registration_business import C_ID, new_household

pytestmark = pytest.mark.django_db

village = business_tests.village  # the shared fixture: six parcels, two registered households

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def case(village: dict[str, Any]) -> Case:
    """An accepted initial registration with its contract prepared."""
    created = services.case_create(
        actor=village["clerk"],
        item="1011",
        collective_code=GROUP,
        applicant_name="赵六",
        applicant_id_number=C_ID,
        proposal={
            "new_contractor": new_household(),
            "method": "110",
            "term_start": "2024-01-01",
            "parcels": [village["parcels"][5]],
        },
    )
    services.case_accept(actor=village["clerk"], number=created.number)
    services.case_prepare_contracts(actor=village["clerk"], number=created.number)
    return Case.objects.get(pk=created.pk)


def endpoints(case: Case) -> list[tuple[str, str, dict[str, Any]]]:
    n = case.number
    document = case.documents.first()
    assert document is not None
    d = document.pk
    return [
        ("get", "/registration/", {}),
        ("get", "/registration/cases/new", {}),
        ("post", "/registration/cases/new", {"item": "1011"}),
        ("get", f"/registration/cases/{n}", {}),
        ("get", f"/registration/cases/{n}/print", {}),
        ("get", f"/registration/cases/{n}/print/all.pdf", {}),
        ("get", f"/registration/cases/{n}/message.xml", {}),
        ("post", f"/registration/cases/{n}/do/preliminary", {}),
        ("post", f"/registration/cases/{n}/do/withdraw", {"reason": "x"}),
        (
            "post",
            f"/registration/cases/{n}/sign",
            {"contract_code": "x", "party": "fbf", "signer_name": "x", "signed_on": "2024-01-01"},
        ),
        ("post", f"/registration/cases/{n}/attach", {"kind": "other"}),
        ("get", f"/registration/documents/{d}", {}),
        ("post", f"/registration/documents/{d}/verify", {}),
        ("get", "/registration/archive?q=3101", {}),
        ("get", "/registration/api/cases", {}),
        (
            "post",
            "/registration/api/cases",
            {
                "item": "2031",
                "collective_code": GROUP,
                "applicant_name": "x",
                "applicant_id_number": "1",
                "proposal": {"register_code": "x", "reason": "x"},
            },
        ),
        ("get", f"/registration/api/cases/{n}", {}),
        ("post", f"/registration/api/cases/{n}/withdraw", {"reason": "x"}),
        ("get", "/registration/api/archive?q=3101", {}),
        ("post", f"/registration/api/archive/{d}/verify", {}),
    ]


@pytest.mark.parametrize(
    "who", ["anonymous", "surveyor", "data_staff", "department", "other_village_clerk", "other_village_reviewer"]
)
def test_everyone_else_is_refused_everywhere(who: str, case: Case, make_user: Any) -> None:
    client = Client()
    if who != "anonymous":
        role, region = {
            "surveyor": ("surveyor", TOWN),
            "data_staff": ("data_staff", TOWN),
            "department": ("department", TOWN),
            "other_village_clerk": ("clerk", OTHER_VILLAGE),
            "other_village_reviewer": ("reviewer", OTHER_VILLAGE),
        }[who]
        client.force_login(make_user(role, region))
    cases_before = Case.objects.count()
    for method, url, data in endpoints(case):
        if method == "post" and url.startswith("/registration/api/"):
            response = client.post(url, json.dumps(data), content_type="application/json")
        else:
            response = getattr(client, method)(url, data)
        if who == "anonymous" and not url.startswith("/registration/api/"):
            assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
        elif who.startswith("other_village") and url in (
            "/registration/",
            "/registration/cases/new",
            "/registration/archive?q=3101",
        ):
            # their own (empty) lists and an empty form: nothing of this village shows
            assert response.status_code in (200, 302), url
            assert case.number not in response.content.decode(), url
        elif (
            who.startswith("other_village")
            and url.startswith(("/registration/api/cases", "/registration/api/archive"))
            and method == "get"
            and case.number not in url
        ):
            assert response.status_code == 200 and case.number not in response.content.decode(), url
        else:
            assert response.status_code in (401, 403, 404), (url, response.status_code)
    case.refresh_from_db()
    assert case.state == CaseState.ACCEPTED and Case.objects.count() == cases_before
    assert not case.contracts.get().signatures.exists()


def test_public_verification_page_needs_no_login_and_shows_no_personal_data(case: Case, client: Client) -> None:
    token = CaseContract.objects.get(case=case).token
    page = client.get(f"/registration/verify/{token}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "待签订" in html and "赵*" in html and "赵六" not in html and C_ID not in html
    assert client.get("/registration/verify/not-a-token").status_code == 404


def test_clerk_pages_and_the_new_case_form(village: dict[str, Any], client: Client) -> None:
    client.force_login(village["clerk"])
    assert "业务待办" in client.get("/registration/").content.decode()
    form = client.get("/registration/cases/new")
    assert form.status_code == 200 and "新建业务（预申请）" in form.content.decode()
    response = client.post(
        "/registration/cases/new",
        {
            "item": "1011",
            "collective_code": GROUP,
            "applicant_name": "赵六",
            "applicant_id_type": "1",
            "applicant_id_number": C_ID,
            "new_name": "赵六",
            "new_id_number": C_ID,
            "new_address": "示范村8号",
            "new_postcode": "202150",
            "members": "钱芳,女,310151199205051234,10",
            "method": "110",
            "term_start": "2024-01-01",
            "long_term": "on",
            "parcels": village["parcels"][5],
        },
    )
    created = Case.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/registration/cases/{created.number}"
    assert created.proposal["new_contractor"]["members"][0]["name"] == "赵六"  # the head goes first
    assert created.proposal["term_end"] == "9999-01-01"
    detail = client.get(response["Location"]).content.decode()
    assert "预申请" in detail and 'data-action="accept"' in detail
    accepted = client.post(f"/registration/cases/{created.number}/do/accept", follow=True)
    assert "已受理" in accepted.content.decode()
    assert Case.objects.get().state == CaseState.ACCEPTED
    # a refused step shows the register's message and changes nothing
    refused = client.post(f"/registration/cases/{created.number}/do/preliminary", follow=True)
    assert "尚未生成" in refused.content.decode() and Case.objects.get().state == CaseState.ACCEPTED
    bad = client.post(
        "/registration/cases/new",
        {
            "item": "1011",
            "collective_code": GROUP,
            "applicant_name": "x",
            "applicant_id_type": "1",
            "applicant_id_number": "1",
            "members": "乱写",
        },
    )
    assert bad.status_code == 200 and "家庭成员格式" in bad.content.decode()


def test_reviewer_inbox_and_api_flow(village: dict[str, Any], client: Client) -> None:
    clerk = Client()
    clerk.force_login(village["clerk"])
    created = clerk.post(
        "/registration/api/cases",
        data=json.dumps(
            {
                "item": "2031",
                "collective_code": GROUP,
                "applicant_name": "张三",
                "applicant_id_number": "310151198001011234",
                "proposal": {"register_code": village["a"] + "J", "reason": "权证作废"},
            }
        ),
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    for action in ("accept", "preliminary"):
        assert clerk.post(f"/registration/api/cases/{number}/{action}").status_code == 200
    wrong = clerk.post(f"/registration/api/cases/{number}/review")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    client.force_login(village["reviewer"])
    inbox = client.get("/registration/?box=inbox").content.decode()
    assert number in inbox
    assert client.post(f"/registration/cases/{number}/do/review").status_code == 302
    assert client.post(f"/registration/api/cases/{number}/register").json()["state"] == "registered"
    message = client.get(f"/registration/cases/{number}/message.xml")
    assert message.status_code == 200 and b"<QZZX>" in message.content
    assert clerk.post(f"/registration/api/cases/{number}/close").json()["state"] == "closed"
    listed = clerk.get("/registration/api/archive", {"q": number}).json()["results"]
    assert listed and listed[0]["kind"] == "message"
    verified = clerk.post(f"/registration/api/archive/{listed[0]['id']}/verify").json()
    assert verified["ok"] is True


def test_uploads_through_the_page(case: Case, village: dict[str, Any], client: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(village["clerk"])
    upload = SimpleUploadedFile("申请书.pdf", PDF, content_type="application/pdf")
    response = client.post(
        f"/registration/cases/{case.number}/attach",
        {"kind": "application", "title": "登记申请书", "file": upload},
        follow=True,
    )
    assert "附件已入档" in response.content.decode()
    document = ArchiveDocument.objects.get(kind="application")
    assert document.case == case and document.origin == "uploaded"
    served = client.get(f"/registration/documents/{document.pk}")
    assert b"".join(served.streaming_content) == PDF and served["X-Content-SHA256"] == document.sha256
    assert testing  # builders imported for the shared fixture


def test_acting_user_refuses_anyone_not_signed_in() -> None:
    """Services take ``None`` for the system: a request's anonymous user never becomes one."""
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied

    from registration.selectors import acting_user

    with pytest.raises(PermissionDenied):
        acting_user(AnonymousUser())
    with pytest.raises(PermissionDenied):
        acting_user(None)


def test_verify_redirects_only_within_the_site(case: Case, village: dict[str, Any], client: Client) -> None:
    client.force_login(village["clerk"])
    document = case.documents.get()
    url = f"/registration/documents/{document.pk}/verify"
    for elsewhere in ("https://evil.example/phish", "//evil.example/phish", "javascript:alert(1)"):
        response = client.post(url, {"next": elsewhere})
        assert response.status_code == 302
        assert response["Location"] == f"/registration/archive?q={document.sha256}", elsewhere
    back = f"/registration/archive?q={case.number}"
    assert client.post(url, {"next": back})["Location"] == back


def registered(village: dict[str, Any]) -> Case:
    """A registered (登簿) initial registration, waiting for 缮证发证."""
    created = services.case_create(
        actor=village["clerk"],
        item="1011",
        collective_code=GROUP,
        applicant_name="赵六",
        applicant_id_number=C_ID,
        proposal={
            "new_contractor": new_household(),
            "method": "110",
            "term_start": "2024-01-01",
            "parcels": [village["parcels"][5]],
        },
    )
    return testing.walk(created, clerk=village["clerk"], reviewer=village["reviewer"], until="register")


def test_certify_with_bad_collector_details_is_refused_and_changes_nothing(
    village: dict[str, Any], client: Client
) -> None:
    """An invalid collector (领取人) is an error, not silently replaced by the applicant."""
    from parcels.models import Certificate

    case = registered(village)
    book = case.result["contracts"].popitem()[0]
    client.force_login(village["clerk"])
    page = client.post(
        f"/registration/cases/{case.number}/do/certify",
        {"collector_name": "钱" * 51, "collector_id_number": C_ID},
        follow=True,
    )
    assert "领取人信息有误" in page.content.decode()
    case.refresh_from_db()
    assert case.state == CaseState.REGISTERED and not Certificate.objects.filter(register_book_id=book).exists()
    page = client.post(
        f"/registration/cases/{case.number}/do/certify",
        {"collector_name": "钱芳", "collector_id_number": C_ID},
        follow=True,
    )
    assert "权证已缮制发放" in page.content.decode()
    assert Certificate.objects.get(register_book_id=book).collector_name == "钱芳"


def test_form_errors_do_not_repeat_id_numbers(village: dict[str, Any], client: Client) -> None:
    """The form shows back what the clerk typed; its error messages name no ID number."""
    client.force_login(village["clerk"])
    fields = {
        "collective_code": GROUP,
        "applicant_name": "张三",
        "applicant_id_type": "1",
        "applicant_id_number": business_tests.A_ID,
    }
    stranger = "310151199909099999"

    def errors(data: dict[str, str]) -> str:
        response = client.post("/registration/cases/new", fields | data)
        assert response.status_code == 200
        return " ".join(response.context["form"].non_field_errors())

    message = errors({"item": "1031", "contractor_code": village["a"], "members_out": stranger})
    assert "证件号码 310151********9999 不是承包方" in message and stranger not in message
    message = errors({"item": "1011", "members": f"钱芳,不详,{stranger},10"})  # 性别 must be 男/女/1/2
    assert "家庭成员格式" in message and "第 1 行" in message and stranger not in message and "钱芳" not in message
    assert not Case.objects.exists()
