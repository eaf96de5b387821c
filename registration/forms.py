"""Forms of the registration pages. The new-case form turns the clerk's entries into the
case's proposal (``registration.business`` documents its keys per item); member and parcel
lists are typed one per line, as clerks copy them from the household register."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils import timezone

from gisapp.privacy import mask_id_number
from parcels.models import CodeItem, FamilyMember
from parcels.models.base import Status
from registration.models import ArchiveDocument, BusinessItem, ContractSignature

SEX = {"男": "1", "女": "2", "1": "1", "2": "2"}
ID_TYPES = [("1", "居民身份证"), ("4", "户口簿"), ("5", "护照"), ("9", "其他证件")]
METHODS = [
    ("110", "110 家庭承包"),
    ("121", "121 招标"),
    ("122", "122 拍卖"),
    ("123", "123 公开协商"),
    ("129", "129 其他方式"),
]
GIVE = [("smaller", "较小的一块"), ("larger", "较大的一块")]
LINES = re.compile(r"[\r\n]+")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in LINES.split(text or "") if line.strip()]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"[,，\t ]+", line) if c.strip()]


class CaseForm(forms.Form):
    item = forms.ChoiceField(label="业务事项", choices=BusinessItem.choices)
    collective_code = forms.ChoiceField(label="发包方")
    applicant_name = forms.CharField(label="申请人", max_length=50)
    applicant_id_type = forms.ChoiceField(label="证件类型", choices=ID_TYPES, initial="1")
    applicant_id_number = forms.CharField(label="证件号码", max_length=20)
    applicant_phone = forms.CharField(label="联系电话", max_length=20, required=False)
    reason = forms.CharField(label="申请事由", max_length=200, required=False)

    contractor_code = forms.CharField(label="承包方代码", max_length=18, required=False)
    # 初始登记
    new_name = forms.CharField(label="承包方（户主）姓名", max_length=50, required=False)
    new_id_number = forms.CharField(label="户主证件号码", max_length=20, required=False)
    new_address = forms.CharField(label="承包方地址", max_length=100, required=False)
    new_postcode = forms.CharField(label="邮政编码", max_length=6, required=False)
    new_phone = forms.CharField(label="联系电话", max_length=20, required=False)
    members = forms.CharField(
        label="家庭成员（每行：姓名,性别,证件号码,与户主关系代码）",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    method = forms.ChoiceField(label="承包方式", choices=METHODS, initial="110", required=False)
    term_start = forms.DateField(label="承包期限起", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    long_term = forms.BooleanField(label="长久不变", required=False, initial=True)
    term_end = forms.DateField(label="承包期限止", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # parcels (whole): 初始登记, 转让, 互换甲方, 分户, 一般变更增加
    parcels = forms.CharField(
        label="地块代码（每行一个，可写“代码,合同面积”）", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    # the other side
    other_party = forms.CharField(label="对方承包方代码（受让方 / 互换乙方）", max_length=18, required=False)
    other_parcels = forms.CharField(
        label="对方交换的地块代码", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    # parcel split
    split_parcel = forms.CharField(label="分割的地块代码", max_length=19, required=False)
    split_line = forms.CharField(
        label="分割线（WKT，CGCS2000 经纬度）", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    split_give = forms.ChoiceField(label="分出的部分", choices=GIVE, required=False, initial="smaller")
    share_area = forms.DecimalField(label="转让的股份面积（m²）", required=False, max_digits=15, decimal_places=2)
    # 分户 / 一般变更（成员）
    members_out = forms.CharField(
        label="分出（减少）的成员证件号码（每行一个）", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    new_head_id_number = forms.CharField(label="新户主 / 新代表证件号码", max_length=20, required=False)
    former_head_relation = forms.CharField(label="原户主的新“与户主关系”代码", max_length=2, required=False)
    # 一般变更（地块）
    parcels_remove = forms.CharField(label="减少的地块代码", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    parcels_reduce = forms.CharField(
        label="减小的地块（每行：代码,减小后面积）", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    # 合户
    merged = forms.CharField(
        label="并入的承包方代码（每行一个）", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    # 注销 / 权证业务
    cause = forms.CharField(label="注销原因 / 权证业务原因", max_length=200, required=False)
    register_code = forms.CharField(label="承包经营权证（登记簿）代码", max_length=19, required=False)
    collector_name = forms.CharField(label="领取人姓名", max_length=50, required=False)
    collector_id_number = forms.CharField(label="领取人证件号码", max_length=20, required=False)

    def __init__(self, *args: Any, collectives: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        collective = self.fields["collective_code"]
        assert isinstance(collective, forms.ChoiceField)
        collective.choices = collectives
        self.fields["term_start"].initial = timezone.localdate()

    def _member_id(self, contractor: str, id_number: str, label: str) -> int:
        member = FamilyMember.objects.filter(
            contractor_id=contractor, id_number=id_number, status=Status.CURRENT
        ).first()
        if member is None:
            raise forms.ValidationError(
                f"{label}：证件号码 {mask_id_number(id_number)} 不是承包方 {contractor} 的现有家庭成员"
            )
        return member.pk

    def _members(self, text: str) -> list[dict[str, str]]:
        relations = set(CodeItem.objects.filter(table="GB4761").values_list("code", flat=True))
        rows = []
        for number, line in enumerate(_lines(text), start=1):
            cells = _cells(line)
            if len(cells) != 4 or cells[1] not in SEX or cells[3] not in relations:
                # the line is named by its number: it holds a name and an ID number
                raise forms.ValidationError(f"家庭成员格式应为“姓名,性别,证件号码,与户主关系代码”（第 {number} 行）")
            rows.append({"name": cells[0], "sex": SEX[cells[1]], "id_number": cells[2], "relation": cells[3]})
        return rows

    def _parcels(self, text: str) -> list[dict[str, str]]:
        rows = []
        for line in _lines(text):
            cells = _cells(line)
            row = {"code": cells[0]}
            if len(cells) > 1:
                row["contract_area"] = cells[1]
            rows.append(row)
        return rows

    def _split(self, data: dict[str, Any]) -> dict[str, str] | None:
        if not data.get("split_parcel"):
            return None
        return {
            "parcel": data["split_parcel"],
            "line": data.get("split_line", ""),
            "give": data.get("split_give") or "smaller",
        }

    def proposal(self) -> dict[str, Any]:
        """The proposal of the chosen item (call after ``is_valid``)."""
        d = self.cleaned_data
        item = d["item"]
        contractor = d.get("contractor_code", "")
        codes = [r["code"] for r in self._parcels(d.get("parcels", ""))]
        if item in ("1011", "1012"):
            proposal: dict[str, Any] = {
                "method": "110" if item == "1011" else (d.get("method") or "123"),
                "term_start": (d.get("term_start") or timezone.localdate()).isoformat(),
                "term_end": "9999-01-01" if d.get("long_term") or not d.get("term_end") else d["term_end"].isoformat(),
                "parcels": self._parcels(d.get("parcels", "")),
            }
            if contractor:
                proposal["contractor_code"] = contractor
            else:
                members = self._members(d.get("members", ""))
                head_id = d.get("new_id_number") or d["applicant_id_number"]
                if not any(m["id_number"] == head_id for m in members):
                    members.insert(
                        0,
                        {
                            "name": d.get("new_name") or d["applicant_name"],
                            "sex": "1",
                            "id_number": head_id,
                            "relation": "02",
                        },
                    )
                proposal["new_contractor"] = {
                    "kind": "1" if item == "1011" else ("1" if members else "2"),
                    "name": d.get("new_name") or d["applicant_name"],
                    "id_number": head_id,
                    "address": d.get("new_address", ""),
                    "postcode": d.get("new_postcode", ""),
                    "phone": d.get("new_phone", ""),
                    "members": members,
                }
            return proposal
        if item.startswith("102"):
            proposal = {"transferor": contractor, "transferee": d.get("other_party", "")}
            if item == "1022":
                proposal["parcels"] = codes
            if item == "1023":
                proposal["split"] = self._split(d)
            if item == "1024":
                proposal["share"] = {
                    "parcel": d.get("split_parcel") or (codes[0] if codes else ""),
                    "area": str(d.get("share_area") or ""),
                }
            return proposal
        if item == "1031":
            removes = [self._member_id(contractor, x, "减少的成员") for x in _lines(d.get("members_out", ""))]
            return {"contractor_code": contractor, "add": self._members(d.get("members", "")), "remove": removes}
        if item == "1032":
            return {
                "contractor_code": contractor,
                "member_id": self._member_id(contractor, d.get("new_head_id_number", ""), "新的承包方代表"),
                "former_head_relation": d.get("former_head_relation") or "10",
            }
        if item == "1033":
            reduce = [
                {"code": r["code"], "contract_area": r.get("contract_area", "")}
                for r in self._parcels(d.get("parcels_reduce", ""))
            ]
            return {
                "contractor_code": contractor,
                "add": self._parcels(d.get("parcels", "")),
                "remove": [r["code"] for r in self._parcels(d.get("parcels_remove", ""))],
                "reduce": reduce,
            }
        if item.startswith("104"):
            proposal = {
                "party_a": contractor,
                "party_b": d.get("other_party", ""),
                "a_parcels": codes,
                "b_parcels": [r["code"] for r in self._parcels(d.get("other_parcels", ""))],
            }
            if item == "1042":
                proposal["a_split"] = self._split(d)
            return proposal
        if item.startswith("105"):
            leaving = [self._member_id(contractor, x, "分出的成员") for x in _lines(d.get("members_out", ""))]
            head = d.get("new_head_id_number") or (_lines(d.get("members_out", "")) or [""])[0]
            proposal = {
                "original": contractor,
                "members": leaving,
                "head_member_id": self._member_id(contractor, head, "新户户主") if head else None,
                "parcels": codes,
            }
            if item == "1052":
                proposal["split"] = self._split(d)
            return proposal
        if item == "1061":
            return {"target": contractor, "merged": _lines(d.get("merged", ""))}
        if item.startswith("107"):
            return {"contractor_code": contractor, "cause": d.get("cause", "")}
        proposal = {"register_code": d.get("register_code", ""), "reason": d.get("cause", "")}
        if item in ("2011", "2021"):
            proposal.update(
                collector_name=d.get("collector_name") or d["applicant_name"],
                collector_id_type="1",
                collector_id_number=d.get("collector_id_number") or d["applicant_id_number"],
            )
        return proposal

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            self.cleaned_data["proposal"] = self.proposal()
        except forms.ValidationError as exc:
            raise exc
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(label="原因", max_length=200)


class SignForm(forms.Form):
    contract_code = forms.CharField(max_length=19)
    party = forms.ChoiceField(label="签约方", choices=ContractSignature.Party.choices)
    signer_name = forms.CharField(label="签字人", max_length=50)
    signed_on = forms.DateField(label="签字日期", widget=forms.DateInput(attrs={"type": "date"}))
    image = forms.FileField(label="签字图像（可选）", required=False)


class CertifyForm(forms.Form):
    collector_name = forms.CharField(label="领取人", max_length=50, required=False)
    collector_id_number = forms.CharField(label="领取人证件号码", max_length=20, required=False)


UPLOAD_KINDS = [
    (k.value, k.label)
    for k in (
        ArchiveDocument.Kind.APPLICATION,
        ArchiveDocument.Kind.IDENTITY,
        ArchiveDocument.Kind.HOUSEHOLD,
        ArchiveDocument.Kind.CONTRACT_SCAN,
        ArchiveDocument.Kind.OTHER,
    )
]


class AttachForm(forms.Form):
    kind = forms.ChoiceField(label="资料类型", choices=UPLOAD_KINDS)
    title = forms.CharField(label="资料名称", max_length=100, required=False)
    file = forms.FileField(label="文件（PDF 或 JPEG）")
    supersedes = forms.IntegerField(label="更正的档案", required=False, widget=forms.HiddenInput)


class ArchiveSearchForm(forms.Form):
    q = forms.CharField(label="代码或名称", required=False)
    date_from = forms.DateField(label="入库日期从", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="至", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(label="资料类型", required=False, choices=[("", "全部"), *ArchiveDocument.Kind.choices])
