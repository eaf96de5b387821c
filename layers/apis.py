"""HTTP API of the quality inspection (质检) for data staff. Errors follow ``gisapp.api``:
``{"error": {"code", "message", "details"}}``.

Who may call it: users with capability ``data.manage`` (data staff, administrators), for
scopes inside their jurisdiction (a run of a county is visible to county-wide data staff
only; a village's staff see the runs of their village). Everyone else gets 401/403, and runs
outside the jurisdiction answer 404.

* ``GET  rules/``                 the rule catalogue and the default tolerances
* ``GET  runs/?scope=…``          runs in the user's jurisdiction, newest first (summaries)
* ``POST runs/``                  ``{"scope": "310151101", "min_overlap_area": 0.01, "tolerance": 0.001,
  "tolerances": {"sliver_area": 2}, "background": false}``: runs the inspection now
  (synchronously) and answers the stored run's summary (201); with ``"background": true`` it
  answers at once (202, ``state`` "running") and the run goes on in a thread, its ``stage`` and
  ``progress`` (0-1) readable at ``runs/<id>/`` while it works, then ``done`` (or ``failed``
  with a ``message``). A second run of a scope while one is running is refused (409,
  ``inspection_running``, ``details.run`` the running one).
* ``GET  runs/latest/?scope=…``   the newest finished run of that scope, as ``runs/<id>/``
* ``GET  runs/<id>/``             summary (state, stage, progress) and the findings as JSON
* ``GET  runs/<id>/geojson/``     the problem geometries (FeatureCollection, lon/lat);
  ``?download=1`` as an attachment
* ``GET  runs/<id>/xlsx/``        the workbook

The findings of ``runs/<id>/``, ``geojson/`` and ``xlsx/`` may be narrowed with ``?rule=…``,
``?severity=error|warning`` and ``?q=…`` (part of a DKBM or of another code of the finding).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import re
import threading
from collections import Counter
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import capability
from accounts.scoping import NOWHERE, ensure_in_jurisdiction, region_prefix
from gisapp.errors import DomainError
from layers.checks import report
from layers.checks.catalogue import DEFAULT_TOLERANCES, RULE_BY_ID, RULES, Tolerances
from layers.checks.dataset import Scope, area_srid_of
from layers.checks.engine import record_inspection
from layers.models import InspectionFinding, InspectionRun

logger = logging.getLogger(__name__)

CAN_INSPECT: list[type[BasePermission]] = [IsAuthenticated, capability("data.manage")]

RUNNING = InspectionRun.State.RUNNING
ONE_RUNNING_PER_SCOPE = "qc_run_one_running_per_scope"
# A running run that has not reported for this long lost its worker (a server restart, a
# request killed by its timeout): every stage reports when it begins, and the longest stage of
# a 100,000-parcel county takes seconds (the whole inspection < 30 s).
ABANDONED_AFTER = dt.timedelta(minutes=10)
TOLERANCE_NAMES = frozenset(f.name for f in dataclasses.fields(Tolerances))
CODE_QUERY = re.compile(r"^[0-9A-Za-z]{1,19}$")


class InspectionRunningError(DomainError):
    code = "inspection_running"
    http_status = 409


class InspectionNotDoneError(DomainError):
    code = "inspection_not_done"
    http_status = 409


def runs_visible_to(user: Any) -> Any:
    """Runs whose scope lies inside the user's jurisdiction."""
    prefix = region_prefix(user)
    runs = InspectionRun.objects.all()
    if prefix == NOWHERE:
        return runs.none()
    return runs.filter(scope__startswith=prefix) if prefix else runs


def run_summary(run: InspectionRun) -> dict[str, Any]:
    running = run.state == RUNNING
    return {
        "id": run.pk,
        "scope": run.scope,
        "county": run.county,
        "area_srid": run.area_srid,
        "state": run.state,
        "state_label": run.get_state_display(),
        "stage": run.stage,
        "progress": run.progress,
        "message": run.message,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_s": run.duration_s,
        "elapsed_s": round((timezone.now() - run.started_at).total_seconds(), 1) if running else run.duration_s,
        "requested_by": run.requested_by.get_username() if run.requested_by else None,
        "parcels_checked": run.parcels_checked,
        "errors": run.error_count,
        "warnings": run.warning_count,
        "counts": run.counts,
        "tolerances": run.tolerances,
        "timings": run.timings,
    }


