"""``/api/v1/drafts``: the planner's drafts of the grid boundaries (planning/drafts.py).

Reading a draft answers its ``revision`` (also as the ETag); every edit sends it back as
``If-Match: "<revision>"``. An edit on a revision the draft has left is 409 ``stale_revision``
with the changes made since; an edit without If-Match is 428.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from flask import jsonify, request
from pydantic import AwareDatetime, BaseModel, Field, WithJsonSchema

from accounts.access import allow
from planning import drafts, impact, operations, publish, validation
from planning.errors import DraftNotFound, RevisionRequired
from web.api import OPERATIONS, operation
from web.api.geojson import geometry
from web.auth import current_actor
from web.database import session
from web.errors import ApiError

# the planner draws; the administrator may too; the town's operators and leaders read
WRITERS = ("planner", "admin")
READERS = ("planner", "admin", "town_operator", "town_leader")
# publishing changes where every case goes: the planner's act alone (issue 11)
PUBLISHERS = ("planner",)
# If-Match: the revision, as the ETag of GET /drafts/{id} spells it ("3", W/"3", 3, and "3:gzip"
# when the response was compressed: Flask-Compress marks the ETag of each encoding)
IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,9})(?::[a-z0-9-]+)?"?\s*$')


class DraftIn(BaseModel):
    scope: str = Field(min_length=9, max_length=15, pattern=r"^\d+$",
                       description="the town's 9-digit code, or a village's 12-digit code (or its "
                                   "grid's 15-digit code)")
    from_version: int | None = Field(None, ge=1, le=2_147_483_647,
                                     description="copy this version; default: the current "
                                                 "boundaries")


class DraftsQuery(BaseModel):
    state: Literal["open", "scheduled", "published", "discarded", "all"] = Field(
        "open", description="which drafts; default the open ones")


# a grid's outline as sent: validated by planning/drafts.py (its message names what is wrong),
# described here so that the document says what to send
OUTLINE = Annotated[dict[str, Any], WithJsonSchema(geometry("Polygon", "MultiPolygon"))]
LINE = Annotated[dict[str, Any], WithJsonSchema(geometry("LineString"))]


class GridIn(BaseModel):
    geometry: OUTLINE | None = Field(
        None, description="a GeoJSON Polygon or MultiPolygon in EPSG:4326; absent: unchanged")
    name: str | None = Field(None, max_length=100)
    level: Literal["admin", "regional", "service"] | None = None
    parent_code: str | None = Field(None, max_length=20)
    zone_code: str | None = Field(None, max_length=20)
    leader: int | None = Field(None, ge=1, le=2_147_483_647,
                               description="the grid leader's person id")
    workers: list[int] | None = Field(None, max_length=20,
                                      description="the grid workers' person ids")


class NewGridIn(GridIn):
    code: str = Field(min_length=15, max_length=15, pattern=r"^\d{15}$")


class DraftOut(BaseModel):
    id: int
    town_code: str
    scope_code: str
    scope_kind: str
    from_version: int | None
    state: str
    revision: int
    created_by: str
    created_at: str
    updated_at: str
    grids: int
    base_version: int | None = None
    effective_at: str | None = None
    published_version: int | None = None
    published_at: str | None = None
    published_by: str | None = None
    rerouted: int | None = None
    publish_error: str | None = None


class DraftsOut(BaseModel):
    drafts: list[DraftOut]


class EditOut(BaseModel):
    draft: int
    code: str
    revision: int = Field(description="the draft's revision after the edit: send it next")


# a draft grid's properties (planning/drafts.py get_draft; the columns of draft_grids)
_DRAFT_GRID = {
    "type": "object",
    "required": ["code", "name", "level", "parent_code", "zone_code", "leader_id",
                 "worker_ids", "revision", "area_m2", "from_grid"],
    "properties": {
        "code": {"type": "string"}, "name": {"type": "string"},
        "level": {"enum": ["admin", "regional", "service"]},
        "parent_code": {"type": ["string", "null"]}, "zone_code": {"type": ["string", "null"]},
        "leader_id": {"type": ["integer", "null"]},
        "worker_ids": {"type": "array", "items": {"type": "integer"}},
        "revision": {"type": "integer", "description": "the draft revision that last changed it"},
        "area_m2": {"type": "number"},
        "from_grid": {"type": ["integer", "null"],
                      "description": "the id of the current grid it was copied from; null: "
                                     "added in the draft"},
    },
}
DRAFT_GRIDS = {
    "type": "object",
    "description": "the draft's grids as a GeoJSON FeatureCollection (properties code, name, "
                   "level, parent_code, zone_code, leader_id, worker_ids, revision, area_m2, "
                   "from_grid), with the draft under `draft` and its `revision`",
    "required": ["type", "draft", "revision", "features"],
    "properties": {"type": {"const": "FeatureCollection"},
                   "draft": DraftOut.model_json_schema(mode="serialization"),
                   "revision": {"type": "integer"},
                   "features": {"type": "array", "items": {
                       "type": "object", "required": ["type", "id", "properties", "geometry"],
                       "properties": {"type": {"const": "Feature"}, "id": {"type": "string"},
                                      "properties": _DRAFT_GRID,
                                      "geometry": geometry("Polygon", "MultiPolygon")}}}},
}
# the draft's revision, read, sent back as If-Match by the operations that change it
REVISION_LINKS = {
    name: {"operationId": op_id, "description": f"{what} the draft at the revision read",
           "parameters": {"draft_id": "$request.path.draft_id",
                          # the ETag's form, "3": a header is text, the revision a number
                          "header.If-Match": '"{$response.body#/revision}"'}}
    for name, op_id, what in (
        ("AddGrid", "post_drafts_int_draft_id_grids", "add a grid to"),
        ("Operate", "post_drafts_int_draft_id_operations", "split, merge or move in"),
        ("Publish", "post_drafts_int_draft_id_publish", "publish"))
}
EDIT_ERRORS = {
    404: "draft_not_found, grid_not_in_draft",
    409: "stale_revision (with the changes since), draft_closed, grid_exists",
    422: "invalid_body, invalid_geometry, invalid_grid_code, invalid_grid, invalid_if_match",
    428: "revision_required: no If-Match",
}


def _visible(draft_id: int) -> int:
    """``draft_id`` when the draft is of the account's town; DraftNotFound otherwise."""
    town = current_actor().town_code
    if town is not None and drafts.draft_summary(session(), draft_id)["town_code"] != town:
        raise DraftNotFound(f"there is no draft {draft_id}", {"draft": draft_id})
    return draft_id


