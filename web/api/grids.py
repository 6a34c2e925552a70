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

from accounts.access import PUBLIC, allow
from boundaries import repository
from cases import stats
from web.api import operation
from web.database import session
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
STATS_OUT = {
    "type": "object",
    "properties": {
        "since": {"type": "string"}, "until": {"type": "string"}, "as_of": {"type": "string"},
        "grids": {"type": "object", "additionalProperties": GRID_NUMBERS,
                  "description": "by grid code"},
    },
}


def _window(since: date | None, until: date | None) -> stats.Window:
    try:
        return stats.Window.of_days(since, until)
    except ValueError as exc:
        raise ApiError(str(exc), [{"field": "until", "message": str(exc)}],
                       code="invalid_query", status=422) from exc


def numbers(window: stats.Window, code: str | None = None) -> dict:
    """Every current grid's numbers over ``window`` (see cases/stats.py); with ``code``, only
    that grid's cases are counted (the others' numbers then lack their cases)."""
    db = session()
    grids = repository.current_grids(db)
    codes = None
    if code is not None:
        codes = [code] + [g["code"] for g in grids if g["parent_code"] == code]
    counts = stats.case_counts_by_grid(db, window, stats.local_now(), grid_codes=codes)
    return stats.grid_numbers(
        grids, repository.households_by_grid(db), repository.worker_posts(db), counts)


@allow(PUBLIC)
@operation(
    "/grids", summary="The current grids as GeoJSON", tags=["map"], query=GridsQuery,
    responses={200: ("a FeatureCollection (EPSG:4326); properties code, name, level, parent_code, "
                     "zone_code, version, leaders, workers, worker_count, workers_on_duty, "
                     "households", None)},
    errors={422: "invalid_query: a level that is not admin, regional or service"},
)
def list_grids(query: GridsQuery):
    """Administrative grids (villages), then regional and service grids, by code."""
    return current_app.json.response(repository.grids_geojson(session(), query.level))


@allow(PUBLIC)
@operation(
    "/grids/stats", summary="Every grid's numbers for the choropleth", tags=["map"],
    query=StatsQuery, responses={200: ("numbers by grid code", STATS_OUT)},
    errors={422: "invalid_query: a day that is not YYYY-MM-DD, or `until` not after `since`"},
)
def grid_stats(query: StatsQuery):
    """Open and overdue cases now; cases created in the window (by default the last 30 days)
    and per 1,000 residents; households, residents, grid workers and those on duty, and
    households per on-duty grid worker."""
    window = _window(query.since, query.until)
    return {"since": window.since.isoformat(), "until": window.until.isoformat(),
            "as_of": stats.local_now().isoformat(), "grids": numbers(window)}


@allow(PUBLIC)
@operation(
    "/grids/<code>", summary="One grid: its place, people and numbers", tags=["map"],
    query=StatsQuery,
    responses={200: ("a GeoJSON Feature; properties: code, name, level, parent_code, parent_name, "
                     "zone_code, zone_name, town_code, town_name, version, valid_from, valid_to, "
                     "people [{grid_code, post, id, name, title, phone, on_duty}], numbers "
                     "(as in /grids/stats), since, until, links", None)},
    errors={404: "grid_not_found", 422: "invalid_grid_code or invalid_query"},
)
def get_grid(code: str, query: StatsQuery):
    """The grid's current version with its village and zone, the people posted to it (for a
    village, to its leaf grids too; leaders first), and its numbers over the window."""
    if not GRID_CODE.match(code):
        raise ApiError(f"{code!r} is not a grid code: 9 to 20 digits",
                       {"code": code}, code="invalid_grid_code", status=422)
    window = _window(query.since, query.until)
    db = session()
    feature = repository.grid_feature(db, code)
    if feature is None:
        raise ApiError(f"there is no current grid with code {code!r}", {"code": code},
                       code="grid_not_found", status=404)
    props = feature["properties"]
    props["people"] = repository.grid_people(db, code)
    props["numbers"] = numbers(window, code).get(code)
    props["since"], props["until"] = window.since.isoformat(), window.until.isoformat()
    props["links"] = {"cases": f"/cases?grid={code}", "cases_api": f"/api/v1/cases?grid={code}"}
    return current_app.json.response(feature)
