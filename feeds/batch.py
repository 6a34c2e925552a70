"""A batch of feed messages taken in one transaction: the MQTT subscriber's path, so that a
feed sending hundreds of events a second, mostly a few sensors repeating their alarms, costs
a handful of round trips per batch instead of eight per event.

The rules are receive_event's (feeds/intake.py), applied to the messages in the order they
came; only the statements are shared. For a batch:

1. the feeds its topics name are read at once; each message is parsed and checked against its
   feed's mapping, and the distinct positions are routed at once
   (cases.routing.route_points). A message refused here is a reject: recorded in
   ``feed_rejects`` with its error in the same transaction, nothing else written for it;
2. the events are claimed at once (one INSERT … ON CONFLICT DO NOTHING on the feed's own
   event id): an id claimed before, or a second time in this batch, is a copy — with the same
   body it answers the first one's outcome and writes nothing, with another it is rejected
   (EventIdReused). A reading on the safe side of its threshold is settled by its claim;
3. the alarms' sensors are locked at once, in a fixed order (the HTTP route takes the same
   locks one at a time, so both paths take a sensor's alarms in turn). The alarms are grouped
   by category and position, and the open duplicate of every group is looked up at once (the
   closed-loop rule, feeds.sql open_duplicates). In the order the groups came: a group with a
   duplicate joins it, every alarm one more supporter (one UPDATE for all the groups at the
   end); a group without one opens a case with its first alarm and the rest of the group
   joins that case. Once this batch has opened a case, the later groups look again one by
   one, since the new case may be their duplicate: a repeating sensor makes one case;
4. the alarms' outcomes and the rejects are written at once.

The caller commits and then acknowledges the messages. It takes the batch again after a
transient error (the database went away, boundaries being published), and message by message
after an error we did not foresee, so one bad message cannot hold up the others
(feeds/mqtt.py).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cases.deadlines import LOCAL_TZ
from cases.errors import OutsideCoverage
from cases.routing import RoutingDecision, route_points
from db.errors import GridgovError
from feeds import intake, repository, service
from feeds import mapping as mapping_rules
from feeds.errors import EventIdReused
from feeds.intake import FeedEventIn

REJECTED_PAYLOAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Message:
    """A message as the broker delivered it, with the feed its topic names."""

    feed_name: str
    topic: str
    payload: bytes


@dataclass
class Outcome:
    """What became of a message: ``opened``, ``joined`` or ``normal`` (feed_events), ``replayed``
    (a copy of an event taken before: nothing written) or ``rejected`` (feed_rejects, with its
    ``error`` code and ``message``)."""

    status: str
    external_id: str | None = None
    case_id: int | None = None
    error: str | None = None
    message: str | None = None


def error_code(exc: Exception) -> str:
    """``OutsideCoverage`` as ``outside_coverage``: a rejected message's error."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def reject_row(message: Message, error: str, text: str) -> dict[str, Any]:
    """A feed_rejects row for ``message`` (its payload cut to REJECTED_PAYLOAD_BYTES)."""
    return {"feed_name": message.feed_name[:200], "topic": message.topic, "error": error,
            "message": text, "payload": bytes(message.payload[:REJECTED_PAYLOAD_BYTES])}


@dataclass
class _Event:
    """A message that passed the checks and was routed."""

    i: int  # its place in the batch
    feed: dict[str, Any]
    event: FeedEventIn
    rule: dict[str, Any]
    decision: RoutingDecision
    request_hash: str
    row_id: int | None = None  # its feed_events row, once claimed

    @property
    def key(self) -> tuple[int, str]:
        return self.feed["id"], str(self.event.id)


def take_batch(session: Session, messages: list[Message], via: str = "mqtt",
               now: datetime | None = None) -> list[Outcome]:
    """Take ``messages`` in the caller's transaction (not committed): each one's outcome, in
    order. Rejects are written too. Raises what the database raises, BoundariesChanging, and
    whatever a message breaks in a way we did not foresee (the caller takes the messages one
    by one then)."""
    now = (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)
    out: list[Outcome | None] = [None] * len(messages)
    rejects: dict[int, dict[str, Any]] = {}

    def reject(i: int, exc: GridgovError) -> None:
        out[i] = Outcome("rejected", error=error_code(exc), message=exc.message)
        rejects[i] = reject_row(messages[i], out[i].error, exc.message)

    events = _checked_and_routed(session, messages, reject)

    # 2. claim every event id once; copies within the batch are answered at the end
    firsts: dict[tuple[int, str], _Event] = {}
    copies: list[_Event] = []
    for ev in events:
        if ev.key in firsts:
            copies.append(ev)
        else:
            firsts[ev.key] = ev
    claimed = repository.claim_events(session, via, now, [{
        "feed_id": ev.feed["id"], "external_id": key[1], "occurred_at": ev.event.occurred_at,
        "sensor_type": ev.event.sensor_type, "sensor_id": ev.event.sensor_id,
        "value": ev.event.value, "lon": ev.decision.lon, "lat": ev.decision.lat,
        "request_hash": ev.request_hash, "town_code": ev.decision.town["code"],
    } for key, ev in firsts.items()]) if firsts else {}
    seen_before = [key for key in firsts if key not in claimed]
    # the rows the copies answer with, by (feed id, event id)
    known = repository.events_by_external_id(session, seen_before) if seen_before else {}
    for key in seen_before:
        _answer_copy(firsts[key], known[key], out, reject)  # known: the claim conflicted with it

    alarms: list[_Event] = []
    for key, ev in firsts.items():
        if key not in claimed:
            continue
        ev.row_id = claimed[key]
        if mapping_rules.is_alarm(ev.rule, ev.event.value):
            alarms.append(ev)
        else:
            out[ev.i] = Outcome("normal", key[1])
    _take_alarms(session, alarms, now, out)

    for key, ev in firsts.items():
        if key in claimed:
            known[key] = {"status": out[ev.i].status, "case_id": out[ev.i].case_id,
                          "request_hash": ev.request_hash}
    for ev in copies:
        _answer_copy(ev, known[ev.key], out, reject)

    repository.insert_rejects(session, now, [rejects[i] for i in sorted(rejects)])
    assert all(o is not None for o in out)
    return out  # type: ignore[return-value]


