"""Roles and jurisdiction. Every signed-in user has one role and one region (a county, town
or village); they see and edit only register objects whose Ministry code starts with the
region's code. Only administrators may have no region (the whole system)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    SURVEYOR = "surveyor", "测绘员"
    CLERK = "clerk", "经办人"
    REVIEWER = "reviewer", "审核人"
    DATA_STAFF = "data_staff", "数据管理员"
    ADMIN = "admin", "系统管理员"
    DEPARTMENT = "department", "部门接口"


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    role = models.CharField("角色", max_length=16, choices=Role.choices)
    region = models.ForeignKey(
        "parcels.Region",
        verbose_name="管辖区域",
        to_field="code",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        db_table = "account_profile"
        verbose_name = "用户角色与辖区"
        verbose_name_plural = "用户角色与辖区"
        constraints = [
            models.CheckConstraint(
                condition=Q(role="admin") | Q(region__isnull=False), name="profile_region_required_unless_admin"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.get_role_display()} {self.region_id or '全部'}"
