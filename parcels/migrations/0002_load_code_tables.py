"""Load the standard's code tables (C.1-C.19, GB/T 4761, GB/T 21010-2007) as data."""

from django.db import migrations


def load(apps, schema_editor):
    from parcels.code_tables import CODE_TABLES

    CodeItem = apps.get_model("parcels", "CodeItem")
    CodeItem.objects.bulk_create(
        [
            CodeItem(table=table, table_name=title, code=code, name=name)
            for table, (title, rows) in CODE_TABLES.items()
            for code, name in rows
        ]
    )


def unload(apps, schema_editor):
    from parcels.code_tables import CODE_TABLES

    apps.get_model("parcels", "CodeItem").objects.filter(table__in=list(CODE_TABLES)).delete()


class Migration(migrations.Migration):
    dependencies = [("parcels", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
