"""The operator map's numbers: the day's figures for the town, and per-grid figures for the
choropleth and the grid panel.

Days are the town's days (Asia/Shanghai, cases.deadlines.LOCAL_TZ). A case is *open* while
its status is not closed, evaluated or voided; *overdue* when open, not parked (挂账 suspends
the deadline) and past its ``due_at``. The statements live in ``stats.sql``.

Households per grid worker. A grid worker may serve two neighbouring grids (the demo has
316 workers for 381 leaf grids), so a grid's figure is the load of the people who serve it:
each on-duty worker carries, for every grid they serve, that grid's households divided by the
grid's on-duty workers; a leaf grid shows the mean load of its on-duty workers, a village its
households divided by the distinct on-duty workers of its leaf grids. A grid with no on-duty
worker has no figure (None), and is flagged on the map instead.

History across boundary changes. Grids are redrawn (boundaries/models.py, versions), and a
window of cases may span a change. By default (``aggregate="routed"``) a case counts in the
grid it was routed to — its stored ``grid_code`` and ``admin_code``, kept for good when it
closed — so a window before and after a change shows each grid's cases as they were handled.
``aggregate="current"`` re-aggregates them to today's grids by position instead: each case
counts in the current grid its point lies in (stats.sql, ``current_grid_joins``, the intake's
rule), so figures over a long window compare with today's map. Either way a case counted in no
current grid is not lost: ``unplaced`` counts it under "none" (routed: routed to no grid, or to
grids that are no longer current; current: no point, matched only to the town, or outside
today's grids), and, routed, names the grids no longer current that cases were routed to.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from cases.deadlines import LOCAL_TZ
from cases.errors import StatsWindowError
from cases.models import CLOSED_STATES, SATISFACTION, STATES

AGGREGATES = ("routed", "current")  # see "History across boundary changes" above
CURRENT_GRID_JOINS = "/* current_grid_joins */"
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)
SATISFACTION_DAYS = 30  # the window of the satisfaction share
DEFAULT_WINDOW_DAYS = 30  # the window of "cases per 1,000 residents" when none is given
# The days a window may name. Python's dates end at 9999-12-31 and begin at 0001-01-01, and a
# window is counted from its days' starts, a day or 30 days on: at those ends that arithmetic
# failed (a 500 found by make fuzz: ``until=0001-01-01``). No town has a case outside these.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)  # the last day a window may cover: its exclusive end is the next
# 满意率 as Chinese service assessments count it: the ratings that are not 不满意.
SATISFIED_LEVELS = ("very_satisfied", "satisfied", "basically_satisfied")

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def _sources() -> dict[str, str]:
    source = resources.files("cases").joinpath("stats.sql").read_text(encoding="utf-8")
    parts = _NAME.split(source)
    return {name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2])}


def with_current_grid(sql: str) -> str:
    """``sql`` with ``/* current_grid_joins */`` replaced by the joins that place a case ``c``
    in today's grids (stats.sql, ``current_grid_joins``): ``now_leaf`` and ``now_admin``."""
    return sql.replace(CURRENT_GRID_JOINS, _sources()["current_grid_joins"])


@cache
def _queries() -> dict[str, TextClause]:
    return {name: text(with_current_grid(body)) for name, body in _sources().items()
            if name != "current_grid_joins"}


def _check_sql_states() -> None:
    """stats.sql spells the open states out (see its header): fail loudly if they drift."""
    source = resources.files("cases").joinpath("stats.sql").read_text(encoding="utf-8")
    for state in STATES:
        if state not in CLOSED_STATES and f"'{state}'" not in source:
            raise RuntimeError(f"cases/stats.sql does not list the open state {state!r}")


_check_sql_states()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The start and end (exclusive) of a local day, timezone-aware."""
    start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)


def local_now() -> datetime:
    """Now, in the town's time zone."""
    return datetime.now(LOCAL_TZ)


