"""The audit log of personal data (``audit_log``, migration 0040): who read whose full record,
when, from where and why.

accounts/privacy.py says which reads are of a full record (a case reporter's contact, …). The
view that answers one writes its row with :func:`record_read` and commits it *before* the
answer leaves: a record served without its row would be a read nobody can account for, so a
failed write means no record. The table refuses UPDATE, DELETE and TRUNCATE in the database.

Reads only for administrators (``GET /api/v1/audit``, web/api/audit.py), in their town.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from accounts.actor import Actor
from db.statements import Statements

# whose record: a case's reporter (subject_id: the case), a person of ``people``, a household
SUBJECT_TYPES = ("case_reporter", "person", "household")
_SQL = Statements("accounts", "audit.sql")


def record_read(session: Session, actor: Actor, *, subject_type: str, subject_id: int,
                town_code: str | None, fields: list[str], reason: str,
                remote_addr: str | None, route: str | None) -> dict[str, Any]:
    """Write one read of ``subject_type`` ``subject_id``'s full record by ``actor`` (in the
    caller's transaction: commit it before answering). ``fields``: what was shown in full
    (``name``, ``phone``, …); ``reason`` as accounts.privacy.access_reason returned it.
    Returns the row's id and time."""
    if subject_type not in SUBJECT_TYPES:
        raise ValueError(f"subject_type {subject_type!r} is not one of {SUBJECT_TYPES}")
    row = _SQL.rows(session, "record", {
        "account_id": actor.account_id, "account_name": actor.name, "role": actor.role,
        "subject_type": subject_type, "subject_id": subject_id, "town_code": town_code,
        "fields": list(fields), "remote_addr": (remote_addr or "")[:64] or None,
        "route": (route or "")[:200] or None, "reason": reason,
    }).one()
    return dict(row)


def entries(session: Session, *, town_code: str | None = None, account_id: int | None = None,
            account_name: str | None = None, subject_type: str | None = None,
            subject_id: int | None = None, since: datetime | None = None,
            until: datetime | None = None, cursor: int | None = None,
            limit: int = 50) -> list[dict[str, Any]]:
    """The log's rows matching every filter given (None: no filter), newest first, those
    written before row ``cursor`` when one is given; at most ``limit``. ``since`` is
    inclusive, ``until`` exclusive."""
    rows = _SQL.rows(session, "entries", {
        "town_code": town_code, "account_id": account_id, "account_name": account_name,
        "subject_type": subject_type, "subject_id": subject_id, "since": since,
        "until": until, "cursor": cursor, "limit": limit,
    })
    return [dict(r) for r in rows]
