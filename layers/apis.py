"""HTTP API of the quality inspection (质检) for data staff. Errors follow ``gisapp.api``:
``{"error": {"code", "message", "details"}}``.

Who may call it: users with capability ``data.manage`` (data staff, administrators), for
scopes inside their jurisdiction (a run of a county is visible to county-wide data staff
only; a village's staff see the runs of their village).

* ``GET  rules/``                 the rule catalogue
* ``GET  runs/?scope=…``          runs in the user's jurisdiction, newest first (summaries)
* ``POST runs/``                  ``{"scope": "310151101", "min_overlap_area": 0.01, "tolerance": 0.001}``:
  runs the inspection now (synchronously) and answers the stored run's summary (201)
* ``GET  runs/latest/?scope=…``   the newest run of that scope, as ``runs/<id>/``
* ``GET  runs/<id>/``             the report as JSON; ``?rule=…&severity=…`` filter the findings
* ``GET  runs/<id>/geojson/``     the problem geometries (FeatureCollection, lon/lat)
* ``GET  runs/<id>/xlsx/``        the workbook
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import capability
from accounts.scoping import NOWHERE, region_prefix
from gisapp.errors import DomainError
from layers.checks import report
from layers.checks.catalogue import DEFAULT_TOLERANCES, RULE_BY_ID, RULES
from layers.checks.dataset import Scope
from layers.checks.engine import record_inspection
from layers.models import InspectionRun

CAN_INSPECT: list[type[BasePermission]] = [IsAuthenticated, capability("data.manage")]


def runs_visible_to(user: Any) -> Any:
    """Runs whose scope lies inside the user's jurisdiction."""
    prefix = region_prefix(user)
    runs = InspectionRun.objects.all()
    if prefix == NOWHERE:
        return runs.none()
    return runs.filter(scope__startswith=prefix) if prefix else runs


def run_summary(run: InspectionRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "scope": run.scope,
        "county": run.county,
        "area_srid": run.area_srid,
        "state": run.state,
        "started_at": run.started_at.isoformat(),
        "duration_s": run.duration_s,
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


class RuleListApi(APIView):
    """``GET rules/``: every rule with its severity, default tolerance and explanation."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request) -> Response:
        return Response({"rules": [r.as_dict() for r in RULES], "tolerances": DEFAULT_TOLERANCES.as_dict()})


class InspectionListCreateApi(APIView):
    """``GET runs/`` lists runs (``?scope=`` exactly that scope); ``POST runs/`` runs one."""

    permission_classes = CAN_INSPECT

    class InputSerializer(serializers.Serializer):
        scope = serializers.RegexField(r"^(\d{6}|\d{9}|\d{12})$", help_text="县6位、乡镇9位或村12位代码")
        min_overlap_area = serializers.FloatField(required=False, min_value=0.0, max_value=10000.0)
        tolerance = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)

    def get(self, request: Request) -> Response:
        runs = runs_visible_to(request.user).select_related("requested_by")
        wanted = request.query_params.get("scope")
        if wanted:
            runs = runs.filter(scope=wanted)
        return Response({"runs": [run_summary(r) for r in runs[:50]]})

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scope = Scope.of(data.validated_data["scope"])
        tolerances = DEFAULT_TOLERANCES.replace(
            min_overlap_area=data.validated_data.get("min_overlap_area"),
            topology=data.validated_data.get("tolerance"),
        )
        run = record_inspection(actor=request.user, scope=scope, tolerances=tolerances)
        return Response(run_summary(run), status=status.HTTP_201_CREATED)


def _filters(request: Request) -> dict[str, str | None]:
    rule = request.query_params.get("rule") or None
    severity = request.query_params.get("severity") or None
    if rule is not None and rule not in RULE_BY_ID:
        raise DomainError(f"未知的规则：{rule}", code="invalid")
    if severity is not None and severity not in ("error", "warning"):
        raise DomainError("severity 应为 error 或 warning", code="invalid")
    return {"rule": rule, "severity": severity}


class InspectionDetailApi(APIView):
    """``GET runs/<id>/``: the report as JSON (summary and findings, in report order)."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request, pk: int) -> Response:
        run = _run_for(request.user, pk)
        body = report.as_json(report.Report.from_run(run, **_filters(request)))
        body["summary"] = run_summary(run)
        return Response(body)


class InspectionLatestApi(APIView):
    """``GET runs/latest/?scope=…``: the newest run of the scope, as ``runs/<id>/``."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("scope") or region_prefix(request.user)
        run = runs_visible_to(request.user).filter(scope=wanted).first()
        if run is None:
            raise NotFound("该范围还没有质检记录")
        body = report.as_json(report.Report.from_run(run, **_filters(request)))
        body["summary"] = run_summary(run)
        return Response(body)


class InspectionGeoJsonApi(APIView):
    """``GET runs/<id>/geojson/``: the findings that have a place, as a FeatureCollection."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request, pk: int) -> Response:
        run = _run_for(request.user, pk)
        return Response(report.as_geojson(report.Report.from_run(run, **_filters(request))))


class InspectionXlsxApi(APIView):
    """``GET runs/<id>/xlsx/``: the workbook (summary by rule, list of findings)."""

    permission_classes = CAN_INSPECT

    def get(self, request: Request, pk: int) -> HttpResponse:
        run = _run_for(request.user, pk)
        body = report.as_xlsx(report.Report.from_run(run, **_filters(request)))
        response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        stamp = run.started_at.strftime("%Y%m%d%H%M")
        response["Content-Disposition"] = f'attachment; filename="qc_{run.scope}_{stamp}.xlsx"'
        return response
