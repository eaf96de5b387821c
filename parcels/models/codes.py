from django.db import models


class CodeItem(models.Model):
    """One value of a code table of the standard (loaded by a data migration)."""

    table = models.CharField("代码表", max_length=16)
    table_name = models.CharField("代码表名称", max_length=50)
    code = models.CharField("代码", max_length=10)
    name = models.CharField("名称", max_length=100)

    class Meta:
        db_table = "code_item"
        verbose_name = "代码表项"
        verbose_name_plural = "代码表"
        ordering = ["table", "code"]
        constraints = [models.UniqueConstraint(fields=["table", "code"], name="code_item_unique")]

    def __str__(self) -> str:
        return f"{self.table} {self.code} {self.name}"
