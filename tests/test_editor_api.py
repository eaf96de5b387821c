"""Identify, search, history and the surveyor's editor APIs (live check, create, update, split,
merge, neighbours), 四至 suggestions, the export of a selection, and the staff map pages: what
each answers, and that whoever may not call it is refused."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.gis.geos import LineString, MultiLineString, MultiPolygon, Polygon
from django.test import Client

from layers.models import LineFeature
from parcels import services
from parcels.models import BoundaryPoint, ChangeRecord, Parcel, ParcelLineage, Region
from parcels.sizhi import suggest_sizhi
from tests.conftest import (
    COUNTY,
    DEG_LAT_PER_M,
    DEG_LON_PER_M,
    GROUP,
    OTHER_GROUP,
    VILLAGE,
    contractor_fields,
    head_member,
    square,
)

pytestmark = pytest.mark.django_db

CONTRACTOR = "张三丰"
CONTRACTOR_ID = "310151198001011234"
SPOUSE = "李秀英"
LON0, LAT0 = 121.40, 31.60


def at(x: float, y: float) -> tuple[float, float]:
    """lng/lat of a point x, y metres east and north of (121.40E, 31.60N)."""
    return LON0 + x * DEG_LON_PER_M, LAT0 + y * DEG_LAT_PER_M


def polygon_json(*points: tuple[float, float]) -> dict[str, Any]:
    ring = [list(at(x, y)) for x, y in points]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def rect_json(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return polygon_json((x0, y0), (x1, y0), (x1, y1), (x0, y1))


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


def make_register(parcels: dict[str, Parcel], **contractor: Any) -> dict[str, Any]:
    """A household contract of 张三丰 on east1 and east2, registered and certified;
    ``contractor`` adds fields of the household (e.g. ``phone``)."""
    contractor = services.contractor_create(
        actor=None,
        collective_code=GROUP,
        kind="1",
        members=[
            head_member(CONTRACTOR, CONTRACTOR_ID),
            {"name": SPOUSE, "sex": "2", "id_type": "1", "id_number": "310151198203045678", "relation": "10"},
        ],
        **contractor_fields(CONTRACTOR, CONTRACTOR_ID),
        **contractor,
    )
    contract = services.contract_create(
        actor=None,
        contractor_code=contractor.code,
        method="110",
        term_start=dt.date(2019, 1, 1),
        term_end=dt.date(2048, 12, 31),
        signed_on=dt.date(2019, 6, 1),
        parcels=[services.ParcelShare(parcels["east1"].code), services.ParcelShare(parcels["east2"].code)],
    )
    book = services.register_book_create(
        actor=None, contract_code=contract.code, registrar="孙登簿", registered_on=dt.date(2019, 7, 1), serial="000001"
    )
    services.certificate_issue(
        actor=None, register_code=book.code, authority="示范区人民政府", issued_on=dt.date(2019, 8, 1)
    )
    return {"contractor": contractor, "contract": contract, "book": book}


def make_world(county: dict[str, str]) -> dict[str, Parcel]:
    """Regions with outlines; east1-east3 adjacent 100 m squares in 东村一组 (x 0-300 m), west1 in
    西村一组 (x 1000-1100 m); a 4 m road along y = -3 m, under the squares."""
    Region.objects.filter(code=GROUP).update(geom=MultiPolygon(square(-50, -50, 600), srid=4490))
    Region.objects.filter(code=OTHER_GROUP).update(geom=MultiPolygon(square(800, -50, 600), srid=4490))
    Region.objects.filter(code=VILLAGE).update(geom=MultiPolygon(square(-100, -100, 700), srid=4490))
    parcels = {
        "east1": make_parcel(GROUP, 0, "东大田"),
        "east2": make_parcel(GROUP, 100, "东小田", category="21", land_use_type="013"),
        "east3": make_parcel(GROUP, 200, "河边地", land_use_type=None),
        "west1": make_parcel(OTHER_GROUP, 1000, "西大田"),
    }
    LineFeature.objects.create(
        county_id=COUNTY,
        name="机耕路",
        width=Decimal("4.00"),
        geom=MultiLineString(LineString(at(-50, -3), at(400, -3)), srid=4490),
    )
    return parcels


@pytest.fixture
def world(county: dict[str, str]) -> dict[str, Parcel]:
    return make_world(county)


@pytest.fixture
def register(world: dict[str, Parcel]) -> dict[str, Any]:
    return make_register(world)


@pytest.fixture
def surveyor(client: Client, make_user: Callable[..., User]) -> Client:
    client.force_login(make_user("surveyor", VILLAGE, username="celiang"))
    return client


def centre(parcel: Parcel) -> dict[str, float]:
    point = parcel.geom.point_on_surface
    return {"lng": point.x, "lat": point.y}


# --- identify --------------------------------------------------------------------------------------


def test_identify_public_gets_the_desensitised_feature(client: Client, register: dict[str, Any], world: dict) -> None:
    response = client.get("/api/parcels/at", centre(world["east1"]))

    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "Feature" and body["id"] == world["east1"].code
    assert body["geometry"]["type"] == "MultiPolygon"
    assert body["properties"]["dkmc"] == "东大田"
    assert body["register"] is None
    assert len(body["bbox"]) == 4
    assert CONTRACTOR not in response.content.decode()


def test_identify_staff_get_the_register_summary(
    client: Client, register: dict[str, Any], world: dict, make_user: Callable[..., User]
) -> None:
    client.force_login(make_user("clerk", VILLAGE))

    body = client.get("/api/parcels/at", centre(world["east1"])).json()

    (contract,) = body["register"]["contracts"]
    assert contract["code"] == register["contract"].code
    assert contract["contractor_name"] == CONTRACTOR
    assert (contract["certificate_status"], contract["certificate_status_name"]) == ("valid", "有效")
    assert body["register"]["version"] == world["east1"].version


def test_identify_misses_and_bad_input(client: Client, world: dict, make_user: Callable[..., User]) -> None:
    lng, lat = at(50, 500)
    assert client.get("/api/parcels/at", {"lng": lng, "lat": lat}).status_code == 404
    bad = client.get("/api/parcels/at", {"lng": "x", "lat": 31.6})
    assert bad.status_code == 400 and list(bad.json()["error"]["details"]) == ["lng"]
    assert client.get("/api/parcels/at", {"lng": 200, "lat": 31.6}).status_code == 400
    # A village user only hits parcels of the village (like the map).
    client.force_login(make_user("clerk", VILLAGE))
    assert client.get("/api/parcels/at", centre(world["west1"])).status_code == 404


def test_identify_is_fast_in_queries(client: Client, world: dict, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        client.get("/api/parcels/at", centre(world["east2"]))


# --- search, history, feature ------------------------------------------------------------------------


def test_search_by_code_contractor_certificate_and_village(
    client: Client, register: dict[str, Any], world: dict, make_user: Callable[..., User]
) -> None:
    client.force_login(make_user("clerk", "310151"))

    def search(q: str) -> list[tuple[str, str, str]]:
        response = client.get("/api/parcels/search", {"q": q})
        assert response.status_code == 200
        return [(h["kind"], h["code"], h["matched"]) for h in response.json()["results"]]

    assert search(world["east3"].code) == [("parcel", world["east3"].code, "地块编码")]
    assert {c for _, c, _ in search(GROUP)} == {world["east1"].code, world["east2"].code, world["east3"].code}
    assert [(k, c) for k, c, m in search("张三") if m == "承包方"] == [
        ("parcel", world["east1"].code),
        ("parcel", world["east2"].code),
    ]
    assert {c for _, c, m in search(register["book"].code) if m == "承包经营权证"} == {
        world["east1"].code,
        world["east2"].code,
    }
    assert ("region", VILLAGE, "区域") in search("东村")
    hit = client.get("/api/parcels/search", {"q": "张三"}).json()["results"][0]
    assert hit["subtitle"] == "承包方：" + CONTRACTOR and len(hit["bbox"]) == 4


def test_search_is_scoped_and_for_staff_only(
    client: Client, register: dict[str, Any], world: dict, make_user: Callable[..., User]
) -> None:
    assert client.get("/api/parcels/search", {"q": "张三"}).status_code == 403
    client.force_login(make_user("department", "310151"))
    assert client.get("/api/parcels/search", {"q": "张三"}).status_code == 403
    client.force_login(make_user("clerk", "310151101002"))
    body = client.get("/api/parcels/search", {"q": "张三"}).json()
    assert body["results"] == []
    assert [h["code"] for h in client.get("/api/parcels/search", {"q": "西大"}).json()["results"]] == [
        world["west1"].code
    ]


def test_history_and_lineage_of_a_split(surveyor: Client, world: dict, make_user: Callable[..., User]) -> None:
    code = world["east3"].code
    services.parcel_update(actor=None, code=code, expected_version=1, name="改名地", reason="测试改名")
    response = surveyor.post(
        f"/api/editor/parcels/{code}/split",
        {
            "expected_version": 2,
            "line": {"type": "LineString", "coordinates": [list(at(250, -10)), list(at(250, 110))]},
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content

    history = surveyor.get(f"/api/parcels/{code}/history").json()

    actions = [(e["action"], e["version"]) for e in history["entries"]]
    assert actions == [("create", 1), ("update", 2), ("retire", 3)]
    assert history["entries"][1]["changed"] == ["地块名称"] and history["entries"][1]["reason"] == "测试改名"
    assert history["entries"][2]["actor"] == "celiang"
    assert sorted(c["code"] for c in history["children"]) == sorted(p["id"] for p in response.json()["parcels"])
    child = response.json()["parcels"][0]["id"]
    assert [
        (p["code"], p["operation_name"]) for p in surveyor.get(f"/api/parcels/{child}/history").json()["parents"]
    ] == [(code, "分割")]


def test_feature_for_editing(client: Client, world: dict, make_user: Callable[..., User]) -> None:
    code = world["east1"].code
    assert client.get(f"/api/parcels/{code}/feature").status_code == 403
    client.force_login(make_user("surveyor", VILLAGE))

    body = client.get(f"/api/parcels/{code}/feature").json()

    assert body["properties"]["version"] == 1 and body["properties"]["dkmc"] == "东大田"
    assert body["properties"]["editable"] is True
    ring = body["geometry"]["coordinates"][0][0]
    assert ring[0] == list(world["east1"].geom[0][0][0])  # every digit: bit-identical
    client.force_login(make_user("surveyor", "310151101002"))
    assert client.get(f"/api/parcels/{code}/feature").status_code == 404


# --- the live check ------------------------------------------------------------------------------------


def check(client: Client, geometry: dict[str, Any], exclude: list[str] | None = None) -> Any:
    return client.post(
        "/api/editor/check", {"geometry": geometry, "exclude": exclude or []}, content_type="application/json"
    )


def test_check_finds_the_overlap_and_its_area(surveyor: Client, world: dict) -> None:
    response = check(surveyor, rect_json(80, 10, 150, 60))  # 20 m x 50 m into east1, 50 x 50 into east2

    body = response.json()
    assert response.status_code == 200 and body["ok"] is False
    overlaps = {f["properties"]["dkbm"]: f for f in body["overlaps"]["features"]}
    assert set(overlaps) == {world["east1"].code, world["east2"].code}
    assert overlaps[world["east1"].code]["properties"]["area_m2"] == pytest.approx(1000, rel=0.01)
    assert overlaps[world["east2"].code]["properties"]["area_m2"] == pytest.approx(2500, rel=0.01)
    assert overlaps[world["east1"].code]["geometry"]["type"] == "Polygon"
    assert Decimal(body["area"]["scmj"]) == pytest.approx(Decimal(3500), rel=Decimal("0.01"))


def test_check_accepts_a_neighbour_sharing_an_edge_and_suggests(
    surveyor: Client, world: dict, register: dict[str, Any]
) -> None:
    east1 = world["east1"].geom[0][0]
    (w, s), (_, n) = east1[0], east1[1]
    # West of east1, sharing its west edge exactly (the vertices a snap would give).
    left = w - 60 * DEG_LON_PER_M
    geometry = {"type": "Polygon", "coordinates": [[[left, s], [w, s], [w, n], [left, n], [left, s]]]}

    body = check(surveyor, geometry).json()

    assert body["ok"] is True and body["overlaps"]["features"] == []
    assert body["sizhi"]["dkdz"] == {"text": CONTRACTOR, "kind": "parcel", "code": world["east1"].code}
    assert body["sizhi"]["dknz"]["text"] == "道路" and body["sizhi"]["dknz"]["kind"] == "line"
    assert body["sizhi"]["dkxz"] is None
    assert body["collective"] == {"code": GROUP, "name": "东村一组"}


def test_check_excludes_the_parcel_being_edited_and_reports_invalid_shapes(surveyor: Client, world: dict) -> None:
    code = world["east2"].code
    assert check(surveyor, rect_json(100, 0, 190, 100), [code]).json()["ok"] is True
    bowtie = polygon_json((0, 200), (50, 250), (50, 200), (0, 250))
    body = check(surveyor, bowtie).json()
    assert body["ok"] is False and "无效" in body["problem"]
    bad = check(surveyor, {"type": "LineString", "coordinates": [[121.4, 31.6], [121.41, 31.6]]})
    assert bad.status_code == 400 and "几何类型应为" in bad.json()["error"]["details"]["geometry"][0]


@pytest.mark.parametrize("role", [None, "clerk", "reviewer", "data_staff", "department"])
def test_editor_apis_refuse_roles_without_parcel_edit(
    client: Client, world: dict, make_user: Callable[..., User], role: str | None
) -> None:
    if role:
        client.force_login(make_user(role, "310151"))
    code = world["east1"].code
    calls = [
        check(client, rect_json(0, 300, 50, 350)),
        client.post("/api/editor/parcels", {}, content_type="application/json"),
        client.patch(f"/api/editor/parcels/{code}", {}, content_type="application/json"),
        client.post(f"/api/editor/parcels/{code}/split", {}, content_type="application/json"),
        client.post("/api/editor/merge", {}, content_type="application/json"),
        client.get("/api/editor/neighbours", {"bbox": "121.39,31.59,121.41,31.61"}),
    ]
    expected = "not_authenticated" if role is None else "permission_denied"
    for response in calls:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == expected


# --- create / update -----------------------------------------------------------------------------------

ATTRIBUTES = {"dkmc": "新开田", "dklb": "10", "tdlylx": "013", "dldj": "05", "tdyt": "1", "sfjbnt": "2"}


def create(client: Client, geometry: dict[str, Any], collective: str = GROUP, **attrs: Any) -> Any:
    return client.post(
        "/api/editor/parcels",
        {"collective_code": collective, "geometry": geometry, "attributes": {**ATTRIBUTES, **attrs}},
        content_type="application/json",
    )


def test_create_measures_codes_and_fills_the_sizhi(surveyor: Client, world: dict, register: dict[str, Any]) -> None:
    east1 = world["east1"].geom[0][0]
    (w, s), (_, n) = east1[0], east1[1]
    left = w - 60 * DEG_LON_PER_M
    geometry = {"type": "Polygon", "coordinates": [[[left, s], [w, s], [w, n], [left, n], [left, s]]]}

    response = create(surveyor, geometry, dkxz="李家")

    assert response.status_code == 201, response.content
    (feature,) = response.json()["parcels"]
    parcel = Parcel.objects.get(code=feature["id"])
    assert parcel.code.startswith(GROUP) and parcel.version == 1
    assert parcel.surveyed_area == pytest.approx(Decimal("6000"), rel=Decimal("0.01"))
    assert (parcel.east, parcel.west, parcel.south) == (CONTRACTOR, "李家", "道路")
    assert parcel.north is None
    assert parcel.updated_by.username == "celiang"
    # Saved vertices are the neighbour's, bit for bit.
    assert set(parcel.geom[0][0]) & set(east1) == {east1[0], east1[1]}
    # This county holds no boundary points (its export generates them): none are written.
    assert response.json()["boundaries_regenerated"] is False
    assert not BoundaryPoint.objects.exists()


def test_create_refuses_an_overlap_with_its_area(surveyor: Client, world: dict) -> None:
    response = create(surveyor, rect_json(250, 10, 320, 60))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parcel_overlap"
    assert world["east3"].code in error["message"] and "重叠" in error["message"]
    (overlap,) = error["details"]["overlaps"]["features"]
    assert overlap["properties"]["dkbm"] == world["east3"].code
    assert overlap["properties"]["area_m2"] == pytest.approx(2500, rel=0.01)
    assert Parcel.objects.count() == 4


def test_create_refuses_outside_the_jurisdiction_and_bad_attributes(surveyor: Client, world: dict) -> None:
    outside = create(surveyor, rect_json(1200, 0, 1250, 50), collective=OTHER_GROUP)
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "out_of_jurisdiction"
    bad = create(surveyor, rect_json(0, 300, 50, 350), dklb="77")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"
    assert Parcel.objects.count() == 4


def test_update_reshapes_with_optimistic_locking(surveyor: Client, world: dict, make_user: Callable[..., User]) -> None:
    code = world["east3"].code
    url = f"/api/editor/parcels/{code}"
    other = make_user("surveyor", VILLAGE, username="laowang")
    services.parcel_update(actor=other, code=code, expected_version=1, name="别人改的")

    stale = surveyor.patch(
        url, {"expected_version": 1, "attributes": {"dkmc": "我的"}}, content_type="application/json"
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale"
    assert "已被 laowang 于" in stale.json()["error"]["message"] and "修改" in stale.json()["error"]["message"]

    overlapping = surveyor.patch(
        url, {"expected_version": 2, "geometry": rect_json(150, 0, 300, 100)}, content_type="application/json"
    )
    assert overlapping.status_code == 400 and overlapping.json()["error"]["code"] == "parcel_overlap"

    ok = surveyor.patch(
        url,
        {"expected_version": 2, "geometry": rect_json(200, 0, 320, 100), "attributes": {"dkmc": "扩大地"}},
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content
    parcel = Parcel.objects.get(code=code)
    assert (parcel.version, parcel.name) == (3, "扩大地")
    assert parcel.surveyed_area == pytest.approx(Decimal("12000"), rel=Decimal("0.01"))
    assert ChangeRecord.objects.filter(object_code=code).last().reason == "边界调整"
    assert (
        surveyor.patch(
            "/api/editor/parcels/3101511010010199999", {"expected_version": 1}, content_type="application/json"
        ).status_code
        == 404
    )


def test_split_and_merge(surveyor: Client, world: dict) -> None:
    code = world["east2"].code
    line = {"type": "LineString", "coordinates": [list(at(150, -10)), list(at(150, 110))]}
    stale = surveyor.post(
        f"/api/editor/parcels/{code}/split", {"expected_version": 9, "line": line}, content_type="application/json"
    )
    assert stale.status_code == 409

    split = surveyor.post(
        f"/api/editor/parcels/{code}/split", {"expected_version": 1, "line": line}, content_type="application/json"
    )
    assert split.status_code == 201, split.content
    pieces = [f["id"] for f in split.json()["parcels"]]
    assert len(pieces) == 2 and Parcel.objects.get(code=code).status == "historic"
    # 四至 come with the pieces from the service: one write each, version 1.
    assert [f["properties"]["version"] for f in split.json()["parcels"]] == [1, 1]
    for piece_code in pieces:
        assert list(ChangeRecord.objects.filter(object_code=piece_code).values_list("action", "version")) == [
            ("create", 1)
        ]
    for piece in Parcel.objects.filter(code__in=pieces):
        assert piece.surveyed_area == pytest.approx(Decimal("5000"), rel=Decimal("0.01"))
        assert piece.south == "道路"  # 四至 filled from the new neighbours
    # The two pieces face each other across the cut: each names the other (自留地, held by nobody).
    sides = {(p.east, p.west) for p in Parcel.objects.filter(code__in=pieces)}
    assert sides == {("自留地", "集体土地"), ("集体土地", "自留地")}

    versions = {p.code: p.version for p in Parcel.objects.filter(code__in=pieces)}
    merged = surveyor.post("/api/editor/merge", {"parcels": versions}, content_type="application/json")
    assert merged.status_code == 201, merged.content
    (new,) = merged.json()["parcels"]
    assert new["properties"]["version"] == 1 and new["properties"]["dknz"] == "道路"
    parcel = Parcel.objects.get(code=new["id"])
    assert parcel.surveyed_area == pytest.approx(Decimal("10000"), rel=Decimal("0.01"))
    assert set(ParcelLineage.objects.filter(child=parcel).values_list("parent__code", flat=True)) == set(pieces)

    apart = surveyor.post(
        "/api/editor/merge",
        {"parcels": {world["east1"].code: 1, world["east3"].code: 1}},
        content_type="application/json",
    )
    assert apart.status_code == 400 and apart.json()["error"]["code"] == "not_adjacent"


def test_unknown_dkbm_is_404_naming_it(surveyor: Client, world: dict) -> None:
    unknown = GROUP + "09999"
    line = {"type": "LineString", "coordinates": [list(at(50, -10)), list(at(50, 110))]}
    calls = {
        "update": surveyor.patch(
            f"/api/editor/parcels/{unknown}", {"expected_version": 1, "attributes": {"dkmc": "无"}}, "application/json"
        ),
        "reshape": surveyor.patch(
            f"/api/editor/parcels/{unknown}",
            {"expected_version": 1, "geometry": rect_json(0, 300, 50, 350)},
            "application/json",
        ),
        "split": surveyor.post(
            f"/api/editor/parcels/{unknown}/split", {"expected_version": 1, "line": line}, "application/json"
        ),
        "merge": surveyor.post(
            "/api/editor/merge", {"parcels": {world["east1"].code: 1, unknown: 1}}, "application/json"
        ),
    }
    for name, response in calls.items():
        assert response.status_code == 404, (name, response.content)
        error = response.json()["error"]
        assert error["code"] == "not_found" and unknown in error["message"], name
    assert Parcel.objects.filter(status="current").count() == 4
    assert {p.version for p in Parcel.objects.all()} == {1}


def test_neighbours_cross_the_village_line_with_editable_flags(surveyor: Client, world: dict) -> None:
    west, south = at(-10, -10)
    east, north = at(1200, 120)
    body = surveyor.get("/api/editor/neighbours", {"bbox": f"{west},{south},{east},{north}"}).json()

    flags = {f["id"]: f["properties"]["editable"] for f in body["features"]}
    assert flags == {
        world["east1"].code: True,
        world["east2"].code: True,
        world["east3"].code: True,
        world["west1"].code: False,
    }
    assert body["features"][0]["properties"]["version"] == 1


# --- 四至 ----------------------------------------------------------------------------------------------


def test_sizhi_from_neighbours_and_features(world: dict, register: dict[str, Any]) -> None:
    shape = Polygon.from_bbox((*at(100, 0), *at(200, 100)))
    shape.srid = 4490

    sizhi = suggest_sizhi(geom=shape, exclude=[world["east2"].code], area_srid=4528)

    assert sizhi.texts() == {"east": "集体土地", "west": CONTRACTOR, "south": "道路", "north": None}
    assert sizhi.west is not None and sizhi.west.code == world["east1"].code


# --- export ----------------------------------------------------------------------------------------------


def test_export_of_a_selection(
    client: Client, world: dict, register: dict[str, Any], make_user: Callable[..., User]
) -> None:
    codes = f"{world['east1'].code},{world['east2'].code}"
    client.force_login(make_user("clerk", "310151"))
    assert client.get("/api/parcels/export", {"codes": codes}).status_code == 403
    client.force_login(make_user("data_staff", "310151"))

    response = client.get("/api/parcels/export", {"codes": codes})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/geo+json")
    assert response["Content-Disposition"].startswith('attachment; filename="dk-')
    body = json.loads(response.content)
    assert [f["id"] for f in body["features"]] == sorted(codes.split(","))
    props = body["features"][0]["properties"]
    assert {"dkbm", "dkmc", "dklb", "scmj", "scmjm", "dkdz", "ysdm"} <= set(props)
    assert CONTRACTOR not in response.content.decode()
    west, south = at(-10, -10)
    east, north = at(1200, 120)
    by_bbox = client.get("/api/parcels/export", {"bbox": f"{west},{south},{east},{north}"}).json()
    assert len(by_bbox["features"]) == 4
    assert client.get("/api/parcels/export").status_code == 400


# --- the pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed", "refused"),
    [
        ("/clerk/", ["clerk", "surveyor", "reviewer", "data_staff", "admin"], ["department"]),
        ("/editor/", ["surveyor", "admin"], ["clerk", "reviewer", "data_staff", "department"]),
        ("/data/", ["data_staff", "admin"], ["clerk", "surveyor", "reviewer", "department"]),
    ],
)
def test_pages_state_who_may_open_them(
    client: Client,
    county: dict[str, str],
    make_user: Callable[..., User],
    url: str,
    allowed: list[str],
    refused: list[str],
) -> None:
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    for role in allowed:
        client.force_login(make_user(role, None if role == "admin" else "310151"))
        response = client.get(url)
        assert response.status_code == 200, role
        assert 'id="work-map"' in response.content.decode()
    for role in refused:
        client.force_login(make_user(role, "310151"))
        response = client.get(url)
        assert response.status_code == 403, role
        assert "无权访问" in response.content.decode()


def test_pages_are_offline_and_link_by_role(
    client: Client, county: dict[str, str], make_user: Callable[..., User]
) -> None:
    client.force_login(make_user("surveyor", "310151"))
    html = client.get("/editor/").content.decode()

    assert ">测绘编辑</a>" in html and ">经办查询</a>" in html and ">数据管理</a>" not in html
    for asset in (
        "vendor/leaflet-geoman/leaflet-geoman.min.js",
        "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    ):
        assert f"/static/{asset}" in html
    config = json.loads(html.split('<script id="work-map-config" type="application/json">')[1].split("</script>")[0])
    assert config["basemaps"] == []  # nothing online unless configured
    assert {layer["name"] for layer in config["tileLayers"]} >= {"parcels", "regions", "farmland", "jzd", "jzx"}
    assert config["codes"]["dklb"][0] == ["10", "承包地块"]
    assert config["snapPixels"] == 15
    client.force_login(make_user("clerk", "310151"))
    clerk = client.get("/clerk/").content.decode()
    assert ">测绘编辑</a>" not in clerk and "/registration/cases/new?item=1033" in clerk


def test_basemaps_only_when_configured(
    client: Client, settings: Any, county: dict[str, str], make_user: Callable[..., User]
) -> None:
    settings.NONGDI_MAP = {"TIANDITU_KEY": "k123", "OSM": True}
    client.force_login(make_user("clerk", "310151"))
    html = client.get("/clerk/").content.decode()
    config = json.loads(html.split('<script id="work-map-config" type="application/json">')[1].split("</script>")[0])

    names = [b["name"] for b in config["basemaps"]]
    assert names == ["天地图影像", "天地图矢量", "OpenStreetMap"]
    assert "tk=k123" in config["basemaps"][0]["url"] and "img_w" in config["basemaps"][0]["url"]


def test_data_page_uses_the_quality_inspection_api(
    client: Client, county: dict[str, str], make_user: Callable[..., User]
) -> None:
    client.force_login(make_user("data_staff", VILLAGE))
    html = client.get("/data/").content.decode()
    config = json.loads(html.split('<script id="work-map-config" type="application/json">')[1].split("</script>")[0])

    # At least these endpoints (the QC page may add more: run, xlsx …).
    assert {
        "latest": "/api/qc/runs/latest/",
        "runs": "/api/qc/runs/",
        "geojson": "/api/qc/runs/{id}/geojson/",
    }.items() <= config["qc"].items()
    assert config["qcScope"] == VILLAGE
