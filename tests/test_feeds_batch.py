"""The feeds' batch path (feeds/batch.py): many MQTT messages in one transaction, by the same
rules as one at a time — a copy of an event changes nothing (in the same batch or after), a bad
message is rejected with its reason while the good ones around it are kept, a repeating
sensor makes one case with supporters — and a batch that breaks in a way we did not foresee
is taken again message by message (feeds/mqtt.py)."""

from __future__ import annotations

import json
from itertools import count

import pytest
from sqlalchemy import text

from cases import intake as case_intake
from db.session import session_scope
from feeds import service
from feeds.batch import Message, take_batch
from feeds.mqtt import Subscriber, message_of, topic
from tests.test_feeds import QUIET_SPOTS
from tests.test_feeds_mqtt import feed_url  # noqa: F401  (a demo copy with the feed river)
from tests.test_intake_api import query

_ids = count(1)


@pytest.fixture
def spots(feed_url) -> list[dict]:
    """Three points in leaf grids, each with no open flood, pollution or security case within
    300 m, and more than 300 m from each other."""
    found: list[dict] = []
    for row in query(feed_url, QUIET_SPOTS, n=40):
        if all(abs(row["lon"] - f["lon"]) > 0.005 or abs(row["lat"] - f["lat"]) > 0.005 for f in found):
            found.append(row)
        if len(found) == 3:
            return found
    raise AssertionError("the demo has no three quiet spots")


def event(where: dict, **fields) -> dict:
    body = {"id": f"B-{next(_ids)}", "sensor_type": "water_level", "sensor_id": "WL-01",
            "value": 3.8, "location": {"lon": where["lon"], "lat": where["lat"]}}
    body.update(fields)
    return body


def msg(body: object, feed: str = "river") -> Message:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return message_of(topic(feed), raw)


def take(url: str, messages: list[Message]):
    with session_scope(url) as s:
        return take_batch(s, messages)


def counts(url: str) -> dict:
    return query(url, """SELECT (SELECT count(*) FROM cases) AS cases,
                                (SELECT count(*) FROM feed_events) AS events,
                                (SELECT count(*) FROM feed_rejects) AS rejects,
                                (SELECT coalesce(sum(supporters), 0) FROM cases) AS supporters""")[0]


def supporters(url: str, case_id: int) -> int:
    return query(url, "SELECT supporters FROM cases WHERE id = :id", id=case_id)[0]["supporters"]


def test_a_repeating_sensor_in_one_batch_makes_one_case_with_supporters(feed_url, spots):
    before = counts(feed_url)
    out = take(feed_url, [msg(event(spots[0], value=3.6 + i / 100)) for i in range(30)])
    assert [o.status for o in out] == ["opened"] + ["joined"] * 29
    case_id = out[0].case_id
    assert {o.case_id for o in out} == {case_id} and supporters(feed_url, case_id) == 29
    assert counts(feed_url) == {**before, "cases": before["cases"] + 1, "events": before["events"] + 30,
                                "supporters": before["supporters"] + 29}
    # the next batch joins the same case
    again = take(feed_url, [msg(event(spots[0])) for _ in range(5)])
    assert [(o.status, o.case_id) for o in again] == [("joined", case_id)] * 5
    assert supporters(feed_url, case_id) == 34
    rows = query(feed_url, "SELECT status, case_id, town_code, via FROM feed_events WHERE case_id = :id",
                 id=case_id)
    assert len(rows) == 35 and {r["via"] for r in rows} == {"mqtt"} and None not in {r["town_code"] for r in rows}


def test_a_repeat_of_the_same_event_id_in_a_batch_is_taken_once(feed_url, spots):
    first = event(spots[0], id="WL-01-0001")
    other = event(spots[0], id="WL-01-0002", value=4.0)
    reused = {**first, "value": 9.9}  # the same id with another body
    before = counts(feed_url)
    out = take(feed_url, [msg(first), msg(other), msg(first), msg(reused), msg(first)])
    assert [o.status for o in out] == ["opened", "joined", "replayed", "rejected", "replayed"]
    assert out[2].case_id == out[4].case_id == out[0].case_id
    assert out[3].error == "event_id_reused" and "WL-01-0001" in out[3].message
    assert counts(feed_url) == {"cases": before["cases"] + 1, "events": before["events"] + 2,
                                "rejects": before["rejects"] + 1, "supporters": before["supporters"] + 1}
    rejected = query(feed_url, "SELECT error, payload FROM feed_rejects")
    assert [(r["error"], json.loads(bytes(r["payload"]))) for r in rejected] == [("event_id_reused", reused)]


def test_a_copy_of_an_event_taken_in_an_earlier_batch_changes_nothing(feed_url, spots):
    body = event(spots[0])
    first = take(feed_url, [msg(body)])
    assert first[0].status == "opened"
    before = counts(feed_url)
    out = take(feed_url, [msg(body), msg(body), msg({**body, "value": 5.0})])
    assert [o.status for o in out] == ["replayed", "replayed", "rejected"]
    assert out[0].case_id == first[0].case_id and out[2].error == "event_id_reused"
    assert counts(feed_url) == {**before, "rejects": before["rejects"] + 1}


