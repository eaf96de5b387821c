"""The package import page for data staff: upload a county package (.zip), follow the
import on a progress bar, read the report.

Thin: the view stores the upload and an :class:`~layers.models.ImportJob`, and a background
thread runs :class:`~layers.exchange.importer.PackageImporter` (the same code as
``manage.py import_package``). The page polls ``status.json``; the thread writes the stage
and progress through a connection of its own, so they are visible while the import's
transaction is still open. Only users with ``data.manage`` may open these pages; the
importer refuses a package whose county lies outside the user's jurisdiction.

URLs (``layers.urls_import``, mounted at ``/data/import/``)::

    GET  /data/import/                 upload form and the user's recent imports
    POST /data/import/                 upload -> redirect to the job page
    GET  /data/import/<id>/            progress bar, then the report
    GET  /data/import/<id>/status.json state, stage, progress (0-1)
    GET  /data/import/<id>/report.json the full report
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connections, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.permissions import has_capability
from layers.exchange.importer import PackageImporter
from layers.exchange.report import ImportReport, Status
from layers.models import ImportJob

logger = logging.getLogger(__name__)

# Tests set this to False to run the import inside the request.
RUN_IN_THREAD = True
MAX_UPLOAD_BYTES = 16 * 1024**3
PROGRESS_INTERVAL_S = 0.5

STATE_OF_STATUS = {
    Status.LOADED: ImportJob.State.LOADED,
    Status.UNCHANGED: ImportJob.State.UNCHANGED,
    Status.REJECTED: ImportJob.State.REJECTED,
    Status.FAILED: ImportJob.State.FAILED,
}


class UploadForm(forms.Form):
    package = forms.FileField(label="数据包")
    strict = forms.BooleanField(label="严格模式", required=False)
    replace = forms.BooleanField(label="替换本县现有数据", required=False)
    inspect = forms.BooleanField(label="导入后质检", required=False)

    def clean_package(self) -> Any:
        upload = self.cleaned_data["package"]
        if not upload.name.lower().endswith(".zip"):
            raise forms.ValidationError("请上传县级数据包目录的 .zip 压缩包")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"文件超过 {MAX_UPLOAD_BYTES // 1024**3} GiB")
        if not zipfile.is_zipfile(upload):
            raise forms.ValidationError("文件不是有效的 zip 压缩包")
        upload.seek(0)
        return upload


def _require_data_staff(request: HttpRequest) -> None:
    if not has_capability(request.user, "data.manage"):
        raise PermissionDenied("只有数据管理员可以导入汇交数据包（需要权限 data.manage）")


def _user(request: HttpRequest) -> User:
    """The signed-in user (every view here is behind ``login_required``)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def _job_for(request: HttpRequest, pk: int) -> ImportJob:
    """A job the user may see: their own, or any for administrators."""
    _require_data_staff(request)
    job = ImportJob.objects.filter(pk=pk).first()
    if job is None or (job.created_by_id != request.user.pk and not has_capability(request.user, "accounts.manage")):
        raise Http404("没有这个导入任务")
    return job


