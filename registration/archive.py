"""The electronic archive (电子档案): every uploaded scan and every generated document, stored
once with its SHA-256, size, type, author and time, linked to its case and register entry.

Files are content-addressed (``archive/<sha[:2]>/<sha>.<ext>``) and never overwritten; a row
is never changed. A correction is a new document that supersedes the old one (version + 1).
``archive_verify`` recomputes the hash of the stored file on demand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from accounts.scoping import ensure_in_jurisdiction
from gisapp.errors import DomainError
from parcels.services import Actor
from registration.models import ArchiveDocument, Case

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # a scanned 30-page contract at 300 dpi is ~10 MB
# Uploads are recognised by their first bytes, not by the name or the browser's claim.
SIGNATURES = {
    b"%PDF-": ("application/pdf", ".pdf"),
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
}
SCAN_TYPES = frozenset({"application/pdf", "image/jpeg"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
GENERATED_TYPES = {"application/pdf": ".pdf", "application/xml": ".xml", "image/png": ".png", "image/jpeg": ".jpg"}


def sniff(content: bytes) -> tuple[str, str] | None:
    for magic, kind in SIGNATURES.items():
        if content.startswith(magic):
            return kind
    return None


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _store(content: bytes, digest: str, extension: str) -> str:
    name = f"archive/{digest[:2]}/{digest}{extension}"
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(content))
        if saved != name:  # a concurrent writer stored the same bytes first
            default_storage.delete(saved)
    return name


@transaction.atomic
def archive_add(
    *,
    actor: Actor,
    content: bytes,
    filename: str,
    kind: str,
    title: str,
    collective_code: str,
    origin: str = ArchiveDocument.Origin.UPLOADED,
    content_type: str | None = None,
    case: Case | None = None,
    register_code: str = "",
    contractor_code: str = "",
    holder_name: str = "",
    supersedes: ArchiveDocument | None = None,
    note: str = "",
    allowed_types: frozenset[str] = SCAN_TYPES,
) -> ArchiveDocument:
    """Store a document. Uploads must be PDF or JPEG (by content); generated documents say
    their type. ``supersedes`` makes this a correction: the next version of that document.

    Example: ``archive_add(actor=clerk, content=pdf, filename="户口簿.pdf", kind="household",
    title="户口簿", collective_code="31015110100101", case=case)``
    """
    ensure_in_jurisdiction(actor, collective_code)
    if not content:
        raise DomainError("文件为空", code="empty_file")
    if len(content) > MAX_UPLOAD_BYTES:
        raise DomainError(f"文件超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", code="file_too_large")
    if origin == ArchiveDocument.Origin.UPLOADED:
        sniffed = sniff(content)
        if sniffed is None or sniffed[0] not in allowed_types:
            names = "、".join(
                sorted({"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}[t] for t in allowed_types)
            )
            raise DomainError(f"只能上传 {names} 文件", code="file_type")
        content_type, extension = sniffed
    else:
        if content_type not in GENERATED_TYPES:
            raise DomainError(f"不支持的文件类型 {content_type}")
        extension = GENERATED_TYPES[content_type]
    version = 1
    if supersedes is not None:
        if ArchiveDocument.objects.filter(supersedes=supersedes).exists():
            raise DomainError(f"档案“{supersedes.title}”已有更新的版本，请更正最新版本", code="not_latest")
        if supersedes.collective_code != collective_code:
            raise DomainError("更正版本必须属于同一发包方", code="collectives_differ")
        version = supersedes.version + 1
    digest = sha256_of(content)
    name = _store(content, digest, extension)
    document = ArchiveDocument(
        kind=kind,
        origin=origin,
        title=title[:100],
        filename=filename[-100:],
        content_type=content_type,
        size=len(content),
        sha256=digest,
        case=case,
        collective_code=collective_code,
        register_code=register_code,
        contractor_code=contractor_code,
        holder_name=holder_name[:50],
        supersedes=supersedes,
        version=version,
        author=actor,
        note=note[:200],
    )
    document.file.name = name
    document.full_clean()
    try:
        with transaction.atomic():
            document.save(force_insert=True)
    except IntegrityError as exc:
        raise DomainError(f"档案“{title}”已有更新的版本", code="not_latest") from exc
    return document


def archive_read(document: ArchiveDocument) -> bytes:
    with default_storage.open(document.file.name, "rb") as handle:
        return handle.read()


@dataclass(frozen=True)
class Verification:
    ok: bool
    expected: str
    actual: str
    size: int | None
    message: str


def archive_verify(document: ArchiveDocument) -> Verification:
    """Recompute the stored file's SHA-256 and compare it with the one recorded at filing."""
    try:
        content = archive_read(document)
    except (FileNotFoundError, OSError):
        return Verification(False, document.sha256, "", None, "文件缺失")
    actual = sha256_of(content)
    if actual != document.sha256 or len(content) != document.size:
        return Verification(False, document.sha256, actual, len(content), "校验失败：文件内容与入库时不一致")
    return Verification(True, document.sha256, actual, len(content), "校验通过：文件与入库时一致")
