"""A case's clocks (cases.models.CaseDeadline): their limits, and what starting, suspending,
resuming and extending one does to its moments, over the business calendar.

The clocks and their limits:

- ``dispatch``: from the moment a case waits in a center's queue (created, escalated,
  returned, reopened) to its dispatch: 10 minutes for a category counted in urgent hours,
  30 minutes otherwise (DOMAIN.md, Shanxi practice), wall time;
- ``accept``: from dispatch to acceptance. DOMAIN.md gives it no limit of its own, only the
  cards: it is due when its yellow card falls (1 working day), red at 2;
- ``handle``: from dispatch to the feedback: the category's time limit; cards at 5 and 10
  working days;
- ``check``: from the feedback to the close after the on-site check: 2 working hours (the rural
  figure of DOMAIN.md: every grid of Bagong is a village's; a town-seat limit of 1 hour would
  be one more row of data).

Card thresholds are data (``cases/data/card_rules.csv``): a row for the clock and card,
measured from the clock's start; a row naming the case's category wins over one naming its
parent, which wins over the row for every category.

**Due soon** (``soon_at``): the last quarter of the limit, in the limit's own unit — so a
5-working-day limit is due soon from the start of its last 10 working hours, a 24-hour one
from its last 6 hours. A quarter scales with every unit from minutes to weeks, and leaves the
holder a working day or more on the long limits.

**Suspension** (挂账): the clock keeps its moments and records ``suspended_at`` and
``remaining_s`` (what was left until due, in working seconds for a working unit, wall seconds
otherwise). Resuming moves every moment still ahead by the time the case was parked, each in
its own unit: a moment ``d`` of working time after the suspension is ``d`` of working time
after the resumption. Moments already past stay where they were (their card was due then).

**Extension** (延期): an approved request moves ``due``, ``soon`` and both cards by the days
granted, in working time, and counts in ``extensions``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from cases.deadlines import HOURS_PER_WORKING_DAY, BusinessCalendar, add_time, time_between

DISPATCH_URGENT = timedelta(minutes=10)
DISPATCH_NORMAL = timedelta(minutes=30)
CHECK_LIMIT = (2, "working_hours")
SOON_FRACTION = 0.75  # due soon once three quarters of the limit are used
MOMENTS = ("due_at", "soon_at", "yellow_at", "red_at")


@dataclass(frozen=True)
class CardRule:
    clock: str
    card: str  # yellow | red
    value: int
    unit: str
    category_code: str | None


@cache
def card_rules() -> tuple[CardRule, ...]:
    """The rows of cases/data/card_rules.csv (read once per process)."""
    with resources.files("cases").joinpath("data/card_rules.csv").open(encoding="utf-8") as fh:
        return tuple(CardRule(r["clock"], r["card"], int(r["value"]), r["unit"],
                              r["category_code"] or None) for r in csv.DictReader(fh))


def card_thresholds(clock: str, category: dict[str, Any],
                    rules: Sequence[CardRule] | None = None) -> dict[str, tuple[int, str]]:
    """card -> (value, unit) for ``clock`` of a case of ``category`` (code, parent_code):
    the category's own row first, then its parent's, then the general one. ``rules``: the
    shipped ones unless given."""
    rank = {category.get("code"): 0, category.get("parent_code"): 1, None: 2}
    best: dict[str, tuple[int, CardRule]] = {}
    for rule in card_rules() if rules is None else rules:
        if rule.clock != clock or rule.category_code not in rank:
            continue
        r = rank[rule.category_code]
        if rule.card not in best or r < best[rule.card][0]:
            best[rule.card] = (r, rule)
    return {card: (rule.value, rule.unit) for card, (_, rule) in best.items()}


def span(value: float, unit: str) -> timedelta:
    """A limit as an amount of its unit's time (working time for working units)."""
    if unit == "working_days":
        return timedelta(hours=value * HOURS_PER_WORKING_DAY)
    if unit == "calendar_days":
        return timedelta(days=value)
    return timedelta(hours=value)  # working_hours, urgent_hours


def limit(clock: str, category: dict[str, Any]) -> tuple[timedelta, str]:
    """The clock's limit for a case of ``category``: (amount, unit)."""
    if clock == "dispatch":
        urgent = category["limit_unit"] == "urgent_hours"
        return (DISPATCH_URGENT if urgent else DISPATCH_NORMAL), "urgent_hours"
    if clock == "accept":
        value, unit = card_thresholds("accept", category).get("yellow", (1, "working_days"))
        return span(value, unit), unit
    if clock == "handle":
        return span(category["limit_value"], category["limit_unit"]), category["limit_unit"]
    if clock == "check":
        return span(*CHECK_LIMIT), CHECK_LIMIT[1]
    raise ValueError(f"`clock` was {clock!r} but is expected to be in "
                     "['dispatch', 'accept', 'handle', 'check']")


@dataclass(frozen=True)
class Clock:
    """One clock of a case, as a row of case_deadlines holds it."""

    clock: str
    started_at: datetime
    due_at: datetime
    unit: str
    soon_at: datetime | None = None
    yellow_at: datetime | None = None
    red_at: datetime | None = None
    suspended_at: datetime | None = None
    remaining_s: float | None = None
    extensions: int = 0
    id: int | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Clock:
        return cls(**{f: row[f] for f in cls.__dataclass_fields__ if f in row})

    def row(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def started(clock: str, at: datetime, category: dict[str, Any], cal: BusinessCalendar) -> Clock:
    """A clock started at ``at`` for a case of ``category``: due, soon and card moments."""
    amount, unit = limit(clock, category)
    cards = {card: add_time(at, span(v, u), u, cal)
             for card, (v, u) in card_thresholds(clock, category).items()}
    return Clock(clock, at, add_time(at, amount, unit, cal), unit,
                 soon_at=add_time(at, amount * SOON_FRACTION, unit, cal),
                 yellow_at=cards.get("yellow"), red_at=cards.get("red"))


def _units(clock: Clock, category: dict[str, Any]) -> dict[str, str]:
    cards = card_thresholds(clock.clock, category)
    return {"due_at": clock.unit, "soon_at": clock.unit,
            "yellow_at": cards.get("yellow", (0, clock.unit))[1],
            "red_at": cards.get("red", (0, clock.unit))[1]}


def suspended(clock: Clock, at: datetime, cal: BusinessCalendar) -> Clock:
    """The clock parked at ``at``: its moments kept, the time left until due recorded."""
    left = time_between(at, clock.due_at, clock.unit, cal)
    return replace(clock, suspended_at=at, remaining_s=left.total_seconds())


def resumed(clock: Clock, at: datetime, category: dict[str, Any], cal: BusinessCalendar) -> Clock:
    """The parked clock running again from ``at``: every moment still ahead at the suspension
    lies as far (in its unit) after ``at``."""
    if clock.suspended_at is None:
        return clock
    units = _units(clock, category)
    moved = {}
    for name in MOMENTS:
        moment = getattr(clock, name)
        if moment is None or moment <= clock.suspended_at:
            continue
        left = time_between(clock.suspended_at, moment, units[name], cal)
        moved[name] = add_time(at, left, units[name], cal)
    return replace(clock, suspended_at=None, remaining_s=None, **moved)


def extended(clock: Clock, days: int, cal: BusinessCalendar) -> Clock:
    """The clock after an approved extension of ``days`` working days."""
    extra = span(days, "working_days")
    moved = {name: add_time(getattr(clock, name), extra, "working_days", cal)
             for name in MOMENTS if getattr(clock, name) is not None}
    return replace(clock, extensions=clock.extensions + 1, **moved)
