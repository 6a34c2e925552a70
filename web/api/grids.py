"""``GET /api/v1/grids``: the current grids as GeoJSON; ``/grids/stats``: every grid's numbers
for the operator map's choropleth; ``/grids/{code}``: one grid with its people and numbers.

Values are raw (not HTML-escaped): JSON consumers put them into pages as text.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from flask import current_app
from pydantic import BaseModel, Field

from accounts import privacy
from accounts.access import PUBLIC, allow
from boundaries import repository
from cases import stats
from web.api import geojson, operation
from web.auth import current_actor
from web.database import replica_reads, session
from web.errors import ApiError

GRID_CODE = re.compile(r"^\d{9,20}$")


class GridsQuery(BaseModel):
    level: Literal["admin", "regional", "service"] | None = Field(
        None, description="one grid level; every level when absent")


class StatsQuery(BaseModel):
    since: date | None = Field(None, description="first local day (Asia/Shanghai) of the window "
                                                 "for `cases` and `cases_per_1000`, inclusive; "
                                                 "default 30 days before `until`")
    until: date | None = Field(None, description="last local day, exclusive; default now")
    aggregate: Literal["routed", "current"] = Field(
        "routed", description="where a case counts when the boundaries changed since it was "
                              "routed: `routed`, the grid it was routed to (kept when it "
                              "closed); `current`, today's grid that holds its point (a case "
                              "matched only to a village: that village's grid; no point, or "
                              "outside today's grids: `none`)")


GRID_NUMBERS = {
    "type": "object",
    "description": "open and overdue: cases now; cases: created in the window; households and "
                   "residents recorded in the grid (a village: with its leaf grids); workers and "
                   "workers_on_duty: grid-worker posts; households_per_worker: the mean load of "
                   "the grid's on-duty workers (null without one); cases_per_1000: cases in the "
                   "window per 1,000 residents (null without residents)",
    "properties": {k: {"type": t} for k, t in {
        "code": "string", "level": "string", "parent_code": ["string", "null"], "open": "integer",
        "overdue": "integer", "cases": "integer", "households": "integer",
        "residents": "integer", "workers": "integer", "workers_on_duty": "integer",
        "households_per_worker": ["number", "null"], "cases_per_1000": ["number", "null"],
    }.items()},
}
# cases counted in no current grid (cases/stats.py unplaced)
UNPLACED = {"type": "object", "required": ["open", "overdue", "cases"],
            "properties": {k: {"type": "integer"} for k in ("open", "overdue", "cases")}}
STATS_OUT = {
    "type": "object",
    "properties": {
        "since": {"type": "string"}, "until": {"type": "string"}, "as_of": {"type": "string"},
        "aggregate": {"type": "string", "enum": ["routed", "current"]},
        "grids": {"type": "object", "additionalProperties": GRID_NUMBERS,
                  "description": "by grid code"},
        "none": {**UNPLACED, "description": "open, overdue and cases counted in no "
                                                  "current grid (routed: routed to none, or "
                                                  "to grids no longer current; current: no "
                                                  "point, or outside today's grids)"},
        "retired": {"type": "object", "additionalProperties": UNPLACED,
                    "description": "routed only: open, overdue and cases "
                                                     "of the grids no longer current they were "
                                                     "routed to, by code (counted in their "
                                                     "village when it is current)"},
    },
}

_LEVEL = {"type": "string", "enum": ["admin", "regional", "service"]}
_CODE_OR_NULL = {"type": ["string", "null"]}
_AREA = geojson.geometry("Polygon", "MultiPolygon")
GRIDS_OUT = geojson.feature_collection(geojson.feature({"type": "object", "properties": {
    "code": {"type": "string"}, "name": {"type": "string"}, "level": _LEVEL,
    "parent_code": _CODE_OR_NULL, "zone_code": _CODE_OR_NULL, "version": {"type": "integer"},
    "leaders": {"type": "array", "items": {"type": "string"}, "description": "names"},
    "workers": {"type": "array", "items": {"type": "string"}, "description": "names"},
    "worker_count": {"type": "integer"}, "workers_on_duty": {"type": "integer"},
    "households": {"type": "integer", "description": "a village: with its leaf grids'"},
}}, _AREA), description="the current grids, EPSG:4326; the feature id is the grid code")
PERSON_POSTED = {"type": "object", "required": ["grid_code", "post", "id", "name", "on_duty"],
                 "properties": {
                     "grid_code": {"type": "string"},
                     "post": {"type": "string",
                              "enum": ["leader", "worker", "liaison", "auxiliary"]},
                     "id": {"type": "integer"}, "name": {"type": "string"},
                     "title": {"type": ["string", "null"]},
                     "phone": {"type": ["string", "null"]}, "on_duty": {"type": "boolean"}}}
GRID_OUT = geojson.feature({"type": "object", "properties": {
    "code": {"type": "string"}, "name": {"type": "string"}, "level": _LEVEL,
    "parent_code": _CODE_OR_NULL, "parent_name": _CODE_OR_NULL, "zone_code": _CODE_OR_NULL,
    "zone_name": _CODE_OR_NULL, "town_code": {"type": "string"},
    "town_name": {"type": "string"}, "version": {"type": "integer"},
    "valid_from": {"type": ["string", "null"], "description": "ISO 8601"},
    "valid_to": {"type": ["string", "null"], "description": "ISO 8601; null while current"},
    "people": {"type": "array", "items": PERSON_POSTED,
               "description": "the posts of the grid (a village: of its leaf grids too; a leaf "
                              "grid: its village's grid leader too), leaders first"},
    "numbers": {"anyOf": [GRID_NUMBERS, {"type": "null"}],
                "description": "as in /grids/stats"},
    "since": {"type": "string"}, "until": {"type": "string"},
    "aggregate": {"type": "string", "enum": ["routed", "current"]},
    "links": {"type": "object", "required": ["cases", "cases_api"], "properties": {
        "cases": {"type": "string"}, "cases_api": {"type": "string"}}},
}}, _AREA, description="one grid's current version, EPSG:4326; the feature id is its code")


def numbers(window: stats.Window, code: str | None = None,
            aggregate: str = "routed") -> tuple[dict, list[dict]]:
    """Every current grid's numbers over ``window`` (see cases/stats.py), and the case counts
    they come from; with ``code``, only that grid's cases are counted (the others' numbers then
    lack their cases). ``aggregate``: where a case counts (cases/stats.py, "History")."""
    db = session()
    grids = repository.current_grids(db)
    codes = None
    if code is not None:
        codes = [code] + [g["code"] for g in grids if g["parent_code"] == code]
    counts = stats.case_counts_by_grid(db, window, stats.local_now(), grid_codes=codes,
                                       aggregate=aggregate)
    return stats.grid_numbers(
        grids, repository.households_by_grid(db), repository.worker_posts(db), counts), counts


@replica_reads
@allow(PUBLIC)
@operation(
    "/grids", summary="The current grids as GeoJSON", tags=["map"], query=GridsQuery,
    responses={200: ("a FeatureCollection (EPSG:4326)", GRIDS_OUT)},
    errors={422: "invalid_query: a level that is not admin, regional or service"},
)
def list_grids(query: GridsQuery):
    """Administrative grids (villages), then regional and service grids, by code."""
    return current_app.json.response(repository.grids_geojson(session(), query.level))


@replica_reads
@allow(PUBLIC)
@operation(
    "/grids/stats", summary="Every grid's numbers for the choropleth", tags=["map"],
    query=StatsQuery, responses={200: ("numbers by grid code", STATS_OUT)},
    errors={422: "invalid_query: a day that is not YYYY-MM-DD, outside 1900-01-01 .. "
                 "3000-01-01, or `until` not after `since`"},
)
def grid_stats(query: StatsQuery):
    """Open and overdue cases now; cases created in the window (by default the last 30 days)
    and per 1,000 residents; households, residents, grid workers and those on duty, and
    households per on-duty grid worker. A window that spans a change of the boundaries counts
    each case in the grid it was routed to, or with `aggregate=current` in today's grid that
    holds its point; what no current grid counts is under `none`."""
    # a day out of range, or `until` not after `since`: StatsWindowError, 422 invalid_query
    window = stats.Window.of_days(query.since, query.until)
    grids, counts = numbers(window, aggregate=query.aggregate)
    none, retired = stats.unplaced(counts, grids)
    return {"since": window.since.isoformat(), "until": window.until.isoformat(),
            "as_of": stats.local_now().isoformat(), "aggregate": query.aggregate,
            "grids": grids, "none": none, "retired": retired}


@replica_reads
@allow(PUBLIC)
@operation(
    "/grids/<code>", summary="One grid: its place, people and numbers", tags=["map"],
    query=StatsQuery,
    responses={200: ("a GeoJSON Feature (EPSG:4326)", GRID_OUT)},
    errors={404: "grid_not_found", 422: "invalid_grid_code or invalid_query"},
)
def get_grid(code: str, query: StatsQuery):
    """The grid's current version with its village and zone, the people posted to it (for a
    village, to its leaf grids too; leaders first), and its numbers over the window. A
    person's phone is masked (138****5678) except for staff whose scope covers their post."""
    if not GRID_CODE.match(code):
        raise ApiError(f"{code!r} is not a grid code: 9 to 20 digits",
                       {"code": code}, code="invalid_grid_code", status=422)
    # a day out of range, or `until` not after `since`: StatsWindowError, 422 invalid_query
    window = stats.Window.of_days(query.since, query.until)
    db = session()
    feature = repository.grid_feature(db, code)
    if feature is None:
        raise ApiError(f"there is no current grid with code {code!r}", {"code": code},
                       code="grid_not_found", status=404)
    props = feature["properties"]
    # each person's phone in full only to staff whose scope covers their post (accounts/privacy.py)
    actor = current_actor()
    props["people"] = [
        privacy.work_contact(p, privacy.sees_work_phone(actor, town_code=props.get("town_code"),
                                                       grid_code=p["grid_code"]))
        for p in repository.grid_people(db, code)]
    props["numbers"] = numbers(window, code, query.aggregate)[0].get(code)
    props["since"], props["until"] = window.since.isoformat(), window.until.isoformat()
    props["aggregate"] = query.aggregate
    props["links"] = {"cases": f"/cases?grid={code}", "cases_api": f"/api/v1/cases?grid={code}"}
    return current_app.json.response(feature)
