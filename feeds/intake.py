"""A feed's event becomes a case through the residents' intake (cases/intake.py), the same
way over HTTP and MQTT.

One transaction per event here (the HTTP route); the MQTT subscriber takes a batch of events
in one transaction by the same rules (feeds/batch.py):

1. the event is read (MalformedEvent, InvalidEvent), its sensor type found in the feed's
   mapping (UnknownSensorType) and its position routed (cases.errors.OutsideCoverage outside
   the town): a refusal writes nothing;
2. the feed's own event id is claimed in ``feed_events`` (unique per feed): the same event
   again — an HTTP retry, a replay inside the signature's window, an MQTT redelivery after a
   broker or subscriber restart — answers the first one's outcome and writes nothing; the id
   with another body is EventIdReused;
3. a reading on the safe side of its threshold is recorded (``normal``) and that is all: it
   closes nothing;
4. an alarm joins the open case it repeats, by the closed-loop issue's duplicate rule (same
   category, within 50 m and 24 h: feeds.sql ``open_duplicate``), as one more supporter
   (``joined``), so a sensor repeating its alarm every minute makes one case, not a thousand;
   otherwise it opens a case (``opened``) on the mapping's channel, routed and assigned like
   any report. The alarms of one sensor take a lock in turn, so two at once never open two.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.orm import Session

from cases import intake as case_intake
from cases.deadlines import LOCAL_TZ
from cases.routing import route_point
from feeds import mapping as mapping_rules
from feeds import repository
from feeds.errors import EventIdReused, InvalidEvent, MalformedEvent, UnknownSensorType

MAX_DESCRIPTION = 2000


class _Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: float = Field(allow_inf_nan=False, ge=-180, le=180)
    lat: float = Field(allow_inf_nan=False, ge=-90, le=90)
    crs: Literal["wgs84", "cgcs2000", "gcj02", "bd09"] = "wgs84"


class FeedEventIn(BaseModel):
    """An event as a feed sends it (JSON). Fields beyond these are ignored: partners send
    their own."""

    model_config = ConfigDict(extra="ignore")

    id: str | int = Field(description="the feed's own id of the event (unique per feed)")
    sensor_type: str = Field(min_length=1, max_length=60)
    sensor_id: str | None = Field(default=None, max_length=100)
    value: float | None = Field(default=None, allow_inf_nan=False)
    location: _Location
    occurred_at: datetime | None = None
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)

    @field_validator("sensor_type", "sensor_id", "description")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL's text cannot hold U+0000
        if value is not None and "\x00" in value:
            raise ValueError("must not contain the character U+0000")
        return value


_EXTERNAL_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


@dataclass
class FeedResult:
    """What became of an event (feed_events), and whether this was a copy of one seen before."""

    feed: str
    external_id: str
    status: str  # opened, joined or normal (feeds.models.EVENT_STATUSES)
    case_id: int | None
    replayed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed, "id": self.external_id, "status": self.status,
            "case_id": self.case_id, "replayed": self.replayed,
            "links": {"case": f"/api/v1/cases/{self.case_id}"} if self.case_id else {},
        }


def parse_event(raw: bytes) -> tuple[Any, FeedEventIn]:
    """The event's JSON and its validated form; MalformedEvent (not JSON) or InvalidEvent
    (a message per field)."""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"the event is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidEvent(f"the event must be a JSON object, not {type(payload).__name__}")
    try:
        event = FeedEventIn.model_validate(payload)
    except ValidationError as exc:
        fields = [{"field": ".".join(str(p) for p in e["loc"]) or "(event)", "message": e["msg"]}
                  for e in exc.errors(include_url=False)]
        raise InvalidEvent("the event is not valid: " + "; ".join(
            f"{f['field']}: {f['message']}" for f in fields), fields) from exc
    if isinstance(event.id, bool) or not _EXTERNAL_ID.match(str(event.id)):
        raise InvalidEvent("the event's id must be 1 to 200 characters without control characters",
                           [{"field": "id", "message": "1 to 200 characters"}])
    return payload, event


def fingerprint(payload: Any) -> str:
    """A hash of the event's JSON (canonicalised): what a copy of the same event repeats."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _description(feed: dict[str, Any], rule: dict[str, Any], event: FeedEventIn) -> str:
    text = mapping_rules.describe(rule, event.sensor_type, event.sensor_id, event.value)
    if event.description:
        text = f"{text}：{event.description}" if text else event.description
    # the feed's own id, for whoever replies to the feed about this case
    source = f"（{feed['name']} #{event.id}）"
    return text[: MAX_DESCRIPTION - len(source)] + source