def _checked_and_routed(session: Session, messages: list[Message], reject) -> list[_Event]:
    """The messages that name a feed, fit its mapping and lie inside the town, routed; the
    others rejected."""
    feeds = service.feeds_named(session, {m.feed_name for m in messages})
    checked = []
    for i, m in enumerate(messages):
        feed = feeds.get(m.feed_name)
        try:
            if feed is None:
                raise service.unknown_feed(m.feed_name)
            payload, event, rule = intake.checked_event(feed, m.payload)
        except GridgovError as exc:
            reject(i, exc)
            continue
        checked.append((i, feed, payload, event, rule))
    points = list(dict.fromkeys((e.location.lon, e.location.lat, e.location.crs)
                                for _, _, _, e, _ in checked))
    routed = dict(zip(points, route_points(session, points), strict=True))
    events = []
    for i, feed, payload, event, rule in checked:
        decision = routed[(event.location.lon, event.location.lat, event.location.crs)]
        if isinstance(decision, OutsideCoverage):
            reject(i, decision)
            continue
        events.append(_Event(i, feed, event, rule, decision, intake.fingerprint(payload)))
    return events


def _answer_copy(ev: _Event, first: dict[str, Any], out: list[Outcome | None], reject) -> None:
    """A copy of the event ``first`` (status, case_id, request_hash): replayed, or rejected
    when its body differs."""
    try:
        result = intake.replayed(ev.feed, ev.key[1], ev.request_hash, first)
    except EventIdReused as exc:
        reject(ev.i, exc)
        return
    out[ev.i] = Outcome("replayed", ev.key[1], result.case_id)


def _take_alarms(session: Session, alarms: list[_Event], now: datetime,
                 out: list[Outcome | None]) -> None:
    """Step 3 of the module's docstring: every alarm joins or opens a case, and is settled."""
    if not alarms:
        return
    repository.serialise_sensors(session, [
        intake.sensor_key(ev.feed, ev.rule["category"], ev.event, ev.decision.lon, ev.decision.lat)
        for ev in alarms])
    groups: dict[tuple[str, float, float], list[_Event]] = defaultdict(list)
    for ev in alarms:  # in the order they came (dicts keep it)
        groups[(ev.rule["category"], ev.decision.lon, ev.decision.lat)].append(ev)
    places = list(groups)
    found = repository.open_duplicates(session, [(lon, lat, c) for c, lon, lat in places], now)
    joining: dict[tuple[str, float, float], int] = {}
    opened: dict[tuple[str, float, float], int] = {}
    for place, duplicate in zip(places, found, strict=True):
        category, lon, lat = place
        if opened:  # a case this batch opened may be the nearest duplicate now
            duplicate = repository.open_duplicate(session, lon, lat, category, now)
        if duplicate is not None:
            joining[place] = duplicate
        else:
            opened[place] = _open(session, groups[place], lon, lat, now)
    counts: dict[int, int] = defaultdict(int)
    for place, case_id in joining.items():
        counts[case_id] += len(groups[place])
    still_open = repository.add_supporters(session, counts)
    for place, case_id in joining.items():
        if case_id not in still_open:
            # closed between the look-up and the update (a worker closed it just then): as
            # the HTTP route does, the alarm opens a case of its own
            category, lon, lat = place
            opened[place] = _open(session, groups[place], lon, lat, now)
    settled = []
    for place, group in groups.items():
        new = opened.get(place)
        for n, ev in enumerate(group):
            if new is None:
                status, case_id = "joined", joining[place]
            else:
                status, case_id = ("opened" if n == 0 else "joined"), new
            out[ev.i] = Outcome(status, ev.key[1], case_id)
            settled.append((ev.row_id, status, case_id))
    repository.settle_events(session, settled)


def _open(session: Session, group: list[_Event], lon: float, lat: float, now: datetime) -> int:
    """A new case for the group's first alarm; the others join it as supporters."""
    first = group[0]
    case_id = intake.open_case(session, first.feed, first.rule, first.event, lon, lat, now)
    if len(group) > 1:
        repository.add_supporters(session, {case_id: len(group) - 1})
    return case_id
