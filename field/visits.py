"""Patrol visits: the account's due list, a check-in, and the visits of a scope.

A check-in (``record_visit``) is idempotent on the phone's own UUID: the phone queues a
check-in made offline and may send it more than once. The first request stores it; a replay
with the same body (hashed with the account, as intake hashes a case's request) answers the
stored visit; the same id with another body is VisitIdReused. Two concurrent requests with
one id are serialised by the primary key (INSERT … ON CONFLICT DO NOTHING): the loser writes
nothing and replays the winner's visit.

The visit, its photos and the case a problem opens are one transaction (the caller commits):
a refused request writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from accounts.access import case_scope
from accounts.actor import Actor
from cases import intake
from cases.deadlines import LOCAL_TZ
from field import repository
from field.errors import (
    PositionOutsideTown, PositionRequired, TargetNotFound, TargetOutOfScope, VisitIdReused,
)
from field.rules import period, previous, rules
from geo.crs import to_wgs84

DEFAULT_MAX_DISTANCE_M = 100.0  # GRIDGOV_VISIT_MAX_DISTANCE_M: farther check-ins are flagged


@dataclass(frozen=True)
class VisitRequest:
    """A validated check-in; ``position`` is [lon, lat] in ``crs``, None when the phone had
    none. ``case`` (category_code, description) when the outcome is a problem."""

    id: uuid.UUID
    target_type: str
    target_id: int
    visited_at: datetime
    position: tuple[float, float] | None
    crs: str = "wgs84"
    accuracy_m: float | None = None
    note: str | None = None
    outcome: str = "ok"
    case: tuple[str, str] | None = None


@dataclass
class VisitResult:
    visit: dict[str, Any]
    replayed: bool


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat() if moment is not None else None


def key(type_: str, id_: int) -> str:
    """A target's key, e.g. ``household:123``."""
    return f"{type_}:{id_}"


def _target_out(type_: str, id_: int, name: str | None, address: str | None,
                grid_code: str | None) -> dict[str, Any]:
    rule = rules().get(type_)
    return {"key": key(type_, id_), "type": type_, "id": id_,
            "type_zh": rule.name_zh if rule else None, "name": name, "address": address,
            "grid_code": grid_code}


def visit_out(row: dict[str, Any]) -> dict[str, Any]:
    """A stored visit as the API answers it."""
    return {
        "id": str(row["id"]),
        "target": _target_out(row["target_type"], row["target_id"], row["target_name"],
                              row["target_address"], row["grid_code"]),
        "visited_at": _iso(row["visited_at"]), "received_at": _iso(row["received_at"]),
        "lon": row["lon"], "lat": row["lat"], "accuracy_m": row["accuracy_m"],
        "distance_m": round(row["distance_m"], 2), "far": row["far"], "outcome": row["outcome"],
        "note": row["note"], "case_id": row["case_id"], "photo_ids": list(row["photo_ids"] or []),
    }


def _stored(session: Session, visit_id: uuid.UUID) -> dict[str, Any]:
    # read back by id, unscoped: the caller has checked the scope (or the request's hash)
    rows = repository.visits(session, ("all", ()), ids=[visit_id], limit=1)
    if not rows:
        raise AssertionError(f"visit {visit_id} vanished")
    return visit_out(rows[0])


def _replay(session: Session, req: VisitRequest, request_hash: str) -> VisitResult | None:
    found = repository.visit_by_id(session, req.id)
    if found is None:
        return None
    if found["request_hash"] != request_hash:
        raise VisitIdReused(
            f"the visit id {req.id} was used before with a different check-in; a new "
            "check-in needs a new id", {"id": str(req.id)})
    return VisitResult(_stored(session, req.id), replayed=True)


