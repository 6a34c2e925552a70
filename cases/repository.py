"""Reading and writing cases, their events and photos, and the people they go to.

Every function takes a Session, runs one or a few statements from ``cases/queries.sql`` and
never commits: the caller owns the transaction (intake commits the case, its first event and
its photos together). Core SQL rather than the ORM on the intake path: it runs a few hundred
times a second and the ORM's unit of work would cost more than the statements themselves.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from db.driver import array_literal, driver_connection, driver_sql

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def _queries() -> dict[str, TextClause]:
    """The named statements of queries.sql, parsed once per process."""
    source = resources.files("cases").joinpath("queries.sql").read_text(encoding="utf-8")
    parts = _NAME.split(source)
    out = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        out[name] = text(body.strip().rstrip(";"))
    return out


def _q(name: str) -> TextClause:
    return _queries()[name]


def _execute(session: Session, name: str, params: dict | list[dict]):
    # through the session's connection: the same transaction, without the ORM's per-statement
    # bookkeeping (these are plain statements, there are no mapped objects to track)
    return session.connection().execute(_q(name), params)


def _rows(session: Session, name: str, params: dict | None = None) -> list[dict[str, Any]]:
    return [dict(r) for r in _execute(session, name, params or {}).mappings()]


def _row(session: Session, name: str, params: dict) -> dict[str, Any] | None:
    found = _execute(session, name, params).mappings().first()
    return dict(found) if found is not None else None


# -- categories and assignment ------------------------------------------------------------


def categories(session: Session) -> list[dict[str, Any]]:
    """Every category, top levels first within each checklist, then their subcategories."""
    return _rows(session, "categories")


def open_case_counts(session: Session, person_ids: list[int]) -> dict[int, int]:
    """Open cases (not closed, evaluated or voided) held by each person; absent means none."""
    if not person_ids:
        return {}
    result = _execute(session, "open_case_counts", {"ids": list(person_ids)})
    return {pid: n for pid, n in result}


def admin_grid(session: Session, code: str) -> dict[str, Any] | None:
    """The current administrative grid ``code`` with its zone, town and grid leader."""
    return _row(session, "admin_grid", {"code": code})


def town_at(session: Session, lon: float, lat: float) -> dict[str, Any] | None:
    """The town covering (lon, lat) in WGS 84, else the nearest town; None with no town."""
    return _row(session, "town_at", {"lon": lon, "lat": lat})


# -- writing a case -----------------------------------------------------------------------


def insert_case(
    session: Session, values: dict[str, Any], event_data: dict, actor: str,
    clocks: Sequence[Any] = (),
) -> tuple[int, int | None] | None:
    """Insert a case, its first ``clocks`` (cases.clocks.Clock values) and its ``created``
    event, flagging it as a probable duplicate of the nearest open case of its category within
    50 m and 24 h (queries.sql says how).

    Returns (new id, probable_duplicate_of or None), or None when a case with the same
    idempotency key already exists (it may have been committed by a concurrent request)."""
    # orjson: db/driver.py says why; its output is json.dumps(ensure_ascii=False)'s
    event = orjson.dumps(event_data, option=orjson.OPT_NON_STR_KEYS).decode()
    params = {**values, "actor": actor, "event_data": event,
              # as text, cast in the statement (db/driver.py array_literal says why)
              "clock_names": array_literal([c.clock for c in clocks]),
              "clock_started": array_literal([c.started_at for c in clocks]),
              "clock_due": array_literal([c.due_at for c in clocks]),
              "clock_soon": array_literal([c.soon_at for c in clocks]),
              "clock_yellow": array_literal([c.yellow_at for c in clocks]),
              "clock_red": array_literal([c.red_at for c in clocks]),
              "clock_units": array_literal([c.unit for c in clocks])}
    # on the driver's connection: it runs on every POST (db/driver.py says why). One statement,
    # prepared by psycopg after a few executions; the function it calls runs on its generic
    # plan and puts plan_cache_mode back itself (migration 0070 says why)
    row = driver_connection(session).execute(driver_sql(_q("insert_case").text), params).fetchone()
    return (row[0], row[1]) if row is not None else None


def insert_photos(session: Session, case_id: int, photos: list[dict[str, Any]]) -> None:
    """Store the case's photos (filename, content_type, size_bytes, sha256, data)."""
    if photos:
        _execute(session, "insert_photo", [{**p, "case_id": case_id} for p in photos])


def case_by_idempotency_key(session: Session, key: str) -> dict[str, Any] | None:
    """The id and request hash of the case created with this key, if any."""
    return _row(session, "case_by_idempotency_key", {"key": key})


