"""A case as the signed-in reader may see it, and the audited read of its reporter's contact.

accounts/privacy.py holds the rule (what is masked for whom), accounts/audit.py the log; this
joins them to the request: the reader, the reason they gave, and where the request came from
(``remote_addr``: behind a reverse proxy, the client's address only once ProxyFix is set up,
as web/throttle.py says). Used by ``GET /api/v1/cases/{id}`` and the case page, so both reveal
and log alike.
"""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy.orm import Session

from accounts import access, audit, privacy
from accounts.actor import Actor
from cases import intake


def _revealed_fields(case: dict[str, Any]) -> list[str]:
    """What a full answer shows that a masked one hides (for the log's ``fields``)."""
    fields = [k for k in ("name", "phone") if (case.get("reporter") or {}).get(k)]
    if any((e.get("data") or {}).get("supporter") for e in case.get("events") or ()):
        fields.append("supporters")
    if case.get("description") and privacy.masked_text(case["description"]) != case["description"]:
        fields.append("description")
    return fields or ["contact"]


def case_for_reader(session: Session, actor: Actor, case_id: int,
                    reason: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The case as ``actor`` may read it (CaseNotFound, OutOfScope as access.check_case), and
    the audit row when a reason was given: then the reporter's contact in full, the read
    written to the audit log and committed before this returns. Without a reason the contact
    is masked and nothing is written. ``reason`` is as the reader sent it
    (InvalidAccessReason for a blank or overlong one)."""
    reason = privacy.access_reason(reason)  # a bad reason is refused before anything is read
    place = access.check_case(session, actor, case_id)
    view = intake.case_view(session, case_id)
    logged = None
    if reason is not None:
        logged = audit.record_read(
            session, actor, subject_type="case_reporter", subject_id=case_id,
            town_code=place.get("town_code"), fields=_revealed_fields(view), reason=reason,
            remote_addr=request.remote_addr, route=f"{request.method} {request.path}")
        session.commit()
    return privacy.case_answer(view, reader_in_scope=True, full=logged is not None), logged
