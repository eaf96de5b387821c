"""Register services: measured areas, 亩 rounding, optimistic locking, history, contract codes,
unknown codes refused as not found."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.db import transaction
from pyproj import Transformer
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.ops import transform

from gisapp.errors import DomainError, NotFoundError, StaleObjectError
from parcels import services
from parcels.models import ChangeRecord, Contract, ContractParcel, FamilyMember, Parcel
from tests.conftest import GROUP, contractor_fields, head_member, square

TO_4490 = Transformer.from_crs(4528, 4490, always_xy=True)
TO_4528 = Transformer.from_crs(4490, 4528, always_xy=True)

PARCEL_ATTRS = {"name": "东大田", "category": "10", "fertility": "03", "land_use": "1", "basic_farmland": "1"}


def projected_square(e0: float, n0: float, size: float) -> Polygon:
    """A square exactly ``size`` metres wide in CGCS2000 GK zone 40 (EPSG:4528), in 4490."""
    ring = [(e0, n0), (e0, n0 + size), (e0 + size, n0 + size), (e0 + size, n0), (e0, n0)]
    return Polygon([TO_4490.transform(x, y) for x, y in ring], srid=4490)


# Zone 40 coordinates of a point near 121.4E 31.6N (zone-prefixed easting).
E0, N0 = TO_4528.transform(121.40, 31.60)


@pytest.mark.parametrize(
    "sqm,mu",
    [
        ("666.67", "1.00"),
        ("1030.00", "1.55"),  # 1.545: half-up gives 1.55 where banker's rounding gives 1.54
        ("1003.00", "1.50"),  # 1.5045
        ("10000.00", "15.00"),
        ("0.01", "0.00"),
    ],
)
def test_mu_is_square_metres_times_0_0015_rounded_half_up(sqm: str, mu: str) -> None:
    assert services.sqm_to_mu(Decimal(sqm)) == Decimal(mu)


@pytest.mark.django_db
def test_area_is_measured_in_the_projected_srid(county: dict[str, str]) -> None:
    parcel = services.parcel_create(
        actor=None, collective_code=GROUP, geom=projected_square(E0, N0, 100.0), **PARCEL_ATTRS
    )
    assert parcel.code == GROUP + "00001"
    assert parcel.surveyed_area == Decimal("10000.00")
    assert parcel.surveyed_area_mu == Decimal("15.00")
    # The same figure computed independently (pyproj + shapely) for an irregular field.
    e0 = E0 + 200  # clear of the first square: overlapping shapes are refused
    ring = [(e0, N0), (e0 + 37.3, N0 + 5.2), (e0 + 41.9, N0 + 88.1), (e0 - 3.3, N0 + 61.7), (e0, N0)]
    expected = round(ShapelyPolygon(ring).area, 2)
    geom = Polygon([TO_4490.transform(x, y) for x, y in ring], srid=4490)
    second = services.parcel_create(actor=None, collective_code=GROUP, geom=geom, **PARCEL_ATTRS)
    assert second.code == GROUP + "00002"
    assert abs(float(second.surveyed_area) - expected) <= 0.01
    assert second.surveyed_area_mu == services.sqm_to_mu(second.surveyed_area)


@pytest.mark.django_db
def test_area_uses_the_counties_own_zone(county: dict[str, str]) -> None:
    """A square of 100 m in zone 40 is not 10 000 m² when measured in zone 41 (CM 123E)."""
    geom = projected_square(E0, N0, 100.0)
    sqm_40, _ = services.measure_area(geom, 4528)
    sqm_41, _ = services.measure_area(geom, 4529)
    assert sqm_40 == Decimal("10000.00")
    assert sqm_41 != sqm_40
    shp = transform(lambda x, y: TO_4528.transform(x, y), ShapelyPolygon(geom.coords[0]))
    assert abs(shp.area - 10000.0) < 0.01


@pytest.mark.django_db
def test_area_is_not_typed_in(county: dict[str, str]) -> None:
    with pytest.raises(DomainError, match="surveyed_area"):
        services.parcel_create(
            actor=None, collective_code=GROUP, geom=square(0, 0), surveyed_area=Decimal("1"), **PARCEL_ATTRS
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "wkt,code",
    [
        ("POLYGON((121.4 31.6, 121.401 31.601, 121.401 31.6, 121.4 31.601, 121.4 31.6))", "invalid_geometry"),
        (
            "MULTIPOLYGON(((121.4 31.6,121.4 31.601,121.401 31.601,121.4 31.6)),"
            "((121.41 31.6,121.41 31.601,121.411 31.601,121.41 31.6)))",
            "multipart",
        ),
        ("POLYGON EMPTY", "invalid_geometry"),
        ("LINESTRING(121.4 31.6, 121.41 31.6)", "invalid_geometry"),
    ],
)
def test_bad_shapes_are_refused_with_the_reason(county: dict[str, str], wkt: str, code: str) -> None:
    with pytest.raises(DomainError) as err:
        services.parcel_create(actor=None, collective_code=GROUP, geom=GEOSGeometry(wkt, srid=4490), **PARCEL_ATTRS)
    assert err.value.code == code
    assert Parcel.objects.count() == 0


@pytest.mark.django_db
def test_stale_version_is_refused_with_who_and_when(county: dict[str, str], make_user) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("surveyor", GROUP[:12], username="alice")
    bob = make_user("surveyor", GROUP[:12], username="bob")
    parcel = services.parcel_create(actor=alice, collective_code=GROUP, geom=square(0, 0), **PARCEL_ATTRS)
    assert parcel.version == 1
    services.parcel_update(actor=alice, code=parcel.code, expected_version=1, name="西大田")
    with pytest.raises(StaleObjectError) as err:
        services.parcel_update(actor=bob, code=parcel.code, expected_version=1, name="北大田")
    assert "alice" in err.value.message and "版本 2" in err.value.message
    assert err.value.details["changed_by"] == "alice"
    fresh = Parcel.objects.get(code=parcel.code)
    assert fresh.name == "西大田" and fresh.version == 2


@pytest.mark.django_db
def test_every_change_is_kept_with_before_and_after(county: dict[str, str], make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user("surveyor", GROUP[:12])
    parcel = services.parcel_create(actor=user, collective_code=GROUP, geom=square(0, 0), **PARCEL_ATTRS)
    bigger = square(0, 0, size_m=120)
    services.parcel_update(actor=user, code=parcel.code, expected_version=1, geom=bigger, reason="测量更正")
    records = list(ChangeRecord.objects.filter(model="parcels.Parcel", object_id=parcel.pk).order_by("version"))
    assert [(r.action, r.version) for r in records] == [("create", 1), ("update", 2)]
    update = records[1]
    assert update.actor == user and update.reason == "测量更正"
    assert Decimal(update.before["surveyed_area"]) < Decimal(update.after["surveyed_area"])
    assert update.before["geom"] != update.after["geom"]
    assert update.after["surveyed_area"] == str(Parcel.objects.get(pk=parcel.pk).surveyed_area)


def _household(name: str, id_number: str) -> str:
    contractor = services.contractor_create(
        actor=None,
        collective_code=GROUP,
        kind="1",
        members=[head_member(name, id_number)],
        **contractor_fields(name, id_number),
    )
    return contractor.code


@pytest.mark.django_db
def test_contract_codes_totals_and_register_chain(county: dict[str, str]) -> None:
    p1 = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **PARCEL_ATTRS)
    p2 = services.parcel_create(actor=None, collective_code=GROUP, geom=square(100, 0), **PARCEL_ATTRS)
    cbfbm = _household("张三", "310151198001011234")
    assert cbfbm == GROUP + "0001"
    contract = services.contract_create(
        actor=None,
        contractor_code=cbfbm,
        method="110",
        term_start=dt.date(2018, 1, 1),
        term_end=services.LONG_TERM_END,
        signed_on=dt.date(2019, 3, 1),
        parcels=[services.ParcelShare(p1.code), services.ParcelShare(p2.code, contract_area=Decimal("5000.00"))],
    )
    assert contract.code == cbfbm + "J"
    assert contract.parcel_count == 2
    assert contract.total_area == p1.surveyed_area + Decimal("5000.00")
    assert contract.total_area_mu == services.sqm_to_mu(contract.total_area)
    links = ContractParcel.objects.filter(contract=contract)
    assert {link.register_code for link in links} == {contract.code}
    book = services.register_book_create(
        actor=None, contract_code=contract.code, registrar="登簿员", registered_on=dt.date(2019, 4, 1), serial="沪0001"
    )
    assert book.term == "长久不变"
    cert = services.certificate_issue(
        actor=None, register_code=book.code, authority="示范区人民政府", issued_on=dt.date(2019, 5, 1)
    )
    assert cert.collected == "2"
    with pytest.raises(DomainError, match="发证日期不能早于登记时间"):
        services.certificate_issue(
            actor=None, register_code=book.code, authority="示范区人民政府", issued_on=dt.date(2019, 1, 1)
        )

    # A parcel cannot be in two current contracts.
    other = services.contractor_create(
        actor=None, collective_code=GROUP, kind="2", **contractor_fields("李四", "310151198001015678")
    )
    assert other.code == GROUP + "8001" and other.member_count == 1
    with pytest.raises(DomainError) as err:
        services.contract_create(
            actor=None,
            contractor_code=other.code,
            method="121",
            term_start=dt.date(2020, 1, 1),
            term_end=dt.date(2030, 1, 1),
            signed_on=dt.date(2020, 1, 1),
            parcels=[services.ParcelShare(p1.code)],
        )
    assert err.value.code == "parcel_contracted" and p1.code in err.value.message
    assert not Contract.objects.filter(code=other.code + "Q").exists()


@pytest.mark.django_db
def test_household_needs_a_head(county: dict[str, str]) -> None:
    member = head_member("王五", "310151198001019999") | {"relation": "20"}
    with pytest.raises(DomainError) as err:
        services.contractor_create(
            actor=None,
            collective_code=GROUP,
            kind="1",
            members=[member],
            **contractor_fields("王五", "310151198001019999"),
        )
    assert err.value.code == "head_required"


@pytest.mark.django_db
def test_member_add_keeps_the_count_and_uses_the_households_version(county: dict[str, str]) -> None:
    code = _household("赵六", "310151198001011111")
    services.member_add(
        actor=None,
        contractor_code=code,
        expected_version=1,
        name="赵小六",
        sex="2",
        id_type="1",
        id_number="310151201001012222",
        relation="30",
    )
    from parcels.models import Contractor

    assert Contractor.objects.get(code=code).member_count == 2
    with pytest.raises(StaleObjectError):
        services.member_add(
            actor=None,
            contractor_code=code,
            expected_version=1,
            name="赵小七",
            sex="1",
            id_type="1",
            id_number="310151201201013333",
            relation="20",
        )
    assert Contractor.objects.get(code=code).member_count == 2


def _refusal(call: Any) -> str:
    """The message of a refused write; the refusal leaves the history as it was."""
    records = ChangeRecord.objects.count()
    with pytest.raises(DomainError) as err, transaction.atomic():
        call()
    assert ChangeRecord.objects.count() == records
    return err.value.message


@pytest.mark.django_db
def test_member_and_household_refusals_name_masked_name_and_code(county: dict[str, str]) -> None:
    """Refusals reach pages, API responses and message cookies: a household or a member is
    named by the masked name and the household's code, never by the full name."""
    head_id, spouse_id, son_id = "310151198001011234", "310151198202024321", "310151200505051111"
    household = services.contractor_create(
        actor=None,
        collective_code=GROUP,
        kind="1",
        members=[
            head_member("张三丰", head_id),
            {"name": "李秀英", "sex": "2", "id_type": "1", "id_number": spouse_id, "relation": "10"},
            {"name": "张小明", "sex": "1", "id_type": "1", "id_number": son_id, "relation": "20"},
        ],
        **contractor_fields("张三丰", head_id),
    )
    code = household.code
    members = {m.id_number: m for m in FamilyMember.objects.filter(contractor_id=code)}
    spouse, son = members[spouse_id], members[son_id]
    services.member_retire(actor=None, member_id=spouse.pk, reason="迁出")

    def assert_masked(message: str, expected: str) -> None:
        assert expected in message, message
        for name, id_number in (("张三丰", head_id), ("李秀英", spouse_id), ("张小明", son_id)):
            assert name not in message and id_number not in message, message

    message = _refusal(lambda: services.member_retire(actor=None, member_id=spouse.pk, reason="迁出"))
    assert_masked(message, f"家庭成员 李**（{code}）已是历史记录")
    message = _refusal(
        lambda: services.member_update(
            actor=None, member_id=spouse.pk, expected_version=2, reason="更正", remark_note="更正"
        )
    )
    assert_masked(message, f"家庭成员 李**（{code}）已是历史记录，不能修改")

    def two_heads() -> None:
        services.member_update(actor=None, member_id=son.pk, expected_version=1, reason="更正", relation="02")
        services.contractor_recount_members(actor=None, contractor_code=code, reason="更正")

    assert_masked(_refusal(two_heads), f"承包方 张**（{code}）必须有且只有一名户主")

    def nobody_left() -> None:
        for member in FamilyMember.objects.filter(contractor_id=code, status="current"):
            services.member_retire(actor=None, member_id=member.pk, reason="迁出")
        services.contractor_recount_members(actor=None, contractor_code=code, reason="迁出")

    assert_masked(_refusal(nobody_left), f"承包方 张**（{code}）至少要保留一名家庭成员")

    parcel = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **PARCEL_ATTRS)
    services.contract_create(
        actor=None,
        contractor_code=code,
        method="110",
        term_start=dt.date(2018, 1, 1),
        term_end=services.LONG_TERM_END,
        signed_on=dt.date(2019, 3, 1),
        parcels=[services.ParcelShare(parcel.code)],
    )
    message = _refusal(lambda: services.contractor_retire(actor=None, contractor_code=code, reason="消亡"))
    assert_masked(message, f"承包方 张**（{code}）还有现势承包合同，不能注销")

    gone = services.contractor_create(
        actor=None,
        collective_code=GROUP,
        kind="1",
        members=[head_member("张三丰", head_id)],  # a namesake without a contract
        **contractor_fields("张三丰", head_id),
    )
    services.contractor_retire(actor=None, contractor_code=gone.code, reason="消亡")
    message = _refusal(lambda: services.contractor_retire(actor=None, contractor_code=gone.code, reason="消亡"))
    assert_masked(message, f"承包方 张**（{gone.code}）已是历史记录")


