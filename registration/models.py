"""Registration business (登记业务): cases and their steps, the contracts a case has signed,
the electronic archive, and the platform change messages.

A case (业务) follows the 2019 platform access spec's business types (101-107, 201-203) and
their items (1011-2031). It is filed as a pre-application, accepted, reviewed twice,
registered (登簿: the register changes, all at once), certified (缮证/发证) and closed; or it
is rejected or withdrawn with a reason. The register itself lives in ``parcels``; a case
only points at it (by the standard's codes) and at the ChangeRecords its registration wrote.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Left

CASE_NUMBER_RE = r"^\d{6}\d{8}\d{6}$"  # YWLSH: county 6 + yyyymmdd + 6-digit daily sequence


class BusinessType(models.TextChoices):
    """接入业务编码 (2019 接入规范 表1)."""

    INITIAL = "101", "初始登记"
    TRANSFER = "102", "转让登记"
    GENERAL = "103", "一般变更登记"
    EXCHANGE = "104", "互换登记"
    SPLIT = "105", "分户登记"
    MERGE = "106", "合户登记"
    CANCEL = "107", "注销登记"
    REISSUE = "201", "权证补发"
    REPLACE = "202", "权证换发"
    CERT_CANCEL = "203", "权证注销"


class BusinessItem(models.TextChoices):
    """业务事项编码 (2019 接入规范 表1)."""

    INITIAL_FAMILY = "1011", "初始登记：家庭承包方式"
    INITIAL_OTHER = "1012", "初始登记：其他方式承包"
    TRANSFER_ALL = "1021", "转让：全部地块转让"
    TRANSFER_SOME = "1022", "转让：部分地块转让"
    TRANSFER_PART = "1023", "转让：地块的部分转让（地块分割后再转让）"
    TRANSFER_SHARE = "1024", "转让：确权确股转让"
    MEMBERS = "1031", "一般变更：家庭成员变化"
    REPRESENTATIVE = "1032", "一般变更：承包方代表变更"
    PARCELS = "1033", "一般变更：地块增加、减少或减小"
    EXCHANGE_WHOLE = "1041", "互换：多块地互换"
    EXCHANGE_PART = "1042", "互换：地块的部分互换（分割后再互换）"
    SPLIT_WHOLE = "1051", "分户：只涉及整块地块分配"
    SPLIT_PARCEL = "1052", "分户：涉及地块的分割再分配"
    MERGE = "1061", "合户"
    CANCEL_VOLUNTARY = "1071", "注销：自愿退出"
    CANCEL_EXTINCT = "1072", "注销：农户消失"
    CANCEL_LOST = "1073", "注销：自然灾害导致全部土地灭失"
    REISSUE = "2011", "权证补发：权证灭失、遗失"
    REPLACE = "2021", "权证换发：权证破损"
    CERT_CANCEL = "2031", "权证注销"


class CaseState(models.TextChoices):
    PRE_APPLIED = "pre_applied", "预申请"
    ACCEPTED = "accepted", "已受理"
    PRELIMINARY = "preliminary", "已初审"
    REVIEWED = "reviewed", "已审核"
    REGISTERED = "registered", "已登簿"
    CERTIFIED = "certified", "已缮证发证"
    CLOSED = "closed", "已办结"
    REJECTED = "rejected", "已驳回"
    WITHDRAWN = "withdrawn", "已撤回"


OPEN_STATES = frozenset(
    {
        CaseState.PRE_APPLIED,
        CaseState.ACCEPTED,
        CaseState.PRELIMINARY,
        CaseState.REVIEWED,
        CaseState.REGISTERED,
        CaseState.CERTIFIED,
    }
)


def _user_fk(verbose: str) -> models.ForeignKey[User | None, User | None]:
    """Who took a step: empty until the step is taken (AUTH_USER_MODEL is Django's ``User``)."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )


class Case(models.Model):
    """业务: one registration business of one collective (发包方)."""

    number = models.CharField("业务流水号", max_length=20, unique=True)
    business_type = models.CharField("登记业务类型", max_length=3, choices=BusinessType.choices)
    item = models.CharField("业务事项", max_length=4, choices=BusinessItem.choices)
    state = models.CharField("状态", max_length=12, choices=CaseState.choices, default=CaseState.PRE_APPLIED)
    collective_code = models.CharField("发包方代码", max_length=14)
    contractor_code = models.CharField("承包方代码", max_length=18, blank=True, default="")
    applicant_name = models.CharField("申请人", max_length=50)
    applicant_id_type = models.CharField("申请人证件类型", max_length=1, default="1")
    applicant_id_number = models.CharField("申请人证件号码", max_length=20)
    applicant_phone = models.CharField("联系电话", max_length=20, blank=True, default="")
    reason = models.CharField("申请事由", max_length=200, blank=True, default="")
    # What the registration will do, per item (see registration.business): the clerk's
    # proposal, validated by a dry run at acceptance and applied at 登簿.
    proposal = models.JSONField("申请内容", default=dict, blank=True)
    # What the registration did: contract / register codes and parcel codes after 登簿.
    result = models.JSONField("登簿结果", default=dict, blank=True)
    end_reason = models.CharField("驳回/撤回原因", max_length=200, blank=True, default="")

    created_at = models.DateTimeField("预申请时间", auto_now_add=True)
    created_by = _user_fk("预申请人")
    accepted_at = models.DateTimeField("受理时间", null=True, blank=True)
    accepted_by = _user_fk("受理人")
    preliminary_at = models.DateTimeField("初审时间", null=True, blank=True)
    preliminary_by = _user_fk("初审人")
    reviewed_at = models.DateTimeField("审核时间", null=True, blank=True)
    reviewed_by = _user_fk("审核人")
    registered_at = models.DateTimeField("登簿时间", null=True, blank=True)
    registered_by = _user_fk("登簿人")
    certified_at = models.DateTimeField("缮证发证时间", null=True, blank=True)
    certified_by = _user_fk("缮证发证人")
    closed_at = models.DateTimeField("办结时间", null=True, blank=True)
    closed_by = _user_fk("办结人")
    ended_at = models.DateTimeField("驳回/撤回时间", null=True, blank=True)
    ended_by = _user_fk("驳回/撤回人")

    class Meta:
        db_table = "reg_case"
        verbose_name = "登记业务"
        verbose_name_plural = "登记业务"
        ordering = ["-created_at", "-number"]
        indexes = [
            models.Index(fields=["collective_code"], name="reg_case_fbfbm", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["state"], name="reg_case_state"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(number__regex=CASE_NUMBER_RE), name="reg_case_number_format"),
            models.CheckConstraint(condition=Q(item__startswith=F("business_type")), name="reg_case_item_of_type"),
            models.CheckConstraint(condition=Q(number__startswith=Left("collective_code", 6)), name="reg_case_county"),
            # Four eyes: whoever accepted a case neither reviews nor registers it.
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True) | ~Q(reviewed_by=F("accepted_by")),
                name="reg_case_reviewer_not_accepter",
            ),
            models.CheckConstraint(
                condition=Q(registered_by__isnull=True) | ~Q(registered_by=F("accepted_by")),
                name="reg_case_registrar_not_accepter",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["rejected", "withdrawn"]) | ~Q(end_reason=""),
                name="reg_case_end_needs_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.get_item_display()}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class CaseParcel(models.Model):
    """A parcel a case touches. While the case is open the parcel belongs to no other open
    case: a partial unique index on the parcel code, so two clerks cannot race past it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="parcels")
    parcel_code = models.CharField("地块代码", max_length=19)
    is_open = models.BooleanField("业务未办结", default=True)

    class Meta:
        db_table = "reg_case_parcel"
        verbose_name = "业务地块"
        verbose_name_plural = "业务地块"
        ordering = ["case_id", "parcel_code"]
        constraints = [
            models.UniqueConstraint(fields=["case", "parcel_code"], name="reg_case_parcel_once"),
            models.UniqueConstraint(
                fields=["parcel_code"], condition=Q(is_open=True), name="reg_parcel_in_one_open_case"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}/{self.parcel_code}"


class CaseSubject(models.Model):
    """A household (承包方) a case touches, and its role in the case."""

    class Role(models.TextChoices):
        APPLICANT = "applicant", "申请方"
        TRANSFEROR = "transferor", "转出方"
        TRANSFEREE = "transferee", "受让方"
        PARTY_A = "party_a", "互换甲方"
        PARTY_B = "party_b", "互换乙方"
        ORIGINAL = "original", "分户前承包方"
        NEW = "new", "分户后新承包方"
        MERGED = "merged", "合户前承包方"
        TARGET = "target", "合户后承包方"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="subjects")
    contractor_code = models.CharField("承包方代码", max_length=18, blank=True, default="")
    name = models.CharField("名称", max_length=50)
    role = models.CharField("角色", max_length=12, choices=Role.choices)

    class Meta:
        db_table = "reg_case_subject"
        verbose_name = "业务承包方"
        verbose_name_plural = "业务承包方"
        ordering = ["case_id", "id"]
        indexes = [models.Index(fields=["contractor_code"], name="reg_subject_cbfbm")]

    def __str__(self) -> str:
        return f"{self.get_role_display()} {self.name}"


class CaseStep(models.Model):
    """One step of a case: who did what, when, and why."""

    class Action(models.TextChoices):
        PRE_APPLY = "pre_apply", "预申请"
        ACCEPT = "accept", "受理"
        PREPARE_CONTRACTS = "prepare_contracts", "生成合同"
        SIGN = "sign", "签字确认"
        PRELIMINARY = "preliminary", "初审"
        REVIEW = "review", "审核"
        REGISTER = "register", "登簿"
        CERTIFY = "certify", "缮证发证"
        CLOSE = "close", "办结"
        REJECT = "reject", "驳回"
        WITHDRAW = "withdraw", "撤回"
        ATTACH = "attach", "上传附件"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps")
    action = models.CharField("操作", max_length=20, choices=Action.choices)
    from_state = models.CharField("原状态", max_length=12, choices=CaseState.choices, blank=True, default="")
    to_state = models.CharField("新状态", max_length=12, choices=CaseState.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField("时间", auto_now_add=True)
    comment = models.CharField("意见", max_length=200, blank=True, default="")

    class Meta:
        db_table = "reg_case_step"
        verbose_name = "业务环节"
        verbose_name_plural = "业务环节"
        ordering = ["case_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.get_action_display()}"


class CaseChange(models.Model):
    """A register change (ChangeRecord: the state before and after) written by a case's 登簿."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="changes")
    change = models.OneToOneField("parcels.ChangeRecord", on_delete=models.PROTECT, related_name="case_link")

    class Meta:
        db_table = "reg_case_change"
        verbose_name = "业务登记变更"
        verbose_name_plural = "业务登记变更"
        ordering = ["case_id", "change_id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.change_id}"


class ArchiveDocument(models.Model):
    """电子档案: an uploaded scan or a generated document. Immutable: the row and its file are
    never changed; a correction is a new row that ``supersedes`` the old one (one successor
    each, so the versions form a chain). The SHA-256 is checked on demand."""

    class Kind(models.TextChoices):
        APPLICATION = "application", "申请书"
        IDENTITY = "identity", "身份证明"
        HOUSEHOLD = "household", "户口簿"
        CONTRACT_SCAN = "contract_scan", "承包合同（扫描件）"
        SIGNATURE = "signature", "签字图像"
        CONTRACT = "contract", "承包合同"
        CERTIFICATE = "certificate", "承包经营权证"
        REGISTER_PAGE = "register_page", "登记簿"
        SKETCH_MAP = "sketch_map", "地块示意图"
        APPROVAL_FORM = "approval_form", "登记审批表"
        MESSAGE = "message", "接入报文"
        OTHER = "other", "其他资料"

    class Origin(models.TextChoices):
        UPLOADED = "uploaded", "上传"
        GENERATED = "generated", "系统生成"

    kind = models.CharField("资料类型", max_length=16, choices=Kind.choices)
    origin = models.CharField("来源", max_length=10, choices=Origin.choices)
    title = models.CharField("资料名称", max_length=100)
    file = models.FileField("文件", upload_to="archive/%Y/", max_length=200)
    filename = models.CharField("文件名", max_length=100)
    content_type = models.CharField("文件类型", max_length=50)
    size = models.PositiveBigIntegerField("大小（字节）")
    sha256 = models.CharField("SHA-256", max_length=64)
    case = models.ForeignKey(
        Case, verbose_name="业务", null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    collective_code = models.CharField("发包方代码", max_length=14)
    register_code = models.CharField("承包经营权证（登记簿）代码", max_length=19, blank=True, default="")
    contractor_code = models.CharField("承包方代码", max_length=18, blank=True, default="")
    holder_name = models.CharField("权利人名称", max_length=50, blank=True, default="")
    supersedes = models.OneToOneField(
        "self",
        verbose_name="更正的版本",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
    )
    version = models.PositiveIntegerField("版本", default=1)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="提交人", null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField("入库时间", auto_now_add=True)
    note = models.CharField("说明", max_length=200, blank=True, default="")

    class Meta:
        db_table = "reg_archive"
        verbose_name = "电子档案"
        verbose_name_plural = "电子档案"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["collective_code"], name="reg_archive_fbfbm", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["register_code"], name="reg_archive_cbjyqzbm"),
            models.Index(fields=["contractor_code"], name="reg_archive_cbfbm"),
            models.Index(fields=["created_at"], name="reg_archive_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="reg_archive_sha256_hex"),
            models.CheckConstraint(condition=Q(version__gte=1), name="reg_archive_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("电子档案不可修改：更正请提交新版本")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("电子档案不可删除")


class CaseContract(models.Model):
    """A contract a case makes or changes (新签/变更), to be signed by both parties before
    registration. ``fingerprint`` is the hash of its terms as generated; a signature counts
    only for the terms it signed, and 登簿 refuses when the registered terms differ."""

    class Kind(models.TextChoices):
        NEW = "new", "新签"
        CHANGED = "changed", "变更"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="contracts")
    contract_code = models.CharField("承包合同代码", max_length=19)
    kind = models.CharField("类型", max_length=8, choices=Kind.choices)
    collective_code = models.CharField("发包方代码", max_length=14)
    contractor_name = models.CharField("承包方名称", max_length=50)
    fingerprint = models.CharField("合同内容摘要", max_length=64)
    token = models.CharField("核验码", max_length=32, unique=True)
    document = models.ForeignKey(ArchiveDocument, verbose_name="合同文本", on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField("生成时间", auto_now_add=True)

    class Meta:
        db_table = "reg_case_contract"
        verbose_name = "业务合同"
        verbose_name_plural = "业务合同"
        ordering = ["case_id", "contract_code"]
        constraints = [models.UniqueConstraint(fields=["case", "contract_code"], name="reg_case_contract_once")]

    def __str__(self) -> str:
        return self.contract_code


class ContractSignature(models.Model):
    """签字确认 of one party to one version (fingerprint) of a case's contract: recorded by a
    clerk who saw the paper signed, or with a signature-pad image."""

    class Party(models.TextChoices):
        COLLECTIVE = "fbf", "发包方"
        CONTRACTOR = "cbf", "承包方"

    class Method(models.TextChoices):
        WITNESSED = "witnessed", "经办人确认签字"
        IMAGE = "image", "签字图像"

    case_contract = models.ForeignKey(CaseContract, on_delete=models.CASCADE, related_name="signatures")
    party = models.CharField("签约方", max_length=3, choices=Party.choices)
    fingerprint = models.CharField("签署的合同内容摘要", max_length=64)
    signer_name = models.CharField("签字人", max_length=50)
    signed_on = models.DateField("签字日期")
    method = models.CharField("方式", max_length=10, choices=Method.choices)
    image = models.ForeignKey(
        ArchiveDocument, verbose_name="签字图像", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="记录人", on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField("记录时间", auto_now_add=True)

    class Meta:
        db_table = "reg_contract_signature"
        verbose_name = "合同签字"
        verbose_name_plural = "合同签字"
        ordering = ["case_contract_id", "party", "recorded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case_contract", "party", "fingerprint"], name="reg_signature_once_per_version"
            ),
            models.CheckConstraint(
                condition=~Q(method="image") | Q(image__isnull=False), name="reg_signature_image_present"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_contract_id} {self.get_party_display()} {self.signer_name}"


class PlatformMessage(models.Model):
    """业务报文 of the 2019 接入规范 for a registered case, kept until it is uploaded."""

    class State(models.TextChoices):
        PENDING = "pending", "待上报"
        SENT = "sent", "已上报"

    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="message")
    sjbzm = models.CharField("数据标识码", max_length=36, unique=True)
    business_type = models.CharField("数据类型", max_length=3)
    filename = models.CharField("报文文件", max_length=100)
    xml = models.TextField("报文")
    sha256 = models.CharField("SHA-256", max_length=64)
    state = models.CharField("状态", max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField("生成时间", auto_now_add=True)
    sent_at = models.DateTimeField("上报时间", null=True, blank=True)

    class Meta:
        db_table = "reg_platform_message"
        verbose_name = "接入报文"
        verbose_name_plural = "接入报文"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename
