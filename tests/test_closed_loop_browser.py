"""The closed loop (全链闭环) end to end, as its people do it in a real browser (issue 9, "Done
when"): a resident reports; the village's grid worker accepts, cannot solve it and escalates;
the village operator escalates to the town; the town operator dispatches to a department; the
department handler feeds back; the town operator closes; the resident rates 不满意 on a phone
and the case reopens; the town dispatches it to the grid worker, who handles it; it closes
again, and the worker's and the village's scores move.

Every step is a click in the case page's actions panel (web/static/js/case.js) of an account
signed in to its own browser context, except the report (the resident's app posts to the API,
with no account) and the rating (the resident's phone page, /rate/<token>, with no account)."""

from __future__ import annotations

import json
import urllib.request
from datetime import date, timedelta

from cases.board import today as town_today
from demo.accounts import DEPARTMENT
from tests.accounts_support import signed_page
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_case_actions_browser import demo_base  # noqa: F401  (the live server fixture)
from tests.test_transitions_api import demo_leaf, query, state
from tests.waits import HANG_MS, wait_for


def report(base: str, leaf: dict) -> int:
    """The resident's app reports, with no account."""
    body = {"category": "patrol.exposed_rubbish", "description": "村口垃圾堆了三天没人清",
            "channel": "resident", "reporter": {"name": "赵小梅", "phone": "13912345678"},
            "location": {"lon": leaf["lon"], "lat": leaf["lat"], "crs": "wgs84"}}
    req = urllib.request.Request(base + "/api/v1/cases", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=HANG_MS / 1000) as r:
        assert r.status == 201
        return json.loads(r.read())["id"]


def scores(base: str, token: str, kind: str, today: date) -> list[dict]:
    url = (f"{base}/api/v1/stats/{kind}?from={today - timedelta(days=1)}"
           f"&until={today + timedelta(days=1)}")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=HANG_MS / 1000) as r:
        return json.loads(r.read())["items"]


class Desk:
    """One account's browser page on the case."""

    def __init__(self, browser, base: str, url: str, account: str, case_id: int):  # noqa: F811
        self.url, self.case_id = url, case_id
        self.page = signed_page(browser, base, url, account, viewport={"width": 1440, "height": 900},
                                locale="zh-CN")
        self.watch = Watcher(self.page)
        self.page.goto(f"{base}/cases/{case_id}?lang=zh", wait_until="networkidle", timeout=HANG_MS)

    def act(self, action: str, note: str | None = None, to: str | None = None,
            select: bool = True) -> None:
        """Take ``action`` with the panel; wait until the case's version moved and the page
        reloaded on it."""
        before = state(self.url, self.case_id)["version"]
        panel = self.page.locator("#case-actions")
        button = panel.locator(f".action-button[data-action={action}]")
        button.wait_for(timeout=HANG_MS)
        button.click()
        form = self.page.locator(f"form.action-form[data-action={action}]")
        if to is not None:
            target = form.locator("[name=to]")
            target.select_option(to) if select else target.fill(to)
        if note is not None:
            form.locator("textarea[name=note]").fill(note)
        form.locator("button[type=submit]").click()
        wait_for(lambda: state(self.url, self.case_id)["version"] > before,
                 f"{action} applied to case {self.case_id}")
        self.page.wait_for_load_state("networkidle", timeout=HANG_MS)
        self.page.locator(".case-history").wait_for(timeout=HANG_MS)

    def close(self) -> None:
        assert self.watch.errors == [], self.watch.errors
        self.page.context.close()


