"""The public board in a real browser (headless Debian Chromium) on a copy of the demo: the list
and the numbered pins of the page's cases draw, side by side without overlapping, a closing
note typed as HTML shows as text, nothing is fetched from another host, no script error, and
the next page loads. Saves tests/artifacts/public.png (1440×900). In a province of two towns,
choosing a town shows its board (the chooser's script is a file: the CSP has no
unsafe-inline)."""

from __future__ import annotations

from playwright.sync_api import Page
from sqlalchemy import text

from cases import board
from db.session import engine_for, session_scope
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_operator_browser import outside_requests, stop_listener
from tests.waits import HANG_MS
from demo import province
from demo.load import load_demo

XSS = "<img src=x onerror=alert(1)>"


def _box(page: Page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def _overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_the_board_shows_its_list_and_map_as_text_from_our_host_only(
        browser, demo_copy_url, app_server, artifacts_dir):  # noqa: F811
    with session_scope(demo_copy_url) as s:
        newest = s.execute(text(
            "SELECT id, town_code, closed_at FROM cases WHERE status IN ('closed', 'evaluated') "
            "ORDER BY closed_at DESC, id DESC LIMIT 1")).mappings().one()
        s.execute(text(
            "INSERT INTO case_events "
            "(case_id, town_code, at, type, from_status, to_status, actor, data) "
            "VALUES (:id, :town, :at, 'transition', 'fed_back', 'closed', 'test', "
            "        jsonb_build_object('note', CAST(:note AS text)))"),
            {"id": newest["id"], "town": newest["town_code"], "at": newest["closed_at"],
             "note": f"已清理 {XSS}，并回访 13812345678"})
        s.execute(text("UPDATE cases SET supporters = 2 WHERE id = :id"), {"id": newest["id"]})
        s.commit()
    server = app_server(demo_copy_url)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        watch = Watcher(page)
        page.goto(server.base + "/public?lang=zh", wait_until="networkidle", timeout=HANG_MS)
        page.wait_for_function("() => document.body.dataset.pinsSpread === '1'", timeout=HANG_MS)
        assert page.locator(".board-item").count() == board.PER_PAGE
        assert page.locator(".board-pin").count() == board.PER_PAGE
        assert page.locator(".leaflet-overlay-pane path").count() >= 1  # the town's outline
        first = page.locator(".board-item").first
        assert first.locator(".board-no").inner_text() == "1"
        assert XSS in first.locator(".board-done").inner_text()  # as text, not an image
        assert "138****5678" in first.locator(".board-done").inner_text()
        assert first.locator(".supporters").inner_text().startswith("+2")
        assert page.locator("img[src='x']").count() == 0
        # the list and the map side by side, neither over the other; every pin inside the map
        assert not _overlap(_box(page, ".board-list"), _box(page, ".board-map"))
        frame = _box(page, ".board-map-frame")
        for pin in page.locator(".board-pin").all():
            b = pin.bounding_box()
            assert frame["x"] <= b["x"] and b["x"] + b["width"] <= frame["x"] + frame["width"]
            assert frame["y"] <= b["y"] and b["y"] + b["height"] <= frame["y"] + frame["height"]
        # no pin covers another (close ones are spread on a ring: web/static/js/public.js)
        pins = [p.bounding_box() for p in page.locator(".board-pin").all()]
        assert [(a, b) for i, a in enumerate(pins) for b in pins[i + 1:] if _overlap(a, b)] == []
        # the filters do not run into each other
        labels = [lab.bounding_box() for lab in page.locator(".board-filters label").all()]
        assert all(not _overlap(a, b) for i, a in enumerate(labels) for b in labels[i + 1:])
        page.screenshot(path=str(artifacts_dir / "public.png"))
        # hovering a pin names its case, as text
        page.locator(".board-pin").first.hover()
        page.wait_for_selector(".leaflet-tooltip", timeout=HANG_MS)
        assert page.locator(".leaflet-tooltip").inner_text().startswith("1. ")
        page.locator("a.next").click()
        page.wait_for_selector(".board-item .board-no >> text=21", timeout=HANG_MS)
        page.wait_for_load_state("networkidle")
        assert outside_requests(watch, server.base) == []
        assert watch.errors == [] and watch.dialogs == []
        page.close()
    finally:
        server.stop()
        stop_listener(demo_copy_url)
        engine_for(demo_copy_url).dispose()


def test_choosing_a_town_shows_its_board_and_its_links_keep_it(
        browser, empty_db_url, app_server, artifacts_dir):  # noqa: F811
    load_demo(empty_db_url, seed=1, cases=300, progress=False, towns=2, residents=2000)
    first, second = province.town_codes(2)
    server = app_server(empty_db_url)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        watch = Watcher(page)
        page.goto(server.base + "/public?lang=zh", wait_until="networkidle", timeout=HANG_MS)
        assert page.locator("h1").inner_text() == "巴公镇公示栏"
        chooser = page.locator("form.board-town select[name=town]")
        assert chooser.locator("option").all_inner_texts() == ["巴公镇（泽州县）", "演示2镇（演示26县）"]
        # no button pressed: the script submits the form when the town changes
        with page.expect_navigation(timeout=HANG_MS):
            chooser.select_option(second)
        page.wait_for_load_state("networkidle")
        assert page.url.endswith(f"/public?town={second}")
        assert page.locator("h1").inner_text() == "演示2镇公示栏"
        assert chooser.input_value() == second
        # the chooser and the filters side by side with nothing over anything
        labels = page.locator(".board-town label, .board-filters label").all()
        boxes = [label.bounding_box() for label in labels]
        assert all(not _overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        assert not _overlap(_box(page, ".board-town"), _box(page, ".board-filters"))
        page.screenshot(path=str(artifacts_dir / "public_towns.png"))
        # filtering keeps the town; the language switch too
        page.locator(".board-filters button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        assert f"town={second}" in page.url and page.locator("h1").inner_text() == "演示2镇公示栏"
        page.locator(".lang-switch a").nth(1).click()
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").inner_text() == "演示2镇 public board"
        assert outside_requests(watch, server.base) == []
        assert watch.errors == [] and watch.dialogs == []
        page.close()
    finally:
        server.stop()
        stop_listener(empty_db_url)
        engine_for(empty_db_url).dispose()
