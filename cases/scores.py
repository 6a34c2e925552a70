"""Scores (一事一评 counts): per grid worker, per village (the secretary's star rating) and per
party member, computed from the case events of a window — nothing is stored. README "Scores"
carries the same formulas (tests/test_scores.py checks they match), and so does the scores page.

What counts, from the events in the window ``[since, until)`` (cases/scores.sql ``facts``):
a *handled* case is a ``feed_back`` event, credited to the person holding the case; it is *on
time* when it came at or before the due moment of the handle clock it met (the case's
``due_at`` for histories without clock rows); a *card* is a ``card`` event with signal yellow or
red, counted against the person holding the case when it was issued (the 不满意 card a
resident's rating gives, cases/rating.py, against the one who fed the case back); a *rating* is
an ``evaluate`` event, credited to the one who fed the case back. A village's and a grid's
figures take every such event of its cases, whoever held them.

FORMULAS
- 网格员得分 grid worker score = on_time × (+1) + yellow × (−5) + red × (−10)
  + Σ ratings (非常满意 +2, 满意 +1, 基本满意 0, 不满意 −3)
- 村星级 village star rating (the secretary's, 网格长):
  on_time_rate r = on_time / handled;
  satisfied_share s = (非常满意 + 满意 + 基本满意) / ratings, or s = r without ratings;
  card_rate c = (yellow + 2 × red) / handled;
  index = 100 × (0.5 × r + 0.5 × s) − 50 × c, kept within 0..100;
  stars = 5 when index ≥ 90, 4 when ≥ 75, 3 when ≥ 60, 2 when ≥ 40, else 1;
  no stars without a handled case
- 党员积分 party member points = 2 × handled + the grid worker score
- 网格 grid figures: a leaf grid's cases counted as a village's (index and stars), and the sum
  of the grid worker score over them
END FORMULAS
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from cases.errors import ScoresWindowError, StatsWindowError
from cases.stats import FIRST_DAY, LAST_DAY, Window

ON_TIME_POINTS = 1
CARD_POINTS = {"yellow": -5, "red": -10}
RATING_POINTS = {"very_satisfied": 2, "satisfied": 1, "basically_satisfied": 0,
                 "dissatisfied": -3}
PARTY_HANDLED_POINTS = 2
STAR_WEIGHTS = {"on_time_rate": 0.5, "satisfied_share": 0.5}
CARD_RATE_PENALTY = 50  # index points per card per handled case (a red card counts twice)
RED_CARD_WEIGHT = 2
# (lowest index, stars), best first: the thresholds as data
STAR_THRESHOLDS = ((90, 5), (75, 4), (60, 3), (40, 2), (0, 1))
LEVELS = tuple(RATING_POINTS)
KINDS = ("workers", "villages", "grids")
COUNTS = ("handled", "on_time", "yellow", "red", *LEVELS)
_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def formulas() -> str:
    """The formula block of this docstring (README "Scores" and the scores page show it)."""
    doc = __doc__ or ""
    return doc.split("FORMULAS\n", 1)[1].split("END FORMULAS", 1)[0].strip()


@cache
def _queries() -> dict[str, TextClause]:
    source = resources.files("cases").joinpath("scores.sql").read_text(encoding="utf-8")
    parts = _NAME.split(source)
    return {name: text(body.strip().rstrip(";")) for name, body in zip(parts[1::2], parts[2::2])}


@dataclass(frozen=True)
class Scope:
    """Whose cases count: ``kind`` "town", "villages" or "grids" with its ``codes``
    (accounts.access.case_scope's answer); any other kind counts nothing."""

    kind: str
    codes: tuple[str, ...]


def window(since: date | None, until: date | None, now: datetime | None = None) -> Window:
    """Local days ``since`` .. ``until`` (both inclusive); by default the last 30 days.

    Raises ScoresWindowError for a day outside stats.FIRST_DAY .. LAST_DAY, or ``until`` before
    ``since``."""
    details = {"from": str(since), "until": str(until)}
    for name, day in (("from", since), ("until", until)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise ScoresWindowError(f"`{name}` ({day.isoformat()}) must be a day from "
                                    f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}", details)
    end = date.fromordinal(until.toordinal() + 1) if until else None
    try:
        return Window.of_days(since, end, now)
    except StatsWindowError as exc:
        raise ScoresWindowError(f"`until` ({until}) must not be before `from` ({since})",
                                details) from exc


def worker_score(c: Mapping[str, int]) -> int:
    """The grid worker score of counts (see FORMULAS)."""
    return (ON_TIME_POINTS * c["on_time"] + sum(CARD_POINTS[k] * c[k] for k in CARD_POINTS)
            + sum(RATING_POINTS[k] * c[k] for k in LEVELS))


def star_index(c: Mapping[str, int]) -> tuple[float | None, int | None]:
    """A village's (or grid's) index 0..100 and stars 1..5 from its counts; (None, None)
    without a handled case (see FORMULAS)."""
    handled = c["handled"]
    if not handled:
        return None, None
    r = c["on_time"] / handled
    rated = sum(c[k] for k in LEVELS)
    s = (rated - c["dissatisfied"]) / rated if rated else r
    card_rate = (c["yellow"] + RED_CARD_WEIGHT * c["red"]) / handled
    index = 100 * (STAR_WEIGHTS["on_time_rate"] * r + STAR_WEIGHTS["satisfied_share"] * s) \
        - CARD_RATE_PENALTY * card_rate
    index = round(min(100.0, max(0.0, index)), 1)
    stars = next(n for low, n in STAR_THRESHOLDS if index >= low)
    return index, stars


def _sum(rows: Iterable[Mapping[str, Any]], key: str) -> dict[Any, dict[str, int]]:
    out: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for row in rows:
        if row[key] is None:
            continue
        for k in COUNTS:
            out[row[key]][k] += int(row[k] or 0)
    return out


def _rates(c: Mapping[str, int]) -> dict[str, Any]:
    rated = sum(c[k] for k in LEVELS)
    return {"on_time_rate": round(c["on_time"] / c["handled"], 4) if c["handled"] else None,
            "rated": rated,
            "satisfied_share": round((rated - c["dissatisfied"]) / rated, 4) if rated else None}


def scores(session: Session, kind: str, scope: Scope, win: Window) -> list[dict[str, Any]]:
    """The rows of ``kind`` ("workers", "villages" or "grids") for the cases in ``scope``,
    from the events in ``win``; best first."""
    if kind not in KINDS:
        raise ValueError(f"`kind` was {kind!r} but is expected to be in {list(KINDS)}")
    q = _queries()
    facts = [dict(r) for r in session.execute(q["facts"], {
        "since": win.since, "until": win.until, "scope_kind": scope.kind,
        "codes": list(scope.codes)}).mappings()]
    if kind == "workers":
        return _workers(session, facts)
    key = "village_code" if kind == "villages" else "grid_code"
    counts = _sum(facts, key)
    villages = sorted({k[:12] for k in counts})
    codes = [f"{v}000" for v in villages] if kind == "villages" else sorted(counts)
    places = {r["code"]: dict(r) for r in session.execute(q["places"], {
        "codes": codes, "villages": villages}).mappings()}
    out = []
    for code, c in counts.items():
        place = places.get(f"{code}000" if kind == "villages" else code, {})
        index, stars = star_index(c)
        row: dict[str, Any] = {"code": code, "name": place.get("name")}
        if kind == "villages":
            row["secretary"] = place.get("secretary")
        else:
            village = places.get(f"{code[:12]}000", {})
            row["village_code"], row["village_name"] = code[:12], village.get("name")
        out.append({**row, **c, **_rates(c), "score": worker_score(c), "index": index,
                    "stars": stars})
    out.sort(key=lambda r: (-(r["index"] if r["index"] is not None else -1), r["code"]))
    return out


def _workers(session: Session, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = _sum(facts, "person_id")
    people = {r["id"]: dict(r) for r in session.execute(_queries()["people"], {
        "ids": sorted(counts)}).mappings()}
    out = []
    for person_id, c in counts.items():
        p = people.get(person_id, {})
        score = worker_score(c)
        party = bool(p.get("party_member"))
        out.append({"person_id": person_id, "name": p.get("name"), "role": p.get("role"),
                    "village_code": p.get("village_code"), "party_member": party, **c,
                    **_rates(c), "score": score,
                    "party_points": PARTY_HANDLED_POINTS * c["handled"] + score if party else None})
    out.sort(key=lambda r: (-r["score"], r["person_id"]))
    return out


COLUMNS = {
    "workers": ("person_id", "name", "role", "village_code", "party_member", *COUNTS,
                "on_time_rate", "satisfied_share", "score", "party_points"),
    "villages": ("code", "name", "secretary", *COUNTS, "on_time_rate", "satisfied_share",
                 "score", "index", "stars"),
    "grids": ("code", "name", "village_code", "village_name", *COUNTS, "on_time_rate",
              "satisfied_share", "score", "index", "stars"),
}


def to_csv(kind: str, rows: list[dict[str, Any]]) -> str:
    """The rows as CSV with a header row, starting with a UTF-8 BOM (so Excel reads Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS[kind])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in COLUMNS[kind]])
    return "\ufeff" + buffer.getvalue()
