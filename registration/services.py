"""Writes of the registration business: the case's steps, the contract signing, the
registration itself and the documents it produces.

Steps and who may take them (capabilities of ``accounts.permissions``; every step also
checks the case's collective against the actor's jurisdiction):

=============  =====================  ===========================  =================
step           service                from                         capability
=============  =====================  ===========================  =================
预申请         case_create            —                            register.edit
受理           case_accept            预申请                       register.edit
生成合同       case_prepare_contracts 已受理                       register.edit
签字确认       case_sign              已受理                       register.edit
初审           case_preliminary       已受理                       register.edit
审核           case_review            已初审                       register.review ≠ 受理人
登簿           case_register          已审核                       register.review ≠ 受理人
缮证/发证      case_certify           已登簿                       register.edit
办结           case_close             已缮证发证 (注销: 已登簿)    register.edit
驳回           case_reject            预申请 … 已审核              edit (before 初审) / review
撤回           case_withdraw          预申请 … 已审核              register.edit
=============  =====================  ===========================  =================

Acceptance and preliminary review run the registration as a dry run (the register writes,
then rolls back) so that a proposal the register would refuse is refused at once, with the
register's own message. Contracts for signing are rendered from the same dry run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models.signals import post_save
from django.urls import reverse
from django.utils import timezone

from accounts.permissions import has_capability
from accounts.scoping import ensure_in_jurisdiction
from gisapp.errors import DomainError, NotFoundError
from parcels import services as register
from parcels.models import ChangeRecord, Collective, Contract, Contractor, Region
from parcels.services import Actor
from registration import business
from registration.archive import IMAGE_TYPES, archive_add, archive_read
from registration.business import NO_CERTIFICATE_ITEMS, SIGNING_ITEMS, Outcome
from registration.documents.certificate import render_certificate, render_register_page, render_sketch_map
from registration.documents.contract import SignatureLine, render_contract
from registration.documents.data import load_entry
from registration.messages import build_message, message_sha256
from registration.models import (
    OPEN_STATES,
    ArchiveDocument,
    BusinessItem,
    Case,
    CaseChange,
    CaseContract,
    CaseParcel,
    CaseState,
    CaseStep,
    CaseSubject,
    ContractSignature,
    PlatformMessage,
)

T = TypeVar("T")
Kind = ArchiveDocument.Kind
GENERATED = ArchiveDocument.Origin.GENERATED


class ForbiddenError(DomainError):
    code = "forbidden"
    http_status = 403


def _require(actor: Actor, capability: str) -> None:
    if actor is None:
        return
    if not has_capability(actor, capability):
        raise ForbiddenError(f"您的角色无权执行此操作（需要权限 {capability}）")


def display_name(actor: Actor) -> str:
    if actor is None:
        return "系统"
    return actor.get_full_name() or actor.get_username()


# --- case numbers ------------------------------------------------------------------------


def next_case_number(county_code: str, on: dt.date) -> str:
    """YWLSH = county 6 + yyyymmdd + 6-digit sequence of that county and day."""
    prefix = f"{county_code}{on:%Y%m%d}"
    register.lock(f"ywlsh:{prefix}")
    last = Case.objects.filter(number__startswith=prefix).order_by("-number").values_list("number", flat=True).first()
    sequence = int(last[-6:]) + 1 if last else 1
    if sequence > 999_999:
        raise DomainError(f"{on:%Y-%m-%d} 的业务流水号已用完")
    return f"{prefix}{sequence:06d}"


# --- change-record collection ------------------------------------------------------------

_collecting = threading.local()


def _on_change_saved(sender: type, instance: ChangeRecord, created: bool, **kwargs: Any) -> None:
    bucket = getattr(_collecting, "records", None)
    if created and bucket is not None:
        bucket.append(instance)


post_save.connect(_on_change_saved, sender=ChangeRecord, dispatch_uid="registration.collect_change_records")


@contextlib.contextmanager
def collect_change_records() -> Iterator[list[ChangeRecord]]:
    """The ChangeRecords the register services write in this thread inside the block: the
    before/after history a case's registration links to. Bookkeeping only, no rule."""
    previous = getattr(_collecting, "records", None)
    records: list[ChangeRecord] = []
    _collecting.records = records
    try:
        yield records
    finally:
        _collecting.records = previous


