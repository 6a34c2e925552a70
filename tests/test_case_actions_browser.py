"""The case page's "可办理操作" panel in a real browser: the demo's grid worker signs in at
/login, opens a case dispatched to them, accepts it with the panel, then escalates it — first
without the reason it needs (refused, in Chinese, nothing sent), then with one — and sees the
status and the history change. The notification bell shows the account's unread count."""

from __future__ import annotations

from collections.abc import Iterator
import pytest

from cases import intake
from db.session import engine_for, session_scope
from demo.accounts import DEMO_PASSWORD
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_notifications_api import carded_cases
from tests.test_operator_browser import stop_listener
from tests.test_transitions_api import demo_leaf, query, state
from tests.waits import HANG_MS

REASON = "路面塌陷范围大，需村里协调机械 <b>不是标签</b>"


@pytest.fixture
def demo_base(demo_copy_url, app_server) -> Iterator[str]:
    intake.clear_caches()
    server = app_server(demo_copy_url)
    try:
        yield server.base
    finally:
        server.stop()
        stop_listener(demo_copy_url)
        engine_for(demo_copy_url).dispose()


def history(page) -> str:
    return page.locator(".case-history").inner_text()


def test_grid_worker_accepts_then_escalates_with_a_reason(browser, demo_base,  # noqa: F811
                                                           demo_copy_url, artifacts_dir):
    url = demo_copy_url
    leaf = demo_leaf(url)
    carded = carded_cases(url, 1)[0]  # a card told to the worker: the bell has one unread
    req = intake.CaseRequest(category="patrol.exposed_rubbish", description="村口暴露垃圾",
                             channel="resident", lon=leaf["lon"], lat=leaf["lat"])
    with session_scope(url) as s:
        case_id = intake.create_case(s, req).case["id"]
    assert state(url, case_id)["status"] == "dispatched"

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{demo_base}/cases/{case_id}?lang=zh")
    assert "/login" in page.url
    page.fill("input[name=name]", leaf["account"])
    page.fill("input[name=password]", DEMO_PASSWORD)
    watch = Watcher(page)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: f"/cases/{case_id}" in u, timeout=HANG_MS)

    panel = page.locator("#case-actions")
    panel.locator("h2").wait_for(timeout=HANG_MS)
    assert "可办理操作" in panel.locator("h2").inner_text()
    accept = panel.locator(".action-button[data-action=accept]")
    accept.wait_for(timeout=HANG_MS)
    names = panel.locator(".action-button").all_inner_texts()
    assert "受理" in names and "上报" in names and "结案" not in names
    bell = page.locator("header.topbar .bell")
    page.wait_for_function("() => document.querySelector('.topbar .bell').dataset.unread === '1'",
                           timeout=HANG_MS)

    accept.click()
    page.locator("form.action-form[data-action=accept] button[type=submit]").click()
    page.wait_for_function(
        "() => document.querySelector('.status-badge') && "
        "document.querySelector('.status-badge').textContent.includes('处置中')", timeout=HANG_MS)
    assert "受理" in history(page)
    after_accept = state(url, case_id)
    assert (after_accept["status"], after_accept["version"]) == ("handling", 2)

    # return (回退) needs a reason: marked required, refused in Chinese without one, nothing sent
    panel.locator(".action-button[data-action=return]").click()
    back = page.locator("form.action-form[data-action=return]")
    assert back.locator(".required").count() == 1
    back.locator("button[type=submit]").click()
    assert "请填写原因" in panel.locator(".action-message").inner_text()
    assert state(url, case_id)["version"] == 2
    back.locator("button", has_text="取消").click()

    panel.locator(".action-button[data-action=escalate]").click()
    form = page.locator("form.action-form[data-action=escalate]")
    form.locator("textarea[name=note]").fill(REASON)
    page.screenshot(path=str(artifacts_dir / "case-actions-form.png"))
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        "() => document.querySelector('.status-badge').textContent.includes('已上报')", timeout=HANG_MS)
    assert REASON in history(page)  # the hostile-looking reason shows as text
    assert page.locator(".case-history b").count() == 0
    after = state(url, case_id)
    assert (after["status"], after["version"], after["queue"]) == ("escalated", 3, "village")
    last = query(url, "SELECT type, note, role FROM case_events WHERE case_id = :id "
                      "ORDER BY id DESC LIMIT 1", id=case_id)[0]
    assert last == {"type": "escalate", "note": REASON, "role": "grid_worker"}
    # the worker holds nothing now: the panel says so
    page.locator("#case-actions .actions-status", has_text="当前没有您可办理的操作").wait_for(
        timeout=HANG_MS)
    bell.click()
    page.locator(".bell-list li").first.wait_for(timeout=HANG_MS)
    assert f"#{carded}" in page.locator(".bell-list").inner_text()
    page.locator(".case-history").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "case-actions-escalated.png"))
    context.close()
    assert watch.errors == [], watch.errors