@pytest.mark.django_db
def test_codes_are_never_reused(county: dict[str, str]) -> None:
    first = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **PARCEL_ATTRS)
    Parcel.objects.filter(pk=first.pk).update(status="historic")
    second = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **PARCEL_ATTRS)
    assert second.code == GROUP + "00002"


@pytest.mark.django_db
def test_transfer_contract(county: dict[str, str]) -> None:
    p1 = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **PARCEL_ATTRS)
    cbfbm = _household("钱七", "310151198001017777")
    contract = services.contract_create(
        actor=None,
        contractor_code=cbfbm,
        method="110",
        term_start=dt.date(2018, 1, 1),
        term_end=dt.date(2047, 12, 31),
        signed_on=dt.date(2019, 3, 1),
        parcels=[services.ParcelShare(p1.code)],
    )
    transfer = services.transfer_contract_create(
        actor=None,
        contract_code=contract.code,
        parcel_codes=[p1.code],
        transferee_code=GROUP + "9001",
        transferee_name="示范农业合作社",
        method="900",
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2030, 1, 1),
        price_note="每亩每年800元",
        signed_on=dt.date(2019, 12, 1),
    )
    assert transfer.code == GROUP + "0001"
    assert transfer.area == p1.surveyed_area and transfer.term == "10年"
    assert ContractParcel.objects.get(parcel=p1).transfer_contract_code == transfer.code
    with pytest.raises(DomainError) as err:
        services.transfer_contract_create(
            actor=None,
            contract_code=contract.code,
            parcel_codes=[p1.code],
            transferee_code=GROUP + "9001",
            transferee_name="示范农业合作社",
            method="900",
            start_date=dt.date(2020, 1, 1),
            end_date=dt.date(2050, 1, 1),
            price_note="每亩每年800元",
            signed_on=dt.date(2019, 12, 1),
        )
    assert err.value.code == "term_exceeded"