# --- steps -------------------------------------------------------------------------------


def _lock_case(actor: Actor, number: str) -> Case:
    case = Case.objects.select_for_update().filter(number=number).first()
    if case is None:
        raise NotFoundError(f"业务 {number} 不存在", details={"number": number})
    ensure_in_jurisdiction(actor, case.collective_code)
    return case


def _expect(case: Case, *states: str) -> None:
    if case.state not in states:
        names = "、".join(CaseState(s).label for s in states)
        raise DomainError(
            f"业务 {case.number} 当前状态为“{case.get_state_display()}”，此操作只能在“{names}”时进行",
            code="wrong_state",
        )


def _step(case: Case, *, action: str, actor: Actor, to_state: str, comment: str = "") -> CaseStep:
    step = CaseStep(
        case=case, action=action, from_state=case.state, to_state=to_state, actor=actor, comment=comment[:200]
    )
    step.full_clean()
    step.save()
    return step


def _save(case: Case, fields: list[str]) -> Case:
    case.full_clean()
    case.save(update_fields=fields)
    return case


class _DryRun(Exception):
    pass


def _dry_run(case: Case, actor: Actor, inspect: Callable[[Outcome], T] | None = None) -> tuple[Outcome, T | None]:
    """Run the registration and roll it back; ``inspect`` sees the register as it would be."""
    holder: dict[str, Any] = {}
    try:
        with transaction.atomic():
            outcome = business.apply(
                actor=actor,
                case=case,
                on=timezone.localdate(),
                registrar=display_name(actor),
                surveyor=display_name(case.accepted_by or actor),
            )
            holder["outcome"] = outcome
            holder["seen"] = inspect(outcome) if inspect is not None else None
            raise _DryRun
    except _DryRun:
        pass
    return holder["outcome"], holder["seen"]


def _release_parcels(case: Case) -> None:
    CaseParcel.objects.filter(case=case, is_open=True).update(is_open=False)


@transaction.atomic
def case_create(
    *,
    actor: Actor,
    item: str,
    collective_code: str,
    applicant_name: str,
    applicant_id_number: str,
    applicant_id_type: str = "1",
    applicant_phone: str = "",
    reason: str = "",
    proposal: Mapping[str, Any],
) -> Case:
    """预申请: a case filed for a household. Its parcels are held at once, so a parcel is
    never in two open cases.

    Example: ``case_create(actor=clerk, item="1011", collective_code="31015110100101",
    applicant_name="张三", applicant_id_number="…", proposal={...})``
    """
    _require(actor, "register.edit")
    ensure_in_jurisdiction(actor, collective_code)
    if item not in BusinessItem.values:
        raise DomainError(f"未知的业务事项：{item}", code="unknown_item")
    if not Collective.objects.filter(code=collective_code).exists():
        raise DomainError(f"发包方 {collective_code} 不存在", code="collective_missing")
    parcels = business.parcels_of(item, proposal)
    for code in parcels:
        if code[:14] != collective_code:
            raise DomainError(f"地块 {code} 不属于发包方 {collective_code}", code="collectives_differ")
    busy = list(
        CaseParcel.objects.select_for_update()
        .filter(parcel_code__in=parcels, is_open=True)
        .values_list("parcel_code", "case__number")
    )
    if busy:
        detail = "，".join(f"{p}（业务 {n}）" for p, n in busy)
        raise DomainError(f"地块正在办理其他业务：{detail}", code="parcel_in_open_case")
    today = timezone.localdate()
    subjects = [(code, role) for code, role in business.subjects_of(item, proposal) if code]
    case = Case(
        number=next_case_number(collective_code[:6], today),
        business_type=item[:3],
        item=item,
        collective_code=collective_code,
        contractor_code=subjects[0][0][:18] if subjects else "",
        applicant_name=applicant_name,
        applicant_id_type=applicant_id_type or "1",
        applicant_id_number=applicant_id_number,
        applicant_phone=applicant_phone or "",
        reason=reason[:200],
        proposal=dict(proposal),
        created_by=actor,
    )
    case.full_clean()
    case.save()
    try:
        with transaction.atomic():
            CaseParcel.objects.bulk_create([CaseParcel(case=case, parcel_code=code) for code in parcels])
    except IntegrityError as exc:
        raise DomainError("地块正在办理其他业务，请刷新后重试", code="parcel_in_open_case") from exc
    names = dict(Contractor.objects.filter(code__in=[c for c, _ in subjects]).values_list("code", "name"))
    new = proposal.get("new_contractor") or {}
    for code, role in subjects:
        CaseSubject.objects.create(case=case, contractor_code=code, name=names.get(code, code), role=role)
    if new:
        CaseSubject.objects.create(case=case, name=str(new.get("name", applicant_name))[:50], role="applicant")
    _step(case, action=CaseStep.Action.PRE_APPLY, actor=actor, to_state=CaseState.PRE_APPLIED, comment=reason)
    return case


