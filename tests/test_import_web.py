"""The import page for data staff: upload, progress, report; and who is refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import include, path

from gisapp import urls as site_urls
from layers import views_import
from layers.exchange.importer import register_counts
from layers.models import ImportJob
from parcels import services
from tests.fixtures.package_builder import sample_package, zip_folder

# The site's URLs with the import pages mounted where gisapp/urls.py is to mount them.
urlpatterns = [path("data/import/", include("layers.urls_import")), *site_urls.urlpatterns]

pytestmark = [pytest.mark.urls(__name__)]


@pytest.fixture
def regions(db: None) -> None:
    services.region_create(code="310151", name="示范区", level="county")
    services.region_create(code="310152", name="邻区", level="county")


@pytest.fixture
def package_zip(tmp_path: Path) -> bytes:
    root = sample_package().write(tmp_path / "pkg")
    return zip_folder(root, tmp_path / "310151示范区.zip").read_bytes()


@pytest.fixture
def sync_jobs(monkeypatch: pytest.MonkeyPatch, settings, tmp_path: Path) -> None:
    monkeypatch.setattr(views_import, "RUN_IN_THREAD", False)
    settings.MEDIA_ROOT = tmp_path / "media"


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _upload(client: Client, data: bytes, name: str = "310151示范区.zip", **flags: str) -> object:
    return client.post(
        "/data/import/", {"package": SimpleUploadedFile(name, data, content_type="application/zip"), **flags}
    )


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_the_login_page() -> None:
    response = Client().get("/data/import/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_roles_without_data_manage_are_refused(
    regions: None, make_user: Callable[..., User], package_zip: bytes, sync_jobs: None
) -> None:
    before = register_counts()
    for role in ("clerk", "surveyor", "reviewer", "department"):
        client = _client(make_user(role, "310151"))
        assert client.get("/data/import/").status_code == 403
        assert _upload(client, package_zip).status_code == 403
    assert not ImportJob.objects.exists()
    assert register_counts() == before


@pytest.mark.django_db
def test_data_staff_upload_imports_and_shows_the_report(
    regions: None,
    make_user: Callable[..., User],
    package_zip: bytes,
    sync_jobs: None,
    django_capture_on_commit_callbacks,
) -> None:
    staff = make_user("data_staff", "310151")
    client = _client(staff)
    page = client.get("/data/import/")
    assert page.status_code == 200 and "导入县级汇交数据包" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, package_zip)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/data/import/{job.pk}/"
    assert job.state == ImportJob.State.LOADED and job.created_by == staff
    assert job.counts["DK"] == 12 and job.report["status"] == "loaded"

    status = client.get(f"/data/import/{job.pk}/status.json").json()
    assert status["done"] and status["progress"] == 1.0 and status["state"] == "loaded"
    html = client.get(f"/data/import/{job.pk}/").content.decode()
    assert "已导入" in html and "写入记录数" in html and "310151" in html
    report = client.get(f"/data/import/{job.pk}/report.json")
    assert report.json()["counts"]["DK"] == 12
    assert not list((Path(views_import.settings.MEDIA_ROOT) / "imports").glob("*/*.zip"))  # upload removed

    # The same package again: unchanged, no duplicates.
    before = register_counts()
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, package_zip)
    again = ImportJob.objects.latest("pk")
    assert again.state == ImportJob.State.UNCHANGED
    assert register_counts() == before


@pytest.mark.django_db
def test_data_staff_of_another_county_is_refused_and_nothing_changes(
    regions: None,
    make_user: Callable[..., User],
    package_zip: bytes,
    sync_jobs: None,
    django_capture_on_commit_callbacks,
) -> None:
    before = register_counts()
    client = _client(make_user("data_staff", "310152"))
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, package_zip)
    job = ImportJob.objects.get()
    assert job.state == ImportJob.State.REJECTED
    assert [p["rule"] for p in job.report["problems"]] == ["jurisdiction"]
    assert "不在您的管辖区域内" in client.get(f"/data/import/{job.pk}/").content.decode()
    assert register_counts() == before


@pytest.mark.django_db
def test_jobs_are_private_and_uploads_must_be_zips(
    regions: None,
    make_user: Callable[..., User],
    package_zip: bytes,
    sync_jobs: None,
    django_capture_on_commit_callbacks,
) -> None:
    owner = _client(make_user("data_staff", "310151"))
    with django_capture_on_commit_callbacks(execute=True):
        _upload(owner, package_zip)
    job = ImportJob.objects.get()
    other = _client(make_user("data_staff", "310151"))
    for url in (f"/data/import/{job.pk}/", f"/data/import/{job.pk}/status.json", f"/data/import/{job.pk}/report.json"):
        assert other.get(url).status_code == 404
    assert _client(make_user("admin", None)).get(f"/data/import/{job.pk}/").status_code == 200

    bad = _upload(owner, b"not a zip at all", name="310151示范区.zip")
    assert bad.status_code == 400 and "不是有效的 zip" in bad.content.decode()
    assert _upload(owner, package_zip, name="package.rar").status_code == 400
    assert ImportJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_background_thread_reports_progress_and_finishes(
    make_user: Callable[..., User],
    package_zip: bytes,
    settings,
    tmp_path: Path,
) -> None:
    """The real path: the job runs in a thread, the page polls status.json until done."""
    settings.MEDIA_ROOT = tmp_path / "media"
    services.region_create(code="310151", name="示范区", level="county")
    client = _client(make_user("data_staff", "310151"))
    response = _upload(client, package_zip, strict="on")
    assert response.status_code == 302
    job = ImportJob.objects.get()
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(f"/data/import/{job.pk}/status.json").json()
        seen.add(status["state"])
        if status["done"]:
            break
        time.sleep(0.2)
    assert status["done"], status
    assert status["state"] in ("loaded", "rejected") and status["progress"] == 1.0
    job.refresh_from_db()
    assert job.strict and job.report["strict"] is True
    assert job.state == ImportJob.State.LOADED, job.report["problems"][:3]
