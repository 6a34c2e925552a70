"""Running clocks with chosen moments, for the supervision tests: written with the workflow's
own repository (cases/workflow_repository.py), as transitions write them. The demo's cases
already carry the clocks their histories left; a clock started here ends the case's running
clock of the same kind first (one running clock of a kind per case)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from cases import workflow_repository as store
from cases.clocks import Clock


def start_clock(session: Session, case_id: int, clock: str, started_at: datetime, due_at: datetime,
                *, soon_at: datetime | None = None, yellow_at: datetime | None = None,
                red_at: datetime | None = None) -> int:
    """A running clock on the case with these moments; its id."""
    store.meet_clocks(session, case_id, (clock,), started_at)
    town_code = session.execute(text("SELECT town_code FROM cases WHERE id = :id"),
                                {"id": case_id}).scalar_one()
    store.insert_clocks(session, case_id, town_code, [
        Clock(clock, started_at, due_at, "working_days", soon_at, yellow_at, red_at)])
    return _running(session, case_id, clock).id


def suspend_clock(session: Session, deadline_id: int, at: datetime) -> None:
    """Park the clock (挂账), as the park transition does."""
    running = _by_id(session, deadline_id)
    store.update_clocks(session, [replace(running, suspended_at=at)])


def meet_clock(session: Session, deadline_id: int, at: datetime) -> None:
    """End the clock: the step it measures was done."""
    running = _by_id(session, deadline_id)
    case_id = session.execute(text("SELECT case_id FROM case_deadlines WHERE id = :id"),
                              {"id": deadline_id}).scalar_one()
    store.meet_clocks(session, case_id, (running.clock,), at)


def _running(session: Session, case_id: int, clock: str) -> Clock:
    [found] = [c for c in store.running_clocks(session, case_id) if c.clock == clock]
    return found


def _by_id(session: Session, deadline_id: int) -> Clock:
    row = session.execute(text("SELECT * FROM case_deadlines WHERE id = :id"),
                          {"id": deadline_id}).mappings().one()
    return Clock.of(dict(row))