def test_the_closed_loop_from_a_residents_report_to_a_second_close(  # noqa: PLR0915
    browser, demo_base, demo_copy_url, demo_tokens, artifacts_dir  # noqa: F811
):
    base, url = demo_base, demo_copy_url
    leaf = demo_leaf(url)
    worker, village = leaf["account"], leaf["code"][:12]
    today = town_today()  # the town's date (Beijing), not the machine's
    leader = demo_tokens["town_leader"]
    worker_before = {w["person_id"]: w for w in scores(base, leader, "workers", today)}
    village_before = {v["code"]: v for v in scores(base, leader, "villages", today)}

    case_id = report(base, leaf)
    assert (state(url, case_id)["status"], state(url, case_id)["queue"]) == ("dispatched", "grid")

    desk = Desk(browser, base, url, worker, case_id)
    desk.act("accept")
    desk.act("escalate", note="垃圾量大，需要村里派车")
    assert (state(url, case_id)["status"], state(url, case_id)["queue"]) == ("escalated", "village")
    desk.close()

    desk = Desk(browser, base, url, "village_operator", case_id)
    desk.act("escalate", note="村里没有清运车辆，请镇里协调")
    assert state(url, case_id)["queue"] == "town"
    desk.close()

    desk = Desk(browser, base, url, "town_operator", case_id)
    desk.act("dispatch", to=f"department:{DEPARTMENT}")
    after = state(url, case_id)
    assert (after["status"], after["queue"], after["department_code"]) == ("dispatched", "department", DEPARTMENT)
    desk.close()

    desk = Desk(browser, base, url, "department_handler", case_id)
    desk.act("accept")
    desk.act("feed_back", note="城管中队已派车清运")
    desk.close()

    town = Desk(browser, base, url, "town_operator", case_id)
    town.act("close", note="现场核查：已清运干净")
    assert state(url, case_id)["status"] == "closed"
    # the reporter left a phone: the operator makes the rating link to send (no SMS gateway)
    town.page.locator("#rating-link button.rating-link-make").click()
    link = town.page.locator(".rating-link-url")
    link.wait_for(timeout=HANG_MS)
    rating_url = link.input_value()
    town.page.screenshot(path=str(artifacts_dir / "closed-loop-closed.png"), full_page=True)

    phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN",
                             is_mobile=True, has_touch=True)
    phone.goto(rating_url, wait_until="networkidle", timeout=HANG_MS)
    assert "赵小梅" not in phone.locator("body").inner_text()  # no personal data on the page
    phone.locator(".rate-dissatisfied").click()
    phone.locator("textarea[name=comment]").fill("车走了又有人倒，根本没管住")
    phone.locator(".rate-form button[type=submit]").click()
    phone.wait_for_selector(".rate-done", timeout=HANG_MS)
    phone.screenshot(path=str(artifacts_dir / "closed-loop-rated.png"))
    phone.close()
    reopened = state(url, case_id)
    assert (reopened["status"], reopened["queue"]) == ("filed", "town")
    cards = query(url, "SELECT count(*) AS n FROM case_events WHERE case_id = :id AND type = 'card'",
                  id=case_id)
    assert cards[0]["n"] == 1, "不满意 reopens the case with a supervision card"

    # the town sends it to the grid worker this time, who handles it; the town closes again
    town.page.reload(wait_until="networkidle")
    town.act("dispatch", to=f"person:{leaf['worker_id']}")
    desk = Desk(browser, base, url, worker, case_id)
    desk.act("accept")
    desk.act("feed_back", note="已联系保洁员每日巡查，设置禁倒标牌")
    desk.close()
    town.page.reload(wait_until="networkidle")
    town.act("close", note="复查：已清理并设置标牌")
    assert state(url, case_id)["status"] == "closed"
    town.page.screenshot(path=str(artifacts_dir / "closed-loop-history.png"), full_page=True)
    history = town.page.locator(".case-history").inner_text()
    for step in ("受理", "上报", "派遣", "反馈", "结案", "评价", "重办"):
        assert step in history, step
    town.close()

    events = [e["type"] for e in query(url, "SELECT type FROM case_events WHERE case_id = :id "
                                            "ORDER BY id", id=case_id)]
    assert events == ["created", "accept", "escalate", "escalate", "dispatch", "accept",
                      "feed_back", "close", "evaluate", "reopen", "card", "dispatch", "accept",
                      "feed_back", "close"]
    worker_after = {w["person_id"]: w for w in scores(base, leader, "workers", today)}
    village_after = {v["code"]: v for v in scores(base, leader, "villages", today)}
    mine = leaf["worker_id"]
    before = worker_before.get(mine, {"handled": 0, "score": 0})
    assert worker_after[mine]["handled"] == before["handled"] + 1
    assert worker_after[mine]["score"] != before["score"]
    assert village_after[village] != village_before.get(village)
