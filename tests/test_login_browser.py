"""Signing in and out in a real browser: /login, the operator map with the account in its top
bar, the sign-out button; a wrong password and a page asked for before signing in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from db.session import engine_for
from demo.accounts import DEMO_PASSWORD
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_operator_browser import stop_listener
from tests.waits import HANG_MS
from web.auth import COOKIE


@pytest.fixture
def demo_base(demo_copy_url, app_server) -> Iterator[str]:
    server = app_server(demo_copy_url)
    try:
        yield server.base
    finally:
        server.stop()
        stop_listener(demo_copy_url)
        engine_for(demo_copy_url).dispose()


def test_sign_in_see_the_map_and_sign_out(browser, demo_base, artifacts_dir):  # noqa: F811
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    # a page asked for before signing in leads to /login, which comes back to it afterwards
    page.goto(demo_base + "/?lang=zh")
    assert page.url.startswith(demo_base + "/login?next=")
    page.fill("input[name=name]", "village_operator")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    page.locator(".login-error").wait_for(timeout=HANG_MS)
    assert "账号或密码错误" in page.locator(".login-error").inner_text()

    watch = Watcher(page)  # (the refused sign-in above is a 401 the console reports)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    # back to the page first asked for; document.body is null for a moment while it loads
    page.wait_for_url(lambda u: "/login" not in u, timeout=HANG_MS)
    page.wait_for_function(
        "() => document.body && document.body.dataset.ready === '1'"
        " && document.body.dataset.todayLoaded === '1'",
        timeout=HANG_MS,
    )
    assert page.url.rstrip("/") in (demo_base, demo_base + "/?lang=zh")
    assert page.locator(".folium-map path.leaflet-interactive").count() > 0
    header = page.locator("header.topbar .account").inner_text()
    assert "村便民服务中心操作员" in header and "退出" in header
    cookie = next(c for c in context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find(COOKIE) == -1  # scripts cannot read it
    page.screenshot(path=str(artifacts_dir / "signed-in-map.png"))

    page.click("header.topbar button.sign-out")
    page.wait_for_url(demo_base + "/login", timeout=HANG_MS)
    assert all(c["name"] != COOKIE for c in context.cookies())
    page.goto(demo_base + "/")
    assert page.url.startswith(demo_base + "/login?next=")
    assert watch.errors == [], watch.errors
    context.close()
