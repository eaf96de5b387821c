"""Register writes that ``parcels.services`` does not have yet and that registration cases
need: member removal and changes, a household's representative, retiring contractors,
contracts and register entries, moving parcel links between contracts, and the certificate
records (补发, 换发, 注销). They follow ``parcels.services`` to the letter (jurisdiction,
``full_clean``, ``create_versioned`` / ``update_versioned`` with history and versions) so
they can move there unchanged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.scoping import ensure_in_jurisdiction
from gisapp.errors import DomainError
from parcels.models import (
    Certificate,
    CertificateCancellation,
    CertificateReissue,
    CertificateReplacement,
    ChangeRecord,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    RegisterBook,
)
from parcels.models.base import Status
from parcels.services import Actor, create_versioned, retire_versioned, sqm_to_mu, term_text, update_versioned

RETIRE = ChangeRecord.Action.RETIRE
HEAD_RELATIONS = ("01", "02")


def _current_members(contractor_code: str) -> list[FamilyMember]:
    return list(FamilyMember.objects.filter(contractor_id=contractor_code, status=Status.CURRENT).order_by("id"))


@transaction.atomic
def member_update(*, actor: Actor, member_id: int, expected_version: int, reason: str, **changes: Any) -> FamilyMember:
    """Change a family member's data (name, ID, relation, remark …)."""
    member = FamilyMember.objects.get(pk=member_id)
    ensure_in_jurisdiction(actor, member.contractor_id)
    if member.status != Status.CURRENT:
        raise DomainError(f"家庭成员 {member.name} 已是历史记录，不能修改")
    allowed = {"name", "sex", "id_type", "id_number", "relation", "remark", "is_co_owner", "remark_note"}
    unknown = set(changes) - allowed
    if unknown:
        raise DomainError(f"家庭成员属性不可修改：{', '.join(sorted(unknown))}")
    return update_versioned(
        FamilyMember, pk=member.pk, expected_version=expected_version, changes=changes, actor=actor, reason=reason
    )


@transaction.atomic
def member_retire(*, actor: Actor, member_id: int, reason: str) -> FamilyMember:
    """A member leaves the household (moved out, deceased, split off): the row becomes history."""
    member = FamilyMember.objects.get(pk=member_id)
    ensure_in_jurisdiction(actor, member.contractor_id)
    if member.status != Status.CURRENT:
        raise DomainError(f"家庭成员 {member.name} 已是历史记录")
    return retire_versioned(member, actor=actor, reason=reason)


