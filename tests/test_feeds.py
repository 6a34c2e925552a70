"""Monitoring feeds over HTTP (issue 12, item 2): ``POST /api/v1/feeds/{feed}/events`` signed
with the feed's secret; the mapping and its thresholds; the repeating sensor folded into one
case; and every bad input its own error, with nothing written."""

from __future__ import annotations

import json
import time
from itertools import count

import pytest

from cases import intake as case_intake
from db.session import session_scope
from feeds import service
from feeds.mapping import read_mapping
from feeds.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, WINDOW_S, signature
from tests.openapi_support import assert_documented
from tests.test_intake_api import query
from web import create_app

MAPPING = read_mapping("feeds/data/water_level.toml")
_ids = count(1)


@pytest.fixture
def feed_url(demo_copy_url):
    case_intake.clear_caches()
    return demo_copy_url


@pytest.fixture
def secret(feed_url) -> str:
    with session_scope(feed_url) as s:
        return service.add_feed(s, "river", MAPPING)


@pytest.fixture
def client(feed_url):
    return create_app({"DATABASE_URL": feed_url}).test_client()


# points inside leaf grids with no open flood, pollution or security case within 300 m
QUIET_SPOTS = """
    SELECT ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
      FROM grids g
     WHERE g.level IN ('regional', 'service') AND g.valid_to IS NULL
       AND NOT EXISTS (
            SELECT 1 FROM cases c
             WHERE c.category_code IN ('hazard.flood', 'hazard.pollution', 'assist.public_security')
               AND ST_DWithin(c.geom::geography, ST_PointOnSurface(g.geom)::geography, 300))
     ORDER BY g.code LIMIT :n"""


@pytest.fixture
def spot(feed_url) -> dict:
    """A point inside a leaf grid with no open flood or pollution case within 300 m."""
    return query(feed_url, QUIET_SPOTS, n=1)[0]


def event(spot: dict, **fields) -> dict:
    body = {"id": f"W-{next(_ids)}", "sensor_type": "water_level", "sensor_id": "WL-07",
            "value": 3.9, "location": {"lon": spot["lon"], "lat": spot["lat"], "crs": "wgs84"},
            "occurred_at": "2026-11-30T09:00:00+08:00"}
    body.update(fields)
    return body


def send(client, secret: str | None, body: object, *, at: float | None = None,
         raw: bytes | None = None, feed: str = "river", headers: dict | None = None):
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(at if at is not None else time.time()))
    sent = {"Content-Type": "application/json"}
    if secret is not None:
        sent |= {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, data)}
    sent |= headers or {}
    return client.post(f"/api/v1/feeds/{feed}/events", data=data, headers=sent)


def counts(url: str) -> dict:
    return query(url, """SELECT (SELECT count(*) FROM cases) AS cases,
                                (SELECT count(*) FROM feed_events) AS events,
                                (SELECT coalesce(sum(supporters), 0) FROM cases) AS supporters""")[0]


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == code, body
    assert body["message"]
    return body


# -- the signature ------------------------------------------------------------------------


def test_a_signed_alarm_opens_a_case_on_the_sensor_channel_routed_like_a_report(client, secret, spot, feed_url):
    body = event(spot)
    r = send(client, secret, body)
    assert r.status_code == 201, r.get_data(as_text=True)
    out = r.get_json()
    assert out["status"] == "opened" and out["id"] == body["id"] and out["replayed"] is False
    case = query(feed_url, """SELECT c.channel, c.category_code, c.grid_code, c.assignee_id,
                                     c.description, c.status, e.external_id, e.status AS event_status
                                FROM cases c JOIN feed_events e ON e.case_id = c.id
                               WHERE c.id = :id""", id=out["case_id"])[0]
    assert case["channel"] == "sensor" and case["category_code"] == "hazard.flood"
    assert case["grid_code"] is not None and case["status"] in ("dispatched", "collected")
    assert case["external_id"] == body["id"] and case["event_status"] == "opened"
    # the mapping's words, and the feed's own id for whoever replies to it
    assert "水位 3.9 m" in case["description"] and f"river #{body['id']}" in case["description"]
    located = query(feed_url, "SELECT grid_code FROM cases WHERE id = :id", id=out["case_id"])
    assert located[0]["grid_code"] == query(feed_url, """
        SELECT code FROM grids WHERE valid_to IS NULL AND level IN ('regional', 'service')
           AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
         ORDER BY code LIMIT 1""", lon=spot["lon"], lat=spot["lat"])[0]["code"]


