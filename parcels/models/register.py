"""The ownership (权属) tables of NY/T 2539 appendix B: FBF, CBF, CBF_JTCY, CBHT, CBDKXX,
LZHT, QSLYZLFJ, CBJYQZDJB, CBJYQZ, CBJYQZ_QZBF, CBJYQZ_QZHF, CBJYQZ_QZZX.

Table and column names are the standard's (lower case); references between tables are
foreign keys on the standard's codes (``to_field="code"``), so a row here is a row there.
Widths and nullability follow the template ``权属数据.mdb``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Left

from parcels.models.base import Status, Versioned, area_field, coded, date, text


class Collective(Versioned):
    """发包方 (FBF): the village or group collective that lets the land."""

    code = models.CharField("发包方代码", max_length=14, unique=True, db_column="fbfbm")
    name = text("fbfmc", "发包方名称", 50)
    head_name = text("fbffzrxm", "发包方负责人姓名", 50)
    head_id_type = coded("fzrzjlx", "负责人证件类型", "C.15", 1)
    head_id_number = text("fzrzjhm", "负责人证件号码", 30)
    phone = text("lxdh", "联系电话", 15, required=False)
    address = text("fbfdz", "发包方地址", 100)
    postcode = text("yzbm", "邮政编码", 6)
    surveyor = text("fbfdcy", "发包方调查员", 254)
    survey_date = date("fbfdcrq", "发包方调查日期")
    survey_notes = models.TextField("发包方调查记事", db_column="fbfdcjs", null=True, blank=True)

    class Meta:
        db_table = "fbf"
        verbose_name = "发包方"
        verbose_name_plural = "发包方"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Contractor(Versioned):
    """承包方 (CBF): a household (农户), an individual (个人) or a unit (单位)."""

    class Kind(models.TextChoices):
        HOUSEHOLD = "1", "农户"
        INDIVIDUAL = "2", "个人"
        UNIT = "3", "单位"

    code = models.CharField("承包方代码", max_length=18, unique=True, db_column="cbfbm")
    # Not a column of CBF in the standard (it is CBFBM's prefix); kept as a key for integrity.
    collective = models.ForeignKey(
        Collective, verbose_name="发包方", to_field="code", db_column="fbfbm", on_delete=models.PROTECT
    )
    kind = coded("cbflx", "承包方类型", "C.16", 1, choices=Kind.choices)
    name = text("cbfmc", "承包方（代表）名称", 50)
    id_type = coded("cbfzjlx", "承包方（代表）证件类型", "C.15", 1)
    id_number = text("cbfzjhm", "承包方（代表）证件号码", 20)
    address = text("cbfdz", "承包方地址", 100)
    postcode = text("yzbm", "邮政编码", 6)
    phone = text("lxdh", "联系电话", 20, required=False)
    member_count = models.SmallIntegerField("承包方成员数量", db_column="cbfcysl")
    survey_date = date("cbfdcrq", "承包方调查日期")
    surveyor = text("cbfdcy", "承包方调查员", 50)
    survey_notes = models.TextField("承包方调查记事", db_column="cbfdcjs", null=True, blank=True)
    publicity_notes = text("gsjs", "公示记事", 254, required=False)
    publicity_recorder = text("gsjsr", "公示记事人", 50)
    publicity_review_date = date("gsshrq", "公示审核日期")
    publicity_reviewer = text("gsshr", "公示审核人", 50)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.CURRENT)

    class Meta:
        db_table = "cbf"
        verbose_name = "承包方"
        verbose_name_plural = "承包方"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(collective=Left("code", 14)), name="cbf_code_prefix_is_fbfbm"),
            models.CheckConstraint(condition=Q(member_count__gt=0), name="cbf_member_count_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code}"


class FamilyMember(Versioned):
    """家庭成员 (CBF_JTCY) of a household contractor."""

    contractor = models.ForeignKey(
        Contractor,
        verbose_name="承包方",
        to_field="code",
        db_column="cbfbm",
        on_delete=models.PROTECT,
        related_name="members",
    )
    name = text("cyxm", "成员姓名", 50)
    sex = coded("cyxb", "成员性别", "C.17", 1)
    id_type = coded("cyzjlx", "成员证件类型", "C.15", 1)
    id_number = text("cyzjhm", "成员证件号码", 20)
    relation = coded("yhzgx", "与户主关系", "GB4761", 2)
    remark = coded("cybz", "成员备注", "C.18", 1, required=False)
    is_co_owner = coded("sfgyr", "是否共有人", "C.19", 1, required=False)
    remark_note = text("cybzsm", "成员备注说明", 254, required=False)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.CURRENT)

    class Meta:
        db_table = "cbf_jtcy"
        verbose_name = "家庭成员"
        verbose_name_plural = "家庭成员"
        ordering = ["contractor_id", "id"]

    def __str__(self) -> str:
        return f"{self.contractor_id} 成员"


class Contract(Versioned):
    """承包合同 (CBHT)."""

    code = models.CharField("承包合同代码", max_length=19, unique=True, db_column="cbhtbm")
    original_code = text("ycbhtbm", "原承包合同代码", 19, required=False)
    collective = models.ForeignKey(
        Collective, verbose_name="发包方", to_field="code", db_column="fbfbm", on_delete=models.PROTECT
    )
    contractor = models.ForeignKey(
        Contractor,
        verbose_name="承包方",
        to_field="code",
        db_column="cbfbm",
        on_delete=models.PROTECT,
        related_name="contracts",
    )
    method = coded("cbfs", "承包方式", "C.10", 3)
    term_start = date("cbqxq", "承包期限起")
    term_end = date("cbqxz", "承包期限止")
    total_area = area_field("htzmj", "确权（合同）总面积")
    parcel_count = models.SmallIntegerField("承包地块总数", db_column="cbdkzs")
    signed_on = date("qdsj", "签订时间")
    total_area_mu = area_field("htzmjm", "确权（合同）总面积（亩）", required=False)
    original_total_area = area_field("yhtzmj", "原合同总面积", required=False)
    original_total_area_mu = area_field("yhtzmjm", "原合同总面积（亩）", required=False)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.CURRENT)

    class Meta:
        db_table = "cbht"
        verbose_name = "承包合同"
        verbose_name_plural = "承包合同"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(term_start__lt=F("term_end")), name="cbht_term_in_order"),
            models.CheckConstraint(condition=Q(code__regex=r"^\d{18}[JQ]$"), name="cbht_code_format"),
        ]

    def __str__(self) -> str:
        return self.code


class ContractParcel(Versioned):
    """承包地块信息 (CBDKXX): one parcel of one contract, with its contract area."""

    parcel = models.ForeignKey(
        "parcels.Parcel",
        verbose_name="地块",
        to_field="code",
        db_column="dkbm",
        on_delete=models.PROTECT,
        related_name="contract_links",
        db_index=False,
    )
    collective = models.ForeignKey(
        Collective, verbose_name="发包方", to_field="code", db_column="fbfbm", on_delete=models.PROTECT, db_index=False
    )
    contractor = models.ForeignKey(
        Contractor, verbose_name="承包方", to_field="code", db_column="cbfbm", on_delete=models.PROTECT, db_index=False
    )
    acquisition = coded("cbjyqqdfs", "承包经营权取得方式", "C.10", 3)
    contract_area = area_field("htmj", "确权（合同）面积")
    contract = models.ForeignKey(
        Contract,
        verbose_name="承包合同",
        to_field="code",
        db_column="cbhtbm",
        on_delete=models.PROTECT,
        related_name="parcel_links",
        db_index=False,
    )
    transfer_contract_code = text("lzhtbm", "流转合同代码", 18, required=False)
    register_code = text("cbjyqzbm", "承包经营权证（登记簿）代码", 19)
    original_area = area_field("yhtmj", "原合同面积", required=False)
    contract_area_mu = area_field("htmjm", "确权（合同）面积（亩）", required=False)
    original_area_mu = area_field("yhtmjm", "原合同面积（亩）", required=False)
    is_share = coded("sfqqqg", "是否确权确股", "C.19", 1, required=False)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.CURRENT)

    class Meta:
        db_table = "cbdkxx"
        verbose_name = "承包地块信息"
        verbose_name_plural = "承包地块信息"
        ordering = ["contract_id", "parcel_id"]
        # Plain B-trees for the four code references (deletes and joins need them); Django's
        # automatic ones would add a second, varchar_pattern_ops index to each, which nothing
        # queries by prefix and every bulk import pays for.
        indexes = [
            models.Index(fields=["parcel"], name="cbdkxx_dkbm"),
            models.Index(fields=["collective"], name="cbdkxx_fbfbm"),
            models.Index(fields=["contractor"], name="cbdkxx_cbfbm"),
            models.Index(fields=["contract"], name="cbdkxx_cbhtbm"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "parcel"], condition=Q(status="current"), name="cbdkxx_parcel_once_per_contract"
            ),
            models.CheckConstraint(condition=Q(contract_area__gt=0), name="cbdkxx_area_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.contract_id}/{self.parcel_id}"


class TransferContract(Versioned):
    """流转合同 (LZHT)."""

    code = models.CharField("流转合同代码", max_length=18, unique=True, db_column="lzhtbm")
    contract = models.ForeignKey(
        Contract,
        verbose_name="承包合同",
        to_field="code",
        db_column="cbhtbm",
        on_delete=models.PROTECT,
        related_name="transfers",
    )
    contractor = models.ForeignKey(
        Contractor, verbose_name="承包方", to_field="code", db_column="cbfbm", on_delete=models.PROTECT
    )
    transferee_code = text("srfbm", "受让方代码", 18)
    # Local extension (not in LZHT): who the transferee is, for clerks; never exported.
    transferee_name = models.CharField("受让方名称", max_length=100, blank=True, default="")
    method = coded("lzfs", "流转方式", "C.10", 3)
    term = text("lzqx", "流转期限", 10)
    start_date = date("lzqxksrq", "流转期限开始日期")
    end_date = date("lzqxjsrq", "流转期限结束日期")
    area = area_field("lzmj", "流转面积")
    parcel_count = models.SmallIntegerField("流转地块数", db_column="lzdks")
    land_use_before = coded("lzqtdyt", "流转前土地用途", "C.9", 1, required=False)
    land_use_after = coded("lzhtdyt", "流转后土地用途", "C.9", 1, required=False)
    price_note = text("lzjgsm", "流转费用说明", 100)
    signed_on = date("htqdrq", "合同签订日期")
    area_mu = area_field("lzmjm", "流转面积（亩）", required=False)

    class Meta:
        db_table = "lzht"
        verbose_name = "流转合同"
        verbose_name_plural = "流转合同"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(start_date__lt=F("end_date")), name="lzht_term_in_order"),
        ]

    def __str__(self) -> str:
        return self.code


class RegisterBook(Versioned):
    """承包经营权登记簿 (CBJYQZDJB); shares its code with the contract."""

    code = models.CharField("承包经营权证（登记簿）代码", max_length=19, unique=True, db_column="cbjyqzbm")
    collective = models.ForeignKey(
        Collective, verbose_name="发包方", to_field="code", db_column="fbfbm", on_delete=models.PROTECT
    )
    contractor = models.ForeignKey(
        Contractor,
        verbose_name="承包方",
        to_field="code",
        db_column="cbfbm",
        on_delete=models.PROTECT,
        related_name="register_books",
    )
    method = coded("cbfs", "承包方式", "C.10", 3)
    term = text("cbqx", "承包期限", 30)
    term_start = date("cbqxq", "承包期限起")
    term_end = date("cbqxz", "承包期限止")
    sketch_map = text("dksyt", "地块示意图", 254)
    serial = text("cbjyqzlsh", "承包经营权证流水号", 254)
    note = text("djbfj", "登记簿附记", 254, required=False)
    original_certificate_number = text("ycbjyqzbh", "原承包经营权证编号", 100, required=False)
    registrar = text("dbr", "登簿人", 50)
    registered_on = date("djsj", "登记时间")
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.CURRENT)

    class Meta:
        db_table = "cbjyqzdjb"
        verbose_name = "承包经营权登记簿"
        verbose_name_plural = "承包经营权登记簿"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(term_start__lt=F("term_end")), name="djb_term_in_order"),
        ]

    def __str__(self) -> str:
        return self.code


class Certificate(Versioned):
    """承包经营权证 (CBJYQZ)."""

    class State(models.TextChoices):
        VALID = "valid", "有效"
        CANCELLED = "cancelled", "已注销"

    register_book = models.OneToOneField(
        RegisterBook,
        verbose_name="登记簿",
        to_field="code",
        db_column="cbjyqzbm",
        on_delete=models.PROTECT,
        related_name="certificate",
    )
    issuing_authority = text("fzjg", "发证机关", 50)
    issued_on = date("fzrq", "发证日期")
    collected = coded("qzsflq", "权证是否领取", "C.19", 1)
    collected_on = date("qzlqrq", "权证领取日期", required=False)
    collector_name = text("qzlqrxm", "权证领取人姓名", 50, required=False)
    collector_id_type = coded("qzlqrzjlx", "权证领取人证件类型", "C.15", 1, required=False)
    collector_id_number = text("qzlqrzjhm", "权证领取人证件号码", 20, required=False)
    state = models.CharField("状态", max_length=10, choices=State.choices, default=State.VALID)

    class Meta:
        db_table = "cbjyqz"
        verbose_name = "承包经营权证"
        verbose_name_plural = "承包经营权证"
        ordering = ["register_book_id"]

    def __str__(self) -> str:
        return self.register_book_id


class CertificateReissue(Versioned):
    """权证补发 (CBJYQZ_QZBF)."""

    certificate = models.ForeignKey(
        RegisterBook,
        verbose_name="权证",
        to_field="code",
        db_column="cbjyqzbm",
        on_delete=models.PROTECT,
        related_name="reissues",
    )
    reason = text("qzbfyy", "权证补发原因", 200)
    reissued_on = date("bfrq", "补发日期")
    collected_on = date("qzbflqrq", "权证补发领取日期")
    collector_name = text("qzbflqrxm", "权证补发领取人姓名", 50)
    collector_id_type = coded("bflqrzjlx", "补发领取人证件类型", "C.15", 1)
    collector_id_number = text("bflqrzjhm", "补发领取人证件号码", 20)

    class Meta:
        db_table = "cbjyqz_qzbf"
        verbose_name = "权证补发"
        verbose_name_plural = "权证补发"


class CertificateReplacement(Versioned):
    """权证换发 (CBJYQZ_QZHF)."""

    certificate = models.ForeignKey(
        RegisterBook,
        verbose_name="权证",
        to_field="code",
        db_column="cbjyqzbm",
        on_delete=models.PROTECT,
        related_name="replacements",
    )
    reason = text("qzhfyy", "权证换发原因", 200)
    replaced_on = date("hfrq", "换发日期")
    collected_on = date("qzhflqrq", "权证换发领取日期")
    collector_name = text("qzhflqrxm", "权证换发领取人姓名", 50)
    collector_id_type = coded("hflqrzjlx", "换发领取人证件类型", "C.15", 1)
    collector_id_number = text("hflqrzjhm", "换发领取人证件号码", 20)

    class Meta:
        db_table = "cbjyqz_qzhf"
        verbose_name = "权证换发"
        verbose_name_plural = "权证换发"


class CertificateCancellation(Versioned):
    """权证注销 (CBJYQZ_QZZX)."""

    certificate = models.ForeignKey(
        RegisterBook,
        verbose_name="权证",
        to_field="code",
        db_column="cbjyqzbm",
        on_delete=models.PROTECT,
        related_name="cancellations",
    )
    reason = text("zxyy", "注销原因", 200)
    cancelled_on = date("zxrq", "注销日期")

    class Meta:
        db_table = "cbjyqz_qzzx"
        verbose_name = "权证注销"
        verbose_name_plural = "权证注销"


class SourceAttachment(Versioned):
    """权属来源资料附件 (QSLYZLFJ): a scanned source document of a register entry."""

    register_book = models.ForeignKey(
        RegisterBook,
        verbose_name="登记簿",
        to_field="code",
        db_column="cbjyqzbm",
        on_delete=models.PROTECT,
        related_name="attachments",
    )
    number = text("zlfjbh", "资料附件编号", 20)
    name = text("zlfjmc", "资料附件名称", 100)
    dated = date("zlfjrq", "资料附件日期")
    path = text("fj", "附件", 254)

    class Meta:
        db_table = "qslyzlfj"
        verbose_name = "权属来源资料附件"
        verbose_name_plural = "权属来源资料附件"