@transaction.atomic
def case_accept(*, actor: Actor, number: str, comment: str = "") -> Case:
    """受理: the clerk checks the application; the register must accept the proposal (dry run)."""
    _require(actor, "register.edit")
    case = _lock_case(actor, number)
    _expect(case, CaseState.PRE_APPLIED)
    case.accepted_by, case.accepted_at = actor, timezone.now()
    _dry_run(case, actor)
    _step(case, action=CaseStep.Action.ACCEPT, actor=actor, to_state=CaseState.ACCEPTED, comment=comment)
    case.state = CaseState.ACCEPTED
    return _save(case, ["state", "accepted_by", "accepted_at"])


def _verify_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + reverse("registration:verify", args=[token])


def _signature_lines(case_contract: CaseContract) -> list[SignatureLine]:
    lines = []
    for signature in case_contract.signatures.filter(fingerprint=case_contract.fingerprint).select_related("image"):
        image = archive_read(signature.image) if signature.image is not None else None
        lines.append(
            SignatureLine(
                party=signature.get_party_display(),
                signer=signature.signer_name,
                signed_on=signature.signed_on,
                method=signature.get_method_display(),
                image=image,
            )
        )
    return lines


def _archive_generated(
    *,
    actor: Actor,
    case: Case,
    content: bytes,
    kind: str,
    title: str,
    filename: str,
    register_code: str = "",
    contractor_code: str = "",
    holder_name: str = "",
    content_type: str = "application/pdf",
    note: str = "",
) -> ArchiveDocument:
    """A generated document; a new version of the case's document of the same kind and code.
    A contract's or register book's code begins with its contractor's (CBFBM, 18 digits)."""
    contractor_code = contractor_code or register_code[:18]
    previous = (
        ArchiveDocument.objects.filter(case=case, kind=kind, register_code=register_code, superseded_by__isnull=True)
        .order_by("-version")
        .first()
    )
    return archive_add(
        actor=actor,
        content=content,
        filename=filename,
        kind=kind,
        title=title,
        collective_code=case.collective_code,
        origin=GENERATED,
        content_type=content_type,
        case=case,
        register_code=register_code,
        contractor_code=contractor_code,
        holder_name=holder_name,
        supersedes=previous,
        note=note,
    )


