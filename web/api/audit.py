"""``GET /api/v1/audit``: the audit log of personal data (accounts/audit.py), for administrators.

Who read whose full record, when, from where and why; filtered by account, person and time,
newest first, a page at a time (keyset on the row's id, as the case list pages: a page stays
the same while reads are logged). An administrator of a town reads its town's rows.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from accounts import audit
from accounts.access import allow
from cases.deadlines import LOCAL_TZ
from web.api import operation
from web.auth import current_actor
from web.database import session


class AuditQuery(BaseModel):
    account: str | None = Field(None, min_length=1, max_length=50,
                                description="the reader's account name")
    account_id: int | None = Field(None, ge=1, le=2**31 - 1, description="the reader's account id")
    subject_type: Literal[audit.SUBJECT_TYPES] | None = Field(  # type: ignore[valid-type]
        None, description="whose record: case_reporter (subject_id: the case), person, household")
    subject_id: int | None = Field(None, ge=1, le=2**63 - 1,
                                   description="the person's id (with subject_type)")
    since: AwareDatetime | None = Field(None, description="from this moment (inclusive), "
                                                          "ISO 8601 with its offset")
    until: AwareDatetime | None = Field(None, description="to this moment (exclusive)")
    limit: int = Field(50, ge=1, le=500)
    cursor: int | None = Field(None, ge=1, le=2**63 - 1,
                               description="next_cursor of the previous page")

    @model_validator(mode="after")
    def _consistent(self) -> AuditQuery:
        if self.subject_id is not None and self.subject_type is None:
            raise ValueError("subject_id needs subject_type: a case id and a person id are "
                             "different numbers")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError(f"until ({self.until.isoformat()}) must be after since "
                             f"({self.since.isoformat()})")
        return self


class AuditEntryOut(BaseModel):
    id: int
    at: str = Field(description="when the record was read (ISO 8601)")
    account_id: int | None
    account_name: str
    role: str
    subject_type: str
    subject_id: int
    town_code: str | None
    fields: list[str] = Field(description="what was shown in full: name, phone, supporters, "
                                          "description")
    remote_addr: str | None = Field(description="the address the request came from")
    route: str | None = Field(description="the method and path that showed it")
    reason: str = Field(description="the reason the reader gave")


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: int | None


@allow("admin")
@operation(
    "/audit", summary="Who read whose personal data, when, from where and why",
    tags=["audit"], query=AuditQuery, responses={200: ("a page of the audit log", AuditPageOut)},
    errors={422: "invalid_query: a bad filter, a time without its offset, until not after "
                 "since, subject_id without subject_type"},
)
def list_audit(query: AuditQuery):
    """Every read of a person's full record by staff (a case reporter's contact shown with a
    reason), newest first. Filters combine; page with `cursor`. The log is append-only: the
    database refuses to change or delete its rows."""
    actor = current_actor()
    rows = audit.entries(
        session(), town_code=actor.town_code, account_id=query.account_id,
        account_name=query.account, subject_type=query.subject_type,
        subject_id=query.subject_id, since=query.since, until=query.until,
        cursor=query.cursor, limit=query.limit + 1)
    items = [{**r, "at": r["at"].astimezone(LOCAL_TZ).isoformat(), "fields": list(r["fields"])}
             for r in rows[: query.limit]]
    more = len(rows) > query.limit
    return {"items": items, "next_cursor": items[-1]["id"] if more else None}
