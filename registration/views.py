"""The registration pages (Chinese): inbox and case list, new case (pre-application), case
detail with its step buttons, print centre, archive search, and the public verification
page of a contract. Thin: selectors read, services write, errors become messages.

Who may open them: every page but ``verify`` is for signed-in clerks and reviewers
(register.edit / register.review, ``handles_registration``) and shows only cases and
documents of their jurisdiction (others get 404); each step's service checks the capability
the step needs (403). The public is sent to log in; other roles get 403."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pypdf import PdfWriter

from accounts.scoping import scope
from gisapp.errors import DomainError
from parcels.models import Collective
from registration import selectors, services
from registration.archive import archive_read, archive_verify
from registration.forms import ArchiveSearchForm, AttachForm, CaseForm, CertifyForm, ReasonForm, SignForm
from registration.models import ArchiveDocument, BusinessItem, Case

View = Callable[..., HttpResponseBase]


def handles_registration(view: View) -> View:
    """Signed-in clerks and reviewers only: the public is sent to log in, other roles get 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not selectors.may_handle(request.user):
            raise PermissionDenied("您的角色无权办理登记业务")
        return view(request, *args, **kwargs)

    return wrapped


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _errors(form: forms.Form) -> str:
    """A bound form's error messages in one line."""
    return "；".join(e["message"] for errors in form.errors.get_json_data().values() for e in errors)


def _fail(request: HttpRequest, error: DomainError, back: str) -> HttpResponseBase:
    if error.http_status == 403:
        raise PermissionDenied(error.message)
    messages.error(request, error.message)
    return redirect(back)


@require_GET
@handles_registration
def case_list(request: HttpRequest) -> HttpResponse:
    """The inbox (待办) and the case lists: clerks and reviewers, cases of their jurisdiction."""
    box = request.GET.get("box", "inbox")
    if box not in ("inbox", "open", "done", "all"):
        box = "inbox"
    q = request.GET.get("q", "").strip()
    item = request.GET.get("item", "")
    cases = selectors.case_list(user=request.user, box=box, q=q, item=item)
    return render(
        request,
        "registration/case_list.html",
        {"cases": cases, "box": box, "q": q, "item": item, "items": BusinessItem.choices},
    )


def _collectives(request: HttpRequest) -> list[tuple[str, str]]:
    return [(c.code, f"{c.name}（{c.code}）") for c in scope(Collective.objects.order_by("code"), request.user)]


@require_http_methods(["GET", "POST"])
@handles_registration
def case_new(request: HttpRequest) -> HttpResponseBase:
    """预申请 form: clerks (register.edit; the service refuses reviewers), for the collectives
    of their jurisdiction."""
    collectives = _collectives(request)
    if request.method == "POST":
        form = CaseForm(request.POST, collectives=collectives)
        if form.is_valid():
            d = form.cleaned_data
            try:
                case = services.case_create(
                    actor=selectors.acting_user(request.user),
                    item=d["item"],
                    collective_code=d["collective_code"],
                    applicant_name=d["applicant_name"],
                    applicant_id_type=d["applicant_id_type"],
                    applicant_id_number=d["applicant_id_number"],
                    applicant_phone=d.get("applicant_phone", ""),
                    reason=d.get("reason", ""),
                    proposal=d["proposal"],
                )
            except DomainError as error:
                if error.http_status == 403:
                    raise PermissionDenied(error.message) from error
                form.add_error(None, error.message)
            else:
                messages.success(request, f"预申请已登记，业务流水号 {case.number}")
                return redirect("registration:case-detail", number=case.number)
    else:
        form = CaseForm(collectives=collectives, initial={"item": request.GET.get("item", "1011")})
    return render(request, "registration/case_new.html", {"form": form})


