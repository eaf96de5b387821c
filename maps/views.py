"""The map pages. Thin: selectors say what the user may see, the templates and
``static/maps/*.js`` draw it; data comes from the tile endpoints and the APIs.

* ``/``: the public home map (GeoJSON parcels of the view, popups);
* ``/clerk/``: 经办查询 — search, identify, the parcel dossier, links into registration work;
* ``/editor/``: 测绘编辑 — draw, reshape, split, merge, cut holes, with snapping, undo/redo and
  the live overlap check;
* ``/data/``: 数据管理 — layers, quality-inspection findings, export of a selection;
* ``/data/qc/``: 质量检查 — run an inspection with a progress bar, the findings by rule and in
  a table, each on the map, the reports for download, earlier runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

from accounts.permissions import has_capability
from accounts.scoping import NOWHERE, region_prefix
from gisapp.config import config
from layers.checks.catalogue import DEFAULT_TOLERANCES, RULES
from layers.rasters import registered_rasters
from layers.tiles import layers
from maps.basemaps import basemaps
from parcels.models import Region
from parcels.selectors import code_choices, collectives_in_jurisdiction, map_overview

View = Callable[..., HttpResponse]


def home(request: HttpRequest) -> HttpResponse:
    """The home map: anyone may open it. It fits the user's region (the county for the
    public) and draws the parcels from the vector tiles (``static/maps/home.js``)."""
    overview = map_overview(user=request.user)
    config_ = {
        "bounds": _leaflet_bounds(overview.bounds),
        "outline": json.loads(overview.outline) if overview.outline else None,
        "scopeLabel": overview.scope_label,
        "muDecimals": settings.NONGDI["MU_DECIMALS"],
    }
    return render(request, "maps/home.html", {"map_config": config_, "overview": overview})


def capability_required(name: str) -> Callable[[View], View]:
    """Anonymous users go to the login page; signed-in users without the capability get 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_capability(request.user, name):
                raise PermissionDenied(f"您的角色无权打开此页面（需要权限 {name}）")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _leaflet_bounds(bounds: tuple[float, float, float, float] | None) -> list[list[float]] | None:
    if bounds is None:
        return None
    west, south, east, north = bounds
    return [[south, west], [north, east]]  # Leaflet's order: [lat, lng]


@cache
def _central_meridian(srid: int) -> float:
    """The central meridian of a Gauss-Krüger zone: the client's area estimate applies the
    zone's scale factor so that it agrees with the server's measure to ~0.01 %."""
    from pyproj import CRS

    operation = CRS.from_epsg(srid).coordinate_operation
    for param in operation.params if operation is not None else []:
        if param.name == "Longitude of natural origin":
            return float(param.value)
    return 0.0


def _registration_url(item: str, **params: str) -> str:
    """The registration app's "new case" form for a business item (2019 接入规范 表1)."""
    try:
        base = reverse("registration:case-new")
    except NoReverseMatch:
        base = "/registration/cases/new"
    return f"{base}?{urlencode({'item': item, **params})}"


def _workspace_config(request: HttpRequest, page: str) -> dict[str, Any]:
    overview = map_overview(user=request.user)
    area_srid = config().area_srid
    return {
        "page": page,
        "user": request.user.get_username(),
        "bounds": _leaflet_bounds(overview.bounds),
        "outline": json.loads(overview.outline) if overview.outline else None,
        "scopeLabel": overview.scope_label,
        "muDecimals": settings.NONGDI["MU_DECIMALS"],
        "muPerSqm": float(config().mu_per_sqm),
        "areaCentralMeridian": _central_meridian(area_srid),
        "tileLayers": [
            {
                "name": layer.name,
                "title": layer.description,
                "minZoom": layer.min_zoom,
                "url": f"/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.pbf",
            }
            for layer in layers().values()
        ],
        "rasters": registered_rasters(),
        "basemaps": basemaps(),
        "urls": {
            "at": reverse("parcels:parcel-at"),
            "search": reverse("parcels:parcel-search"),
            "dossier": "/api/parcels/{code}",
            "history": "/api/parcels/{code}/history",
            "feature": "/api/parcels/{code}/feature",
            "export": reverse("parcels:parcel-export"),
            "check": reverse("parcels:editor-check"),
            "neighbours": reverse("parcels:editor-neighbours"),
            "create": reverse("parcels:editor-create"),
            "update": "/api/editor/parcels/{code}",
            "split": "/api/editor/parcels/{code}/split",
            "merge": reverse("parcels:editor-merge"),
        },
    }


@capability_required("register.view")
def clerk(request: HttpRequest) -> HttpResponse:
    """经办查询: staff with ``register.view`` (surveyor, clerk, reviewer, data staff, admin)."""
    cfg = _workspace_config(request, "clerk")
    cfg["registration"] = {
        "changeParcels": _registration_url("1033"),
        "transfer": _registration_url("1022"),
        "exchange": _registration_url("1041"),
        "reissue": _registration_url("2011"),
        "replace": _registration_url("2021"),
        "cases": _case_list_url(),
    }
    return render(request, "maps/clerk.html", {"map_config": cfg, "page_title": "经办查询"})


def _case_list_url() -> str:
    try:
        return reverse("registration:case-list")
    except NoReverseMatch:
        return "/registration/"


EDITOR_CODE_TABLES = {
    "C.6": "syqxz",
    "C.7": "dklb",
    "GB21010": "tdlylx",
    "C.8": "dldj",
    "C.9": "tdyt",
    "C.19": "sfjbnt",
}


