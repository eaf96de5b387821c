"""The quality inspection API: who may run and read inspections, and what comes back.

Mounted here under ``api/qc/`` by this module's own URLconf (``gisapp.urls`` mounts it the
same way), so that the tests do not depend on the project's URLconf."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import include, path
from django.utils import timezone
from openpyxl import load_workbook

from layers import apis
from layers.checks import report
from layers.checks.engine import STAGE_LABEL, STAGE_START, STAGES
from layers.models import InspectionFinding, InspectionRun
from parcels.models import Region
from tests.conftest import COUNTY, OTHER_GROUP, OTHER_VILLAGE, VILLAGE
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


# --- runs in the background, with progress ------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def finished(client: Client, pk: int) -> dict[str, Any] | None:
    body = client.get(f"/api/qc/runs/{pk}/").json()
    return body if body["summary"]["state"] != "running" else None


def comparable(findings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(f["seq"], f["rule"], f["severity"], f["dkbm"], f["codes"], f["area_m2"], f["message"]) for f in findings]


@pytest.fixture
def hold_at_overlaps(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Background runs of VILLAGE stop when the overlap stage begins (after its progress is
    written), until the test sets ``release``; every stage written is recorded."""
    gate: dict[str, Any] = {"reached": threading.Event(), "release": threading.Event(), "stages": []}
    write = apis.RunProgress.__call__

    def held(self: apis.RunProgress, stage: str, fraction: float) -> None:
        write(self, stage, fraction)
        scope = InspectionRun.objects.filter(pk=self.run_pk).values_list("scope", flat=True).first()
        if scope != VILLAGE:
            return
        gate["stages"].append((stage, fraction))
        if stage == STAGE_LABEL["overlaps"]:
            gate["reached"].set()
            assert gate["release"].wait(60), "the test never released the run"

    monkeypatch.setattr(apis.RunProgress, "__call__", held)
    return gate


