"""Reference layers of NY/T 2539 appendix A that are not contracted land: control points
(KZD), region boundary lines (QYJX), other features (DZDW/XZDW/MZDW), basic-farmland zones
(JBNTBHQ), and the registry of orthophoto rasters (DOM). Each feature belongs to a county."""

from __future__ import annotations

from django.contrib.gis.db import models

from parcels.code_tables import FEATURE_CODES
from parcels.models.base import area_field, coded, text


class CountyFeature(models.Model):
    bsm = models.BigIntegerField("标识码", db_column="bsm", null=True, blank=True)
    county = models.ForeignKey(
        "parcels.Region", verbose_name="县级行政区", to_field="code", db_column="xzqdm", on_delete=models.PROTECT
    )

    class Meta:
        abstract = True


class ControlPoint(CountyFeature):
    """控制点 (KZD). X = northing, Y = easting."""

    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["KZD"])
    name = text("kzdmc", "控制点名称", 50, required=False)
    number = text("kzddh", "控制点点号", 10, required=False)
    kind = coded("kzdlx", "控制点类型", "C.1", 6)
    grade = text("kzddj", "控制点等级", 20)
    stone_type = coded("bslx", "标石类型", "C.2", 1)
    marker_type = coded("bzlx", "标志类型", "C.3", 1)
    state = text("kzdzt", "控制点状态", 100, required=False)
    record = text("dzj", "点之记", 254)
    x2000 = models.DecimalField("X_2000", max_digits=15, decimal_places=3, db_column="x2000")
    y2000 = models.DecimalField("Y_2000", max_digits=15, decimal_places=3, db_column="y2000")
    x80 = models.DecimalField("X_XA80", max_digits=15, decimal_places=3, db_column="x80", null=True, blank=True)
    y80 = models.DecimalField("Y_XA80", max_digits=15, decimal_places=3, db_column="y80", null=True, blank=True)
    geom = models.PointField("位置", srid=4490)

    class Meta:
        db_table = "kzd"
        verbose_name = "控制点"
        verbose_name_plural = "控制点"


class RegionBoundary(CountyFeature):
    """区域界线 (QYJX)."""

    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["QYJX"])
    kind = coded("jxlx", "界线类型", "C.4", 6)
    nature = coded("jxxz", "界线性质", "C.5", 6)
    geom = models.MultiLineStringField("位置", srid=4490)

    class Meta:
        db_table = "qyjx"
        verbose_name = "区域界线"
        verbose_name_plural = "区域界线"


class PointFeature(CountyFeature):
    """点状地物 (DZDW)."""

    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["DZDW"])
    name = text("dwmc", "地物名称", 10)
    note = text("bz", "备注", 50, required=False)
    geom = models.PointField("位置", srid=4490)

    class Meta:
        db_table = "dzdw"
        verbose_name = "点状地物"
        verbose_name_plural = "点状地物"


class LineFeature(CountyFeature):
    """线状地物 (XZDW): roads, canals, shelter belts: the usual 四至 neighbours."""

    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["XZDW"])
    name = text("dwmc", "地物名称", 10)
    length = models.DecimalField("长度", max_digits=10, decimal_places=2, db_column="cd", null=True, blank=True)
    width = models.DecimalField("宽度", max_digits=10, decimal_places=2, db_column="kd", null=True, blank=True)
    note = text("bz", "备注", 50, required=False)
    geom = models.MultiLineStringField("位置", srid=4490)

    class Meta:
        db_table = "xzdw"
        verbose_name = "线状地物"
        verbose_name_plural = "线状地物"


class PolygonFeature(CountyFeature):
    """面状地物 (MZDW): ponds, yards, woods that are not contracted land."""

    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["MZDW"])
    name = text("dwmc", "地物名称", 10)
    area = area_field("mj", "面积", required=False)
    note = text("bz", "备注", 50, required=False)
    area_mu = area_field("mjm", "面积（亩）", required=False)
    geom = models.MultiPolygonField("范围", srid=4490)

    class Meta:
        db_table = "mzdw"
        verbose_name = "面状地物"
        verbose_name_plural = "面状地物"


class BasicFarmlandZone(CountyFeature):
    """基本农田保护区 (JBNTBHQ)."""

    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["JBNTBHQ"])
    number = text("bhqbh", "保护区编号", 13, required=False)
    area = area_field("jbntmj", "基本农田面积", required=False)
    area_mu = area_field("jbntmjm", "基本农田面积（亩）", required=False)
    geom = models.MultiPolygonField("范围", srid=4490)

    class Meta:
        db_table = "jbntbhq"
        verbose_name = "基本农田保护区"
        verbose_name_plural = "基本农田保护区"


class Raster(models.Model):
    """A registered orthophoto (DOM) or other raster, served as tiles from its file."""

    name = models.SlugField("名称", max_length=64, unique=True)
    title = models.CharField("标题", max_length=100, blank=True, default="")
    path = models.CharField("文件路径", max_length=500)
    source_srid = models.IntegerField("原始坐标系（EPSG）", null=True, blank=True)
    footprint = models.PolygonField("覆盖范围", srid=4490)
    registered_at = models.DateTimeField("登记时间", auto_now_add=True)

    class Meta:
        db_table = "raster"
        verbose_name = "影像"
        verbose_name_plural = "影像"

    def __str__(self) -> str:
        return self.name


