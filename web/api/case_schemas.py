"""The shapes of the cases API: the report a client sends (validated by pydantic, with a
message per field) and the answers the views build (documentation for the OpenAPI document;
the tests validate real answers against them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cases.deadlines import LOCAL_TZ
from cases.models import CHANNELS, LIMIT_UNITS, STATES
from geo.crs import POINT_CRS, point_crs_name

# -- the report ---------------------------------------------------------------------------

# Occurrence times a little ahead of the server's clock are a phone's clock drift, not a lie.
CLOCK_SKEW = timedelta(minutes=5)


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: float = Field(strict=True, ge=-180, le=180, allow_inf_nan=False,
                       description="longitude in degrees, in `crs`", examples=[112.8712])
    lat: float = Field(strict=True, ge=-90, le=90, allow_inf_nan=False,
                       description="latitude in degrees, in `crs`", examples=[35.6381])
    crs: str = Field("wgs84", json_schema_extra={"enum": list(POINT_CRS)},
                     description="wgs84 | cgcs2000 (the same for us) | gcj02 (most Chinese map "
                                 "apps) | bd09 (Baidu); converted to WGS 84 before routing")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str) -> str:
        try:
            name = point_crs_name(value)
        except ValueError:
            name = None
        if name not in POINT_CRS:
            raise ValueError(f"{value!r} is not a supported CRS: use one of {', '.join(POINT_CRS)}")
        return name


class ReporterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=50)
    phone: str | None = Field(None, pattern=r"^\+?[0-9][0-9 -]{4,28}$", examples=["13512345678"])


class CaseIn(BaseModel):
    """A report: exactly one of ``location`` and ``address``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=40, examples=["patrol.exposed_rubbish"],
                          description="a code from GET /api/v1/categories")
    description: str = Field(min_length=1, max_length=2000)
    location: LocationIn | None = Field(None, description="where, as coordinates")
    address: str | None = Field(None, min_length=2, max_length=200,
                                examples=["巴公镇渠头村三组东大街12号"],
                                description="where, as a Chinese address (geocoded)")
    channel: Literal[CHANNELS]  # type: ignore[valid-type]
    reporter: ReporterIn | None = None
    occurred_at: datetime | None = Field(
        None, description="ISO 8601; without an offset it is taken as local time (UTC+8); "
                          "at most 5 minutes in the future")

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("send occurred_at as ISO 8601 text, e.g. 2025-10-09T08:30:00+08:00")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=LOCAL_TZ)
        if value > datetime.now(LOCAL_TZ) + CLOCK_SKEW:
            raise ValueError(f"{value.isoformat()} is in the future")
        return value


# -- the answers (documentation of the JSON the views build) ------------------------------


class NamedUnit(BaseModel):
    code: str
    name: str


class ZoneOut(NamedUnit):
    kind: str


class AdminOut(NamedUnit):
    version: int
    valid_from: str


class LeafOut(AdminOut):
    level: Literal["regional", "service"]


class Hierarchy(BaseModel):
    town: NamedUnit
    zone: ZoneOut | None
    admin: AdminOut | None = Field(description="null when the case waits in the town center's queue")
    leaf: LeafOut | None = Field(description="null unless routed to a leaf grid")


class AssigneeOut(BaseModel):
    id: int
    name: str
    phone: str | None
    title: str | None


class CaseGeocodeOut(BaseModel):
    precision: Literal["point", "door", "street", "village", "town"] | None
    score: float | None
    matched: str | None
    input_crs: str | None
    lon: float | None = Field(description="WGS 84")
    lat: float | None = Field(description="WGS 84")


class TimeLimitOut(BaseModel):
    """The category's time limit the case was given (cases/intake.py)."""

    value: int
    unit: Literal[LIMIT_UNITS]  # type: ignore[valid-type]


class DeadlinesOut(BaseModel):
    dispatch_due_at: str | None = Field(description="file and dispatch by (10 min urgent, 30 min otherwise)")
    due_at: str | None = Field(description="handled by, from the category's time limit over the business calendar")
    time_limit: TimeLimitOut | None = Field(description="the category's, when the case was "
                                                        "received")


class CategoryRef(BaseModel):
    code: str
    name_zh: str | None
    name_en: str | None


class CaseOut(BaseModel):
    id: int
    status: Literal[STATES]  # type: ignore[valid-type]
    category: CategoryRef
    grid: Hierarchy | None
    queue: Literal["grid", "village", "town"] | None
    assignee: AssigneeOut | None
    assignment_reason: str | None
    geocode: CaseGeocodeOut
    routing_reason: str | None
    on_boundary: bool | None
    deadlines: DeadlinesOut
    created_at: str
    probable_duplicate_of: int | None = Field(
        description="the nearest open case of the same category within 50 m and 24 h when this "
                    "one came in: probably the same matter (an operator merges or dismisses)")
    supporters: int = Field(description="reporters of duplicates merged into this case (\"+N\")")
    links: dict[str, str]


