"""Emergency mobilisation (应急动员), emergencies/: ``POST /api/v1/emergencies/preview`` (what
an area holds), ``POST /api/v1/emergencies`` (mobilise), ``GET /api/v1/emergencies[/{id}]``
(the board's figures), ``GET /api/v1/emergencies/{id}/export.csv``, ``POST
/api/v1/emergencies/{id}/close``, and the phone's side: ``GET /api/v1/emergencies/tasks`` and
``POST /api/v1/emergencies/{id}/tasks/{task_id}/confirm`` (idempotent on the phone's UUID).

Views parse and validate, call the emergencies package and render; its errors answer from the
one table in web/errors.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from flask import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema

from accounts.access import allow
from cases import intake
from cases.deadlines import LOCAL_TZ
from emergencies import area as areas
from emergencies import service, tasks
from geo.crs import POINT_CRS, to_wgs84
from web.api import CSV, Media, json_body, operation, validate_body
from web.api.emergency_schemas import (
    AREA_GEOJSON, KIND, EmergenciesOut, PreviewOut, ProgressOut, TaskConfirmed, TasksOut,
)
from web.auth import current_actor
from web.database import session
from web.errors import ApiError

# the command center mobilises and closes; the leaders follow the board
MOBILISERS = ("town_operator", "admin")
BOARD_READERS = MOBILISERS + ("town_leader",)
# who confirms a task on the phone, in their grids (a grid leader: the village's)
CONFIRMERS = ("grid_worker", "auxiliary", "grid_leader")
FUTURE_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=7)


class AreaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    geojson: Annotated[dict[str, Any], WithJsonSchema(AREA_GEOJSON)] | None = Field(
        None, description="a GeoJSON Polygon or MultiPolygon (or a Feature or "
                          "FeatureCollection of them, e.g. an uploaded file) in WGS 84; or a "
                          "Point or LineString with buffer_m")
    grid: str | None = Field(None, pattern=r"^\d{15}$", description="a leaf or administrative "
                                                                    "grid code")
    village: str | None = Field(None, pattern=r"^\d{12}$", description="a village code")
    buffer_m: float | None = Field(None, allow_inf_nan=False,
                                   description="metres around the geojson geometry (geodesic)")

    def spec(self) -> areas.AreaSpec:
        return areas.AreaSpec(geojson=self.geojson, grid=self.grid, village=self.village,
                              buffer_m=self.buffer_m)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    area: AreaIn


class EmergencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: KIND
    instructions: str | None = Field(None, max_length=4000)
    area: AreaIn


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: str = Field(min_length=1, max_length=10_000)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID = Field(description="the phone's own id of the confirmation (a UUID)")
    status: Literal["safe", "relocated", "unreachable"]
    people: int | None = Field(None, ge=0, le=1000, description="how many people were found "
                               "safe, or relocated; required for safe and relocated")
    relocated_to: str | None = Field(None, min_length=1, max_length=200,
                                     description="where to; required for relocated")
    note: str | None = Field(None, max_length=2000)
    confirmed_at: AwareDatetime = Field(description="the phone's time, ISO 8601 with an offset")


class ProgressQuery(BaseModel):
    tasks: bool = Field(False, description="also every task's point and status (the map)")


class TasksQuery(BaseModel):
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    crs: Literal[POINT_CRS] = "wgs84"  # type: ignore[valid-type]
    status: Literal["open", "all"] = "open"


def _town() -> str | None:
    return current_actor().town_code


@allow(*MOBILISERS)
@operation(
    "/emergencies/preview", "POST", summary="What an area holds: households, residents and "
    "the vulnerable, enterprises, hazards, by grid and worker", tags=["emergencies"],
    body=PreviewIn, responses={200: ("the area's contents", PreviewOut)},
    errors={400: "malformed JSON", 404: "area_not_found: no such grid or village",
            422: "invalid_area (not a valid polygon, a point without buffer_m, …), area_empty, "
                 "area_covers_nothing, invalid_body"},
)
def preview(body: PreviewIn):
    """Send `{"area": {...}}` with exactly one of `geojson` (a polygon drawn or uploaded; a
    point or line with `buffer_m` metres), `grid` (a 15-digit grid code) or `village` (a
    12-digit village code). Nothing is written."""
    db = session()
    area = areas.resolve(db, body.area.spec())
    return service.preview(db, area, _town())


@allow(*MOBILISERS)
@operation(
    "/emergencies", "POST", summary="Mobilise: an emergency and one task per household, "
    "enterprise and hazard in its area, for each grid's worker", tags=["emergencies"],
    body=EmergencyIn, responses={201: ("the emergency, as its board shows it", ProgressOut)},
    errors={400: "malformed JSON", 404: "area_not_found",
            422: "invalid_area, area_empty, area_covers_nothing, invalid_body"},
)
def mobilise(body: EmergencyIn):
    """`{"name", "kind": "evacuate"|"confirm_safe"|"count"|"notify", "instructions",
    "area": {...}}` (the area as for the preview). The emergency and its tasks are one
    transaction; the grid workers' phones hear of it at once (the stream)."""
    db = session()
    area = areas.resolve(db, body.area.spec())
    result = service.mobilise(db, current_actor(), service.EmergencyRequest(
        name=body.name, kind=body.kind, instructions=body.instructions, area=area), _town())
    db.commit()
    return result, 201


@allow(*BOARD_READERS)
@operation(
    "/emergencies", summary="The town's emergencies, open first", tags=["emergencies"],
    responses={200: ("the emergencies", EmergenciesOut)},
)
def list_emergencies():
    """Each with its counts of tasks and of those confirmed."""
    return {"emergencies": service.list_emergencies(session(), _town())}