@dataclass(frozen=True)
class Window:
    """A half-open time window [since, until), timezone-aware."""

    since: datetime
    until: datetime

    @classmethod
    def of_days(cls, since: date | None, until: date | None, now: datetime | None = None) -> Window:
        """Local days since (inclusive) .. until (exclusive); by default the last 30 days to now.

        Raises StatsWindowError for a day outside FIRST_DAY .. LAST_DAY, or ``until`` not after
        ``since``."""
        after_last = LAST_DAY + timedelta(days=1)
        for name, day, last in (("since", since, LAST_DAY), ("until", until, after_last)):
            if day is not None and not FIRST_DAY <= day <= last:
                raise StatsWindowError(f"`{name}` ({day.isoformat()}) must be a day from "
                                       f"{FIRST_DAY.isoformat()} to {last.isoformat()}", name)
        now = now or local_now()
        end = day_bounds(until)[0] if until else now
        start = day_bounds(since)[0] if since else end - timedelta(days=DEFAULT_WINDOW_DAYS)
        if end <= start:
            raise StatsWindowError(f"`until` ({end.isoformat()}) must be after `since` "
                                   f"({start.isoformat()})", "until")
        return cls(start, end)


def today(session: Session, now: datetime | None = None, town_code: str | None = None) -> dict[str, Any]:
    """The day's numbers: new, open, overdue and closed today, and the satisfaction of the
    last 30 days (counts per level and the share satisfied)."""
    now = (now or local_now()).astimezone(LOCAL_TZ)
    start, end = day_bounds(now.date())
    q = _queries()
    since = now - timedelta(days=SATISFACTION_DAYS)
    new = session.execute(
        q["new_cases"], {"day_start": start, "day_end": end, "town_code": town_code}
    ).scalar_one()
    opened = session.execute(q["open_cases"], {"now": now, "town_code": town_code}).one()
    closed = session.execute(q["closed_and_rated"], {
        "day_start": start, "day_end": end, "since": since, "now": now, "town_code": town_code,
    }).mappings().one()
    rated = {level: closed[level] for level in SATISFACTION}
    levels = {level: int(rated.get(level, 0)) for level in SATISFACTION}
    evaluated = sum(levels.values())
    satisfied = sum(levels[level] for level in SATISFIED_LEVELS)
    return {
        "day": start.date().isoformat(),
        "timezone": str(LOCAL_TZ),
        "as_of": now.isoformat(),
        "new": int(new),
        "open": int(opened.open),
        "overdue": int(opened.overdue),
        "closed": int(closed["closed"]),
        "satisfaction": {
            "days": SATISFACTION_DAYS,
            "since": since.isoformat(),
            "evaluated": evaluated,
            "levels": levels,
            "satisfied_share": round(satisfied / evaluated, 4) if evaluated else None,
        },
    }


def check_aggregate(aggregate: str) -> str:
    """``aggregate`` if it is one of AGGREGATES, else ValueError naming it."""
    if aggregate not in AGGREGATES:
        raise ValueError(
            f"`aggregate` was {aggregate!r} but is expected to be in {list(AGGREGATES)}")
    return aggregate


def case_counts_by_grid(
    session: Session, window: Window, now: datetime | None = None, town_code: str | None = None,
    grid_codes: list[str] | None = None, aggregate: str = "routed",
) -> list[dict[str, Any]]:
    """Rows of (grid_code, admin_code, open, overdue, cases created in the window); only the
    cases whose grid_code is in ``grid_codes`` when given. The codes are those the cases were
    routed to, or with ``aggregate="current"`` today's grids holding their points (see the
    module docstring); NULL for a case in no grid."""
    name = ("case_counts_by_current_grid" if check_aggregate(aggregate) == "current"
            else "case_counts_by_grid")
    params = {"since": window.since, "until": window.until, "now": now or local_now(),
              "town_code": town_code, "grid_codes": grid_codes}
    return [dict(r) for r in session.execute(_queries()[name], params).mappings()]


