"""The signed-in account's notifications (supervision cards and deadline signals told to it,
cases/notifications.py says whose): ``GET /api/v1/notifications`` and
``POST /api/v1/notifications/read``. The pages' bell (web/static/js/bell.js) reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from accounts.access import ANY_ACCOUNT, allow
from cases import notifications
from cases.deadlines import LOCAL_TZ
from web.api import operation
from web.auth import current_actor
from web.database import session

MAX_IDS = 500
MAX_ID = 2**63 - 1  # notifications.id is a bigint
NotificationId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unread: int = Field(default=0, ge=0, le=1, description="1: only the unread ones")
    before: int | None = Field(default=None, ge=1, le=MAX_ID,
                               description="the next page: the `next_before` of the last answer")
    limit: int = Field(default=20, ge=1, le=100)


class NotificationOut(BaseModel):
    id: int
    case_id: int
    signal: str
    clock: str | None
    category_code: str | None
    status: str | None
    moment: str | None
    created_at: str
    read_at: str | None
    links: dict[str, str]


class NotificationListOut(BaseModel):
    items: list[NotificationOut]
    next_before: int | None
    unread: int


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[NotificationId] = Field(min_length=1, max_length=MAX_IDS,
                                      description="notification ids")


class ReadOut(BaseModel):
    marked: list[int]
    unread: int


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat() if moment is not None else None


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "case_id": row["case_id"], "signal": row["signal"],
            "clock": row["clock"], "category_code": row["category_code"], "status": row["status"],
            "moment": row["moment"], "created_at": _iso(row["created_at"]),
            "read_at": _iso(row["read_at"]),
            "links": {"case": f"/api/v1/cases/{row['case_id']}",
                      "page": f"/cases/{row['case_id']}"}}


@allow(ANY_ACCOUNT)
@operation(
    "/notifications", summary="The account's notifications, newest first", tags=["notifications"],
    query=NotificationQuery,
    responses={200: ("a page of notifications and the count of unread ones", NotificationListOut)},
)
def list_notifications(query: NotificationQuery):
    """The supervision cards and deadline signals told to the account's person, and to the
    centers and departments its scope covers. Page with `before` (keyset on id)."""
    db = session()
    actor = current_actor()
    rows = notifications.notifications_for(db, actor, unread_only=bool(query.unread),
                                           before_id=query.before, limit=query.limit + 1)
    items = [_item(r) for r in rows[: query.limit]]
    more = len(rows) > query.limit
    return {"items": items, "next_before": items[-1]["id"] if more else None,
            "unread": notifications.unread_count(db, actor)}


@allow(ANY_ACCOUNT)
@operation(
    "/notifications/read", "POST", summary="Mark notifications read", tags=["notifications"],
    body=ReadIn, responses={200: ("the ids marked now, and how many stay unread", ReadOut)},
    errors={400: "malformed JSON", 422: "invalid_body: `ids` missing, empty, over 500 or not "
                                        "numbers"},
)
def read_notifications(body: ReadIn):
    """An id already read, or not the account's, is left alone (and not in `marked`)."""
    db = session()
    actor = current_actor()
    marked = notifications.mark_read(db, actor, body.ids, datetime.now(LOCAL_TZ))
    unread = notifications.unread_count(db, actor)
    db.commit()
    return {"marked": marked, "unread": unread}