def _revision(required: bool = True) -> int | None:
    header = request.headers.get("If-Match")
    if header is None:
        if not required:
            return None
        raise RevisionRequired('send the draft revision you edited: header If-Match: '
                               '"<revision>" (the ETag of GET /api/v1/drafts/{id})',
                               {"field": "If-Match"})
    found = IF_MATCH.match(header)
    if found is None:
        raise ApiError(f'If-Match was {header!r} but must be the draft revision, e.g. "3"',
                       {"field": "If-Match"}, code="invalid_if_match", status=422)
    return int(found.group(1))


def _fields(body: GridIn) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


@allow(*WRITERS)
@operation(
    "/drafts", "POST", summary="Start a draft of the town's or a village's grids",
    tags=["planning"], body=DraftIn,
    responses={201: ("the new draft (without its grids: GET it)", DraftOut)},
    errors={404: "version_not_found", 422: "invalid_body, invalid_scope"},
)
def create_draft(body: DraftIn):
    """A working copy of the current boundaries (or of version `from_version`) of the whole
    town or of one village (its village grid and leaf grids), with each grid's leader and
    workers. Nothing of the current boundaries changes until the draft is published."""
    db = session()
    town = current_actor().town_code
    if town is not None and not body.scope.startswith(town):
        raise ApiError(f"scope {body.scope} is not in your town {town}", {"field": "scope"},
                       code="invalid_scope", status=422)
    found = drafts.create_draft(db, current_actor().name, body.scope, body.from_version)
    db.commit()
    response = jsonify(found)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/drafts/{found['id']}"
    return response


@allow(*READERS)
@operation(
    "/drafts", summary="The drafts of the town", tags=["planning"], query=DraftsQuery,
    responses={200: ("the drafts, oldest first", DraftsOut)},
)
def list_drafts(query: DraftsQuery):
    """The open drafts (or those in `state`), with their scope, revision and grid count."""
    state = None if query.state == "all" else query.state
    return {"drafts": drafts.list_drafts(session(), current_actor().town_code, state)}


