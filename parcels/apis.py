"""HTTP APIs of the register (DRF). Errors follow ``gisapp.api``: ``{"error": {"code",
"message", "details"}}``. Each API states who may call it and enforces it with a permission
class; jurisdiction is applied by the selectors."""

from __future__ import annotations

import json
import math
from typing import Any, cast

from django.contrib.auth.models import User
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry
from django.db import transaction
from django.db.models import Field
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import capability, has_capability
from accounts.scoping import ensure_in_jurisdiction
from gisapp.config import config
from gisapp.errors import DomainError
from parcels import services
from parcels.models import Parcel
from parcels.selectors import (
    EDITABLE_ATTRIBUTES,
    STORAGE_SRID,
    BBox,
    MapParcel,
    Overlap,
    ParcelFeature,
    collective_at,
    editor_neighbours,
    parcel_at,
    parcel_dossier,
    parcel_feature,
    parcel_history,
    parcel_overlaps,
    parcel_search,
    parcels_for_export,
    parcels_in_bbox,
)
from parcels.sizhi import suggest_sizhi


class BBoxField(serializers.Field):
    """``minlng,minlat,maxlng,maxlat`` in degrees (CGCS2000 ≈ WGS84 lon/lat)."""

    default_error_messages = {
        "format": "bbox 应为 minlng,minlat,maxlng,maxlat 四个数字，以英文逗号分隔",
        "range": "bbox 超出经纬度范围（经度 -180~180，纬度 -90~90）",
        "order": "bbox 的最小值必须小于最大值",
    }

    def to_internal_value(self, data: Any) -> BBox:
        parts = str(data).split(",")
        if len(parts) != 4:
            self.fail("format")
        try:
            west, south, east, north = (float(p) for p in parts)
        except ValueError:
            self.fail("format")
        if not all(math.isfinite(v) for v in (west, south, east, north)):
            self.fail("format")
        if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90):
            self.fail("range")
        if not (west < east and south < north):
            self.fail("order")
        return (west, south, east, north)

    def to_representation(self, value: BBox) -> str:
        return ",".join(str(v) for v in value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _feature(parcel: MapParcel) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": parcel.dkbm,
        "geometry": json.loads(parcel.geometry),
        "properties": {
            "dkbm": parcel.dkbm,
            "dkmc": parcel.dkmc,
            "dklb": parcel.dklb,
            "dklb_name": parcel.dklb_name,
            "tdlylx": parcel.tdlylx,
            "tdlylx_name": parcel.tdlylx_name,
            "scmj": _number(parcel.scmj),
            "scmjm": _number(parcel.scmjm),
            "status": parcel.status,
        },
    }


class ParcelMapApi(APIView):
    """``GET /api/map/parcels?bbox=minlng,minlat,maxlng,maxlat`` — the parcel layer of the map.

    Who may call it: anyone, signed in or not (``AllowAny``). It is the public, desensitised
    map: parcel attributes only, no contractor, member, ID number or phone number. Users with
    a jurisdiction get its parcels; the public gets every current parcel.

    Answers a GeoJSON FeatureCollection (lng/lat, 7 decimals, unsimplified) with properties
    dkbm, dkmc, dklb, dklb_name, tdlylx, tdlylx_name, scmj (m²), scmjm (亩), status, plus
    ``truncated`` and ``limit``: with more than ``max_features`` parcels in the bbox the
    collection is empty and ``truncated`` is true. A missing or bad bbox is a 400.

    Example: ``GET /api/map/parcels?bbox=121.39,31.59,121.41,31.61``
    """

    permission_classes = [AllowAny]
    max_features = 5000

    class InputSerializer(serializers.Serializer):
        bbox = BBoxField()

    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = parcels_in_bbox(user=request.user, bbox=params.validated_data["bbox"], limit=self.max_features)
        return Response(
            {
                "type": "FeatureCollection",
                "features": [_feature(p) for p in page.parcels],
                "truncated": page.truncated,
                "limit": page.limit,
            }
        )


# --- the dossier's output: one serializer per selector dataclass --------------------------


def area_field(*, allow_null: bool = False) -> serializers.DecimalField:
    """An area of the standard, Float(15,2): m² or 亩, as a string with two decimals."""
    return serializers.DecimalField(max_digits=15, decimal_places=2, allow_null=allow_null)