def checked_event(feed: dict[str, Any], raw: bytes) -> tuple[Any, FeedEventIn, dict[str, Any]]:
    """The event's JSON, its validated form and its sensor type's rule in ``feed``'s mapping.

    Raises MalformedEvent, InvalidEvent, UnknownSensorType.
    """
    payload, event = parse_event(raw)
    sensors = feed["mapping"]["sensors"]
    rule = sensors.get(event.sensor_type)
    if rule is None:
        raise UnknownSensorType(
            f"feed {feed['name']!r} has no sensor type {event.sensor_type!r} in its mapping",
            {"sensor_type": event.sensor_type, "valid": sorted(sensors)})
    if ("above" in rule or "below" in rule) and event.value is None:
        raise InvalidEvent(f"sensor type {event.sensor_type!r} has a threshold: send its `value`",
                           [{"field": "value", "message": "Field required for this sensor type"}])
    return payload, event, rule


def sensor_key(feed: dict[str, Any], category: str, event: FeedEventIn, lon: float, lat: float) -> str:
    """The lock the alarms of one sensor take in turn (feeds.sql serialise_sensor): by its id,
    else by its WGS 84 position."""
    who = event.sensor_id or f"{lon:.5f},{lat:.5f}"
    return f"feeds:{feed['id']}:{category}:{who}"


def open_case(session: Session, feed: dict[str, Any], rule: dict[str, Any], event: FeedEventIn,
              lon: float, lat: float, now: datetime) -> int:
    """The id of a new case for the alarm ``event`` at WGS 84 ``lon, lat``, on the mapping's
    channel, routed and assigned like any report (cases/intake.py)."""
    created = case_intake.create_case(session, case_intake.CaseRequest(
        category=rule["category"], description=_description(feed, rule, event),
        channel=rule["channel"], lon=lon, lat=lat, crs="wgs84", occurred_at=event.occurred_at,
    ), now=now)
    return created.case["id"]


def receive_event(session: Session, feed: dict[str, Any], raw: bytes, via: str,
                  now: datetime | None = None) -> FeedResult:
    """Take one event of ``feed`` (a feeds row: id, name, mapping) sent over ``via`` (http or
    mqtt), in the caller's transaction (not committed). feeds/batch.py takes many at once
    by the same rules.

    Raises MalformedEvent, InvalidEvent, UnknownSensorType, cases.errors.OutsideCoverage,
    EventIdReused.
    """
    now = (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)
    payload, event, rule = checked_event(feed, raw)
    external_id = str(event.id)
    loc = event.location
    decision = route_point(session, loc.lon, loc.lat, loc.crs)  # OutsideCoverage
    request_hash = fingerprint(payload)
    claimed = repository.claim_event(session, {
        "feed_id": feed["id"], "external_id": external_id, "via": via, "received_at": now,
        "occurred_at": event.occurred_at, "sensor_type": event.sensor_type,
        "sensor_id": event.sensor_id, "value": event.value, "lon": decision.lon,
        "lat": decision.lat, "request_hash": request_hash,
    })
    if claimed is None:
        return _replay(session, feed, external_id, request_hash)
    town_code = decision.town["code"]
    if not mapping_rules.is_alarm(rule, event.value):
        repository.settle_event(session, claimed, "normal", None, town_code)
        return FeedResult(feed["name"], external_id, "normal", None, replayed=False)
    category = rule["category"]
    repository.serialise_sensor(session, sensor_key(feed, category, event, decision.lon, decision.lat))
    duplicate = repository.open_duplicate(session, decision.lon, decision.lat, category, now)
    if duplicate is not None and repository.add_supporter(session, duplicate):
        repository.settle_event(session, claimed, "joined", duplicate, town_code)
        return FeedResult(feed["name"], external_id, "joined", duplicate, replayed=False)
    case_id = open_case(session, feed, rule, event, decision.lon, decision.lat, now)
    repository.settle_event(session, claimed, "opened", case_id, town_code)
    return FeedResult(feed["name"], external_id, "opened", case_id, replayed=False)


def _replay(session: Session, feed: dict[str, Any], external_id: str, request_hash: str) -> FeedResult:
    first = repository.event_by_external_id(session, feed["id"], external_id)
    assert first is not None  # the claim conflicted with it, committed
    return replayed(feed, external_id, request_hash, first)


def replayed(feed: dict[str, Any], external_id: str, request_hash: str,
             first: dict[str, Any]) -> FeedResult:
    """The answer to a copy of the event ``first`` (its feed_events row: status, case_id,
    request_hash); EventIdReused when the copy's body differs."""
    if first["request_hash"] != request_hash:
        raise EventIdReused(
            f"feed {feed['name']!r} sent event {external_id!r} before with a different body; "
            "give a new event a new id", {"id": external_id, "status": first["status"],
                                          "case_id": first["case_id"]})
    return FeedResult(feed["name"], external_id, first["status"], first["case_id"], replayed=True)
