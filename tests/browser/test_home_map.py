"""The home map in Chromium: it loads offline, draws the parcels, opens a popup on click,
and asks to zoom in when the view holds too many parcels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from parcels import services
from parcels.apis import ParcelMapApi
from parcels.models import Parcel
from tests.browser.conftest import PageLog
from tests.conftest import GROUP, OTHER_GROUP, square

pytestmark = [
    pytest.mark.browser,
    # The live server reads committed data; the code tables loaded by migrations come back
    # from the serialized copy after each flush.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PARCELS = [  # (collective, x offset in metres, DKMC, DKLB, TDLYLX)
    (GROUP, 0, "东大田", "10", "011"),
    (GROUP, 100, "东小田", "10", "013"),
    (GROUP, 200, "河边自留地", "21", "012"),
    (OTHER_GROUP, 300, "西大田", "22", "021"),
]


def make_parcels() -> list[Parcel]:
    return [
        services.parcel_create(
            actor=None,
            collective_code=collective,
            geom=square(x0, 0),
            name=name,
            category=category,
            land_use_type=land_use_type,
            fertility="03",
            land_use="1",
            basic_farmland="1",
        )
        for collective, x0, name, category, land_use_type in PARCELS
    ]


def drawn_parcels(page: Page) -> int:
    return int(page.locator("path.leaflet-interactive").count())


def test_home_map_draws_parcels_and_opens_a_popup(
    page: Page, live_server: Any, county: dict[str, str], page_log: PageLog, artifacts: Path
) -> None:
    parcels = make_parcels()

    page.goto(live_server.url + "/")

    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator(".topbar .brand")).to_have_text("农村土地承包经营权信息管理系统")
    expect(page.locator("#parcel-map")).to_have_attribute("data-state", "loaded", timeout=15_000)
    page.wait_for_function("n => document.querySelectorAll('path.leaflet-interactive').length >= n", arg=len(parcels))
    assert drawn_parcels(page) == len(parcels)
    expect(page.locator(".map-status .state")).to_have_text(f"当前视图共 {len(parcels)} 个地块")
    legend = page.locator(".map-legend")
    expect(legend).to_contain_text("水田")
    expect(legend).to_contain_text("旱地")

    target = parcels[1]
    page.locator(f'path[data-dkbm="{target.code}"]').click()

    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_be_visible()
    assert popup.locator(".popup-dkbm").inner_text() == target.code
    expect(popup.locator(".popup-dkmc")).to_have_text("东小田")
    expect(popup.locator(".popup-dklb")).to_have_text("承包地块（10）")
    expect(popup.locator(".popup-scmj")).to_contain_text("m²")
    expect(popup.locator(".popup-scmjm")).to_contain_text("亩")
    # The popup's pan reloads the bbox; the parcel stays drawn and the popup stays open.
    expect(page.locator("#parcel-map")).to_have_attribute("data-state", "loaded")
    expect(popup).to_be_visible()

    page.screenshot(path=str(artifacts / "home-map.png"), animations="disabled")
    assert page_log.external_requests == []
    assert page_log.errors == []


def test_home_map_asks_to_zoom_in_when_the_view_is_too_full(
    page: Page, live_server: Any, county: dict[str, str], page_log: PageLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    parcels = make_parcels()
    monkeypatch.setattr(ParcelMapApi, "max_features", 2)

    page.goto(live_server.url + "/")

    expect(page.locator("#parcel-map")).to_have_attribute("data-state", "truncated", timeout=15_000)
    expect(page.locator(".map-status .state")).to_contain_text("请放大地图查看地块")
    assert drawn_parcels(page) == 0

    # Zoom onto the first parcel: one or two parcels in view, drawn again.
    page.evaluate(
        "([lat, lng]) => window.maps[0].setView([lat, lng], 20)",
        [parcels[0].geom.centroid.y, parcels[0].geom.centroid.x],
    )
    expect(page.locator("#parcel-map")).to_have_attribute("data-state", "loaded", timeout=15_000)
    assert 1 <= drawn_parcels(page) <= 2
    assert page_log.external_requests == []
    assert page_log.errors == []
