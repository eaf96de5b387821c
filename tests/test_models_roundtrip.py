"""Every model keeps every standard field at its full width: values as long as the field
allows (Chinese text counts characters), the largest Float(15,2), every code-table field at a
valid code, written and read back unchanged."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.gis.geos import LineString, MultiLineString, MultiPolygon, Point
from django.core.exceptions import ValidationError
from django.db import models

from layers.models import BasicFarmlandZone, ControlPoint, LineFeature, PointFeature, PolygonFeature, RegionBoundary
from parcels.models import (
    BoundaryLine,
    BoundaryPoint,
    Certificate,
    CertificateCancellation,
    CertificateReissue,
    CertificateReplacement,
    Collective,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    RegisterBook,
    SourceAttachment,
    TransferContract,
)
from parcels.models.base import InCodeTable, code_values
from tests.conftest import COUNTY, GROUP, square

CBFBM = GROUP + "0001"
HTBM = CBFBM + "J"
DKBM = GROUP + "00001"
SKIP = {"id", "version", "created_at", "updated_at", "updated_by", "status", "state", "geom", "footprint"}


def full_value(field: models.Field) -> Any:
    """The widest legal value of a field."""
    table = next((v.table for v in field.validators if isinstance(v, InCodeTable)), None)
    if table:
        return max(code_values(table), key=lambda c: (len(c), c))
    if isinstance(field, models.CharField):
        if field.choices:
            return field.choices[-1][0]
        return "田" * field.max_length
    if isinstance(field, models.TextField):
        return "记" * 254
    if isinstance(field, models.DecimalField):
        whole = field.max_digits - field.decimal_places
        return Decimal("9" * whole + "." + "9" * field.decimal_places)
    if isinstance(field, models.BigIntegerField):
        return 9_999_999_999
    if isinstance(field, models.SmallIntegerField):
        return 99
    if isinstance(field, models.IntegerField):
        return 999
    if isinstance(field, models.DateField):
        return dt.date(2019, 12, 31)
    raise AssertionError(f"no full value for {field}")


def build(model: type[models.Model], **fixed: Any) -> models.Model:
    values: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.name in SKIP or field.name in fixed or field.attname in fixed:
            continue
        if isinstance(field, models.ForeignKey):
            continue
        values[field.name] = full_value(field)
    obj = model(**values, **fixed)
    obj.full_clean()
    obj.save()
    return obj


def assert_round_trip(obj: models.Model) -> None:
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    for field in obj._meta.concrete_fields:
        if field.name in ("created_at", "updated_at"):
            continue
        ours, theirs = getattr(obj, field.attname), getattr(fresh, field.attname)
        if hasattr(ours, "equals_exact"):
            assert ours.equals_exact(theirs, 1e-12), field.name
        else:
            assert ours == theirs, f"{type(obj).__name__}.{field.name}: {ours!r} != {theirs!r}"


@pytest.mark.django_db
def test_every_register_model_round_trips_at_full_width(county: dict[str, str]) -> None:
    # A village-level collective (group 00) built at full width beside the fixture's.
    objects: list[models.Model] = [build(Collective, code=county["other_group"][:12] + "00")]
    contractor = build(Contractor, code=CBFBM, collective_id=GROUP, kind="1", member_count=99)
    objects.append(contractor)
    objects.append(build(FamilyMember, contractor_id=CBFBM))
    poly = MultiPolygon(square(0, 0), srid=4490)
    parcel = build(Parcel, code=DKBM, geom=poly, feature_code="211011")
    objects.append(parcel)
    contract = build(
        Contract,
        code=HTBM,
        collective_id=GROUP,
        contractor_id=CBFBM,
        term_start=dt.date(2018, 1, 1),
        term_end=dt.date(9999, 1, 1),
    )
    objects.append(contract)
    objects.append(
        build(
            ContractParcel,
            parcel_id=DKBM,
            collective_id=GROUP,
            contractor_id=CBFBM,
            contract_id=HTBM,
            register_code=HTBM,
            transfer_contract_code=GROUP + "0001",
        )
    )
    objects.append(
        build(
            TransferContract,
            code=GROUP + "0001",
            contract_id=HTBM,
            contractor_id=CBFBM,
            transferee_code=GROUP + "8001",
            start_date=dt.date(2020, 1, 1),
            end_date=dt.date(2030, 1, 1),
        )
    )
    book = build(
        RegisterBook,
        code=HTBM,
        collective_id=GROUP,
        contractor_id=CBFBM,
        term_start=dt.date(2018, 1, 1),
        term_end=dt.date(9999, 1, 1),
    )
    objects.append(book)
    objects.append(build(Certificate, register_book_id=HTBM))
    for model in (CertificateReissue, CertificateReplacement, CertificateCancellation):
        objects.append(build(model, certificate_id=HTBM))
    objects.append(build(SourceAttachment, register_book_id=HTBM))
    objects.append(build(BoundaryPoint, number="J" * 10, geom=Point(121.4, 31.6, srid=4490)))
    line = LineString((121.4, 31.6), (121.401, 31.6), srid=4490)
    objects.append(build(BoundaryLine, geom=line))
    for obj in objects:
        assert_round_trip(obj)


@pytest.mark.django_db
def test_every_layer_model_round_trips_at_full_width(county: dict[str, str]) -> None:
    poly = MultiPolygon(square(0, 0), srid=4490)
    lines = MultiLineString(LineString((121.4, 31.6), (121.401, 31.6)), srid=4490)
    objects = [
        build(ControlPoint, county_id=COUNTY, geom=Point(121.4, 31.6, srid=4490)),
        build(RegionBoundary, county_id=COUNTY, geom=lines),
        build(PointFeature, county_id=COUNTY, geom=Point(121.4, 31.6, srid=4490)),
        build(LineFeature, county_id=COUNTY, geom=lines),
        build(PolygonFeature, county_id=COUNTY, geom=poly),
        build(BasicFarmlandZone, county_id=COUNTY, geom=poly),
    ]
    for obj in objects:
        assert_round_trip(obj)


@pytest.mark.django_db
def test_a_value_one_character_too_long_is_refused(county: dict[str, str]) -> None:
    contractor = Contractor(code=CBFBM, collective_id=GROUP, kind="1", member_count=1)
    for field in Contractor._meta.concrete_fields:
        fixed = field.name in SKIP or field.name in ("code", "kind", "member_count")
        if not fixed and not isinstance(field, models.ForeignKey):
            setattr(contractor, field.name, full_value(field))
    contractor.name = "田" * 51
    with pytest.raises(ValidationError) as err:
        contractor.full_clean()
    assert "name" in err.value.message_dict


@pytest.mark.django_db
def test_coded_fields_are_checked_against_the_code_tables(county: dict[str, str]) -> None:
    parcel = Parcel(
        code=DKBM,
        name="东大田",
        category="11",  # not in C.7
        fertility="11",  # not in C.8
        land_use="6",  # not in C.9
        basic_farmland="3",  # not in C.19
        land_use_type="0101",  # GB/T 21010-2017 four-digit, not the 2007 二级类
        surveyed_area=Decimal("1.00"),
        geom=MultiPolygon(square(0, 0), srid=4490),
    )
    with pytest.raises(ValidationError) as err:
        parcel.full_clean()
    assert set(err.value.message_dict) >= {"category", "fertility", "land_use", "basic_farmland", "land_use_type"}
    assert "C.7" in " ".join(err.value.message_dict["category"])