class DossierMemberSerializer(serializers.Serializer):
    name = serializers.CharField()
    sex = serializers.CharField()
    sex_name = serializers.CharField(allow_null=True)
    relation = serializers.CharField()
    relation_name = serializers.CharField(allow_null=True)
    is_co_owner = serializers.CharField(allow_null=True)


class DossierContractorSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    kind_name = serializers.CharField(allow_null=True)
    member_count = serializers.IntegerField()
    members = DossierMemberSerializer(many=True)


class DossierRegisterSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.CharField()
    registered_on = serializers.DateField()
    certificate_status = serializers.CharField()
    certificate_status_name = serializers.CharField()
    certificate_issued_on = serializers.DateField(allow_null=True)


class DossierTransferSerializer(serializers.Serializer):
    code = serializers.CharField()
    method = serializers.CharField()
    method_name = serializers.CharField(allow_null=True)
    term = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    area = area_field()
    area_mu = area_field(allow_null=True)
    transferee_name = serializers.CharField()
    includes_parcel = serializers.BooleanField()


class DossierContractSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.CharField()
    method = serializers.CharField()
    method_name = serializers.CharField(allow_null=True)
    term_start = serializers.DateField()
    term_end = serializers.DateField()
    signed_on = serializers.DateField()
    total_area = area_field()
    total_area_mu = area_field(allow_null=True)
    parcel_count = serializers.IntegerField()
    contract_area = area_field()
    contract_area_mu = area_field(allow_null=True)
    link_status = serializers.CharField()
    contractor = DossierContractorSerializer()
    register = DossierRegisterSerializer(allow_null=True)
    transfers = DossierTransferSerializer(many=True)


class ParcelDossierSerializer(serializers.Serializer):
    dkbm = serializers.CharField()
    dkmc = serializers.CharField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    syqxz = serializers.CharField(allow_null=True)
    syqxz_name = serializers.CharField(allow_null=True)
    dklb = serializers.CharField()
    dklb_name = serializers.CharField(allow_null=True)
    tdlylx = serializers.CharField(allow_null=True)
    tdlylx_name = serializers.CharField(allow_null=True)
    dldj = serializers.CharField()
    dldj_name = serializers.CharField(allow_null=True)
    tdyt = serializers.CharField()
    tdyt_name = serializers.CharField(allow_null=True)
    sfjbnt = serializers.CharField()
    sfjbnt_name = serializers.CharField(allow_null=True)
    scmj = area_field()
    scmjm = area_field(allow_null=True)
    dkdz = serializers.CharField(allow_null=True)
    dkxz = serializers.CharField(allow_null=True)
    dknz = serializers.CharField(allow_null=True)
    dkbz = serializers.CharField(allow_null=True)
    dkbzxx = serializers.CharField(allow_null=True)
    zjrxm = serializers.CharField(allow_null=True)
    contracts = DossierContractSerializer(many=True)


class ParcelDossierApi(APIView):
    """``GET /api/parcels/<dkbm>`` — one parcel's dossier: its attributes with code-table
    names and its register summary (contracts, contractor and family members, register entry,
    certificate status, transfers). It contains personal data.

    Who may call it: signed-in users whose role has capability ``register.view`` (surveyor,
    clerk, reviewer, data staff, administrator), for parcels in their jurisdiction.
    Anonymous callers get 403 ``not_authenticated``; roles without the capability (the
    department interface among them) get 403 ``permission_denied``; a parcel outside the
    caller's jurisdiction answers 404 ``not_found``, exactly like a parcel that does not
    exist, so codes cannot be probed.

    Example: ``GET /api/parcels/3101511010010100001``
    """

    permission_classes = [IsAuthenticated, capability("register.view")]

    def get(self, request: Request, code: str) -> Response:
        dossier = parcel_dossier(user=request.user, code=code)
        if dossier is None:
            raise NotFound(f"地块 {code} 不存在或不在您的管辖区域内")
        return Response(ParcelDossierSerializer(dossier).data)


# --- identify and search -------------------------------------------------------------------


def _bbox_list(bbox: tuple[float, float, float, float] | None) -> list[float] | None:
    return [round(v, 9) for v in bbox] if bbox is not None else None