def _run_for(user: Any, pk: int) -> InspectionRun:
    run = runs_visible_to(user).select_related("requested_by").filter(pk=pk).first()
    if run is None:
        raise NotFound("质检记录不存在或不在您的管辖区域内")
    return run


# --- starting and finishing runs ---------------------------------------------------------------


def expire_abandoned_runs() -> int:
    """Runs left ``running`` by a worker that is gone become ``failed``: their scope may be
    inspected again."""
    now = timezone.now()
    return InspectionRun.objects.filter(state=RUNNING, updated_at__lt=now - ABANDONED_AFTER).update(
        state=InspectionRun.State.FAILED,
        stage="中断",
        message="质检中断：长时间没有进展（服务器可能已重启），请重新运行",
        finished_at=now,
    )


def claim_scope(*, actor: Any, scope: Scope, tolerances: Tolerances) -> InspectionRun:
    """A stored ``running`` run of ``scope`` for ``actor``; refused (409) while another run of
    the scope is running. The database's partial unique index decides, so two requests at
    the same moment cannot both get one."""
    ensure_in_jurisdiction(actor, scope.code)
    expire_abandoned_runs()
    try:
        with transaction.atomic():
            return InspectionRun.objects.create(
                scope=scope.code,
                county=scope.county,
                area_srid=area_srid_of(scope.county),
                state=RUNNING,
                stage="等待开始",
                progress=0.0,
                started_at=timezone.now(),
                requested_by=actor if getattr(actor, "pk", None) else None,
                tolerances=tolerances.as_dict(),
            )
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) != ONE_RUNNING_PER_SCOPE:
            raise
    running = InspectionRun.objects.filter(scope=scope.code, state=RUNNING).select_related("requested_by").first()
    if running is None:  # it finished in between
        raise InspectionRunningError(f"{scope.code} 的质检刚刚结束，请刷新后再运行")
    who = running.requested_by.get_username() if running.requested_by else "系统"
    since = timezone.localtime(running.started_at)
    raise InspectionRunningError(
        f"{scope.code} 正在质检中（{who} 于 {since:%H:%M:%S} 开始，已完成 {running.progress:.0%}），请等它完成后再运行",
        details={"run": running.pk, "scope": scope.code, "progress": running.progress},
    )


def failure_message(exc: BaseException) -> str:
    """What a failed run says: our own errors' messages (codes, never personal data), else
    only the kind of error; the traceback goes to the server log."""
    if isinstance(exc, DomainError):
        return f"质检失败：{exc.message}"
    return f"质检失败：程序出错（{type(exc).__name__}），请联系系统管理员查看服务器日志"


def mark_failed(run: InspectionRun, exc: BaseException) -> None:
    now = timezone.now()
    InspectionRun.objects.filter(pk=run.pk).update(
        state=InspectionRun.State.FAILED,
        stage="失败",
        message=failure_message(exc),
        finished_at=now,
        duration_s=round((now - run.started_at).total_seconds(), 4),
    )


class RunProgress:
    """Writes a running run's stage and progress through a connection of its own
    (autocommit): the run's transaction hides its own writes until it commits, and the page
    must see the bar move before that. One UPDATE per stage, ten a run; each is also the
    run's heartbeat (``updated_at``)."""

    def __init__(self, run_pk: int) -> None:
        self.run_pk = run_pk
        self.connection = connections.create_connection("default")

    def __call__(self, stage: str, fraction: float) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE qc_run SET stage = %s, progress = %s, updated_at = now() WHERE id = %s AND state = %s",
                [stage[:50], max(0.0, min(1.0, fraction)), self.run_pk, RUNNING],
            )

    def close(self) -> None:
        self.connection.close()


def complete_run(run_pk: int, tolerances: Tolerances) -> None:
    """Run a stored ``running`` inspection to its end, ``done`` or ``failed``; never raises."""
    run = InspectionRun.objects.select_related("requested_by").get(pk=run_pk)
    progress = RunProgress(run_pk)
    try:
        record_inspection(actor=run.requested_by, scope=run.scope, tolerances=tolerances, on_stage=progress, run=run)
    except Exception as exc:  # the page must show a failure, whatever it was
        logger.exception("quality inspection run %s of %s failed", run_pk, run.scope)
        mark_failed(run, exc)
    finally:
        progress.close()


def _complete_in_thread(run_pk: int, tolerances: Tolerances) -> None:
    try:
        complete_run(run_pk, tolerances)
    finally:
        connections.close_all()


