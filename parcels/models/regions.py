from django.contrib.gis.db import models
from django.db.models import Q
from django.db.models.functions import Length

from parcels.coding import REGION_LEVELS


class Region(models.Model):
    """Administrative and collective regions: county (XJXZQ), town (XJQY), village (CJQY),
    group (ZJQY), and above the county the province and city that the 权属单位代码表 names
    (no shapes needed; a city bureau's staff get the city as jurisdiction). The code's length
    gives the level; the parent's code is its longest held prefix."""

    class Level(models.TextChoices):
        PROVINCE = "province", "省级行政区"
        CITY = "city", "地级行政区"
        COUNTY = "county", "县级行政区"
        TOWN = "town", "乡级区域"
        VILLAGE = "village", "村级区域"
        GROUP = "group", "组级区域"

    bsm = models.BigIntegerField("标识码", db_column="bsm", null=True, blank=True)
    code = models.CharField("区域代码", max_length=14, unique=True, db_column="qydm")
    name = models.CharField("区域名称", max_length=100, db_column="qymc")
    level = models.CharField("级别", max_length=8, choices=Level.choices)
    parent = models.ForeignKey(
        "self", verbose_name="上级区域", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    geom = models.MultiPolygonField("范围", srid=4490, null=True, blank=True)
    # Projected CRS for legal areas (a county's CGCS2000 3° Gauss-Krüger zone); counties only.
    area_srid = models.IntegerField("面积计算坐标系（EPSG）", null=True, blank=True)

    class Meta:
        db_table = "region"
        verbose_name = "行政区域"
        verbose_name_plural = "行政区域"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(level="province", code__regex=r"^\d{2}$")
                    | Q(level="city", code__regex=r"^\d{4}$")
                    | Q(level="county", code__regex=r"^\d{6}$")
                    | Q(level="town", code__regex=r"^\d{9}$")
                    | Q(level="village", code__regex=r"^\d{12}$")
                    | Q(level="group", code__regex=r"^\d{14}$")
                ),
                name="region_code_matches_level",
            ),
        ]
        indexes = [models.Index(Length("code"), name="region_code_len")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def county_code(self) -> str:
        return self.code[:6]


LEVEL_BY_LENGTH = {length: level for level, length in REGION_LEVELS.items()}
