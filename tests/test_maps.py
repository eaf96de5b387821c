"""The map pages: the home map in Chinese with Leaflet from our own static files, the top
bar per user, the login page."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from django.contrib.gis.geos import MultiPolygon
from django.contrib.staticfiles import finders
from django.test import Client

from parcels import services
from parcels.models import Region
from tests.conftest import GROUP, OTHER_GROUP, VILLAGE, square

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)


def map_config(response: Any) -> dict[str, Any]:
    match = re.search(
        r'<script id="parcel-map-config" type="application/json">(.*?)</script>', response.content.decode()
    )
    assert match, "map config missing"
    return json.loads(match.group(1))


def make_parcel(collective: str, x0: float) -> None:
    services.parcel_create(
        actor=None,
        collective_code=collective,
        geom=square(x0, 0),
        name="东大田",
        category="10",
        fertility="03",
        land_use="1",
        basic_farmland="1",
    )


def test_home_renders_in_chinese(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "农村土地承包经营权信息管理系统" in html
    assert ">地图</a>" in html
    assert ">登录</a>" in html
    assert "管理后台" not in html
    assert 'id="parcel-map"' in html


def test_home_uses_local_leaflet_and_no_other_host(client: Client) -> None:
    html = client.get("/").content.decode()

    assets = ASSET.findall(html)
    assert "/static/leaflet/leaflet.js" in assets
    assert "/static/leaflet/leaflet.css" in assets
    assert "/static/maps/home.js" in assets
    for url in assets:
        parsed = urlparse(url)
        assert not parsed.scheme and not parsed.netloc, f"external asset: {url}"
        assert url.startswith("/static/")
        assert finders.find(url.removeprefix("/static/")), f"missing static file: {url}"
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html)
    assert not [t for t in tags if re.search(r"(?:src|href)=\"(?:https?:)?//", t)]


def test_home_has_no_tile_layer_by_default(client: Client) -> None:
    html = client.get("/").content.decode()

    djoptions = re.search(r"var djoptions = (\{.*?\}),\n", html)
    assert djoptions, "django-leaflet options missing"
    assert json.loads(djoptions.group(1))["layers"] == []


def test_home_fits_the_visible_parcels(client: Client, county: dict[str, str]) -> None:
    make_parcel(GROUP, 0)
    make_parcel(OTHER_GROUP, 1000)

    config = map_config(client.get("/"))

    assert "parcelsUrl" not in config  # parcels come from the vector tiles
    (south, west), (north, east) = config["bounds"]
    assert 121.399 < west < east < 121.42 and 31.599 < south < north < 31.602
    assert config["outline"] is None
    assert config["scopeLabel"] == "公开地图（不含个人信息）"


def test_home_fits_the_county_boundary_when_stored(client: Client, county: dict[str, str]) -> None:
    make_parcel(GROUP, 0)
    Region.objects.filter(code="310151").update(geom=MultiPolygon(square(-5000, -5000, 20000), srid=4490))

    config = map_config(client.get("/"))

    (_, west), (_, east) = config["bounds"]
    assert west < 121.36 and east > 121.55
    assert config["outline"]["type"] in {"Polygon", "MultiPolygon"}


def test_home_of_a_village_user_fits_the_jurisdiction(
    client: Client, county: dict[str, str], make_user: Callable[..., User]
) -> None:
    make_parcel(GROUP, 0)
    make_parcel(OTHER_GROUP, 1000)
    client.force_login(make_user("clerk", VILLAGE, username="dongcun"))

    response = client.get("/")
    config = map_config(response)

    (_, _), (_, east) = config["bounds"]
    assert east < 121.4011  # 东村's parcel only: 100 m east of 121.40E is about 0.00106 degrees
    assert config["scopeLabel"] == "辖区：东村"
    html = response.content.decode()
    assert "dongcun" in html
    assert ">退出</button>" in html
    assert 'action="/accounts/logout/"' in html and 'method="post"' in html


def test_home_without_any_data_still_renders(client: Client) -> None:
    config = map_config(client.get("/"))

    assert config["bounds"] is None


def test_staff_see_the_admin_link(client: Client, make_user: Callable[..., User]) -> None:
    user = make_user("admin", None)
    user.is_staff = True
    user.save()
    client.force_login(user)

    assert ">管理后台</a>" in client.get("/").content.decode()


def test_login_page_in_chinese(client: Client) -> None:
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "用户登录" in html and "用户名" in html and "密码" in html


def test_login_and_logout(client: Client, county: dict[str, str], make_user: Callable[..., User]) -> None:
    make_user("clerk", VILLAGE, username="xiaowang")

    response = client.post("/accounts/login/", {"username": "xiaowang", "password": "pw-for-tests-only"})

    assert (response.status_code, response["Location"]) == (302, "/")
    assert "xiaowang" in client.get("/").content.decode()
    assert client.post("/accounts/logout/").status_code == 302
    assert ">登录</a>" in client.get("/").content.decode()


def test_login_with_a_wrong_password_says_so_in_chinese(
    client: Client, county: dict[str, str], make_user: Callable[..., User]
) -> None:
    make_user("clerk", VILLAGE, username="xiaowang")

    response = client.post("/accounts/login/", {"username": "xiaowang", "password": "wrong"})

    assert response.status_code == 200
    assert "用户名或密码不正确" in response.content.decode()
