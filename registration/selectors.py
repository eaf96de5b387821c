"""Reads of the registration business, each scoped to what the user may see: a case is
visible to staff whose jurisdiction covers its collective and who handle registrations
(register.edit or register.review). The public sees only the contract verification page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import models as auth
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.permissions import has_capability
from accounts.scoping import User, scope
from gisapp.privacy import mask_name
from parcels.models import Certificate, Collective, Contract, ContractParcel, Region
from parcels.models.base import Status
from registration.business import NO_CERTIFICATE_ITEMS, SIGNING_ITEMS
from registration.models import (
    OPEN_STATES,
    ArchiveDocument,
    Case,
    CaseContract,
    CaseState,
    ContractSignature,
)

# Which states wait for which role: the inbox (待办) of clerks and reviewers.
CLERK_STATES = (CaseState.PRE_APPLIED, CaseState.ACCEPTED, CaseState.REGISTERED, CaseState.CERTIFIED)
REVIEWER_STATES = (CaseState.PRELIMINARY, CaseState.REVIEWED)
DOCUMENT_ORDER = [
    ArchiveDocument.Kind.CONTRACT,
    ArchiveDocument.Kind.CERTIFICATE,
    ArchiveDocument.Kind.REGISTER_PAGE,
    ArchiveDocument.Kind.SKETCH_MAP,
    ArchiveDocument.Kind.APPROVAL_FORM,
    ArchiveDocument.Kind.APPLICATION,
    ArchiveDocument.Kind.IDENTITY,
    ArchiveDocument.Kind.HOUSEHOLD,
    ArchiveDocument.Kind.CONTRACT_SCAN,
    ArchiveDocument.Kind.SIGNATURE,
    ArchiveDocument.Kind.OTHER,
    ArchiveDocument.Kind.MESSAGE,
]
PRINTABLE = frozenset({"application/pdf"})


def may_handle(user: User | None) -> bool:
    return has_capability(user, "register.edit") or has_capability(user, "register.review")


def acting_user(user: User | None) -> auth.User:
    """The signed-in clerk or reviewer who takes a step. Pages and APIs ask after their
    ``may_handle`` check, so nobody else gets here; should someone, they are refused rather
    than handed to a service, which would take ``None`` for the system."""
    if not isinstance(user, auth.User):
        raise PermissionDenied("请先登录")
    return user


def visible_cases(user: User | None) -> QuerySet[Case]:
    if not may_handle(user):
        return Case.objects.none()
    return scope(Case.objects.all(), user, "collective_code")


def inbox_states(user: User | None) -> list[str]:
    states: list[str] = []
    if has_capability(user, "register.edit"):
        states += CLERK_STATES
    if has_capability(user, "register.review"):
        states += REVIEWER_STATES
    return states


def case_list(
    *, user: User | None, box: str = "inbox", q: str = "", item: str = "", limit: int = 200
) -> QuerySet[Case]:
    """``box``: inbox (waiting for the user's role), open, done (closed, rejected, withdrawn), all."""
    cases = visible_cases(user)
    if box == "inbox":
        cases = cases.filter(state__in=inbox_states(user))
    elif box == "open":
        cases = cases.filter(state__in=OPEN_STATES)
    elif box == "done":
        cases = cases.exclude(state__in=OPEN_STATES)
    if item:
        cases = cases.filter(Q(item=item) | Q(business_type=item))
    if q:
        cases = cases.filter(
            Q(number__startswith=q)
            | Q(applicant_name__contains=q)
            | Q(contractor_code__startswith=q)
            | Q(parcels__parcel_code__startswith=q)
            | Q(subjects__name__contains=q)
        ).distinct()
    return cases.order_by("-created_at", "-number")[:limit]


def case_get(*, user: User | None, number: str) -> Case:
    case = visible_cases(user).filter(number=number).first()
    if case is None:
        raise Http404("业务不存在或不在您的管辖范围内")
    return case


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    needs_reason: bool = False
    primary: bool = True


def case_actions(*, user: User | None, case: Case) -> list[Action]:
    """The step buttons the user may press on this case now."""
    edit = has_capability(user, "register.edit")
    review = has_capability(user, "register.review")
    accepter = user is not None and case.accepted_by_id == getattr(user, "pk", None)
    actions: list[Action] = []
    state = case.state
    if state == CaseState.PRE_APPLIED and edit:
        actions.append(Action("accept", "受理"))
    if state == CaseState.ACCEPTED and edit:
        if case.item in SIGNING_ITEMS:
            actions.append(Action("prepare", "生成合同", primary=False))
        actions.append(Action("preliminary", "初审通过"))
    if state == CaseState.PRELIMINARY and review and not accepter:
        actions.append(Action("review", "审核通过"))
    if state == CaseState.REVIEWED and review and not accepter:
        actions.append(Action("register", "登簿"))
    if state == CaseState.REGISTERED and edit and case.item not in NO_CERTIFICATE_ITEMS:
        actions.append(Action("certify", "缮证发证"))
    if edit and (state == CaseState.CERTIFIED or (state == CaseState.REGISTERED and case.item in NO_CERTIFICATE_ITEMS)):
        actions.append(Action("close", "办结"))
    if case.registered_at is not None and edit:
        actions.append(Action("documents", "重新生成登记文档", primary=False))
    if state in (CaseState.PRE_APPLIED, CaseState.ACCEPTED) and edit:
        actions.append(Action("reject", "不予受理（驳回）", needs_reason=True, primary=False))
    if state in (CaseState.PRELIMINARY, CaseState.REVIEWED) and review and not accepter:
        actions.append(Action("reject", "驳回", needs_reason=True, primary=False))
    if state in (CaseState.PRE_APPLIED, CaseState.ACCEPTED, CaseState.PRELIMINARY, CaseState.REVIEWED) and edit:
        actions.append(Action("withdraw", "撤回", needs_reason=True, primary=False))
    return actions


def latest_documents(cases_documents: QuerySet[ArchiveDocument]) -> list[ArchiveDocument]:
    docs = list(cases_documents.filter(superseded_by__isnull=True).select_related("author"))
    order: dict[str, int] = {kind: i for i, kind in enumerate(DOCUMENT_ORDER)}
    return sorted(docs, key=lambda d: (order.get(d.kind, 99), d.register_code, d.pk))


def case_documents(case: Case) -> list[ArchiveDocument]:
    """The current version of every document of the case, in print order."""
    return latest_documents(case.documents.all())


@dataclass(frozen=True)
class ContractForSigning:
    case_contract: CaseContract
    signatures: list[ContractSignature]
    missing: list[str]


def case_contracts(case: Case) -> list[ContractForSigning]:
    result = []
    for case_contract in CaseContract.objects.filter(case=case).select_related("document"):
        signatures = list(case_contract.signatures.filter(fingerprint=case_contract.fingerprint))
        signed = {s.party for s in signatures}
        missing = [ContractSignature.Party(p).label for p in ContractSignature.Party.values if p not in signed]
        result.append(ContractForSigning(case_contract, signatures, missing))
    return result


def document_get(*, user: User | None, pk: int) -> ArchiveDocument:
    if not may_handle(user):
        raise Http404("档案不存在")
    document = scope(ArchiveDocument.objects.all(), user, "collective_code").filter(pk=pk).first()
    if document is None:
        raise Http404("档案不存在或不在您的管辖范围内")
    return document


def archive_search(
    *,
    user: User | None,
    q: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    kind: str = "",
    limit: int = 200,
) -> QuerySet[ArchiveDocument]:
    """Search the archive by code (CBJYQZBM, CBFBM, case number), name (title or holder) and
    filing date; all versions are listed, newest first."""
    if not may_handle(user):
        return ArchiveDocument.objects.none()
    documents = scope(ArchiveDocument.objects.all(), user, "collective_code").select_related("case", "author")
    if q:
        documents = documents.filter(
            Q(register_code__startswith=q)
            | Q(contractor_code__startswith=q)
            | Q(case__number__startswith=q)
            | Q(title__contains=q)
            | Q(holder_name__contains=q)
            | Q(sha256=q.lower())
        )
    if date_from:
        documents = documents.filter(created_at__date__gte=date_from)
    if date_to:
        documents = documents.filter(created_at__date__lte=date_to)
    if kind:
        documents = documents.filter(kind=kind)
    return documents.order_by("-created_at", "-id")[:limit]


@dataclass(frozen=True)
class PublicVerification:
    """What the public verification page shows: no personal data beyond masked names."""

    contract_code: str
    status: str
    collective_name: str
    contractor_name: str
    region: str
    parcel_count: int
    total_area: Decimal | None
    term: str
    certificate_status: str
    case_state: str
    fingerprint: str


def verification(token: str) -> PublicVerification | None:
    case_contract = CaseContract.objects.filter(token=token).select_related("case").first()
    if case_contract is None:
        return None
    case = case_contract.case
    contract = Contract.objects.filter(code=case_contract.contract_code).first()
    registered = case.registered_at is not None and contract is not None
    signed = {s.party for s in case_contract.signatures.filter(fingerprint=case_contract.fingerprint).only("party")}
    if registered and contract is not None:
        status = "有效（已登记）" if contract.status == Status.CURRENT else "已失效（历史合同）"
    elif case.state in (CaseState.REJECTED, CaseState.WITHDRAWN):
        status = "未生效（业务已终止）"
    elif len(signed) == 2:
        status = "双方已签字，待登记"
    else:
        status = "待签订"
    certificate = "未发证"
    parcel_count, total, term = 0, None, ""
    if registered and contract is not None:
        cert = Certificate.objects.filter(register_book__code=contract.code).first()
        if cert is not None:
            certificate = cert.get_state_display()
        links = ContractParcel.objects.filter(contract_id=contract.code, status=Status.CURRENT)
        parcel_count = links.count() if contract.status == Status.CURRENT else contract.parcel_count
        total = contract.total_area
        term = (
            "长久不变"
            if contract.term_end.year == 9999
            else f"{contract.term_start:%Y-%m-%d} 至 {contract.term_end:%Y-%m-%d}"
        )
    region = Region.objects.filter(code=case_contract.collective_code[:12]).values_list("name", flat=True).first()
    collective = Collective.objects.filter(code=case_contract.collective_code).values_list("name", flat=True).first()
    return PublicVerification(
        contract_code=case_contract.contract_code,
        status=status,
        collective_name=collective or "",
        contractor_name=mask_name(case_contract.contractor_name),
        region=region or "",
        parcel_count=parcel_count,
        total_area=total,
        term=term,
        certificate_status=certificate,
        case_state=case.get_state_display(),
        fingerprint=case_contract.fingerprint[:16],
    )
