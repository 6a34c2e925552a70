"""Case intake: a validated report becomes a routed, assigned case with its deadlines, its
first event and its photos, all in the caller's one transaction.

The hot path (``create_case``) costs a handful of statements: the point lookup
(boundaries.locate), the open-case counts of the candidate workers when there are several, and
one statement inserting the case and its ``created`` event, one its first clocks. Categories
and the business calendar change rarely, so each process keeps them for a while
(cases/cache.py) instead of reading them on every request.

Idempotency: a request with an ``Idempotency-Key`` stores the key and a hash of the request
on the case, the key claimed once in ``case_keys`` (migration 0060's trigger). A retry with the
same key and body gets the same case back (``replayed``); with another body,
IdempotencyKeyReused. Concurrent requests with one key are serialised by the claim (INSERT …
ON CONFLICT DO NOTHING): the loser inserts nothing and replays the winner's case.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cases import clocks, repository, supervision
from cases.assignment import choose_assignee
from cases.cache import PerDatabase
from cases.calendar import load_calendar
from cases.categories import categories
from cases.categories import clear_cache as clear_categories
from cases.deadlines import LOCAL_TZ, BusinessCalendar, deadline_at
from cases.errors import (
    BoundariesChanging, CaseNotFound, IdempotencyKeyReused, InvalidPhoto, PhotoTooLarge, TooManyPhotos, UnknownCategory,
)
from cases.routing import route_address, route_point

MAX_PHOTOS = 5
# a case routed on boundaries that a publish replaced before its insert is routed again; a
# publish takes seconds, so a second attempt succeeds unless publishes follow each other
ROUTING_ATTEMPTS = 5
MAX_PHOTO_BYTES = 5 * 1024 * 1024
# File and dispatch (DOMAIN.md, Shanxi practice): within 10 minutes for urgent matters,
# 30 otherwise.
DISPATCH_URGENT = timedelta(minutes=10)
DISPATCH_NORMAL = timedelta(minutes=30)
PHOTO_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)

_calendar = PerDatabase(load_calendar)


def business_calendar(session: Session) -> BusinessCalendar:
    """The business calendar (cached per process, cases/cache.py)."""
    return _calendar.get(session)


def clear_caches() -> None:
    """Forget the cached categories and calendar (after an administrator changed them)."""
    clear_categories()
    _calendar.clear()


@dataclass(frozen=True)
class CaseRequest:
    """A validated report: a point (lon, lat, crs), an ``address``, or both (Open311 clients
    send both: the point routes, the address is kept as written)."""

    category: str
    description: str
    channel: str
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Photo:
    filename: str
    content_type: str
    data: bytes
    sha256: str


@dataclass
class IntakeResult:
    case: dict[str, Any]  # the API's representation (case_summary)
    replayed: bool


def photo(filename: str | None, data: bytes, index: int = 0) -> Photo:
    """A photo checked by its first bytes (JPEG, PNG, WebP) and its size.

    Raises InvalidPhoto or PhotoTooLarge, naming the photo.
    """
    name = (filename or f"photo-{index + 1}")[:200]
    field = f"photos[{index}]"
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(
            f"photo {name!r} is {len(data)} bytes; a photo may have at most {MAX_PHOTO_BYTES} bytes",
            [{"field": field, "message": f"{len(data)} bytes is over the limit of {MAX_PHOTO_BYTES}"}],
        )
    content_type = None
    for magic, ctype in PHOTO_MAGIC:
        if data.startswith(magic):
            content_type = ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        content_type = "image/webp"
    if content_type is None:
        what = "is empty" if not data else f"starts with {data[:8].hex(' ')}"
        raise InvalidPhoto(
            f"photo {name!r} is not a JPEG, PNG or WebP image: it {what}",
            [{"field": field, "message": "send JPEG, PNG or WebP"}],
        )
    return Photo(name, content_type, data, hashlib.sha256(data).hexdigest())


def check_photo_count(n: int) -> None:
    """Raise TooManyPhotos past MAX_PHOTOS."""
    if n > MAX_PHOTOS:
        raise TooManyPhotos(f"{n} photos sent; a case may carry at most {MAX_PHOTOS}",
                            [{"field": "photos", "message": f"at most {MAX_PHOTOS} photos"}])


def request_fingerprint(payload: Any, photos: list[Photo]) -> str:
    """A hash of the request as sent (JSON canonicalised, photos by their hashes): what an
    idempotent retry must repeat exactly."""
    canonical = json.dumps([payload, [p.sha256 for p in photos]], sort_keys=True,
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat() if moment is not None else None


def create_case(
    session: Session, req: CaseRequest, photos: list[Photo] | None = None,
    idempotency_key: str | None = None, request_hash: str | None = None,
    now: datetime | None = None,
) -> IntakeResult:
    """Route, assign and insert a case with its ``created`` event and photos (not committed).

    Raises UnknownCategory, OutsideCoverage, AddressNotFound, IdempotencyKeyReused.
    """
    photos = photos or []
    if idempotency_key is not None:
        replay = _replay(session, idempotency_key, request_hash)
        if replay is not None:
            return replay
    cats = categories(session)
    category = cats.get(req.category)
    if category is None:
        raise UnknownCategory(
            f"the category {req.category!r} does not exist: see GET /api/v1/categories",
            {"valid": sorted(cats)},
        )
    for _attempt in range(ROUTING_ATTEMPTS):
        routed = route_case(session, req, category, idempotency_key, request_hash, now)
        result = insert_routed(session, req, routed, photos, idempotency_key, request_hash)
        if result is not None:
            return result
    raise BoundariesChanging(
        f"the town's boundaries changed {ROUTING_ATTEMPTS} times while this case was routed: "
        "send it again", {"attempts": ROUTING_ATTEMPTS})


@dataclass
class Routed:
    """A case routed and assigned, ready to insert: its row, its ``created`` event's data and
    its first clocks."""

    values: dict[str, Any]
    event: dict[str, Any]
    clocks: list[Any]


def route_case(
    session: Session, req: CaseRequest, category: dict[str, Any],
    idempotency_key: str | None, request_hash: str | None, now: datetime | None,
) -> Routed:
    """Route and assign the case, on the boundaries in force now."""
    if req.address is not None and req.lon is None:
        decision = route_address(session, req.address)
    else:
        decision = route_point(session, req.lon, req.lat, req.crs)
    assignment = choose_assignee(session, decision)
    created_at = (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)
    value, unit = category["limit_value"], category["limit_unit"]
    cal = business_calendar(session)
    due_at = deadline_at(created_at, value, unit, cal)
    dispatch_due_at = created_at + (DISPATCH_URGENT if unit == "urgent_hours" else DISPATCH_NORMAL)
    person = assignment.person
    # A person assigned: the case is dispatched and the clock runs. Otherwise it waits,
    # collected, for a center to file and dispatch it.
    status = "dispatched" if person is not None else "collected"
    values = {
        "town_code": decision.town["code"], "category_code": category["code"],
        "description": req.description, "status": status, "channel": req.channel,
        "address": req.address, "grid_code": decision.grid_code,
        "admin_code": decision.admin["code"] if decision.admin else None,
        "assignee_id": person["id"] if person else None,
        "reporter_name": req.reporter_name, "reporter_phone": req.reporter_phone,
        "occurred_at": req.occurred_at, "created_at": created_at, "due_at": due_at,
        "dispatch_due_at": dispatch_due_at, "lon": decision.lon, "lat": decision.lat,
        "input_crs": decision.input_crs, "geocode_precision": decision.precision,
        "geocode_score": decision.score, "geocode_match": decision.matched,
        "queue": decision.queue, "on_boundary": decision.on_boundary,
        "grid_version": decision.grid_version, "routing_reason": decision.reason,
        "assignment_reason": assignment.reason, "idempotency_key": idempotency_key,
        "request_hash": request_hash, "boundary_version": decision.boundary_version,
        "routed_town": decision.town["code"],
    }
    event = {
        "routing": decision.record(),
        "assignment": assignment.record(),
        "category": {"code": category["code"], "name_zh": category["name_zh"],
                     "name_en": category["name_en"],
                     "time_limit": {"value": value, "unit": unit}},
    }
    # the case's first clocks (cases/clocks.py): a dispatched case's accept and handle, a
    # collected one's dispatch; written by the same statement as the case
    first = ("accept", "handle") if status == "dispatched" else ("dispatch",)
    return Routed(values, event, [clocks.started(c, created_at, category, cal) for c in first])


def insert_routed(
    session: Session, req: CaseRequest, routed: Routed, photos: list[Photo],
    idempotency_key: str | None, request_hash: str | None,
) -> IntakeResult | None:
    """Insert the routed case with its event, clocks and photos; None when a publish replaced
    the boundaries it was routed on since (the insert refuses it; the caller routes again)."""
    values, event = routed.values, routed.event
    inserted = repository.insert_case(session, values, event, actor=f"intake:{req.channel}",
                                      clocks=routed.clocks)
    if inserted is None:
        # a concurrent request with the same key committed first: its case is the answer;
        # else a publish replaced the boundaries the case was routed on: route it again
        return _replay(session, idempotency_key, request_hash) if idempotency_key else None
    case_id, duplicate_of = inserted
    repository.insert_photos(session, case_id, [
        {"filename": p.filename, "content_type": p.content_type, "size_bytes": len(p.data),
         "sha256": p.sha256, "data": p.data} for p in photos
    ])
    row = {**values, "id": case_id, "created_event": event, "created_status": values["status"],
           "probable_duplicate_of": duplicate_of, "supporters": 0}
    return IntakeResult(case_summary(row), replayed=False)


def _replay(session: Session, key: str | None, request_hash: str | None) -> IntakeResult | None:
    found = repository.case_by_idempotency_key(session, key)
    if found is None:
        return None
    if found["request_hash"] != request_hash:
        raise IdempotencyKeyReused(
            f"the Idempotency-Key {key!r} was used for case {found['id']} with a different request; "
            "use a new key for a new case",
            {"case_id": found["id"]},
        )
    row = repository.case_detail(session, found["id"])
    return IntakeResult(case_summary(row), replayed=True)


_KEYS = {
    "town": ("code", "name"),
    "zone": ("code", "name", "kind"),
    "admin": ("code", "name", "version", "valid_from"),
    "leaf": ("code", "name", "level", "version", "valid_from"),
}
_PERSON_KEYS = ("id", "name", "phone", "title")


def _ordered(unit: dict | None, keys: tuple[str, ...]) -> dict | None:
    # JSONB keeps keys in its own order: put them back in the documented one, so a replay
    # reads exactly like the first answer
    return {k: unit.get(k) for k in keys} if unit is not None else None


def _hierarchy(grid: dict | None) -> dict | None:
    if grid is None:
        return None
    return {level: _ordered(grid.get(level), keys) for level, keys in _KEYS.items()}


def case_summary(row: dict[str, Any]) -> dict[str, Any]:
    """The case as intake answered it: routing, assignee and deadlines as decided at creation.

    ``row`` is a case_detail row (or the values just inserted): the first event's record
    supplies the hierarchy and the assignee, so a replay answers exactly what the first
    request did.
    """
    event = row["created_event"] or {}
    routing = event.get("routing") or {}
    assignment = event.get("assignment") or {}
    category = event.get("category") or {"code": row["category_code"]}
    geocode = routing.get("geocode") or {}
    return {
        "id": row["id"],
        "status": row["created_status"],
        "category": {k: category.get(k) for k in ("code", "name_zh", "name_en")},
        "grid": _hierarchy(routing.get("grid")),
        "queue": routing.get("queue"),
        "assignee": _ordered(assignment.get("assignee"), _PERSON_KEYS),
        "assignment_reason": assignment.get("reason"),
        "geocode": {
            "precision": geocode.get("precision"), "score": geocode.get("score"),
            "matched": geocode.get("matched"), "input_crs": geocode.get("input_crs"),
            "lon": geocode.get("lon"), "lat": geocode.get("lat"),
        },
        "routing_reason": routing.get("reason"),
        "on_boundary": routing.get("on_boundary"),
        "deadlines": {
            "dispatch_due_at": _iso(row["dispatch_due_at"]),
            "due_at": _iso(row["due_at"]),
            "time_limit": _ordered(category.get("time_limit"), ("value", "unit")),
        },
        "created_at": _iso(row["created_at"]),
        # a case of the same category within 50 m and 24 h of this one was open when it came
        # in (the function insert_case, migration 0070); an operator merges or dismisses the flag
        "probable_duplicate_of": row["probable_duplicate_of"],
        "supporters": row["supporters"],
        "links": {"self": f"/api/v1/cases/{row['id']}"},
    }


def case_view(session: Session, case_id: int) -> dict[str, Any]:
    """A case as it is now: its current status and assignee, the routing recorded at intake,
    its deadlines, its history and its photos. Raises CaseNotFound."""
    row = repository.case_detail(session, case_id)
    if row is None:
        raise CaseNotFound(f"there is no case with id {case_id}", {"case_id": case_id})
    out = case_summary(row)
    assignee = None
    if row["assignee_id"] is not None:
        assignee = {"id": row["assignee_id"], "name": row["assignee_name"],
                    "phone": row["assignee_phone"], "title": row["assignee_title"]}
    out.update({
        "status": row["status"],
        "assignee": assignee,
        "assignment_reason": row["assignment_reason"],
        "description": row["description"],
        "channel": row["channel"],
        "address": row["address"],
        "location": {"lon": row["lon"], "lat": row["lat"]} if row["lon"] is not None else None,
        "grid_code": row["grid_code"],
        "admin_code": row["admin_code"],
        "grid_version": row["grid_version"],
        "reporter": {"name": row["reporter_name"], "phone": row["reporter_phone"]},
        "occurred_at": _iso(row["occurred_at"]),
        "updated_at": _iso(row["updated_at"]),
        "closed_at": _iso(row["closed_at"]),
        "events": [
            {**e, "at": _iso(e["at"])} for e in repository.case_events(session, case_id)
        ],
        "photos": [
            {**p, "created_at": _iso(p["created_at"]),
             "public_url": f"/api/v1/public/photos/{p['id']}" if p["publishable"] else None,
             "url": f"/api/v1/cases/{case_id}/photos/{p['id']}"}
            for p in repository.case_photos(session, case_id)
        ],
    })
    # the deadline signals and cards of the supervision pass, from the history just read
    out["cards"] = supervision.cards(out["events"])
    out["worst_card"] = supervision.worst(out["cards"])
    if row["created_event"] is None:  # a case that did not come through intake (demo history)
        category = categories(session).get(row["category_code"], {})
        out["category"] = {"code": row["category_code"], "name_zh": category.get("name_zh"),
                           "name_en": category.get("name_en")}
        out["deadlines"]["time_limit"] = ({"value": category["limit_value"], "unit": category["limit_unit"]}
                                          if category else None)
        out["geocode"] = {"precision": row["geocode_precision"], "score": row["geocode_score"],
                          "matched": row["geocode_match"], "input_crs": row["input_crs"],
                          "lon": row["lon"], "lat": row["lat"]}
        out["queue"] = row["queue"]
        out["routing_reason"] = row["routing_reason"]
        out["on_boundary"] = row["on_boundary"]
    return out
