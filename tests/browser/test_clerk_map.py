"""The clerk map (经办查询) and the data staff map (数据管理) in Chromium: they load offline with
the vector tiles and an orthophoto, search finds a parcel by contractor name, a click on the
map opens the dossier, a double-click zooms to the parcel; data staff switch layers, pick
parcels and export them as GeoJSON."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.gis.geos import MultiPolygon
from django.test import Client
from playwright.sync_api import Page, expect
from pyproj import Transformer

from layers.services_rasters import raster_register
from parcels.models import Parcel
from tests.browser.conftest import PageLog
from tests.conftest import VILLAGE, square
from tests.test_editor_api import CONTRACTOR, SPOUSE, make_register, make_world
from tests.test_rasters import write_quadrants

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def world(county: dict[str, str], media: Path) -> dict[str, Any]:
    parcels = make_world(county)
    register = make_register(parcels)
    # A synthetic orthophoto under the parcels (CGCS2000 Gauss-Krüger zone 40).
    east, north = Transformer.from_crs(4490, 4528, always_xy=True).transform(121.3995, 31.5995)
    path = media / "dom.tif"
    write_quadrants(path, 4528, (round(east), round(north) + 400))
    raster_register(path=path, name="test-dom", title="测试正射影像")
    return {"parcels": parcels, "register": register}


def sign_in(page: Page, live_server: Any, user: User) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": str(live_server.url)}]
    )


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


def inside(parcel: Parcel) -> tuple[float, float]:
    point = parcel.geom.point_on_surface
    return point.x, point.y


def centre_on(page: Page, parcel: Parcel, zoom: int) -> None:
    lng, lat = inside(parcel)
    page.evaluate("([lat, lng, z]) => window.maps[0].setView([lat, lng], z, {animate: false})", [lat, lng, zoom])
    page.wait_for_timeout(300)


def wait_for_tiles(page: Page) -> None:
    page.wait_for_function(
        "() => document.querySelectorAll('#work-map canvas').length > 0"
        " && [...document.querySelectorAll('.leaflet-tile')].every(t => t.classList.contains('leaflet-tile-loaded'))",
        timeout=20_000,
    )


def test_clerk_searches_clicks_and_reads_the_dossier(
    page: Page,
    live_server: Any,
    world: dict[str, Any],
    make_user: Callable[..., User],
    page_log: PageLog,
    artifacts: Path,
) -> None:
    parcels = world["parcels"]
    sign_in(page, live_server, make_user("clerk", VILLAGE, username="jingban"))

    page.goto(live_server.url + "/clerk/")
    expect(page.locator("#work-map")).to_have_attribute("data-state", "ready", timeout=15_000)
    expect(page.locator(".topnav a[aria-current=page]")).to_have_text("经办查询")

    # Search by the contractor's name, open the first parcel.
    page.fill("#search-input", "张三")
    page.click("#search-form button[type=submit]")
    results = page.locator("#search-results button")
    expect(results).to_have_count(2)
    expect(results.first).to_contain_text("承包方：" + CONTRACTOR)
    results.first.click()
    dossier = page.locator("#dossier")
    expect(dossier).to_have_attribute("data-dkbm", parcels["east1"].code, timeout=15_000)
    expect(dossier.locator(".dossier-dkbm")).to_have_text(parcels["east1"].code)
    expect(dossier.locator(".dossier-contractor")).to_have_text(CONTRACTOR)
    expect(dossier.locator(".member-name")).to_have_text([CONTRACTOR, SPOUSE])
    expect(dossier.locator(".dossier-certificate")).to_have_text("有效")
    expect(dossier.locator(".dossier-register")).to_have_text(world["register"]["book"].code)
    expect(dossier).to_contain_text("变更历史")
    link = dossier.locator(".actions a", has_text="一般变更登记（地块）")
    assert "/registration/cases/new?item=1033" in str(link.get_attribute("href"))
    assert parcels["east1"].code in str(link.get_attribute("href"))
    wait_for_tiles(page)
    page.screenshot(path=str(artifacts / "clerk-search-dossier.png"), animations="disabled")

    # Click another parcel on the map: its dossier replaces the first.
    centre_on(page, parcels["east2"], 17)
    page.mouse.click(*screen_point(page, *inside(parcels["east3"])))
    expect(dossier).to_have_attribute("data-dkbm", parcels["east3"].code, timeout=15_000)
    expect(dossier).to_contain_text("该地块不在任何承包合同中")

    # Double-click zooms to the parcel.
    centre_on(page, parcels["east2"], 15)
    before = int(page.evaluate("() => window.maps[0].getZoom()"))
    page.mouse.dblclick(*screen_point(page, *inside(parcels["east2"])))
    page.wait_for_function("z => window.maps[0].getZoom() > z", arg=before, timeout=10_000)
    expect(dossier).to_have_attribute("data-dkbm", parcels["east2"].code, timeout=15_000)
    bounds_ok = page.evaluate(
        """([w, s, e, n]) => window.maps[0].getBounds().contains([[s, w], [n, e]])""",
        list(parcels["east2"].geom.extent),
    )
    assert bounds_ok
    wait_for_tiles(page)
    page.screenshot(path=str(artifacts / "clerk-dblclick-zoom.png"), animations="disabled")
    assert page_log.external_requests == []
    assert page_log.errors == []


def test_data_staff_switch_layers_run_qc_pick_parcels_and_export(
    page: Page,
    live_server: Any,
    world: dict[str, Any],
    make_user: Callable[..., User],
    page_log: PageLog,
    artifacts: Path,
) -> None:
    parcels = world["parcels"]
    # Bad data for the inspection to find: 东小田 pushed 10 m into 东大田.
    Parcel.objects.filter(pk=parcels["east2"].pk).update(geom=MultiPolygon(square(90, 0), srid=4490))
    user = make_user("data_staff", "310151", username="shuju")
    sign_in(page, live_server, user)

    page.goto(live_server.url + "/data/")
    container = page.locator("#work-map")
    expect(container).to_have_attribute("data-state", "ready", timeout=15_000)
    layers = page.locator("#layer-list input[type=checkbox]")
    expect(layers).to_have_count(8)  # the orthophoto and seven vector layers
    ortho = page.locator("#layer-list input[data-layer='正射影像：测试正射影像']")
    expect(ortho).to_be_checked()
    ortho.uncheck()
    assert page.evaluate("() => document.querySelectorAll('.raster-test-dom').length") == 0
    ortho.check()

    # Quality inspection: run it, its findings are drawn on the map.
    page.click("#qc-panel button:has-text('运行质检')")
    expect(container).to_have_attribute("data-qc", re.compile(r"^[1-9]\d*$"), timeout=60_000)
    expect(page.locator("#qc-panel .qc-state")).to_contain_text("错误")

    centre_on(page, parcels["east3"], 17)
    page.mouse.click(*screen_point(page, *inside(parcels["east1"])))
    expect(container).to_have_attribute("data-selection", "1", timeout=10_000)
    page.mouse.click(*screen_point(page, *inside(parcels["east3"])))
    expect(container).to_have_attribute("data-selection", "2", timeout=10_000)
    expect(page.locator("#selection-list li")).to_have_text(sorted([parcels["east1"].code, parcels["east3"].code]))
    href = page.locator("#export-link").get_attribute("href")
    assert href and "codes=" in href
    wait_for_tiles(page)
    page.screenshot(path=str(artifacts / "data-selection.png"), animations="disabled")

    request = urllib.request.Request(
        live_server.url + href, headers={"Cookie": f"sessionid={page.context.cookies()[0]['value']}"}
    )
    with urllib.request.urlopen(request) as response:
        body = json.loads(response.read())
    assert sorted(f["id"] for f in body["features"]) == sorted([parcels["east1"].code, parcels["east3"].code])

    page.click("#select-view")
    expect(container).to_have_attribute("data-selection", "view")
    assert "bbox=" in str(page.locator("#export-link").get_attribute("href"))
    assert page_log.external_requests == []
    assert page_log.errors == []
