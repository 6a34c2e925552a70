"""Reading and writing what the workflow changes: the case's workflow columns (with the version
check), its events, the photos sent with a transition, its clocks. Statements in
``cases/workflow.sql``; every function takes a Session and never commits."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from cases.clocks import Clock

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def _queries() -> dict[str, TextClause]:
    source = resources.files("cases").joinpath("workflow.sql").read_text(encoding="utf-8")
    parts = _NAME.split(source)
    return {name: text(body.strip().rstrip(";")) for name, body in zip(parts[1::2], parts[2::2])}


def _execute(session: Session, name: str, params: dict | list[dict]):
    return session.connection().execute(_queries()[name], params)


def case_state(session: Session, case_id: int) -> dict[str, Any] | None:
    """The case's workflow columns, its version, town, grids, category and reporter."""
    row = _execute(session, "case_state", {"id": case_id}).mappings().first()
    return dict(row) if row is not None else None


def update_case(session: Session, case_id: int, version: int, values: dict[str, Any],
                at: datetime, due_at: datetime | None) -> int | None:
    """Write the case's new workflow columns if its version is still ``version``; the new
    version, or None when another change came first."""
    row = _execute(session, "update_case", {**values, "id": case_id, "version": version,
                                            "at": at, "due_at": due_at}).first()
    return row[0] if row is not None else None


def touch_original(session: Session, case_id: int, at: datetime) -> dict[str, Any] | None:
    """One more version on an open case (a merge's original); None when it is not open."""
    row = _execute(session, "touch_original", {"id": case_id, "at": at}).mappings().first()
    return dict(row) if row is not None else None


def insert_event(session: Session, event: dict[str, Any]) -> dict[str, Any] | None:
    """Append one event (the columns of case_events; ``data`` a dict; ``idempotency_key`` and
    ``taken_at`` optional). None when the account's Idempotency-Key is taken already."""
    params = {"idempotency_key": None, "taken_at": None, **event,
              "data": json.dumps(event.get("data") or {}, ensure_ascii=False, default=str)}
    row = _execute(session, "insert_event", params).mappings().first()
    return dict(row) if row is not None else None


def event_by_key(session: Session, account_id: int, key: str) -> dict[str, Any] | None:
    """The event ``account_id`` wrote with Idempotency-Key ``key``, if any."""
    row = _execute(session, "event_by_key", {"account_id": account_id, "key": key})
    found = row.mappings().first()
    return dict(found) if found is not None else None


def insert_photos(session: Session, case_id: int, photos: Sequence[Any]) -> list[int]:
    """Store photos (cases.intake.Photo) with the case; their ids."""
    return [_execute(session, "insert_photo", {
        "case_id": case_id, "filename": p.filename, "content_type": p.content_type,
        "size_bytes": len(p.data), "sha256": p.sha256, "data": p.data}).scalar_one()
        for p in photos]


def running_clocks(session: Session, case_id: int) -> list[Clock]:
    """The case's clocks that are not met (running or suspended)."""
    rows = _execute(session, "running_clocks", {"id": case_id}).mappings()
    return [Clock.of(dict(r)) for r in rows]


def meet_clocks(session: Session, case_id: int, clocks: Sequence[str], at: datetime) -> None:
    """End the named running clocks at ``at``."""
    if clocks:
        _execute(session, "meet_clocks", {"id": case_id, "clocks": list(clocks), "at": at})


def insert_clocks(session: Session, case_id: int, town_code: str, clocks: Sequence[Clock]) -> None:
    """Start clocks (their moments computed by cases.clocks)."""
    if clocks:
        _execute(session, "insert_clock", [
            {"case_id": case_id, "town_code": town_code, "clock": c.clock,
             "started_at": c.started_at, "due_at": c.due_at, "soon_at": c.soon_at,
             "yellow_at": c.yellow_at, "red_at": c.red_at,
             "unit": c.unit} for c in clocks])


def update_clocks(session: Session, clocks: Sequence[Clock]) -> None:
    """Write clocks' moved moments, suspension and extensions."""
    if clocks:
        _execute(session, "update_clock", [
            {"id": c.id, "due_at": c.due_at, "soon_at": c.soon_at, "yellow_at": c.yellow_at,
             "red_at": c.red_at, "suspended_at": c.suspended_at, "remaining_s": c.remaining_s,
             "extensions": c.extensions} for c in clocks])


def clocks_of(session: Session, case_id: int) -> list[dict[str, Any]]:
    """Every clock of the case, met ones included, oldest first."""
    return [dict(r) for r in _execute(session, "clocks_of", {"id": case_id}).mappings()]
