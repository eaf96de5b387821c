"""Shared fixtures: a small county built through the services, and users per role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.contrib.gis.geos import Polygon

from accounts.models import Profile
from parcels import services

COUNTY = "310151"
TOWN = "310151101"
VILLAGE = "310151101001"
GROUP = "31015110100101"
OTHER_VILLAGE = "310151101002"
OTHER_GROUP = "31015110100201"

# A 100 m x 100 m square near 121.4E 31.6N expressed in degrees (approximate; the tests
# that care about area compute the expected value independently with pyproj).
DEG_LAT_PER_M = 1 / 110_900.0
DEG_LON_PER_M = 1 / 94_800.0


def square(x0: float, y0: float, size_m: float = 100.0, lon0: float = 121.40, lat0: float = 31.60) -> Polygon:
    """A square of ``size_m`` metres whose south-west corner is (x0, y0) metres from (lon0, lat0)."""
    w = lon0 + x0 * DEG_LON_PER_M
    s = lat0 + y0 * DEG_LAT_PER_M
    e = w + size_m * DEG_LON_PER_M
    n = s + size_m * DEG_LAT_PER_M
    return Polygon(((w, s), (w, n), (e, n), (e, s), (w, s)), srid=4490)


def collective_fields(name: str) -> dict[str, object]:
    return {
        "name": name,
        "head_name": "王建国",
        "head_id_type": "1",
        "head_id_number": "310151196501011234",
        "address": "上海市崇明区示范镇",
        "postcode": "202150",
        "surveyor": "李调查",
        "survey_date": dt.date(2019, 5, 1),
    }


def contractor_fields(name: str, id_number: str) -> dict[str, object]:
    return {
        "name": name,
        "id_type": "1",
        "id_number": id_number,
        "address": "上海市崇明区示范镇示范村",
        "postcode": "202150",
        "survey_date": dt.date(2019, 5, 2),
        "surveyor": "李调查",
        "publicity_recorder": "张公示",
        "publicity_review_date": dt.date(2019, 6, 1),
        "publicity_reviewer": "赵审核",
    }


def head_member(name: str, id_number: str) -> dict[str, object]:
    return {"name": name, "sex": "1", "id_type": "1", "id_number": id_number, "relation": "02"}


@pytest.fixture(autouse=True)
def _code_tables_survive_flushes(request: pytest.FixtureRequest) -> None:
    """Transactional tests (live server, background threads) end with a flush that empties
    every table, including the code tables a migration loaded. A later transactional test
    would then see empty code tables (and its threads, on their own connections, reject every
    coded value). Reload them, committed, when they are missing."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or "transactional_db" in request.fixturenames
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from parcels.code_tables import CODE_TABLES
    from parcels.models import CodeItem
    from parcels.models.base import clear_code_cache

    if not CodeItem.objects.exists():
        CodeItem.objects.bulk_create(
            CodeItem(table=table, table_name=title, code=code, name=name)
            for table, (title, rows) in CODE_TABLES.items()
            for code, name in rows
        )
        clear_code_cache()


@pytest.fixture
def county(db: None) -> dict[str, str]:
    """County 310151 with one town, two villages, a group in each, and their collectives."""
    services.region_create(code=COUNTY, name="示范区", level="county", area_srid=4528)
    services.region_create(code=TOWN, name="示范镇", level="town")
    services.region_create(code=VILLAGE, name="东村", level="village")
    services.region_create(code=OTHER_VILLAGE, name="西村", level="village")
    services.region_create(code=GROUP, name="东村一组", level="group")
    services.region_create(code=OTHER_GROUP, name="西村一组", level="group")
    services.collective_create(actor=None, code=GROUP, **collective_fields("东村一组"))
    services.collective_create(actor=None, code=OTHER_GROUP, **collective_fields("西村一组"))
    return {"county": COUNTY, "town": TOWN, "village": VILLAGE, "group": GROUP, "other_group": OTHER_GROUP}


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    counter = {"n": 0}

    def _make(role: str, region: str | None, username: str | None = None) -> User:
        counter["n"] += 1
        user = User.objects.create_user(username or f"{role}{counter['n']}", password="pw-for-tests-only")
        Profile.objects.create(user=user, role=role, region_id=region)
        return user

    return _make
