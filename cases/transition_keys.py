"""A transition sent from a phone that may have been offline: its ``Idempotency-Key`` and the
time the worker took it (``taken_at``).

The phone queues what the worker does while it has no signal and sends each queued action
when the network returns, in order, each with the queued item's UUID as the key. A request
may reach the server and its answer get lost, so the phone sends it again: the key, kept on
the event the action wrote (``case_events.idempotency_key``, unique per account), turns the
second send into **409 already_applied** with the first event, which the phone takes as
delivered. The same key for another action or case is a client's bug: 409
``idempotency_key_reused``. Two sends racing each other apply once: the second waits on the
case's row lock and finds the version moved (cases/transitions.py), or on the key's claim
(``case_event_keys``, migration 0060), and then finds the first's event.

A replay is recognised before anything else is checked (the version it names is stale by
then, the case may have moved on): it writes nothing and answers what was done.

``taken_at`` is kept on the event beside ``at`` (when the server applied it); it may lie in the
past, as far back as a phone keeps its queue (``MAX_AGE``), and ahead of the server's clock by
no more than a phone's clock may be wrong (``MAX_SKEW``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from accounts import privacy
from accounts.actor import Actor
from cases import workflow_repository as store
from cases.deadlines import LOCAL_TZ
from cases.errors import AlreadyApplied, TakenAtInFuture, TakenAtTooOld, TransitionKeyReused

MAX_KEY = 100
MAX_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=7)


def checked_taken_at(taken_at: datetime | None, at: datetime) -> datetime | None:
    """``taken_at`` (a naive time is the town's local time) when it lies within
    ``at - MAX_AGE`` … ``at + MAX_SKEW``; TakenAtInFuture or TakenAtTooOld otherwise."""
    if taken_at is None:
        return None
    if taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=LOCAL_TZ)
    taken_at = taken_at.astimezone(LOCAL_TZ)
    if taken_at > at + MAX_SKEW:
        raise TakenAtInFuture(
            f"taken_at {taken_at.isoformat()} is {_span(taken_at - at)} ahead of the server's "
            f"clock ({at.isoformat()}): at most {_span(MAX_SKEW)} is allowed; check the phone's "
            "clock", {"field": "taken_at", "taken_at": taken_at.isoformat(),
                      "server_time": at.isoformat(), "max_skew_s": MAX_SKEW.total_seconds()})
    if taken_at < at - MAX_AGE:
        raise TakenAtTooOld(
            f"taken_at {taken_at.isoformat()} is more than {MAX_AGE.days} days ago: an action "
            "queued that long is not applied; take it again now",
            {"field": "taken_at", "taken_at": taken_at.isoformat(),
             "server_time": at.isoformat(), "max_age_days": MAX_AGE.days})
    return taken_at


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60} min {seconds % 60} s"


def event_view(event: dict[str, Any]) -> dict[str, Any]:
    """An event as a transition's answer shows it."""
    return {"id": event["id"], "type": event["type"], "from_status": event["from_status"],
            "to_status": event["to_status"], "at": _iso(event["at"]), "note": event["note"],
            "photo_ids": list(event["photo_ids"] or []),
            "data": privacy.event_data(event["data"]),
            "taken_at": _iso(event["taken_at"])}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat() if moment is not None else None


def refuse_replay(session: Session, actor: Actor, key: str | None, case_id: int,
                  action: str) -> None:
    """Nothing when ``actor`` never used ``key``; AlreadyApplied when it did for this action
    on this case, TransitionKeyReused when for another."""
    if key is None or actor.account_id is None:
        return
    first = store.event_by_key(session, actor.account_id, key)
    if first is None:
        return
    if first["case_id"] != case_id or first["type"] != action:
        raise TransitionKeyReused(
            f"the Idempotency-Key {key!r} was used for {first['type']} on case "
            f"{first['case_id']}; use a new key for a new action",
            {"case_id": first["case_id"], "action": first["type"], "event_id": first["id"]})
    case = store.case_state(session, case_id) or {}
    raise AlreadyApplied(
        f"{action} on case {case_id} with this Idempotency-Key was applied at "
        f"{_iso(first['at'])} (event {first['id']}): nothing more was done",
        {"event": event_view(first), "status": case.get("status"),
         "version": case.get("version")})
