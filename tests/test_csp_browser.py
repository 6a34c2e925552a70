"""The Content-Security-Policy in real headless Chromium: every page, opened as its user would
(the operator's map, a case, the grid list, the public board, the scores, the login, the
worker's phone, the planner, an emergency's board, the API docs), runs under the policy with
no violation reported (``securitypolicyviolation`` events, collected from before the page's
first script) and no console error. The other browser tests run under the same policy."""

from __future__ import annotations

import pytest

from tests.accounts_support import operator_client, sign_in_browser
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_case_actions_browser import demo_base  # noqa: F401  (the live server on a demo copy)
from tests.visit_support import query
from tests.waits import HANG_MS

COLLECT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push([e.violatedDirective, e.blockedURI, e.sourceFile + ':' + e.lineNumber,
                     e.sample].join(' '));
});
"""
DESK = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def visit(browser, base, url, path, account, ready, viewport=DESK):  # noqa: F811
    context = browser.new_context(viewport=viewport, locale="zh-CN",
                                  service_workers="allow" if viewport is PHONE else "block")
    if account:
        sign_in_browser(context, base, url, account)
    context.add_init_script(COLLECT)
    page = context.new_page()
    watch = Watcher(page)
    try:
        page.goto(base + path, wait_until="load")
        if ready:  # a function, not an expression: Playwright evals an expression in the
            # page, which the policy refuses (no 'unsafe-eval')
            page.wait_for_function(f"() => {ready}", timeout=HANG_MS)
        page.wait_for_function("() => document.readyState === 'complete'", timeout=HANG_MS)
        return page.evaluate("window.__csp"), list(watch.errors)
    finally:
        context.close()


def test_every_page_runs_under_the_policy_without_a_violation(browser, demo_base,  # noqa: F811
                                                              demo_copy_url):
    url = demo_copy_url
    case = query(url, "SELECT id FROM cases WHERE status = 'closed' ORDER BY id LIMIT 1")[0]["id"]
    operator = operator_client({"DATABASE_URL": url})
    mobilised = operator.post("/api/v1/emergencies", json={
        "name": "演练", "kind": "confirm_safe", "instructions": "确认安全",
        "area": {"village": query(url, "SELECT scope_code FROM accounts "
                                       "WHERE name = 'village_operator'")[0]["scope_code"]}})
    assert mobilised.status_code == 201, mobilised.json
    emergency = mobilised.json["emergency"]["id"]
    grid = query(url, "SELECT ga.grid_code FROM grid_assignments ga JOIN accounts a "
                      "ON a.person_id = ga.person_id WHERE a.name = 'grid_worker_1' "
                      "ORDER BY 1 LIMIT 1")[0]["grid_code"]
    pages = [
        ("/", "town_operator", "document.body.dataset.ready === '1'", DESK),
        (f"/cases/{case}", "town_operator", None, DESK),
        (f"/cases?grid={grid}", "grid_worker_1", None, DESK),
        ("/public", None, None, DESK),
        ("/scores", None, None, DESK),
        ("/login", None, None, DESK),
        ("/worker", "grid_worker_1", "document.body.dataset.booted === '1'", PHONE),
        ("/planner", "planner", "document.body.dataset.ready === '1'", DESK),
        (f"/emergencies/{emergency}", "town_operator",
         "document.getElementById('em-live').dataset.state === 'on'", DESK),
        ("/api/v1/docs", None, "document.body.dataset.diagram === 'drawn'", DESK),
    ]
    found = {}
    for path, account, ready, viewport in pages:
        violations, errors = visit(browser, demo_base, url, path, account, ready, viewport)
        if violations or errors:
            found[path] = (violations, errors)
    assert not found, found
