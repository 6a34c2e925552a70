"""The supervision pass (cases/supervision.py) on a copy of the demo: each deadline signal and
card at its moment and not a second before, once, over a weekend; nothing from suspended or met
clocks; the notifications and who reads them; ``gridgov supervise --at``; two passes at once.

Clocks are written with cases.supervision.start_clock, as the workflow's transitions write
them, with moments computed by cases.deadlines over the database's business calendar and the
thresholds of cases/data/card_rules.csv.
"""

from __future__ import annotations

import csv
from collections import Counter
import threading
import time
from datetime import datetime, timedelta
from importlib import resources

import psycopg
import pytest
from sqlalchemy import text

from accounts.actor import Actor
from cases import intake, notifications, supervision
from cases.calendar import load_calendar
from cases.deadlines import LOCAL_TZ, deadline_at
from db.session import conninfo, session_scope
from tests import clock_support
from tests.accounts_support import bearer
from tests.waits import HANG_S
from web import create_app

# A Friday afternoon with no holiday near it (2026-12-04): the cards fall after the weekend.
FRIDAY_1600 = datetime(2026, 12, 4, 16, 0, tzinfo=LOCAL_TZ)
SECOND = timedelta(seconds=1)


def _card_rules() -> dict[tuple[str, str], tuple[int, str]]:
    raw = resources.files("cases").joinpath("data/card_rules.csv").read_text(encoding="utf-8")
    return {(r["clock"], r["card"]): (int(r["value"]), r["unit"])
            for r in csv.DictReader(raw.splitlines()) if not r["category_code"]}


def _open_cases(session, n: int) -> list[dict]:
    """``n`` open cases of the demo, after ending every clock the demo's histories left
    running (at its first moment), so that a test's signals are those of its own clocks."""
    session.execute(text("UPDATE case_deadlines SET met_at = started_at WHERE met_at IS NULL"))
    rows = session.execute(text(
        "SELECT id, assignee_id, town_code, admin_code, grid_code FROM cases "
        "WHERE status NOT IN ('closed', 'evaluated', 'voided') AND assignee_id IS NOT NULL "
        "AND grid_code IS NOT NULL ORDER BY id LIMIT :n"), {"n": n}).mappings().all()
    assert len(rows) == n
    return [dict(r) for r in rows]


def _moments(session, clock: str, started: datetime, due_days: int) -> dict[str, datetime]:
    """The moments a transition computes for ``clock`` started at ``started``: due after
    ``due_days`` working days, due soon one working day before, the cards of card_rules.csv."""
    cal = load_calendar(session)
    rules = _card_rules()
    out = {"due_at": deadline_at(started, due_days, "working_days", cal),
           "soon_at": deadline_at(started, due_days - 1, "working_days", cal)}
    for card in ("yellow", "red"):
        value, unit = rules[(clock, card)]
        out[f"{card}_at"] = deadline_at(started, value, unit, cal)
    return out


def _signals(url: str, case_id: int | None = None) -> list[tuple]:
    """Every signal event: (case_id, deadline_id, signal, type)."""
    with session_scope(url) as s:
        rows = s.execute(text(
            "SELECT case_id, (data ->> 'deadline_id')::bigint, data ->> 'signal', type "
            "FROM case_events WHERE type IN ('card', 'deadline') "
            "AND (CAST(:case_id AS bigint) IS NULL OR case_id = :case_id) ORDER BY id"),
            {"case_id": case_id}).all()
    return [tuple(r) for r in rows]


def _pass(url: str, at: datetime) -> supervision.PassReport:
    with session_scope(url) as s:
        return supervision.supervise(s, at)


