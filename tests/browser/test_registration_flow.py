"""Registration end to end in Chromium: a clerk files a pre-application, accepts it, prints
the contract and records both signatures, passes the preliminary review; a reviewer reviews
and registers; the clerk issues the certificate and opens it from the print centre. Once
for an initial registration, once for a household split with a parcel split."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from parcels.models import Contractor, Parcel
from registration import testing
from registration.models import Case
from tests.browser.conftest import PageLog
from tests.conftest import GROUP, TOWN, VILLAGE

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SON_ID = "310151200505051111"


def login(page: Page, live_server: Any, user: User) -> None:
    """Sign the page in as ``user`` (a session made by Django's test client)."""
    client = Client()
    client.force_login(user)
    page.context.clear_cookies()
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def press(page: Page, action: str) -> None:
    page.locator(f'button[data-action="{action}"]').first.click()
    page.wait_for_load_state("domcontentloaded")


def sign_all(page: Page) -> None:
    """Record both parties' signatures on every contract the case prepared."""
    for card in page.locator(".contract-card").all():
        code = card.get_attribute("data-contract")
        for party, signer in (("fbf", "王建国"), ("cbf", "户主本人")):
            form = page.locator(f'.contract-card[data-contract="{code}"] .sign-form')
            form.locator("select[name=party]").select_option(party)
            form.locator("input[name=signer_name]").fill(signer)
            form.locator('button[data-action="sign"]').click()
            page.wait_for_load_state("domcontentloaded")
            expect(page.locator(".msg-success")).to_contain_text("签字已确认")
    expect(page.locator(".contract-card .missing")).to_have_count(0)


def finish(page: Page, live_server: Any, number: str, clerk: User, reviewer: User, artifacts: Path, name: str) -> bytes:
    """From an accepted case with its form filled: contracts, signatures, reviews, register,
    certificate; returns the first certificate PDF opened from the print centre."""
    press(page, "prepare")
    expect(page.locator(".msg-success")).to_contain_text("合同已生成")
    sign_all(page)
    page.screenshot(path=str(artifacts / f"registration-{name}-signed.png"), full_page=True)
    press(page, "preliminary")
    expect(page.locator("#case-state")).to_have_text("已初审")

    login(page, live_server, reviewer)
    page.goto(live_server.url + "/registration/?box=inbox")
    page.locator(f'#case-table a:text("{number}")').click()
    press(page, "review")
    expect(page.locator("#case-state")).to_have_text("已审核")
    press(page, "register")
    expect(page.locator("#case-state")).to_have_text("已登簿")

    login(page, live_server, clerk)
    page.goto(f"{live_server.url}/registration/cases/{number}")
    press(page, "certify")
    expect(page.locator("#case-state")).to_have_text("已缮证发证")
    page.locator("#print-centre-link").click()
    expect(page.locator("h1")).to_contain_text("打印中心")
    certificates = page.locator('#print-list tr[data-kind="certificate"] a.doc-link')
    expect(certificates.first).to_be_visible()
    page.screenshot(path=str(artifacts / f"registration-{name}-print-centre.png"), full_page=True)
    # "Connection: close": a kept-alive request thread of the live server would keep its
    # database connection open past the test.
    close = {"Connection": "close"}
    response = page.request.get(live_server.url + str(certificates.first.get_attribute("href")), headers=close)
    assert response.ok and response.headers["content-type"] == "application/pdf"
    merged = page.request.get(live_server.url + str(page.locator("#print-all").get_attribute("href")), headers=close)
    assert merged.ok and merged.body().startswith(b"%PDF")
    page.goto(f"{live_server.url}/registration/cases/{number}")
    press(page, "close")
    expect(page.locator("#case-state")).to_have_text("已办结")
    page.screenshot(path=str(artifacts / f"registration-{name}-closed.png"), full_page=True)
    return response.body()


def test_initial_registration_from_pre_application_to_certificate(
    page: Page, live_server: Any, county: dict[str, str], make_user: Any, page_log: PageLog, artifacts: Path
) -> None:
    clerk, reviewer = make_user("clerk", VILLAGE), make_user("reviewer", TOWN)
    parcels = testing.make_parcels(GROUP, 2, names=["东大田", "西大田"])
    login(page, live_server, clerk)

    page.goto(live_server.url + "/registration/cases/new")
    expect(page.locator("h1")).to_have_text("新建业务（预申请）")
    page.select_option("select[name=item]", "1011")
    page.fill("input[name=applicant_name]", "赵六")
    page.fill("input[name=applicant_id_number]", "310151199003033456")
    page.fill("input[name=new_name]", "赵六")
    page.fill("input[name=new_id_number]", "310151199003033456")
    page.fill("input[name=new_address]", "示范村8号")
    page.fill("input[name=new_postcode]", "202150")
    page.fill("textarea[name=members]", "钱芳,女,310151199205051234,10")
    page.fill("input[name=term_start]", "2024-01-01")
    page.fill("textarea[name=parcels]", "\n".join(p.code for p in parcels))
    expect(page.locator("textarea[name=merged]")).to_be_hidden()  # other items' fields stay out of the way
    page.screenshot(path=str(artifacts / "registration-initial-form.png"), full_page=True)
    page.locator("#case-form button[type=submit]").click()
    expect(page.locator("#case-state")).to_have_text("预申请")
    number = page.locator("#case-number").inner_text()
    press(page, "accept")
    expect(page.locator("#case-state")).to_have_text("已受理")

    pdf = finish(page, live_server, number, clerk, reviewer, artifacts, "initial")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "农村土地承包经营权证" in text and "赵六" in text and "长久不变" in text
    contractor = Contractor.objects.get(name="赵六")
    assert contractor.member_count == 2
    assert Case.objects.get(number=number).result["main_contract"] == contractor.code + "J"
    assert page_log.errors == [] and page_log.external_requests == []


def test_household_split_with_parcel_split_from_pre_application_to_certificate(
    page: Page, live_server: Any, county: dict[str, str], make_user: Any, page_log: PageLog, artifacts: Path
) -> None:
    clerk, reviewer = make_user("clerk", VILLAGE), make_user("reviewer", TOWN)
    parcels = testing.make_parcels(GROUP, 2, names=["东大田", "西大田"])
    contract = testing.registered_household(
        GROUP, "张三", "310151198001011234", parcels, others=[testing.member("张小", SON_ID, "20", sex="1")]
    )
    login(page, live_server, clerk)

    page.goto(live_server.url + "/registration/cases/new")
    page.select_option("select[name=item]", "1052")
    expect(page.locator("textarea[name=split_line]")).to_be_visible()
    page.fill("input[name=applicant_name]", "张小")
    page.fill("input[name=applicant_id_number]", SON_ID)
    page.fill("input[name=contractor_code]", contract.contractor_id)
    page.fill("textarea[name=members_out]", SON_ID)
    page.fill("input[name=new_head_id_number]", SON_ID)
    page.fill("input[name=split_parcel]", parcels[0].code)
    page.fill("textarea[name=split_line]", testing.vertical_line(40).wkt)
    page.select_option("select[name=split_give]", "smaller")
    page.screenshot(path=str(artifacts / "registration-split-form.png"), full_page=True)
    page.locator("#case-form button[type=submit]").click()
    expect(page.locator("#case-state")).to_have_text("预申请")
    number = page.locator("#case-number").inner_text()
    press(page, "accept")
    expect(page.locator("#case-state")).to_have_text("已受理")

    pdf = finish(page, live_server, number, clerk, reviewer, artifacts, "split")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "农村土地承包经营权证" in text
    case = Case.objects.get(number=number)
    pieces = case.result["splits"][parcels[0].code]
    assert Parcel.objects.get(code=parcels[0].code).status == "historic" and len(pieces) == 2
    son = Contractor.objects.get(name="张小", status="current")
    assert set(case.result["certificates"]) == {contract.code, son.code + "J"}
    assert page_log.errors == [] and page_log.external_requests == []
