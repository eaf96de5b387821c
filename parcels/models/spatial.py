"""Contracted-land features (NY/T 2539 A.10-A.12): parcels (DK), boundary points (JZD) and
boundary lines (JZX). Geometry is stored in CGCS2000 geographic (EPSG:4490, lon/lat);
legal areas are measured in the county's projected Gauss-Krüger zone (see parcels.services)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q, Value
from django.db.models.functions import Left, LPad

from parcels.code_tables import FEATURE_CODES
from parcels.models.base import Status, Versioned, area_field, coded, text


class Parcel(Versioned):
    """地块 (DK). Multi-part and invalid shapes can be stored (imports keep what they read);
    quality inspection reports them, and the editing services refuse to create them."""

    bsm = models.BigIntegerField("标识码", db_column="bsm", null=True, blank=True)
    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["DK"])
    code = models.CharField("地块代码", max_length=19, unique=True, db_column="dkbm")
    name = text("dkmc", "地块名称", 50)
    ownership = coded("syqxz", "所有权性质", "C.6", 2, required=False)
    category = coded("dklb", "地块类别", "C.7", 2)
    land_use_type = coded("tdlylx", "土地利用类型", "GB21010", 3, required=False)
    fertility = coded("dldj", "地力等级", "C.8", 2)
    land_use = coded("tdyt", "土地用途", "C.9", 1)
    basic_farmland = coded("sfjbnt", "是否基本农田", "C.19", 1)
    surveyed_area = area_field("scmj", "实测面积")
    east = text("dkdz", "地块东至", 50, required=False)
    west = text("dkxz", "地块西至", 50, required=False)
    south = text("dknz", "地块南至", 50, required=False)
    north = text("dkbz", "地块北至", 50, required=False)
    remarks = text("dkbzxx", "地块备注信息", 254, required=False)
    witnesses = text("zjrxm", "指界人姓名", 100, required=False)
    key_points = models.CharField("空间坐标", max_length=254, db_column="kjzb", blank=True, default="")
    surveyed_area_mu = area_field("scmjm", "实测面积（亩）", required=False)
    geom = models.MultiPolygonField("地块范围", srid=4490)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.CURRENT)

    class Meta:
        db_table = "dk"
        verbose_name = "地块"
        verbose_name_plural = "地块"
        ordering = ["code"]
        indexes = [
            models.Index(fields=["status"], name="dk_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^\d{14}(?!00000)\d{5}$"), name="dk_code_format"),
            models.CheckConstraint(condition=Q(surveyed_area__gt=0), name="dk_area_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def collective_code(self) -> str:
        return self.code[:14]


class ParcelLineage(models.Model):
    """Which parcels a split, merge or boundary change made from which: the history link
    between old and new parcel codes."""

    class Operation(models.TextChoices):
        SPLIT = "split", "分割"
        MERGE = "merge", "合并"
        RESHAPE = "reshape", "调整"

    parent = models.ForeignKey(Parcel, on_delete=models.PROTECT, related_name="children_links")
    child = models.ForeignKey(Parcel, on_delete=models.PROTECT, related_name="parent_links")
    operation = models.CharField("操作", max_length=10, choices=Operation.choices)
    at = models.DateTimeField("时间", auto_now_add=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        db_table = "dk_lineage"
        verbose_name = "地块变更谱系"
        verbose_name_plural = "地块变更谱系"


class BoundaryPoint(models.Model):
    """界址点 (JZD). X = northing, Y = easting in the county's projected CRS."""

    bsm = models.BigIntegerField("标识码", db_column="bsm", null=True, blank=True)
    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["JZD"])
    number = text("jzdh", "界址点号", 10)
    point_type = coded("jzdlx", "界址点类型", "C.11", 1)
    marker_type = coded("jblx", "界标类型", "C.12", 1, required=False)
    parcel_codes = text("dkbm", "地块代码", 254)
    x = models.DecimalField("X坐标值", max_digits=15, decimal_places=3, db_column="xzbz")
    y = models.DecimalField("Y坐标值", max_digits=15, decimal_places=3, db_column="yzbz")
    geom = models.PointField("位置", srid=4490)

    class Meta:
        db_table = "jzd"
        verbose_name = "界址点"
        verbose_name_plural = "界址点"
        indexes = [
            models.Index(fields=["parcel_codes"], name="jzd_dkbm_like", opclasses=["varchar_pattern_ops"]),
            # The county's highest BSM and J-number (layers.exchange.jzdx numbers new points):
            # one backward index step instead of a scan of the county's points.
            models.Index(Left("parcel_codes", 6), "bsm", name="jzd_county_bsm"),
            models.Index(Left("parcel_codes", 6), LPad("number", 10, Value(" ")), name="jzd_county_number"),
        ]


class BoundaryLine(models.Model):
    """界址线 (JZX)."""

    bsm = models.BigIntegerField("标识码", db_column="bsm", null=True, blank=True)
    feature_code = models.CharField("要素代码", max_length=6, db_column="ysdm", default=FEATURE_CODES["JZX"])
    nature = coded("jxxz", "界线性质", "C.5", 6, required=False)
    category = coded("jzxlb", "界址线类别", "C.13", 2, required=False)
    position = coded("jzxwz", "界址线位置", "C.14", 1)
    description = text("jzxsm", "界址线说明", 254)
    neighbour_owner = text("pldwqlr", "毗邻地物权利人", 100)
    neighbour_witness = text("pldwzjr", "毗邻地物指界人", 100)
    number = text("jzxh", "界址线号", 10, required=False)
    start_point = text("qjzdh", "起界址点号", 10, required=False)
    end_point = text("zjzdh", "止界址点号", 10, required=False)
    parcel_codes = text("dkbm", "地块代码", 254)
    geom = models.LineStringField("位置", srid=4490)

    class Meta:
        db_table = "jzx"
        verbose_name = "界址线"
        verbose_name_plural = "界址线"
        indexes = [
            models.Index(fields=["parcel_codes"], name="jzx_dkbm_like", opclasses=["varchar_pattern_ops"]),
            models.Index(Left("parcel_codes", 6), "bsm", name="jzx_county_bsm"),
        ]
