"""``GET /api/v1/geocode?q=`` and ``GET /api/v1/geocode/reverse?lon=&lat=[&crs=]``: Chinese
addresses to points against the standard address table, and back (geo.geocoder)."""

from __future__ import annotations

from typing import Literal

from flask import current_app
from pydantic import BaseModel, Field, field_validator

from accounts.access import PUBLIC, allow
from cases import geocoding
from geo.crs import POINT_CRS, to_wgs84
from web import database
from web.api import operation
from web.errors import ApiError


class GeocodeQuery(BaseModel):
    q: str = Field(min_length=1, max_length=200, examples=["巴公镇渠头村三组东大街12号"],
                   description="a free-text address, written any way people write one")

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the address is blank")
        return value


class Point(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(description="[lon, lat], WGS 84 (EPSG:4326)")


class ParsedOut(BaseModel):
    """What the parser read at each level (geo/address.py ParsedAddress; null where the text
    says nothing)."""

    province: str | None
    city: str | None
    county: str | None
    town: str | None
    village: str | None
    group: int | None
    street: str | None
    door_number: int | None
    door_sub: int | None = Field(description="12-1号: the 1")
    building: str | None
    unit: int | None
    room: int | None
    floor: int | None
    rest: str = Field(description="what follows the last part understood (附近, 门口, …)")
    normalised: str
    below_town: str = Field(description="the text after the administrative prefixes")
    bare_town: str | None = Field(description="a town named without 镇 (巴公)")


class GeocodeOut(BaseModel):
    query: str
    lon: float = Field(description="WGS 84")
    lat: float = Field(description="WGS 84")
    point: Point
    crs: Literal["EPSG:4326"] = Field(description="the CRS of lon, lat and point (WGS 84); the "
                                                  "input is text, so there is no input_crs")
    precision: Literal["door", "street", "village", "town"] = Field(
        description="door: the door number exists (or was interpolated between known neighbours, "
                    "`interpolated`); street: the street matched, not the door; village: only the "
                    "village or community; town: only the town")
    score: float = Field(ge=0, le=100, description="how sure the match is")
    matched: str = Field(description="the standard address, street, village or town matched")
    village_code: str | None
    village: str | None
    street: str | None
    door_number: int | None
    interpolated: bool
    address_id: int | None = Field(description="the standard address row, when exactly one matched")
    parsed: ParsedOut = Field(description="what the parser read at each level")


class ReverseQuery(BaseModel):
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="longitude in degrees, in `crs`",
                       examples=[112.9157])
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="latitude in degrees, in `crs`",
                       examples=[35.6425])
    crs: str = Field("wgs84", description="wgs84 | cgcs2000 | gcj02 (most Chinese map apps) | bd09 (Baidu)")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str) -> str:
        key = value.strip().lower()
        if key not in POINT_CRS:
            raise ValueError(f"{value!r} is not a supported CRS: use one of {', '.join(POINT_CRS)}")
        return key


class AddressOut(BaseModel):
    id: int
    full_text: str
    village: str | None
    village_code: str | None
    group_name: str | None
    street: str | None
    door_number: int | None
    building: str | None
    unit: str | None
    room: str | None
    grid_code: str | None
    lon: float = Field(description="WGS 84")
    lat: float = Field(description="WGS 84")


class ReverseOut(BaseModel):
    address: AddressOut
    distance_m: float = Field(description="from the (converted) point to the address, metres")
    lon: float = Field(description="the query point in WGS 84")
    lat: float = Field(description="the query point in WGS 84")
    crs: Literal["EPSG:4326"] = Field(description="the CRS of every lon, lat in the answer")
    input_crs: str = Field(description="the CRS the query point was sent in")


@allow(PUBLIC)
@operation(
    "/geocode", summary="Geocode a Chinese address", tags=["geocoding"], query=GeocodeQuery,
    responses={200: ("the point, its precision, score and the standard address matched", GeocodeOut)},
    errors={404: "address_not_found: not an address of this town", 422: "q missing, blank or over 200 characters"},
)
def get_geocode(query: GeocodeQuery):
    """Normalises the text (full-width, spaces, 号/#/-, Chinese numerals), parses it into
    town / village or community / group / street / door / building / unit / room, and matches
    it level by level against the standard address table, fuzzily (typos, a missing character,
    东街 for 东大街). An address elsewhere (another province, county, town, or a village we do
    not have) is not forced onto this town: it is 404."""
    result = geocoding.geocode(database.session(), query.q)
    if result is None:
        raise ApiError(f"no standard address of this town matches {query.q!r}", {"q": query.q},
                       code="address_not_found", status=404)
    body = {"query": query.q, **result.to_dict()}
    body["point"] = {"type": "Point", "coordinates": [body["lon"], body["lat"]]}
    body["crs"] = "EPSG:4326"
    return current_app.json.response(body)


@allow(PUBLIC)
@operation(
    "/geocode/reverse", summary="The standard address nearest a point", tags=["geocoding"], query=ReverseQuery,
    responses={200: ("the nearest standard address and its distance", ReverseOut)},
    errors={404: f"address_not_found: no standard address within {geocoding.REVERSE_MAX_DISTANCE_M:.0f} m",
            422: "lon or lat missing, not a number or out of range; an unknown crs"},
)
def get_reverse(query: ReverseQuery):
    """The point is converted to WGS 84 first (GCJ-02 and BD-09 with iterated inverses), then
    the nearest standard address is found; nothing farther than 2 km counts."""
    lon, lat = to_wgs84(query.lon, query.lat, query.crs)
    found = geocoding.reverse(database.session(), lon, lat)
    if found is None:
        raise ApiError(
            f"no standard address within {geocoding.REVERSE_MAX_DISTANCE_M:.0f} m of ({lon:.6f}, {lat:.6f})",
            {"lon": lon, "lat": lat, "max_distance_m": geocoding.REVERSE_MAX_DISTANCE_M},
            code="address_not_found", status=404,
        )
    row = found["address"]
    address = {k: row.get(k) for k in AddressOut.model_fields}
    address["lon"], address["lat"] = round(float(row["lon"]), 7), round(float(row["lat"]), 7)
    return current_app.json.response({
        "address": address, "distance_m": round(found["distance_m"], 2),
        "lon": round(lon, 7), "lat": round(lat, 7), "crs": "EPSG:4326", "input_crs": query.crs,
    })