def test_each_signal_comes_at_its_moment_over_a_weekend_and_only_once(demo_copy_url):
    with session_scope(demo_copy_url) as s:
        case = _open_cases(s, 1)[0]
        accept = _moments(s, "accept", FRIDAY_1600, 2)
        handle = _moments(s, "handle", FRIDAY_1600, 3)
        accept_id = clock_support.start_clock(s, case["id"], "accept", FRIDAY_1600, **accept)
        handle_id = clock_support.start_clock(s, case["id"], "handle", FRIDAY_1600, **handle)
    # working days: one working day from Friday 16:00 is Monday 16:00, not Saturday
    assert accept["yellow_at"] == datetime(2026, 12, 7, 16, tzinfo=LOCAL_TZ)
    assert accept["red_at"] == datetime(2026, 12, 8, 16, tzinfo=LOCAL_TZ)
    assert handle["yellow_at"] == datetime(2026, 12, 11, 16, tzinfo=LOCAL_TZ)
    assert handle["red_at"] == datetime(2026, 12, 18, 16, tzinfo=LOCAL_TZ)
    # over the weekend nothing is due yet: a calendar-day clock would have carded on Saturday
    assert _pass(demo_copy_url, datetime(2026, 12, 6, 23, 59, tzinfo=LOCAL_TZ)).issued == []

    moments = sorted(
        [(m, accept_id, name.removesuffix("_at")) for name, m in accept.items()]
        + [(m, handle_id, name.removesuffix("_at")) for name, m in handle.items()])
    expected: list[tuple] = []
    word = {"soon": "due_soon", "due": "overdue", "yellow": "yellow", "red": "red"}
    for moment, clock_id, name in moments:
        before = _pass(demo_copy_url, moment - SECOND)
        assert [(r["deadline_id"], r["signal"]) for r in before.issued] == []
        at = _pass(demo_copy_url, moment)
        issued = [(r["deadline_id"], r["signal"]) for r in at.issued]
        # moments that coincide (accept's due and red here) are issued by the same pass
        assert (clock_id, word[name]) in issued or (clock_id, word[name]) in expected
        expected += [i for i in issued if i not in expected]
        assert _pass(demo_copy_url, moment + SECOND).issued == []
    found = _signals(demo_copy_url, case["id"])
    assert sorted((d, sig) for _, d, sig, _ in found) == sorted(expected)
    assert len(found) == 8  # 4 signals × 2 clocks, each once
    assert {sig: typ for _, _, sig, typ in found} == {
        "due_soon": "deadline", "overdue": "deadline", "yellow": "card", "red": "card"}
    # a pass long after issues nothing more
    assert _pass(demo_copy_url, datetime(2027, 6, 1, tzinfo=LOCAL_TZ)).issued == []


def test_suspended_and_met_clocks_issue_nothing(demo_copy_url):
    with session_scope(demo_copy_url) as s:
        parked, done, running = _open_cases(s, 3)
        m = _moments(s, "handle", FRIDAY_1600, 3)
        parked_id = clock_support.start_clock(s, parked["id"], "handle", FRIDAY_1600, **m)
        done_id = clock_support.start_clock(s, done["id"], "handle", FRIDAY_1600, **m)
        clock_support.start_clock(s, running["id"], "handle", FRIDAY_1600, **m)
        clock_support.suspend_clock(s, parked_id, FRIDAY_1600 + timedelta(hours=1))
        clock_support.meet_clock(s, done_id, FRIDAY_1600 + timedelta(hours=1))
    report = _pass(demo_copy_url, datetime(2027, 1, 1, tzinfo=LOCAL_TZ))
    assert {r["case_id"] for r in report.issued} == {running["id"]}
    assert _signals(demo_copy_url, parked["id"]) == []
    assert _signals(demo_copy_url, done["id"]) == []


def test_a_closed_case_issues_nothing_even_with_a_clock_left_running(demo_copy_url):
    with session_scope(demo_copy_url) as s:
        case = _open_cases(s, 1)[0]
        clock_support.start_clock(s, case["id"], "handle", FRIDAY_1600,
                                **_moments(s, "handle", FRIDAY_1600, 3))
        s.execute(text("UPDATE cases SET status = 'closed' WHERE id = :id"), {"id": case["id"]})
    assert _pass(demo_copy_url, datetime(2027, 1, 1, tzinfo=LOCAL_TZ)).issued == []