@pytest.mark.django_db(transaction=True)
def test_background_run_shows_progress_refuses_a_second_and_ends_like_a_synchronous_run(
    two_overlapping: None, make_user: Callable[..., User], hold_at_overlaps: dict[str, Any]
) -> None:
    add_parcel(1, rect(300, 0, 10, 10), collective=OTHER_GROUP)  # the other village has a parcel
    staff = client_for(make_user("data_staff", COUNTY))
    started = staff.post("/api/qc/runs/", {"scope": VILLAGE, "background": True}, content_type="application/json")
    assert started.status_code == 202, started.content
    run = started.json()
    assert run["state"] == "running" and run["progress"] == 0.0 and run["errors"] == 0
    assert started["Location"] == f"/api/qc/runs/{run['id']}/"

    # While it works: the stage and the share done are visible, nothing else is yet.
    assert hold_at_overlaps["reached"].wait(60)
    during = staff.get(f"/api/qc/runs/{run['id']}/").json()
    assert during["summary"]["state"] == "running"
    assert during["summary"]["stage"] == "检查重叠"
    assert 0.0 < during["summary"]["progress"] == STAGE_START["overlaps"] < 1.0
    assert during["findings"] == []
    for download in ("xlsx", "geojson"):
        refused = staff.get(f"/api/qc/runs/{run['id']}/{download}/")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "inspection_not_done"
    assert staff.get(f"/api/qc/runs/latest/?scope={VILLAGE}").status_code == 404  # nothing finished yet

    # A second run of the same scope is refused, in the background or not; nothing is stored.
    for background in (True, False):
        again = staff.post(
            "/api/qc/runs/", {"scope": VILLAGE, "background": background}, content_type="application/json"
        )
        assert again.status_code == 409, again.content
        error = again.json()["error"]
        assert error["code"] == "inspection_running" and error["details"]["run"] == run["id"]
        assert "正在质检中" in error["message"]
    assert InspectionRun.objects.filter(scope=VILLAGE).count() == 1
    # Another scope may run meanwhile.
    other = staff.post("/api/qc/runs/", {"scope": OTHER_VILLAGE, "background": True}, content_type="application/json")
    assert other.status_code == 202
    other_done = wait_for(lambda: finished(staff, other.json()["id"]), what="the other village's run")
    assert other_done["summary"]["state"] == "done" and other_done["summary"]["parcels_checked"] == 1

    hold_at_overlaps["release"].set()
    done = wait_for(lambda: finished(staff, run["id"]), what="the run to finish")
    summary = done["summary"]
    assert summary["state"] == "done" and summary["progress"] == 1.0 and summary["stage"] == "完成"
    assert summary["finished_at"] and summary["message"] == ""
    # The engine's stages drove the bar, in order, each further than the last.
    assert hold_at_overlaps["stages"] == [(label, STAGE_START[name]) for name, label, _ in STAGES]
    fractions = [f for _, f in hold_at_overlaps["stages"]]
    assert fractions[0] == 0.0 and fractions == sorted(set(fractions)) and fractions[-1] < 1.0

    # The same data inspected synchronously gives the same report.
    sync = staff.post("/api/qc/runs/", {"scope": VILLAGE}, content_type="application/json")
    assert sync.status_code == 201
    reference = staff.get(f"/api/qc/runs/{sync.json()['id']}/").json()
    for key in ("parcels_checked", "errors", "warnings", "counts"):
        assert summary[key] == reference["summary"][key], key
    assert summary["counts"] == {"DK_SLIVER": 1, "DK_OVERLAP": 1}
    assert comparable(done["findings"]) == comparable(reference["findings"])
    assert staff.get(f"/api/qc/runs/latest/?scope={VILLAGE}").json()["run"] == sync.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_background_run_is_stored_as_failed_and_frees_its_scope(
    two_overlapping: None, make_user: Callable[..., User]
) -> None:
    Region.objects.filter(code=COUNTY).update(area_srid=999999)  # a CRS PROJ does not know
    staff_user = make_user("data_staff", COUNTY)
    staff = client_for(staff_user)
    started = staff.post("/api/qc/runs/", {"scope": VILLAGE, "background": True}, content_type="application/json")
    assert started.status_code == 202
    failed = wait_for(lambda: finished(staff, started.json()["id"]), what="the run to fail")["summary"]
    assert failed["state"] == "failed" and failed["state_label"] == "失败"
    assert failed["message"] == "质检失败：程序出错（CRSError），请联系系统管理员查看服务器日志"
    assert failed["finished_at"] and failed["progress"] < 1.0
    assert InspectionFinding.objects.count() == 0
    refused = staff.get(f"/api/qc/runs/{started.json()['id']}/xlsx/")
    assert refused.status_code == 409 and "未能完成" in refused.json()["error"]["message"]

    # A synchronous run that fails is stored as failed too (and answers 500).
    broken = Client(raise_request_exception=False)
    broken.force_login(staff_user)
    assert broken.post("/api/qc/runs/", {"scope": VILLAGE}, content_type="application/json").status_code == 500
    assert list(InspectionRun.objects.filter(scope=VILLAGE).values_list("state", flat=True)) == ["failed", "failed"]

    # The scope is free again: with the CRS repaired the next run completes.
    Region.objects.filter(code=COUNTY).update(area_srid=4528)
    again = staff.post("/api/qc/runs/", {"scope": VILLAGE, "background": True}, content_type="application/json")
    assert again.status_code == 202
    assert wait_for(lambda: finished(staff, again.json()["id"]))["summary"]["errors"] == 2


def test_a_run_abandoned_by_a_dead_worker_does_not_block_its_scope(
    two_overlapping: None, make_user: Callable[..., User]
) -> None:
    staff = client_for(make_user("data_staff", COUNTY))
    stuck = InspectionRun.objects.create(
        scope=VILLAGE, county=COUNTY, area_srid=4528, state="running", started_at=timezone.now(), stage="检查重叠"
    )
    # Still reporting: refused.
    assert staff.post("/api/qc/runs/", {"scope": VILLAGE}, content_type="application/json").status_code == 409
    # Silent for longer than ABANDONED_AFTER: it is marked failed and the new run goes ahead.
    InspectionRun.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - apis.ABANDONED_AFTER * 1.1)
    created = staff.post("/api/qc/runs/", {"scope": VILLAGE}, content_type="application/json")
    assert created.status_code == 201
    stuck.refresh_from_db()
    assert stuck.state == "failed" and stuck.message.startswith("质检中断")


