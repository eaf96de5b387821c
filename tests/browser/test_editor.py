"""The surveyor editor (测绘编辑) in Chromium: draw a parcel whose corners snap onto the
neighbour's vertices and save it; try to save an overlapping one and see the overlap shown
and the save refused; split a parcel by a line; merge two; undo, redo and Esc while editing
vertices; and the attribute form and shape surviving a page reload."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from parcels.models import Parcel, ParcelLineage
from tests.browser.conftest import PageLog
from tests.browser.test_clerk_map import screen_point, sign_in
from tests.conftest import VILLAGE
from tests.test_editor_api import at, make_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def world(county: dict[str, str], settings: Any, tmp_path: Path) -> dict[str, Parcel]:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.TILE_CACHE_DIR = str(tmp_path / "cache")
    return make_world(county)


@pytest.fixture
def editor(page: Page, live_server: Any, world: dict[str, Parcel], make_user: Callable[..., User]) -> Page:
    sign_in(page, live_server, make_user("surveyor", VILLAGE, username="celiang"))
    page.goto(live_server.url + "/editor/")
    return page


def view(page: Page, x: float, y: float, zoom: int) -> None:
    """Centre the map on a point x, y metres from (121.40E, 31.60N) and wait for the parcels."""
    lng, lat = at(x, y)
    page.wait_for_function("() => window.maps && window.maps.length > 0")
    page.evaluate("([lat, lng, z]) => window.maps[0].setView([lat, lng], z, {animate: false})", [lat, lng, zoom])
    page.wait_for_function("() => Number(document.querySelector('#work-map').dataset.neighbours) > 0", timeout=15_000)


def point(page: Page, x: float, y: float) -> tuple[float, float]:
    return screen_point(page, *at(x, y))


def fill_attributes(page: Page, name: str) -> None:
    page.fill("#attribute-form input[name=dkmc]", name)
    page.select_option("#attribute-form select[name=dklb]", "10")
    page.select_option("#attribute-form select[name=dldj]", "05")
    page.select_option("#attribute-form select[name=tdyt]", "1")
    page.select_option("#attribute-form select[name=sfjbnt]", "2")


def draw_polygon(page: Page, corners: list[tuple[float, float]]) -> None:
    page.click(".toolbar [data-action=draw]")
    expect(page.locator("#work-map")).to_have_attribute("data-mode", "draw")
    for x, y in corners:
        page.mouse.move(x - 6, y - 6)
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        page.wait_for_timeout(120)
    page.mouse.move(*corners[0])
    page.mouse.click(*corners[0])  # clicking the first vertex closes the ring
    expect(page.locator("#work-map")).to_have_attribute("data-working", "1")


def test_draw_with_snapping_and_save(
    editor: Page, world: dict[str, Parcel], page_log: PageLog, artifacts: Path
) -> None:
    page = editor
    view(page, -20, 50, 19)
    east1 = world["east1"].geom[0][0]
    sw, nw = east1[0], east1[1]  # (x 0, y 0) and (x 0, y 100) of 东大田
    sw_px = screen_point(page, *sw)
    nw_px = screen_point(page, *nw)
    # Aim 4 px beside 东大田's west corners (1 m at z19): the snap puts the vertices on them.
    corners = [point(page, -60, 0), (sw_px[0] + 3, sw_px[1] + 2), (nw_px[0] - 2, nw_px[1] - 3), point(page, -60, 100)]

    draw_polygon(page, corners)

    container = page.locator("#work-map")
    expect(container).to_have_attribute("data-check", "ok", timeout=15_000)
    expect(page.locator("#area-estimate")).to_contain_text("m²")
    expect(page.locator("#area-measured")).to_contain_text("亩")
    estimate = float(page.locator("#area-estimate").get_attribute("data-sqm") or 0)
    assert estimate == pytest.approx(6000, rel=0.02)
    expect(page.locator("#f-collective")).to_have_value(world["east1"].code[:14])
    expect(page.locator("#attribute-form input[name=dkdz]")).to_have_value("集体土地")  # 东大田, held by nobody
    expect(page.locator("#attribute-form input[name=dknz]")).to_have_value("道路")
    fill_attributes(page, "新开田")
    page.screenshot(path=str(artifacts / "editor-draw-snapped.png"), animations="disabled")

    page.click("#save-button")

    expect(container).to_have_attribute("data-saved", re.compile(r"^\d{19}$"), timeout=15_000)
    code = container.get_attribute("data-saved")
    parcel = Parcel.objects.get(code=code)
    assert parcel.name == "新开田" and parcel.east == "集体土地" and parcel.south == "道路"
    vertices = set(parcel.geom[0][0])
    assert sw in vertices and nw in vertices  # snapped: bit-identical shared corners
    expect(page.locator("#editor-messages .ok")).to_contain_text("已保存地块 " + code)
    page.screenshot(path=str(artifacts / "editor-saved.png"), animations="disabled")
    assert page_log.external_requests == []
    assert page_log.errors == []


def test_overlapping_parcel_is_shown_and_refused(
    editor: Page, world: dict[str, Parcel], page_log: PageLog, artifacts: Path
) -> None:
    page = editor
    view(page, 170, 100, 19)
    # 30 m x 100 m straddling 东小田's north edge: 30 m x 50 m inside it.
    draw_polygon(page, [point(page, 150, 50), point(page, 180, 50), point(page, 180, 150), point(page, 150, 150)])

    container = page.locator("#work-map")
    expect(container).to_have_attribute("data-check", "overlap", timeout=15_000)
    warning = page.locator("#editor-messages .warning")
    expect(warning).to_contain_text(world["east2"].code)
    expect(warning).to_contain_text("保存会被拒绝")
    fill_attributes(page, "重叠田")
    page.click("#save-button")

    expect(container).to_have_attribute("data-error", "parcel_overlap", timeout=15_000)
    error = page.locator("#editor-messages .error")
    expect(error).to_contain_text("重叠")
    expect(error).to_contain_text(world["east2"].code)
    # The overlapping area is drawn in red on the map.
    assert page.locator("path[fill='#d7191c']").count() >= 1
    page.screenshot(path=str(artifacts / "editor-overlap-refused.png"), animations="disabled")
    assert Parcel.objects.count() == 4
    assert page_log.errors == [] or all("400" in e for e in page_log.errors)


def test_split_then_merge(editor: Page, world: dict[str, Parcel], page_log: PageLog, artifacts: Path) -> None:
    page = editor
    container = page.locator("#work-map")
    view(page, 150, 50, 18)
    code = world["east2"].code
    page.locator(f'path[data-dkbm="{code}"]').click()
    expect(container).to_have_attribute("data-selected", code)
    expect(page.locator("#form-target")).to_contain_text(code)

    page.click(".toolbar [data-action=split]")
    expect(container).to_have_attribute("data-mode", "split")
    page.mouse.click(*point(page, 150, -20))
    page.wait_for_timeout(150)
    page.mouse.dblclick(*point(page, 150, 120))

    expect(container).to_have_attribute("data-saved", re.compile(r"^\d{19},\d{19}$"), timeout=15_000)
    pieces = str(container.get_attribute("data-saved")).split(",")
    assert Parcel.objects.get(code=code).status == "historic"
    assert set(ParcelLineage.objects.filter(parent__code=code).values_list("child__code", flat=True)) == set(pieces)
    for piece in pieces:
        expect(page.locator(f'path[data-dkbm="{piece}"]')).to_have_count(1, timeout=15_000)
    page.screenshot(path=str(artifacts / "editor-split.png"), animations="disabled")

    # Merge the two halves back: click one, Shift+click the other, 合并.
    page.locator(f'path[data-dkbm="{pieces[0]}"]').click()
    page.locator(f'path[data-dkbm="{pieces[1]}"]').click(modifiers=["Shift"])
    expect(container).to_have_attribute("data-selected", f"{pieces[0]},{pieces[1]}")
    page.click(".toolbar [data-action=merge]")

    expect(container).to_have_attribute("data-saved", re.compile(r"^\d{19}$"), timeout=15_000)
    merged = Parcel.objects.get(code=container.get_attribute("data-saved"))
    assert merged.status == "current"
    assert merged.surveyed_area == pytest.approx(world["east2"].surveyed_area, abs=0.05)
    assert Parcel.objects.filter(code__in=pieces, status="historic").count() == 2
    page.screenshot(path=str(artifacts / "editor-merge.png"), animations="disabled")
    assert page_log.errors == []


def test_undo_redo_escape_and_the_draft_survives_a_reload(
    editor: Page, world: dict[str, Parcel], page_log: PageLog, artifacts: Path
) -> None:
    page = editor
    container = page.locator("#work-map")
    view(page, 250, 50, 19)
    code = world["east3"].code
    page.locator(f'path[data-dkbm="{code}"]').click()
    expect(page.locator("#attribute-form input[name=dkmc]")).to_have_value("河边地")
    page.click(".toolbar [data-action=edit]")
    expect(container).to_have_attribute("data-mode", "edit")
    expect(container).to_have_attribute("data-check", "ok", timeout=15_000)
    area = page.locator("#area-estimate")
    before = float(area.get_attribute("data-sqm") or 0)

    # Drag the north-east corner 40 px to the east.
    corner = point(page, 300, 100)
    page.mouse.move(*corner)
    page.mouse.down()
    page.mouse.move(corner[0] + 20, corner[1], steps=4)
    page.mouse.move(corner[0] + 40, corner[1], steps=4)
    page.mouse.up()
    page.wait_for_function("b => Number(document.querySelector('#area-estimate').dataset.sqm) > b + 100", arg=before)
    grown = float(area.get_attribute("data-sqm") or 0)

    page.keyboard.press("Control+z")
    page.wait_for_function(
        "b => Math.abs(Number(document.querySelector('#area-estimate').dataset.sqm) - b) < 0.01", arg=before
    )
    page.keyboard.press("Control+y")
    page.wait_for_function(
        "g => Math.abs(Number(document.querySelector('#area-estimate').dataset.sqm) - g) < 0.01", arg=grown
    )

    # Attributes typed and the reshaped boundary survive a reload.
    page.fill("#attribute-form input[name=dkmc]", "草稿名")
    page.fill("#attribute-form input[name=dkbzxx]", "东侧放宽10米")
    page.reload()
    expect(page.locator("#draft-notice")).to_be_visible(timeout=15_000)
    expect(page.locator("#attribute-form input[name=dkmc]")).to_have_value("草稿名")
    expect(page.locator("#attribute-form input[name=dkbzxx]")).to_have_value("东侧放宽10米")
    expect(container).to_have_attribute("data-working", "1")
    assert float(area.get_attribute("data-sqm") or 0) == pytest.approx(grown, abs=0.01)
    expect(page.locator("#form-target")).to_contain_text(code)
    page.screenshot(path=str(artifacts / "editor-draft-restored.png"), animations="disabled")

    # Esc cancels the edit and the draft; nothing was saved.
    page.locator("#work-map").focus()
    page.keyboard.press("Escape")
    expect(container).to_have_attribute("data-working", "0")
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('nongdi.editor'))") == []
    parcel = Parcel.objects.get(code=code)
    assert (parcel.version, parcel.name) == (1, "河边地")
    assert page_log.errors == []


def test_cut_a_hole_and_save(editor: Page, world: dict[str, Parcel], page_log: PageLog, artifacts: Path) -> None:
    page = editor
    container = page.locator("#work-map")
    view(page, 50, 50, 19)
    code = world["east1"].code
    page.locator(f'path[data-dkbm="{code}"]').click()
    expect(page.locator("#form-target")).to_contain_text(code)

    page.click(".toolbar [data-action=cut]")
    expect(container).to_have_attribute("data-mode", "cut", timeout=10_000)
    corners = [point(page, 30, 30), point(page, 60, 30), point(page, 60, 60), point(page, 30, 60)]
    for x, y in corners:
        page.mouse.click(x, y)
        page.wait_for_timeout(120)
    page.mouse.click(*corners[0])
    expect(container).to_have_attribute("data-mode", "edit", timeout=10_000)
    expect(container).to_have_attribute("data-check", "ok", timeout=15_000)
    estimate = float(page.locator("#area-estimate").get_attribute("data-sqm") or 0)
    assert estimate == pytest.approx(10000 - 900, rel=0.01)
    page.screenshot(path=str(artifacts / "editor-cut-hole.png"), animations="disabled")

    page.click("#save-button")

    expect(container).to_have_attribute("data-saved", code, timeout=15_000)
    parcel = Parcel.objects.get(code=code)
    assert parcel.version == 2 and len(parcel.geom[0]) == 2  # outer ring and one hole
    assert float(parcel.surveyed_area) == pytest.approx(estimate, rel=0.0005)
    assert page_log.errors == []