@capability_required("parcel.edit")
def editor(request: HttpRequest) -> HttpResponse:
    """测绘编辑: users with ``parcel.edit`` (surveyor, administrator)."""
    cfg = _workspace_config(request, "editor")
    choices = code_choices(EDITOR_CODE_TABLES)
    cfg["codes"] = {column: choices.get(table, []) for table, column in EDITOR_CODE_TABLES.items()}
    cfg["collectives"] = [{"code": c.code, "name": c.name} for c in collectives_in_jurisdiction(user=request.user)]
    editor_options: dict[str, Any] = getattr(settings, "NONGDI_EDITOR", {}) or {}
    # Snapping reach in screen pixels (Leaflet-Geoman measures it so; the page shows what it
    # is on the ground at the current zoom): 15 px is 7.7 m at z18 and 1.9 m at z20 (31°N).
    cfg["snapPixels"] = int(editor_options.get("SNAP_PIXELS", 15))
    cfg["editMinZoom"] = int(editor_options.get("EDIT_MIN_ZOOM", 16))
    return render(request, "maps/editor.html", {"map_config": cfg, "page_title": "测绘编辑"})


@capability_required("data.manage")
def data_staff(request: HttpRequest) -> HttpResponse:
    """数据管理: users with ``data.manage`` (data staff, administrator)."""
    cfg = _workspace_config(request, "data")
    cfg["qc"] = _qc_urls()
    cfg["qcScope"] = _qc_scope(request)
    return render(request, "maps/data.html", {"map_config": cfg, "page_title": "数据管理"})


def _qc_urls() -> dict[str, str] | None:
    """The quality inspection's API (``layers.urls``, namespace ``qc``) when it is mounted:
    the latest run of a scope, the runs (list, start), one run's report as JSON, GeoJSON and
    xlsx."""
    try:
        return {
            "latest": reverse("qc:run-latest"),
            "runs": reverse("qc:runs"),
            "run": reverse("qc:run-detail", args=[0]).replace("/0/", "/{id}/"),
            "geojson": reverse("qc:run-geojson", args=[0]).replace("/0/", "/{id}/"),
            "xlsx": reverse("qc:run-xlsx", args=[0]).replace("/0/", "/{id}/"),
        }
    except NoReverseMatch:
        return None


def _qc_scope(request: HttpRequest) -> str:
    """The region a data staff member inspects: their jurisdiction, or the county."""
    prefix = region_prefix(request.user)
    return prefix if prefix not in ("", NOWHERE) else config().county_code


# The tolerances the QC page offers (``layers.checks.catalogue.Tolerances``): field, label,
# unit, input step, upper bound (the API's), shown at once or under "更多容差".
QC_TOLERANCES: tuple[tuple[str, str, str, float, float, bool], ...] = (
    ("topology", "拓扑容差", "米", 0.0001, 1.0, True),
    ("min_overlap_area", "最小重叠、缝隙面积", "平方米", 0.01, 10000.0, True),
    ("sliver_area", "碎小图斑面积", "平方米", 0.1, 10000.0, False),
    ("near_vertex", "相邻节点过近距离", "米", 0.01, 10000.0, False),
    ("neighbour_vertex", "相邻地块节点接近距离", "米", 0.01, 10000.0, False),
    ("vertex_on_edge", "公用节点缺失距离", "米", 0.01, 10000.0, False),
    ("sharp_angle", "狭长角", "度", 0.5, 180.0, False),
    ("area", "面积（SCMJ）容差", "平方米", 0.01, 10000.0, False),
)


@capability_required("data.manage")
def qc(request: HttpRequest) -> HttpResponse:
    """质量检查: users with ``data.manage`` (data staff, administrator). The scopes offered are
    the county, towns and villages of the user's jurisdiction; the API behind the page
    (``layers.apis``) refuses any other."""
    cfg = _workspace_config(request, "qc")
    cfg["qc"] = _qc_urls()
    cfg["qcScope"] = _qc_scope(request)
    prefix = region_prefix(request.user)
    cfg["qcPrefix"] = "" if prefix == NOWHERE else prefix
    cfg["regions"] = _qc_regions(prefix)
    cfg["rules"] = [{"id": r.id, "severity": str(r.severity), "zh": r.zh} for r in RULES]
    defaults = DEFAULT_TOLERANCES.as_dict()
    tolerances = [
        {"name": name, "label": label, "unit": unit, "step": step, "max": top, "main": main, "value": defaults[name]}
        for name, label, unit, step, top, main in QC_TOLERANCES
    ]
    context = {"map_config": cfg, "page_title": "质量检查", "tolerances": tolerances}
    return render(request, "maps/qc.html", context)


def _qc_regions(prefix: str) -> list[dict[str, Any]]:
    """Counties, towns and villages in the jurisdiction ``prefix`` (``inspectable``), and the
    ones above it that frame the choice (a village clerk sees their town and county too)."""
    if prefix == NOWHERE:
        return []
    regions = Region.objects.filter(level__in=[Region.Level.COUNTY, Region.Level.TOWN, Region.Level.VILLAGE])
    if prefix:
        regions = regions.filter(code__startswith=prefix) | regions.filter(code__in=[prefix[:6], prefix[:9]])
    rows = regions.order_by("code").values_list("code", "name", "level")
    found = [
        {"code": code, "name": name, "level": level, "inspectable": code.startswith(prefix)}
        for code, name, level in rows
    ]
    return found if any(r["inspectable"] for r in found) else []
