"""Reading and writing visits and their targets: the named statements of field/visits.sql.

Every function takes a Session and never commits: the caller owns the transaction (a visit,
its photos and the case it opens commit together).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def _queries() -> dict[str, TextClause]:
    source = resources.files("field").joinpath("visits.sql").read_text(encoding="utf-8")
    parts = _NAME.split(source)
    return {name: text(body.strip().rstrip(";")) for name, body in zip(parts[1::2], parts[2::2])}


def _rows(session: Session, name: str, params: dict) -> list[dict[str, Any]]:
    return [dict(r) for r in session.connection().execute(_queries()[name], params).mappings()]


def _row(session: Session, name: str, params: dict) -> dict[str, Any] | None:
    found = _rows(session, name, params)
    return found[0] if found else None


def target(session: Session, type_: str, id_: int) -> dict[str, Any] | None:
    """The target (type, id, name, address, grid_code, town_code, lon, lat), None when none."""
    return _row(session, "target", {"type": type_, "id": id_})


def position_check(session: Session, town_code: str, lon: float, lat: float,
                   target_lon: float, target_lat: float) -> dict[str, Any] | None:
    """``inside`` (the town covers the WGS 84 point) and ``distance_m`` to the target."""
    return _row(session, "position_check", {"town_code": town_code, "lon": lon, "lat": lat,
                                            "target_lon": target_lon, "target_lat": target_lat})


def visit_by_id(session: Session, visit_id) -> dict[str, Any] | None:
    return _row(session, "visit_by_id", {"id": visit_id})


def insert_visit(session: Session, values: dict[str, Any]) -> bool:
    """Insert the visit; False when one with its id exists (or a concurrent one committed)."""
    return _row(session, "insert_visit", values) is not None


def set_visit_case(session: Session, visit_id, case_id: int) -> None:
    session.connection().execute(_queries()["set_visit_case"], {"id": visit_id, "case_id": case_id})


def insert_photos(session: Session, visit_id, town_code: str, photos: list[dict]) -> list[int]:
    """Store the photos (filename, content_type, size_bytes, sha256, data); their ids."""
    return [_row(session, "insert_visit_photo",
                 {**p, "visit_id": visit_id, "town_code": town_code})["id"] for p in photos]


def visits(session: Session, scope: tuple[str, tuple[str, ...]], *, ids: list | None = None,
           grid: str | None = None, target: tuple[str, int] | None = None, since=None,
           until=None, limit: int = 100) -> list[dict[str, Any]]:
    """Visits in ``scope`` (accounts.access.case_scope), newest first."""
    kind, codes = scope
    return _rows(session, "visits", {
        "scope_kind": kind, "scope_codes": list(codes), "ids": ids, "grid": grid,
        "target_type": target[0] if target else None, "target_id": target[1] if target else None,
        "since": since, "until": until, "limit": limit})


def due(session: Session, scope: tuple[str, tuple[str, ...]], rules: list[dict],
        lon: float | None, lat: float | None) -> list[dict[str, Any]]:
    """The scope's targets not visited in their current period (``rules``: type, every,
    starts_at, prev_starts_at, due_by), with distance and bearing from (lon, lat)."""
    kind, codes = scope
    return _rows(session, "due", {
        "scope_kind": kind, "scope_codes": list(codes), "lon": lon, "lat": lat,
        "rule_type": [r["type"] for r in rules], "rule_every": [r["every"] for r in rules],
        "rule_start": [r["starts_at"] for r in rules],
        "rule_prev": [r["prev_starts_at"] for r in rules],
        "rule_due": [r["due_by"] for r in rules]})


def obligations(session: Session, scope: tuple[str, tuple[str, ...]], rules: list[dict],
                periods: list[dict], today) -> list[dict[str, Any]]:
    """Per leaf grid of ``scope``: the (target, period) obligations of ``periods`` counted
    (targets, on_time, overdue), and the overdue ones' keys, rules and last days."""
    kind, codes = scope
    return _rows(session, "obligations", {
        "scope_kind": kind, "scope_codes": list(codes), "today": today,
        "rule_type": [r["type"] for r in rules], "rule_every": [r["every"] for r in rules],
        "period_every": [p["every"] for p in periods],
        "period_start": [p["starts_at"] for p in periods],
        "period_end": [p["ends_at"] for p in periods],
        "period_due": [p["due_by"] for p in periods]})


def grid_names(session: Session, codes: list[str]) -> dict[str, str]:
    return {r["code"]: r["name"] for r in _rows(session, "grid_names", {"codes": codes})}


def grid_workers(session: Session, codes: list[str]) -> list[dict[str, Any]]:
    return _rows(session, "grid_workers", {"codes": codes})
