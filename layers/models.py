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
