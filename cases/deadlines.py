"""Deadline arithmetic over a business calendar.

A category's time limit is a value and a unit (DOMAIN.md):

- ``urgent_hours``: continuous hours, day and night, holidays included;
- ``working_hours``: hours inside the working windows 08:00–12:00 and 14:00–18:00 of
  working days;
- ``working_days``: N × 8 working hours, counted in the same windows — so one working day
  from Monday 10:00 is Tuesday 10:00, from Friday 16:00 it is Monday 16:00, and a case
  filed on a holiday starts its clock at 08:00 of the next working day;
- ``calendar_days``: N × 24 hours.

A working day is a Monday to Friday that is not a national holiday, or a weekend day that is
a make-up working day (调休). The calendar is a table (``calendar_days``) seeded from the
``chinese-calendar`` package and corrected by administrators; this module only takes the
overrides as a mapping, so it stays pure and testable.

Times are computed in the town's local time (Asia/Shanghai) and returned timezone-aware.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
WINDOWS = ((time(8), time(12)), (time(14), time(18)))
HOURS_PER_WORKING_DAY = 8
# the working time of a whole working day: its windows' sum (HOURS_PER_WORKING_DAY)
WORKING_DAY = sum((datetime.combine(date.min, end) - datetime.combine(date.min, start)
                   for start, end in WINDOWS), timedelta(0))
ONE_DAY = timedelta(days=1)
UNITS = ("urgent_hours", "working_hours", "working_days", "calendar_days")


class BusinessCalendar:
    """Which days are working days: weekdays, except the overrides (date -> is working day)."""

    def __init__(self, overrides: Mapping[date, bool] | None = None):
        self.overrides = dict(overrides or {})
        # the working days from a first day on, as ordinals in order: (first, days), made when
        # first needed (workday_after) and replaced whole, so threads sharing the calendar
        # (cases/intake.py caches one per process) read one or the other
        self._index: tuple[int, list[int]] = (0, [])

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return day.weekday() < 5

    def next_workday(self, day: date) -> date:
        """The first working day on or after ``day`` (gives up after ten years of holidays)."""
        for _ in range(3660):
            if self.is_workday(day):
                return day
            day += timedelta(days=1)
        raise ValueError(f"no working day within ten years of {day}")

    def workday_after(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (n ≥ 1), looked up in the index of working
        days rather than walked day by day (add_working_time says why). The index as it is,
        else made afresh from a year before ``day`` to 800 days after it, else, past a long
        run of holidays, to ten years after."""
        o = day.toordinal()
        for reach in (None, 800, 3660):
            if reach is not None:
                self._index = (o - 366, [d for d in range(o - 366, o + reach + 2 * n)
                                         if self.is_workday(date.fromordinal(d))])
            first, days = self._index
            i = bisect_right(days, o) + n - 1
            if first <= o and i < len(days):
                return date.fromordinal(days[i])
        raise ValueError(f"no {n} working days within ten years after {day}")


def _days_from(moment: datetime, cal: BusinessCalendar):
    """The working days at or after ``moment``, in order, as (day, whole): ``whole`` when all of
    its windows lie after ``moment`` (a day after moment's own), so its working time is
    WORKING_DAY without building its windows."""
    day = cal.next_workday(moment.date())
    yield day, day > moment.date()
    while True:
        day = cal.next_workday(day + ONE_DAY)
        yield day, True


def _day_windows(day: date, moment: datetime):
    """The windows of working day ``day`` that end after ``moment``, clipped to it."""
    for start_t, end_t in WINDOWS:
        end = datetime.combine(day, end_t, LOCAL_TZ)
        if end <= moment:
            continue
        yield max(datetime.combine(day, start_t, LOCAL_TZ), moment), end


