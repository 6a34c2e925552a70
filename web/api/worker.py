"""The grid worker's phone: ``GET /api/v1/worker/inbox`` (the account's open cases, nearest
first, with what the phone may do on each; cases/inbox.py) and ``GET /api/v1/worker/grids``
(the outlines of the account's grids, for its map and its offline copy)."""

from __future__ import annotations

from typing import Literal

from flask import current_app
from pydantic import BaseModel, Field, field_validator

from accounts.access import allow
from boundaries import repository as grids
from cases.inbox import ADMIN_SUFFIX, inbox
from geo.crs import POINT_CRS, to_wgs84
from web.api import geojson, operation
from web.api.transitions import ActionOut
from web.auth import current_actor
from web.database import session
from web.errors import ApiError
from web.i18n import STATUS

PHONE_ROLES = ("grid_worker", "auxiliary", "grid_leader")


class InboxQuery(BaseModel):
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False, examples=[112.8773],
                              description="where the phone is: longitude in `crs` (with `lat`)")
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False, examples=[35.6413],
                              description="latitude in `crs` (with `lon`)")
    crs: Literal[POINT_CRS] = Field(  # type: ignore[valid-type]
        "wgs84", description="wgs84 (default) | cgcs2000 | gcj02 | bd09, converted to WGS 84 as "
                             "/api/v1/locate does")

    @field_validator("crs", mode="before")
    @classmethod
    def _folded(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class InboxCase(BaseModel):
    id: int
    version: int = Field(description="send it back as If-Match when acting on the case")
    status: str
    status_zh: str
    category_code: str
    category_name_zh: str | None
    description: str | None
    address: str | None
    lon: float | None
    lat: float | None
    grid_code: str | None
    created_at: str | None
    due_at: str | None = Field(description="the handling deadline")
    time_left_s: float | None = Field(description="seconds until due_at, negative once passed")
    deadline_state: Literal["ok", "due_soon", "overdue"]
    card: Literal["yellow", "red"] | None = Field(description="the worst card, issued or due")
    distance_m: float | None = Field(description="geodesic, straight line, from the position")
    bearing_deg: float | None = Field(description="from the position, clockwise from north")
    actions: list[ActionOut] = Field(description="what GET /api/v1/cases/{id}/transitions "
                                                 "answers for the account now")


class InboxOut(BaseModel):
    at: str
    position: list[float] | None = Field(description="[lon, lat] in WGS 84, as converted")
    cases: list[InboxCase]


GRIDS_OUT = geojson.feature_collection(geojson.feature({"type": "object", "properties": {
    "code": {"type": "string"}, "name": {"type": "string"},
    "level": {"type": "string", "enum": ["admin", "regional", "service"]},
    "parent_code": {"type": ["string", "null"]},
}}, geojson.geometry("Polygon", "MultiPolygon")),
    description="the grids in EPSG:4326; the feature id is the grid code")


@allow(*PHONE_ROLES)
@operation(
    "/worker/inbox", summary="The account's open cases, nearest first, with their actions",
    tags=["worker"], query=InboxQuery, responses={200: ("the cases", InboxOut)},
    errors={422: "invalid_query: lon without lat (or lat without lon), a value out of range, "
                 "an unknown crs"},
)
def worker_inbox(query: InboxQuery):
    """A grid worker's cases are those assigned to its person in its grids; an auxiliary's
    those held by a person of its grids; a grid leader's its village's. Nearest first from
    `lon`/`lat` (geodesic metres, a straight line), by due moment without a position. Each case
    carries its version and the actions the account may take now, so the phone can act
    offline; its deadline state (ok, due_soon, overdue) and worst card."""
    if (query.lon is None) != (query.lat is None):
        missing = "lat" if query.lat is None else "lon"
        raise ApiError(f"a position needs both lon and lat: `{missing}` is missing",
                       [{"field": missing, "message": "give lon and lat together, or neither"}],
                       code="invalid_query", status=422)
    position = None
    if query.lon is not None:
        position = tuple(float(v) for v in to_wgs84(query.lon, query.lat, query.crs))
    out = inbox(session(), current_actor(), position=position)
    for case in out["cases"]:
        case["status_zh"] = STATUS["zh"].get(case["status"], case["status"])
    response = current_app.json.response(out)
    response.headers["Cache-Control"] = "no-store"
    return response


@allow(*PHONE_ROLES)
@operation(
    "/worker/grids", summary="The outlines of the account's grids", tags=["worker"],
    responses={200: ("a FeatureCollection", GRIDS_OUT)},
)
def worker_grids():
    """A grid worker's or an auxiliary's leaf grids; a grid leader's village (its
    administrative grid) and the village's leaf grids."""
    actor = current_actor()
    codes = sorted(actor.grid_codes) if actor.scope_kind == "grids" else []
    parents = []
    if actor.scope_kind == "village" and actor.scope_code:
        parents = [actor.scope_code + ADMIN_SUFFIX]
        codes = parents
    return current_app.json.response(grids.grids_of(session(), codes, parents))
