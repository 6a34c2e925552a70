"""Cases: ``POST /api/v1/cases`` (intake), the list, one case, and its photos.

Views parse and validate, call cases.intake, and render; the errors of the cases package
answer with their HTTP status from the one table in web/errors.py.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from flask import Response, current_app, request
from pydantic import ValidationError

from accounts import access, privacy
from accounts.access import ANY_ACCOUNT, PUBLIC, allow
from cases import errors as case_errors
from cases import intake, publication, repository
from cases.deadlines import LOCAL_TZ
from web.api import IMAGE, OPERATIONS, field_errors, json_body, operation, refuse_unknown_fields
from web.nul import refuse_nul
from web.auth import current_actor
from web.api.case_schemas import (CaseDetailOut, CaseIn, CaseListOut, CaseListQuery, CaseOut,
                                  CaseReadQuery, bbox_4326)
from web.database import replica_reads, session, use_primary
from web.disclosure import case_for_reader
from web.errors import ApiError

# An Idempotency-Key: printable ASCII without spaces, as UUIDs and most client libraries make.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def _validate_case(payload: Any) -> CaseIn:
    """The report as CaseIn, or 422 with every field's message (the location-or-address rule
    included, even when other fields fail too)."""
    if not isinstance(payload, dict):
        raise ApiError(f"the body must be a JSON object, not {type(payload).__name__}",
                       code="invalid_body", status=422)
    problems: list[dict[str, str]] = []
    has_location = payload.get("location") is not None
    has_address = payload.get("address") is not None
    if has_location and has_address:
        msg = "give either location or address, not both"
        problems += [{"field": "location", "message": msg}, {"field": "address", "message": msg}]
    elif not has_location and not has_address:
        msg = "give location {lon, lat, crs} or address"
        problems += [{"field": "location", "message": msg}, {"field": "address", "message": msg}]
    try:
        model = CaseIn.model_validate(payload)
    except ValidationError as exc:
        problems = field_errors(exc) + problems
    if problems:
        raise ApiError("the request body is not valid", problems, code="invalid_body", status=422)
    return model


def _read_request() -> tuple[Any, list[intake.Photo]]:
    """The report's JSON and its photos, from a JSON body or multipart/form-data."""
    if request.mimetype != "multipart/form-data":
        return json_body(), []
    refuse_unknown_fields({"case"}, "send `case` (JSON) and `photos`")
    form, files = request.form, request.files
    raw = form.get("case")
    if raw is None:
        raise ApiError("the request body is not valid", [
            {"field": "case", "message": "Field required: the report as JSON text"}],
            code="invalid_body", status=422)
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise ApiError(f"the `case` field is not valid JSON: {exc}", code="malformed_json",
                       status=400) from exc
    refuse_nul(payload)  # escaped in the JSON text, where the form's own check cannot see it
    uploads = files.getlist("photos")
    intake.check_photo_count(len(uploads))
    photos = [intake.photo(f.filename, f.read(intake.MAX_PHOTO_BYTES + 1), i)
              for i, f in enumerate(uploads)]
    return payload, photos


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError("the Idempotency-Key header is not valid", [
            {"field": "Idempotency-Key", "message": "1 to 200 visible ASCII characters, e.g. a UUID"}],
            code="invalid_idempotency_key", status=422)
    return key


# -- the views ----------------------------------------------------------------------------