@transaction.atomic
def case_prepare_contracts(*, actor: Actor, number: str, base_url: str = "") -> list[CaseContract]:
    """生成合同: render the new and changed contracts of the case (from a dry run) for both
    parties to sign, each with a QR code to its public verification page. Preparing again
    after a change makes a new version; signatures count only for the version they signed."""
    _require(actor, "register.edit")
    case = _lock_case(actor, number)
    _expect(case, CaseState.ACCEPTED)
    if case.item not in SIGNING_ITEMS:
        raise DomainError(f"{case.get_item_display()}不需要签订承包合同", code="no_contract_signing")
    tokens = dict(CaseContract.objects.filter(case=case).values_list("contract_code", "token"))

    def render(outcome: Outcome) -> dict[str, tuple[str, str, str, bytes, str]]:
        rendered = {}
        for code in outcome.signing_contracts():
            token = tokens.get(code) or secrets.token_hex(16)
            entry = load_entry(code)
            existing = CaseContract.objects.filter(case=case, contract_code=code).first()
            signatures = _signature_lines(existing) if existing is not None else []
            pdf = render_contract(
                entry,
                verify_url=_verify_url(base_url, token),
                case_number=case.number,
                draft=True,
                signatures=[s for s in signatures if existing and existing.fingerprint == business.fingerprint(code)],
            )
            rendered[code] = (outcome.contracts[code], token, business.fingerprint(code), pdf, entry.contractor.name)
        return rendered

    _outcome, rendered = _dry_run(case, actor, render)
    assert rendered is not None
    CaseContract.objects.filter(case=case).exclude(contract_code__in=list(rendered)).delete()
    prepared = []
    for code, (kind, token, fingerprint, pdf, holder) in sorted(rendered.items()):
        document = _archive_generated(
            actor=actor,
            case=case,
            content=pdf,
            kind=Kind.CONTRACT,
            title=f"承包合同（{'新签' if kind == 'new' else '变更'}）{code}",
            filename=f"CBHT{code[:18]}.pdf",
            register_code=code,
            holder_name=holder,
            note="待签字的合同文本",
        )
        case_contract, _ = CaseContract.objects.update_or_create(
            case=case,
            contract_code=code,
            defaults={
                "kind": kind,
                "collective_code": case.collective_code,
                "contractor_name": holder,
                "fingerprint": fingerprint,
                "token": token,
                "document": document,
            },
        )
        prepared.append(case_contract)
    _step(
        case,
        action=CaseStep.Action.PREPARE_CONTRACTS,
        actor=actor,
        to_state=case.state,
        comment="、".join(sorted(rendered)),
    )
    return prepared


@transaction.atomic
def case_sign(
    *,
    actor: Actor,
    number: str,
    contract_code: str,
    party: str,
    signer_name: str,
    signed_on: dt.date,
    image: bytes | None = None,
    image_name: str = "signature.png",
) -> ContractSignature:
    """签字确认 of one party to the contract version last prepared: the clerk records that
    the paper was signed, or uploads the signature-pad image."""
    _require(actor, "register.edit")
    case = _lock_case(actor, number)
    _expect(case, CaseState.ACCEPTED)
    case_contract = CaseContract.objects.filter(case=case, contract_code=contract_code).first()
    if case_contract is None:
        raise DomainError(f"业务 {number} 没有待签订的合同 {contract_code}：请先生成合同", code="no_contract")
    if party not in ContractSignature.Party.values:
        raise DomainError(f"未知的签约方：{party}", code="invalid")
    if not signer_name.strip():
        raise DomainError("请填写签字人姓名", code="proposal_incomplete")
    today = timezone.localdate()
    accepted = timezone.localdate(case.accepted_at) if case.accepted_at else today
    if signed_on > today:
        raise DomainError("签字日期不能晚于今天", code="dates_order")
    if signed_on < accepted:
        raise DomainError("签字日期不能早于受理日期", code="dates_order")
    if case_contract.signatures.filter(party=party, fingerprint=case_contract.fingerprint).exists():
        raise DomainError(f"{ContractSignature.Party(party).label}已对当前合同文本签字确认", code="already_signed")
    document = None
    if image is not None:
        document = archive_add(
            actor=actor,
            content=image,
            filename=image_name,
            kind=Kind.SIGNATURE,
            title=f"{ContractSignature.Party(party).label}签字 {contract_code}",
            collective_code=case.collective_code,
            case=case,
            register_code=contract_code,
            contractor_code=contract_code[:18],
            holder_name=case_contract.contractor_name,
            allowed_types=IMAGE_TYPES,
        )
    signature = ContractSignature(
        case_contract=case_contract,
        party=party,
        fingerprint=case_contract.fingerprint,
        signer_name=signer_name.strip()[:50],
        signed_on=signed_on,
        method=ContractSignature.Method.IMAGE if document else ContractSignature.Method.WITNESSED,
        image=document,
        recorded_by=actor,
    )
    signature.full_clean()
    signature.save()
    _step(
        case,
        action=CaseStep.Action.SIGN,
        actor=actor,
        to_state=case.state,
        comment=f"{contract_code} {signature.get_party_display()} {signature.signer_name}",
    )
    return signature


