"""``GET /api/v1/versions``: the versions of the town's boundaries; ``/versions/{n}``: one
version with its grids; ``/versions/{a}/diff/{b}``: what changed between two
(boundaries/versions.py says what a version is)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from accounts.access import allow
from boundaries import versions
from boundaries.errors import VersionNotFound
from web.api import geojson, operation
from web.auth import current_actor
from web.database import session

# the planner, and those who answer for the whole town's or a village's grids
VERSION_ROLES = ("planner", "town_operator", "town_leader", "village_operator", "admin")


class VersionOut(BaseModel):
    number: int
    town_code: str
    effective_at: str = Field(description="when the version took (or takes) effect, ISO 8601")
    recorded_at: str
    note: str | None
    grids: int = Field(description="grids valid at effective_at")
    grid_rows_changed: int = Field(description="grid rows that began or ended at effective_at")
    in_force: bool = Field(description="effective_at has passed")


class VersionsOut(BaseModel):
    versions: list[VersionOut]


VERSION_GRIDS = geojson.feature_collection(
    geojson.feature({"type": "object", "properties": {
        "code": {"type": "string"}, "name": {"type": "string"},
        "level": {"type": "string", "enum": ["admin", "regional", "service"]},
        "parent_code": {"type": ["string", "null"]}, "zone_code": {"type": ["string", "null"]},
        "version": {"type": "integer", "description": "the grid's own row version"},
        "area_m2": {"type": "number"},
        "valid_from": {"type": "string", "description": "ISO 8601"},
        "valid_to": {"type": ["string", "null"], "description": "ISO 8601; null while current"},
    }}, geojson.geometry("Polygon", "MultiPolygon")),
    description="the version's grids, EPSG:4326, with the version under `version`")
# a version as the answers name it (boundaries/versions.py _public)
VERSION = {
    "type": "object", "required": ["number", "town_code", "effective_at", "recorded_at", "note"],
    "properties": {"number": {"type": "integer"}, "town_code": {"type": "string"},
                   "effective_at": {"type": "string"}, "recorded_at": {"type": "string"},
                   "note": {"type": ["string", "null"]}}}
VERSION_GRIDS["required"].append("version")
VERSION_GRIDS["properties"]["version"] = VERSION
# a grid at one side of a diff (boundaries/versions.py _side); null where the grid is absent
_SIDE = {
    "type": ["object", "null"],
    "required": ["name", "level", "parent_code", "zone_code", "row_version", "area_m2"],
    "properties": {"name": {"type": "string"},
                   "level": {"type": "string", "enum": ["admin", "regional", "service"]},
                   "parent_code": {"type": ["string", "null"]},
                   "zone_code": {"type": ["string", "null"]},
                   "row_version": {"type": "integer"}, "area_m2": {"type": "number"}}}
_OUTLINE = geojson.geometry("Polygon", "MultiPolygon")
_DIFFERENCE = {
    "type": "object",
    "required": ["code", "change", "changed", "name", "level", "a", "b", "area_change_m2",
                 "area_change_pct", "geometry", "geometry_a"],
    "properties": {
        "code": {"type": "string"},
        "change": {"type": "string", "enum": ["added", "removed", "changed"]},
        "changed": {"type": "array", "items": {
            "type": "string", "enum": ["geometry", "name", "level", "parent", "zone"]}},
        "name": {"type": "string"},
        "level": {"type": "string", "enum": ["admin", "regional", "service"]},
        "a": _SIDE, "b": _SIDE,
        "area_change_m2": {"type": ["number", "null"]},
        "area_change_pct": {"type": ["number", "null"]},
        "geometry": _OUTLINE,
        "geometry_a": {"oneOf": [{"type": "null"}, *_OUTLINE["oneOf"]]},
    },
}
DIFF = {
    "type": "object",
    "description": "versions a and b, counts by change, and per grid that differs: code, change "
                   "(added, removed, changed), changed (geometry, name, level, parent, zone), "
                   "name, level, a and b (each null where the grid is absent: name, level, "
                   "parent_code, zone_code, row_version, area_m2), area_change_m2, "
                   "area_change_pct, geometry (at b, or at a if removed) and geometry_a (at a, "
                   "when the outline changed), GeoJSON in EPSG:4326",
    "required": ["a", "b", "counts", "grids"],
    "properties": {"a": VERSION, "b": VERSION,
                   "counts": {"type": "object", "required": ["added", "removed", "changed"],
                              "properties": {k: {"type": "integer"}
                                             for k in ("added", "removed", "changed")}},
                   "grids": {"type": "array", "items": _DIFFERENCE}},
}


def _visible(number: int) -> int:
    """``number`` when the version is of the account's town; VersionNotFound otherwise (another
    town's versions are not named to it)."""
    # a village operator's versions are its town's: the grids of every version are the town's
    town = current_actor().town_code
    if town is not None and versions.get_version(session(), number)["town_code"] != town:
        raise VersionNotFound(f"there is no boundary version {number}", {"version": number})
    return number


@allow(*VERSION_ROLES)
@operation(
    "/versions", summary="The versions of the boundaries, oldest first", tags=["boundaries"],
    responses={200: ("every version of the account's town", VersionsOut)},
)
def list_versions():
    """Every version of the town's boundaries: a moment at which its grids or zones changed
    (a committed import, a published draft). Numbers are given in the order versions are
    recorded; a version whose effective time is still to come is not `in_force`."""
    rows = versions.list_versions(session(), current_actor().town_code)
    for r in rows:
        r["effective_at"] = r["effective_at"].isoformat()
        r["recorded_at"] = r["recorded_at"].isoformat()
    return {"versions": rows}


@allow(*VERSION_ROLES)
@operation(
    "/versions/<int:number>", summary="One version of the boundaries with its grids",
    tags=["boundaries"], responses={200: ("the version's grids as GeoJSON", VERSION_GRIDS)},
    errors={404: "version_not_found"},
)
def get_version(number: int):
    """The grids valid at the version's effective time, as GeoJSON, to draw on the map."""
    return versions.version_grids(session(), _visible(number))


@allow(*VERSION_ROLES)
@operation(
    "/versions/<int:a>/diff/<int:b>", summary="What changed between two versions",
    tags=["boundaries"], responses={200: ("the grids that differ", DIFF)},
    errors={404: "version_not_found", 422: "versions_of_different_towns"},
)
def diff_versions(a: int, b: int):
    """Grid by grid, from version `a` to version `b`: grids added, removed and changed (the
    outline, the name, the level, the parent or the zone), each with its area at both versions
    in m² (on the spheroid) and the change in m² and %. Swap a and b to read it backwards."""
    return versions.diff(session(), _visible(a), _visible(b))