@allow(*READERS)
@operation(
    "/drafts/<int:draft_id>", summary="A draft with its grids, and its revision",
    tags=["planning"], responses={200: ("the draft's grids as GeoJSON", DRAFT_GRIDS)},
    errors={404: "draft_not_found"}, links={200: REVISION_LINKS},
)
def get_draft(draft_id: int):
    """The draft's grids as GeoJSON; `revision` (also the ETag) is what an edit sends back
    as If-Match."""
    found = drafts.get_draft(session(), _visible(draft_id))
    response = jsonify(found)
    response.set_etag(str(found["revision"]))
    return response


@allow(*WRITERS)
@operation(
    "/drafts/<int:draft_id>", "DELETE", summary="Discard a draft", tags=["planning"],
    responses={204: ("discarded", None)},
    errors={404: "draft_not_found", 409: "draft_closed, stale_revision",
            422: "invalid_if_match"},
)
def delete_draft(draft_id: int):
    """The draft is discarded: it stays readable (state `discarded`) and can no longer be
    edited or published. With If-Match, only if it is still at that revision."""
    db = session()
    drafts.discard_draft(db, _visible(draft_id), _revision(required=False),
                         current_actor().name)
    db.commit()
    return "", 204


@allow(*WRITERS)
@operation(
    "/drafts/<int:draft_id>/grids/<code>", "PUT", summary="Change a grid of a draft",
    tags=["planning"], body=GridIn, responses={200: ("the draft's new revision", EditOut)},
    errors=EDIT_ERRORS,
)
def put_grid(draft_id: int, code: str, body: GridIn):
    """Replace the grid's geometry and attributes; a field left out keeps its value. Sent with
    `If-Match: "<revision>"`: when the draft has moved on since, 409 `stale_revision` lists
    the changes made since (revision, operation, grid codes, who, when) and nothing is
    written."""
    db = session()
    result = drafts.put_grid(db, _visible(draft_id), code, _revision(), _fields(body),
                             current_actor().name)
    db.commit()
    return result


@allow(*WRITERS)
@operation(
    "/drafts/<int:draft_id>/grids", "POST", summary="Add a grid to a draft", tags=["planning"],
    body=NewGridIn, responses={201: ("the draft's new revision", EditOut)}, errors=EDIT_ERRORS,
)
def add_grid(draft_id: int, body: NewGridIn):
    """A new grid: its 15-digit code (its village's 12 digits and a serial; a village grid's
    serial is 000), name, level and geometry; a leaf grid's parent is its village grid. Sent
    with `If-Match: "<revision>"` like every edit."""
    db = session()
    result = drafts.add_grid(db, _visible(draft_id), _revision(), _fields(body),
                             current_actor().name)
    db.commit()
    response = jsonify(result)
    response.status_code = 201
    return response


class OperationIn(BaseModel):
    op: Literal["split", "merge", "move_edge", "reshape"]
    code: str | None = Field(None, max_length=20, description="split, reshape: the grid")
    codes: list[str] | None = Field(None, max_length=50,
                                    description="merge: the grids (the first keeps its code); "
                                                "move_edge: the two neighbours")
    line: LINE | None = Field(None, description="split, move_edge: a GeoJSON LineString in "
                                                "EPSG:4326")
    geometry: OUTLINE | None = Field(None, description="reshape: the new outline")
    new_code: str | None = Field(None, pattern=r"^\d{15}$",
                                 description="split: the new grid's code (default: the "
                                             "village's next free serial)")
    new_name: str | None = Field(None, max_length=100, description="split: the new grid's name")


class OperationOut(BaseModel):
    draft: int
    op: str
    codes: list[str] = Field(description="the grids it changed, added or removed")
    revision: int


@allow(*WRITERS)
@operation(
    "/drafts/<int:draft_id>/operations", "POST",
    summary="Split, merge, move a shared edge or reshape, keeping shared edges shared",
    tags=["planning"], body=OperationIn,
    responses={200: ("the grids changed and the draft's new revision", OperationOut)},
    errors={**EDIT_ERRORS, 422: EDIT_ERRORS[422] + ", invalid_operation"},
)
def post_operation(draft_id: int, body: OperationIn):
    """`split` a leaf grid by a line drawn across it (the larger piece keeps the code);
    `merge` leaf grids of one village (the first code keeps the union); `move_edge` redraws
    the shared edge of two neighbours along a line, both changing together; `reshape` gives a
    grid a new outline, its vertices within 2 m of a neighbour's snapped onto it. Split, merge
    and move_edge cut or join the land the grids held: they never open a gap or an overlap."""
    db = session()
    result = operations.apply_operation(db, _visible(draft_id), _revision(),
                                        body.model_dump(exclude_none=True), current_actor().name)
    db.commit()
    return result


