from django.conf import settings
from django.db import models


class ChangeRecord(models.Model):
    """One change to a register object: who, when, what before and after. Written by the
    services in the same transaction as the change, so history and register never disagree."""

    class Action(models.TextChoices):
        CREATE = "create", "新增"
        UPDATE = "update", "修改"
        RETIRE = "retire", "注销/历史"
        DELETE = "delete", "删除"

    model = models.CharField("对象类型", max_length=50)
    object_id = models.BigIntegerField("对象ID")
    object_code = models.CharField("对象代码", max_length=32, blank=True, default="")
    action = models.CharField("操作", max_length=10, choices=Action.choices)
    version = models.PositiveIntegerField("版本")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField("时间", auto_now_add=True)
    before = models.JSONField("修改前", null=True, blank=True)
    after = models.JSONField("修改后", null=True, blank=True)
    reason = models.CharField("原因", max_length=200, blank=True, default="")

    class Meta:
        db_table = "change_record"
        verbose_name = "变更记录"
        verbose_name_plural = "变更记录"
        ordering = ["model", "object_id", "version", "id"]
        indexes = [
            models.Index(fields=["model", "object_id"], name="change_record_object"),
            models.Index(fields=["object_code"], name="change_record_code"),
        ]

    def __str__(self) -> str:
        return f"{self.model}#{self.object_id} v{self.version} {self.action}"
