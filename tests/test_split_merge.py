"""Splitting and merging parcels: new codes, measured areas, lineage, contracts follow, 四至
of the new parcels written by the service, unknown codes refused as not found."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.gis.geos import LineString, MultiLineString

from gisapp.errors import DomainError, NotFoundError, StaleObjectError
from layers.models import LineFeature
from parcels import services
from parcels.models import ChangeRecord, Contract, ContractParcel, Parcel, ParcelLineage
from tests.conftest import (
    COUNTY,
    DEG_LAT_PER_M,
    DEG_LON_PER_M,
    GROUP,
    OTHER_GROUP,
    contractor_fields,
    head_member,
    square,
)

ATTRS = {"name": "东大田", "category": "10", "fertility": "03", "land_use": "1", "basic_farmland": "1"}
LON0, LAT0 = 121.40, 31.60


def vertical_line(x_m: float) -> LineString:
    lon = LON0 + x_m * DEG_LON_PER_M
    return LineString((lon, LAT0 - 10 * DEG_LAT_PER_M), (lon, LAT0 + 110 * DEG_LAT_PER_M), srid=4490)


def contracted_parcel(county) -> tuple[Parcel, Contract]:  # type: ignore[no-untyped-def]
    parcel = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **ATTRS)
    household = services.contractor_create(
        actor=None,
        collective_code=GROUP,
        kind="1",
        members=[head_member("孙八", "310151198001018888")],
        **contractor_fields("孙八", "310151198001018888"),
    )
    contract = services.contract_create(
        actor=None,
        contractor_code=household.code,
        method="110",
        term_start=dt.date(2018, 1, 1),
        term_end=dt.date(2047, 12, 31),
        signed_on=dt.date(2019, 1, 1),
        parcels=[services.ParcelShare(parcel.code)],
    )
    return parcel, contract


@pytest.mark.django_db
def test_split_makes_new_coded_parcels_and_keeps_history(county) -> None:  # type: ignore[no-untyped-def]
    parcel, contract = contracted_parcel(county)
    pieces = services.parcel_split(actor=None, code=parcel.code, expected_version=1, line=vertical_line(30))
    assert [p.code for p in pieces] == [GROUP + "00002", GROUP + "00003"]
    # Largest first; the two areas add up to the original within rounding.
    assert pieces[0].surveyed_area > pieces[1].surveyed_area
    total = sum((p.surveyed_area for p in pieces), Decimal("0"))
    assert abs(total - parcel.surveyed_area) <= Decimal("0.02")
    assert abs(pieces[1].surveyed_area / total - Decimal("0.3")) < Decimal("0.01")
    # The pieces cover exactly the old shape, and every old vertex survives bit for bit.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Equals(ST_Union(geom), (SELECT geom FROM dk WHERE dkbm = %s)) FROM dk WHERE dkbm = ANY(%s)",
            [parcel.code, [p.code for p in pieces]],
        )
        assert cursor.fetchone()[0] is True
    piece_vertices = {xy for p in pieces for xy in p.geom[0].exterior_ring.coords}
    assert set(parcel.geom[0].exterior_ring.coords) <= piece_vertices
    old = Parcel.objects.get(code=parcel.code)
    assert old.status == "historic" and old.version == 2
    assert set(ParcelLineage.objects.filter(parent=old).values_list("child__code", flat=True)) == {
        p.code for p in pieces
    }
    assert ChangeRecord.objects.filter(object_code=parcel.code, action="retire").exists()
    for piece in pieces:
        assert piece.name == parcel.name and piece.category == parcel.category
    # The contract now holds the pieces, with totals recomputed.
    current = ContractParcel.objects.filter(contract=contract, status="current")
    assert sorted(current.values_list("parcel_id", flat=True)) == [p.code for p in pieces]
    contract.refresh_from_db()
    assert contract.parcel_count == 2 and contract.total_area == total
    assert contract.total_area_mu == services.sqm_to_mu(total)


@pytest.mark.django_db
def test_split_refusals(county) -> None:  # type: ignore[no-untyped-def]
    parcel = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **ATTRS)
    with pytest.raises(DomainError) as err:
        services.parcel_split(actor=None, code=parcel.code, expected_version=1, line=vertical_line(200))
    assert err.value.code == "split_no_effect"
    with pytest.raises(DomainError) as err:
        services.parcel_split(actor=None, code=parcel.code, expected_version=1, line=vertical_line(0.005))
    assert err.value.code == "sliver"
    with pytest.raises(StaleObjectError):
        services.parcel_split(actor=None, code=parcel.code, expected_version=7, line=vertical_line(50))
    assert Parcel.objects.get(code=parcel.code).status == "current"
    assert Parcel.objects.count() == 1


@pytest.mark.django_db
def test_merge_adjacent_parcels(county) -> None:  # type: ignore[no-untyped-def]
    a = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **ATTRS)
    b = services.parcel_create(actor=None, collective_code=GROUP, geom=square(100, 0), **ATTRS)
    merged = services.parcel_merge(actor=None, expected_versions={a.code: 1, b.code: 1})
    assert merged.code == GROUP + "00003"
    assert abs(merged.surveyed_area - (a.surveyed_area + b.surveyed_area)) <= Decimal("0.02")
    assert len(merged.geom) == 1 and merged.geom.valid
    assert set(Parcel.objects.filter(status="historic").values_list("code", flat=True)) == {a.code, b.code}
    assert ParcelLineage.objects.filter(child=merged).count() == 2


@pytest.mark.django_db
def test_merge_refusals(county) -> None:  # type: ignore[no-untyped-def]
    a = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **ATTRS)
    far = services.parcel_create(actor=None, collective_code=GROUP, geom=square(300, 0), **ATTRS)
    other = services.parcel_create(actor=None, collective_code=OTHER_GROUP, geom=square(100, 0), **ATTRS)
    with pytest.raises(DomainError) as err:
        services.parcel_merge(actor=None, expected_versions={a.code: 1, far.code: 1})
    assert err.value.code == "not_adjacent"
    with pytest.raises(DomainError) as err:
        services.parcel_merge(actor=None, expected_versions={a.code: 1, other.code: 1})
    assert err.value.code == "collectives_differ"
    with pytest.raises(DomainError) as err:
        services.parcel_merge(actor=None, expected_versions={a.code: 1})
    assert err.value.code == "merge_too_few"
    assert Parcel.objects.filter(status="current").count() == 3


# --- 四至 of the new parcels ----------------------------------------------------------------------

SIDES = ("east", "west", "south", "north")


def road_south() -> None:
    """A 4 m 机耕路 along y = -3 m, under the squares (its verge reaches y = +1.5 m)."""
    lon = [LON0 - 50 * DEG_LON_PER_M, LON0 + 400 * DEG_LON_PER_M]
    lat = LAT0 - 3 * DEG_LAT_PER_M
    LineFeature.objects.create(
        county_id=COUNTY,
        name="机耕路",
        width=Decimal("4.00"),
        geom=MultiLineString(LineString((lon[0], lat), (lon[1], lat)), srid=4490),
    )


def sizhi(parcel: Parcel) -> tuple[str | None, ...]:
    return tuple(getattr(parcel, side) for side in SIDES)


def history(parcel: Parcel) -> list[tuple[str, int]]:
    return list(
        ChangeRecord.objects.filter(model="parcels.Parcel", object_code=parcel.code)
        .order_by("id")
        .values_list("action", "version")
    )


@pytest.mark.django_db
def test_split_pieces_start_at_version_1_with_their_sizhi(county) -> None:  # type: ignore[no-untyped-def]
    parcel, _ = contracted_parcel(county)  # held by 孙八
    # East of it a 集体机动地 (held by nobody) whose west side is empty and north side typed.
    neighbour = services.parcel_create(
        actor=None, collective_code=GROUP, geom=square(100, 0), **(ATTRS | {"category": "22", "north": "手写北"})
    )
    road_south()

    pieces = services.parcel_split(actor=None, code=parcel.code, expected_version=1, line=vertical_line(30))

    big, small = (Parcel.objects.get(code=p.code) for p in pieces)
    # The pieces name each other by their holder (the contract moves to them), their outer
    # sides by the neighbours; the north has no neighbour and stays for the surveyor.
    assert sizhi(big) == ("集体机动地", "孙八", "道路", None)
    assert sizhi(small) == ("孙八", None, "道路", None)
    for piece in (big, small):
        assert piece.version == 1 and history(piece) == [("create", 1)]
        record = ChangeRecord.objects.get(object_code=piece.code)
        assert {side: record.after[side] for side in SIDES} == dict(zip(SIDES, sizhi(piece), strict=True))
    # The neighbour is left as it was: its typed side kept, its empty side still empty.
    neighbour.refresh_from_db()
    assert neighbour.version == 1 and history(neighbour) == [("create", 1)]
    assert sizhi(neighbour) == (None, None, None, "手写北")


@pytest.mark.django_db
def test_merged_parcel_starts_at_version_1_with_its_sizhi(county) -> None:  # type: ignore[no-untyped-def]
    a = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **(ATTRS | {"east": "旧东至"}))
    b = services.parcel_create(actor=None, collective_code=GROUP, geom=square(100, 0), **ATTRS)
    c = services.parcel_create(
        actor=None, collective_code=GROUP, geom=square(200, 0), **(ATTRS | {"category": "22", "west": "王五"})
    )
    road_south()

    merged = services.parcel_merge(actor=None, expected_versions={a.code: 1, b.code: 1})

    merged.refresh_from_db()
    assert sizhi(merged) == ("集体机动地", None, "道路", None)
    assert merged.version == 1 and history(merged) == [("create", 1)]
    c.refresh_from_db()
    assert c.version == 1 and c.west == "王五"  # not rewritten, though it now faces a new parcel


@pytest.mark.django_db
def test_unknown_codes_are_not_found(county) -> None:  # type: ignore[no-untyped-def]
    a = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **ATTRS)
    unknown = GROUP + "09999"
    with pytest.raises(NotFoundError) as err:
        services.parcel_split(actor=None, code=unknown, expected_version=1, line=vertical_line(30))
    assert (err.value.code, err.value.http_status) == ("not_found", 404)
    assert unknown in err.value.message
    with pytest.raises(NotFoundError) as err:
        services.parcel_merge(actor=None, expected_versions={a.code: 1, unknown: 1})
    assert unknown in err.value.message and a.code not in err.value.message
    assert err.value.details == {"codes": [unknown]}
    a.refresh_from_db()
    assert (a.status, a.version, Parcel.objects.count()) == ("current", 1, 1)
