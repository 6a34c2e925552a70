"""The case page's reason prompt in a real browser (Chromium, under the pages' CSP): the
village operator opens a case a resident reported, sees the reporter masked, opens
查看完整联系方式, is stopped by the browser without a reason, gives one, and sees the contact
in full with the number of the audit log's entry; the log holds the read."""

from __future__ import annotations

from cases import intake
from db.session import session_scope
from tests.accounts_support import signed_page
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_case_actions_browser import demo_base  # noqa: F401  (the live server fixture)
from tests.test_transitions_api import demo_leaf, query
from tests.waits import HANG_MS

PHONE = "13987654321"


def test_the_operator_gives_a_reason_before_the_reporter_is_shown(browser, demo_base,  # noqa: F811
                                                                   demo_copy_url, artifacts_dir):
    url = demo_copy_url
    leaf = demo_leaf(url)
    req = intake.CaseRequest(category="patrol.exposed_rubbish", description="村口暴露垃圾",
                             channel="resident", lon=leaf["lon"], lat=leaf["lat"],
                             reporter_name="李秀英", reporter_phone=PHONE)
    with session_scope(url) as s:
        case_id = intake.create_case(s, req).case["id"]
        s.commit()

    page = signed_page(browser, demo_base, url, "village_operator",
                       viewport={"width": 1440, "height": 900}, locale="zh-CN")
    watch = Watcher(page)
    page.goto(f"{demo_base}/cases/{case_id}")
    reporter = page.locator("dd.reporter")
    assert "李*" in reporter.inner_text() and "139****4321" in reporter.inner_text()
    assert PHONE not in page.content()
    page.locator(".reveal-contact summary").click()
    form = page.locator("form.reveal-form")
    assert "查阅原因" in form.inner_text() and "审计日志" in form.inner_text()
    page.screenshot(path=str(artifacts_dir / "privacy_case_reason_prompt.png"))
    # no reason: the browser refuses the form (required), nothing is sent or logged
    form.locator("button[type=submit]").click()
    assert page.evaluate("() => !document.querySelector('form.reveal-form input[name=reason]')"
                         ".validity.valid")
    assert query(url, "SELECT count(*) AS n FROM audit_log")[0]["n"] == 0
    form.locator("input[name=reason]").fill("电话回访，核实诉求")
    with page.expect_navigation(timeout=HANG_MS):
        form.locator("button[type=submit]").click()
    revealed = page.locator("dd.reporter").inner_text()
    assert "李秀英" in revealed and PHONE in revealed
    logged = query(url, "SELECT id, account_name, reason, subject_id FROM audit_log")
    assert [(r["account_name"], r["reason"], r["subject_id"]) for r in logged] == [
        ("village_operator", "电话回访，核实诉求", case_id)]
    assert f"第 {logged[0]['id']} 条" in page.locator(".revealed-note").inner_text()
    page.screenshot(path=str(artifacts_dir / "privacy_case_revealed.png"))
    assert watch.errors == [] and watch.dialogs == []
    page.context.close()
