"""Reading what the Open311 interface answers: the towns (its jurisdictions) and cases as
service requests. SQL in open311/requests.sql; takes a Session, never commits (it only reads).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from db.statements import named_statements
from open311.georeport import RequestQuery

# The conditions a search may combine, each with bound values, joined with AND. The closed
# states are cases.models.CLOSED_STATES, written out as the partial indexes state them.
_FILTERS = {
    "town": "c.town_code = :town",
    "ids": "c.id = ANY(:ids)",
    "window": "c.created_at >= :since AND c.created_at <= :until",
    "codes": "c.category_code = ANY(:codes)",
    "open": "c.status NOT IN ('closed', 'evaluated', 'voided')",
    "closed": "c.status IN ('closed', 'evaluated', 'voided')",
}


@cache
def _statement(name: str, filters: tuple[str, ...] = ()) -> TextClause:
    where = " AND ".join(_FILTERS[f] for f in filters) or "true"
    return text(named_statements("open311", "requests.sql")[name].replace("{where}", where))


def towns(session: Session) -> list[dict[str, Any]]:
    """Every town (code, name), by code: the jurisdictions."""
    return [dict(r) for r in session.connection().execute(_statement("towns")).mappings()]


def requests(session: Session, town_code: str | None, query: RequestQuery) -> list[dict[str, Any]]:
    """The cases ``query`` asks for in ``town_code`` (every town when None), newest first,
    one page of them."""
    filters = ["town"] if town_code is not None else []
    if query.ids:
        filters.append("ids")
    else:
        filters.append("window")
        if query.codes:
            filters.append("codes")
        if query.closed is not None:
            filters.append("closed" if query.closed else "open")
    params = {
        "town": town_code, "ids": list(query.ids), "since": query.since, "until": query.until,
        "codes": list(query.codes), "limit": query.page_size,
        "offset": (query.page - 1) * query.page_size,
    }
    found = session.connection().execute(_statement("requests", tuple(filters)), params)
    return [dict(r) for r in found.mappings()]


def request(session: Session, town_code: str | None, case_id: int) -> dict[str, Any] | None:
    """One case as a service request; None when there is none of that id in the town."""
    found = requests(session, town_code, RequestQuery(ids=(case_id,), page_size=1))
    return found[0] if found else None