class EventOut(BaseModel):
    id: int
    at: str
    type: str
    from_status: str | None
    to_status: str | None
    actor: str | None
    data: dict | None = Field(description="what the event carried; differs by type")
    role: str | None = Field(None, description="the actor's role (workflow events)")
    note: str | None = Field(None, description="the reason or note given with the action")
    lon: float | None = Field(None, description="where it was done (WGS 84), when known")
    lat: float | None = None
    photo_ids: list[int] | None = Field(None, description="photos sent with the action")


class PhotoOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: str
    publishable: bool = Field(description="an operator marked it fit for the public board")
    public_url: str | None = Field(description="where the public board serves it; null unless publishable")
    url: str


class CardOut(BaseModel):
    """A deadline signal or card the supervision pass issued (cases/supervision.py)."""

    signal: Literal["due_soon", "overdue", "yellow", "red"]
    clock: str | None
    deadline_id: int | None
    moment: str | None
    issued_at: str
    event_id: int


class LonLatOut(BaseModel):
    lon: float = Field(description="WGS 84")
    lat: float


class ReporterOut(BaseModel):
    name: str | None
    phone: str | None


class CaseDetailOut(CaseOut):
    description: str
    channel: str
    address: str | None
    location: LonLatOut | None
    grid_code: str | None
    admin_code: str | None
    grid_version: int | None
    reporter: ReporterOut = Field(description="{name, phone}: masked (张*, 138****5678) unless the "
                                              "request gave a `reason` (accounts/privacy.py)")
    occurred_at: str | None
    updated_at: str | None
    closed_at: str | None
    events: list[EventOut]
    photos: list[PhotoOut]
    cards: list[CardOut]
    worst_card: Literal["due_soon", "overdue", "yellow", "red"] | None
    personal_data: Literal["masked", "full"] = Field(
        description="masked: the reporter's contact, the supporters' and the numbers in the "
                    "description are masked; full: shown in full, this read written to the "
                    "audit log (audit_id)")
    audit_id: int | None = Field(description="the audit log's row of this read, when full")


class CaseReadQuery(BaseModel):
    reason: str | None = Field(
        None, description="why the reporter's full contact is needed (2 to 200 characters, e.g. "
                          "回访核实诉求): with it the answer shows the reporter's name and phone in "
                          "full and the read is written to the audit log (who, when, from where, "
                          "why); without it they are masked",
        examples=["回访核实诉求"])


class ListAssigneeOut(BaseModel):
    id: int
    name: str


class CaseListItem(BaseModel):
    id: int
    category: str
    status: str
    channel: str
    grid_code: str | None
    admin_code: str | None
    queue: str | None
    assignee: ListAssigneeOut | None
    geocode_precision: str | None
    location: LonLatOut | None
    created_at: str
    dispatch_due_at: str | None
    due_at: str | None
    links: dict[str, str]


class CaseListOut(BaseModel):
    items: list[CaseListItem]
    next_cursor: int | None = Field(description="pass as ?cursor= for the next page; null at the end")


# -- the list's query ---------------------------------------------------------------------


class CaseListQuery(BaseModel):
    status: Literal[STATES] | None = Field(None, description="a workflow state")  # type: ignore[valid-type]
    grid: str | None = Field(None, pattern=r"^\d{9,20}$", description="a leaf or administrative grid code")
    bbox: str | None = Field(None, description="minlon,minlat,maxlon,maxlat in WGS 84 degrees",
                             examples=["112.80,35.60,112.95,35.70"])
    limit: int = Field(50, ge=1, le=500)
    cursor: int | None = Field(None, ge=1, description="next_cursor of the previous page")

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: str | None) -> str | None:
        if value is not None:
            bbox_4326(value)
        return value


def bbox_4326(text: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` as numbers; ValueError saying what is wrong."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"{text!r} has {len(parts)} numbers; send minlon,minlat,maxlon,maxlat")
    try:
        minlon, minlat, maxlon, maxlat = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not four numbers: send minlon,minlat,maxlon,maxlat") from None
    if not all(-180 <= x <= 180 for x in (minlon, maxlon)) or not all(-90 <= y <= 90 for y in (minlat, maxlat)):
        raise ValueError(f"{text!r} is out of range: longitudes -180..180, latitudes -90..90")
    if minlon >= maxlon or minlat >= maxlat:
        raise ValueError(f"{text!r} is empty: min must be below max")
    return minlon, minlat, maxlon, maxlat