FINDING = {
    "type": "object",
    "properties": {"kind": {"type": "string"}, "message": {"type": "string"},
                   "codes": {"type": "array", "items": {"type": "string"}},
                   "area_m2": {"type": ["number", "null"]}, "lon": {"type": ["number", "null"]},
                   "lat": {"type": ["number", "null"]}},
}
VALIDATION = {
    "type": "object",
    "description": "ok (no errors: the draft may be published), counts of units, errors and "
                   "warnings: each a kind (gap, overlap, outside, missing_parent, no_worker, "
                   "no_leader, off_scheme, no_zone, …), a message, the codes involved, and for a "
                   "piece of land its area in m² and a point in it (lon, lat)",
    "required": ["draft", "revision", "ok", "counts", "errors", "warnings"],
    "properties": {"draft": {"type": "integer"}, "revision": {"type": "integer"},
                   "ok": {"type": "boolean"},
                   "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                              "description": "units by kind: towns, zones, admin, regional, "
                                             "service"},
                   "errors": {"type": "array", "items": FINDING},
                   "warnings": {"type": "array", "items": FINDING}},
}


@allow(*READERS)
@operation(
    "/drafts/<int:draft_id>/validation", summary="What is wrong with a draft",
    tags=["planning"], responses={200: ("the draft's findings", VALIDATION)},
    errors={404: "draft_not_found"},
)
def draft_validation(draft_id: int):
    """The checks of `gridgov boundaries validate` on the draft as if it were published: gaps
    and overlaps above the tolerance, grids outside their village or the town, each with its
    area in m² and a point to draw; grids without a parent, leaf grids without a grid worker,
    village grids without a leader. Errors block publishing; warnings do not."""
    return validation.draft_validation(session(), _visible(draft_id))


MOVES = {"type": "object", "properties": {k: {"type": "integer"} for k in (
    "households", "residents", "enterprises", "hazards", "open_cases")}}
# an open case whose grid would change (planning/impact.py)
_CASE_MOVING = {
    "type": "object", "required": ["id", "from_grid", "to_grid", "assignee_id"],
    "properties": {"id": {"type": "integer"}, "from_grid": {"type": ["string", "null"]},
                   "to_grid": {"type": ["string", "null"]},
                   "assignee_id": {"type": ["integer", "null"]}},
}
IMPACT = {
    "type": "object",
    "description": "per grid that changes, or gains or loses from one (change: changed, added, "
                   "removed, neighbour): what moves in and out (households, residents, "
                   "enterprises, hazards, open_cases), households before and after, grid "
                   "workers and households per worker before (today) and after (the draft's); "
                   "cases_moving: every open case whose grid would change (id, from_grid, "
                   "to_grid, assignee_id); cases_reassigned: those whose assignee is not among "
                   "the new grid's workers (with to_workers)",
    "required": ["draft", "revision", "grids", "cases_moving", "cases_reassigned",
                 "totals_moving"],
    "properties": {
        "draft": {"type": "integer"}, "revision": {"type": "integer"},
        "grids": {"type": "array", "items": {"type": "object", "properties": {
            "code": {"type": "string"}, "change": {"type": "string"}, "in": MOVES,
            "out": MOVES}}},
        "cases_moving": {"type": "array", "items": _CASE_MOVING},
        "cases_reassigned": {"type": "array", "items": {
            "type": "object", "required": [*_CASE_MOVING["required"], "to_workers"],
            "properties": {**_CASE_MOVING["properties"],
                           "to_workers": {"type": "array", "items": {"type": "integer"}}}}},
        "totals_moving": MOVES,
    },
}


@allow(*READERS)
@operation(
    "/drafts/<int:draft_id>/impact", summary="What publishing a draft would move",
    tags=["planning"], responses={200: ("the draft's impact, grid by grid", IMPACT)},
    errors={404: "draft_not_found"},
)
def draft_impact(draft_id: int):
    """For each grid the draft changes and each neighbour that gains or loses: households,
    residents, enterprises, hazards and open cases moving in and out, households per grid
    worker before and after, and the open cases whose assignee would change."""
    return impact.draft_impact(session(), _visible(draft_id))