def start_in_background(run_pk: int, tolerances: Tolerances) -> None:
    threading.Thread(
        target=_complete_in_thread, args=(run_pk, tolerances), name=f"qc-run-{run_pk}", daemon=True
    ).start()


# --- endpoints ---------------------------------------------------------------------------------


class RuleListApi(APIView):
    """``GET rules/``: every rule with its severity, default tolerance and explanation.
    Data staff (``data.manage``) only."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request) -> Response:
        return Response({"rules": [r.as_dict() for r in RULES], "tolerances": DEFAULT_TOLERANCES.as_dict()})


class InspectionListCreateApi(APIView):
    """``GET runs/`` lists runs (``?scope=`` exactly that scope); ``POST runs/`` runs one, now
    or in the background. Data staff (``data.manage``), scopes in their jurisdiction only."""

    permission_classes = CAN_INSPECT

    class InputSerializer(serializers.Serializer):
        scope = serializers.RegexField(r"^(\d{6}|\d{9}|\d{12})$", help_text="县6位、乡镇9位或村12位代码")
        min_overlap_area = serializers.FloatField(required=False, min_value=0.0, max_value=10000.0)
        tolerance = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
        tolerances = serializers.DictField(
            child=serializers.FloatField(min_value=0.0, max_value=10000.0), required=False
        )
        background = serializers.BooleanField(required=False, default=False)

        def validate_tolerances(self, value: dict[str, float]) -> dict[str, float]:
            unknown = sorted(set(value) - TOLERANCE_NAMES)
            if unknown:
                raise serializers.ValidationError(f"未知的容差：{'、'.join(unknown)}")
            if value.get("topology", 0.0) > 1.0:
                raise serializers.ValidationError("拓扑容差（topology）不能大于 1 米")
            return value

    def get(self, request: Request) -> Response:
        expire_abandoned_runs()
        runs = runs_visible_to(request.user).select_related("requested_by")
        wanted = request.query_params.get("scope")
        if wanted:
            runs = runs.filter(scope=wanted)
        return Response({"runs": [run_summary(r) for r in runs[:50]]})

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        scope = Scope.of(values["scope"])
        tolerances = DEFAULT_TOLERANCES.replace(**values.get("tolerances", {})).replace(
            min_overlap_area=values.get("min_overlap_area"), topology=values.get("tolerance")
        )
        run = claim_scope(actor=request.user, scope=scope, tolerances=tolerances)
        if values["background"]:
            transaction.on_commit(lambda: start_in_background(run.pk, tolerances))
            response = Response(run_summary(run), status=status.HTTP_202_ACCEPTED)
            response["Location"] = f"{request.path.rstrip('/')}/{run.pk}/"
            return response
        progress = RunProgress(run.pk)
        try:
            run = record_inspection(actor=request.user, scope=scope, tolerances=tolerances, on_stage=progress, run=run)
        except Exception as exc:
            mark_failed(run, exc)
            raise
        finally:
            progress.close()
        return Response(run_summary(run), status=status.HTTP_201_CREATED)


def _filters(request: Request) -> dict[str, str | None]:
    rule = request.query_params.get("rule") or None
    severity = request.query_params.get("severity") or None
    if rule is not None and rule not in RULE_BY_ID:
        raise DomainError(f"未知的规则：{rule}", code="invalid")
    if severity is not None and severity not in ("error", "warning"):
        raise DomainError("severity 应为 error 或 warning", code="invalid")
    return {"rule": rule, "severity": severity}


def _code_query(request: Request) -> str:
    query = (request.query_params.get("q") or "").strip().upper()
    if query and not CODE_QUERY.match(query):
        raise DomainError("代码查询只能包含数字和字母（最多 19 位）", code="invalid")
    return query


def _report_of(run: InspectionRun, request: Request) -> report.Report:
    """The run's report, narrowed by ``?rule=``, ``?severity=`` and ``?q=`` (part of a code)."""
    filters = _filters(request)
    query = _code_query(request)
    found = report.Report.from_run(run, **filters)
    if not query:
        return found
    keep = [k for k, f in enumerate(found.findings) if any(query in c for c in (*f.dkbm, *f.codes))]
    return dataclasses.replace(
        found,
        findings=[found.findings[k] for k in keep],
        ids=[found.ids[k] for k in keep],
        seqs=[found.seqs[k] for k in keep],
    )