def insert_event(
    session: Session, case_id: int, town_code: str, at: datetime, type_: str,
    from_status: str | None, to_status: str | None, actor: str | None, data: dict,
    holder: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one event to a case's history (the log is append-only); ``holder`` (queue,
    assignee_id, department_code) when the event moves the case (cases/models.py CaseEvent)."""
    holder = holder or {}
    return _row(session, "insert_event", {
        "case_id": case_id, "town_code": town_code, "at": at, "type": type_,
        "from_status": from_status, "to_status": to_status, "actor": actor,
        "data": json.dumps(data, ensure_ascii=False), "queue": holder.get("queue"),
        "assignee_id": holder.get("assignee_id"), "department_code": holder.get("department_code"),
    })


def lock_case(session: Session, case_id: int) -> dict[str, Any] | None:
    """The case's id, town, status, holder and category, locked for update until the
    transaction ends."""
    return _row(session, "lock_case", {"id": case_id})


def set_assignee(
    session: Session, case_id: int, assignee_id: int, status: str, at: datetime, reason: str
) -> None:
    """Give the case to another person (the caller records the event)."""
    _execute(session, "set_assignee", {
        "id": case_id, "assignee_id": assignee_id, "status": status, "at": at, "reason": reason,
    })


# -- reading cases ------------------------------------------------------------------------


def case_detail(session: Session, case_id: int) -> dict[str, Any] | None:
    """One case's row with lon/lat, assignee and the data of its ``created`` event."""
    return _row(session, "case_detail", {"id": case_id})


def case_place(session: Session, case_id: int) -> dict[str, Any] | None:
    """A case's town, grid and administrative grid codes; None when there is no such case."""
    return _row(session, "case_place", {"id": case_id})


def case_events(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's history, oldest first."""
    return _rows(session, "case_events", {"id": case_id})


def case_photos(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's photos without their bytes."""
    return _rows(session, "case_photos", {"id": case_id})


def photo(session: Session, case_id: int, photo_id: int) -> dict[str, Any] | None:
    """One photo with its bytes, whether it is publishable, and its case's status, town_code,
    grid_code, admin_code and department_code."""
    return _row(session, "photo", {"case_id": case_id, "photo_id": photo_id})


def set_photo_publishable(
    session: Session, case_id: int, photo_id: int, publishable: bool
) -> dict[str, Any] | None:
    """Mark a photo fit (or not) for the public board; the photo without its bytes, or None."""
    return _row(session, "set_photo_publishable",
                {"case_id": case_id, "photo_id": photo_id, "publishable": publishable})


# The list's filters: each a condition with bound values, joined with AND.
_LIST_FILTERS = {
    "status": "c.status = :status",
    "grid": "(c.grid_code = :grid OR c.admin_code = :grid)",
    # lon and lat, exact (ix_cases_lonlat; cases has no GiST index of every point: 0065)
    "bbox": "c.lon BETWEEN :minlon AND :maxlon AND c.lat BETWEEN :minlat AND :maxlat",
    "cursor": "c.id < :cursor",
    # the reader's scope (accounts/access.py case_scope)
    "town": "c.town_code = ANY(:scope)",
    "villages": "left(coalesce(c.grid_code, c.admin_code), 12) = ANY(:scope)",
    "grids": "c.grid_code = ANY(:scope)",
    "department": "c.department_code = ANY(:scope)",
    "none": "false",
}


@cache
def _list_statement(filters: tuple[str, ...]) -> TextClause:
    where = " AND ".join(_LIST_FILTERS[f] for f in filters) or "true"
    return text(_q("list_cases").text.replace("{where}", where))


def list_cases(
    session: Session, *, status: str | None = None, grid: str | None = None,
    bbox_4326: tuple[float, float, float, float] | None = None, cursor: int | None = None,
    limit: int = 50, scope: tuple[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Cases newest first, filtered by status, grid (leaf or administrative code) and a
    lon/lat box, starting below ``cursor`` (an id), inside ``scope`` (kind, codes: see
    accounts.access.case_scope)."""
    params: dict[str, Any] = {"status": status, "grid": grid, "cursor": cursor, "limit": limit}
    filters = tuple(name for name in ("status", "grid", "cursor") if params[name] is not None)
    if scope is not None:
        filters += (scope[0],)
        params["scope"] = list(scope[1])
    if bbox_4326 is not None:
        filters += ("bbox",)
        params.update(zip(("minlon", "minlat", "maxlon", "maxlat"), bbox_4326))
    result = session.connection().execute(_list_statement(filters), params)
    return [dict(r) for r in result.mappings()]


# -- people -------------------------------------------------------------------------------


def person(session: Session, person_id: int) -> dict[str, Any] | None:
    """One person (id, name, role, title, phone, village_code, on_duty, town_code)."""
    return _row(session, "person", {"id": person_id})


def people_on_duty(session: Session, village_code: str) -> list[dict[str, Any]]:
    """A village's people on duty (id, name, role, title), grid workers first."""
    return _rows(session, "people_on_duty", {"village": village_code})


def set_on_duty(session: Session, person_id: int, on_duty: bool) -> dict[str, Any] | None:
    """Set a person's on-duty flag; the updated person, or None when there is no such person."""
    return _row(session, "set_on_duty", {"id": person_id, "on_duty": on_duty})
