"""Visit compliance (巡访合规) for a month: the share of visits due that were made on time.

The figures, per leaf grid, per grid worker or per village (rules in field/rules.py):

- ``targets``: the visits due in the month — each monthly target once, each weekly target once
  per ISO week whose Sunday is in the month;
- ``visited_on_time``: those met by a visit (any account's) dated within their period;
- ``share`` = visited_on_time / targets (null without targets);
- ``overdue``: those whose period ended (its last day before today) without a visit. A period
  still running is neither on time nor overdue yet.

A grid worker answers for the targets of the grids they are assigned to now
(``grid_assignments``, role worker); a visit by anyone of the grid counts for the grid. A
village is its leaf grids together. Targets are the ones registered now (a household that
moved away last week is not counted for the month).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from accounts.access import case_scope
from accounts.actor import VILLAGE_CODE_LENGTH, Actor
from cases.deadlines import LOCAL_TZ
from field import repository
from field.rules import month_periods, rules

LEVELS = ("grid", "worker", "village")
COLUMNS = ("code", "name", "targets", "visited_on_time", "share", "overdue")


def _share(met: int, total: int) -> float | None:
    return round(met / total, 4) if total else None


def compliance(session: Session, actor: Actor, level: str, month: date,
               today: date | None = None) -> dict[str, Any]:
    """The month's compliance in the account's scope at ``level`` (grid, worker, village):
    ``{"period", "level", "rows", "overdue"}``."""
    if level not in LEVELS:
        raise ValueError(f"`level` was {level!r} but is expected to be one of {list(LEVELS)}")
    today = today or datetime.now(LOCAL_TZ).date()
    periods = [{"every": p.every, "starts_at": p.starts_at, "ends_at": p.ends_at,
                "due_by": p.due_by} for p in month_periods(month)]
    todo = [{"type": r.type, "every": r.every} for r in rules().values()]
    found = repository.obligations(session, case_scope(actor), todo, periods, today)
    per_grid = {g["grid_code"]: (g["targets"], g["on_time"], g["overdue"]) for g in found}
    overdue = [{"key": k, "grid_code": g["grid_code"], "every": e, "due_by": d.isoformat()}
               for g in found if g["overdue_keys"]
               for k, e, d in zip(g["overdue_keys"], g["overdue_every"], g["overdue_due"])]
    groups: dict[str, tuple[str, list[str]]] = {}  # code -> (name, grid codes)
    if level == "grid":
        names = repository.grid_names(session, sorted(per_grid))
        groups = {c: (names.get(c, c), [c]) for c in per_grid}
    elif level == "village":
        villages = sorted({c[:VILLAGE_CODE_LENGTH] for c in per_grid})
        names = repository.grid_names(session, [v + "000" for v in villages])
        for c in per_grid:
            v = c[:VILLAGE_CODE_LENGTH]
            groups.setdefault(v, (names.get(v + "000", v), []))[1].append(c)
    else:
        for w in repository.grid_workers(session, sorted(per_grid)):
            groups.setdefault(str(w["person_id"]), (w["name"], []))[1].append(w["grid_code"])
    rows = []
    for code, (name, grids) in groups.items():
        total = sum(per_grid[g][0] for g in grids)
        met = sum(per_grid[g][1] for g in grids)
        late = sum(per_grid[g][2] for g in grids)
        rows.append({"code": code, "name": name, "targets": total, "visited_on_time": met,
                     "share": _share(met, total), "overdue": late})
    rows.sort(key=lambda r: (len(r["code"]), r["code"]))
    return {"period": month.strftime("%Y-%m"), "level": level, "rows": rows, "overdue": overdue}


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV (COLUMNS, a header row), with a UTF-8 BOM so Excel reads Chinese."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    return "\ufeff" + buffer.getvalue()