class LngLatSerializer(serializers.Serializer):
    lng = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)


class ContractBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    contractor_code = serializers.CharField()
    contractor_name = serializers.CharField()
    contract_area = area_field()
    contract_area_mu = area_field(allow_null=True)
    register_code = serializers.CharField()
    certificate_status = serializers.CharField()
    certificate_status_name = serializers.CharField()
    transfer_contract_code = serializers.CharField(allow_null=True)


class ParcelAtApi(APIView):
    """``GET /api/parcels/at?lng=…&lat=…`` — the current parcel under a point (identify).

    Who may call it: anyone. The public (and roles without ``register.view``) get the map's
    desensitised GeoJSON Feature only; staff with ``register.view`` get its ``register``
    summary too (version, basic-farmland flag, current contracts with contractor name,
    register entry and certificate state) — for parcels in their jurisdiction, the only ones
    they can hit. No parcel there: 404 ``not_found``.

    Example: ``GET /api/parcels/at?lng=121.4005&lat=31.6004``
    """

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        params = LngLatSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        staff = has_capability(request.user, "register.view")
        found = parcel_at(
            user=request.user, lng=params.validated_data["lng"], lat=params.validated_data["lat"], with_register=staff
        )
        if found is None:
            raise NotFound("此处没有地块")
        feature = _feature(found.parcel)
        feature["bbox"] = _bbox_list(found.bbox)
        feature["register"] = (
            {
                "version": found.version,
                "sfjbnt": found.sfjbnt,
                "contracts": ContractBriefSerializer(found.contracts, many=True).data,
            }
            if staff and found.contracts is not None
            else None
        )
        return Response(feature)


class ParcelSearchApi(APIView):
    """``GET /api/parcels/search?q=…`` — parcels and regions for the clerk's search box: by
    DKBM (or its leading digits), certificate / register code or serial, contractor name,
    parcel name, village / town / group name. At most 20 results, each with its bbox.

    Who may call it: staff with ``register.view`` (results name contractors), within their
    jurisdiction. Others: 403.

    Example: ``GET /api/parcels/search?q=张三``
    """

    permission_classes = [IsAuthenticated, capability("register.view")]

    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(max_length=50, trim_whitespace=True)

    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        hits = parcel_search(user=request.user, query=params.validated_data["q"])
        return Response(
            {
                "query": params.validated_data["q"],
                "results": [
                    {
                        "kind": hit.kind,
                        "code": hit.code,
                        "title": hit.title,
                        "subtitle": hit.subtitle,
                        "matched": hit.matched,
                        "bbox": _bbox_list(hit.bbox),
                    }
                    for hit in hits
                ],
            }
        )


class HistoryEntrySerializer(serializers.Serializer):
    version = serializers.IntegerField()
    action = serializers.CharField()
    action_name = serializers.CharField()
    actor = serializers.CharField()
    at = serializers.DateTimeField()
    reason = serializers.CharField(allow_blank=True)
    changed = serializers.ListField(child=serializers.CharField())


class LineageLinkSerializer(serializers.Serializer):
    code = serializers.CharField()
    operation = serializers.CharField()
    operation_name = serializers.CharField()
    at = serializers.DateTimeField()


class ParcelHistorySerializer(serializers.Serializer):
    dkbm = serializers.CharField()
    entries = HistoryEntrySerializer(many=True)
    parents = LineageLinkSerializer(many=True)
    children = LineageLinkSerializer(many=True)


class ParcelHistoryApi(APIView):
    """``GET /api/parcels/<dkbm>/history`` — the parcel's change history (version, action,
    who, when, which fields, why) and the split/merge lineage (parcels it came from and
    became).

    Who may call it: staff with ``register.view``, in their jurisdiction; elsewhere 404 like
    a missing parcel.
    """

    permission_classes = [IsAuthenticated, capability("register.view")]

    def get(self, request: Request, code: str) -> Response:
        history = parcel_history(user=request.user, code=code)
        if history is None:
            raise NotFound(f"地块 {code} 不存在或不在您的管辖区域内")
        return Response(ParcelHistorySerializer(history).data)