@transaction.atomic
def contractor_recount_members(*, actor: Actor, contractor_code: str, reason: str) -> Contractor:
    """CBFCYSL follows the household's current members; a household keeps one head."""
    contractor = Contractor.objects.get(code=contractor_code)
    members = _current_members(contractor_code)
    if contractor.kind == Contractor.Kind.HOUSEHOLD:
        if not members:
            raise DomainError(f"承包方 {contractor.name} 至少要保留一名家庭成员", code="members_required")
        heads = [m for m in members if m.relation in HEAD_RELATIONS]
        if len(heads) != 1:
            raise DomainError(
                f"承包方 {contractor.name} 必须有且只有一名户主（与户主关系 01 本人 或 02 户主），现有 {len(heads)} 名",
                code="head_required",
            )
    count = len(members) if contractor.kind == Contractor.Kind.HOUSEHOLD else 1
    if contractor.member_count == count:
        return contractor
    return update_versioned(
        Contractor,
        pk=contractor.pk,
        expected_version=contractor.version,
        changes={"member_count": count},
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def contractor_representative_change(
    *, actor: Actor, contractor_code: str, member_id: int, former_head_relation: str, reason: str
) -> Contractor:
    """承包方代表变更: a current member becomes the head (与户主关系 02) and the household's
    representative (CBFMC, CBFZJLX, CBFZJHM); the former head gets ``former_head_relation``."""
    ensure_in_jurisdiction(actor, contractor_code)
    contractor = Contractor.objects.get(code=contractor_code)
    members = _current_members(contractor_code)
    new_head = next((m for m in members if m.pk == member_id), None)
    if new_head is None:
        raise DomainError("新的承包方代表必须是该户的现有家庭成员", code="member_missing")
    if former_head_relation in HEAD_RELATIONS:
        raise DomainError("原户主的与户主关系不能仍为本人或户主", code="head_required")
    for member in members:
        if member.pk != new_head.pk and member.relation in HEAD_RELATIONS:
            member_update(
                actor=actor,
                member_id=member.pk,
                expected_version=member.version,
                reason=reason,
                relation=former_head_relation,
            )
    if new_head.relation != "02":
        member_update(
            actor=actor, member_id=new_head.pk, expected_version=new_head.version, reason=reason, relation="02"
        )
    return update_versioned(
        Contractor,
        pk=contractor.pk,
        expected_version=contractor.version,
        changes={"name": new_head.name, "id_type": new_head.id_type, "id_number": new_head.id_number},
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def contractor_retire(*, actor: Actor, contractor_code: str, reason: str) -> Contractor:
    """A household that no longer exists (消失, merged into another): it and its members become history."""
    ensure_in_jurisdiction(actor, contractor_code)
    contractor = Contractor.objects.get(code=contractor_code)
    if contractor.status != Status.CURRENT:
        raise DomainError(f"承包方 {contractor.name} 已是历史记录")
    if Contract.objects.filter(contractor_id=contractor_code, status=Status.CURRENT).exists():
        raise DomainError(f"承包方 {contractor.name} 还有现势承包合同，不能注销", code="contract_current")
    for member in _current_members(contractor_code):
        member_retire(actor=actor, member_id=member.pk, reason=reason)
    return retire_versioned(contractor, actor=actor, reason=reason)


# --- parcel links and contracts ----------------------------------------------------------


@transaction.atomic
def link_retire(*, actor: Actor, link_id: int, reason: str) -> ContractParcel:
    link = ContractParcel.objects.get(pk=link_id)
    ensure_in_jurisdiction(actor, link.contract_id)
    if link.status != Status.CURRENT:
        raise DomainError(f"地块 {link.parcel_id} 已不在合同 {link.contract_id} 中")
    return retire_versioned(link, actor=actor, reason=reason)


@transaction.atomic
def link_create(
    *,
    actor: Actor,
    contract_code: str,
    parcel_code: str,
    contract_area: Decimal,
    acquisition: str,
    reason: str,
    is_share: str | None = None,
    original_area: Decimal | None = None,
    transfer_contract_code: str | None = None,
) -> ContractParcel:
    """Add one parcel (or, for 确权确股, a share of one) to a current contract."""
    ensure_in_jurisdiction(actor, contract_code)
    contract = Contract.objects.get(code=contract_code)
    if contract.status != Status.CURRENT:
        raise DomainError(f"承包合同 {contract_code} 已是历史记录")
    parcel = Parcel.objects.get(code=parcel_code)
    if parcel.status != Status.CURRENT:
        raise DomainError(f"地块 {parcel_code} 已是历史地块，不能承包", code="historic")
    if is_share != "1":
        busy = (
            ContractParcel.objects.filter(parcel_id=parcel_code, status=Status.CURRENT, contract__status=Status.CURRENT)
            .exclude(is_share="1")
            .values_list("contract_id", flat=True)
            .first()
        )
        if busy:
            raise DomainError(f"地块 {parcel_code} 已在现势承包合同 {busy} 中", code="parcel_contracted")
    if contract_area <= 0:
        raise DomainError(f"地块 {parcel_code} 的合同面积必须大于0", code="area")
    return create_versioned(
        ContractParcel(
            parcel_id=parcel_code,
            collective_id=contract.collective_id,
            contractor_id=contract.contractor_id,
            acquisition=acquisition,
            contract_area=contract_area,
            contract_area_mu=sqm_to_mu(contract_area),
            original_area=original_area,
            original_area_mu=sqm_to_mu(original_area) if original_area is not None else None,
            contract_id=contract_code,
            register_code=contract_code,
            is_share=is_share,
            transfer_contract_code=transfer_contract_code,
        ),
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def link_update(*, actor: Actor, link_id: int, reason: str, **changes: Any) -> ContractParcel:
    link = ContractParcel.objects.get(pk=link_id)
    ensure_in_jurisdiction(actor, link.contract_id)
    if "contract_area" in changes:
        changes["contract_area_mu"] = sqm_to_mu(changes["contract_area"])
    return update_versioned(
        ContractParcel, pk=link.pk, expected_version=link.version, changes=changes, actor=actor, reason=reason
    )


@transaction.atomic
def contract_update(*, actor: Actor, contract_code: str, reason: str, **changes: Any) -> Contract:
    ensure_in_jurisdiction(actor, contract_code)
    contract = Contract.objects.get(code=contract_code)
    if contract.status != Status.CURRENT:
        raise DomainError(f"承包合同 {contract_code} 已是历史记录")
    return update_versioned(
        Contract, pk=contract.pk, expected_version=contract.version, changes=changes, actor=actor, reason=reason
    )


@transaction.atomic
def contract_retire(*, actor: Actor, contract_code: str, reason: str) -> Contract:
    """The contract ends (all land transferred, merged, cancelled): its parcel links and the
    contract become history; the totals stay as they were when it ended."""
    ensure_in_jurisdiction(actor, contract_code)
    contract = Contract.objects.get(code=contract_code)
    if contract.status != Status.CURRENT:
        raise DomainError(f"承包合同 {contract_code} 已是历史记录")
    for link in ContractParcel.objects.filter(contract_id=contract_code, status=Status.CURRENT):
        link_retire(actor=actor, link_id=link.pk, reason=reason)
    return retire_versioned(contract, actor=actor, reason=reason)


@transaction.atomic
def register_book_update(
    *, actor: Actor, code: str, registrar: str, registered_on: dt.date, reason: str, note: str | None = None
) -> RegisterBook:
    """变更登记 of a register entry: the book follows its contract (method, term) and records
    who registered the change and when; the former state stays in history."""
    ensure_in_jurisdiction(actor, code)
    book = RegisterBook.objects.get(code=code)
    if book.status != Status.CURRENT:
        raise DomainError(f"登记簿 {code} 已注销")
    contract = Contract.objects.get(code=code)
    if registered_on < contract.signed_on:
        raise DomainError("登记时间不能早于合同签订时间", code="dates_order")
    changes: dict[str, Any] = {
        "method": contract.method,
        "term": term_text(contract.term_start, contract.term_end),
        "term_start": contract.term_start,
        "term_end": contract.term_end,
        "registrar": registrar,
        "registered_on": registered_on,
    }
    if note is not None:
        changes["note"] = note[:254]
    return update_versioned(
        RegisterBook, pk=book.pk, expected_version=book.version, changes=changes, actor=actor, reason=reason
    )


@transaction.atomic
def register_book_retire(*, actor: Actor, code: str, reason: str) -> RegisterBook:
    ensure_in_jurisdiction(actor, code)
    book = RegisterBook.objects.get(code=code)
    if book.status != Status.CURRENT:
        raise DomainError(f"登记簿 {code} 已注销")
    return retire_versioned(book, actor=actor, reason=reason)


# --- certificates ------------------------------------------------------------------------


def _valid_certificate(register_code: str, action: str) -> Certificate:
    certificate = Certificate.objects.filter(register_book__code=register_code).first()
    if certificate is None:
        raise DomainError(f"登记簿 {register_code} 尚未发证，不能{action}", code="no_certificate")
    if certificate.state == Certificate.State.CANCELLED:
        raise DomainError(f"权证 {register_code} 已注销，不能{action}", code="certificate_cancelled")
    return certificate


@transaction.atomic
def certificate_reissue(
    *,
    actor: Actor,
    register_code: str,
    reason: str,
    reissued_on: dt.date,
    collected_on: dt.date,
    collector_name: str,
    collector_id_type: str,
    collector_id_number: str,
) -> CertificateReissue:
    """权证补发 (CBJYQZ_QZBF) of a lost certificate; a cancelled one cannot be reissued."""
    ensure_in_jurisdiction(actor, register_code)
    certificate = _valid_certificate(register_code, "补发")
    if reissued_on < certificate.issued_on:
        raise DomainError("补发日期不能早于原发证日期", code="dates_order")
    if collected_on < reissued_on:
        raise DomainError("领取日期不能早于补发日期", code="dates_order")
    return create_versioned(
        CertificateReissue(
            certificate_id=register_code,
            reason=reason,
            reissued_on=reissued_on,
            collected_on=collected_on,
            collector_name=collector_name,
            collector_id_type=collector_id_type,
            collector_id_number=collector_id_number,
        ),
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def certificate_replace(
    *,
    actor: Actor,
    register_code: str,
    reason: str,
    replaced_on: dt.date,
    collected_on: dt.date,
    collector_name: str,
    collector_id_type: str,
    collector_id_number: str,
) -> CertificateReplacement:
    """权证换发 (CBJYQZ_QZHF): a damaged certificate, or a new one after a change registration.
    The certificate's issue date moves to the replacement date (its old value stays in history)."""
    ensure_in_jurisdiction(actor, register_code)
    certificate = _valid_certificate(register_code, "换发")
    book = RegisterBook.objects.get(code=register_code)
    if replaced_on < certificate.issued_on or replaced_on < book.registered_on:
        raise DomainError("换发日期不能早于原发证日期和登记时间", code="dates_order")
    if collected_on < replaced_on:
        raise DomainError("领取日期不能早于换发日期", code="dates_order")
    record = create_versioned(
        CertificateReplacement(
            certificate_id=register_code,
            reason=reason,
            replaced_on=replaced_on,
            collected_on=collected_on,
            collector_name=collector_name,
            collector_id_type=collector_id_type,
            collector_id_number=collector_id_number,
        ),
        actor=actor,
        reason=reason,
    )
    update_versioned(
        Certificate,
        pk=certificate.pk,
        expected_version=certificate.version,
        changes={
            "issued_on": replaced_on,
            "collected": "1",
            "collected_on": collected_on,
            "collector_name": collector_name,
            "collector_id_type": collector_id_type,
            "collector_id_number": collector_id_number,
        },
        actor=actor,
        reason=reason,
    )
    return record


@transaction.atomic
def certificate_cancel(
    *, actor: Actor, register_code: str, reason: str, cancelled_on: dt.date
) -> CertificateCancellation:
    """权证注销 (CBJYQZ_QZZX): the certificate is void from then on."""
    ensure_in_jurisdiction(actor, register_code)
    certificate = _valid_certificate(register_code, "注销")
    if cancelled_on < certificate.issued_on:
        raise DomainError("注销日期不能早于发证日期", code="dates_order")
    record = create_versioned(
        CertificateCancellation(certificate_id=register_code, reason=reason, cancelled_on=cancelled_on),
        actor=actor,
        reason=reason,
    )
    update_versioned(
        Certificate,
        pk=certificate.pk,
        expected_version=certificate.version,
        changes={"state": Certificate.State.CANCELLED},
        actor=actor,
        reason=reason,
        action=RETIRE,
    )
    return record


@transaction.atomic
def parcel_retire(*, actor: Actor, code: str, reason: str) -> Parcel:
    """Land that no longer exists (灭失: flood, landslide …): the parcel becomes history. Its
    contract links must have ended first."""
    ensure_in_jurisdiction(actor, code)
    parcel = Parcel.objects.get(code=code)
    if parcel.status != Status.CURRENT:
        raise DomainError(f"地块 {code} 已是历史地块")
    if ContractParcel.objects.filter(parcel_id=code, status=Status.CURRENT, contract__status=Status.CURRENT).exists():
        raise DomainError(f"地块 {code} 仍在现势承包合同中", code="parcel_contracted")
    return retire_versioned(parcel, actor=actor, reason=reason[:200])
