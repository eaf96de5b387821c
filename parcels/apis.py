"""HTTP APIs of the register (DRF). Errors follow ``gisapp.api``: ``{"error": {"code",
"message", "details"}}``. Each API states who may call it and enforces it with a permission
class; jurisdiction is applied by the selectors."""

from __future__ import annotations

import json
import math
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import capability
from parcels.selectors import BBox, MapParcel, parcel_dossier, parcels_in_bbox


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