def _parcel_feature_json(feature: ParcelFeature) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": feature.dkbm,
        "geometry": json.loads(feature.geometry),
        "bbox": _bbox_list(feature.bbox),
        "properties": {
            "dkbm": feature.dkbm,
            "status": feature.status,
            "version": feature.version,
            "scmj": str(feature.scmj),
            "scmjm": None if feature.scmjm is None else str(feature.scmjm),
            "editable": feature.editable,
            **feature.attributes,
        },
    }


class ParcelFeatureApi(APIView):
    """``GET /api/parcels/<dkbm>/feature`` — one parcel as a GeoJSON Feature for zooming and
    editing: full-precision geometry (every digit), ``version`` (send it back as
    ``expected_version``), and the editable attributes (DKMC … ZJRXM).

    Who may call it: staff with ``register.view`` (the 四至 and ZJRXM carry names), in their
    jurisdiction; elsewhere 404.
    """

    permission_classes = [IsAuthenticated, capability("register.view")]

    def get(self, request: Request, code: str) -> Response:
        feature = parcel_feature(user=request.user, code=code)
        if feature is None:
            raise NotFound(f"地块 {code} 不存在或不在您的管辖区域内")
        return Response(_parcel_feature_json(feature))


# --- the surveyor's editor -------------------------------------------------------------------


class GeoJSONGeometryField(serializers.Field):
    """A GeoJSON geometry object (lng/lat, CGCS2000) of one of ``types``, as GEOS (SRID 4490)."""

    default_error_messages = {
        "invalid": "应为 GeoJSON 几何对象（经度、纬度）",
        "type": "几何类型应为 {types}，实际为 {actual}",
        "range": "坐标超出经纬度范围",
    }

    def __init__(self, *, types: tuple[str, ...], **kwargs: Any) -> None:
        self.types = types
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> GEOSGeometry:
        if not isinstance(data, dict) or "type" not in data:
            self.fail("invalid")
        try:
            geom = GEOSGeometry(json.dumps(data))
        except (ValueError, TypeError, GEOSException, GDALException):
            self.fail("invalid")
        # GDAL labels GeoJSON as WGS84; our GeoJSON is CGCS2000 lng/lat (the same to a few cm).
        geom.srid = STORAGE_SRID
        if geom.geom_type not in self.types:
            self.fail("type", types="、".join(self.types), actual=geom.geom_type)
        west, south, east, north = geom.extent
        if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            self.fail("range")
        return geom

    def to_representation(self, value: GEOSGeometry) -> dict[str, Any]:
        return json.loads(value.json)


ATTRIBUTE_FIELDS = dict((column, name) for name, column in EDITABLE_ATTRIBUTES)
SIZHI_COLUMNS = {"east": "dkdz", "west": "dkxz", "south": "dknz", "north": "dkbz"}


class AttributesSerializer(serializers.Serializer):
    """The editable attributes under the standard's names; empty strings mean "not filled"."""

    dkmc = serializers.CharField(max_length=50, required=False, allow_blank=True)
    syqxz = serializers.CharField(max_length=2, required=False, allow_blank=True, allow_null=True)
    dklb = serializers.CharField(max_length=2, required=False, allow_blank=True)
    tdlylx = serializers.CharField(max_length=3, required=False, allow_blank=True, allow_null=True)
    dldj = serializers.CharField(max_length=2, required=False, allow_blank=True)
    tdyt = serializers.CharField(max_length=1, required=False, allow_blank=True)
    sfjbnt = serializers.CharField(max_length=1, required=False, allow_blank=True)
    dkdz = serializers.CharField(max_length=50, required=False, allow_blank=True, allow_null=True)
    dkxz = serializers.CharField(max_length=50, required=False, allow_blank=True, allow_null=True)
    dknz = serializers.CharField(max_length=50, required=False, allow_blank=True, allow_null=True)
    dkbz = serializers.CharField(max_length=50, required=False, allow_blank=True, allow_null=True)
    dkbzxx = serializers.CharField(max_length=254, required=False, allow_blank=True, allow_null=True)
    zjrxm = serializers.CharField(max_length=100, required=False, allow_blank=True, allow_null=True)


def _actor(request: Request) -> User:
    """The signed-in user who writes: the editor APIs' permission classes refuse anonymous
    callers before the view runs."""
    return cast(User, request.user)