PHOTO_FORM = {
    "type": "object",
    "required": ["case"],
    "properties": {
        "case": {"type": "string", "description": "the report (CaseIn) as JSON text"},
        "photos": {"type": "array", "maxItems": intake.MAX_PHOTOS,
                   "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                   "description": f"JPEG, PNG or WebP, each at most {intake.MAX_PHOTO_BYTES} bytes"},
    },
}


@allow(PUBLIC)
@operation(
    "/cases", "POST", summary="Report a case: route it, assign it, set its deadlines",
    tags=["cases"], body=CaseIn, parse_body=False, multipart=PHOTO_FORM,
    responses={201: ("the new case (also answered, with header Idempotent-Replayed: true, to a "
                     "retry with the same Idempotency-Key and body)", CaseOut)},
    errors={400: "malformed JSON",
            401: "not_authenticated: a staff channel (patrol, hotline, sensor, referral) without a "
                 "token (resident and app report without one)",
            403: "forbidden: the account's role may not report on a staff channel",
            409: "idempotency_key_reused: the key was used with another body",
            413: "the body is over the limit (or a photo over 5 MB: photo_too_large)",
            422: "invalid_body (a message per field), unknown_category (details.valid lists the "
                 "codes), outside_coverage (details: nearest grid, distance_m), address_not_found, "
                 "unsupported_photo, too_many_photos, invalid_idempotency_key",
            429: "too_many_requests: this address sent more anonymous reports than its limit "
                 "(web/throttle.py); header Retry-After in seconds",
            503: "database_unavailable: the database is stopped or restarting; send the report "
                 "again after the header Retry-After's seconds, with the same Idempotency-Key "
                 "(boundaries_changing: a publish kept re-routing it)",
            507: "insufficient_storage: the storage is full; nothing of the report was saved"},
)
def create_case():
    """Send JSON, or multipart/form-data with the JSON in a `case` field and up to five
    `photos`. The position is `location` {lon, lat, crs} or an `address`: coordinates and
    door- or street-precise addresses go to the leaf grid covering them; a village-precise
    address to the village's administrative grid; a town-precise one to the town center's
    queue. The case goes to the leaf grid's worker on duty (the one with the fewest open cases
    when several are), else the village's grid leader. The case, its routing decision, its
    first event and its photos are committed together.

    With an `Idempotency-Key` header, a retry with the same key and body answers the first
    request's case (status 201, header `Idempotent-Replayed: true`) and creates nothing."""
    payload, photos = _read_request()
    model = _validate_case(payload)
    # residents and the app report without an account; staff channels need one
    access.check_report(current_actor(), model.channel)
    key = _idempotency_key()
    req = intake.CaseRequest(
        category=model.category, description=model.description, channel=model.channel,
        lon=model.location.lon if model.location else None,
        lat=model.location.lat if model.location else None,
        crs=model.location.crs if model.location else "wgs84",
        address=model.address,
        reporter_name=model.reporter.name if model.reporter else None,
        reporter_phone=model.reporter.phone if model.reporter else None,
        occurred_at=model.occurred_at,
    )
    fingerprint = intake.request_fingerprint(payload, photos) if key else None
    # Without photos every write of an intake is one statement (the case and its first event
    # in one INSERT … RETURNING), so it needs no transaction of its own around it; photos are
    # more INSERTs that must commit with the case.
    db = session(autocommit=not photos)
    result = intake.create_case(db, req, photos, key, fingerprint)
    if photos:  # without, each statement committed itself
        db.commit()
    # the reporter sent their own contact; the holder's work phone is for staff in its scope
    reporter = current_actor()
    in_scope = not reporter.is_resident and access.case_in_scope(reporter, _place(result.case))
    response = current_app.json.response(
        privacy.case_answer(result.case, reader_in_scope=in_scope))
    response.status_code = 201
    response.headers["Location"] = result.case["links"]["self"]
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _place(case: dict[str, Any]) -> dict[str, Any]:
    """Where a new case (intake's answer) is, as access.case_in_scope reads it."""
    grid = case.get("grid") or {}
    return {"town_code": (grid.get("town") or {}).get("code"),
            "grid_code": (grid.get("leaf") or {}).get("code"),
            "admin_code": (grid.get("admin") or {}).get("code")}


def _declare_idempotency_header() -> None:
    for op in OPERATIONS:
        if op.rule == "/cases" and op.method == "POST":
            op.extra_parameters.append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "makes a retried POST return the same case instead of a second one",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            })


_declare_idempotency_header()


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat() if moment is not None else None