def test_a_missing_signature_is_401_and_writes_nothing(client, secret, spot, feed_url):
    before = counts(feed_url)
    body = refused(send(client, None, event(spot)), 401, "signature_missing")
    assert set(body["details"]["missing"]) == {TIMESTAMP_HEADER, SIGNATURE_HEADER}
    refused(send(client, None, event(spot), headers={TIMESTAMP_HEADER: str(int(time.time()))}),
            401, "signature_missing")
    assert counts(feed_url) == before


@pytest.mark.parametrize("how", ["other secret", "body changed", "timestamp changed", "garbage",
                                 "timestamp not a number"])
def test_a_bad_signature_is_401_and_writes_nothing(client, secret, spot, feed_url, how):
    before = counts(feed_url)
    data = json.dumps(event(spot)).encode()
    stamp = str(int(time.time()))
    sig = signature(secret, stamp, data)
    if how == "other secret":
        sig = signature("not-the-secret", stamp, data)
    elif how == "body changed":
        data = data.replace(b"3.9", b"9.9")
    elif how == "timestamp changed":
        stamp = str(int(stamp) - 1)
    elif how == "garbage":
        sig = "sha256=zz"
    elif how == "timestamp not a number":
        stamp = "yesterday"
    r = client.post("/api/v1/feeds/river/events", data=data,
                    headers={TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sig})
    refused(r, 401, "bad_signature")
    assert counts(feed_url) == before


@pytest.mark.parametrize("offset_s", [-(WINDOW_S + 60), WINDOW_S + 60, -86400])
def test_a_signature_older_or_newer_than_five_minutes_is_401(client, secret, spot, feed_url, offset_s):
    before = counts(feed_url)
    body = refused(send(client, secret, event(spot), at=time.time() + offset_s), 401, "signature_expired")
    assert body["details"]["window_s"] == WINDOW_S
    assert counts(feed_url) == before


def test_a_signature_just_inside_the_window_is_taken(client, secret, spot):
    assert send(client, secret, event(spot), at=time.time() - WINDOW_S + 30).status_code == 201


def test_a_replayed_request_changes_nothing_and_answers_as_the_first(client, secret, spot, feed_url):
    body = event(spot)
    data = json.dumps(body).encode()
    first = send(client, secret, body, raw=data)
    assert first.status_code == 201
    after_first = counts(feed_url)
    again = send(client, secret, body, raw=data)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == {**first.get_json(), "replayed": True}
    for answer in (first, again):  # both outcomes as the document describes them
        assert_documented("POST", "/api/v1/feeds/{feed}/events", answer)
    assert counts(feed_url) == after_first


def test_an_event_id_reused_with_another_body_is_409(client, secret, spot, feed_url):
    body = event(spot)
    assert send(client, secret, body).status_code == 201
    before = counts(feed_url)
    refused(send(client, secret, {**body, "value": 4.4}), 409, "feed_event_id_reused")
    assert counts(feed_url) == before


def test_an_unknown_feed_is_404(client, secret, spot):
    refused(send(client, secret, event(spot), feed="nobody"), 404, "unknown_feed")


def test_another_feeds_secret_does_not_sign_for_this_feed(client, secret, spot, feed_url):
    with session_scope(feed_url) as s:
        other = service.add_feed(s, "police", {"channel": "referral", "sensors": {
            "referral": {"category": "assist.public_security"}}})
    refused(send(client, other, event(spot)), 401, "bad_signature")


# -- the mapping and its thresholds -------------------------------------------------------


def test_a_reading_under_the_threshold_is_recorded_and_opens_nothing(client, secret, spot, feed_url):
    before = counts(feed_url)
    r = send(client, secret, event(spot, value=3.5))  # at the threshold: not over it
    assert r.status_code == 201 and r.get_json()["status"] == "normal" and r.get_json()["case_id"] is None
    assert_documented("POST", "/api/v1/feeds/{feed}/events", r)  # case_id null, no links
    assert counts(feed_url) == {**before, "events": before["events"] + 1}


def test_a_reading_under_the_threshold_closes_nothing(client, secret, spot, feed_url):
    opened = send(client, secret, event(spot, value=4.2)).get_json()
    assert opened["status"] == "opened"
    assert send(client, secret, event(spot, value=1.0)).get_json()["status"] == "normal"
    status = query(feed_url, "SELECT status FROM cases WHERE id = :id", id=opened["case_id"])[0]["status"]
    assert status not in ("closed", "evaluated", "voided")


