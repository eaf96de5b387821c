"""The quality-inspection page ``/data/qc/`` (maps.views.qc): who may open it, and the scopes
and settings it offers each user (only their jurisdiction's county, towns and villages)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client

from tests.conftest import COUNTY, GROUP, OTHER_VILLAGE, TOWN, VILLAGE

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page_config(response: Any) -> dict[str, Any]:
    match = re.search(r'<script id="work-map-config" type="application/json">(.*?)</script>', response.content.decode())
    assert match, "map config missing"
    return json.loads(match.group(1))


def test_anonymous_visitors_are_sent_to_the_login_page() -> None:
    response = Client().get("/data/qc/")
    assert response.status_code == 302
    assert urlparse(response["Location"]).path == "/accounts/login/"
    assert "next=/data/qc/" in response["Location"]


@pytest.mark.parametrize("role", ["clerk", "surveyor", "reviewer", "department"])
def test_roles_without_data_manage_are_refused(
    county: dict[str, str], make_user: Callable[..., User], role: str
) -> None:
    response = client_for(make_user(role, COUNTY)).get("/data/qc/")
    assert response.status_code == 403
    assert "work-map-config" not in response.content.decode()


def test_a_user_without_a_role_is_refused(county: dict[str, str]) -> None:
    nobody = User.objects.create_user("nobody", password="pw-for-tests-only")
    assert client_for(nobody).get("/data/qc/").status_code == 403


def test_county_data_staff_get_the_page_with_every_scope_of_the_county(
    county: dict[str, str], make_user: Callable[..., User]
) -> None:
    response = client_for(make_user("data_staff", COUNTY)).get("/data/qc/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>质量检查 · " in html
    assert 'id="qc-form"' in html and "运行质检" in html
    assert 'name="topology"' in html and 'name="min_overlap_area"' in html and 'name="sliver_area"' in html
    assert 'value="0.001"' in html  # the default topology tolerance
    assert "下载 Excel 报告" in html and "问题清单" in html
    cfg = page_config(response)
    assert cfg["page"] == "qc" and cfg["qcScope"] == COUNTY and cfg["qcPrefix"] == COUNTY
    assert [(r["code"], r["inspectable"]) for r in cfg["regions"]] == [
        (COUNTY, True),
        (TOWN, True),
        (VILLAGE, True),
        (OTHER_VILLAGE, True),
    ]
    assert cfg["qc"] == {
        "latest": "/api/qc/runs/latest/",
        "runs": "/api/qc/runs/",
        "run": "/api/qc/runs/{id}/",
        "geojson": "/api/qc/runs/{id}/geojson/",
        "xlsx": "/api/qc/runs/{id}/xlsx/",
    }
    assert any(r["id"] == "DK_OVERLAP" and r["severity"] == "error" for r in cfg["rules"])
    assert any(layer["name"] == "parcels" for layer in cfg["tileLayers"])
    # our own static files only, all present
    assets = ASSET.findall(html)
    assert "/static/maps/qc.js" in assets and "/static/maps/qc.css" in assets
    for url in assets:
        assert url.startswith("/static/") and finders.find(url.removeprefix("/static/")), url


def test_village_data_staff_are_offered_their_village_only(
    county: dict[str, str], make_user: Callable[..., User]
) -> None:
    cfg = page_config(client_for(make_user("data_staff", VILLAGE)).get("/data/qc/"))
    assert cfg["qcScope"] == VILLAGE
    # county and town frame the choice but cannot be inspected; the other village is not there
    assert [(r["code"], r["inspectable"]) for r in cfg["regions"]] == [
        (COUNTY, False),
        (TOWN, False),
        (VILLAGE, True),
    ]


def test_data_staff_of_a_group_have_no_scope_to_inspect(county: dict[str, str], make_user: Callable[..., User]) -> None:
    response = client_for(make_user("data_staff", GROUP)).get("/data/qc/")
    assert response.status_code == 200
    assert page_config(response)["regions"] == []


def test_administrators_see_every_region(county: dict[str, str], make_user: Callable[..., User]) -> None:
    cfg = page_config(client_for(make_user("admin", None)).get("/data/qc/"))
    assert cfg["qcPrefix"] == ""
    assert [r["code"] for r in cfg["regions"]] == [COUNTY, TOWN, VILLAGE, OTHER_VILLAGE]
    assert all(r["inspectable"] for r in cfg["regions"])


def test_the_data_staff_page_links_to_the_qc_page(county: dict[str, str], make_user: Callable[..., User]) -> None:
    html = client_for(make_user("data_staff", COUNTY)).get("/data/").content.decode()
    assert re.search(r'<a href="/data/qc/" id="qc-page-link">质量检查</a>', html)
