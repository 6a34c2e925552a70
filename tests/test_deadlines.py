"""Deadline arithmetic over the business calendar as the database has it (seeded from
chinese-calendar by migration 0002), on real dates: the 2025 National Day holiday (10-01 to
10-08) with its make-up working days 2025-09-28 (Sunday) and 2025-10-11 (Saturday), and 2026's
Spring Festival and National Day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from cases.calendar import load_calendar, set_day
from cases.deadlines import (LOCAL_TZ, WINDOWS, BusinessCalendar, add_working_time, deadline_at,
                             working_time_between)
from db.session import engine_for, session_scope


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ)


@pytest.fixture(scope="module")
def calendar(pg_server, template_db) -> BusinessCalendar:
    """The calendar of a freshly migrated database (read only)."""
    url = pg_server.url_for(template_db)
    with session_scope(url) as s:
        cal = load_calendar(s)
    engine_for(url).dispose()  # the template must have no connections when it is copied
    return cal


def test_seeded_calendar_has_the_2025_national_day_holiday_and_its_make_up_days(calendar):
    assert [calendar.is_workday(date(2025, 10, d)) for d in range(1, 9)] == [False] * 8
    assert calendar.is_workday(date(2025, 9, 28))  # a Sunday, worked
    assert calendar.is_workday(date(2025, 10, 11))  # a Saturday, worked
    assert not calendar.is_workday(date(2025, 10, 12))  # an ordinary Sunday
    assert calendar.is_workday(date(2025, 10, 9))


@pytest.mark.parametrize(
    ("start", "value", "unit", "expected", "why"),
    [
        ("2025-09-19 16:00", 4, "working_hours", "2025-09-22 10:00", "Friday afternoon over the weekend"),
        ("2025-09-22 11:00", 2, "working_hours", "2025-09-22 15:00", "over the lunch break"),
        ("2025-09-22 07:00", 1, "working_hours", "2025-09-22 09:00", "before work starts at 08:00"),
        ("2025-09-22 18:30", 1, "working_hours", "2025-09-23 09:00", "after work ends at 18:00"),
        ("2025-09-27 10:00", 1, "working_hours", "2025-09-28 09:00", "Saturday to the make-up Sunday"),
        ("2025-09-30 16:00", 1, "working_days", "2025-10-09 16:00", "over the whole National Day holiday"),
        ("2025-10-03 10:00", 4, "working_hours", "2025-10-09 12:00", "filed on a holiday: clock starts 10-09 08:00"),
        ("2025-10-10 17:00", 4, "working_hours", "2025-10-11 11:00", "Friday into the make-up Saturday"),
        ("2025-09-29 10:00", 5, "working_days", "2025-10-13 10:00", "five working days around the holiday"),
        ("2025-10-01 20:00", 24, "urgent_hours", "2025-10-02 20:00", "urgent hours run through holidays"),
        ("2025-09-30 09:00", 3, "calendar_days", "2025-10-03 09:00", "calendar days ignore the calendar"),
        ("2026-02-13 17:00", 1, "working_days", "2026-02-14 17:00", "2026 Spring Festival make-up Saturday"),
        ("2026-02-14 17:00", 2, "working_hours", "2026-02-24 09:00", "over the 2026 Spring Festival"),
        ("2026-09-19 12:00", 3, "working_hours", "2026-09-20 11:00", "2026 make-up Sunday before National Day"),
        ("2026-09-30 15:00", 2, "working_days", "2026-10-09 15:00", "over the 2026 National Day holiday"),
        ("2026-10-09 17:00", 2, "working_hours", "2026-10-10 09:00", "into the 2026 make-up Saturday"),
    ],
)
def test_deadline_counts_working_time_over_the_business_calendar(calendar, start, value, unit, expected, why):
    assert deadline_at(at(start), value, unit, calendar) == at(expected), why


def test_deadline_is_in_local_time_whatever_zone_the_start_is_in(calendar):
    start_utc = at("2025-09-19 16:00").astimezone(datetime.now().astimezone().tzinfo)
    due = deadline_at(start_utc, 4, "working_hours", calendar)
    assert due.utcoffset() == timedelta(hours=8)
    assert due == at("2025-09-22 10:00")


@pytest.mark.parametrize(
    ("start", "value", "unit", "message"),
    [
        (datetime(2025, 10, 1, 9), 1, "working_hours", "timezone-aware"),
        (at("2025-10-01 09:00"), 0, "working_hours", "positive"),
        (at("2025-10-01 09:00"), 1, "fortnights", "expected to be in"),
    ],
)
def test_deadline_refuses_bad_arguments_naming_them(calendar, start, value, unit, message):
    with pytest.raises(ValueError, match=message):
        deadline_at(start, value, unit, calendar)


def test_an_administrators_correction_moves_deadlines(empty_db_url):
    # 2025-10-09 made a holiday and 2025-10-12 (a Sunday) a working day, as a correction
    with session_scope(empty_db_url) as s:
        set_day(s, date(2025, 10, 9), False, "correction")
        set_day(s, date(2025, 10, 12), True, "correction (make-up working day)")
    with session_scope(empty_db_url) as s:
        cal = load_calendar(s)
        source = s.execute(text("SELECT source FROM calendar_days WHERE day = '2025-10-09'")).scalar()
    assert source == "admin"
    assert deadline_at(at("2025-09-30 16:00"), 1, "working_days", cal) == at("2025-10-10 16:00")
    assert deadline_at(at("2025-10-11 17:00"), 2, "working_hours", cal) == at("2025-10-12 09:00")


def _in_window(moment: datetime, cal: BusinessCalendar) -> bool:
    local = moment.astimezone(LOCAL_TZ)
    if not cal.is_workday(local.date()):
        return False
    return any(s <= local.time() <= e for s, e in WINDOWS)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 20)),
    first=st.integers(min_value=0, max_value=60),
    second=st.integers(min_value=1, max_value=60),
)
def test_working_time_adds_up_and_ends_inside_a_working_window(calendar, start, first, second):
    begin = start.replace(tzinfo=LOCAL_TZ)
    whole = add_working_time(begin, first + second, calendar)
    assert add_working_time(add_working_time(begin, first, calendar), second, calendar) == whole
    assert whole > begin
    assert _in_window(whole, calendar)


def _windows_after(moment: datetime, cal: BusinessCalendar):
    """Every working window at or after ``moment``, clipped to it: the definition the module's
    arithmetic (which counts whole days at once) must agree with."""
    day = moment.date()
    while True:
        if cal.is_workday(day):
            for s, e in WINDOWS:
                start = datetime.combine(day, s, LOCAL_TZ)
                end = datetime.combine(day, e, LOCAL_TZ)
                if end > moment:
                    yield max(start, moment), end
        day += timedelta(days=1)


def _added_window_by_window(start: datetime, hours: float, cal: BusinessCalendar) -> datetime:
    remaining = timedelta(hours=hours)
    for w_start, w_end in _windows_after(start, cal):
        if remaining <= w_end - w_start:
            return w_start + remaining
        remaining -= w_end - w_start
    raise AssertionError("unreachable")


def _between_window_by_window(start: datetime, end: datetime, cal: BusinessCalendar) -> timedelta:
    total = timedelta(0)
    for w_start, w_end in _windows_after(start, cal):
        if w_start >= end:
            return total
        total += min(w_end, end) - w_start
    raise AssertionError("unreachable")


@settings(max_examples=400, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 20)),
    quarters=st.integers(min_value=0, max_value=4 * 8 * 15),  # up to 15 working days, in 15 min
    seconds=st.integers(min_value=0, max_value=900),
    span=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
)
def test_working_time_counted_by_days_equals_counting_every_window(calendar, start, quarters,
                                                                   seconds, span):
    """Whole days counted at once land where walking every window does: on window ends and
    starts (whole quarter hours), across holidays and make-up days, from inside, between and
    outside windows."""
    begin = start.replace(tzinfo=LOCAL_TZ)
    for hours in (quarters / 4, quarters / 4 + seconds / 3600, quarters / 4 * 0.75):
        assert add_working_time(begin, hours, calendar) == \
            _added_window_by_window(begin, hours, calendar)
    assert working_time_between(begin, begin + span, calendar) == \
        _between_window_by_window(begin, begin + span, calendar)