class InspectionRun(models.Model):
    """One quality inspection (质检) of a county, town or village: its parameters, counts and
    timings; the findings are rows of InspectionFinding. Written by
    ``layers.checks.engine.record_inspection``; the latest runs of each scope are kept.

    A run started from the QC page is stored first as ``running`` (stage and progress written
    while it works, ``updated_at`` its heartbeat), then ``done`` with its findings, or
    ``failed`` with a message. At most one run of a scope is running at a time."""

    class State(models.TextChoices):
        RUNNING = "running", "运行中"
        DONE = "done", "完成"
        FAILED = "failed", "失败"

    scope = models.CharField("检查范围", max_length=12, db_index=True)
    county = models.CharField("县级行政区代码", max_length=6)
    area_srid = models.IntegerField("投影坐标系（EPSG）")
    state = models.CharField("状态", max_length=10, choices=State.choices, default=State.DONE)
    stage = models.CharField("当前步骤", max_length=50, blank=True, default="")
    progress = models.FloatField("进度", default=0.0)
    message = models.TextField("说明", blank=True, default="")
    started_at = models.DateTimeField("开始时间")
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    updated_at = models.DateTimeField("最近更新", auto_now=True)
    duration_s = models.FloatField("耗时（秒）", default=0.0)
    requested_by = models.ForeignKey(
        "auth.User", verbose_name="检查人", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tolerances = models.JSONField("容差", default=dict)
    parcels_checked = models.IntegerField("检查地块数", default=0)
    error_count = models.IntegerField("错误数", default=0)
    warning_count = models.IntegerField("警告数", default=0)
    counts = models.JSONField("各规则问题数", default=dict)
    timings = models.JSONField("各阶段耗时（秒）", default=dict)

    class Meta:
        db_table = "qc_run"
        verbose_name = "质检记录"
        verbose_name_plural = "质检记录"
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope"], condition=models.Q(state="running"), name="qc_run_one_running_per_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.started_at:%Y-%m-%d %H:%M}"


class InspectionFinding(models.Model):
    """One finding of a run, in report order (``seq``); the problem geometry (an overlap, a
    gap, a vertex…) in the storage CRS where the rule has one."""

    run = models.ForeignKey(InspectionRun, verbose_name="质检记录", on_delete=models.CASCADE, related_name="findings")
    seq = models.IntegerField("序号")
    rule = models.CharField("规则", max_length=32)
    severity = models.CharField("严重程度", max_length=8)
    dkbm = models.JSONField("地块代码", default=list)
    codes = models.JSONField("其他代码", default=list)
    area_m2 = models.FloatField("面积（平方米）", null=True, blank=True)
    value = models.FloatField("数值", null=True, blank=True)
    message = models.TextField("说明")
    geom = models.GeometryField("位置", srid=4490, null=True, blank=True)

    class Meta:
        db_table = "qc_finding"
        verbose_name = "质检问题"
        verbose_name_plural = "质检问题"
        ordering = ["run_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="qc_finding_seq_unique")]
        indexes = [models.Index(fields=["run", "rule"], name="qc_finding_run_rule")]

    def __str__(self) -> str:
        return f"{self.rule} {self.message[:40]}"


class ImportJob(models.Model):
    """One import of a Ministry county package: a web upload while it runs (state, stage,
    progress polled by the page), and afterwards the record that makes importing the same
    package again a no-op (county, SHA-256 of its files) and keeps the report."""

    class State(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "导入中"
        LOADED = "loaded", "已导入"
        UNCHANGED = "unchanged", "未更改"
        REJECTED = "rejected", "已拒绝"
        FAILED = "failed", "失败"

    created_by = models.ForeignKey(
        "auth.User", verbose_name="提交人", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("提交时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    source_name = models.CharField("数据包", max_length=255)
    upload = models.CharField("上传文件路径", max_length=500, blank=True, default="")
    strict = models.BooleanField("严格模式", default=False)
    replace = models.BooleanField("替换本县现有数据", default=False)
    inspect = models.BooleanField("导入后质检", default=False)
    state = models.CharField("状态", max_length=10, choices=State.choices, default=State.QUEUED)
    stage = models.CharField("当前步骤", max_length=50, blank=True, default="")
    progress = models.FloatField("进度", default=0.0)
    county_code = models.CharField("县级代码", max_length=6, blank=True, default="", db_index=True)
    year = models.CharField("年份", max_length=4, blank=True, default="")
    fingerprint = models.CharField("数据包摘要（SHA-256）", max_length=64, blank=True, default="")
    counts = models.JSONField("导入记录数", default=dict, blank=True)
    report = models.JSONField("检查报告", null=True, blank=True)
    message = models.TextField("说明", blank=True, default="")

    class Meta:
        db_table = "import_job"
        verbose_name = "数据包导入"
        verbose_name_plural = "数据包导入"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.source_name} {self.get_state_display()}"

    @property
    def done(self) -> bool:
        return self.state not in (self.State.QUEUED, self.State.RUNNING)
