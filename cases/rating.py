"""The resident's rating through a rating link (一事一评; the links: cases/rating_links.py).

A link opens a page showing the case without personal data (:func:`rating_view`) and takes
one of the four levels of DOMAIN.md and a comment (:func:`rate`). Rating applies the workflow's
``evaluate`` as the resident (cases/transitions.py stays the only writer of a case's status).
不满意 given within ``REOPEN_WINDOW`` (7 days) of the close also applies ``reopen`` — the
case goes back to the center that closed it — and gives the reopened case a yellow supervision
card (an event of type ``card``, ``data.signal`` ``yellow``, ``data.reason``
``dissatisfied``), once per reopen (the reopen event's id claimed in ``case_event_keys``, migration 0060). A later 不满意 is recorded and counts in the scores, but reopens nothing.

Refusals: an unknown token (RatingNotFound, 404), a used link (RatingUsed, 409), an expired
one (RatingExpired, 410), a case rated meanwhile on site (CaseAlreadyRated, 409), a bad level
or a comment over 2,000 characters (the transition's own errors); nothing is written then
(the caller rolls back on an error, as for every service here).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from accounts.actor import RESIDENT
from cases.deadlines import LOCAL_TZ
from cases.errors import CaseAlreadyRated, RatingExpired, RatingNotFound, RatingUsed
from accounts.privacy import masked_text
from cases.rating_links import digest, queries
from cases.transitions import apply_transition
from cases.workflow import RATINGS, REOPEN_DAYS

REOPEN_WINDOW = timedelta(days=REOPEN_DAYS)
DISSATISFIED = "dissatisfied"
REOPEN_NOTE = "居民评价不满意，案件重办"  # the reopen event's note


def _now(at: datetime | None) -> datetime:
    return (at or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)


def _usable(link: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    if link is None:
        raise RatingNotFound("这个评价链接不存在，请核对链接是否完整。"
                             " (There is no rating link with this token.)")
    if link["used_at"] is not None:
        day = f"{link['used_at'].astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}"
        raise RatingUsed(f"这个评价链接已于 {day} 使用过，每个链接只能评价一次。"
                         f" (This rating link was used on {day}: a link rates once.)",
                         {"used_at": link["used_at"].isoformat()})
    if link["expires_at"] <= at:
        day = f"{link['expires_at'].astimezone(LOCAL_TZ):%Y-%m-%d}"
        raise RatingExpired(f"这个评价链接已于 {day} 过期（有效期 30 天）。"
                            f" (This rating link expired on {day}: links last 30 days.)",
                            {"expired_at": link["expires_at"].isoformat()})
    return link


def rating_view(session: Session, token: str, at: datetime | None = None) -> dict[str, Any]:
    """What the rating page shows for ``token``: the case's category, village, what was done
    (the close note, phone numbers and the reporter's name masked), when it was reported and
    closed. Raises RatingNotFound, RatingUsed, RatingExpired."""
    at = _now(at)
    link = _usable(session.execute(queries()["link"], {"token_sha256": digest(token)})
                   .mappings().one_or_none(), at)
    case = dict(session.execute(queries()["case_for_rating"], {"case_id": link["case_id"]})
                .mappings().one())
    if case["status"] != "closed":
        raise CaseAlreadyRated("这件事已经评价过了，感谢您的关注。"
                               " (This case has been rated already.)", {"status": case["status"]})
    reporter = case.pop("reporter_name")
    case["closing_note"] = masked_text(case["closing_note"], (reporter,))
    case["expires_at"] = link["expires_at"]
    return case


def rate(session: Session, token: str, rating: str, comment: str | None = None,
         at: datetime | None = None) -> dict[str, Any]:
    """Rate the link's case as its reporter: ``rating`` one of 非常满意 / 满意 / 基本满意 / 不满意
    (or their codes), ``comment`` at most 2,000 characters. Returns the case id, the rating's
    code, whether the case reopened and the card event's id (None unless reopened)."""
    at = _now(at)
    link = _usable(session.execute(queries()["link_for_update"], {"token_sha256": digest(token)})
                   .mappings().one_or_none(), at)
    case_id = link["case_id"]
    case = session.execute(queries()["case_for_rating"], {"case_id": case_id}).mappings().one()
    if case["status"] != "closed":
        raise CaseAlreadyRated("这件事已经评价过了，感谢您的关注。"
                               " (This case has been rated already.)", {"status": case["status"]})
    rated = apply_transition(session, case_id, "evaluate", RESIDENT, case["version"],
                             note=comment, to=rating, at=at)
    value = RATINGS.get(rating, rating)
    out: dict[str, Any] = {"case_id": case_id, "rating": value, "reopened": False,
                           "card_event_id": None}
    if value == DISSATISFIED and at - case["closed_at"] <= REOPEN_WINDOW:
        reopened = apply_transition(session, case_id, "reopen", RESIDENT, rated["version"],
                                    note=REOPEN_NOTE, at=at)
        out["reopened"] = True
        out["card_event_id"] = _reopen_card(session, case_id, reopened, at)
    session.execute(queries()["use_link"], {"id": link["id"], "at": at, "rating": value})
    return out


def _reopen_card(session: Session, case_id: int, reopened: dict[str, Any],
                 at: datetime) -> int | None:
    """The yellow card on a case a 不满意 rating reopened, with its notifications (the person
    who handled the case, the center that closed it); None when it was given already."""
    town_code = session.execute(queries()["case_town"], {"case_id": case_id}).scalar_one()
    data = {"signal": "yellow", "reason": DISSATISFIED,
            "reopen_event_id": reopened["event"]["id"]}
    card = session.execute(queries()["insert_reopen_card"], {
        "case_id": case_id, "town_code": town_code, "at": at,
        "data": json.dumps(data), "note": "居民不满意，案件重办（督办黄牌）",
    }).scalar_one_or_none()
    if card is not None:  # told with the card, in its transaction
        session.execute(queries()["notify_reopen_card"],
                        {"case_id": case_id, "event_id": card, "at": at}).all()
    return card