def test_a_batch_mixing_good_and_bad_messages_keeps_the_good_and_rejects_the_bad_with_reasons(feed_url, spots):
    before = counts(feed_url)
    batch = [
        msg(event(spots[0], id="good-1")),
        msg(b"water level high!"),                                            # not JSON
        msg(event(spots[0], id="x-1"), feed="nobody"),                        # no such feed
        msg(event(spots[0], id="good-2", value=3.0)),                         # a normal reading
        msg(event(spots[0], id="x-2", sensor_type="radiation")),              # not in the mapping
        msg(event({"lon": 116.39, "lat": 39.91}, id="x-3")),                  # Beijing
        msg(event(spots[0], id="x-4", value=None)),                           # threshold, no value
        msg({"id": "x-5", "sensor_type": "water_level", "value": 4}),         # no location
        msg(event(spots[0], id="good-3")),
        message_of("gridgov/feeds/river/other", b"{}"),                       # not an events topic
    ]
    out = take(feed_url, batch)
    assert [(o.status, o.error) for o in out] == [
        ("opened", None), ("rejected", "malformed_event"), ("rejected", "unknown_feed"),
        ("normal", None), ("rejected", "unknown_sensor_type"), ("rejected", "outside_coverage"),
        ("rejected", "invalid_event"), ("rejected", "invalid_event"), ("joined", None),
        ("rejected", "unknown_feed"),
    ]
    assert out[8].case_id == out[0].case_id
    assert "nearest grid" in out[5].message and "location" in out[7].message
    rejected = query(feed_url, "SELECT feed_name, topic, error, message, payload FROM feed_rejects ORDER BY id")
    bad = [m for m, o in zip(batch, out, strict=True) if o.status == "rejected"]
    assert [(r["feed_name"], r["topic"], bytes(r["payload"])) for r in rejected] == \
        [(m.feed_name, m.topic, m.payload) for m in bad]
    assert all(r["message"] for r in rejected)
    taken = query(feed_url, "SELECT external_id, status FROM feed_events ORDER BY id")
    assert taken == [{"external_id": "good-1", "status": "opened"},
                     {"external_id": "good-2", "status": "normal"},
                     {"external_id": "good-3", "status": "joined"}]
    assert counts(feed_url)["cases"] == before["cases"] + 1


def test_alarms_at_places_apart_make_a_case_each_and_near_ones_share_one(feed_url, spots):
    a, b = spots[0], spots[1]
    near_a = {"lon": a["lon"] + 20 / (111_320 * 0.81), "lat": a["lat"]}  # ~20 m east: a duplicate of a
    out = take(feed_url, [
        msg(event(a, sensor_id="A")), msg(event(b, sensor_id="B")), msg(event(near_a, sensor_id="A2")),
        msg(event(a, sensor_id="A")), msg(event(b, sensor_id="B")),
        msg(event(a, sensor_type="pm25", sensor_id="P", value=200)),  # another category, same place
    ])
    assert [o.status for o in out] == ["opened", "opened", "joined", "joined", "joined", "opened"]
    case_a, case_b, case_p = out[0].case_id, out[1].case_id, out[5].case_id
    assert len({case_a, case_b, case_p}) == 3
    assert [o.case_id for o in out[2:5]] == [case_a, case_a, case_b]
    assert (supporters(feed_url, case_a), supporters(feed_url, case_b), supporters(feed_url, case_p)) == (2, 1, 0)
    categories = query(feed_url, "SELECT id, category_code FROM cases WHERE id IN (:a, :p)", a=case_a, p=case_p)
    assert {r["id"]: r["category_code"] for r in categories} == {case_a: "hazard.flood", case_p: "hazard.pollution"}


def test_an_alarm_in_a_batch_joins_a_residents_open_case_of_the_same_matter(feed_url, spots):
    with session_scope(feed_url) as s:
        reported = case_intake.create_case(s, case_intake.CaseRequest(
            category="hazard.flood", description="河水漫上路面", channel="resident",
            lon=spots[2]["lon"], lat=spots[2]["lat"]))
    out = take(feed_url, [msg(event(spots[2])), msg(event(spots[2]))])
    assert [(o.status, o.case_id) for o in out] == [("joined", reported.case["id"])] * 2
    assert supporters(feed_url, reported.case["id"]) == 2


def test_a_batch_that_breaks_unforeseen_is_taken_one_message_at_a_time(feed_url, spots):
    """A mapping naming a category that was deleted since: opening its case fails inside the
    batch; the subscriber takes the messages again one by one, so that message alone is
    rejected and the others are kept."""
    with session_scope(feed_url) as s:
        service.add_feed(s, "odd", {"sensors": {
            "smoke": {"category": "hazard.flood"}, "noise": {"category": "hazard.pollution"}}})
        s.execute(text("UPDATE feeds SET mapping = jsonb_set(mapping, '{sensors,noise,category}', "
                       "'\"no.longer\"') WHERE name = 'odd'"))
    before = counts(feed_url)
    subscriber = Subscriber(feed_url, "mqtt://127.0.0.1:1")  # no broker needed to take messages
    outcomes = subscriber.take_many([
        msg(event(spots[0], sensor_type="smoke", value=None), feed="odd"),
        msg(event(spots[1], sensor_type="noise", value=None), feed="odd"),
        msg(event(spots[0], sensor_type="smoke", value=None), feed="odd"),
    ])
    assert outcomes == ["opened", "rejected", "joined"]
    assert query(feed_url, "SELECT error FROM feed_rejects") == [{"error": "unknown_category"}]
    assert counts(feed_url) == {"cases": before["cases"] + 1, "events": before["events"] + 2,
                                "rejects": before["rejects"] + 1, "supporters": before["supporters"] + 1}
