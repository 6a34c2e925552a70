"""The in-app notification list: what the supervision pass told whom (cases.models.Notification).

A notification goes to a person (the case's assignee) or to a scope (the village center of a
village, the town center of a town, a department). An account reads the notifications to its
person and those to a scope its scope covers (accounts.actor.Actor):

- ``town``: every scope of its town (the town center, its villages' centers, its departments);
- ``zone``: the village centers of its villages;
- ``village``: its village center; ``department``: its department;
- ``grids`` (grid workers, auxiliaries): none; their own person's only.

SQL in cases/notifications.sql; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from accounts.actor import Actor
from db.statements import named_statements


def _statements() -> dict[str, str]:
    return named_statements("cases", "notifications.sql")


def _reach(actor: Actor) -> dict[str, Any]:
    """The bound values saying what ``actor`` reads."""
    return {"person_id": actor.person_id, "kind": actor.scope_kind or "",
            "code": actor.scope_code or "", "villages": sorted(actor.village_codes)}


def notifications_for(
    session: Session, actor: Actor, *, unread_only: bool = False, before_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The notifications ``actor`` may read, newest first: those to its person, or to a scope
    its scope covers; ``before_id`` pages (keyset on id)."""
    if limit < 1:
        raise ValueError(f"`limit` was {limit} but must be at least 1")
    result = session.execute(text(_statements()["for_actor"]), {
        **_reach(actor), "unread_only": unread_only, "before_id": before_id, "limit": limit,
    })
    return [dict(r) for r in result.mappings()]


def unread_count(session: Session, actor: Actor) -> int:
    """How many of the notifications ``actor`` may read are unread."""
    return session.execute(text(_statements()["unread_count"]), _reach(actor)).scalar_one()


def mark_read(session: Session, actor: Actor, ids: list[int], at: datetime) -> list[int]:
    """Mark the notifications ``ids`` that ``actor`` may read as read at ``at``; the ids
    marked (one already read, or out of reach, is left alone)."""
    result = session.execute(text(_statements()["mark_read"]),
                             {**_reach(actor), "ids": list(ids), "at": at})
    return sorted(r[0] for r in result)
