"""The shapes of the emergencies API's answers (web/api/emergencies.py): documentation for
the OpenAPI document, built from what emergencies/service.py, emergencies/tasks.py and
emergencies/emergencies.sql return; tests/test_emergencies.py checks real answers against
them. The views answer the service's dicts as they are: these models do not serialise them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from emergencies import area as areas
from web.api.geojson import geometry

# the area as given (AreaIn.geojson): what emergencies/area.py takes apart, and so what the
# document may promise; its own messages say what is wrong with the rest
AREA_GEOJSON = {
    "type": "object", "required": ["type"],
    "description": "a GeoJSON geometry (Polygon, MultiPolygon; Point, MultiPoint, LineString, "
                   "MultiLineString with buffer_m), or a Feature, FeatureCollection or "
                   "GeometryCollection of them, lon/lat in WGS 84",
    "properties": {
        "type": {"enum": [*areas.POLYGONS, *areas.LINES_POINTS, "Feature", "FeatureCollection",
                          "GeometryCollection"]},
        "coordinates": {"type": "array"}, "geometry": {"type": ["object", "null"], "required": ["type"],
                                              "properties": {"type": {"type": "string"}}},
        "features": {"type": "array"}, "geometries": {"type": "array"}},
}


# the resolved area (emergencies/area.py: always one MultiPolygon)
AREA = Annotated[dict[str, Any], WithJsonSchema(geometry("MultiPolygon"))]
# the area as asked for (emergencies/area.py AreaSpec.as_json: the keys given, no others)
AREA_SPEC = Annotated[dict[str, Any], WithJsonSchema({
    "type": "object", "description": "the area as it was asked for (AreaIn): the keys given",
    "properties": {"geojson": AREA_GEOJSON, "grid": {"type": "string"},
                   "village": {"type": "string"}, "buffer_m": {"type": "number"}}})]
KIND = Literal["evacuate", "confirm_safe", "count", "notify"]  # emergencies/service.py KINDS
TARGET_TYPE = Literal["household", "enterprise", "hazard"]
TASK_STATUS = Literal["open", "safe", "relocated", "unreachable"]


class _AreaCounts(BaseModel):
    """What a part of the area holds (emergencies/service.py _SUM_FIELDS, and the targets)."""

    households: int
    residents: int
    vulnerable: int
    elderly_alone: int
    disabled: int
    bedridden: int
    children_unattended: int
    enterprises: int
    employees: int
    hazards: int
    targets: int


class PreviewGrid(_AreaCounts):
    """A grid's share of what the area holds (emergencies.sql preview, grid_rows)."""

    grid_code: str
    grid_name: str | None = Field(description="null when the grid is no longer current")
    village_name: str | None
    person_id: int | None = Field(description="the grid worker answering for it; null: none")
    worker_name: str | None
    worker_phone: str | None
    auxiliaries: int


class PreviewWorker(_AreaCounts):
    """A grid worker's sum over their grids in the area (null person: grids without one)."""

    person_id: int | None
    name: str | None
    phone: str | None
    grids: list[str]


class PreviewHousehold(BaseModel):
    """A household with vulnerable residents, to draw (emergencies.sql preview)."""

    id: int
    name: str
    address: str
    grid_code: str
    residents: int
    vulnerable: int
    elderly_alone: int
    disabled: int
    bedridden: int
    children_unattended: int
    lon: float
    lat: float


class PreviewOut(BaseModel):
    area: AREA
    area_km2: float
    totals: dict[str, int]
    grids: list[PreviewGrid]
    workers: list[PreviewWorker]
    vulnerable: list[PreviewHousehold] = Field(description="most vulnerable first, at most "
                                                           "2,000")


class EmergencyOut(BaseModel):
    """An emergency as its board heads it (emergencies/service.py)."""

    id: int
    name: str
    kind: KIND
    kind_zh: str | None
    instructions: str | None
    area_spec: AREA_SPEC
    area: AREA = Field(description="the area as a GeoJSON geometry, EPSG:4326")
    area_km2: float
    created_at: str
    created_by: str | None
    closed_at: str | None = Field(description="null while open")
    closed_by: str | None
    summary: str | None = Field(description="the closing summary")
    final_figures: dict[str, int] | None = Field(description="the totals at closing")


class _Progress(BaseModel):
    targets: int
    confirmed: int
    households: int
    households_confirmed: int
    households_relocated: int
    residents: int
    people_relocated: int
    people_safe: int
    unreachable: int
    vulnerable: int
    vulnerable_not_reached: int
    to_go: int


class ProgressGrid(_Progress):
    grid_code: str
    grid_name: str | None = Field(description="null when the grid is no longer current")
    workers: list[str | None] = Field(description="names; null for tasks without a worker")


class ProgressWorker(_Progress):
    person_id: int | None = Field(description="null: the tasks of grids without a worker")
    name: str | None
    grids: list[str]


class TimelineMinute(BaseModel):
    minute: str = Field(description="the minute confirmations were received, ISO 8601")
    confirmed: int
    relocated: int
    people_relocated: int


class RecentConfirmation(BaseModel):
    id: int
    target_type: TARGET_TYPE
    name: str | None
    grid_code: str
    status: TASK_STATUS
    people: int | None
    relocated_to: str | None
    confirmed_at: str | None
    received_at: str
    confirmed_by_name: str | None


class TaskPoint(BaseModel):
    id: int
    target_type: TARGET_TYPE
    status: TASK_STATUS
    vulnerable: int
    grid_code: str
    lon: float
    lat: float


class ProgressOut(BaseModel):
    emergency: EmergencyOut
    totals: dict[str, int]
    grids: list[ProgressGrid]
    workers: list[ProgressWorker]
    timeline: list[TimelineMinute]
    recent: list[RecentConfirmation]
    tasks: list[TaskPoint] | None = Field(None, description="with tasks=true only")


class EmergencyListItem(BaseModel):
    id: int
    name: str
    kind: KIND
    kind_zh: str | None
    created_at: str
    closed_at: str | None
    tasks: int
    confirmed: int


class EmergenciesOut(BaseModel):
    emergencies: list[EmergencyListItem]


class _Task(BaseModel):
    """A task as emergencies/tasks.py task_out gives it."""

    id: int
    emergency_id: int
    target_type: TARGET_TYPE
    target_id: int
    name: str | None
    address: str | None
    grid_code: str
    person_id: int | None
    residents: int
    vulnerable: int
    status: TASK_STATUS
    people: int | None
    relocated_to: str | None
    lon: float
    lat: float
    confirmed_at: str | None


class WorkerTask(_Task):
    emergency_name: str
    kind: KIND
    instructions: str | None
    distance_m: float | None = Field(description="geodesic metres from lon, lat; null without")


class TasksOut(BaseModel):
    at: str
    tasks: list[WorkerTask]


class ConfirmedTask(_Task):
    note: str | None
    received_at: str | None
    confirmed_by_name: str | None


class TaskConfirmed(BaseModel):
    task: ConfirmedTask
    replayed: bool = False
