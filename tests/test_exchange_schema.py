"""The declared package schema matches the templates and maps onto our models."""

from __future__ import annotations

import pytest
from django.apps import apps

from layers.exchange.schema import MDB_TABLES, REGION_LAYERS, SHAPE_LAYERS, TABLE_MODELS
from tests.test_schema import TEMPLATES, dbf_fields, template_tables


@pytest.mark.parametrize("layer", ["DK", "JZD", "JZX"])
def test_declared_fields_equal_the_template_dbf(layer: str) -> None:
    declared = [(f.name, f.kind, f.width, f.decimals) for f in SHAPE_LAYERS[layer].fields]
    assert declared == dbf_fields(TEMPLATES / f"{layer}.dbf")


def test_declared_tables_equal_the_template_mdb() -> None:
    template = template_tables()
    assert sorted(MDB_TABLES) == sorted(name.upper() for name in template)
    for table, columns in MDB_TABLES.items():
        assert [c.name.lower() for c in columns] == list(template[table.lower()]), table


def test_every_column_and_field_has_a_model_field() -> None:
    for table, columns in MDB_TABLES.items():
        model = apps.get_model(TABLE_MODELS[table])
        db_columns = {f.column for f in model._meta.concrete_fields}
        for column in columns:
            assert column.name.lower() in db_columns, f"{table}.{column.name} has no field in {model.__name__}"
    for name, layer in SHAPE_LAYERS.items():
        if name in REGION_LAYERS:
            continue
        model = apps.get_model(layer.model)
        db_columns = {f.column for f in model._meta.concrete_fields}
        for field in layer.fields:
            assert field.name.lower() in db_columns, f"{name}.{field.name} has no field in {model.__name__}"
