"""The public board (公示栏): one town's closed cases of the last WINDOW_DAYS days, a page at
a time, each redacted by cases/publication.py (which says what the board shows and what it
hides). A resident reads their own town's board: in a province every query here is one town's.

Reads only; SQL in cases/board.sql.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from cases.categories import categories
from cases.deadlines import LOCAL_TZ
from cases.errors import BoardWindowError, UnknownCategory
from cases.publication import public_case

WINDOW_DAYS = 90
PER_PAGE = 20
_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
# The filters: each a condition with bound values, joined with AND (the town is in board.sql).
_FILTERS = {
    "village": "c.admin_code = :village",
    "category": "(c.category_code = :category OR cat.parent_code = :category)",
}


@cache
def _queries() -> dict[str, str]:
    source = resources.files("cases").joinpath("board.sql").read_text(encoding="utf-8")
    parts = _NAME.split(source)
    return {name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2])}


@cache
def _statement(name: str, filters: tuple[str, ...]) -> TextClause:
    where = " AND ".join(_FILTERS[f] for f in filters) or "true"
    return text(_queries()[name].replace("{where}", where))


@dataclass(frozen=True)
class BoardQuery:
    """What a reader asks the board: the town (its 9-digit code), a window of closing dates
    (local days, both included), a village (its 12-digit code or its administrative grid's
    15), a category (a code, with its subcategories), a page from 1."""

    town: str
    since: date | None = None
    until: date | None = None
    village: str | None = None
    category: str | None = None
    page: int = 1


def today() -> date:
    """The town's day now (Asia/Shanghai)."""
    return datetime.now(LOCAL_TZ).date()


def window(since: date | None, until: date | None, on: date | None = None) -> tuple[date, date]:
    """The days asked for, inside the last WINDOW_DAYS days up to ``on`` (default today).

    Raises BoardWindowError for a window reaching before that, after today, or ending before
    it starts, naming the days allowed."""
    on = on or today()
    first = on - timedelta(days=WINDOW_DAYS)
    since = since or first
    until = until or on
    allowed = {"earliest": first.isoformat(), "latest": on.isoformat()}
    if since < first:
        raise BoardWindowError(
            f"`from` was {since.isoformat()} but the public board covers the last {WINDOW_DAYS} "
            f"days: from {first.isoformat()} on", allowed)
    if until > on:
        raise BoardWindowError(
            f"`until` was {until.isoformat()}, after today ({on.isoformat()})", allowed)
    if until < since:
        raise BoardWindowError(
            f"`until` ({until.isoformat()}) is before `from` ({since.isoformat()})", allowed)
    return since, until


def board(session: Session, query: BoardQuery, on: date | None = None) -> dict[str, Any]:
    """A page of ``query.town``'s board: ``items`` (public records), ``total``, ``page``,
    ``pages``, ``per_page``, ``from``, ``until``.

    Raises BoardWindowError, UnknownCategory."""
    since, until = window(query.since, query.until, on)
    if query.category is not None and query.category not in categories(session):
        raise UnknownCategory(
            f"the category {query.category!r} does not exist: see GET /api/v1/categories",
            {"valid": sorted(categories(session))})
    params: dict[str, Any] = {
        "town": query.town,
        "since": datetime.combine(since, time(), LOCAL_TZ),
        "until": datetime.combine(until + timedelta(days=1), time(), LOCAL_TZ),
        "village": _admin_code(query.village), "category": query.category,
        "limit": PER_PAGE, "offset": (query.page - 1) * PER_PAGE,
    }
    filters = tuple(f for f in ("village", "category") if params[f] is not None)
    connection = session.connection()
    total = connection.execute(_statement("count", filters), params).scalar_one()
    rows = [dict(r) for r in connection.execute(_statement("page", filters), params).mappings()]
    photos: dict[int, list[int]] = {}
    if rows:
        found = connection.execute(_statement("publishable_photos", ()),
                                   {"ids": [r["id"] for r in rows]})
        for photo_id, case_id in found:
            photos.setdefault(case_id, []).append(photo_id)
    return {
        "items": [public_case(r, photos.get(r["id"])) for r in rows],
        "total": total, "page": query.page, "pages": max(1, -(-total // PER_PAGE)),
        "per_page": PER_PAGE, "from": since.isoformat(), "until": until.isoformat(),
    }


def _admin_code(village: str | None) -> str | None:
    """A village's 12-digit statistical code as its administrative grid's code (+ "000")."""
    if village is None:
        return None
    return village + "000" if len(village) == 12 else village


def public_photo(session: Session, photo_id: int) -> dict[str, Any] | None:
    """A photo the board may serve (publishable, of a closed case): content_type and data."""
    found = session.connection().execute(_statement("public_photo", ()), {"id": photo_id})
    row = found.mappings().first()
    return dict(row) if row is not None else None


def villages(session: Session, town_code: str) -> list[dict[str, str]]:
    """The town's villages to filter by: code (the administrative grid's) and name."""
    found = session.connection().execute(_statement("villages", ()), {"town": town_code})
    return [dict(r) for r in found.mappings()]
