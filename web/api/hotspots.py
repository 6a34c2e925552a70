"""``GET /api/v1/hotspots``: Gi* hot and cold spots of cases for the operator map."""

from __future__ import annotations

from datetime import date
from typing import Literal

from flask import current_app
from pydantic import BaseModel, Field

from accounts.access import ANY_ACCOUNT, allow
from cases.categories import categories
from cases.errors import UnknownCategory
from cases.hotspots import MAX_CELL_PERMUTATIONS, case_hotspots
from geo.hotspots import DEFAULT_PERMUTATIONS
from web import database
from web.api import geojson, operation
from web.errors import ApiError
from web.database import replica_reads


class HotspotQuery(BaseModel):
    category: str | None = Field(None, max_length=40, description="category code or a checklist prefix (e.g. `hazard`)")
    since: date | None = Field(None, description="first day (created_at), inclusive")
    until: date | None = Field(None, description="last day (created_at), exclusive")
    cell_size: float = Field(
        250.0, ge=25, le=5000, allow_inf_nan=False,
        description=f"cell edge, metres. The cells over the town's bounding box may number at most "
                    f"{MAX_CELL_PERMUTATIONS // DEFAULT_PERMUTATIONS:,} (each is tested with "
                    f"{DEFAULT_PERMUTATIONS} permutations): a smaller cell is 422 `too_many_cells`, "
                    f"whose details name the smallest cell size for this town (162 m for the "
                    f"Bagong demo)",
        examples=[250.0, 25.0])
    aggregate: Literal["routed", "current"] | None = Field(
        None, description="also count the cases per grid, in `properties.grids` (code -> cases, "
                          "and those in hot and in cold cells) and `properties.none` (cases in "
                          "no grid): `routed`, in the grid each case was routed to (kept when it "
                          "closed, so a window spanning a change of the boundaries counts the "
                          "grids as they were); `current`, in today's grid that holds its point. "
                          "Absent: the cells only, which are by position and the same either way")


_TALLY = {"type": "object", "required": ["cases", "hot", "cold"], "properties": {
    "cases": {"type": "integer"}, "hot": {"type": "integer"}, "cold": {"type": "integer"}}}
_CLASS = {"type": "string", "enum": ["not_significant"] + [
    f"{kind}_{level}" for kind in ("hot", "cold") for level in (90, 95, 99)]}
HOTSPOTS_OUT = geojson.feature_collection(
    geojson.feature({"type": "object", "properties": {
        "count": {"type": "number", "description": "cases in the cell"},
        "z": {"type": "number", "description": "Gi* z-score"},
        "p": {"type": "number", "description": "pseudo p-value, FDR-adjusted (Benjamini-Hochberg)"},
        "p_sim": {"type": "number", "description": "pseudo p-value of the permutations"},
        "class": _CLASS}}, geojson.geometry("Polygon"), with_id=False),
    properties={"type": "object",
                "required": ["category", "since", "until", "cell_size_m", "cases",
                             "permutations", "seed", "aggregate", "classes"],
                "properties": {
                    "category": {"type": ["string", "null"]},
                    "since": {"type": ["string", "null"]}, "until": {"type": ["string", "null"]},
                    "cell_size_m": {"type": "number"}, "cases": {"type": "integer"},
                    "permutations": {"type": "integer"}, "seed": {"type": "integer"},
                    "aggregate": {"type": ["string", "null"], "enum": ["routed", "current", None]},
                    "classes": {"type": "object", "additionalProperties": {"type": "integer"},
                                "description": "cells per class"},
                    "grids": {"type": "object", "additionalProperties": _TALLY,
                              "description": "with `aggregate`: by grid code"},
                    "none": {**_TALLY, "description": "with `aggregate`: cases in no grid"}}},
    description="the cells in EPSG:4326; the collection's properties: the filters, and with "
                "`aggregate` the cases per grid")


@replica_reads
@allow(ANY_ACCOUNT)
@operation(
    "/hotspots", summary="Hot and cold spots of cases (Getis-Ord Gi*)", tags=["map"], query=HotspotQuery,
    responses={200: ("Gi* cells, as GeoJSON", HOTSPOTS_OUT)},
    errors={422: "a bad filter, cell size or aggregate, an unknown category, or `too_many_cells`: "
                 "a cell too small for the town (details: cells, max_cells, min_cell_size_m)"},
)
def get_hotspots(query: HotspotQuery):
    """Cases matching the filters are counted in square cells of `cell_size` metres over the
    town; each cell's Gi* (itself and its eight neighbours, binary weights) is tested with
    conditional permutations (999, refined where p is small), p-values are corrected with
    Benjamini-Hochberg, and cells are classed hot/cold at 99, 95 and 90 % confidence.
    Reproducible: the permutations use a fixed seed."""
    session = database.session()
    if query.category:
        known = categories(session)
        if query.category not in known:
            raise UnknownCategory(f"unknown category {query.category!r}", {"valid": sorted(known)})
    if query.since and query.until and query.until <= query.since:
        raise ApiError("`until` must be after `since`", code="invalid_query", status=422)
    result = case_hotspots(session, category=query.category, since=query.since, until=query.until,
                           cell_size_m=query.cell_size, aggregate=query.aggregate)
    return current_app.json.response(result)