@replica_reads
@allow(ANY_ACCOUNT)
@operation(
    "/cases", summary="List cases, newest first", tags=["cases"], query=CaseListQuery,
    responses={200: ("a page of cases", CaseListOut)},
    errors={401: "not_authenticated",
            422: "invalid_query: a bad status, grid, bbox, limit or cursor"},
)
def list_cases(query: CaseListQuery):
    """Filter by workflow state, grid (leaf or administrative code) and a lon/lat box; page
    with ``cursor`` (keyset on id, so pages stay stable while cases arrive). Only the cases
    in the account's scope are listed."""
    rows = repository.list_cases(
        session(), status=query.status, grid=query.grid,
        bbox_4326=bbox_4326(query.bbox) if query.bbox else None,
        cursor=query.cursor, limit=query.limit + 1, scope=access.case_scope(current_actor()),
    )
    items = [{
        "id": r["id"], "category": r["category_code"], "status": r["status"], "channel": r["channel"],
        "grid_code": r["grid_code"], "admin_code": r["admin_code"], "queue": r["queue"],
        "assignee": {"id": r["assignee_id"], "name": r["assignee_name"]} if r["assignee_id"] else None,
        "geocode_precision": r["geocode_precision"],
        "location": {"lon": r["lon"], "lat": r["lat"]} if r["lon"] is not None else None,
        "created_at": _iso(r["created_at"]), "dispatch_due_at": _iso(r["dispatch_due_at"]),
        "due_at": _iso(r["due_at"]), "links": {"self": f"/api/v1/cases/{r['id']}"},
    } for r in rows[: query.limit]]
    more = len(rows) > query.limit
    return {"items": items, "next_cursor": items[-1]["id"] if more else None}


@replica_reads
@allow(ANY_ACCOUNT)
@operation(
    "/cases/<int:case_id>", summary="One case: routing, assignee, deadlines, history, photos",
    tags=["cases"], query=CaseReadQuery,
    responses={200: ("the case as it is now", CaseDetailOut)},
    errors={401: "not_authenticated", 403: "out_of_scope", 404: "case_not_found",
            422: "invalid_reason: a `reason` blank, shorter than 2 or longer than 200 characters"},
)
def get_case(case_id: int, query: CaseReadQuery):
    """The case with its current status and assignee, the routing decision recorded at
    intake, its deadlines, every event of its history and its photos. A case outside the
    account's scope is 403 `out_of_scope`.

    Personal data: the reporter's name and phone (and those of the reporters merged into it,
    and phone or ID numbers typed into the description) are masked, `personal_data: masked`.
    With `?reason=…` they are shown in full, `personal_data: full`, and the read is written to
    the audit log first (`audit_id`; administrators read it at `GET /api/v1/audit`)."""
    if query.reason is not None:
        use_primary()  # the audit row is written before the answer: not on a standby
    case, logged = case_for_reader(session(), current_actor(), case_id, query.reason)
    return {**case, "personal_data": "full" if logged else "masked",
            "audit_id": logged["id"] if logged else None}


# a case's photos the public board may show: marked publishable, of a closed case (board.sql)
PUBLIC_STATES = ("closed", "evaluated")


@allow(PUBLIC)
@operation(
    "/cases/<int:case_id>/photos/<int:photo_id>", summary="One photo of a case",
    tags=["cases"], responses={200: ("the image, in the type it was sent in", IMAGE)},
    errors={404: "photo_not_found: no such photo, or one the asker may not see (anonymous "
                 "or outside the case's scope, and not publishable)"},
)
def get_photo(case_id: int, photo_id: int):
    """To an account whose scope holds the case: the photo as sent, with the content type its
    first bytes showed at upload. To anyone else (no account, or another scope): only a photo
    an operator marked publishable of a closed case, as the public board serves it (without
    its EXIF: where and when it was taken, the device). Any other photo is 404
    `photo_not_found`, the same answer as for no photo at all: a 403 would tell a stranger
    that the case has a photo."""
    actor = current_actor()
    found = repository.photo(session(), case_id, photo_id)
    in_scope = found is not None and not actor.is_resident and access.case_in_scope(actor, found)
    public = (found is not None and found["publishable"] and found["status"] in PUBLIC_STATES)
    if not in_scope and not public:
        raise case_errors.PhotoNotFound(
            f"case {case_id} has no photo {photo_id} that this request may see",
            {"case_id": case_id, "photo_id": photo_id})
    if in_scope:
        data, cache = bytes(found["data"]), "private, max-age=86400"
    else:  # UnreadableImage (404 photo_not_found): an undecodable photo keeps its metadata
        data = publication.public_image(bytes(found["data"]), found["content_type"], photo_id)
        cache = "public, max-age=3600"
    response = Response(data, mimetype=found["content_type"])
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = cache
    # the same URL answers differently by who asks: a shared cache must not mix the two
    response.headers["Vary"] = "Authorization, Cookie"
    return response
