"""A grid worker's inbox (the phone's first screen): the account's open cases, nearest first,
each with its deadline, card, distance and direction, and the workflow actions the account may
take on it, so the phone can act on a case while it has no signal.

Whose cases: a grid worker's are those assigned to its person, in its grids (a worker never
sees another grid's cases, even one still assigned to it after a boundary change); an
auxiliary's, those held by a person of its grids (it helps their grid workers); a grid
leader's, its village's. Any other account has an empty inbox.

What each case says about its time (the clocks of cases/clocks.py, at the moment asked for):

- ``deadline_state``: ``overdue`` once a running clock's due moment has passed, ``due_soon``
  once its due-soon moment has (the last quarter of its limit), else ``ok``; a parked case's
  suspended clocks count for nothing;
- ``card``: the worst supervision card of the case, ``red`` over ``yellow``: one issued
  already (the supervision pass's, a 不满意 rating's), or one whose moment has passed on a
  running clock (the next pass issues it);
- ``due_at`` and ``time_left_s``: the case's handling deadline, and the wall-clock seconds
  left until it (negative once passed).

Distance and bearing are geodesic (WGS 84 spheroid) from the phone to the case: a straight
line, the demo has no street network to walk along.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from accounts.access import case_scope
from accounts.privacy import masked_text
from accounts.actor import Actor
from cases.deadlines import LOCAL_TZ
from cases.transitions import allowed_actions
from cases.workflow import CaseState
from db.statements import named_statements

# the account's role -> which of inbox.sql's predicates says whose cases are its (the
# allow-list: the statement is put together from these names only)
MINE = {"grid_worker": "mine_assigned", "auxiliary": "mine_grids",
        "grid_leader": "mine_villages"}
CARDS = {2: "red", 1: "yellow", 0: None}
ADMIN_SUFFIX = "000"  # a village's administrative grid code: its 12 digits + 000 (DOMAIN.md)


@cache
def _statements() -> dict[str, str]:
    # without their comment lines and final semicolons
    out = {}
    for name, body in named_statements("cases", "inbox.sql").items():
        lines = [line for line in body.splitlines() if not line.startswith("--")]
        out[name] = "\n".join(lines).strip().rstrip(";")
    return out


@cache
def _statement(mine: str):
    statements = _statements()
    return text(statements["inbox"].replace("{mine}", statements[mine]))


def deadline_state(row: dict[str, Any]) -> str:
    """``overdue``, ``due_soon`` or ``ok`` from the flags of the case's running clocks."""
    if row["overdue"]:
        return "overdue"
    return "due_soon" if row["soon"] else "ok"


def card(row: dict[str, Any]) -> str | None:
    """The worst card: issued, or due on a running clock."""
    due = 2 if row["red_due"] else 1 if row["yellow_due"] else 0
    return CARDS[max(due, row["card_rank"])]


def _params(actor: Actor) -> dict[str, Any] | None:
    kind, codes = case_scope(actor)
    if actor.role not in MINE or not codes:
        return None
    if actor.role == "grid_worker" and actor.person_id is None:
        return None
    if kind == "grids":
        return {"grid_codes": list(codes), "person_id": actor.person_id}
    if kind == "villages" and actor.role == "grid_leader":
        return {"admin_codes": [c + ADMIN_SUFFIX for c in codes]}
    return None


def inbox(session: Session, actor: Actor, at: datetime | None = None,
          position: tuple[float, float] | None = None) -> dict[str, Any]:
    """The account's open cases, nearest to ``position`` (lon, lat in WGS 84) first, or by
    due moment without one; ``at`` is now unless given. Each case as the API answers it, but
    for ``status_zh`` (the web layer's words)."""
    at = (at or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)
    params = _params(actor)
    rows: list[dict[str, Any]] = []
    if params is not None:
        lon, lat = position if position is not None else (None, None)
        result = session.execute(_statement(MINE[actor.role]),
                                 {**params, "lon": lon, "lat": lat, "at": at})
        rows = [dict(r) for r in result.mappings()]
    # What the account may do depends on the case's workflow state and where it is, not on
    # which case it is: the cases of one inbox share a handful of those, each worked out once.
    known: dict[tuple, list[dict[str, Any]]] = {}

    def actions(row: dict[str, Any]) -> list[dict[str, Any]]:
        key = (CaseState.of(row), row["town_code"], row["grid_code"], row["admin_code"])
        if key not in known:
            # the row carries every column allowed_actions reads: no query
            known[key] = allowed_actions(session, row, actor, at)
        return [dict(a) for a in known[key]]

    return {"at": at.isoformat(), "position": list(position) if position else None,
            "cases": [_case(row, actions(row), at) for row in rows]}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat() if moment is not None else None


def _case(row: dict[str, Any], actions: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    due_at = row["due_at"]
    return {
        "id": row["id"], "version": row["version"], "status": row["status"],
        "category_code": row["category_code"], "category_name_zh": row["category_name_zh"],
        # phone and ID numbers a resident typed stay masked on the phone (accounts/privacy.py):
        # the full report is the case's, read with a reason
        "description": masked_text(row["description"]), "address": row["address"],
        "lon": row["lon"], "lat": row["lat"], "grid_code": row["grid_code"],
        "created_at": _iso(row["created_at"]), "due_at": _iso(due_at),
        "time_left_s": (due_at - at).total_seconds() if due_at is not None else None,
        "deadline_state": deadline_state(row), "card": card(row),
        "distance_m": row["distance_m"],
        "bearing_deg": row["bearing_deg"] % 360 if row["bearing_deg"] is not None else None,
        "actions": actions,
    }