def test_notifications_go_to_the_assignee_and_the_level_above(demo_copy_url):
    with session_scope(demo_copy_url) as s:
        grid_case, village_case = _open_cases(s, 2)
        s.execute(text("UPDATE cases SET queue = 'village' WHERE id = :id"),
                  {"id": village_case["id"]})
        for case in (grid_case, village_case):
            clock_support.start_clock(s, case["id"], "accept", FRIDAY_1600,
                                    due_at=FRIDAY_1600 + timedelta(days=30),
                                    yellow_at=FRIDAY_1600 + timedelta(hours=1))
    report = _pass(demo_copy_url, FRIDAY_1600 + timedelta(hours=2))
    assert {(r["case_id"], r["signal"]) for r in report.issued} == {
        (grid_case["id"], "yellow"), (village_case["id"], "yellow")}
    assert report.notified == 4
    grid_village = grid_case["admin_code"][:12]
    town = grid_case["town_code"]
    with session_scope(demo_copy_url) as s:
        rows = s.execute(text("SELECT case_id, person_id, scope_kind, scope_code, signal "
                              "FROM notifications ORDER BY id")).all()
        assert Counter(tuple(r) for r in rows) == Counter([
            (grid_case["id"], grid_case["assignee_id"], None, None, "yellow"),
            (grid_case["id"], None, "village", grid_village, "yellow"),
            (village_case["id"], village_case["assignee_id"], None, None, "yellow"),
            (village_case["id"], None, "town", village_case["town_code"], "yellow"),
        ])

        worker = Actor(role="grid_worker", name="w", account_id=1,
                       person_id=grid_case["assignee_id"], scope_kind="grids")
        village_op = Actor(role="village_operator", name="v", account_id=2,
                           scope_kind="village", scope_code=grid_village)
        other_village = Actor(role="village_operator", name="o", account_id=3,
                              scope_kind="village", scope_code="140525108999")
        zone = Actor(role="town_leader", name="z", account_id=4, scope_kind="zone",
                     scope_code="Z1", village_codes=frozenset({grid_village}))
        town_op = Actor(role="town_operator", name="t", account_id=5, scope_kind="town",
                        scope_code=town)
        dept = Actor(role="department_handler", name="d", account_id=6,
                     scope_kind="department", scope_code="ENV")

        def seen(actor, **kw):
            return sorted(((n["case_id"], n["person_id"], n["scope_kind"])
                           for n in notifications.notifications_for(s, actor, **kw)), key=repr)

        assert seen(worker) == sorted(
            [(c["id"], c["assignee_id"], None) for c in (grid_case, village_case)
             if c["assignee_id"] == grid_case["assignee_id"]], key=repr)
        assert seen(village_op) == [(grid_case["id"], None, "village")]
        assert seen(other_village) == []
        assert seen(zone) == [(grid_case["id"], None, "village")]
        # the town reads the scopes of its town (its center, its villages), not people's own
        assert seen(town_op) == sorted([(grid_case["id"], None, "village"),
                                        (village_case["id"], None, "town")], key=repr)
        assert seen(dept) == []
        # the list carries what a page shows: category, status, the moment
        first = notifications.notifications_for(s, village_op)[0]
        assert first["signal"] == "yellow" and first["category_code"] and first["moment"]

        # read: only what the actor may read, once
        ids = [n["id"] for n in notifications.notifications_for(s, town_op)]
        assert notifications.mark_read(s, other_village, ids, FRIDAY_1600) == []
        village_id = notifications.notifications_for(s, village_op)[0]["id"]
        assert notifications.mark_read(s, village_op, ids, FRIDAY_1600) == [village_id]
        assert notifications.mark_read(s, village_op, ids, FRIDAY_1600) == []
        assert seen(village_op, unread_only=True) == []
        assert len(seen(town_op, unread_only=True)) == 1