def _unsigned(case: Case, outcome: Outcome) -> None:
    """Every contract the case makes or changes is prepared, unchanged since, and signed by both parties."""
    if case.item not in SIGNING_ITEMS:
        return
    prepared = {c.contract_code: c for c in CaseContract.objects.filter(case=case)}
    for code in outcome.signing_contracts():
        case_contract = prepared.get(code)
        if case_contract is None:
            raise DomainError(f"承包合同 {code} 尚未生成：请先生成合同并由双方签字", code="contract_not_prepared")
        if case_contract.fingerprint != business.fingerprint(code):
            raise DomainError(
                f"承包合同 {code} 的内容在生成后发生了变化：请重新生成合同并由双方重新签字", code="contract_changed"
            )
        signed = set(
            case_contract.signatures.filter(fingerprint=case_contract.fingerprint).values_list("party", flat=True)
        )
        missing = [ContractSignature.Party(p).label for p in ContractSignature.Party.values if p not in signed]
        if missing:
            raise DomainError(f"承包合同 {code} 尚待{'、'.join(missing)}签字确认", code="not_signed")


@transaction.atomic
def case_preliminary(*, actor: Actor, number: str, comment: str = "") -> Case:
    """初审: the clerk's check that the application is complete and the contracts signed."""
    _require(actor, "register.edit")
    case = _lock_case(actor, number)
    _expect(case, CaseState.ACCEPTED)
    _dry_run(case, actor, lambda outcome: _unsigned(case, outcome))
    case.preliminary_by, case.preliminary_at = actor, timezone.now()
    _step(case, action=CaseStep.Action.PRELIMINARY, actor=actor, to_state=CaseState.PRELIMINARY, comment=comment)
    case.state = CaseState.PRELIMINARY
    return _save(case, ["state", "preliminary_by", "preliminary_at"])


def _not_the_accepter(actor: Actor, case: Case, what: str) -> None:
    if actor is not None and case.accepted_by_id == actor.pk:
        raise ForbiddenError(f"受理人不能{what}自己受理的业务", code="four_eyes")


@transaction.atomic
def case_review(*, actor: Actor, number: str, comment: str = "") -> Case:
    """审核: a reviewer, not the clerk who accepted the case, approves it for registration."""
    _require(actor, "register.review")
    case = _lock_case(actor, number)
    _expect(case, CaseState.PRELIMINARY)
    _not_the_accepter(actor, case, "审核")
    case.reviewed_by, case.reviewed_at = actor, timezone.now()
    _step(case, action=CaseStep.Action.REVIEW, actor=actor, to_state=CaseState.REVIEWED, comment=comment)
    case.state = CaseState.REVIEWED
    return _save(case, ["state", "reviewed_by", "reviewed_at"])


def _signing_dates(case: Case) -> dict[str, dt.date]:
    """A contract's signing date (QDSJ) is the day the second party signed."""
    dates: dict[str, dt.date] = {}
    for case_contract in CaseContract.objects.filter(case=case):
        days = list(
            case_contract.signatures.filter(fingerprint=case_contract.fingerprint).values_list("signed_on", flat=True)
        )
        if days:
            dates[case_contract.contract_code] = max(days)
    return dates