def test_only_one_running_run_per_scope_in_the_database(county: dict[str, str]) -> None:
    fields = {"county": COUNTY, "area_srid": 4528, "state": "running", "started_at": timezone.now()}
    InspectionRun.objects.create(scope=VILLAGE, **fields)
    InspectionRun.objects.create(scope=OTHER_VILLAGE, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        InspectionRun.objects.create(scope=VILLAGE, **fields)
    InspectionRun.objects.create(scope=VILLAGE, **(fields | {"state": "done"}))


@pytest.mark.parametrize("role", [None, "clerk", "department", "surveyor", "reviewer"])
def test_only_data_staff_may_start_a_background_run(
    two_overlapping: None, make_user: Callable[..., User], role: str | None
) -> None:
    c = client_for(make_user(role, COUNTY) if role else None)
    body = {"scope": VILLAGE, "background": True}
    assert c.post("/api/qc/runs/", body, content_type="application/json").status_code in (401, 403)
    assert InspectionRun.objects.count() == 0


def test_background_run_outside_the_jurisdiction_is_refused(
    two_overlapping: None, make_user: Callable[..., User]
) -> None:
    village_staff = client_for(make_user("data_staff", OTHER_VILLAGE))
    for scope in (COUNTY, VILLAGE):
        refused = village_staff.post(
            "/api/qc/runs/", {"scope": scope, "background": True}, content_type="application/json"
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "out_of_jurisdiction"
    assert InspectionRun.objects.count() == 0


def test_tolerances_code_search_and_downloads(two_overlapping: None, make_user: Callable[..., User]) -> None:
    staff = client_for(make_user("data_staff", COUNTY))
    bad = staff.post("/api/qc/runs/", {"scope": VILLAGE, "tolerances": {"nope": 1}}, content_type="application/json")
    assert bad.status_code == 400 and "未知的容差：nope" in str(bad.json()["error"]["details"])
    wide = staff.post(
        "/api/qc/runs/", {"scope": VILLAGE, "tolerances": {"topology": 2}}, content_type="application/json"
    )
    assert wide.status_code == 400
    assert InspectionRun.objects.count() == 0
    # a sliver threshold below the 0.5 m² parcel: only the overlap is left
    run = staff.post(
        "/api/qc/runs/", {"scope": VILLAGE, "tolerances": {"sliver_area": 0.4}}, content_type="application/json"
    ).json()
    assert run["counts"] == {"DK_OVERLAP": 1} and run["tolerances"]["sliver_area"] == 0.4

    run = staff.post("/api/qc/runs/", {"scope": VILLAGE}, content_type="application/json").json()
    url = f"/api/qc/runs/{run['id']}/"
    assert [f["rule"] for f in staff.get(url + "?q=00003").json()["findings"]] == ["DK_SLIVER"]
    assert [f["rule"] for f in staff.get(url + f"?q={code(2)}").json()["findings"]] == ["DK_OVERLAP"]
    assert staff.get(url + "?q=99999").json()["findings"] == []
    assert staff.get(url + "?q=1%27%3B--").status_code == 400
    geojson = staff.get(url + "geojson/?download=1&q=00002")
    assert geojson.status_code == 200 and "attachment" in geojson["Content-Disposition"]
    assert ".geojson" in geojson["Content-Disposition"]
    assert [f["properties"]["rule"] for f in json.loads(geojson.content)["features"]] == ["DK_OVERLAP"]
    xlsx = staff.get(url + "xlsx/?severity=error&q=00001")
    rows = list(load_workbook(io.BytesIO(xlsx.content), read_only=True)["问题清单"].iter_rows(values_only=True))
    assert [(r[0], r[1]) for r in rows[1:]] == [(2, "DK_OVERLAP")]


def test_the_json_report_equals_the_report_module(two_overlapping: None, make_user: Callable[..., User]) -> None:
    """``runs/<id>/`` reads the findings without their geometries; it must say exactly what
    ``report.as_json`` says of the same stored run, narrowed or not."""
    add_parcel(4, rect(50, 0, 10, 10), scmjm=Decimal("1.00"))  # a wrong 亩: a finding with a value
    staff = client_for(make_user("data_staff", COUNTY))
    run_id = staff.post("/api/qc/runs/", {"scope": VILLAGE}, content_type="application/json").json()["id"]
    run = InspectionRun.objects.get(pk=run_id)
    assert len(run.counts) == 3
    assert any(f["value"] is not None for f in staff.get(f"/api/qc/runs/{run_id}/").json()["findings"])
    for narrowed in (
        {},
        {"rule": "DK_OVERLAP"},
        {"severity": "error"},
        {"q": "00004"},
        {"q": "00002", "rule": "DK_SLIVER"},
    ):
        body = staff.get(f"/api/qc/runs/{run_id}/", narrowed).json()
        del body["summary"]
        found = report.Report.from_run(run, rule=narrowed.get("rule"), severity=narrowed.get("severity"))
        if "q" in narrowed:
            keep = [k for k, f in enumerate(found.findings) if any(narrowed["q"] in c for c in f.dkbm)]
            found.findings = [found.findings[k] for k in keep]
            found.ids = [found.ids[k] for k in keep]
            found.seqs = [found.seqs[k] for k in keep]
        assert body == json.loads(json.dumps(report.as_json(found))), narrowed