def test_supervise_command_twice_issues_nothing_the_second_time(demo_copy_url, cli):
    with session_scope(demo_copy_url) as s:
        case = _open_cases(s, 1)[0]
        clock_support.start_clock(s, case["id"], "handle", FRIDAY_1600,
                                **_moments(s, "handle", FRIDAY_1600, 3))
    first = cli(demo_copy_url, "supervise", "--at", "2026-12-11T16:00")
    assert first.exit_code == 0, first.output
    assert f"case {case['id']}: yellow" in first.output
    # due soon and due both passed before this first pass: no 即将超期 for a clock already
    # overdue (the overdue signal says it); the card is issued
    assert "issued 2 signals (overdue 1, yellow 1), 4 notifications" in first.output
    assert "due_soon" not in first.output
    second = cli(demo_copy_url, "supervise", "--at", "2026-12-11T16:00")
    assert second.exit_code == 0
    assert second.output.strip().endswith("issued 0 signals, 0 notifications")
    as_json = cli(demo_copy_url, "supervise", "--at", "2026-12-18T16:00+08:00", "--json")
    assert '"counts": {"red": 1}' in as_json.output


@pytest.mark.parametrize("bad", ["tomorrow", "2026-13-01T09:00", "2026-12-01 25:00", ""])
def test_supervise_refuses_a_bad_time_in_one_line(demo_copy_url, cli, bad):
    out = cli(demo_copy_url, "supervise", "--at", bad)
    assert out.exit_code == 2
    assert f"--at {bad!r} is not an ISO 8601 date and time" in out.output
    assert "Traceback" not in out.output
    assert _signals(demo_copy_url) == []


def test_two_passes_at_once_issue_each_signal_once(demo_copy_url):
    with session_scope(demo_copy_url) as s:
        cases = _open_cases(s, 20)
        for case in cases:
            clock_support.start_clock(s, case["id"], "handle", FRIDAY_1600,
                                    **_moments(s, "handle", FRIDAY_1600, 3))
    at = datetime(2027, 1, 1, tzinfo=LOCAL_TZ)
    # the first pass issues and holds its transaction open; the second runs meanwhile, finds
    # the same signals, waits on the first's rows in the unique index, and then skips them
    with session_scope(demo_copy_url) as first:
        report_1 = supervision.supervise(first, at)
        second: list = []
        thread = threading.Thread(target=lambda: second.append(_pass(demo_copy_url, at)))
        thread.start()
        _wait_for_a_blocked_insert(demo_copy_url)
    thread.join(HANG_S)
    # 20 clocks, every moment passed: overdue, yellow and red each (no due-soon reminder for a
    # clock already overdue)
    assert len(report_1.issued) == 60 and second[0].issued == []
    found = _signals(demo_copy_url)
    assert len(found) == len(set(found)) == 60
    with session_scope(demo_copy_url) as s:
        assert s.execute(text("SELECT count(*) FROM notifications")).scalar_one() == 120
        # notifications carry no foreign keys (migration 0016): each must still point at the
        # event it tells of, on its case, for its signal — also for the pass that lost the race
        dangling = s.execute(text(
            "SELECT count(*) FROM notifications n LEFT JOIN case_events e ON e.id = n.event_id "
            "AND e.case_id = n.case_id AND e.data ->> 'signal' = n.signal "
            "WHERE e.id IS NULL")).scalar_one()
        assert dangling == 0


