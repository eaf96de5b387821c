"""The home map in Chromium: it loads offline, draws the parcels from the vector tiles (never
the GeoJSON API), colours them by class, shows a parcel's public attributes on a click (no
contractor names or ID numbers, also for signed-in staff whose identify answer holds them),
and asks to zoom in below the parcels' minimum zoom without requesting parcel tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Page, Request, expect

from parcels import services
from parcels.models import Parcel
from tests.browser.conftest import PageLog
from tests.conftest import GROUP, OTHER_GROUP, square
from tests.test_editor_api import CONTRACTOR, CONTRACTOR_ID, make_register

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
# Fill colours of home.js (drawn at fillOpacity 0.75: alpha 191 on the transparent tile canvas).
DRY_LAND = (0xF2, 0xC4, 0x6D)  # 013 旱地
PADDY = (0x9F, 0xD4, 0xE8)  # 011 水田
PRIVATE_PLOT = (0xF2, 0x9E, 0x4C)  # DKLB 21 自留地
CONTRACTED = (0xF2, 0xD1, 0x6B)  # DKLB 10 承包地块
MISSED = "Failed to load resource: the server responded with a status of 404 (Not Found)"


@pytest.fixture(autouse=True)
def tile_cache(settings: Any, tmp_path: Path) -> None:
    settings.TILE_CACHE_DIR = str(tmp_path / "tiles")


@pytest.fixture
def requests(page: Page) -> list[str]:
    seen: list[str] = []

    def record(request: Request) -> None:
        seen.append(request.url)

    page.on("request", record)
    return seen


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


def screen_point(page: Page, lng: float, lat: float) -> tuple[float, float]:
    x, y = page.evaluate(
        """([lng, lat]) => {
            const map = window.maps[0];
            const p = map.latLngToContainerPoint([lat, lng]);
            const r = map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""",
        [lng, lat],
    )
    return float(x), float(y)


def pixels_at(page: Page, x: float, y: float) -> list[tuple[int, int, int, int]]:
    """The non-transparent pixels of the map's tile canvases at a screen point."""
    found = page.evaluate(
        """([x, y]) => {
            const out = [];
            for (const c of document.querySelectorAll('#parcel-map .leaflet-tile-pane canvas')) {
                const r = c.getBoundingClientRect();
                if (x < r.left || x >= r.right || y < r.top || y >= r.bottom) continue;
                const px = Math.floor((x - r.left) * c.width / r.width);
                const py = Math.floor((y - r.top) * c.height / r.height);
                const d = c.getContext('2d').getImageData(px, py, 1, 1).data;
                if (d[3] > 0) out.push(Array.from(d));
            }
            return out;
        }""",
        [x, y],
    )
    return [tuple(p) for p in found]


def looks_like(pixels: list[tuple[int, int, int, int]], colour: tuple[int, int, int]) -> bool:
    return any(all(abs(p[k] - colour[k]) <= 4 for k in range(3)) and abs(p[3] - 191) <= 4 for p in pixels)


def centre_of(page: Page, parcel: Parcel) -> tuple[float, float]:
    point = parcel.geom.point_on_surface
    return screen_point(page, point.x, point.y)


def wait_until_drawn(page: Page, count: int) -> None:
    expect(page.locator("#parcel-map")).to_have_attribute("data-state", "loaded")
    expect(page.locator("#parcel-map")).to_have_attribute("data-count", str(count))


def test_home_map_draws_parcels_from_tiles_and_shows_public_attributes(
    page: Page, live_server: Any, county: dict[str, str], page_log: PageLog, artifacts: Path, requests: list[str]
) -> None:
    parcels = make_parcels()
    make_register({"east1": parcels[0], "east2": parcels[1]})

    page.goto(live_server.url + "/")

    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator(".topbar .brand")).to_have_text("农村土地承包经营权信息管理系统")
    wait_until_drawn(page, len(parcels))
    expect(page.locator(".map-status .state")).to_have_text(f"当前视图共 {len(parcels)} 个地块")
    expect(page.locator(".map-status .scope")).to_have_text("公开地图（不含个人信息）")
    legend = page.locator(".map-legend")
    for text in ("011 水田", "013 旱地", "012 水浇地", "021 果园"):
        expect(legend).to_contain_text(text)
    # Drawn from the tiles, on canvas, in the colour of each parcel's class.
    assert any("/tiles/parcels/" in url and url.endswith(".pbf") for url in requests)
    assert any(url.endswith("/tiles/parcels.json") for url in requests)
    assert not any("/api/map/parcels" in url for url in requests)
    assert page.locator("#parcel-map path.leaflet-interactive").count() == 0
    assert looks_like(pixels_at(page, *centre_of(page, parcels[1])), DRY_LAND)
    assert looks_like(pixels_at(page, *centre_of(page, parcels[0])), PADDY)
    south = screen_point(page, parcels[0].geom.centroid.x, parcels[0].geom.extent[1] - 0.0003)
    assert pixels_at(page, *south) == []

    target = parcels[1]
    with page.expect_response(lambda r: "/api/parcels/at?" in r.url) as identified:
        page.mouse.click(*centre_of(page, target))
    answer = identified.value.json()

    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_be_visible()
    expect(popup.locator(".popup-dkbm")).to_have_text(target.code)
    expect(popup.locator(".popup-dkmc")).to_have_text("东小田")
    expect(popup.locator(".popup-dklb")).to_have_text("承包地块（10）")
    expect(popup.locator(".popup-tdlylx")).to_have_text("旱地（013）")
    expect(popup.locator(".popup-scmj")).to_contain_text("m²")
    expect(popup.locator(".popup-scmjm")).to_contain_text("亩")
    expect(page.locator(".leaflet-highlight-pane path")).to_have_count(1)
    # The public answer and the popup carry no personal data; the parcel has a contractor.
    assert answer["register"] is None
    assert CONTRACTOR not in str(answer) and CONTRACTOR_ID not in str(answer)
    assert CONTRACTOR not in popup.inner_text()

    page.screenshot(path=str(artifacts / "home-map.png"), animations="disabled")

    # Closing the popup drops the highlight; a click beside the parcels opens nothing.
    page.locator(".leaflet-popup-close-button").click()
    expect(page.locator(".leaflet-highlight-pane path")).to_have_count(0)
    with page.expect_response(lambda r: "/api/parcels/at?" in r.url) as missed:
        page.mouse.click(*south)
    assert missed.value.status == 404
    expect(popup).to_have_count(0)

    # Colour by category: the tiles are drawn again, the legend follows.
    page.locator(".map-legend select").select_option("dklb")
    expect(legend).to_contain_text("21 自留地")
    expect(legend).to_contain_text("22 机动地")
    expect(page.locator("#parcel-map")).to_have_attribute("data-state", "loaded")
    drawn = centre_of(page, parcels[2])
    page.wait_for_function(
        """([x, y]) => [...document.querySelectorAll('#parcel-map .leaflet-tile-pane canvas')].some(c => {
            const r = c.getBoundingClientRect();
            if (x < r.left || x >= r.right || y < r.top || y >= r.bottom) return false;
            const d = c.getContext('2d').getImageData(Math.floor((x - r.left) * c.width / r.width),
                Math.floor((y - r.top) * c.height / r.height), 1, 1).data;
            return Math.abs(d[0] - 0xf2) <= 4 && Math.abs(d[1] - 0x9e) <= 4 && Math.abs(d[2] - 0x4c) <= 4;
        })""",
        arg=list(drawn),
    )
    assert looks_like(pixels_at(page, *drawn), PRIVATE_PLOT)
    assert looks_like(pixels_at(page, *centre_of(page, parcels[1])), CONTRACTED)
    assert page_log.external_requests == []
    # Chromium logs the identify API's 404 for the click beside the parcels; nothing else.
    assert page_log.errors == [f"console: {MISSED}"]