def _service_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Standard column names → the services' keyword names; blanks of optional fields → None."""
    out: dict[str, Any] = {}
    for column, value in attributes.items():
        name = ATTRIBUTE_FIELDS[column]
        field = cast(Field, Parcel._meta.get_field(name))
        if isinstance(value, str):
            value = value.strip()
        if value in ("", None):
            value = None if field.null else ""
        out[name] = value
    return out


def _fill_sizhi(attrs: dict[str, Any], shape: GEOSGeometry, *, exclude: list[str], area_srid: int) -> None:
    """Empty 四至 take the suggestion from the neighbours; typed ones are kept."""
    if all(attrs.get(side) for side in SIZHI_COLUMNS):
        return
    suggestion = suggest_sizhi(geom=shape, exclude=exclude, area_srid=area_srid).texts()
    for side, text in suggestion.items():
        if not attrs.get(side) and text:
            attrs[side] = text


def _overlaps_json(overlaps: list[Overlap]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": o.dkbm,
                "geometry": json.loads(o.geometry),
                "properties": {"dkbm": o.dkbm, "dkmc": o.dkmc, "area_m2": o.area_m2},
            }
            for o in overlaps
        ],
    }


def _regenerate_boundaries(codes: list[str]) -> bool:
    """Boundary points and lines (JZD/JZX) of changed parcels and their neighbours, in the
    caller's transaction. ``False`` when the county holds none (its export generates them)."""
    from layers.exchange import jzdx

    return not jzdx.regenerate_for_parcels(codes).not_held


def _written(request: Request, codes: list[str], *, boundaries: bool, status_code: int = 200) -> Response:
    features = [parcel_feature(user=request.user, code=code) for code in codes]
    return Response(
        {
            "parcels": [_parcel_feature_json(f) for f in features if f is not None],
            "boundaries_regenerated": boundaries,
        },
        status=status_code,
    )


def _shape_or_problem(geom: GEOSGeometry) -> tuple[GEOSGeometry | None, str | None]:
    try:
        return services.normalise_parcel_geometry(geom), None
    except DomainError as exc:
        return None, exc.message


class EditorCheckApi(APIView):
    """``POST /api/editor/check`` — the live check while a surveyor draws or edits:
    ``{"geometry": <Polygon>, "exclude": [dkbm…]}`` (``exclude``: the parcels the shape
    replaces: the one being edited, those being merged).

    Answers ``ok`` (valid and no overlap), ``problem`` (why the shape itself is invalid),
    ``overlaps`` (FeatureCollection of the overlapping areas with the parcel each overlaps
    and its area in m², ``area_m2``), ``area`` (SCMJ m² and SCMJM 亩 as the server will store them),
    ``sizhi`` (四至 suggested from the neighbours) and ``collective`` (the 发包方 whose group
    the shape lies in). Nothing is written.

    Who may call it: users with capability ``parcel.edit`` (surveyor, administrator).
    """

    permission_classes = [IsAuthenticated, capability("parcel.edit")]

    class InputSerializer(serializers.Serializer):
        geometry = GeoJSONGeometryField(types=("Polygon", "MultiPolygon"))
        exclude = serializers.ListField(child=serializers.CharField(max_length=19), required=False, default=list)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exclude = data.validated_data["exclude"]
        shape, problem = _shape_or_problem(data.validated_data["geometry"])
        if shape is None:
            return Response({"ok": False, "problem": problem, "overlaps": _overlaps_json([]), "area": None})
        collective = collective_at(geom=shape)
        area_srid = services.area_srid_for(collective.code if collective else config().county_code)
        overlaps = parcel_overlaps(geom=shape, exclude=exclude, area_srid=area_srid)
        sqm, mu = services.measure_area(shape, area_srid)
        sizhi = suggest_sizhi(geom=shape, exclude=exclude, area_srid=area_srid)
        return Response(
            {
                "ok": not overlaps,
                "problem": None,
                "overlaps": _overlaps_json(overlaps),
                "area": {"scmj": str(sqm), "scmjm": str(mu)},
                "sizhi": {
                    column: (
                        {"text": side.text, "kind": side.kind, "code": side.code}
                        if (side := getattr(sizhi, name))
                        else None
                    )
                    for name, column in SIZHI_COLUMNS.items()
                },
                "collective": {"code": collective.code, "name": collective.name} if collective else None,
            }
        )


