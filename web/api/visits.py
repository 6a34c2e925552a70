"""Patrol visits (定期巡访): ``GET /api/v1/visits/due`` (the account's visit list),
``POST /api/v1/visits`` (a check-in, idempotent on the phone's UUID) and ``GET /api/v1/visits``.

Views parse and validate, call field.visits and render; the field package's errors answer
from the one table in web/errors.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from flask import current_app, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from accounts.access import allow
from cases import intake
from cases.deadlines import LOCAL_TZ
from field import visits as field_visits
from field.rules import rules
from geo.crs import POINT_CRS, to_wgs84
from web.api import field_errors, json_body, operation, refuse_unknown_fields
from web.nul import refuse_nul
from web.auth import current_actor
from web.database import session
from web.errors import ApiError

FIELD_ROLES = ("grid_worker", "auxiliary", "grid_leader")
# who may read visits (each in their scope): the field, the centers, the leaders
READ_ROLES = FIELD_ROLES + ("town_operator", "town_leader", "village_operator", "admin")
MAX_NOTE = 2000
# a phone's clock may run a little fast; a check-in dated further ahead is refused, as one
# older than a week (a phone offline that long has other problems than a queued visit)
FUTURE_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=7)
FORM_FIELDS = ("id", "target", "visited_at", "position", "accuracy_m", "crs", "note",
               "outcome", "case")
JSON_FORM_FIELDS = ("target", "position", "accuracy_m", "case")


def _crs(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="household | shop | enterprise | key_person | key_place | hazard")
    id: int = Field(ge=1, le=2**62)

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in rules():
            raise ValueError(f"{value!r} is not a target type: {', '.join(rules())}")
        return value


class VisitCaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category_code: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=1, max_length=2000)


class VisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID = Field(description="the phone's own id of the check-in (a UUID)")
    target: TargetIn
    visited_at: AwareDatetime = Field(description="when the worker checked in, the phone's "
                                      "time, ISO 8601 with an offset")
    position: list[float] | None = Field(None, min_length=2, max_length=2,
                                         description="[lon, lat] in `crs`; required "
                                                     "(position_required without)")
    accuracy_m: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)
    crs: Literal[POINT_CRS] = "wgs84"  # type: ignore[valid-type]
    note: str | None = Field(None, max_length=MAX_NOTE)
    outcome: Literal["ok", "problem"] = "ok"
    case: VisitCaseIn | None = Field(None, description="required when outcome is problem: the "
                                     "case opened at the target's point")

    @field_validator("crs", mode="before")
    @classmethod
    def _folded(cls, value: object) -> object:
        return _crs(value)

    @field_validator("position")
    @classmethod
    def _lonlat(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
            raise ValueError("[lon, lat] must be within [-180, 180] and [-90, 90]")
        return value


class TargetOut(BaseModel):
    key: str
    type: str
    id: int
    type_zh: str | None
    name: str | None
    address: str | None
    grid_code: str | None


class VisitOut(BaseModel):
    id: str
    target: TargetOut
    visited_at: str
    received_at: str
    lon: float
    lat: float
    accuracy_m: float | None
    distance_m: float
    far: bool
    outcome: str
    note: str | None
    case_id: int | None
    photo_ids: list[int]


class VisitCreated(BaseModel):
    visit: VisitOut


class VisitReplayed(BaseModel):
    visit: VisitOut
    replayed: Literal[True] = Field(description="the check-in was stored before: this is it")


class VisitsOut(BaseModel):
    visits: list[VisitOut]


class DueTarget(TargetOut):
    lon: float
    lat: float
    every: Literal["month", "week"]
    period_start: str
    due_by: str
    last_visit_at: str | None
    overdue: bool
    distance_m: float | None
    bearing_deg: float | None


class DueOut(BaseModel):
    at: str
    targets: list[DueTarget]


class DueQuery(BaseModel):
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    crs: Literal[POINT_CRS] = "wgs84"  # type: ignore[valid-type]

    @field_validator("crs", mode="before")
    @classmethod
    def _folded(cls, value: object) -> object:
        return _crs(value)


class VisitsQuery(BaseModel):
    grid: str | None = Field(None, pattern=r"^\d{15}$", description="a leaf or administrative "
                             "grid code")
    target: str | None = Field(None, pattern=r"^[a-z_]{1,20}:\d{1,18}$",
                               description="a target key, e.g. household:123")
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(100, ge=1, le=1000)


VISIT_FORM = {
    "type": "object",
    "required": ["id", "target", "visited_at"],
    "properties": {
        **{name: {"type": "string"} for name in ("id", "visited_at", "crs", "note", "outcome")},
        **{name: {"type": "string", "description": "JSON text"} for name in JSON_FORM_FIELDS},
        "visit": {"type": "string", "description": "or the whole check-in as JSON text"},
        "photos": {"type": "array", "maxItems": intake.MAX_PHOTOS,
                   "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                   "description": f"JPEG, PNG or WebP, each at most {intake.MAX_PHOTO_BYTES} "
                                  "bytes"},
    },
}


def _form_payload() -> tuple[Any, list[intake.Photo]]:
    refuse_unknown_fields(set(FORM_FIELDS) | {"visit", "csrf_token"},
                          f"{', '.join(FORM_FIELDS)}, visit, photos")
    form, files = request.form, request.files
    try:
        if "visit" in form:
            payload = json.loads(form["visit"])
        else:
            payload = {k: json.loads(form[k]) if k in JSON_FORM_FIELDS else form[k]
                       for k in FORM_FIELDS if k in form}
    except ValueError as exc:
        raise ApiError(f"a JSON field of the form is not valid JSON: {exc}",
                       code="malformed_json", status=400) from exc
    refuse_nul(payload)  # escaped in a field's JSON text (web/nul.py)
    uploads = files.getlist("photos")
    intake.check_photo_count(len(uploads))
    photos = [intake.photo(f.filename, f.read(intake.MAX_PHOTO_BYTES + 1), i)
              for i, f in enumerate(uploads)]
    return payload, photos


def _validated(payload: Any) -> VisitIn:
    if not isinstance(payload, dict):
        raise ApiError(f"the body must be a JSON object, not {type(payload).__name__}",
                       code="invalid_body", status=422)
    try:
        body = VisitIn.model_validate(payload)
    except ValidationError as exc:
        raise ApiError("the request body is not valid", field_errors(exc), code="invalid_body",
                       status=422) from exc
    problems = []
    if body.outcome == "problem" and body.case is None:
        problems.append({"field": "case", "message": "required when outcome is problem: "
                                                     "{category_code, description}"})
    if body.outcome == "ok" and body.case is not None:
        problems.append({"field": "case", "message": "only with outcome problem"})
    now = datetime.now(LOCAL_TZ)
    if body.visited_at > now + FUTURE_SKEW:
        problems.append({"field": "visited_at", "message": "in the future: check the phone's "
                                                           "clock"})
    elif body.visited_at < now - MAX_AGE:
        problems.append({"field": "visited_at", "message": "more than 7 days ago"})
    if problems:
        raise ApiError("the request body is not valid", problems, code="invalid_body",
                       status=422)
    return body


@allow(*FIELD_ROLES)
@operation(
    "/visits", "POST", summary="Check in at a target (定期巡访); idempotent on the phone's id",
    tags=["visits"], body=VisitIn, parse_body=False, multipart=VISIT_FORM,
    responses={201: ("the visit stored", VisitCreated),
               200: ("a replay of a check-in already stored: the stored visit, replayed: true",
                     VisitReplayed)},
    errors={400: "malformed JSON",
            403: "target_out_of_scope: the target is outside the account's grids",
            404: "target_not_found",
            409: "visit_id_reused: the id was used with another body",
            413: "the body is over its limit (or a photo over 5 MB: photo_too_large)",
            422: "invalid_body, position_required, position_outside_town, unsupported_photo, "
                 "too_many_photos, unknown_category (of a problem's case)"},
)
def post_visit():
    """Send JSON `{"id", "target": {"type", "id"}, "visited_at", "position": [lon, lat],
    "accuracy_m", "crs", "note", "outcome": "ok"|"problem", "case": {"category_code",
    "description"}}`, or multipart/form-data with the same fields (`target`, `position`,
    `accuracy_m`, `case` as JSON text; or the whole check-in as JSON text in `visit`) and up
    to five `photos`. A check-in farther from its target than GRIDGOV_VISIT_MAX_DISTANCE_M
    (default 100 m, geodesic) is kept with `far: true`. A problem opens a case at the target's
    point on the patrol channel. The visit, its photos and its case are one transaction."""
    if request.mimetype == "multipart/form-data":
        payload, photos = _form_payload()
    else:
        payload, photos = json_body(), []
    body = _validated(payload)
    actor = current_actor()
    req = field_visits.VisitRequest(
        id=body.id, target_type=body.target.type, target_id=body.target.id,
        visited_at=body.visited_at,
        position=(body.position[0], body.position[1]) if body.position else None,
        crs=body.crs, accuracy_m=body.accuracy_m, note=body.note, outcome=body.outcome,
        case=(body.case.category_code, body.case.description) if body.case else None)
    fingerprint = intake.request_fingerprint([actor.account_id, payload], photos)
    db = session()
    result = field_visits.record_visit(
        db, actor, req, fingerprint, photos,
        max_distance_m=float(current_app.config["VISIT_MAX_DISTANCE_M"]))
    db.commit()
    if result.replayed:
        return {"visit": result.visit, "replayed": True}, 200
    return {"visit": result.visit}, 201


@allow(*FIELD_ROLES)
@operation(
    "/visits/due", summary="The account's visit list: what is due now, nearest first",
    tags=["visits"], query=DueQuery, responses={200: ("the targets due", DueOut)},
    errors={422: "invalid_query: lon or lat out of range, only one of them, an unknown crs"},
)
def due_visits(query: DueQuery):
    """The targets of the account's grids (a grid leader: its village) not yet visited in
    their current period (a month, or an ISO week; field/data/visit_rules.csv), with
    `overdue: true` for those whose previous period passed without a visit too. With a
    position, nearest first (geodesic distance, straight line; overdue first among equals);
    without, overdue first, then by due day."""
    if (query.lon is None) != (query.lat is None):
        raise ApiError("give both lon and lat, or neither",
                       [{"field": "lon" if query.lon is None else "lat", "message": "required "
                         "with the other"}], code="invalid_query", status=422)
    lon = lat = None
    if query.lon is not None:
        lon, lat = to_wgs84(query.lon, query.lat, query.crs)
    targets = field_visits.due_targets(session(), current_actor(), lon, lat)
    return {"at": datetime.now(LOCAL_TZ).isoformat(), "targets": targets}


@allow(*READ_ROLES)
@operation(
    "/visits", summary="Visits in the account's scope, newest first", tags=["visits"],
    query=VisitsQuery, responses={200: ("the visits", VisitsOut)},
    errors={422: "invalid_query"},
)
def get_visits(query: VisitsQuery):
    """Filter by grid (leaf or administrative code), target key (`household:123`), and
    `since` / `until` (ISO 8601 with an offset, on the phone's time); at most `limit`."""
    target = None
    if query.target:
        type_, _, id_ = query.target.partition(":")
        target = (type_, int(id_))
    rows = field_visits.list_visits(session(), current_actor(), grid=query.grid, target=target,
                                    since=query.since, until=query.until, limit=query.limit)
    return {"visits": rows}