def test_each_signal_is_claimed_for_its_own_event_in_the_order_of_case_and_moment(demo_copy_url):
    # the pass claims its signals itself, with the ids its events then get (migration 0075):
    # each claim must name the event of its signal, or a later claim's clean-up, a case's
    # deletion or a transition key's look-up would find another event
    with session_scope(demo_copy_url) as s:
        cases = _open_cases(s, 5)
        for case in reversed(cases):
            for clock in ("accept", "handle"):
                clock_support.start_clock(s, case["id"], clock, FRIDAY_1600,
                                          **_moments(s, clock, FRIDAY_1600, 3))
    at = datetime(2027, 1, 1, tzinfo=LOCAL_TZ)
    report = _pass(demo_copy_url, at)
    assert len(report.issued) == 30  # 5 cases × 2 clocks × overdue, yellow and red
    ids = [r["event_id"] for r in report.issued]
    assert ids == sorted(ids)
    assert [(r["case_id"], r["moment"]) for r in report.issued] == sorted(
        (r["case_id"], r["moment"]) for r in report.issued)
    with session_scope(demo_copy_url) as s:
        claims = s.execute(text(
            "SELECT e.id, array_agg(k.event_id) FROM case_events e "
            "LEFT JOIN case_event_keys k ON k.kind = 'signal' AND k.scope = e.case_id "
            "AND k.key = (e.data ->> 'deadline_id') || ':' || (e.data ->> 'signal') "
            "WHERE e.type IN ('card', 'deadline') AND e.at = :at GROUP BY e.id ORDER BY e.id"),
            {"at": at}).all()
        orphans = s.execute(text(
            "SELECT count(*) FROM case_event_keys k WHERE k.kind = 'signal' AND NOT EXISTS "
            "(SELECT 1 FROM case_events e WHERE e.id = k.event_id AND e.case_id = k.scope)"
        )).scalar_one()
    assert [(event_id, claimed) for event_id, claimed in claims] == [(i, [i]) for i in ids]
    assert orphans == 0


def _wait_for_a_blocked_insert(url: str) -> None:
    """Until a backend waits on another transaction to end (the pass's INSERT waiting on
    uncommitted rows of the unique index; pg_stat_activity cuts the statement's text short)."""
    deadline = time.monotonic() + HANG_S
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            blocked = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"
            ).fetchone()[0]
            if blocked:
                return
            time.sleep(0.05)
    raise AssertionError("no pass waited on the other")


def test_the_case_json_and_page_show_its_cards(demo_copy_url, operator_token):
    with session_scope(demo_copy_url) as s:
        case = _open_cases(s, 1)[0]
        clock_support.start_clock(s, case["id"], "accept", FRIDAY_1600,
                                **_moments(s, "accept", FRIDAY_1600, 2))
    _pass(demo_copy_url, datetime(2026, 12, 7, 16, tzinfo=LOCAL_TZ))  # due soon and yellow
    intake.clear_caches()
    client = bearer(create_app({"DATABASE_URL": demo_copy_url}).test_client(), operator_token)
    body = client.get(f"/api/v1/cases/{case['id']}").get_json()
    assert sorted(c["signal"] for c in body["cards"]) == ["due_soon", "yellow"]
    assert body["worst_card"] == "yellow"
    assert {c["clock"] for c in body["cards"]} == {"accept"}
    assert all(c["deadline_id"] and c["moment"] and c["issued_at"] for c in body["cards"])
    page = client.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert 'class="card-badge card-yellow"' in page
    cards_section = page.split('class="card case-cards"')[1].split("</section>")[0]
    for word in ("黄牌", "即将超期", "受理"):
        assert word in cards_section
    assert "红牌" not in cards_section and "已超期" not in cards_section
    english = client.get(f"/cases/{case['id']}?lang=en").get_data(as_text=True)
    assert "Yellow card" in english


def test_a_card_given_by_hand_shows_without_a_clock_and_other_events_are_not_cards():
    # the workflow may give a supervision card itself (a case reopened by a 不满意 rating):
    # it has a signal and no clock; an event of another type is never a card
    events = [
        {"id": 1, "at": "2026-12-01T09:00:00+08:00", "type": "card", "data": {"signal": "red"}},
        {"id": 2, "at": "2026-12-01T09:00:00+08:00", "type": "transition",
         "data": {"signal": "red"}},
        {"id": 3, "at": "2026-12-01T09:00:00+08:00", "type": "card", "data": None},
        {"id": 4, "at": "2026-12-01T10:00:00+08:00", "type": "deadline",
         "data": {"signal": "due_soon", "clock": "handle", "deadline_id": 7,
                  "moment": "2026-12-01T10:00:00+08:00"}},
    ]
    found = supervision.cards(events)
    assert [(c["event_id"], c["signal"], c["clock"]) for c in found] == [
        (1, "red", None), (4, "due_soon", "handle")]
    assert supervision.worst(found) == "red"
    assert supervision.worst([]) is None