class EditorParcelCreateApi(APIView):
    """``POST /api/editor/parcels`` — save a newly drawn parcel:
    ``{"collective_code": "14 digits", "geometry": <Polygon>, "attributes": {"dkmc": …}}``.
    DKBM is the collective's next; SCMJ/SCMJM are measured; empty 四至 are filled from the
    neighbours. Refused with 400 ``parcel_overlap`` (details: the overlapping areas as
    GeoJSON; ``parcels.services`` runs ``layers.checks.guard``) when it overlaps a current
    parcel, 400 ``invalid`` for bad attributes, 403 outside the jurisdiction. Answers 201 with the saved parcel.

    Who may call it: ``parcel.edit`` (surveyor, administrator), in their jurisdiction.
    """

    permission_classes = [IsAuthenticated, capability("parcel.edit")]

    class InputSerializer(serializers.Serializer):
        collective_code = serializers.RegexField(r"^\d{14}$", error_messages={"invalid": "发包方代码应为14位数字"})
        geometry = GeoJSONGeometryField(types=("Polygon", "MultiPolygon"))
        attributes = AttributesSerializer(required=False, default=dict)

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        collective_code = data.validated_data["collective_code"]
        ensure_in_jurisdiction(request.user, collective_code)
        shape = services.normalise_parcel_geometry(data.validated_data["geometry"])
        area_srid = services.area_srid_for(collective_code)
        attrs = _service_attributes(data.validated_data["attributes"])
        with transaction.atomic():
            _fill_sizhi(attrs, shape, exclude=[], area_srid=area_srid)
            parcel = services.parcel_create(actor=_actor(request), collective_code=collective_code, geom=shape, **attrs)
            boundaries = _regenerate_boundaries([parcel.code])
        return _written(request, [parcel.code], boundaries=boundaries, status_code=201)