@transaction.atomic
def case_register(*, actor: Actor, number: str, base_url: str = "") -> Case:
    """登簿: apply the case to the register in this one transaction, link the case to every
    ChangeRecord written (the state before and after), store the platform message, and file
    the registered contracts, register pages and sketch maps in the archive."""
    _require(actor, "register.review")
    case = _lock_case(actor, number)
    _expect(case, CaseState.REVIEWED)
    _not_the_accepter(actor, case, "登簿")
    case.registered_by, case.registered_at = actor, timezone.now()
    with collect_change_records() as records:
        outcome = business.apply(
            actor=actor,
            case=case,
            on=timezone.localdate(case.registered_at),
            registrar=display_name(actor),
            surveyor=display_name(case.accepted_by),
            signed_on=_signing_dates(case),
        )
        _unsigned(case, outcome)
    CaseChange.objects.bulk_create([CaseChange(case=case, change=record) for record in records])
    case.result = outcome.as_json()
    if not case.contractor_code and outcome.main_contractor:
        case.contractor_code = outcome.main_contractor
    _step(case, action=CaseStep.Action.REGISTER, actor=actor, to_state=CaseState.REGISTERED)
    case.state = CaseState.REGISTERED
    _save(case, ["state", "registered_by", "registered_at", "result", "contractor_code"])

    xml, sjbzm = build_message(case=case, records=records, result=case.result)
    message = PlatformMessage(
        case=case,
        sjbzm=sjbzm,
        business_type=case.business_type,
        filename=f"DJYW{case.number}.xml",
        xml=xml,
        sha256=message_sha256(xml),
    )
    message.full_clean()
    message.save()
    _archive_generated(
        actor=actor,
        case=case,
        content=xml.encode("utf-8"),
        kind=Kind.MESSAGE,
        title=f"接入报文 DJYW{case.number}",
        filename=message.filename,
        content_type="application/xml",
    )
    # The documents are side effects: filed after the registration has committed (a
    # failure is logged and case_file_documents files them again from the print centre).
    transaction.on_commit(
        lambda: case_file_documents(actor=actor, number=case.number, base_url=base_url, certificates=False), robust=True
    )
    return case


@transaction.atomic
def case_file_documents(
    *, actor: Actor, number: str, base_url: str = "", certificates: bool = True
) -> list[ArchiveDocument]:
    """File the documents of a registered case: the registered contracts (with the parties'
    signatures), the register pages and sketch maps (DKSYT) of its register entries, and,
    once certified, the certificates. Filing again makes new versions."""
    if not has_capability(actor, "register.review"):
        _require(actor, "register.edit")
    case = _lock_case(actor, number)
    if case.registered_at is None:
        raise DomainError(f"业务 {number} 尚未登簿，没有登记文档", code="wrong_state")
    filed: list[ArchiveDocument] = []
    contracts: dict[str, str] = case.result.get("contracts", {})
    signing = (
        sorted(c for c, what in contracts.items() if what in ("new", "changed")) if case.item in SIGNING_ITEMS else []
    )
    for code in signing:
        case_contract = CaseContract.objects.filter(case=case, contract_code=code).first()
        if case_contract is None:
            continue
        entry = load_entry(code)
        pdf = render_contract(
            entry,
            verify_url=_verify_url(base_url, case_contract.token),
            case_number=case.number,
            draft=False,
            signatures=_signature_lines(case_contract),
        )
        filed.append(
            _archive_generated(
                actor=actor,
                case=case,
                content=pdf,
                kind=Kind.CONTRACT,
                title=f"承包合同（已登记）{code}",
                filename=f"CBHT{code[:18]}.pdf",
                register_code=code,
                holder_name=entry.contractor.name,
                note="双方签字确认、登簿后的合同文本",
            )
        )
    books: dict[str, str] = case.result.get("books", {})
    for code, what in sorted(books.items()):
        entry = load_entry(code)
        filed.append(
            _archive_generated(
                actor=actor,
                case=case,
                content=render_register_page(entry, case_number=case.number),
                kind=Kind.REGISTER_PAGE,
                title=f"登记簿 {code}",
                filename=f"DJB{code}.pdf",
                register_code=code,
                holder_name=entry.contractor.name,
            )
        )
        if what != "retired" and entry.parcels:
            filed.append(
                _archive_generated(
                    actor=actor,
                    case=case,
                    content=render_sketch_map(entry, case_number=case.number),
                    kind=Kind.SKETCH_MAP,
                    title=f"地块示意图 {code}",
                    filename=f"DKSYT{code}.pdf",
                    register_code=code,
                    holder_name=entry.contractor.name,
                )
            )
    if certificates and case.certified_at is not None:
        filed += _file_certificates(actor=actor, case=case)
    return filed


