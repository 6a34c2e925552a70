"""The rating link and the scores page in a real browser (headless Chromium) on a copy of the
demo: an operator makes a rating link on the case page and copies it; the resident opens it on
a phone-sized screen (390×844, no sideways scrolling, the close note typed as HTML shown as
text, no personal data), rates 不满意 and the case reopens; the link then answers its 409 page.
A leader's /scores page at 1440×900 shows the stars, the scores and the formulas. Nothing is
fetched from another host, no script error. Saves tests/artifacts/rate.png, rate-done.png,
rating-link.png and scores.png."""

from __future__ import annotations

from sqlalchemy import text

from cases import scores
from db.session import engine_for, session_scope
from tests.accounts_support import signed_page
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_intake_api import leaf_with_one_worker
from tests.test_operator_browser import outside_requests, stop_listener
from tests.test_rating import closed_case
from tests.waits import HANG_MS

XSS = "<img src=x onerror=alert(1)>"


def test_an_operator_sends_a_link_and_the_resident_rates_on_a_phone(
        browser, demo_copy_url, app_server, artifacts_dir, caplog):  # noqa: F811
    leaf = leaf_with_one_worker(demo_copy_url, offset=1)
    case_id, _closed = closed_case(demo_copy_url, leaf, close_note=f"已清运完毕 {XSS}")
    server = app_server(demo_copy_url)
    try:
        operator = signed_page(browser, server.base, demo_copy_url, "town_operator",
                               viewport={"width": 1440, "height": 900}, locale="zh-CN")
        watch_op = Watcher(operator)
        operator.goto(f"{server.base}/cases/{case_id}", wait_until="networkidle",
                      timeout=HANG_MS)
        block = operator.locator("#rating-link")
        assert "发送给报告人" in block.inner_text() and "没有短信网关" in block.inner_text()
        block.locator("button.rating-link-make").click()
        operator.wait_for_selector(".rating-link-url", timeout=HANG_MS)
        link = operator.locator(".rating-link-url").input_value()
        assert link.startswith(server.base + "/rate/")
        operator.locator("#rating-link").screenshot(path=str(artifacts_dir / "rating-link.png"))
        assert outside_requests(watch_op, server.base) == [] and watch_op.errors == []

        phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                 is_mobile=True, has_touch=True)
        watch = Watcher(phone)
        phone.goto(link, wait_until="networkidle", timeout=HANG_MS)
        body = phone.locator("body").inner_text()
        assert "办理结果评价" in body and f"已清运完毕 {XSS}" in body  # as text
        assert "张三丰" not in body and "13812345678" not in body
        assert phone.evaluate("document.scrollingElement.scrollWidth") <= 390
        assert phone.locator(".rate-level").count() == 4
        for level in phone.locator(".rate-level").all():  # thumb-sized choices
            assert level.bounding_box()["height"] >= 40
        phone.screenshot(path=str(artifacts_dir / "rate.png"), full_page=True)
        phone.locator(".rate-dissatisfied").click()
        phone.locator("textarea[name=comment]").fill(XSS)
        phone.locator(".rate-form button[type=submit]").click()
        phone.wait_for_selector(".rate-done", timeout=HANG_MS)
        assert "退回重新办理" in phone.locator(".rate-done").inner_text()
        phone.screenshot(path=str(artifacts_dir / "rate-done.png"))
        with session_scope(demo_copy_url) as s:
            status, note = s.execute(text(
                "SELECT c.status, e.note FROM cases c JOIN case_events e ON e.case_id = c.id "
                "AND e.type = 'evaluate' WHERE c.id = :id"), {"id": case_id}).one()
        assert status == "filed" and note == XSS

        again = phone.goto(link, wait_until="networkidle", timeout=HANG_MS)
        assert again.status == 409
        assert "使用过" in phone.locator(".rate-error").inner_text()
        assert phone.locator("img[src='x']").count() == 0
        assert outside_requests(watch, server.base) == []
        assert watch.errors == [] or all("409" in e for e in watch.errors)
        assert watch.dialogs == []
        token = link.rsplit("/", 1)[1]
        assert any("/rate/***" in r.getMessage() for r in caplog.records)
        assert not any(token in r.getMessage() for r in caplog.records)  # never logged
        phone.close()
        operator.close()
    finally:
        server.stop()
        stop_listener(demo_copy_url)
        engine_for(demo_copy_url).dispose()


def test_the_scores_page_shows_stars_scores_and_the_formulas(
        browser, demo_copy_url, app_server, artifacts_dir):  # noqa: F811
    server = app_server(demo_copy_url)
    try:
        page = signed_page(browser, server.base, demo_copy_url, "town_leader",
                           viewport={"width": 1440, "height": 900}, locale="zh-CN")
        watch = Watcher(page)
        page.goto(server.base + "/scores", wait_until="networkidle", timeout=HANG_MS)
        assert page.locator("h1").inner_text() == "考核评分"
        assert page.locator("table.villages tbody tr").count() >= 10
        assert page.locator("table.workers tbody tr").count() >= 10
        assert page.locator("table.party tbody tr").count() >= 1
        stars = page.locator("table.villages td.stars").first.inner_text()
        assert set(stars) <= {"★", "☆"} and len(stars) == 5
        assert page.locator("pre.formulas").inner_text().strip() == scores.formulas()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 1440
        page.screenshot(path=str(artifacts_dir / "scores.png"))
        bad = page.goto(server.base + "/scores?from=2026-03-31&until=2026-03-01",
                        wait_until="networkidle", timeout=HANG_MS)
        assert bad.status == 422 and "日期有误" in page.locator("main").inner_text()
        assert outside_requests(watch, server.base) == [] and watch.dialogs == []
        page.close()
    finally:
        server.stop()
        stop_listener(demo_copy_url)
        engine_for(demo_copy_url).dispose()
