"""The workflow over HTTP: ``GET /api/v1/cases/{id}/transitions`` (what the caller may do now)
and ``POST`` (take one action). The machine is cases/workflow.py, applied by
cases/transitions.py; this view parses, checks the version the client decided on, calls it and
commits. Its errors answer from the one table in web/errors.py.

The version (optimistic concurrency): the GET answers it in the body and as ``ETag: "<n>"``;
the POST sends it back as ``If-Match: "<n>"`` (or ``"version"`` in the body). Neither is 428:
a client that does not say which state it decided on could overwrite another's action.

A phone's queued action (cases/transition_keys.py) comes with ``Idempotency-Key`` (its UUID)
and ``taken_at`` (when the worker took it); a replay of the key is 409 ``already_applied``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from flask import current_app, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accounts import access
from accounts.access import allow
from cases import intake
from cases import workflow_repository as store
from cases.transition_keys import MAX_AGE, MAX_KEY, MAX_SKEW
from cases.transitions import allowed_actions, apply_transition
from cases.workflow import ACTIONS, MAX_NOTE
from geo.crs import POINT_CRS, to_wgs84
from web.api import OPERATIONS, field_errors, json_body, operation, refuse_unknown_fields
from web.nul import refuse_nul
from web.auth import current_actor
from web.database import session
from web.errors import ApiError

# Every role that appears in some action (the service checks which action, level and scope);
# "resident" rates through the rating link, not this route.
ACTING_ROLES = tuple(sorted({r for a in ACTIONS.values() for r in a.roles} - {"resident"}))
# If-Match: one strong or weak entity tag holding the version, e.g. "7" (or W/"7", or 7)
IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
FORM_FIELDS = ("action", "note", "to", "version", "position", "crs", "taken_at")
# An Idempotency-Key: printable ASCII without spaces (a UUID), as for POST /cases
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,%d}$" % MAX_KEY)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=50, examples=["accept"],
                        description="an action of the workflow (GET …/transitions lists them)")
    note: str | None = Field(default=None, description=f"the note or reason, at most {MAX_NOTE} "
                             "characters; required by return, park, supervise, … (needs_reason)")
    to: Any = Field(default=None, description='what the action needs: dispatch {"person_id": id} '
                    'or {"department": code}; void "duplicate" | "invalid"; merge the original '
                    "case's id; park a resume date YYYY-MM-DD; evaluate a rating (满意, …); "
                    "request_extension a number of working days")
    version: int | None = Field(default=None, ge=1, description="the case version decided on, "
                                "when the If-Match header is not sent")
    position: list[float] | None = Field(default=None, min_length=2, max_length=2,
                                         description="where it was done: [lon, lat] in `crs`")
    crs: Literal[POINT_CRS] = Field(  # type: ignore[valid-type]
        "wgs84", description="the CRS of `position`: wgs84 (default) | cgcs2000 | gcj02 | bd09; "
                             "converted to WGS 84 as /api/v1/locate does")
    taken_at: datetime | None = Field(
        default=None, examples=["2026-12-01T09:30:00+08:00"],
        description="when the worker took the action on the phone (ISO 8601; without an offset: "
                    f"the town's local time), possibly offline: at most "
                    f"{int(MAX_SKEW.total_seconds() // 60)} minutes ahead of the server's clock "
                    f"(taken_at_in_future) and {MAX_AGE.days} days back (taken_at_too_old); "
                    "kept on the event")


class ActionOut(BaseModel):
    action: str
    name_zh: str
    to_state: str
    needs_reason: bool
    to: str | None


class TransitionsOut(BaseModel):
    id: int
    status: str
    version: int
    actions: list[ActionOut]


class TransitionEventOut(BaseModel):
    """The event an action wrote (cases/transitions.py apply_transition)."""

    id: int
    type: str = Field(description="the action")
    from_status: str
    to_status: str
    at: str
    note: str | None
    photo_ids: list[int] | None
    data: dict[str, Any] | None = Field(description="what the action carried: the assignee, "
                                                    "the department, a rating, …")
    taken_at: str | None = Field(description="when a phone queued it offline, ISO 8601")


class RatingLinkOut(BaseModel):
    """cases/rating_links.py issue_link."""

    id: int
    token: str = Field(description="single-use; given out here only")
    path: str = Field(description="the page to send the reporter")
    expires_at: str = Field(description="ISO 8601")


class TransitionOut(BaseModel):
    id: int
    status: str
    version: int
    event: TransitionEventOut
    rating_link: RatingLinkOut | None = Field(
        None, description="after a close of a case whose reporter left a phone: the reporter's "
                          "single-use rating link (id, token, path, expires_at), given out here "
                          "only — send it to the reporter (一事一评)")


TRANSITION_FORM = {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {"type": "string"}, "note": {"type": "string"},
        "to": {"type": "string", "description": "JSON text (a number, an object) or plain text"},
        "version": {"type": "integer"},
        "position": {"type": "string", "description": "[lon, lat] as JSON text"},
        "crs": {"type": "string", "enum": list(POINT_CRS)},
        "taken_at": {"type": "string", "format": "date-time"},
        "photos": {"type": "array", "maxItems": intake.MAX_PHOTOS,
                   "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                   "description": f"JPEG, PNG or WebP, each at most {intake.MAX_PHOTO_BYTES} "
                                  "bytes"},
    },
}


def _form_value(name: str, raw: str) -> Any:
    """A multipart field as the JSON body would carry it: ``to`` and ``position`` are JSON
    text (``to`` may also be plain text, e.g. a void reason); ``version`` a number."""
    if name in ("note", "action", "crs", "taken_at"):
        return raw
    if name == "version":
        return raw.strip()
    try:
        return json.loads(raw)
    except ValueError:
        if name == "to":
            return raw
        raise ApiError(f"the `{name}` field is not valid JSON", code="malformed_json",
                       status=400) from None


def _read_request() -> tuple[TransitionIn, list[intake.Photo]]:
    """The body (JSON, or multipart with photos) as TransitionIn, and the checked photos."""
    photos: list[intake.Photo] = []
    if request.mimetype == "multipart/form-data":
        refuse_unknown_fields(set(FORM_FIELDS) | {"csrf_token"},
                              f"{', '.join(FORM_FIELDS)}, photos")
        form, files = request.form, request.files
        payload: Any = {k: _form_value(k, form[k]) for k in FORM_FIELDS if k in form}
        refuse_nul(payload)  # escaped in a field's JSON text (web/nul.py)
        uploads = files.getlist("photos")
        intake.check_photo_count(len(uploads))
        photos = [intake.photo(f.filename, f.read(intake.MAX_PHOTO_BYTES + 1), i)
                  for i, f in enumerate(uploads)]
    else:
        payload = json_body()
    if not isinstance(payload, dict):
        raise ApiError(f"the body must be a JSON object, not {type(payload).__name__}",
                       code="invalid_body", status=422)
    try:
        return TransitionIn.model_validate(payload), photos
    except ValidationError as exc:
        raise ApiError("the request body is not valid", field_errors(exc), code="invalid_body",
                       status=422) from exc


def _version(body: TransitionIn) -> int:
    """The version the client decided on: If-Match, or the body's; 428 with neither, 422 when
    both are given and differ or If-Match is not a version."""
    header = request.headers.get("If-Match")
    if header is None:
        if body.version is None:
            raise ApiError('send the case version you decided on: header If-Match: "<version>" '
                           '(the ETag of GET …/transitions) or "version" in the body',
                           {"field": "If-Match"}, code="version_required", status=428)
        return body.version
    found = IF_MATCH.match(header)
    if found is None:
        raise ApiError(f'If-Match was {header!r} but must be the case version, e.g. "7"',
                       {"field": "If-Match"}, code="invalid_if_match", status=422)
    version = int(found.group(1))
    if body.version is not None and body.version != version:
        raise ApiError(f"If-Match says version {version} but the body says {body.version}: "
                       "send one, or the same in both",
                       {"field": "version", "if_match": version, "body": body.version},
                       code="version_mismatch", status=422)
    return version


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError("the Idempotency-Key header is not valid", [
            {"field": "Idempotency-Key",
             "message": f"1 to {MAX_KEY} visible ASCII characters, e.g. a UUID"}],
            code="invalid_idempotency_key", status=422)
    return key


def _position(body: TransitionIn) -> tuple[float, float] | None:
    """The body's position in WGS 84."""
    if body.position is None:
        return None
    lon, lat = body.position
    return to_wgs84(lon, lat, body.crs)