@require_GET
@handles_registration
def case_detail(request: HttpRequest, number: str) -> HttpResponse:
    """A case with its steps and the buttons the user may press: clerks and reviewers in jurisdiction."""
    case = selectors.case_get(user=request.user, number=number)
    return render(
        request,
        "registration/case_detail.html",
        {
            "case": case,
            "actions": selectors.case_actions(user=request.user, case=case),
            "steps": case.steps.select_related("actor"),
            "parcels": case.parcels.all(),
            "subjects": case.subjects.all(),
            "contracts": selectors.case_contracts(case),
            "documents": selectors.case_documents(case),
            "changes": case.changes.select_related("change").order_by("change_id"),
            "sign_form": SignForm(),
            "attach_form": AttachForm(),
            "certify_form": CertifyForm(initial={"collector_name": case.applicant_name}),
            "reason_form": ReasonForm(),
        },
    )


# The steps without a form of their own: (request, actor, case number) -> the service's result.
ACTIONS: dict[str, Callable[[HttpRequest, User, str], object]] = {
    "accept": lambda r, u, n: services.case_accept(actor=u, number=n),
    "prepare": lambda r, u, n: services.case_prepare_contracts(actor=u, number=n, base_url=_base_url(r)),
    "preliminary": lambda r, u, n: services.case_preliminary(actor=u, number=n, comment=r.POST.get("comment", "")),
    "review": lambda r, u, n: services.case_review(actor=u, number=n, comment=r.POST.get("comment", "")),
    "register": lambda r, u, n: services.case_register(actor=u, number=n, base_url=_base_url(r)),
    "close": lambda r, u, n: services.case_close(actor=u, number=n),
    "documents": lambda r, u, n: services.case_file_documents(actor=u, number=n, base_url=_base_url(r)),
    "reject": lambda r, u, n: services.case_reject(actor=u, number=n, reason=r.POST.get("reason", "")),
    "withdraw": lambda r, u, n: services.case_withdraw(actor=u, number=n, reason=r.POST.get("reason", "")),
}
DONE = {
    "accept": "已受理",
    "prepare": "合同已生成，请打印后由双方签字",
    "preliminary": "初审通过",
    "review": "审核通过",
    "register": "已登簿",
    "certify": "权证已缮制发放",
    "close": "业务已办结",
    "documents": "登记文档已重新生成",
    "reject": "业务已驳回",
    "withdraw": "业务已撤回",
}


@require_POST
@handles_registration
def case_action(request: HttpRequest, number: str, action: str) -> HttpResponseBase:
    """One step of a case (``ACTIONS`` and 缮证发证): clerks and reviewers in jurisdiction; the
    step's service refuses a role that may not take it (403) and a step out of order."""
    case = selectors.case_get(user=request.user, number=number)
    actor = selectors.acting_user(request.user)
    back = reverse("registration:case-detail", args=[case.number])
    try:
        if action == "certify":
            form = CertifyForm(request.POST)
            if not form.is_valid():
                messages.error(request, "领取人信息有误：" + _errors(form))
                return redirect(back)
            services.case_certify(
                actor=actor,
                number=case.number,
                collector_name=form.cleaned_data.get("collector_name", ""),
                collector_id_number=form.cleaned_data.get("collector_id_number", ""),
            )
        elif action in ACTIONS:
            ACTIONS[action](request, actor, case.number)
        else:
            raise Http404("未知的操作")
    except DomainError as error:
        return _fail(request, error, back)
    messages.success(request, DONE[action])
    return HttpResponseRedirect(back)


@require_POST
@handles_registration
def case_sign(request: HttpRequest, number: str) -> HttpResponseBase:
    """签字确认 of one party: clerks (register.edit) in jurisdiction."""
    case = selectors.case_get(user=request.user, number=number)
    actor = selectors.acting_user(request.user)
    back = reverse("registration:case-detail", args=[case.number])
    form = SignForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "签字信息不完整：" + _errors(form))
        return redirect(back)
    d = form.cleaned_data
    upload = d.get("image")
    try:
        services.case_sign(
            actor=actor,
            number=case.number,
            contract_code=d["contract_code"],
            party=d["party"],
            signer_name=d["signer_name"],
            signed_on=d["signed_on"],
            image=upload.read() if upload else None,
            image_name=upload.name if upload else "signature.png",
        )
    except DomainError as error:
        return _fail(request, error, back)
    messages.success(request, "签字已确认")
    return redirect(back)