def _file_certificates(*, actor: Actor, case: Case) -> list[ArchiveDocument]:
    filed = []
    certificates: dict[str, str] = case.result.get("certificates", {})
    for code, what in sorted(certificates.items()):
        if what in ("issue", "replace", "reissued", "replaced"):
            entry = load_entry(code)
            filed.append(
                _archive_generated(
                    actor=actor,
                    case=case,
                    content=render_certificate(entry, case_number=case.number),
                    kind=Kind.CERTIFICATE,
                    title=f"承包经营权证 {code}",
                    filename=f"CBJYQZ{code}.pdf",
                    register_code=code,
                    holder_name=entry.contractor.name,
                )
            )
    return filed


def _authority(county_code: str) -> str:
    name = Region.objects.filter(code=county_code).values_list("name", flat=True).first() or county_code
    return f"{name}人民政府"[:50]


@transaction.atomic
def case_certify(
    *,
    actor: Actor,
    number: str,
    collector_name: str = "",
    collector_id_type: str = "1",
    collector_id_number: str = "",
    issued_on: dt.date | None = None,
    authority: str = "",
) -> Case:
    """缮证/发证: issue the certificates of new register entries and replace those of changed
    ones (换发), record who collected them, and file the certificate PDFs."""
    _require(actor, "register.edit")
    case = _lock_case(actor, number)
    if case.item in NO_CERTIFICATE_ITEMS:
        raise DomainError(f"{case.get_item_display()}不发放权证，请直接办结", code="no_certificate")
    _expect(case, CaseState.REGISTERED)
    issued_on = issued_on or timezone.localdate()
    if issued_on < timezone.localdate(case.registered_at):
        raise DomainError("发证日期不能早于登记时间", code="dates_order")
    collector = {
        "collector_name": collector_name or case.applicant_name,
        "collector_id_type": collector_id_type or "1",
        "collector_id_number": collector_id_number or case.applicant_id_number,
    }
    certificates: dict[str, str] = case.result.get("certificates", {})
    for code, what in sorted(certificates.items()):
        if what == "issue":
            register.certificate_issue(
                actor=actor,
                register_code=code,
                authority=authority or _authority(code[:6]),
                issued_on=issued_on,
                collected=True,
                collected_on=issued_on,
                **collector,
            )
        elif what == "replace":
            register.certificate_replace(
                actor=actor,
                register_code=code,
                reason=f"{case.get_business_type_display()}后换发（业务 {case.number}）",
                replaced_on=issued_on,
                collected_on=issued_on,
                **collector,
            )
    number = case.number
    transaction.on_commit(lambda: _certificates_after_commit(actor, number), robust=True)
    case.certified_by, case.certified_at = actor, timezone.now()
    _step(case, action=CaseStep.Action.CERTIFY, actor=actor, to_state=CaseState.CERTIFIED)
    case.state = CaseState.CERTIFIED
    return _save(case, ["state", "certified_by", "certified_at"])


@transaction.atomic
def _certificates_after_commit(actor: Actor, number: str) -> None:
    _file_certificates(actor=actor, case=Case.objects.get(number=number))