class PublishIn(BaseModel):
    effective_at: AwareDatetime | None = Field(
        None, description="when the new boundaries take effect, with its time zone (ISO 8601, "
                          "e.g. 2026-12-01T00:00:00+08:00); absent or not in the future: now. "
                          "A later time is applied then by the background worker.")


PUBLISHED = {
    "type": "object",
    "properties": {
        "draft": {"type": "integer"}, "state": {"type": "string"},
        "version": {"type": ["integer", "null"]},
        "previous_version": {"type": ["integer", "null"]},
        "effective_at": {"type": "string"},
        "asked_effective_at": {"type": ["string", "null"]},
        "grids": {"type": "object", "description": "the draft's grids by what publishing did",
                  "required": ["added", "changed", "removed", "unchanged"],
                  "properties": {k: {"type": "integer"}
                                 for k in ("added", "changed", "removed", "unchanged")}},
        "restaffed": {"type": "array", "items": {"type": "string"},
                      "description": "kept grids whose grid workers changed"},
        "posts": {"type": "object", "required": ["ended", "started"],
                  "properties": {"ended": {"type": "integer"}, "started": {"type": "integer"}}},
        "rerouted": {"type": "integer"}, "reassigned": {"type": "integer"},
        "relocated": {"type": "object", "description": "things on changed land that took a "
                                                       "new grid",
                      "required": ["addresses", "households", "enterprises", "hazards"],
                      "properties": {k: {"type": "integer"} for k in (
                          "addresses", "households", "enterprises", "hazards")}},
        "cases": {"type": "array", "description": "the first re-routed cases", "items": {
            "type": "object",
            "required": ["id", "from_grid", "to_grid", "from_assignee", "to_assignee"],
            "properties": {"id": {"type": "integer"}, "from_grid": {"type": ["string", "null"]},
                           "to_grid": {"type": ["string", "null"]},
                           "from_assignee": {"type": ["integer", "null"]},
                           "to_assignee": {"type": ["integer", "null"]}}}},
        "timings": {"type": "object", "additionalProperties": {"type": "number"},
                    "description": "seconds per step of the publish"},
    },
}


@allow(*PUBLISHERS)
@operation(
    "/drafts/<int:draft_id>/publish", "POST", summary="Publish a draft as the town's boundaries",
    tags=["planning"], body=PublishIn,
    responses={200: ("published: the new version, the open cases re-routed", PUBLISHED),
               202: ("scheduled for effective_at", PUBLISHED)},
    errors={404: "draft_not_found",
            409: "stale_revision, draft_closed (published, scheduled or discarded), "
                 "draft_outdated (the boundaries changed since the draft was made)",
            422: "invalid_body, invalid_effective_at, draft_invalid (with the validation "
                 "errors), invalid_if_match",
            428: "revision_required: no If-Match"},
)
def publish_draft(draft_id: int, body: PublishIn):
    """In one transaction: the draft's grids replace the current ones (the old rows closed and
    the new opened at one moment, a new numbered version), every open case whose grid or holder
    changes is re-routed with a `rerouted` event naming both versions, households and other
    things on the changed land take their new grid, the grids' workers follow the draft, and
    every server drops its cached tiles of the changed area. Closed cases keep the grid they
    had. Refused while the draft's validation has errors. With `effective_at` in the future
    the draft is scheduled (202) and the background worker publishes it then; discarding it
    cancels. Rolling back is publishing a draft of an earlier version
    (`POST /drafts {"from_version": N}`)."""
    db = session()
    result = publish.publish_draft(db, _visible(draft_id), _revision(), current_actor().name,
                                   body.effective_at)
    db.commit()
    response = jsonify(result)
    response.status_code = 202 if result["state"] == "scheduled" else 200
    return response


def _declare_if_match() -> None:
    for op in OPERATIONS:
        if op.rule.startswith("/drafts/<int:draft_id>") and op.method in ("PUT", "POST",
                                                                            "DELETE"):
            op.extra_parameters.append({
                "name": "If-Match", "in": "header", "required": op.method != "DELETE",
                "description": "the draft revision the edit was made on, e.g. \"3\"",
                "schema": {"type": "string", "pattern": IF_MATCH.pattern},
            })


_declare_if_match()
