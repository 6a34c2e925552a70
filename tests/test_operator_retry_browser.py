"""The operator map in a real browser when its data requests fail: the page says so in a
banner over the map (Chinese, or English with ?lang=en), tries again with growing pauses,
and the data arrives and the banner goes once the server answers. The failures are made by
Playwright's request interception: the first answers to one endpoint are a 503, or no
answer at all; every wait has a generous ceiling that only catches a hang."""

from __future__ import annotations

import pytest

from tests.accounts_support import signed_page
from tests.test_browser import Watcher, browser, live_server  # noqa: F401  (fixtures)
from tests.waits import HANG_MS

FAILURES = 2


@pytest.mark.parametrize("lang, endpoint, failure, banner, arrived", [
    ("zh", "/api/v1/stats/today", "503", "数据加载失败，正在重试…",
     "() => document.body.dataset.todayLoaded === '1'"),
    ("en", "/api/v1/categories", "abort", "Could not load data, retrying…",
     "() => document.querySelectorAll('#f-category optgroup').length > 0"),
])
def test_a_failed_request_is_shown_and_retried_until_the_data_arrives(
        browser, live_server, empty_db_url, artifacts_dir, lang, endpoint, failure, banner,
        arrived):  # noqa: F811
    page = signed_page(browser, live_server, empty_db_url, viewport={"width": 1440, "height": 900})
    watcher = Watcher(page)
    calls = {"failed": 0, "passed": 0}

    def fail_first(route):
        if calls["failed"] < FAILURES:
            calls["failed"] += 1
            if failure == "abort":
                route.abort("connectionreset")
            else:
                route.fulfill(status=503, content_type="application/json",
                              body='{"error": "database_unavailable", "message": "down"}')
        else:
            calls["passed"] += 1
            route.continue_()

    page.route(f"**{endpoint}*", fail_first)
    page.goto(f"{live_server}/?lang={lang}")
    page.wait_for_selector("#load-banner:not([hidden])", timeout=HANG_MS)
    assert page.locator("#load-banner").inner_text() == banner
    page.screenshot(path=str(artifacts_dir / f"operator-retry-{lang}.png"))
    page.wait_for_function(arrived, timeout=HANG_MS)
    page.wait_for_selector("#load-banner", state="hidden", timeout=HANG_MS)
    assert calls == {"failed": FAILURES, "passed": 1}
    # the browser logs each failed load; nothing else may go wrong (no script error)
    expected = ("Failed to load resource", "ERR_CONNECTION_RESET")
    assert [e for e in watcher.errors if not any(x in e for x in expected)] == []
    page.close()


def test_a_refused_request_is_not_retried(browser, live_server, empty_db_url):  # noqa: F811
    """A 4xx will not pass by trying again: the page shows the error, no banner, no retry."""
    page = signed_page(browser, live_server, empty_db_url)
    calls = {"n": 0}

    def refuse(route):
        calls["n"] += 1
        route.fulfill(status=404, content_type="application/json",
                      body='{"error": "grid_not_found", "message": "no such grid"}')

    page.route("**/api/v1/grids/*", refuse)
    page.goto(f"{live_server}/")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)
    page.evaluate("gridgov.openGrid('140525108201')")
    page.wait_for_function("() => !document.getElementById('grid-panel').hasAttribute('data-loading')",
                           timeout=HANG_MS)
    assert "no such grid" in page.locator("#grid-panel-name").inner_text()
    assert page.locator("#load-banner").is_hidden()
    assert calls["n"] == 1
    page.close()