def sign_in(page: Page, live_server: Any, user: User) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": str(live_server.url)}]
    )


def test_signed_in_clerk_sees_only_public_attributes_on_the_home_map(
    page: Page, live_server: Any, county: dict[str, str], make_user: Any, page_log: PageLog
) -> None:
    parcels = make_parcels()
    make_register({"east1": parcels[0], "east2": parcels[1]})
    sign_in(page, live_server, make_user("clerk", county["county"]))

    page.goto(live_server.url + "/")
    wait_until_drawn(page, len(parcels))
    with page.expect_response(lambda r: "/api/parcels/at?" in r.url) as identified:
        page.mouse.click(*centre_of(page, parcels[0]))

    popup = page.locator(".leaflet-popup-content")
    expect(popup.locator(".popup-dkbm")).to_have_text(parcels[0].code)
    # The identify API gives a clerk the register summary with the contractor's name …
    assert CONTRACTOR in str(identified.value.json()["register"])
    # … which the home map does not show.
    assert CONTRACTOR not in popup.inner_text()
    assert page_log.errors == []


def test_home_map_asks_to_zoom_in_below_the_parcels_minimum_zoom(
    page: Page, live_server: Any, county: dict[str, str], page_log: PageLog, requests: list[str]
) -> None:
    parcels = make_parcels()

    page.goto(live_server.url + "/")
    wait_until_drawn(page, len(parcels))

    requests.clear()
    centre = parcels[1].geom.centroid
    page.evaluate("([lat, lng]) => window.maps[0].setView([lat, lng], 12)", [centre.y, centre.x])
    expect(page.locator("#parcel-map")).to_have_attribute("data-state", "zoom")
    expect(page.locator(".map-status .state")).to_have_text("放大到 14 级以上显示地块（当前 12 级）")
    expect(page.locator(".map-legend")).to_contain_text("当前视图内没有地块")
    page.wait_for_timeout(500)
    assert not [url for url in requests if "/tiles/parcels/" in url], requests
    assert pixels_at(page, *centre_of(page, parcels[1])) == []

    # Zoomed onto the first parcel: one or two parcels in view, drawn again.
    page.evaluate(
        "([lat, lng]) => window.maps[0].setView([lat, lng], 20)",
        [parcels[0].geom.centroid.y, parcels[0].geom.centroid.x],
    )
    expect(page.locator("#parcel-map")).to_have_attribute("data-state", "loaded")
    count = int(page.locator("#parcel-map").get_attribute("data-count") or 0)
    assert 1 <= count <= 2
    assert any("/tiles/parcels/18/" in url for url in requests)  # z18 tiles drawn at z20
    assert looks_like(pixels_at(page, *centre_of(page, parcels[0])), PADDY)
    assert page_log.external_requests == []
    assert page_log.errors == []
