"""The feeds package's statements (feeds/feeds.sql). Takes a session, never commits."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.statements import Statements

_SQL = Statements("feeds", "feeds.sql")


def feed_by_name(session: Session, name: str) -> dict[str, Any] | None:
    row = _SQL.rows(session, "feed_by_name", {"name": name}).first()
    return dict(row) if row is not None else None


def insert_feed(session: Session, name: str, secret: str, mapping: dict[str, Any]) -> int | None:
    """The new feed's id; None when a feed of this name exists."""
    return _SQL.run(session, "insert_feed", {
        "name": name, "secret": secret, "mapping": json.dumps(mapping, ensure_ascii=False)}).scalar()


def replace_feed(session: Session, name: str, secret: str, mapping: dict[str, Any]) -> int | None:
    return _SQL.run(session, "replace_feed", {
        "name": name, "secret": secret, "mapping": json.dumps(mapping, ensure_ascii=False)}).scalar()


def list_feeds(session: Session) -> list[dict[str, Any]]:
    return [dict(r) for r in _SQL.rows(session, "list_feeds")]


def claim_event(session: Session, values: dict[str, Any]) -> int | None:
    """The new feed_events row's id; None when the feed sent this event id before."""
    return _SQL.run(session, "claim_event", values).scalar()


def settle_event(session: Session, event_id: int, status: str, case_id: int | None,
                 town_code: str | None) -> None:
    _SQL.run(session, "settle_event", {"id": event_id, "status": status, "case_id": case_id,
                                           "town_code": town_code})


def event_by_external_id(session: Session, feed_id: int, external_id: str) -> dict[str, Any] | None:
    row = _SQL.rows(session, "event_by_external_id",
                    {"feed_id": feed_id, "external_id": external_id}).first()
    return dict(row) if row is not None else None


def serialise_sensor(session: Session, key: str) -> None:
    _SQL.run(session, "serialise_sensor", {"key": key})


def open_duplicate(session: Session, lon: float, lat: float, category_code: str,
                   at: datetime) -> int | None:
    return _SQL.run(session, "open_duplicate", {
        "lon": lon, "lat": lat, "category_code": category_code, "at": at}).scalar()


def add_supporter(session: Session, case_id: int) -> bool:
    return _SQL.run(session, "add_supporter", {"id": case_id}).scalar() is not None


def insert_reject(session: Session, values: dict[str, Any]) -> None:
    _SQL.run(session, "insert_reject", values)


# -- the batch path (feeds/batch.py): each of these one statement for a whole batch ---------


def feeds_by_name(session: Session, names: list[str]) -> dict[str, dict[str, Any]]:
    return {r["name"]: dict(r) for r in _SQL.rows(session, "feeds_by_name", {"names": names})}


def claim_events(session: Session, via: str, received_at: datetime,
                 rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """The feed_events ids of the ``rows`` claimed, by (feed_id, external_id); a row missing
    was claimed before. Every row is inserted as ``normal`` with its town (settle_events
    gives an alarm its status and case)."""
    columns = ("feed_id", "external_id", "occurred_at", "sensor_type", "sensor_id", "value",
               "lon", "lat", "request_hash", "town_code")
    params: dict[str, Any] = {c: [r[c] for r in rows] for c in columns}
    params |= {"via": via, "received_at": received_at}
    return {(r["feed_id"], r["external_id"]): r["id"]
            for r in _SQL.rows(session, "claim_events", params)}


def events_by_external_id(session: Session,
                          keys: list[tuple[int, str]]) -> dict[tuple[int, str], dict[str, Any]]:
    rows = _SQL.rows(session, "events_by_external_id", {
        "feed_id": [k[0] for k in keys], "external_id": [k[1] for k in keys]})
    return {(r["feed_id"], r["external_id"]): dict(r) for r in rows}


def serialise_sensors(session: Session, keys: list[str]) -> None:
    _SQL.run(session, "serialise_sensors", {"keys": sorted(set(keys))})


def open_duplicates(session: Session, points: list[tuple[float, float, str]],
                    at: datetime) -> list[int | None]:
    """open_duplicate of each WGS 84 ``(lon, lat, category_code)``, in order."""
    rows = _SQL.rows(session, "open_duplicates", {
        "lon": [p[0] for p in points], "lat": [p[1] for p in points],
        "category_code": [p[2] for p in points], "at": at})
    return [r["id"] for r in rows]


def add_supporters(session: Session, counts: dict[int, int]) -> set[int]:
    """Add ``counts[case_id]`` supporters to each case still open; the ids of those."""
    if not counts:
        return set()
    return set(_SQL.run(session, "add_supporters", {
        "ids": list(counts), "ns": list(counts.values())}).scalars())


def settle_events(session: Session, settled: list[tuple[int, str, int | None]]) -> None:
    """Give each feed_events row (id, status, case_id) its outcome."""
    if settled:
        _SQL.run(session, "settle_events", {"ids": [s[0] for s in settled],
                                            "statuses": [s[1] for s in settled],
                                            "case_ids": [s[2] for s in settled]})


def insert_rejects(session: Session, received_at: datetime, rows: list[dict[str, Any]]) -> None:
    if rows:
        _SQL.run(session, "insert_rejects", {
            "received_at": received_at,
            **{c: [r[c] for r in rows] for c in ("feed_name", "topic", "error", "message", "payload")}})
