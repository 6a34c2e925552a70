"""The map page in a real browser: headless Chromium against the app served on 127.0.0.1.

Checks what only a browser can: the grids are drawn, nothing is fetched from another host,
no script error, and a name typed as HTML shows as text without running. Saves
tests/artifacts/map.png (and map-panel.png) to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.accounts_support import signed_page
from tests.test_pages import ADMIN_CODES, GRID_CODES, XSS, XSS_PERSON, insert_small_town

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-gpu",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VENDOR = Path(__file__).resolve().parents[1] / "web" / "static" / "vendor"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system` (it installs Debian's chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live_server(empty_db_url, app_server) -> str:
    """The app with the small town, served by werkzeug on a free port of 127.0.0.1."""
    if not (VENDOR / "leaflet" / "leaflet.js").is_file():
        pytest.fail(f"{VENDOR} has no Leaflet: run `make assets`")
    insert_small_town(empty_db_url)
    return app_server(empty_db_url).base


class Watcher:
    """Every request, console error, page error and dialog a page produces."""

    def __init__(self, page: Page):
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", self._dialog)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def _click_lonlat(page: Page, lon: float, lat: float) -> None:
    """Click the map at a point (EPSG:4326), using the page's own Leaflet map to place it."""
    x, y = page.evaluate(
        """([lat, lon]) => {
            const el = document.querySelector('.folium-map');
            const point = window[el.id].latLngToContainerPoint([lat, lon]);
            const box = el.getBoundingClientRect();
            return [box.left + point.x, box.top + point.y];
        }""",
        [lat, lon],
    )
    page.mouse.click(x, y)


def test_map_page_draws_grids_from_our_host_only(browser, live_server, empty_db_url, artifacts_dir):
    page = signed_page(browser, live_server, empty_db_url, viewport={"width": 1280, "height": 800},
                       locale="zh-CN")
    watch = Watcher(page)
    page.goto(live_server + "/", wait_until="networkidle")
    page.wait_for_function("() => document.body.dataset.ready === '1'")

    # Every grid drawn: 2 village outlines + 4 leaf grids, plus the zone outline.
    assert page.locator("path.leaflet-interactive").count() >= len(GRID_CODES)
    assert page.locator(".leaflet-control-layers").count() == 1
    # town, zones, three grid levels, and the grids without a worker on duty
    assert page.locator("#legend-grids li").count() == 6
    # The village typed with an HTML tag is labelled with the tag as text.
    label = page.locator(".leaflet-tooltip.grid-label", has_text="西庄村")
    assert label.inner_text().strip() == "西庄村" + XSS
    assert page.locator("img[src='x'], img[src='y']").count() == 0
    page.screenshot(path=str(artifacts_dir / "map.png"))

    # A click inside the service grid named with a tag opens its panel, as text.
    _click_lonlat(page, 112.8875, 35.64)
    page.wait_for_selector("#grid-panel:not([hidden]):not([data-loading])")
    panel = page.locator("#grid-panel")
    content = panel.inner_text()
    assert XSS + "服务网格" in content
    assert XSS_PERSON in content
    assert "西庄村" + XSS in content  # its village
    assert page.locator("img[src='x'], img[src='y']").count() == 0
    page.screenshot(path=str(artifacts_dir / "map-panel.png"))

    page.wait_for_load_state("networkidle")
    assert watch.dialogs == []
    assert watch.errors == []
    outside = [
        u for u in watch.requests if not u.startswith((live_server + "/", "data:"))
    ]
    assert outside == []
    assert any(u.endswith("/static/vendor/leaflet/leaflet.js") for u in watch.requests)
    assert ADMIN_CODES[0] in page.content()
    page.close()