@allow(*BOARD_READERS)
@operation(
    "/emergencies/<int:emergency_id>", summary="An emergency's progress (the board)",
    tags=["emergencies"], query=ProgressQuery, responses={200: ("the figures", ProgressOut)},
    errors={404: "emergency_not_found"},
)
def get_emergency(emergency_id: int, query: ProgressQuery):
    """Totals (households confirmed and to go, people relocated and found safe, vulnerable
    people not reached: a task open or not reachable), per grid and per worker, confirmations
    per minute (`timeline`) and the latest ones (`recent`); with `tasks=true` every task's
    point and status."""
    return service.progress(session(), emergency_id, _town(), with_tasks=query.tasks)


@allow(*BOARD_READERS)
@operation(
    "/emergencies/<int:emergency_id>/export.csv", summary="Every task of an emergency as CSV",
    tags=["emergencies"], responses={200: ("one row per task", Media({"text/csv": CSV}))},
    errors={404: "emergency_not_found"},
)
def export_emergency(emergency_id: int):
    """One row per task: the target, its grid and worker, residents and vulnerable, and how
    it was confirmed, when and by whom."""
    body = service.export_csv(session(), emergency_id, _town())
    return Response(body, content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="emergency-{emergency_id}.csv"'})


@allow(*MOBILISERS)
@operation(
    "/emergencies/<int:emergency_id>/close", "POST", summary="Close an emergency with a "
    "summary", tags=["emergencies"], body=CloseIn,
    responses={200: ("the emergency closed, its final figures kept", ProgressOut)},
    errors={404: "emergency_not_found", 409: "emergency_closed: closed before"},
)
def close_emergency(emergency_id: int, body: CloseIn):
    """`{"summary"}`. Its tasks leave the phones; the figures at closing are kept with it."""
    db = session()
    result = service.close(db, current_actor(), emergency_id, body.summary, _town())
    db.commit()
    return result


@allow(*CONFIRMERS)
@operation(
    "/emergencies/tasks", summary="The account's emergency tasks: most vulnerable first, "
    "then nearest", tags=["emergencies"], query=TasksQuery,
    responses={200: ("the tasks", TasksOut)},
    errors={422: "invalid_query: lon or lat out of range, only one of them"},
)
def my_tasks(query: TasksQuery):
    """The tasks of the open emergencies in the account's grids (a grid leader: the
    village's), open ones unless `status=all`; by vulnerable people (most first), then by
    geodesic distance from `lon`,`lat` when given."""
    if (query.lon is None) != (query.lat is None):
        raise ApiError("give both lon and lat, or neither",
                       [{"field": "lon" if query.lon is None else "lat",
                         "message": "required with the other"}], code="invalid_query",
                       status=422)
    lon = lat = None
    if query.lon is not None:
        lon, lat = to_wgs84(query.lon, query.lat, query.crs)
    found = tasks.worker_tasks(session(), current_actor(), lon, lat,
                               status=None if query.status == "all" else "open")
    return {"at": datetime.now(LOCAL_TZ).isoformat(), "tasks": found}


@allow(*CONFIRMERS)
@operation(
    "/emergencies/<int:emergency_id>/tasks/<int:task_id>/confirm", "POST",
    summary="Confirm a task from the phone; idempotent on the phone's id",
    tags=["emergencies"], body=ConfirmIn, parse_body=False,
    responses={201: ("the task confirmed", TaskConfirmed),
               200: ("a replay of a confirmation already stored: replayed: true",
                     TaskConfirmed)},
    errors={400: "malformed JSON", 403: "task_out_of_scope: another grid's task",
            404: "task_not_found",
            409: "task_already_confirmed, confirm_id_reused, emergency_closed",
            422: "invalid_body"},
)
def confirm(emergency_id: int, task_id: int):
    """`{"id": uuid, "status": "safe"|"relocated"|"unreachable", "people", "relocated_to",
    "note", "confirmed_at"}`: `people` with safe and relocated, `relocated_to` with
    relocated. A phone offline sends its queued confirmation later, maybe more than once: the
    same id and body answer the stored task (200, `replayed`)."""
    payload = json_body()
    body = validate_body(ConfirmIn, payload)
    problems = []
    if body.status in ("safe", "relocated") and body.people is None:
        problems.append({"field": "people", "message": f"required when status is {body.status}"})
    if body.status == "relocated" and not body.relocated_to:
        problems.append({"field": "relocated_to", "message": "required when status is relocated"})
    if body.status != "relocated" and body.relocated_to:
        problems.append({"field": "relocated_to", "message": "only with status relocated"})
    now = datetime.now(LOCAL_TZ)
    if body.confirmed_at > now + FUTURE_SKEW:
        problems.append({"field": "confirmed_at", "message": "in the future: check the "
                                                             "phone's clock"})
    elif body.confirmed_at < now - MAX_AGE:
        problems.append({"field": "confirmed_at", "message": "more than 7 days ago"})
    if problems:
        raise ApiError("the request body is not valid", problems, code="invalid_body",
                       status=422)
    actor = current_actor()
    fingerprint = intake.request_fingerprint([actor.account_id, payload], [])
    db = session()
    result = tasks.confirm_task(db, actor, emergency_id, task_id, tasks.Confirmation(
        id=body.id, status=body.status, confirmed_at=body.confirmed_at, people=body.people,
        relocated_to=body.relocated_to, note=body.note), fingerprint)
    db.commit()
    if result.replayed:
        return {"task": result.task, "replayed": True}, 200
    return {"task": result.task, "replayed": False}, 201
