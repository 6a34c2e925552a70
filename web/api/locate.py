"""``GET /api/v1/locate?lon=&lat=[&crs=]``: the grid hierarchy at a point (boundaries.locate)."""

from __future__ import annotations

from typing import Literal

from flask import current_app
from pydantic import BaseModel, Field, field_validator

from accounts import privacy
from accounts.access import PUBLIC, allow
from boundaries.locate import TIE_RULE, locate
from geo.crs import POINT_CRS, to_wgs84
from web import database
from web.api import operation
from web.auth import current_actor


class LocateQuery(BaseModel):
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, examples=[112.8773],
                       description="longitude in degrees, in `crs`")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, examples=[35.6413],
                       description="latitude in degrees, in `crs`")
    crs: Literal[POINT_CRS] = Field(  # type: ignore[valid-type]
        "wgs84", description="wgs84 (default) | cgcs2000 (equal to WGS 84) | gcj02 (most Chinese "
                             "map apps) | bd09 (Baidu); GCJ-02 and BD-09 are converted to WGS 84 "
                             "(iterated inverse, under a millimetre) before routing")

    @field_validator("crs", mode="before")
    @classmethod
    def _folded(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class Unit(BaseModel):
    code: str
    name: str | None


class Zone(Unit):
    kind: Literal["village", "enterprise"]


class AdminGrid(Unit):
    version: int | None = Field(description="the boundary version routed against")
    valid_from: str | None = Field(description="when that version took effect (ISO 8601)")


class LeafGrid(AdminGrid):
    level: Literal["regional", "service"]


class Worker(BaseModel):
    id: int
    name: str
    phone: str | None
    title: str | None


class Leader(BaseModel):
    id: int
    name: str
    phone: str | None


class LonLat(BaseModel):
    lon: float
    lat: float


class InputPoint(LonLat):
    crs: str


class LocateOut(BaseModel):
    input: InputPoint = Field(description="the point as sent")
    wgs84: LonLat = Field(description="the point routed, in WGS 84")
    town: Unit
    zone: Zone | None = Field(description="the leaf grid's zone (else the admin grid's)")
    admin: AdminGrid
    leaf: LeafGrid | None = Field(description="null where imported data leave a gap between "
                                              "leaf grids: the admin grid answers")
    workers_on_duty: list[Worker] = Field(description="the leaf grid's grid workers on duty")
    leader: Leader | None = Field(description="the admin grid's leader (网格长)")
    on_boundary: bool = Field(description="the point lies on the boundary of the grid it got")
    candidates: list[str] = Field(description="every grid of the chosen level covering the point")
    rule: str | None = Field(description="the tie rule, when on_boundary")


@allow(PUBLIC)
@operation(
    "/locate", summary="The grid hierarchy at a point", tags=["routing"], query=LocateQuery,
    responses={200: ("town, zone, admin grid, leaf grid, workers on duty, boundary versions",
                     LocateOut)},
    errors={404: "outside_coverage: no grid covers the point; details name the nearest grid "
                 "and its distance in metres",
            422: "lon or lat missing, not a number or out of range; crs not one of "
                 + ", ".join(POINT_CRS)},
)
def get_locate(query: LocateQuery):
    """ST_Covers against the boundaries valid now: a point on a boundary is inside. A point on
    an edge or vertex shared by several leaf grids goes to the grid with the **smallest code**
    (a fixed rule, the same in bulk routing), with `on_boundary: true` and every covering grid
    in `candidates`. A point in an admin grid but in none of its leaf grids (a gap in imported
    data) gets `leaf: null`. A point no grid covers is 404 `outside_coverage`, naming the
    nearest grid and its geodesic distance in metres. The workers' and the leader's phones are
    masked (138****5678) except for staff whose scope covers their grid."""
    lon, lat = to_wgs84(query.lon, query.lat, query.crs)
    found = locate(database.session(autocommit=True), lon, lat)
    body = found.to_dict()
    del body["lon"], body["lat"]
    # the workers' phones in full only to staff whose scope covers their grid (accounts/privacy.py)
    actor = current_actor()
    town = (body.get("town") or {}).get("code")
    leaf_visible = privacy.sees_work_phone(actor, town_code=town,
                                           grid_code=(body.get("leaf") or {}).get("code"))
    body["workers_on_duty"] = [privacy.work_contact(w, leaf_visible)
                               for w in body["workers_on_duty"]]
    body["leader"] = privacy.work_contact(body["leader"], privacy.sees_work_phone(
        actor, town_code=town, grid_code=(body.get("admin") or {}).get("code")))
    return current_app.json.response({
        "input": {"lon": query.lon, "lat": query.lat, "crs": query.crs},
        "wgs84": {"lon": round(lon, 9), "lat": round(lat, 9)},
        **body,
        "rule": TIE_RULE if found.on_boundary else None,
    })