@transaction.atomic
def case_close(*, actor: Actor, number: str, comment: str = "") -> Case:
    """办结: the case is archived and its parcels are free for other cases."""
    _require(actor, "register.edit")
    case = _lock_case(actor, number)
    if case.item in NO_CERTIFICATE_ITEMS:
        _expect(case, CaseState.REGISTERED, CaseState.CERTIFIED)
    else:
        _expect(case, CaseState.CERTIFIED)
    case.closed_by, case.closed_at = actor, timezone.now()
    _release_parcels(case)
    _step(case, action=CaseStep.Action.CLOSE, actor=actor, to_state=CaseState.CLOSED, comment=comment)
    case.state = CaseState.CLOSED
    return _save(case, ["state", "closed_by", "closed_at"])


BEFORE_REGISTRATION = (CaseState.PRE_APPLIED, CaseState.ACCEPTED, CaseState.PRELIMINARY, CaseState.REVIEWED)


def _end(case: Case, *, actor: Actor, reason: str, state: str, action: str) -> Case:
    if not reason.strip():
        raise DomainError("请填写原因", code="reason_required")
    case.end_reason = reason.strip()[:200]
    case.ended_by, case.ended_at = actor, timezone.now()
    _release_parcels(case)
    _step(case, action=action, actor=actor, to_state=state, comment=case.end_reason)
    case.state = state
    return _save(case, ["state", "end_reason", "ended_by", "ended_at"])


@transaction.atomic
def case_reject(*, actor: Actor, number: str, reason: str) -> Case:
    """驳回 with a reason: by the clerk before the preliminary review (不予受理), by a
    reviewer after it. Nothing was written to the register."""
    case = _lock_case(actor, number)
    _expect(case, *BEFORE_REGISTRATION)
    if case.state in (CaseState.PRE_APPLIED, CaseState.ACCEPTED):
        _require(actor, "register.edit")
    else:
        _require(actor, "register.review")
    return _end(case, actor=actor, reason=reason, state=CaseState.REJECTED, action=CaseStep.Action.REJECT)


@transaction.atomic
def case_withdraw(*, actor: Actor, number: str, reason: str) -> Case:
    """撤回: the applicant withdraws before registration; the clerk records it with the reason."""
    _require(actor, "register.edit")
    case = _lock_case(actor, number)
    _expect(case, *BEFORE_REGISTRATION)
    return _end(case, actor=actor, reason=reason, state=CaseState.WITHDRAWN, action=CaseStep.Action.WITHDRAW)


@transaction.atomic
def case_attach(
    *,
    actor: Actor,
    number: str,
    content: bytes,
    filename: str,
    kind: str,
    title: str,
    supersedes_id: int | None = None,
) -> ArchiveDocument:
    """上传附件: a scan (PDF or JPEG) of the case into the archive; with ``supersedes_id``,
    a corrected version of an earlier one."""
    _require(actor, "register.edit")
    case = _lock_case(actor, number)
    if case.state not in OPEN_STATES:
        raise DomainError(f"业务 {number} 已{case.get_state_display()[1:]}，不能再上传附件", code="wrong_state")
    if kind not in ArchiveDocument.Kind.values:
        raise DomainError(f"未知的资料类型：{kind}", code="invalid")
    previous = None
    if supersedes_id is not None:
        previous = ArchiveDocument.objects.filter(pk=supersedes_id, case=case).first()
        if previous is None:
            raise NotFoundError("要更正的档案不属于本业务", details={"supersedes": supersedes_id})
    register_code = ""
    contract = Contract.objects.filter(contractor_id=case.contractor_code, status="current").first()
    if contract is not None:
        register_code = contract.code
    holder = case.subjects.values_list("name", flat=True).first() or case.applicant_name
    document = archive_add(
        actor=actor,
        content=content,
        filename=filename,
        kind=kind,
        title=title or ArchiveDocument.Kind(kind).label,
        collective_code=case.collective_code,
        case=case,
        register_code=register_code,
        contractor_code=case.contractor_code,
        holder_name=holder,
        supersedes=previous,
    )
    _step(case, action=CaseStep.Action.ATTACH, actor=actor, to_state=case.state, comment=document.title)
    return document