def unplaced(case_counts: Iterable[Mapping[str, Any]],
             grid_codes: Iterable[str]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """What no current grid counts (pure): ``none``, the open, overdue and window's cases of
    the rows whose grid and village are both missing or not in ``grid_codes`` (today's grids),
    and ``retired``, by code, the rows whose grid is not a current grid (counted in their
    village when it is current, under ``none`` otherwise). ``case_counts``: rows of
    case_counts_by_grid."""
    current = set(grid_codes)
    keys = ("open", "overdue", "cases")
    none = dict.fromkeys(keys, 0)
    retired: dict[str, dict[str, int]] = {}
    for row in case_counts:
        grid, village = row["grid_code"], row["admin_code"]
        if grid is not None and grid not in current:
            tally = retired.setdefault(grid, dict.fromkeys(keys, 0))
            for key in keys:
                tally[key] += int(row[key] or 0)
        if grid not in current and village not in current:
            for key in keys:
                none[key] += int(row[key] or 0)
    return none, dict(sorted(retired.items()))


def grid_cases(
    session: Session, grid: str, *, open_only: bool = False, before_id: int | None = None,
    limit: int = 100, now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The cases of a leaf grid or a village, newest first (keyset paging on id)."""
    params = {"grid": grid, "open_only": open_only, "before_id": before_id, "limit": limit,
              "now": now or local_now()}
    return [dict(r) for r in session.execute(_queries()["grid_cases"], params).mappings()]


def _ratio(numerator: float, denominator: float, scale: float = 1.0, digits: int = 1) -> float | None:
    return round(numerator * scale / denominator, digits) if denominator else None


def grid_numbers(
    grids: Iterable[Mapping[str, Any]],
    households: Mapping[str, tuple[int, int]],
    worker_posts: Iterable[tuple[str, int, bool]],
    case_counts: Iterable[Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Every grid's figures from the raw facts (pure; see the module docstring).

    ``grids``: code, level, parent_code. ``households``: grid code -> (households, residents)
    recorded against that grid. ``worker_posts``: (grid_code, person_id, on_duty).
    ``case_counts``: rows of case_counts_by_grid. Returns code -> open, overdue, cases,
    households, residents, workers, workers_on_duty, households_per_worker, cases_per_1000.
    """
    grids = list(grids)
    parent = {g["code"]: g["parent_code"] for g in grids}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"open": 0, "overdue": 0, "cases": 0})
    for row in case_counts:
        village = row["admin_code"] or (row["grid_code"] if parent.get(row["grid_code"], 1) is None else None)
        targets = {row["grid_code"], village} - {None}
        for code in targets:
            for key in ("open", "overdue", "cases"):
                counts[code][key] += int(row[key] or 0)
    posts_by_grid: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for grid_code, person, on_duty in worker_posts:
        posts_by_grid[grid_code].append((person, on_duty))
    # each on-duty worker's share of households, over every grid they serve
    load: dict[int, float] = defaultdict(float)
    for grid_code, posts in posts_by_grid.items():
        on_duty = [p for p, duty in posts if duty]
        for person in on_duty:
            load[person] += households.get(grid_code, (0, 0))[0] / len(on_duty)
    out: dict[str, dict[str, Any]] = {}
    for g in grids:
        code = g["code"]
        if g["level"] == "admin":
            leaves = [c for c, p in parent.items() if p == code]
            hh = sum(households.get(c, (0, 0))[0] for c in [code, *leaves])
            residents = sum(households.get(c, (0, 0))[1] for c in [code, *leaves])
            people = {p: d for c in [code, *leaves] for p, d in posts_by_grid.get(c, [])}
            on_duty = sum(1 for d in people.values() if d)
            per_worker = _ratio(hh, on_duty)
            workers = len(people)
        else:
            hh, residents = households.get(code, (0, 0))
            posts = posts_by_grid.get(code, [])
            duty = [p for p, d in posts if d]
            on_duty, workers = len(duty), len(posts)
            per_worker = _ratio(sum(load[p] for p in duty), on_duty)
        c = counts.get(code, {"open": 0, "overdue": 0, "cases": 0})
        out[code] = {
            "code": code, "level": g["level"], "parent_code": g["parent_code"],
            "open": c["open"], "overdue": c["overdue"], "cases": c["cases"],
            "households": hh, "residents": residents, "workers": workers,
            "workers_on_duty": on_duty, "households_per_worker": per_worker,
            "cases_per_1000": _ratio(c["cases"], residents, 1000, 2),
        }
    return out