def test_a_sensor_type_without_threshold_always_opens_a_case_of_its_category(client, secret, spot, feed_url):
    r = send(client, secret, event(spot, sensor_type="camera_alert", sensor_id="CAM-3", value=None))
    assert r.get_json()["status"] == "opened"
    assert query(feed_url, "SELECT category_code FROM cases WHERE id = :id",
                 id=r.get_json()["case_id"])[0]["category_code"] == "assist.public_security"


def test_a_referral_feed_reports_on_the_referral_channel(client, spot, feed_url):
    with session_scope(feed_url) as s:
        police = service.add_feed(s, "police", {"channel": "referral", "sensors": {
            "referral": {"category": "assist.public_security", "description": "110 转办"}}})
    r = send(client, police, event(spot, sensor_type="referral", value=None), feed="police")
    assert r.status_code == 201
    assert query(feed_url, "SELECT channel FROM cases WHERE id = :id",
                 id=r.get_json()["case_id"])[0]["channel"] == "referral"


def test_an_unknown_sensor_type_is_422_listing_the_feeds(client, secret, spot, feed_url):
    before = counts(feed_url)
    body = refused(send(client, secret, event(spot, sensor_type="radiation")), 422, "unknown_sensor_type")
    assert body["details"]["valid"] == ["camera_alert", "pm25", "water_level"]
    assert counts(feed_url) == before


def test_a_thresholded_sensor_without_value_is_422(client, secret, spot, feed_url):
    before = counts(feed_url)
    body = refused(send(client, secret, event(spot, value=None)), 422, "invalid_event")
    assert body["details"][0]["field"] == "value"
    assert counts(feed_url) == before


# -- a repeating sensor -------------------------------------------------------------------


def test_a_repeating_sensor_makes_one_case_with_supporters(client, secret, spot, feed_url):
    before = counts(feed_url)
    answers = [send(client, secret, event(spot, value=3.6 + i / 100)).get_json() for i in range(12)]
    assert [a["status"] for a in answers] == ["opened"] + ["joined"] * 11
    assert {a["case_id"] for a in answers} == {answers[0]["case_id"]}
    case = query(feed_url, "SELECT supporters, version FROM cases WHERE id = :id", id=answers[0]["case_id"])[0]
    assert case["supporters"] == 11
    assert case["version"] == 1  # the repeats are not workflow changes: a phone's queued action stays valid
    after = counts(feed_url)
    assert after["cases"] == before["cases"] + 1 and after["events"] == before["events"] + 12


def test_a_repeat_of_another_category_or_farther_than_50_m_is_a_case_of_its_own(client, secret, spot, feed_url):
    first = send(client, secret, event(spot)).get_json()
    far = {"lon": spot["lon"] + 80 / (111_320 * 0.81), "lat": spot["lat"]}  # ~80 m east
    other_place = send(client, secret, event(far, sensor_id="WL-08")).get_json()
    other_kind = send(client, secret, event(spot, sensor_type="pm25", value=200)).get_json()
    assert first["status"] == other_place["status"] == other_kind["status"] == "opened"
    assert len({first["case_id"], other_place["case_id"], other_kind["case_id"]}) == 3


def test_an_alarm_joins_a_residents_open_case_of_the_same_matter(client, secret, spot, feed_url):
    reported = client.post("/api/v1/cases", json={
        "category": "hazard.flood", "description": "河水漫上路面", "channel": "resident",
        "location": {"lon": spot["lon"], "lat": spot["lat"], "crs": "wgs84"}})
    assert reported.status_code == 201
    r = send(client, secret, event(spot)).get_json()
    assert r["status"] == "joined" and r["case_id"] == reported.get_json()["id"]


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b'{"id": 1,'])
def test_malformed_json_is_400_and_writes_nothing(client, secret, feed_url, raw):
    before = counts(feed_url)
    refused(send(client, secret, None, raw=raw), 400, "malformed_json")
    assert counts(feed_url) == before