def _report_json(run: InspectionRun, request: Request) -> dict[str, Any]:
    """``report.as_json`` of the narrowed report, read without the geometries JSON does not
    show: Django builds a GEOS object per row otherwise, ~3 s of the ~4 s 10,000 findings
    took; this way ~0.5 s. The tests hold it equal to ``report.as_json``."""
    filters = _filters(request)
    query = _code_query(request)
    rows = InspectionFinding.objects.filter(run=run).order_by("seq")
    if filters["rule"]:
        rows = rows.filter(rule=filters["rule"])
    if filters["severity"]:
        rows = rows.filter(severity=filters["severity"])
    findings = []
    for pk, seq, rule, dkbm, codes, area_m2, value, message in rows.values_list(
        "pk", "seq", "rule", "dkbm", "codes", "area_m2", "value", "message"
    ):
        if query and not any(query in c for c in (*dkbm, *codes)):
            continue
        findings.append(
            {
                "seq": seq,
                "id": pk,
                "rule": rule,
                "severity": str(RULE_BY_ID[rule].severity),
                "dkbm": list(dkbm),
                "codes": list(codes),
                "area_m2": _rounded(area_m2, 4),
                "value": _rounded(value, 6),
                "message": message,
            }
        )
    seen = Counter(f["rule"] for f in findings)
    return {
        "county": run.county,
        "scope": run.scope,
        "run": run.pk,
        "area_srid": run.area_srid,
        "parcels_checked": run.parcels_checked,
        "started_at": run.started_at.isoformat(),
        "duration_s": run.duration_s,
        "tolerances": dict(run.tolerances),
        "errors": sum(1 for f in findings if f["severity"] == "error"),
        "warnings": sum(1 for f in findings if f["severity"] == "warning"),
        "counts": {r.id: seen[r.id] for r in RULES if seen[r.id]},
        "findings": findings,
    }


def _rounded(number: float | None, digits: int) -> float | None:
    return round(number, digits) if number is not None and math.isfinite(number) else None


def _done(run: InspectionRun) -> InspectionRun:
    if run.state == RUNNING:
        raise InspectionNotDoneError(f"质检记录 #{run.pk} 还在运行中（{run.progress:.0%}），完成后才能下载")
    if run.state != InspectionRun.State.DONE:
        raise InspectionNotDoneError(f"质检记录 #{run.pk} 未能完成，没有报告：{run.message}")
    return run


class InspectionDetailApi(APIView):
    """``GET runs/<id>/``: the summary (state, stage, progress while it runs) and the findings
    in report order. Data staff (``data.manage``) whose jurisdiction holds the run."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request, pk: int) -> Response:
        expire_abandoned_runs()
        run = _run_for(request.user, pk)
        body = _report_json(run, request)
        body["summary"] = run_summary(run)
        return Response(body)


class InspectionLatestApi(APIView):
    """``GET runs/latest/?scope=…``: the newest finished run of the scope, as ``runs/<id>/``.
    Data staff (``data.manage``) whose jurisdiction holds the scope."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("scope") or region_prefix(request.user)
        run = runs_visible_to(request.user).filter(scope=wanted, state=InspectionRun.State.DONE).first()
        if run is None:
            raise NotFound("该范围还没有质检记录")
        body = _report_json(run, request)
        body["summary"] = run_summary(run)
        return Response(body)


class InspectionGeoJsonApi(APIView):
    """``GET runs/<id>/geojson/``: the findings that have a place, as a FeatureCollection
    (``?download=1``: as a file). Data staff (``data.manage``) whose jurisdiction holds the run."""

    permission_classes = CAN_INSPECT
    renderer_classes = [JSONRenderer]

    def get(self, request: Request, pk: int) -> Response:
        run = _done(_run_for(request.user, pk))
        body = report.as_geojson(_report_of(run, request))
        if not request.query_params.get("download"):
            return Response(body)
        response = Response(body, content_type="application/geo+json")
        stamp = timezone.localtime(run.started_at).strftime("%Y%m%d%H%M")
        response["Content-Disposition"] = f'attachment; filename="qc_{run.scope}_{stamp}.geojson"'
        return response


class InspectionXlsxApi(APIView):
    """``GET runs/<id>/xlsx/``: the workbook (summary by rule, list of findings). Data staff
    (``data.manage``) whose jurisdiction holds the run."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request, pk: int) -> HttpResponse:
        run = _done(_run_for(request.user, pk))
        body = report.as_xlsx(_report_of(run, request))
        response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        stamp = timezone.localtime(run.started_at).strftime("%Y%m%d%H%M")
        response["Content-Disposition"] = f'attachment; filename="qc_{run.scope}_{stamp}.xlsx"'
        return response