class EditorParcelUpdateApi(APIView):
    """``PATCH /api/editor/parcels/<dkbm>`` — save an edited parcel:
    ``{"expected_version": n, "geometry": <Polygon>?, "attributes": {…}?, "reason": "…"?}``.
    A new shape is re-measured and checked for overlaps (400 ``parcel_overlap``); empty 四至 are
    filled from the neighbours. A parcel changed by someone else since version n is refused
    with 409 ``stale``: "地块已被 X 于 T 修改…"; an unknown DKBM answers 404 ``not_found``
    (``parcels.services.parcel_update`` raises ``NotFoundError``).

    Who may call it: ``parcel.edit`` (surveyor, administrator), in their jurisdiction.
    """

    permission_classes = [IsAuthenticated, capability("parcel.edit")]

    class InputSerializer(serializers.Serializer):
        expected_version = serializers.IntegerField(min_value=1)
        geometry = GeoJSONGeometryField(types=("Polygon", "MultiPolygon"), required=False)
        attributes = AttributesSerializer(required=False, default=dict)
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def patch(self, request: Request, code: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ensure_in_jurisdiction(request.user, code)
        geometry = data.validated_data.get("geometry")
        attrs = _service_attributes(data.validated_data["attributes"])
        area_srid = services.area_srid_for(code)
        with transaction.atomic():
            if geometry is not None:
                shape = services.normalise_parcel_geometry(geometry)
                _fill_sizhi(attrs, shape, exclude=[code], area_srid=area_srid)
            services.parcel_update(
                actor=_actor(request),
                code=code,
                expected_version=data.validated_data["expected_version"],
                geom=geometry,
                reason=data.validated_data["reason"] or ("边界调整" if geometry is not None else "属性修改"),
                **attrs,
            )
            # Also without a new shape: the lines carry the parcel's 指界人 and holder's name.
            boundaries = _regenerate_boundaries([code])
        return _written(request, [code], boundaries=boundaries)


class EditorParcelSplitApi(APIView):
    """``POST /api/editor/parcels/<dkbm>/split`` — split a parcel by a line drawn across it:
    ``{"expected_version": n, "line": <LineString>}``. The pieces get new DKBMs, measured
    areas, the old parcel's attributes and 四至 from their neighbours; the old parcel becomes
    history, linked to its pieces (``parcels.services.parcel_split``). Answers the pieces.
    400 ``split_no_effect`` / ``sliver`` for a line that does not cut it cleanly; 409
    ``stale`` for an old version; 404 ``not_found`` for an unknown DKBM. The 四至 are the
    service's, written in the same transaction: the pieces answer at version 1.

    Who may call it: ``parcel.edit`` (surveyor, administrator), in their jurisdiction.
    """

    permission_classes = [IsAuthenticated, capability("parcel.edit")]

    class InputSerializer(serializers.Serializer):
        expected_version = serializers.IntegerField(min_value=1)
        line = GeoJSONGeometryField(types=("LineString",))
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def post(self, request: Request, code: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data["reason"] or "地块分割"
        with transaction.atomic():
            pieces = services.parcel_split(
                actor=_actor(request),
                code=code,
                expected_version=data.validated_data["expected_version"],
                line=data.validated_data["line"],
                reason=reason,
            )
            codes = [piece.code for piece in pieces]
            boundaries = _regenerate_boundaries([code, *codes])
        return _written(request, codes, boundaries=boundaries, status_code=201)


class EditorParcelMergeApi(APIView):
    """``POST /api/editor/merge`` — merge adjacent parcels of one collective:
    ``{"parcels": {"<dkbm>": expected_version, …}}`` (two or more). The union becomes a new
    parcel (new DKBM, measured, the largest parcel's attributes, 四至 from its neighbours);
    the merged ones become history (``parcels.services.parcel_merge``). 400
    ``not_adjacent`` / ``collectives_differ`` / ``contracts_differ``; 409 ``stale``; 404
    ``not_found`` when a DKBM is unknown. The new parcel answers at version 1.

    Who may call it: ``parcel.edit`` (surveyor, administrator), in their jurisdiction.
    """

    permission_classes = [IsAuthenticated, capability("parcel.edit")]

    class InputSerializer(serializers.Serializer):
        parcels = serializers.DictField(child=serializers.IntegerField(min_value=1), allow_empty=False)
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        versions = data.validated_data["parcels"]
        with transaction.atomic():
            merged = services.parcel_merge(
                actor=_actor(request), expected_versions=versions, reason=data.validated_data["reason"] or "地块合并"
            )
            codes = [merged.code]
            boundaries = _regenerate_boundaries([*versions, *codes])
        return _written(request, codes, boundaries=boundaries, status_code=201)


class EditorNeighboursApi(APIView):
    """``GET /api/editor/neighbours?bbox=…`` — the parcels the editor draws, snaps to and
    selects: every current parcel of the bbox whatever the jurisdiction (snapping across a
    village line), with ``version`` and ``editable`` (in the caller's jurisdiction). No
    personal data. More than ``max_features``: empty and ``truncated``.

    Who may call it: ``parcel.edit`` (surveyor, administrator).
    """

    permission_classes = [IsAuthenticated, capability("parcel.edit")]
    max_features = 3000

    def get(self, request: Request) -> Response:
        params = ParcelMapApi.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        features, truncated = editor_neighbours(
            user=request.user, bbox=params.validated_data["bbox"], limit=self.max_features
        )
        return Response(
            {"type": "FeatureCollection", "features": features, "truncated": truncated, "limit": self.max_features}
        )


class ParcelExportApi(APIView):
    """``GET /api/parcels/export?codes=a,b,…`` or ``?bbox=…`` — the selected current parcels
    as a GeoJSON download (every DK field of the standard, no contractor data).

    Who may call it: ``data.manage`` (data staff, administrator), in their jurisdiction.
    """

    permission_classes = [IsAuthenticated, capability("data.manage")]

    class InputSerializer(serializers.Serializer):
        codes = serializers.CharField(required=False)
        bbox = BBoxField(required=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("codes") and not attrs.get("bbox"):
                raise serializers.ValidationError("请给出 codes（地块编码，逗号分隔）或 bbox")
            return attrs

    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        codes = params.validated_data.get("codes")
        features, truncated = parcels_for_export(
            user=request.user,
            codes=[c.strip() for c in codes.split(",") if c.strip()] if codes else None,
            bbox=params.validated_data.get("bbox"),
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response = Response(
            {"type": "FeatureCollection", "features": features, "truncated": truncated},
            content_type="application/geo+json",
        )
        response["Content-Disposition"] = f'attachment; filename="dk-{stamp}.geojson"'
        return response
