"""What a workflow transition does to a case's clocks (cases/clocks.py: start, meet, suspend,
resume, extend), decided before anything is written and written after the case's version
moved (cases/transitions.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cases import clocks as clock_rules
from cases import workflow_repository as store
from cases.categories import categories
from cases.intake import business_calendar
from cases.workflow import Action, CaseState


@dataclass
class ClockPlan:
    """What a transition does to the case's clocks, decided before anything is written."""

    meets: tuple[str, ...]
    started: list[clock_rules.Clock]
    moved: list[clock_rules.Clock]
    effect: str | None
    due_at: datetime | None  # the case's new due_at (the handling clock's), None: keep it

    def record(self) -> dict[str, Any]:
        """For the event: the clocks met, and the due moment of those started or moved."""
        out: dict[str, Any] = {}
        if self.meets:
            out["met"] = list(self.meets)
        if self.started:
            out["started"] = {c.clock: c.due_at.isoformat() for c in self.started}
        if self.moved:
            out[self.effect or "moved"] = {c.clock: c.due_at.isoformat() for c in self.moved}
        return out

    def write(self, session: Session, row: Mapping[str, Any], at: datetime) -> None:
        store.meet_clocks(session, row["id"], self.meets, at)
        store.insert_clocks(session, row["id"], row["town_code"], self.started)
        store.update_clocks(session, self.moved)


def plan_clocks(session: Session, act: Action, state: CaseState, row: Mapping[str, Any],
                at: datetime) -> ClockPlan:
    """The action's effect on the clocks (cases/clocks.py), over the cached calendar."""
    category = categories(session).get(row["category_code"], {  # one deleted since: a default
        "code": row["category_code"], "parent_code": None, "limit_value": 5,
        "limit_unit": "working_days"})
    cal = business_calendar(session)
    started = [clock_rules.started(name, at, category, cal) for name in act.starts]
    due_at = next((c.due_at for c in started if c.clock == "handle"), None)
    moved: list[clock_rules.Clock] = []
    if act.clock_effect is not None:
        running = store.running_clocks(session, row["id"])
        if act.clock_effect == "suspend":
            moved = [clock_rules.suspended(c, at, cal) for c in running if c.suspended_at is None]
        elif act.clock_effect == "resume":
            moved = [clock_rules.resumed(c, at, category, cal) for c in running
                     if c.suspended_at is not None]
        else:  # extend: the handling clock, by the days asked
            days = state.extension_days or 0
            moved = [clock_rules.extended(c, days, cal) for c in running if c.clock == "handle"]
            if not moved and row["due_at"] is not None:  # a case from before the clocks
                old = clock_rules.Clock("handle", at, row["due_at"], "working_days")
                due_at = clock_rules.extended(old, days, cal).due_at
        if act.clock_effect != "suspend":
            due_at = next((c.due_at for c in moved if c.clock == "handle"), due_at)
    return ClockPlan(act.meets, started, moved, act.clock_effect, due_at)
