"""Rating links (一事一评): the resident's single-use link to rate a closed case.

When a case closes and its reporter left a phone (the reporter is reachable), the close
(cases/transitions.py) makes a link ``/rate/<token>``: the token is 256 random bits
(``secrets``), handed out once and kept only as its SHA-256 (a fast hash is right for a
secret that random, as for API tokens: accounts/service.py); it is valid ``LIFETIME`` (30
days) and rates the case once (cases/rating.py). Nothing here logs a token.

There is no SMS gateway: the operator sends the link by hand. The raw token exists only in
the response that made it — the close's result, or the case page's "new link" form, which
makes another link (the earlier ones stay valid until used or expired; a case is rated once
whatever link is used).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from accounts.service import digest  # kept as API tokens are: their SHA-256

LIFETIME = timedelta(days=30)
PATH = "/rate/"  # the page's path; the link is PATH + token
_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def queries() -> dict[str, TextClause]:
    """The statements of cases/rating.sql by name."""
    source = resources.files("cases").joinpath("rating.sql").read_text(encoding="utf-8")
    parts = _NAME.split(source)
    return {name: text(body.strip().rstrip(";")) for name, body in zip(parts[1::2], parts[2::2])}


def reachable(reporter_phone: str | None) -> bool:
    """Whether a case's reporter can be sent a link: a phone was given."""
    return bool(reporter_phone and reporter_phone.strip())


def issue_link(session: Session, case_id: int, town_code: str, at: datetime,
               account_id: int | None = None, lifetime: timedelta = LIFETIME) -> dict[str, Any]:
    """Make a rating link for the case, valid ``lifetime`` from ``at``: the token (given out
    here once), the path to send and when it expires. The caller checks the case may be rated
    and commits."""
    token = secrets.token_urlsafe(32)
    row = session.execute(queries()["insert_link"], {
        "case_id": case_id, "town_code": town_code, "token_sha256": digest(token),
        "created_at": at, "expires_at": at + lifetime, "account_id": account_id,
    }).mappings().one()
    return {"id": row["id"], "token": token, "path": PATH + token,
            "expires_at": row["expires_at"].isoformat()}


def links_of_case(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's latest links (newest first): when made, until when, used when and how."""
    return [dict(r) for r in session.execute(queries()["links_of_case"], {"case_id": case_id})
            .mappings()]


def case_for_link(session: Session, case_id: int) -> dict[str, Any]:
    """What making a link needs to know of the case: status, town, the reporter's phone."""
    return dict(session.execute(queries()["case_for_link"], {"case_id": case_id}).mappings().one())