@require_POST
@handles_registration
def case_attach(request: HttpRequest, number: str) -> HttpResponseBase:
    """上传附件 (PDF or JPEG scan) to an open case: clerks (register.edit) in jurisdiction."""
    case = selectors.case_get(user=request.user, number=number)
    actor = selectors.acting_user(request.user)
    back = reverse("registration:case-detail", args=[case.number])
    form = AttachForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "请选择资料类型和文件")
        return redirect(back)
    d = form.cleaned_data
    try:
        services.case_attach(
            actor=actor,
            number=case.number,
            content=d["file"].read(),
            filename=d["file"].name,
            kind=d["kind"],
            title=d.get("title", ""),
            supersedes_id=d.get("supersedes"),
        )
    except DomainError as error:
        return _fail(request, error, back)
    messages.success(request, "附件已入档")
    return redirect(back)


@require_GET
@handles_registration
def print_centre(request: HttpRequest, number: str) -> HttpResponse:
    """The documents of a case to print: clerks and reviewers in jurisdiction."""
    case = selectors.case_get(user=request.user, number=number)
    documents = selectors.case_documents(case)
    printable = [d for d in documents if d.content_type in selectors.PRINTABLE]
    return render(
        request,
        "registration/print_centre.html",
        {"case": case, "documents": documents, "printable": printable},
    )


@require_GET
@handles_registration
def print_all(request: HttpRequest, number: str) -> HttpResponse:
    """Every printable document of the case in one PDF, in print order: clerks and reviewers
    in jurisdiction."""
    case = selectors.case_get(user=request.user, number=number)
    printable = [d for d in selectors.case_documents(case) if d.content_type in selectors.PRINTABLE]
    if not printable:
        raise Http404("本业务还没有可打印的文档")
    writer = PdfWriter()
    for document in printable:
        writer.append(io.BytesIO(archive_read(document)))
    buffer = io.BytesIO()
    writer.write(buffer)
    response = HttpResponse(buffer.getvalue(), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="YW{case.number}.pdf"'
    return response


@require_GET
@handles_registration
def document_file(request: HttpRequest, pk: int) -> HttpResponseBase:
    """An archived file as stored: clerks and reviewers, documents of their jurisdiction."""
    document = selectors.document_get(user=request.user, pk=pk)
    response = FileResponse(io.BytesIO(archive_read(document)), content_type=document.content_type)
    disposition = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(document.filename)}"
    response["X-Content-SHA256"] = document.sha256
    return response


@require_POST
@handles_registration
def document_verify(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Recompute an archived file's SHA-256: clerks and reviewers, documents of their
    jurisdiction. ``next`` may only lead back into this site."""
    document = selectors.document_get(user=request.user, pk=pk)
    result = archive_verify(document)
    (messages.success if result.ok else messages.error)(
        request, f"{document.title} v{document.version}：{result.message}"
    )
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("registration:archive") + f"?q={document.sha256}"
    return redirect(back)


@require_GET
@handles_registration
def archive(request: HttpRequest) -> HttpResponse:
    """Archive search by code, name and date: clerks and reviewers, documents of their jurisdiction."""
    form = ArchiveSearchForm(request.GET or None)
    documents: list[ArchiveDocument] = []
    searched = False
    if form.is_valid():
        d = form.cleaned_data
        searched = bool(request.GET)
        documents = list(
            selectors.archive_search(
                user=request.user,
                q=d.get("q", "").strip(),
                date_from=d.get("date_from"),
                date_to=d.get("date_to"),
                kind=d.get("kind", ""),
            )
        )
    return render(request, "registration/archive.html", {"form": form, "documents": documents, "searched": searched})


@require_GET
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """Public: anyone with the QR code sees the contract's status, with masked names only."""
    result = selectors.verification(token)
    status = 200 if result is not None else 404
    return render(request, "registration/verify.html", {"result": result}, status=status)


@require_GET
@handles_registration
def case_message(request: HttpRequest, number: str) -> HttpResponse:
    """The platform message (XML) of a registered case: clerks and reviewers in jurisdiction."""
    case: Case = selectors.case_get(user=request.user, number=number)
    message = getattr(case, "message", None)
    if message is None:
        raise Http404("本业务尚未登簿，没有接入报文")
    response = HttpResponse(message.xml, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{message.filename}"'
    return response
