"""Browser tests: Debian's Chromium driven by Playwright's sync API against pytest-django's
``live_server``. Playwright's own browser download is not used (it needs the network)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, expect, sync_playwright

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("NONGDI_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: make setup installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class PageLog:
    """What a page did wrong: script errors, console errors, requests to other hosts."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.external_requests: list[str] = []


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Browser, live_server: object, page_log: PageLog) -> Iterator[Page]:
    """A fresh Chinese-locale page that may only reach the live server: any other request is
    aborted and recorded, so a test fails if the page needs the network."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    origin = str(live_server.url)  # type: ignore[attr-defined]

    def only_local(route: Route, request: Request) -> None:
        if request.url.startswith(origin) or request.url.startswith("data:"):
            route.continue_()
        else:
            page_log.external_requests.append(request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            page_log.errors.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: page_log.errors.append(f"pageerror: {exc}"))
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` at the repository root (git-ignored): screenshots for people."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def patient(page: Page) -> Iterator[None]:
    """Two shared cores under other sessions' load: waits of seconds are normal here."""
    page.set_default_timeout(30_000)
    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    """Uploaded files and the tile cache in the test's own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.TILE_CACHE_DIR = str(tmp_path / "cache")
    return tmp_path