UNKNOWN_DKBM = GROUP + "09999"


@pytest.mark.django_db
def test_update_of_an_unknown_parcel_is_not_found(county: dict[str, str]) -> None:
    parcel = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **PARCEL_ATTRS)
    records = ChangeRecord.objects.count()

    for changes in ({"name": "无此地"}, {"geom": square(300, 0)}):
        with pytest.raises(NotFoundError) as err:
            services.parcel_update(actor=None, code=UNKNOWN_DKBM, expected_version=1, **changes)
        assert (err.value.code, err.value.http_status) == ("not_found", 404)
        assert err.value.message == f"地块 {UNKNOWN_DKBM} 不存在"
        assert err.value.details == {"code": UNKNOWN_DKBM}

    assert ChangeRecord.objects.count() == records
    assert list(Parcel.objects.values_list("code", "version")) == [(parcel.code, 1)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("call", "code", "kind"),
    [
        (
            lambda code: services.member_add(
                actor=None, contractor_code=code, expected_version=1, name="无名", sex="1", relation="20"
            ),
            GROUP + "0099",
            "承包方",
        ),
        (
            lambda code: services.contract_create(
                actor=None,
                contractor_code=code,
                method="110",
                term_start=dt.date(2018, 1, 1),
                term_end=dt.date(2047, 12, 31),
                signed_on=dt.date(2019, 1, 1),
                parcels=[],
            ),
            GROUP + "0099",
            "承包方",
        ),
        (
            lambda code: services.register_book_create(
                actor=None, contract_code=code, registrar="登簿员", registered_on=dt.date(2019, 4, 1), serial="1"
            ),
            GROUP + "0099J",
            "承包合同",
        ),
        (
            lambda code: services.certificate_issue(
                actor=None, register_code=code, authority="示范区人民政府", issued_on=dt.date(2019, 5, 1)
            ),
            GROUP + "0099J",
            "承包经营权登记簿",
        ),
        (
            lambda code: services.transfer_contract_create(
                actor=None,
                contract_code=code,
                parcel_codes=[],
                transferee_code=GROUP + "9001",
                transferee_name="示范农业合作社",
                method="900",
                start_date=dt.date(2020, 1, 1),
                end_date=dt.date(2030, 1, 1),
                price_note="每亩每年800元",
                signed_on=dt.date(2019, 12, 1),
            ),
            GROUP + "0099J",
            "承包合同",
        ),
        (
            lambda code: services.contract_update(
                actor=None, contract_code=code, reason="变更", signed_on=dt.date.today()
            ),
            GROUP + "0099J",
            "承包合同",
        ),
        (
            lambda code: services.contract_retire(actor=None, contract_code=code, reason="注销"),
            GROUP + "0099J",
            "承包合同",
        ),
        (
            lambda code: services.link_create(
                actor=None,
                contract_code=code,
                parcel_code=UNKNOWN_DKBM,
                contract_area=Decimal("100"),
                acquisition="110",
                reason="调整",
            ),
            GROUP + "0099J",
            "承包合同",
        ),
        (
            lambda code: services.register_book_update(
                actor=None, code=code, registrar="登簿员", registered_on=dt.date(2020, 1, 1), reason="变更"
            ),
            GROUP + "0099J",
            "承包经营权登记簿",
        ),
        (
            lambda code: services.register_book_retire(actor=None, code=code, reason="注销"),
            GROUP + "0099J",
            "承包经营权登记簿",
        ),
        (
            lambda code: services.contractor_recount_members(actor=None, contractor_code=code, reason="核减"),
            GROUP + "0099",
            "承包方",
        ),
        (
            lambda code: services.contractor_representative_change(
                actor=None, contractor_code=code, member_id=1, former_head_relation="10", reason="代表变更"
            ),
            GROUP + "0099",
            "承包方",
        ),
        (
            lambda code: services.contractor_retire(actor=None, contractor_code=code, reason="消亡"),
            GROUP + "0099",
            "承包方",
        ),
        (lambda code: services.parcel_retire(actor=None, code=code, reason="灭失"), UNKNOWN_DKBM, "地块"),
        (
            lambda pk: services.member_update(actor=None, member_id=pk, expected_version=1, reason="更正", name="无名"),
            987654,
            "家庭成员",
        ),
        (lambda pk: services.member_retire(actor=None, member_id=pk, reason="迁出"), 987654, "家庭成员"),
        (
            lambda pk: services.link_update(actor=None, link_id=pk, reason="调整", contract_area=Decimal("1")),
            987654,
            "承包地块信息",
        ),
        (lambda pk: services.link_retire(actor=None, link_id=pk, reason="调整"), 987654, "承包地块信息"),
    ],
    ids=[
        "member_add",
        "contract_create",
        "register_book_create",
        "certificate_issue",
        "transfer_contract_create",
        "contract_update",
        "contract_retire",
        "link_create",
        "register_book_update",
        "register_book_retire",
        "contractor_recount_members",
        "contractor_representative_change",
        "contractor_retire",
        "parcel_retire",
        "member_update",
        "member_retire",
        "link_update",
        "link_retire",
    ],
)
def test_services_name_the_unknown_code(county: dict[str, str], call: Any, code: str | int, kind: str) -> None:
    records = ChangeRecord.objects.count()
    with pytest.raises(NotFoundError) as err:
        call(code)
    assert err.value.message == f"{kind} {code} 不存在" and err.value.http_status == 404
    assert ChangeRecord.objects.count() == records