def _answer(payload: dict, version: int):
    response = current_app.json.response(payload)
    response.headers["ETag"] = f'"{version}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@allow(*ACTING_ROLES)
@operation(
    "/cases/<int:case_id>/transitions", summary="The workflow actions the caller may take now",
    tags=["cases", "workflow"],
    responses={200: ("the case's status and version (also the ETag) and the actions, each with "
                     "what it needs", TransitionsOut)},
    errors={403: "forbidden (a role with no workflow action) or out_of_scope",
            404: "case_not_found"},
)
def list_transitions(case_id: int):
    """What the signed-in account may do with the case now, from the workflow's data
    (cases/workflow.py): its status, holder, the account's role, level and scope, and the
    guards (a pending extension, the reopen window). Send the answer's version back as
    `If-Match` when taking one."""
    db = session()
    actor = current_actor()
    row = access.check_place(actor, case_id, store.case_state(db, case_id))
    actions = allowed_actions(db, row, actor)
    return _answer({"id": case_id, "status": row["status"], "version": row["version"],
                    "actions": actions}, row["version"])


@allow(*ACTING_ROLES)
@operation(
    "/cases/<int:case_id>/transitions", "POST", summary="Take one workflow action on a case",
    tags=["cases", "workflow"], body=TransitionIn, parse_body=False, multipart=TRANSITION_FORM,
    responses={200: ("the case's new status and version (also the ETag) and the event written",
                     TransitionOut)},
    errors={400: "malformed JSON",
            403: "forbidden (a role with no workflow action), out_of_scope (the case is not the "
                 "account's to read) or outside_scope (not the account's to act on: its level, "
                 "role or scope)",
            404: "case_not_found",
            409: "transition_not_allowed (details.allowed lists what the account may do now), "
                 "stale_version (details: the current status and version), case_voided, "
                 "extension_pending, no_extension_pending, reopen_too_late, "
                 "reopen_not_dissatisfied, already_applied (this account sent this "
                 "Idempotency-Key before for this action on this case: details.event is the event "
                 "written then, details.status and details.version the case's now; nothing was "
                 "written), idempotency_key_reused (the key was used for another action or "
                 "case)",
            413: "the body is over its limit (or a photo over 5 MB: photo_too_large)",
            422: "invalid_body, unknown_action, reason_required, note_too_long, invalid_target "
                 "(a bad `to`), person_off_duty, unsupported_photo, too_many_photos, "
                 "invalid_if_match, version_mismatch, invalid_idempotency_key, "
                 "taken_at_in_future, taken_at_too_old",
            428: "version_required: neither If-Match nor a version in the body"},
)
def post_transition(case_id: int):
    """Send JSON `{"action", "note", "to", "version", "position", "crs", "taken_at"}`, or
    multipart/form-data with the same fields (`to` and `position` as JSON text) and up to five
    `photos`. The version is the `If-Match` header (`"7"`, the ETag of the GET) or `version`
    in the body; every action moves it by one. The case's update, its event, its clocks and
    its photos are one transaction: a refused request writes nothing. Of two requests on the
    same version exactly one wins; the other is 409 `stale_version` with the case's current
    state. A phone sends each queued action with header `Idempotency-Key` (at most 100
    visible ASCII characters: its UUID) and `taken_at`: sent again, the action is not applied
    twice but answered 409 `already_applied` with the first event."""
    body, photos = _read_request()
    version = _version(body)
    key = _idempotency_key()
    db = session()
    actor = current_actor()
    # one read of the case for the scope check and the transition (a round trip less)
    row = access.check_place(actor, case_id, store.case_state(db, case_id))
    result = apply_transition(db, case_id, body.action, actor, version, note=body.note,
                              to=body.to, photos=photos, position=_position(body),
                              idempotency_key=key, taken_at=body.taken_at, row=row)
    db.commit()
    return _answer(result, result["version"])


def _declare_idempotency_header() -> None:
    for op in OPERATIONS:
        if op.rule == "/cases/<int:case_id>/transitions" and op.method == "POST":
            op.extra_parameters.append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "a queued action's own id (its UUID): sent again, the action is "
                               "not applied twice (409 already_applied)",
                "schema": {"type": "string", "pattern": f"^[\\x21-\\x7e]{{1,{MAX_KEY}}}$"},
            })


_declare_idempotency_header()
