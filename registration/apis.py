"""HTTP APIs of the registration business (DRF), for the pages' scripts and other clients.
Errors follow ``gisapp.api``: ``{"error": {"code", "message", "details"}}``.

Who may call them: clerks and reviewers (register.edit / register.review) within their
jurisdiction; each step's service checks the capability the step needs. Anonymous users,
surveyors and the department interface get 401/403; cases outside the jurisdiction 404.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registration import selectors, services
from registration.archive import archive_verify
from registration.models import ArchiveDocument, BusinessItem, Case


class HandlesRegistration(BasePermission):
    message = "您的角色无权办理登记业务（需要权限 register.edit 或 register.review）"

    def has_permission(self, request: Request, view: Any) -> bool:
        return selectors.may_handle(request.user)


class CaseOutputSerializer(serializers.ModelSerializer):
    state_name = serializers.CharField(source="get_state_display")
    item_name = serializers.CharField(source="get_item_display")
    parcels = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = [
            "number",
            "business_type",
            "item",
            "item_name",
            "state",
            "state_name",
            "collective_code",
            "contractor_code",
            "applicant_name",
            "reason",
            "proposal",
            "result",
            "end_reason",
            "created_at",
            "accepted_at",
            "preliminary_at",
            "reviewed_at",
            "registered_at",
            "certified_at",
            "closed_at",
            "parcels",
        ]

    def get_parcels(self, case: Case) -> list[str]:
        return [p.parcel_code for p in case.parcels.all()]


class CaseListApi(APIView):
    """``GET /registration/api/cases?box=inbox|open|done|all&q=`` and ``POST`` (预申请).

    Who: clerks and reviewers, cases of their jurisdiction; ``POST`` needs register.edit."""

    permission_classes = [HandlesRegistration]

    class InputSerializer(serializers.Serializer):
        item = serializers.ChoiceField(choices=BusinessItem.choices)
        collective_code = serializers.RegexField(r"^\d{14}$")
        applicant_name = serializers.CharField(max_length=50)
        applicant_id_type = serializers.CharField(max_length=1, default="1")
        applicant_id_number = serializers.CharField(max_length=20)
        applicant_phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        proposal = serializers.DictField()

    def get(self, request: Request) -> Response:
        cases = selectors.case_list(
            user=request.user, box=request.query_params.get("box", "all"), q=request.query_params.get("q", "")
        )
        return Response({"results": CaseOutputSerializer(cases, many=True).data})

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = services.case_create(actor=selectors.acting_user(request.user), **serializer.validated_data)
        return Response(CaseOutputSerializer(case).data, status=201)


class CaseDetailApi(APIView):
    """``GET /registration/api/cases/<number>``. Who: clerks and reviewers in jurisdiction (else 404)."""

    permission_classes = [HandlesRegistration]

    def get(self, request: Request, number: str) -> Response:
        case = selectors.case_get(user=request.user, number=number)
        return Response(CaseOutputSerializer(case).data)


class CaseActionApi(APIView):
    """``POST /registration/api/cases/<number>/<action>``: accept, prepare, preliminary,
    review, register, certify, close, reject (reason), withdraw (reason), sign (contract_code,
    party, signer_name, signed_on).

    Who: clerks and reviewers in jurisdiction; the step's service refuses a role that may not
    take it (403: review and register need register.review and not the accepting clerk)."""

    permission_classes = [HandlesRegistration]

    class ReasonSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200)

    class SignSerializer(serializers.Serializer):
        contract_code = serializers.CharField(max_length=19)
        party = serializers.ChoiceField(choices=["fbf", "cbf"])
        signer_name = serializers.CharField(max_length=50)
        signed_on = serializers.DateField()

    class CertifySerializer(serializers.Serializer):
        collector_name = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
        collector_id_number = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")

    def post(self, request: Request, number: str, action: str) -> Response:
        case = selectors.case_get(user=request.user, number=number)
        base_url = request.build_absolute_uri("/")
        actor, n = selectors.acting_user(request.user), case.number
        if action in ("reject", "withdraw"):
            reason = self.ReasonSerializer(data=request.data)
            reason.is_valid(raise_exception=True)
            step = services.case_reject if action == "reject" else services.case_withdraw
            step(actor=actor, number=n, reason=reason.validated_data["reason"])
        elif action == "sign":
            sign = self.SignSerializer(data=request.data)
            sign.is_valid(raise_exception=True)
            services.case_sign(actor=actor, number=n, **sign.validated_data)
        elif action == "certify":
            certify = self.CertifySerializer(data=request.data)
            certify.is_valid(raise_exception=True)
            services.case_certify(actor=actor, number=n, **certify.validated_data)
        elif action == "accept":
            services.case_accept(actor=actor, number=n)
        elif action == "prepare":
            services.case_prepare_contracts(actor=actor, number=n, base_url=base_url)
        elif action == "preliminary":
            services.case_preliminary(actor=actor, number=n)
        elif action == "review":
            services.case_review(actor=actor, number=n)
        elif action == "register":
            services.case_register(actor=actor, number=n, base_url=base_url)
        elif action == "close":
            services.case_close(actor=actor, number=n)
        else:
            raise Http404("未知的操作")
        return Response(CaseOutputSerializer(Case.objects.get(number=n)).data)


class ArchiveOutputSerializer(serializers.ModelSerializer):
    kind_name = serializers.CharField(source="get_kind_display")
    case_number = serializers.CharField(source="case.number", default="")
    author_name = serializers.CharField(source="author.username", default="")
    superseded = serializers.SerializerMethodField()

    class Meta:
        model = ArchiveDocument
        fields = [
            "id",
            "kind",
            "kind_name",
            "origin",
            "title",
            "filename",
            "content_type",
            "size",
            "sha256",
            "case_number",
            "register_code",
            "contractor_code",
            "holder_name",
            "version",
            "supersedes",
            "superseded",
            "author_name",
            "created_at",
        ]

    def get_superseded(self, document: ArchiveDocument) -> bool:
        return hasattr(document, "superseded_by")


class ArchiveSearchApi(APIView):
    """``GET /registration/api/archive?q=&date_from=&date_to=&kind=``. Who: clerks and
    reviewers, documents of their jurisdiction."""

    permission_classes = [HandlesRegistration]

    class QuerySerializer(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True, default="")
        date_from = serializers.DateField(required=False, default=None)
        date_to = serializers.DateField(required=False, default=None)
        kind = serializers.CharField(required=False, allow_blank=True, default="")

    def get(self, request: Request) -> Response:
        s = self.QuerySerializer(data=request.query_params)
        s.is_valid(raise_exception=True)
        documents = selectors.archive_search(user=request.user, **s.validated_data)
        return Response({"results": ArchiveOutputSerializer(documents, many=True).data})


class ArchiveVerifyApi(APIView):
    """``POST /registration/api/archive/<id>/verify``: recompute the stored file's SHA-256.
    Who: clerks and reviewers, documents of their jurisdiction (else 404)."""

    permission_classes = [HandlesRegistration]

    def post(self, request: Request, pk: int) -> Response:
        document = selectors.document_get(user=request.user, pk=pk)
        result = archive_verify(document)
        return Response(
            {
                "ok": result.ok,
                "expected": result.expected,
                "actual": result.actual,
                "size": result.size,
                "message": result.message,
            }
        )