def record_visit(session: Session, actor: Actor, req: VisitRequest, request_hash: str,
                 photos: list[intake.Photo] | None = None,
                 max_distance_m: float = DEFAULT_MAX_DISTANCE_M) -> VisitResult:
    """Check in at a target (not committed). Raises PositionRequired, TargetNotFound,
    TargetOutOfScope, PositionOutsideTown, VisitIdReused; a problem's case may raise the
    cases package's UnknownCategory."""
    photos = photos or []
    if req.position is None:
        raise PositionRequired("a check-in needs the phone's position: send `position` "
                               "[lon, lat]", [{"field": "position", "message": "required"}])
    replay = _replay(session, req, request_hash)
    if replay is not None:
        return replay
    target = repository.target(session, req.target_type, req.target_id)
    if target is None:
        raise TargetNotFound(f"there is no {req.target_type} {req.target_id} to visit",
                             {"target": key(req.target_type, req.target_id)})
    if not actor.covers(town_code=target["town_code"], grid_code=target["grid_code"]):
        raise TargetOutOfScope(
            f"{key(req.target_type, req.target_id)} is in grid {target['grid_code']}, outside "
            f"the grids of account {actor.name!r}",
            {"target": key(req.target_type, req.target_id), "grid_code": target["grid_code"]})
    lon, lat = to_wgs84(req.position[0], req.position[1], req.crs)
    check = repository.position_check(session, target["town_code"], lon, lat,
                                      target["lon"], target["lat"])
    if check is None or not check["inside"]:
        distance = round(check["distance_m"]) if check else None
        raise PositionOutsideTown(
            f"the position [{req.position[0]}, {req.position[1]}] ({req.crs}) is outside the "
            f"town, {distance} m from the target: check the phone's location",
            {"field": "position", "distance_m": distance})
    distance_m = float(check["distance_m"])
    values = {
        "id": req.id, "town_code": target["town_code"], "target_type": req.target_type,
        "target_id": req.target_id, "grid_code": target["grid_code"],
        "account_id": actor.account_id, "person_id": actor.person_id,
        "visited_at": req.visited_at, "lon": lon, "lat": lat, "input_crs": req.crs,
        "accuracy_m": req.accuracy_m, "distance_m": distance_m,
        "far": distance_m > max_distance_m, "note": req.note, "outcome": req.outcome,
        "request_hash": request_hash,
    }
    if not repository.insert_visit(session, values):
        # a concurrent request with this id committed first (nothing is written yet): end
        # this transaction and answer the stored visit, or VisitIdReused
        session.rollback()
        replay = _replay(session, req, request_hash)
        if replay is None:
            raise AssertionError(f"visit id {req.id} conflicted but no visit has it")
        return replay
    repository.insert_photos(session, req.id, target["town_code"], [
        {"filename": p.filename, "content_type": p.content_type, "size_bytes": len(p.data),
         "sha256": p.sha256, "data": p.data} for p in photos])
    if req.outcome == "problem" and req.case is not None:
        category, description = req.case
        # routed as any case, at the target's point, on the patrol channel
        opened = intake.create_case(session, intake.CaseRequest(
            category=category, description=description, channel="patrol",
            lon=target["lon"], lat=target["lat"], crs="wgs84",
            address=None, occurred_at=req.visited_at))
        repository.set_visit_case(session, req.id, opened.case["id"])
    return VisitResult(_stored(session, req.id), replayed=False)


def due_targets(session: Session, actor: Actor, lon: float | None = None,
                lat: float | None = None, today: date | None = None) -> list[dict[str, Any]]:
    """The account's targets not visited in their current period, with ``overdue`` when the
    previous period passed without a visit too; nearest first (overdue first among equals),
    or without a position overdue first, then by due day."""
    today = today or datetime.now(LOCAL_TZ).date()
    todo = []
    for rule in rules().values():
        now = period(rule.every, today)
        todo.append({"type": rule.type, "every": rule.every, "starts_at": now.starts_at,
                     "prev_starts_at": previous(now).starts_at, "due_by": now.due_by})
    rows = repository.due(session, case_scope(actor), todo, lon, lat)
    out = []
    for r in rows:
        bearing = r["bearing_deg"]
        out.append({
            **_target_out(r["type"], r["id"], r["name"], r["address"], r["grid_code"]),
            "lon": r["lon"], "lat": r["lat"], "every": r["every"],
            "period_start": r["starts_at"].astimezone(LOCAL_TZ).date().isoformat(),
            "due_by": r["due_by"].isoformat(), "last_visit_at": _iso(r["last_visit_at"]),
            "overdue": not r["visited_previous"],
            "distance_m": round(r["distance_m"], 1) if r["distance_m"] is not None else None,
            "bearing_deg": round(bearing, 1) if bearing is not None else None,
        })
    if lon is not None and lat is not None:
        out.sort(key=lambda t: (t["distance_m"], not t["overdue"], t["due_by"], t["key"]))
    else:
        out.sort(key=lambda t: (not t["overdue"], t["due_by"], t["grid_code"], t["key"]))
    return out


def list_visits(session: Session, actor: Actor, *, grid: str | None = None,
                target: tuple[str, int] | None = None, since: datetime | None = None,
                until: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The visits in the account's scope, newest first."""
    rows = repository.visits(session, case_scope(actor), grid=grid, target=target, since=since,
                             until=until, limit=limit)
    return [visit_out(r) for r in rows]
