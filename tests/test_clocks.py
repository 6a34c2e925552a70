"""The case's clocks through real transitions, over the business calendar the database holds
(seeded by migration 0002): the 2025 National Day holiday (10-01 to 10-08), its make-up working
days 2025-09-28 (a Sunday) and 2025-10-11 (a Saturday), and ordinary weekends. Exact moments,
worked out by hand in the comments (working windows 08:00-12:00 and 14:00-18:00)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import text

from cases import intake
from cases.clocks import CardRule, card_thresholds
from db.session import engine_for, session_scope
from tests.test_intake_api import leaf_with_one_worker
from tests.test_transitions import new_case, step, village_operator, worker

LOCAL = "+08:00"


@pytest.fixture
def url(demo_copy_url):
    intake.clear_caches()
    yield demo_copy_url
    engine_for(demo_copy_url).dispose()


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment + LOCAL)


def running(url: str, case_id: int, clock: str) -> dict:
    with session_scope(url) as s:
        return dict(s.execute(text(
            "SELECT * FROM case_deadlines WHERE case_id = :id AND clock = :clock AND met_at IS NULL"),
            {"id": case_id, "clock": clock}).mappings().one())


def moments(clock: dict) -> dict[str, datetime | None]:
    return {k: clock[k] for k in ("due_at", "soon_at", "yellow_at", "red_at")}


def test_an_extended_case_over_a_make_up_sunday_the_national_day_holiday_and_a_make_up_saturday(url):
    leaf = leaf_with_one_worker(url)
    # a street light (1 working day), dispatched by intake on Friday 2025-09-26 at 16:00
    case_id = new_case(url, leaf, category="patrol.street_light", at=at("2025-09-26T16:00"))
    assert moments(running(url, case_id, "handle")) == {
        "due_at": at("2025-09-28T16:00"),  # Fri 2 h + make-up Sunday 6 h
        "soon_at": at("2025-09-28T12:00"),  # three quarters: 6 working hours
        "yellow_at": at("2025-10-10T16:00"),  # 5 working days: 2+8+8+8 (to 09-30), holiday, 8, 6
        "red_at": at("2025-10-16T16:00"),  # 10 working days: + the make-up Saturday 10-11
    }
    assert moments(running(url, case_id, "accept")) == {
        "due_at": at("2025-09-28T16:00"), "soon_at": at("2025-09-28T12:00"),
        "yellow_at": at("2025-09-28T16:00"), "red_at": at("2025-09-29T16:00")}
    step(url, case_id, "accept", worker(leaf), at=at("2025-09-26T16:30"))
    step(url, case_id, "request_extension", worker(leaf), note="灯杆需更换，等配件", to=2,
         at=at("2025-09-26T17:00"))
    step(url, case_id, "approve_extension", village_operator(leaf["parent_code"][:12]),
         at=at("2025-09-26T17:30"))
    handle = running(url, case_id, "handle")
    assert moments(handle) == {
        "due_at": at("2025-09-30T16:00"),  # + 16 working hours: 09-28 2 h, 09-29 8 h, 09-30 6 h
        "soon_at": at("2025-09-30T12:00"),
        "yellow_at": at("2025-10-13T16:00"),  # 10-10 2 h, make-up Saturday 8 h, Monday 6 h
        "red_at": at("2025-10-20T16:00"),  # 10-16 2 h, 10-17 8 h, (weekend), 10-20 6 h
    }
    assert handle["extensions"] == 1
    with session_scope(url) as s:
        due, pending = s.execute(text("SELECT due_at, extension_days FROM cases WHERE id = :id"),
                                 {"id": case_id}).one()
    assert (due, pending) == (at("2025-09-30T16:00"), None)


def test_a_parked_case_keeps_its_working_time_over_the_holiday_and_resumes_on_a_friday(url):
    leaf = leaf_with_one_worker(url)
    village = village_operator(leaf["parent_code"][:12])
    # a damaged road (5 working days), dispatched on Monday 2025-09-29 at 10:00
    case_id = new_case(url, leaf, category="patrol.road_damage", at=at("2025-09-29T10:00"))
    before = moments(running(url, case_id, "handle"))
    assert before == {
        "due_at": at("2025-10-13T10:00"),  # 6+8 before the holiday, 8+8+8 (make-up Sat), 2
        "soon_at": at("2025-10-10T18:00"),  # 30 working hours
        "yellow_at": at("2025-10-13T10:00"),
        "red_at": at("2025-10-20T10:00"),
    }
    step(url, case_id, "accept", worker(leaf), at=at("2025-09-29T11:00"))
    step(url, case_id, "park", village, note="雨季过后施工", to="2025-10-10", at=at("2025-09-30T15:00"))
    parked = running(url, case_id, "handle")
    assert parked["suspended_at"] == at("2025-09-30T15:00")
    assert parked["remaining_s"] == 29 * 3600  # 09-30 3 h, 10-09 8, 10-10 8, 10-11 8, 10-13 2
    assert moments(parked) == before  # kept while suspended
    with session_scope(url) as s:
        assert s.execute(text("SELECT status, parked_from, resume_on FROM cases WHERE id = :id"),
                         {"id": case_id}).one() == ("parked", "handling", at("2025-10-10T00:00").date())
    step(url, case_id, "resume", village, at=at("2025-10-10T09:00"))
    resumed = running(url, case_id, "handle")
    assert (resumed["suspended_at"], resumed["remaining_s"]) == (None, None)
    assert moments(resumed) == {
        "due_at": at("2025-10-14T16:00"),  # 29 h from Fri 09:00: 7, Sat 8, Mon 8, Tue 6
        "soon_at": at("2025-10-13T12:00"),  # 19 h were left: 7, 8, 4
        "yellow_at": at("2025-10-14T16:00"),
        "red_at": at("2025-10-21T16:00"),  # 69 h were left: the due moment + 40 h
    }
    with session_scope(url) as s:
        status, due = s.execute(text("SELECT status, due_at FROM cases WHERE id = :id"), {"id": case_id}).one()
    assert (status, due) == ("handling", at("2025-10-14T16:00"))


def test_park_needs_a_resume_date_after_today(url):
    from cases.errors import InvalidTarget

    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf, at=at("2025-09-29T10:00"))
    for bad in (None, "next week", "2025-09-29"):
        with pytest.raises(InvalidTarget):
            step(url, case_id, "park", village_operator(leaf["parent_code"][:12]), note="施工",
                 to=bad, at=at("2025-09-29T11:00"))


def test_a_category_row_wins_over_its_parent_which_wins_over_the_general_row():
    rules = [CardRule("handle", "yellow", 5, "working_days", None),
             CardRule("handle", "yellow", 3, "working_days", "patrol"),
             CardRule("handle", "yellow", 4, "working_hours", "patrol.street_light"),
             CardRule("handle", "red", 10, "working_days", None)]
    light = {"code": "patrol.street_light", "parent_code": "patrol"}
    road = {"code": "patrol.road_damage", "parent_code": "patrol"}
    fire = {"code": "hazard.fire", "parent_code": "hazard"}
    assert card_thresholds("handle", light, rules) == {"yellow": (4, "working_hours"), "red": (10, "working_days")}
    assert card_thresholds("handle", road, rules)["yellow"] == (3, "working_days")
    assert card_thresholds("handle", fire, rules)["yellow"] == (5, "working_days")
    assert card_thresholds("check", fire, rules) == {}
    # the shipped rules are DOMAIN.md's
    assert card_thresholds("accept", fire) == {"yellow": (1, "working_days"), "red": (2, "working_days")}
    assert card_thresholds("handle", fire) == {"yellow": (5, "working_days"), "red": (10, "working_days")}


def test_a_parked_case_resumes_by_itself_on_its_resume_date(url):
    from cases.resumption import resume_due

    leaf = leaf_with_one_worker(url)
    village = village_operator(leaf["parent_code"][:12])
    case_id = new_case(url, leaf, category="patrol.road_damage", at=at("2025-09-29T10:00"))
    step(url, case_id, "accept", worker(leaf), at=at("2025-09-29T11:00"))
    step(url, case_id, "park", village, note="雨季过后施工", to="2025-10-10", at=at("2025-09-30T15:00"))
    with session_scope(url) as s:  # the evening before: still parked
        assert case_id not in resume_due(s, at("2025-10-09T23:59")).resumed
    with session_scope(url) as s:
        done = resume_due(s, at("2025-10-10T00:10"))
    assert case_id in done.resumed and case_id not in done.failed
    with session_scope(url) as s:
        status, resume_on = s.execute(text("SELECT status, resume_on FROM cases WHERE id = :id"),
                                      {"id": case_id}).one()
        last = s.execute(text("SELECT type, actor, role, note FROM case_events WHERE case_id = :id "
                              "ORDER BY id DESC LIMIT 1"), {"id": case_id}).one()
    assert (status, resume_on) == ("handling", None)
    assert last.type == "resume" and last.actor == "supervision" and "自动恢复" in last.note
    handle = running(url, case_id, "handle")
    assert handle["suspended_at"] is None and handle["remaining_s"] is None
    with session_scope(url) as s:  # the next run finds nothing more to do for it
        again = resume_due(s, at("2025-10-10T00:20"))
    assert case_id not in again.resumed and case_id not in again.failed
