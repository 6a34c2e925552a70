"""A worker's emergency tasks and their confirmation from the phone.

A confirmation (``confirm_task``) is idempotent on the phone's own UUID, like a patrol visit
(field/visits.py): the phone queues a confirmation made offline and may send it more than
once. The first request stores it; a replay with the same body (hashed with the account)
answers the stored task; the same id with another body is ConfirmIdReused. A second, different
confirmation of a task already confirmed is TaskAlreadyConfirmed. The task's row is locked
while it is checked and written, so two confirmations of one task are serialised.

Who confirms: the workers and auxiliaries of the task's grid, and the village's grid leader
(``Actor.covers``); anyone else is TaskOutOfScope.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.access import case_scope
from accounts.actor import Actor
from cases.deadlines import LOCAL_TZ
from db.statements import named_statements
from emergencies.errors import (
    ConfirmIdReused, EmergencyClosed, TaskAlreadyConfirmed, TaskNotFound, TaskOutOfScope,
)

STATUSES = ("safe", "relocated", "unreachable")
TASK_LIMIT = 2000


def _run(session: Session, name: str, params: dict) -> list[dict[str, Any]]:
    sql = text(named_statements("emergencies", "emergencies.sql")[name])
    return [dict(r) for r in session.connection().execute(sql, params).mappings()]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat() if moment is not None else None


def task_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in (
        "id", "emergency_id", "target_type", "target_id", "name", "address", "grid_code",
        "person_id", "residents", "vulnerable", "status", "people", "relocated_to", "lon",
        "lat")}
    out["confirmed_at"] = _iso(row.get("confirmed_at"))
    for key in ("emergency_name", "kind", "instructions", "note", "confirmed_by_name"):
        if key in row:
            out[key] = row[key]
    if "received_at" in row:
        out["received_at"] = _iso(row["received_at"])
    if "distance_m" in row:
        out["distance_m"] = round(row["distance_m"], 1) if row["distance_m"] is not None else None
    return out


def worker_tasks(session: Session, actor: Actor, lon: float | None = None,
                 lat: float | None = None, status: str | None = "open",
                 limit: int = TASK_LIMIT) -> list[dict[str, Any]]:
    """The tasks of open emergencies in the account's scope (``status`` None: all), the most
    vulnerable first, then the nearest to (lon, lat) when given."""
    kind, codes = case_scope(actor)
    rows = _run(session, "worker_tasks", {
        "scope_kind": kind, "scope_codes": list(codes), "lon": lon, "lat": lat,
        "status": status, "person_id": actor.person_id, "limit": limit})
    return [task_out(r) for r in rows]


@dataclass(frozen=True)
class Confirmation:
    """A validated confirmation: ``people`` how many were found safe or relocated;
    ``relocated_to`` where (required for relocated); ``confirmed_at`` the phone's time."""

    id: uuid.UUID
    status: str
    confirmed_at: datetime
    people: int | None = None
    relocated_to: str | None = None
    note: str | None = None


@dataclass
class ConfirmResult:
    task: dict[str, Any]
    replayed: bool


def _stored(session: Session, task_id: int) -> dict[str, Any]:
    return task_out(_run(session, "task", {"task_id": task_id})[0])


def confirm_task(session: Session, actor: Actor, emergency_id: int, task_id: int,
                 req: Confirmation, request_hash: str) -> ConfirmResult:
    """Confirm a task (not committed). Raises TaskNotFound, TaskOutOfScope, ConfirmIdReused,
    EmergencyClosed, TaskAlreadyConfirmed."""
    found = _run(session, "task_for_update", {"task_id": task_id, "emergency_id": emergency_id,
                                              "confirm_id": req.id})
    if not found:
        raise TaskNotFound(f"emergency {emergency_id} has no task {task_id}",
                           {"emergency_id": emergency_id, "task_id": task_id})
    task = found[0]
    if not actor.covers(town_code=task["town_code"], grid_code=task["grid_code"]):
        raise TaskOutOfScope(
            f"task {task_id} is in grid {task['grid_code']}, outside the grids of account "
            f"{actor.name!r}: its grid's workers confirm it",
            {"task_id": task_id, "grid_code": task["grid_code"]})
    if task["confirm_id"] == req.id:
        if task["request_hash"] != request_hash:
            raise ConfirmIdReused(
                f"the confirmation id {req.id} was used before with a different confirmation; "
                "a new confirmation needs a new id", {"id": str(req.id)})
        return ConfirmResult(_stored(session, task_id), replayed=True)
    if task["confirm_id_task"] is not None:
        raise ConfirmIdReused(
            f"the confirmation id {req.id} was used before for task {task['confirm_id_task']}",
            {"id": str(req.id), "task_id": task["confirm_id_task"]})
    if task["closed_at"] is not None:
        raise EmergencyClosed(f"emergency {emergency_id} is closed: its tasks are no longer "
                              "confirmed", {"emergency_id": emergency_id})
    if task["status"] != "open":
        raise TaskAlreadyConfirmed(
            f"task {task_id} was confirmed before ({task['status']})",
            {"task_id": task_id, "status": task["status"]})
    try:
        stored = _run(session, "confirm_task", {
            "task_id": task_id, "status": req.status, "people": req.people,
            "relocated_to": req.relocated_to, "note": req.note, "confirm_id": req.id,
            "request_hash": request_hash, "confirmed_at": req.confirmed_at,
            "account_id": actor.account_id, "account_name": actor.name,
            "person_id": actor.person_id})
    except IntegrityError as exc:
        # the same id sent for another task at the same moment, which committed first (the
        # unique confirm_id): nothing of this one is written
        session.rollback()
        raise ConfirmIdReused(f"the confirmation id {req.id} was used at the same time for "
                              "another task", {"id": str(req.id)}) from exc
    return ConfirmResult(task_out(stored[0]), replayed=False)