def add_working_time(start: datetime, hours: float, cal: BusinessCalendar) -> datetime:
    """``start`` plus ``hours`` of working time (inside the windows of working days).

    Only two days' windows are walked: what is left of ``start``'s own day, then the day the
    time runs out on — the k-th working day after, when k − 1 whole working days
    (WORKING_DAY each) lie between — found in the calendar's index of working days. An intake
    computes about eight such moments per report (a case's first clocks, cases/clocks.py):
    walking every window of a five-working-day limit took 280 us of each report's CPU,
    counting day by day 123 us (timeit, 2026-12-01), looking the day up 30 us (2026-12-02).
    The same sum as walking every window: tests/test_deadlines.py compares the two."""
    if hours < 0:
        raise ValueError(f"`hours` was {hours} but must not be negative")
    moment = start.astimezone(LOCAL_TZ)
    remaining = timedelta(hours=hours)
    day = moment.date()
    if cal.is_workday(day):
        for w_start, w_end in _day_windows(day, moment):
            span = w_end - w_start
            if remaining <= span:
                return w_start + remaining
            remaining -= span
    # the time runs out on the k-th working day after ``day``: all of the k − 1 before it pass
    # whole (nothing left, k = 1: its first window's start, as walking the windows finds)
    k = max(1, -(-remaining // WORKING_DAY))
    remaining -= (k - 1) * WORKING_DAY
    for w_start, w_end in _day_windows(cal.workday_after(day, k), moment):
        span = w_end - w_start
        if remaining <= span:
            return w_start + remaining
        remaining -= span
    raise AssertionError("unreachable: the k-th day's windows hold what is left")


def deadline_at(start: datetime, value: int, unit: str, cal: BusinessCalendar) -> datetime:
    """When a time limit of ``value`` ``unit`` that starts at ``start`` runs out."""
    if start.tzinfo is None:
        raise ValueError(f"`start` was {start!r} but must be timezone-aware")
    if value <= 0:
        raise ValueError(f"`value` was {value} but must be positive")
    local = start.astimezone(LOCAL_TZ)
    if unit == "urgent_hours":
        return local + timedelta(hours=value)
    if unit == "calendar_days":
        return local + timedelta(days=value)
    if unit == "working_hours":
        return add_working_time(local, value, cal)
    if unit == "working_days":
        return add_working_time(local, value * HOURS_PER_WORKING_DAY, cal)
    raise ValueError(f"`unit` was {unit!r} but is expected to be in {list(UNITS)}")


def working_time_between(start: datetime, end: datetime, cal: BusinessCalendar) -> timedelta:
    """The working time (inside the windows of working days) from ``start`` to ``end``; zero
    when ``end`` is not after ``start``. Whole working days before ``end``'s own count as
    WORKING_DAY at once (add_working_time says why)."""
    start, end = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    total = timedelta(0)
    if end <= start:
        return total
    end_day = end.date()
    for day, whole in _days_from(start, cal):
        if day > end_day:
            return total
        if whole and day < end_day:
            total += WORKING_DAY
            continue
        for w_start, w_end in _day_windows(day, start):
            if w_start >= end:
                return total
            total += min(w_end, end) - w_start
    raise AssertionError("unreachable: _days_from is infinite")


def is_working_unit(unit: str) -> bool:
    """Whether a limit in ``unit`` counts working time (else wall time)."""
    return unit in ("working_hours", "working_days")


def time_between(start: datetime, end: datetime, unit: str, cal: BusinessCalendar) -> timedelta:
    """How much of a limit in ``unit`` lies between ``start`` and ``end`` (zero if none)."""
    if is_working_unit(unit):
        return working_time_between(start, end, cal)
    return max(end - start, timedelta(0))


def add_time(start: datetime, amount: timedelta, unit: str, cal: BusinessCalendar) -> datetime:
    """``start`` plus ``amount`` of a limit in ``unit``: working time or wall time."""
    if is_working_unit(unit):
        return add_working_time(start, amount.total_seconds() / 3600, cal)
    return start.astimezone(LOCAL_TZ) + amount
