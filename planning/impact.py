"""``GET /api/v1/drafts/{id}/impact``: what publishing a draft would move, grid by grid.

For each leaf grid the draft changes (a new outline, a new grid, a grid removed), and each grid
that gains or loses from one: the households, residents, enterprises, unresolved hazards and
open cases that would move in and out; its households before and after, and per grid worker
before (today's workers) and after (the draft's); and the open cases that would move to a grid
whose workers do not include their assignee, listed — those the publish re-routes to someone
else. "Before" is where each thing is recorded today (its grid_code, as routed); "after" is the
draft's leaf grid containing it (planning/impact.sql).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from db.statements import Statements
from planning.drafts import draft_summary

KINDS = ("households", "residents", "enterprises", "hazards", "open_cases")
_KIND_OF = {"household": "households", "enterprise": "enterprises", "hazard": "hazards",
            "case": "open_cases"}


_SQL = Statements("planning", "impact.sql")
_run = _SQL.rows


def draft_impact(session: Session, draft_id: int) -> dict[str, Any]:
    """The draft's impact: ``grids`` (one entry per grid that changes or gains or loses),
    ``cases_reassigned`` (the open cases whose assignee would change) and ``totals``."""
    draft = draft_summary(session, draft_id)
    changed = {r["code"]: dict(r) for r in _run(session, "changed", {"id": draft_id})}
    moves_in: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    moves_out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    moving_cases = []
    for r in _run(session, "moves", {"id": draft_id, "town": draft["town_code"]}):
        old, new = r["old_code"], r["new_code"]
        if old == new:
            continue
        kind = _KIND_OF[r["kind"]]
        for side, code in ((moves_out, old), (moves_in, new)):
            if code is None:
                continue
            side[code][kind] += 1
            if kind == "households":
                side[code]["residents"] += r["residents"]
        if kind == "open_cases":
            moving_cases.append({"id": r["id"], "from_grid": old, "to_grid": new,
                                 "assignee_id": r["assignee_id"], "held": r["held"]})
    codes = sorted(set(changed) | set(moves_in) | set(moves_out))
    before = {r["grid_code"]: r for r in _run(session, "households", {"codes": codes})}
    workers_today = {r["grid_code"]: r["workers"]
                     for r in _run(session, "workers_today", {"codes": codes})}
    draft_workers = {r["code"]: list(r["worker_ids"] or [])
                     for r in _run(session, "draft_workers", {"id": draft_id, "codes": codes})}
    grids = []
    for code in codes:
        hh_before = int(before[code]["households"]) if code in before else 0
        hh_after = hh_before - moves_out[code]["households"] + moves_in[code]["households"]
        workers_after = len(draft_workers[code]) if code in draft_workers else (
            workers_today.get(code, 0))
        state = changed.get(code)
        grids.append({
            "code": code,
            "change": ("removed" if state and state["removed"] else "added" if state and
                       state["added"] else "changed" if state else "neighbour"),
            "in": dict(moves_in[code]),
            "out": dict(moves_out[code]),
            "households_before": hh_before,
            "households_after": hh_after,
            "workers_before": workers_today.get(code, 0),
            "workers_after": workers_after,
            "households_per_worker_before": _per(hh_before, workers_today.get(code, 0)),
            "households_per_worker_after": _per(hh_after, workers_after),
        })
    # the cases a publish gives to someone else: those held at the grid level that move to a
    # grid whose workers do not include their holder, and those whose holder the draft takes
    # off their grid (planning/publish.py)
    held = {c["id"]: c.pop("held") for c in moving_cases}
    reassigned = [
        {**c, "to_workers": draft_workers.get(c["to_grid"], [])}
        for c in moving_cases
        if held[c["id"]] and c["to_grid"] is not None
        and c["assignee_id"] not in draft_workers.get(c["to_grid"], [])
    ] + [
        {"id": r["id"], "from_grid": r["grid_code"], "to_grid": r["grid_code"],
         "assignee_id": r["assignee_id"], "to_workers": list(r["worker_ids"])}
        for r in _run(session, "restaffed_cases", {"id": draft_id})
    ]
    totals = {kind: sum(g["in"][kind] for g in grids) for kind in KINDS}
    return {"draft": draft_id, "revision": draft["revision"], "grids": grids,
            "cases_moving": moving_cases, "cases_reassigned": reassigned,
            "totals_moving": totals}


def _per(households: int, workers: int) -> float | None:
    return round(households / workers, 1) if workers else None
