"""The quality inspection API: who may run and read inspections, and what comes back.

Mounted here under ``api/qc/`` by this module's own URLconf (``gisapp.urls`` mounts it the
same way), so that the tests do not depend on the project's URLconf."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import include, path
from openpyxl import load_workbook

from layers.models import InspectionFinding, InspectionRun
from tests.conftest import COUNTY, OTHER_VILLAGE, VILLAGE
from tests.test_checks_dataset import add_parcel, code, rect

urlpatterns = [path("api/qc/", include("layers.urls"))]
pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


@pytest.fixture
def two_overlapping(county: dict[str, str]) -> None:
    add_parcel(1, rect(0, 0, 10, 10))
    add_parcel(2, rect(9, 0, 10, 10))  # 1 m × 10 m overlap
    add_parcel(3, rect(100, 0, 0.5, 1))  # a 0.5 m² sliver


def client_for(user: User | None) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


@pytest.mark.parametrize("role", [None, "clerk", "department", "surveyor", "reviewer"])
def test_only_data_staff_may_inspect(two_overlapping: None, make_user: Callable[..., User], role: str | None) -> None:
    user = make_user(role, COUNTY) if role else None
    c = client_for(user)
    assert c.post("/api/qc/runs/", {"scope": COUNTY}, content_type="application/json").status_code in (401, 403)
    assert c.get("/api/qc/runs/").status_code in (401, 403)
    assert c.get("/api/qc/rules/").status_code in (401, 403)
    assert InspectionRun.objects.count() == 0


def test_data_staff_run_and_read_a_report(two_overlapping: None, make_user: Callable[..., User]) -> None:
    staff = client_for(make_user("data_staff", COUNTY))
    created = staff.post("/api/qc/runs/", {"scope": VILLAGE}, content_type="application/json")
    assert created.status_code == 201, created.content
    run = created.json()
    assert run["scope"] == VILLAGE and run["parcels_checked"] == 3
    assert run["errors"] == 2 and run["counts"] == {"DK_SLIVER": 1, "DK_OVERLAP": 1}
    assert InspectionFinding.objects.filter(run_id=run["id"]).count() == 2

    detail = staff.get(f"/api/qc/runs/{run['id']}/").json()
    assert [(f["rule"], f["dkbm"]) for f in detail["findings"]] == [
        ("DK_SLIVER", [code(3)]),
        ("DK_OVERLAP", [code(1), code(2)]),
    ]
    assert detail["findings"][1]["area_m2"] == pytest.approx(10.0, abs=1e-4)
    only = staff.get(f"/api/qc/runs/{run['id']}/?rule=DK_OVERLAP").json()
    assert [f["seq"] for f in only["findings"]] == [2]
    assert staff.get(f"/api/qc/runs/{run['id']}/?rule=NOPE").status_code == 400

    latest = staff.get(f"/api/qc/runs/latest/?scope={VILLAGE}").json()
    assert latest["run"] == run["id"]

    geojson = staff.get(f"/api/qc/runs/{run['id']}/geojson/").json()
    assert geojson["type"] == "FeatureCollection"
    assert [f["properties"]["rule"] for f in geojson["features"]] == ["DK_SLIVER", "DK_OVERLAP"]
    lon, lat = geojson["features"][1]["geometry"]["coordinates"][0][0]
    assert 121 < lon < 122 and 31 < lat < 32  # lon/lat, not metres

    xlsx = staff.get(f"/api/qc/runs/{run['id']}/xlsx/")
    assert xlsx.status_code == 200
    assert "attachment" in xlsx["Content-Disposition"]
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    rows = list(book["问题清单"].iter_rows(values_only=True))
    assert rows[0][:3] == ("序号", "规则", "严重程度")
    assert [r[1] for r in rows[1:]] == ["DK_SLIVER", "DK_OVERLAP"]
    summary = {r[0]: r[3] for r in book["汇总"].iter_rows(values_only=True) if r and r[0] and len(r) > 3}
    assert summary["DK_OVERLAP"] == 1

    rules = staff.get("/api/qc/rules/").json()
    assert any(r["id"] == "DK_OVERLAP" and r["tolerance"] == 0.01 for r in rules["rules"])
    listed = staff.get("/api/qc/runs/").json()["runs"]
    assert [r["id"] for r in listed] == [run["id"]]


def test_jurisdiction(two_overlapping: None, make_user: Callable[..., User]) -> None:
    county_staff = client_for(make_user("data_staff", COUNTY))
    village_staff = client_for(make_user("data_staff", OTHER_VILLAGE))
    county_run = county_staff.post("/api/qc/runs/", {"scope": COUNTY}, content_type="application/json").json()
    # another village's staff cannot inspect the county or this village, nor read the county's run
    refused = village_staff.post("/api/qc/runs/", {"scope": COUNTY}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "out_of_jurisdiction"
    assert village_staff.post("/api/qc/runs/", {"scope": VILLAGE}, content_type="application/json").status_code == 403
    assert village_staff.get(f"/api/qc/runs/{county_run['id']}/").status_code == 404
    assert village_staff.get(f"/api/qc/runs/{county_run['id']}/xlsx/").status_code == 404
    assert village_staff.get("/api/qc/runs/").json()["runs"] == []
    # their own village is fine
    own = village_staff.post("/api/qc/runs/", {"scope": OTHER_VILLAGE}, content_type="application/json")
    assert own.status_code == 201
    assert [r["scope"] for r in village_staff.get("/api/qc/runs/").json()["runs"]] == [OTHER_VILLAGE]


def test_bad_input(two_overlapping: None, make_user: Callable[..., User]) -> None:
    staff = client_for(make_user("data_staff", COUNTY))
    for body in ({"scope": "31015"}, {"scope": COUNTY, "min_overlap_area": -1}, {}):
        response = staff.post("/api/qc/runs/", body, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid"
    assert staff.get("/api/qc/runs/999999/").status_code == 404
    custom = staff.post(
        "/api/qc/runs/", {"scope": VILLAGE, "min_overlap_area": 20}, content_type="application/json"
    ).json()
    # the 10 m² overlap is below 20 m² now; what is left of it is parcel 1's corner on parcel 2's edge
    assert custom["counts"] == {"DK_SLIVER": 1, "DK_VERTEX_ON_EDGE": 1}
    assert custom["tolerances"]["min_overlap_area"] == 20.0
