"""The parcel APIs: the public map layer (bbox, jurisdiction, no personal data, one query,
the GiST index, errors) and the staff dossier (who may read it, what it holds)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from parcels import services
from parcels.apis import ParcelMapApi
from parcels.models import Parcel
from parcels.selectors import parcels_overlapping
from tests.conftest import (
    DEG_LAT_PER_M,
    DEG_LON_PER_M,
    GROUP,
    OTHER_GROUP,
    VILLAGE,
    square,
)
from tests.test_editor_api import make_register

pytestmark = pytest.mark.django_db

MAP_URL = "/api/map/parcels"
LON0, LAT0 = 121.40, 31.60

CONTRACTOR_NAME = "张三丰"
CONTRACTOR_ID = "310151198001011234"
SPOUSE_NAME = "李秀英"
SPOUSE_ID = "310151198203045678"
PHONE = "13912345678"
WITNESS = "赵指界"
NEIGHBOUR = "钱四海"


def bbox(x0: float, y0: float, x1: float, y1: float) -> str:
    """A bbox parameter from metre offsets around (121.40E, 31.60N)."""
    return ",".join(
        f"{v:.7f}"
        for v in (
            LON0 + x0 * DEG_LON_PER_M,
            LAT0 + y0 * DEG_LAT_PER_M,
            LON0 + x1 * DEG_LON_PER_M,
            LAT0 + y1 * DEG_LAT_PER_M,
        )
    )


def make_parcel(collective: str, x0: float, name: str, **attrs: Any) -> Parcel:
    fields: dict[str, Any] = {
        "name": name,
        "category": "10",
        "fertility": "03",
        "land_use": "1",
        "basic_farmland": "1",
        "land_use_type": "011",
    }
    fields.update(attrs)
    return services.parcel_create(actor=None, collective_code=collective, geom=square(x0, 0), **fields)


@pytest.fixture
def parcels(county: dict[str, str]) -> dict[str, Parcel]:
    """Three adjacent 100 m squares in 东村一组 (x 0-300 m) and one in 西村一组 (x 1000-1100 m)."""
    return {
        "east1": make_parcel(GROUP, 0, "东大田", witnesses=WITNESS, east=NEIGHBOUR),
        "east2": make_parcel(GROUP, 100, "东小田", category="21", land_use_type="013"),
        "east3": make_parcel(GROUP, 200, "河边地", land_use_type=None),
        "west1": make_parcel(OTHER_GROUP, 1000, "西大田"),
    }


@pytest.fixture
def register(parcels: dict[str, Parcel]) -> dict[str, Any]:
    """A household contract on 东大田 and 东小田, registered, certified, one parcel transferred."""
    held = make_register(parcels, phone=PHONE)
    contract = held["contract"]
    transfer = services.transfer_contract_create(
        actor=None,
        contract_code=contract.code,
        parcel_codes=[parcels["east1"].code],
        transferee_code="913101510000000001",
        transferee_name="示范农业合作社",
        method="200",
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2030, 1, 1),
        price_note="每亩每年800元",
        signed_on=dt.date(2019, 12, 1),
    )
    return {**held, "transfer": transfer}


def codes(response: Any) -> list[str]:
    return [f["properties"]["dkbm"] for f in response.json()["features"]]


def login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


# --- the map layer -------------------------------------------------------------------------


def test_map_returns_geojson_of_the_bbox(client: Client, parcels: dict[str, Parcel]) -> None:
    response = client.get(MAP_URL, {"bbox": bbox(10, 10, 150, 90)})

    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["truncated"] is False
    assert codes(response) == [parcels["east1"].code, parcels["east2"].code]
    feature = body["features"][0]
    assert feature["id"] == parcels["east1"].code
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert set(feature["properties"]) == {
        "dkbm",
        "dkmc",
        "dklb",
        "dklb_name",
        "tdlylx",
        "tdlylx_name",
        "scmj",
        "scmjm",
        "status",
    }
    props = feature["properties"]
    assert props["dkmc"] == "东大田"
    assert (props["dklb"], props["dklb_name"]) == ("10", "承包地块")
    assert (props["tdlylx"], props["tdlylx_name"]) == ("011", "水田")
    assert props["scmj"] == float(parcels["east1"].surveyed_area)
    assert props["scmjm"] == float(parcels["east1"].surveyed_area_mu)
    assert props["status"] == "current"


def test_map_coordinates_are_lng_lat_with_seven_decimals(client: Client, parcels: dict[str, Parcel]) -> None:
    response = client.get(MAP_URL, {"bbox": bbox(10, 10, 90, 90)})

    ring = response.json()["features"][0]["geometry"]["coordinates"][0][0]
    for lng, lat in ring:
        assert 121.39 < lng < 121.41 and 31.59 < lat < 31.61
    raw = re.findall(r"-?\d+\.\d+", json.dumps(response.json()["features"][0]["geometry"]))
    assert raw and max(len(number.split(".")[1]) for number in raw) <= 7
    # Neighbours keep their shared edge: 东大田's east side is 东小田's west side.
    east_side = {round(lng, 7) for lng, _ in ring}
    neighbour = client.get(MAP_URL, {"bbox": bbox(110, 10, 190, 90)}).json()["features"][0]
    west_side = {round(lng, 7) for lng, _ in neighbour["geometry"]["coordinates"][0][0]}
    assert max(east_side) == min(west_side)


def test_map_names_code_values_and_tolerates_missing_land_use(client: Client, parcels: dict[str, Parcel]) -> None:
    response = client.get(MAP_URL, {"bbox": bbox(0, 0, 300, 100)})

    props = {f["properties"]["dkbm"]: f["properties"] for f in response.json()["features"]}
    assert props[parcels["east2"].code]["dklb_name"] == "自留地"
    assert props[parcels["east2"].code]["tdlylx_name"] == "旱地"
    assert props[parcels["east3"].code]["tdlylx"] is None
    assert props[parcels["east3"].code]["tdlylx_name"] is None


def test_map_shows_only_current_parcels(client: Client, parcels: dict[str, Parcel]) -> None:
    Parcel.objects.filter(pk=parcels["east2"].pk).update(status="historic")

    response = client.get(MAP_URL, {"bbox": bbox(0, 0, 300, 100)})

    assert codes(response) == [parcels["east1"].code, parcels["east3"].code]


def test_map_outside_the_data_is_empty(client: Client, parcels: dict[str, Parcel]) -> None:
    response = client.get(MAP_URL, {"bbox": bbox(5000, 5000, 6000, 6000)})

    assert response.status_code == 200
    assert response.json()["features"] == []


def test_public_map_shows_every_village(client: Client, parcels: dict[str, Parcel]) -> None:
    response = client.get(MAP_URL, {"bbox": bbox(0, 0, 1200, 100)})

    assert codes(response) == sorted(p.code for p in parcels.values())


def test_village_user_sees_only_own_village(
    client: Client, parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    login(client, make_user("clerk", VILLAGE))

    response = client.get(MAP_URL, {"bbox": bbox(0, 0, 1200, 100)})

    assert codes(response) == [parcels["east1"].code, parcels["east2"].code, parcels["east3"].code]
    assert parcels["west1"].code not in response.content.decode()


def test_county_user_and_admin_see_everything(
    client: Client, parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    for user in (make_user("reviewer", "310151"), make_user("admin", None)):
        login(client, user)
        assert len(codes(client.get(MAP_URL, {"bbox": bbox(0, 0, 1200, 100)}))) == 4


def test_public_map_contains_no_personal_data(client: Client, register: dict[str, Any]) -> None:
    response = client.get(MAP_URL, {"bbox": bbox(0, 0, 1200, 100)})

    body = response.content.decode()
    assert len(response.json()["features"]) == 4
    for secret in (CONTRACTOR_NAME, CONTRACTOR_ID, SPOUSE_NAME, SPOUSE_ID, PHONE, WITNESS, NEIGHBOUR):
        assert secret not in body
    assert "示范农业合作社" not in body


def test_map_is_one_query_whatever_the_number_of_parcels(
    client: Client, parcels: dict[str, Parcel], django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        few = client.get(MAP_URL, {"bbox": bbox(10, 10, 90, 90)})
    with django_assert_num_queries(1) as captured:
        many = client.get(MAP_URL, {"bbox": bbox(0, 0, 1200, 100)})

    assert (len(few.json()["features"]), len(many.json()["features"])) == (1, 4)
    assert "&&" in captured.captured_queries[0]["sql"]


def test_map_signed_in_query_count(
    client: Client, parcels: dict[str, Parcel], make_user: Callable[..., User], django_assert_num_queries: Any
) -> None:
    login(client, make_user("clerk", VILLAGE))

    # session, user, profile (jurisdiction), parcels
    with django_assert_num_queries(4):
        client.get(MAP_URL, {"bbox": bbox(0, 0, 1200, 100)})


def test_bbox_filter_uses_the_gist_index(parcels: dict[str, Parcel]) -> None:
    west, south, east, north = (float(v) for v in bbox(0, 0, 100, 100).split(","))
    with connection.cursor() as cursor:
        # Four rows are cheaper to scan than to look up; forbid the scan to see the plan, on
        # analysed statistics, and without the ordering (on four rows walking the DKBM index in
        # order can look cheaper than sorting): the filter's own access path is the question.
        # On four current rows the status index competes with the spatial one and the choice
        # flips with the statistics; in a county it never narrows a bbox: dropped here (the
        # test's transaction restores it).
        cursor.execute("DROP INDEX dk_status")
        cursor.execute("ANALYZE dk")
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = parcels_overlapping(user=None, bbox=(west, south, east, north)).order_by().explain()

    assert re.search(r"Index Scan (using|on) dk_geom_\w+", plan), plan


def test_too_many_parcels_answers_truncated_and_empty(
    client: Client, parcels: dict[str, Parcel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ParcelMapApi, "max_features", 3)

    exactly = client.get(MAP_URL, {"bbox": bbox(0, 0, 300, 100)}).json()
    over = client.get(MAP_URL, {"bbox": bbox(0, 0, 1200, 100)}).json()

    assert (exactly["truncated"], len(exactly["features"])) == (False, 3)
    assert (over["truncated"], over["features"], over["limit"]) == (True, [], 3)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, ""),
        ({"bbox": ""}, "四个数字"),
        ({"bbox": "121.4,31.6,121.5"}, "四个数字"),
        ({"bbox": "a,b,c,d"}, "四个数字"),
        ({"bbox": "121.4,31.6,nan,31.7"}, "四个数字"),
        ({"bbox": "121.4,31.6,200,31.7"}, "经纬度范围"),
        ({"bbox": "121.5,31.6,121.4,31.7"}, "最小值"),
    ],
)
def test_bad_bbox_is_400_in_the_error_format(client: Client, params: dict[str, str], fragment: str) -> None:
    response = client.get(MAP_URL, params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == "数据校验未通过"
    assert list(error["details"]) == ["bbox"]
    assert fragment in error["details"]["bbox"][0]


# --- the dossier ---------------------------------------------------------------------------


def dossier_url(code: str) -> str:
    return f"/api/parcels/{code}"


def test_dossier_refuses_anonymous(client: Client, register: dict[str, Any], parcels: dict[str, Parcel]) -> None:
    response = client.get(dossier_url(parcels["east1"].code))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_authenticated"
    assert CONTRACTOR_NAME not in response.content.decode()


def test_dossier_refuses_department_role(
    client: Client, register: dict[str, Any], parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    login(client, make_user("department", "310151"))

    response = client.get(dossier_url(parcels["east1"].code))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert CONTRACTOR_NAME not in response.content.decode()


def test_dossier_refuses_clerk_of_another_village(
    client: Client, register: dict[str, Any], parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    login(client, make_user("clerk", "310151101002"))

    response = client.get(dossier_url(parcels["east1"].code))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert CONTRACTOR_NAME not in response.content.decode()
    # Same answer as for a code that does not exist: codes cannot be probed.
    missing = client.get(dossier_url(GROUP + "99999"))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


def test_dossier_refuses_user_without_profile(
    client: Client, register: dict[str, Any], parcels: dict[str, Parcel]
) -> None:
    login(client, User.objects.create_user("nobody", password="pw-for-tests-only"))

    assert client.get(dossier_url(parcels["east1"].code)).status_code == 403


def test_own_clerk_reads_the_dossier_with_members(
    client: Client, register: dict[str, Any], parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    login(client, make_user("clerk", VILLAGE))

    response = client.get(dossier_url(parcels["east1"].code))

    assert response.status_code == 200
    body = response.json()
    assert body["dkbm"] == parcels["east1"].code
    assert (body["dklb_name"], body["tdlylx_name"], body["dldj_name"], body["tdyt_name"]) == (
        "承包地块",
        "水田",
        "三等地",
        "种植业",
    )
    assert body["scmj"] == str(parcels["east1"].surveyed_area)
    (contract,) = body["contracts"]
    assert contract["code"] == register["contract"].code
    assert (contract["method"], contract["method_name"]) == ("110", "家庭承包")
    assert (contract["term_start"], contract["term_end"]) == ("2019-01-01", "2048-12-31")
    assert contract["parcel_count"] == 2
    assert contract["contract_area"] == str(parcels["east1"].surveyed_area)
    contractor = contract["contractor"]
    assert (contractor["name"], contractor["kind_name"], contractor["member_count"]) == (CONTRACTOR_NAME, "农户", 2)
    assert [(m["name"], m["relation_name"]) for m in contractor["members"]] == [
        (CONTRACTOR_NAME, "户主"),
        (SPOUSE_NAME, "配偶"),
    ]
    assert contract["register"]["code"] == register["book"].code
    assert (contract["register"]["certificate_status"], contract["register"]["certificate_status_name"]) == (
        "valid",
        "有效",
    )
    (transfer,) = contract["transfers"]
    assert (transfer["code"], transfer["method_name"], transfer["includes_parcel"]) == (
        register["transfer"].code,
        "转让",
        True,
    )


def test_dossier_of_a_parcel_without_contract(
    client: Client, parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    login(client, make_user("surveyor", VILLAGE))

    response = client.get(dossier_url(parcels["east3"].code))

    assert response.status_code == 200
    assert response.json()["contracts"] == []
    assert response.json()["tdlylx_name"] is None


def test_dossier_query_count_is_fixed(
    client: Client,
    register: dict[str, Any],
    parcels: dict[str, Parcel],
    make_user: Callable[..., User],
    django_assert_num_queries: Any,
) -> None:
    login(client, make_user("clerk", VILLAGE))

    # session, user, profile; parcel, contract links, members, register books, transfers, code names
    with django_assert_num_queries(9):
        client.get(dossier_url(parcels["east1"].code))


def test_signed_in_map_and_dossier_agree_on_jurisdiction(
    client: Client, register: dict[str, Any], parcels: dict[str, Parcel], make_user: Callable[..., User]
) -> None:
    login(client, make_user("clerk", VILLAGE))
    seen = codes(client.get(MAP_URL, {"bbox": bbox(0, 0, 1200, 100)}))

    for code in seen:
        assert client.get(dossier_url(code)).status_code == 200
    assert client.get(dossier_url(parcels["west1"].code)).status_code == 404