@pytest.mark.parametrize("body, field", [
    ([1, 2], "(event)"),
    ({"sensor_type": "water_level", "value": 4, "location": {"lon": 112.9, "lat": 35.6}}, "id"),
    ({"id": "x", "sensor_type": "water_level", "value": 4}, "location"),
    ({"id": "x", "sensor_type": "water_level", "value": "high", "location": {"lon": 112.9, "lat": 35.6}}, "value"),
    ({"id": "x", "sensor_type": "water_level", "value": 4, "location": {"lon": 500, "lat": 35.6}}, "location.lon"),
    ({"id": "x", "sensor_type": "water_level", "value": 4,
      "location": {"lon": 112.9, "lat": 35.6, "crs": "mars"}}, "location.crs"),
    ({"id": "x", "sensor_type": "water_level", "sensor_id": "WL\u0000", "value": 4,
      "location": {"lon": 112.9, "lat": 35.6}}, "sensor_id"),
    ({"id": "x", "sensor_type": "camera_alert", "description": "a\u0000b",
      "location": {"lon": 112.9, "lat": 35.6}}, "description"),
    ({"id": "bad\u0000id", "sensor_type": "camera_alert", "location": {"lon": 112.9, "lat": 35.6}}, "id"),
])
def test_an_event_that_does_not_fit_is_422_naming_the_field(client, secret, feed_url, body, field):
    before = counts(feed_url)
    out = refused(send(client, secret, body), 422, "invalid_event")
    if field != "(event)":
        assert field in [d["field"] for d in out["details"]]
    assert counts(feed_url) == before


def test_a_position_outside_the_town_is_422_and_writes_nothing(client, secret, feed_url):
    before = counts(feed_url)
    body = refused(send(client, secret, event({"lon": 116.39, "lat": 39.91})), 422, "outside_coverage")
    assert body["details"]["nearest"]
    assert counts(feed_url) == before


def test_a_10_mb_body_is_413_before_it_is_read(client, secret, feed_url):
    before = counts(feed_url)
    data = b'{"id": "big", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    refused(send(client, secret, None, raw=data), 413, "request_entity_too_large")
    assert counts(feed_url) == before


# -- the commands -------------------------------------------------------------------------


def test_feeds_add_prints_the_secret_once_and_list_shows_the_feed(cli, feed_url, tmp_path):
    out = cli(feed_url, "feeds", "add", "gauges", "--mapping", "feeds/data/water_level.toml")
    assert out.exit_code == 0, out.output
    secret = out.output.strip().splitlines()[-1]
    assert len(secret) >= 40
    assert query(feed_url, "SELECT secret FROM feeds WHERE name = 'gauges'")[0]["secret"] == secret
    listed = cli(feed_url, "feeds", "list", "--json")
    assert [f["name"] for f in json.loads(listed.output)] == ["gauges"]
    assert secret not in listed.output
    again = cli(feed_url, "feeds", "add", "gauges", "--mapping", "feeds/data/water_level.toml")
    assert again.exit_code == 2 and "exists" in again.output


@pytest.mark.parametrize("text, says", [
    ('[sensors.w]\ncategory = "no.such"\n', "not a category"),
    ('[sensors.w]\ncategory = "hazard.flood"\nabove = "high"\n', "must be a number"),
    ('channel = "resident"\n[sensors.w]\ncategory = "hazard.flood"\n', "channel"),
    ('channel = "sensor"\n', "no [sensors"),
    ("not toml at all [", "not valid TOML"),
])
def test_feeds_add_refuses_a_mapping_that_does_not_fit(cli, feed_url, tmp_path, text, says):
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    out = cli(feed_url, "feeds", "add", "bad", "--mapping", str(path))
    assert out.exit_code == 2 and says in out.output, out.output
    assert query(feed_url, "SELECT count(*) AS n FROM feeds")[0]["n"] == 0


# -- at once ------------------------------------------------------------------------------


def test_alarms_of_one_sensor_at_once_open_one_case(feed_url, secret, spot, app_server):
    """Eight senders at once, over real HTTP: the sensor's alarms are taken in turn, so the
    first opens the case and every other joins it; the same event sent by two senders at
    once is taken once."""
    import requests
    from concurrent.futures import ThreadPoolExecutor

    base = app_server(feed_url).base
    bodies = [event(spot, value=3.6 + i / 100) for i in range(40)]
    bodies += bodies[:8]  # eight of them sent twice

    def post(body: dict) -> dict:
        data = json.dumps(body).encode()
        stamp = str(int(time.time()))
        r = requests.post(f"{base}/api/v1/feeds/river/events", data=data, timeout=30, headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: signature(secret, stamp, data)})
        assert r.status_code in (200, 201), r.text
        return r.json()

    before = counts(feed_url)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, bodies))
    assert [a["status"] for a in answers if not a["replayed"]].count("opened") == 1
    assert sum(a["replayed"] for a in answers) == 8
    assert len({a["case_id"] for a in answers}) == 1
    after = counts(feed_url)
    assert after["cases"] == before["cases"] + 1 and after["events"] == before["events"] + 40
    assert query(feed_url, "SELECT supporters FROM cases WHERE id = :id",
                 id=answers[0]["case_id"])[0]["supporters"] == 39