def _upload_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def _safe_name(name: str) -> str:
    """The upload's own file name (its stem names the county folder when the zip has none),
    without any directory part or characters a file system dislikes."""
    base = Path(name.replace("\\", "/")).name
    return re.sub(r'[\x00-\x1f/:*?"<>|]', "_", base) or "package.zip"


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    _require_data_staff(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["package"]
        folder = _upload_dir() / uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _safe_name(upload.name)
        with open(path, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        job = ImportJob.objects.create(
            created_by=_user(request),
            source_name=path.name,
            upload=str(path),
            strict=form.cleaned_data["strict"],
            replace=form.cleaned_data["replace"],
            inspect=form.cleaned_data["inspect"],
            stage="等待开始",
        )
        transaction.on_commit(lambda: start_job(job.pk))
        return redirect("layers_import:job", pk=job.pk)
    jobs = ImportJob.objects.filter(created_by=_user(request))[:20]
    return render(request, "layers/import.html", {"form": form, "jobs": jobs}, status=400 if form.errors else 200)


@login_required
@require_GET
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job_for(request, pk)
    report = ImportReport.from_dict(job.report) if job.report else None
    return render(request, "layers/import.html", {"job": job, "report": report, "finished": _finished(job)})


def _finished(job: ImportJob) -> bool:
    """The import commits its job row as loaded before the thread stores the report (and it
    may still run the inspection after that): a job is finished when its report is there."""
    return job.state == ImportJob.State.FAILED or (job.done and bool(job.report))


@login_required
@require_GET
def import_status(request: HttpRequest, pk: int) -> JsonResponse:
    job = _job_for(request, pk)
    summary = (job.report or {}).get("summary", {})
    return JsonResponse(
        {
            "id": job.pk,
            "state": job.state,
            "state_label": job.get_state_display(),
            "stage": job.stage,
            "progress": job.progress,
            "done": _finished(job),
            "county_code": job.county_code,
            "structural": summary.get("structural"),
            "quality": summary.get("quality"),
            "message": job.message,
        },
        json_dumps_params={"ensure_ascii": False},
    )


@login_required
@require_GET
def import_report_json(request: HttpRequest, pk: int) -> JsonResponse:
    job = _job_for(request, pk)
    if not job.report:
        raise Http404("报告尚未生成")
    response = JsonResponse(job.report, json_dumps_params={"ensure_ascii": False, "indent": 1})
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.json"'
    return response


# --- running a job ---------------------------------------------------------------------------


class JobProgress:
    """Writes a job's stage and progress through a connection of its own (autocommit), at
    most every ``PROGRESS_INTERVAL_S``: the import's transaction hides its own writes until
    it commits, and the page must see the bar move before that."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.connection = connections.create_connection("default")
        self.last = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL_S and fraction < 1.0:
            return
        self.last = now
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE import_job SET stage = %s, progress = %s, state = %s WHERE id = %s AND state IN (%s, %s)",
                [
                    stage[:50],
                    max(0.0, min(1.0, fraction)),
                    ImportJob.State.RUNNING,
                    self.job_id,
                    ImportJob.State.QUEUED,
                    ImportJob.State.RUNNING,
                ],
            )

    def close(self) -> None:
        self.connection.close()


def run_job(job_id: int) -> None:
    """Run one import job to its end and store the report; never raises."""
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    ImportJob.objects.filter(pk=job_id).update(state=ImportJob.State.RUNNING, stage="开始")
    progress = JobProgress(job_id)
    upload = Path(job.upload)
    try:
        report = PackageImporter(
            upload,
            strict=job.strict,
            replace=job.replace,
            inspect=job.inspect,
            user=job.created_by,
            job_id=job.pk,
            progress=progress,
        ).run()
        report.source = job.source_name
        ImportJob.objects.filter(pk=job_id).update(
            state=STATE_OF_STATUS.get(report.status, ImportJob.State.FAILED),
            stage="完成",
            progress=1.0,
            county_code=report.county_code,
            year=report.year,
            fingerprint=report.fingerprint if report.status == Status.LOADED else "",
            counts=report.counts,
            report=report.as_dict(),
            finished_at=timezone.now(),
        )
    except Exception as exc:  # the page must show a failure, whatever it was
        logger.exception("import job %s failed", job_id)
        ImportJob.objects.filter(pk=job_id).update(
            state=ImportJob.State.FAILED, stage="失败", message=f"导入出错：{exc}", finished_at=timezone.now()
        )
    finally:
        progress.close()
        shutil.rmtree(upload.parent, ignore_errors=True)


def _run_in_thread(job_id: int) -> None:
    try:
        run_job(job_id)
    finally:
        connections.close_all()


def start_job(job_id: int) -> None:
    if RUN_IN_THREAD:
        threading.Thread(target=_run_in_thread, args=(job_id,), name=f"import-job-{job_id}", daemon=True).start()
    else:
        run_job(job_id)
