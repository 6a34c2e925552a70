"""The visit rules (field/data/visit_rules.csv) and the periods they count in.

A rule says how often a target type is visited: ``month`` (households, shops, enterprises) or
``week`` (key persons, key places, unresolved hazards), DOMAIN.md's 三个到位. A period is a
calendar month, or an ISO week (Monday to Sunday), in the town's local time
(cases.deadlines.LOCAL_TZ). A target is *due* in each period; a visit made in the period meets
it; a period that ended without one is *overdue*.

A month's compliance counts each monthly target once and each weekly target once per ISO week
that ends (its Sunday) in the month, so every week belongs to exactly one month.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources

from cases.deadlines import LOCAL_TZ
from field.errors import InvalidPeriod

EVERY = ("month", "week")


@dataclass(frozen=True)
class Rule:
    type: str
    name_zh: str
    name_en: str
    every: str


@dataclass(frozen=True)
class Period:
    """One period of a rule: [starts_on, ends_before) in local days; due_by its last day."""

    every: str
    starts_on: date
    ends_before: date

    @property
    def due_by(self) -> date:
        return self.ends_before - timedelta(days=1)

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.starts_on, time(), LOCAL_TZ)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.ends_before, time(), LOCAL_TZ)


@cache
def rules() -> dict[str, Rule]:
    """The rules by target type, in the file's order."""
    text = resources.files("field").joinpath("data/visit_rules.csv").read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(text.splitlines()):
        if row["every"] not in EVERY:
            raise ValueError(f"visit_rules.csv: `every` was {row['every']!r} for {row['type']!r} "
                             f"but is expected to be one of {list(EVERY)}")
        out[row["type"]] = Rule(row["type"], row["name_zh"], row["name_en"], row["every"])
    return out


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def period(every: str, day: date) -> Period:
    """The period of ``every`` that holds ``day``."""
    if every == "month":
        start = _month_start(day)
        return Period("month", start, _next_month(start))
    if every == "week":
        start = day - timedelta(days=day.weekday())  # ISO weeks start on Monday
        return Period("week", start, start + timedelta(days=7))
    raise ValueError(f"`every` was {every!r} but is expected to be one of {list(EVERY)}")


def previous(p: Period) -> Period:
    """The period just before ``p``."""
    return period(p.every, p.starts_on - timedelta(days=1))


def parse_month(text: str | None, today: date) -> date:
    """``YYYY-MM`` as the month's first day; the current month when ``text`` is None."""
    if text is None:
        return _month_start(today)
    try:
        found = datetime.strptime(text, "%Y-%m").date()
    except ValueError as exc:
        raise InvalidPeriod(f"`period` was {text!r} but is expected to be a month, YYYY-MM",
                            {"field": "period", "value": text}) from exc
    if not 2000 <= found.year <= 2100:
        raise InvalidPeriod(f"`period` was {text!r}: the year must be within 2000–2100",
                            {"field": "period", "value": text})
    return found


def month_periods(month: date) -> list[Period]:
    """Every period a month counts: the month itself, and the ISO weeks whose Sunday is in it."""
    first, after = _month_start(month), _next_month(month)
    out = [Period("month", first, after)]
    sunday = first + timedelta(days=(6 - first.weekday()) % 7)
    while sunday < after:
        out.append(Period("week", sunday - timedelta(days=6), sunday + timedelta(days=1)))
        sunday += timedelta(days=7)
    return out
