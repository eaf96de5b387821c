"""Documents of a case, read back as a person (or the platform) would: the Chinese text is
extracted from the PDFs, the QR code is decoded from the rendered page and opened, the
sketch maps are checked for 300 dpi; and the electronic archive (hashes, versions,
immutability, search, verification)."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pypdfium2 as pdfium
import pytest
import zxingcpp
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from PIL import Image
from pypdf import PdfReader

from gisapp.errors import DomainError, NotFoundError
from parcels.models import Contractor
from registration import archive, selectors, services, testing
from registration.documents import sketch
from registration.models import ArchiveDocument, Case, CaseContract
from tests import test_registration_business as business_tests
from tests.test_registration_business import C_ID, new_household

pytestmark = pytest.mark.django_db

village = business_tests.village  # the shared fixture: six parcels, two registered households

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def qr_codes(pdf: bytes) -> list[str]:
    found = []
    document = pdfium.PdfDocument(pdf)
    for index in range(len(document)):
        image = document[index].render(scale=2).to_pil()
        found += [result.text for result in zxingcpp.read_barcodes(image)]
    return found


def latest(case: Case, kind: str) -> ArchiveDocument:
    return case.documents.filter(kind=kind, superseded_by__isnull=True).order_by("-pk").first()  # type: ignore[return-value]


@pytest.fixture
def registered(village: dict[str, Any], django_capture_on_commit_callbacks: Any) -> Case:
    """An initial registration (赵六, parcel 6) up to its certificate, its documents filed."""
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_create(
            actor=village["clerk"],
            item="1011",
            collective_code=village["parcels"][5][:14],
            applicant_name="赵六",
            applicant_id_number=C_ID,
            proposal={
                "new_contractor": new_household(),
                "method": "110",
                "term_start": "2024-01-01",
                "parcels": [village["parcels"][5]],
            },
        )
        case = testing.walk(
            case, clerk=village["clerk"], reviewer=village["reviewer"], until="certify", base_url="http://testserver"
        )
    return case


def test_contract_pdf_text_and_qr_code_open_the_public_verification(registered: Case, client: Client) -> None:
    contract = latest(registered, ArchiveDocument.Kind.CONTRACT)
    assert contract.version == 2  # the draft the parties signed, then the registered text
    pdf = archive.archive_read(contract)
    text = text_of(pdf)
    code = registered.result["main_contract"]
    for expected in (
        "农村土地承包经营权承包合同",
        "东村一组",
        "赵六",
        code,
        "长久不变",
        "合同面积（m²）",
        "合同面积（亩）",
    ):
        assert expected in text, expected
    parcel = registered.parcels.get().parcel_code
    assert parcel in text
    assert "道路" in text and "村道" in text  # 东至 / 北至 of the parcel
    assert "已签字确认" in text and "草稿" not in text
    token = CaseContract.objects.get(case=registered).token
    (url,) = qr_codes(pdf)
    assert url == f"http://testserver/registration/verify/{token}"

    page = client.get(url.removeprefix("http://testserver"))  # anonymous
    assert page.status_code == 200
    html = page.content.decode()
    assert "有效（已登记）" in html and code in html
    assert "赵*" in html and "赵六" not in html and C_ID not in html


def test_draft_contract_carries_the_same_qr_and_a_draft_mark(registered: Case) -> None:
    draft = registered.documents.get(kind=ArchiveDocument.Kind.CONTRACT, version=1)
    pdf = archive.archive_read(draft)
    assert "草稿" in text_of(pdf)
    token = CaseContract.objects.get(case=registered).token
    assert qr_codes(pdf) == [f"http://testserver/registration/verify/{token}"]


def test_certificate_and_register_page(registered: Case) -> None:
    code = registered.result["main_contract"]
    certificate = text_of(archive.archive_read(latest(registered, ArchiveDocument.Kind.CERTIFICATE)))
    assert "农村土地承包经营权证" in certificate and "中华人民共和国" in certificate
    assert re.search(r"沪（\d{4}）示范区农村土地承包经营权证第\d{6}号", certificate)
    assert code in certificate and "赵六" in certificate and "长久不变" in certificate
    book = text_of(archive.archive_read(latest(registered, ArchiveDocument.Kind.REGISTER_PAGE)))
    assert "农村土地承包经营权登记簿" in book and "登记簿变更记录" in book and code in book


def test_sketch_map_is_300_dpi_with_neighbours(registered: Case) -> None:
    parcel = registered.parcels.get().parcel_code
    drawn = sketch.render_sketch(parcel)
    assert drawn.neighbours >= 1  # parcel 5 lies next to parcel 6
    image = Image.open(io.BytesIO(drawn.png))
    assert round(image.info["dpi"][0]) >= 300 and image.size == (drawn.width_px, drawn.height_px)
    document = latest(registered, ArchiveDocument.Kind.SKETCH_MAP)
    assert document.filename == f"DKSYT{registered.result['main_contract']}.pdf"
    reader = PdfReader(io.BytesIO(archive.archive_read(document)))
    images = list(reader.pages[0].images)
    assert images
    # printed at sketch.WIDTH_IN inches wide: the pixels per inch on paper
    assert images[0].image.width / sketch.WIDTH_IN >= 300
    assert "地块示意图" in reader.pages[0].extract_text()


def test_signature_image_is_archived_and_printed(village: dict[str, Any]) -> None:
    case = services.case_create(
        actor=village["clerk"],
        item="1011",
        collective_code=village["parcels"][5][:14],
        applicant_name="赵六",
        applicant_id_number=C_ID,
        proposal={
            "new_contractor": new_household(),
            "method": "110",
            "term_start": "2024-01-01",
            "parcels": [village["parcels"][5]],
        },
    )
    services.case_accept(actor=village["clerk"], number=case.number)
    (prepared,) = services.case_prepare_contracts(actor=village["clerk"], number=case.number)
    png = io.BytesIO()
    Image.new("RGB", (300, 100), "white").save(png, "PNG")
    signature = services.case_sign(
        actor=village["clerk"],
        number=case.number,
        contract_code=prepared.contract_code,
        party="cbf",
        signer_name="赵六",
        signed_on=timezone.localdate(),
        image=png.getvalue(),
    )
    assert signature.method == "image" and signature.image.kind == ArchiveDocument.Kind.SIGNATURE
    with pytest.raises(DomainError, match="只能上传"):
        services.case_sign(
            actor=village["clerk"],
            number=case.number,
            contract_code=prepared.contract_code,
            party="fbf",
            signer_name="王建国",
            signed_on=timezone.localdate(),
            image=PDF,
        )
    with pytest.raises(DomainError, match="晚于今天"):
        services.case_sign(
            actor=village["clerk"],
            number=case.number,
            contract_code=prepared.contract_code,
            party="fbf",
            signer_name="王建国",
            signed_on=timezone.localdate() + dt.timedelta(days=1),
        )


# --- the archive -------------------------------------------------------------------------


def test_uploads_are_hashed_immutable_and_corrected_by_new_versions(registered: Case, village: dict[str, Any]) -> None:
    clerk = village["clerk"]
    first = services.case_attach(
        actor=clerk, number=registered.number, content=PDF, filename="户口簿.pdf", kind="household", title="户口簿"
    )
    assert (first.size, first.content_type, first.author, first.version) == (len(PDF), "application/pdf", clerk, 1)
    assert first.sha256 == archive.sha256_of(PDF)
    assert first.register_code == registered.result["main_contract"]
    with pytest.raises(ValueError, match="不可修改"):
        first.title = "改名"
        first.save()
    with pytest.raises(ValueError, match="不可删除"):
        first.delete()
    second = services.case_attach(
        actor=clerk,
        number=registered.number,
        content=JPEG,
        filename="户口簿.jpg",
        kind="household",
        title="户口簿（更正）",
        supersedes_id=first.pk,
    )
    assert second.version == 2 and second.supersedes == first and second.content_type == "image/jpeg"
    first.refresh_from_db()
    assert first.title == "户口簿" and archive.archive_verify(first).ok  # the old version stays as it was
    with pytest.raises(DomainError, match="已有更新的版本"):
        services.case_attach(
            actor=clerk,
            number=registered.number,
            content=PDF,
            filename="x.pdf",
            kind="household",
            title="x",
            supersedes_id=first.pk,
        )
    with pytest.raises(NotFoundError, match="要更正的档案不属于本业务") as unknown:
        services.case_attach(
            actor=clerk,
            number=registered.number,
            content=PDF,
            filename="x.pdf",
            kind="household",
            title="x",
            supersedes_id=second.pk + 1000,
        )
    assert (unknown.value.code, unknown.value.http_status) == ("not_found", 404)
    with pytest.raises(DomainError, match="只能上传"):
        services.case_attach(
            actor=clerk, number=registered.number, content=b"hello", filename="a.txt", kind="other", title="x"
        )
    assert [d.pk for d in selectors.case_documents(registered) if d.kind == "household"] == [second.pk]


def test_archive_search_by_code_name_and_date(registered: Case, village: dict[str, Any]) -> None:
    clerk = village["clerk"]
    code = registered.result["main_contract"]
    by_code = selectors.archive_search(user=clerk, q=code)
    assert {d.kind for d in by_code} >= {"contract", "certificate", "register_page", "sketch_map"}
    assert all(d.register_code == code for d in by_code)
    assert selectors.archive_search(user=clerk, q="赵六").count() >= 4
    assert selectors.archive_search(user=clerk, q=registered.number).count() == registered.documents.count()
    today = timezone.localdate()
    assert selectors.archive_search(user=clerk, date_from=today, date_to=today).count() == registered.documents.count()
    assert not selectors.archive_search(user=clerk, date_to=today - dt.timedelta(days=1)).exists()
    assert selectors.archive_search(user=clerk, kind="certificate").count() == 1
    outsider = village["clerk"].__class__.objects.create_user("outsider")
    assert not selectors.archive_search(user=outsider, q=code).exists()


def test_verification_detects_a_changed_file(registered: Case) -> None:
    document = latest(registered, ArchiveDocument.Kind.CERTIFICATE)
    assert archive.archive_verify(document).ok
    path = default_storage.path(document.file.name)
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    try:
        result = archive.archive_verify(document)
        assert not result.ok and result.actual != result.expected and "不一致" in result.message
    finally:
        with open(path, "r+b") as handle:
            handle.truncate(document.size)
    assert archive.archive_verify(document).ok


def test_print_centre_merges_every_document(registered: Case, village: dict[str, Any], client: Client) -> None:
    client.force_login(village["clerk"])
    page = client.get(f"/registration/cases/{registered.number}/print")
    assert page.status_code == 200
    html = page.content.decode()
    for title in ("承包合同", "承包经营权证", "登记簿", "地块示意图"):
        assert title in html
    merged = client.get(f"/registration/cases/{registered.number}/print/all.pdf")
    assert merged.status_code == 200 and merged["Content-Type"] == "application/pdf"
    printable = [d for d in selectors.case_documents(registered) if d.content_type == "application/pdf"]
    pages = sum(len(PdfReader(io.BytesIO(archive.archive_read(d))).pages) for d in printable)
    assert (
        len(PdfReader(io.BytesIO(b"".join(merged.streaming_content if merged.streaming else [merged.content]))).pages)
        == pages
    )
    assert Contractor.objects.filter(name="赵六").exists()
