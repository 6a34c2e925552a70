"""``POST /api/v1/cases`` end to end on a private copy of the Bagong demo: routing by
precision (coordinates in every CRS, door, street, village, town), the answer's hierarchy,
assignee and deadlines, what is committed (case, routing record, first event, photos), and
reading cases back (one, the list, photos).

The fixtures and helpers here are shared by the other intake test modules.
"""

from __future__ import annotations

import io
import itertools
import json
import os
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from cases import geocoding, intake
from cases.calendar import load_calendar
from cases.deadlines import deadline_at
from db.session import engine_for, session_scope
from geo import gcj02
from tests.accounts_support import bearer
from tests.openapi_support import assert_documented
from web import create_app
from web.api.case_schemas import CaseDetailOut, CaseListOut, CaseOut

TOWN = "140525108"
_copies = itertools.count()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32


@pytest.fixture(scope="module")
def intake_url(pg_server, demo_db_url):
    """A copy of the demo for this module's tests, which add cases to it."""
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()  # a template must have no connections
    stop_hubs()  # nor a live listener (another module's tiles or stream may have started one)
    name = f"gridgov_test_intake_{os.getpid()}_{next(_copies)}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def client(intake_url, operator_token):
    """A town operator's client (the reports here are on staff channels)."""
    intake.clear_caches()
    return bearer(create_app({"DATABASE_URL": intake_url}).test_client(), operator_token)


def query(url: str, sql: str, **params) -> list[dict]:
    with session_scope(url) as s:
        return [dict(r) for r in s.execute(text(sql), params).mappings()]


def leaf_with_one_worker(url: str, level: str = "service", offset: int = 0) -> dict:
    """A leaf grid with exactly one grid worker on duty: code, parent, zone, a point strictly
    inside it (WGS 84), and the worker."""
    rows = query(url, """
        SELECT g.code, g.parent_code, g.zone_code, g.version,
               ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat,
               min(p.id) AS worker_id, min(p.name) AS worker_name
          FROM grids g
          JOIN grid_assignments a ON a.grid_code = g.code AND a.role = 'worker'
          JOIN people p ON p.id = a.person_id AND p.on_duty
         WHERE g.level = :level AND g.valid_to IS NULL
         GROUP BY g.id HAVING count(*) = 1
         ORDER BY g.code OFFSET :offset LIMIT 1""", level=level, offset=offset)
    return rows[0]


def case_body(**overrides) -> dict:
    body = {"category": "patrol.exposed_rubbish", "description": "路边有暴露垃圾", "channel": "patrol"}
    body.update(overrides)
    return body


def post_case(client, headers=None, **overrides):
    return client.post("/api/v1/cases", json=case_body(**overrides), headers=headers or {})


def at_point(leaf: dict, crs: str = "wgs84") -> dict:
    return {"lon": leaf["lon"], "lat": leaf["lat"], "crs": crs}


def test_post_with_coordinates_answers_the_hierarchy_assignee_precision_and_deadlines(client, intake_url):
    leaf = leaf_with_one_worker(intake_url)
    r = post_case(client, location=at_point(leaf))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    CaseOut.model_validate(body)
    assert r.headers["Location"] == f"/api/v1/cases/{body['id']}" == body["links"]["self"]
    assert body["status"] == "dispatched"
    assert body["queue"] == "grid"
    grid = body["grid"]
    assert grid["town"]["code"] == TOWN and grid["town"]["name"] == "巴公镇"
    assert grid["leaf"]["code"] == leaf["code"] and grid["leaf"]["level"] == "service"
    assert grid["admin"]["code"] == leaf["parent_code"]
    assert grid["zone"]["code"] == leaf["zone_code"]
    assert body["assignee"]["id"] == leaf["worker_id"]
    assert leaf["worker_name"] in body["assignment_reason"]
    assert body["geocode"]["precision"] == "point" and body["geocode"]["score"] is None
    assert leaf["code"] in body["routing_reason"]
    assert body["category"] == {"code": "patrol.exposed_rubbish", "name_zh": "暴露垃圾",
                                "name_en": "Exposed rubbish"}
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == timedelta(hours=8)
    with session_scope(intake_url) as s:
        cal = load_calendar(s)
    deadlines = body["deadlines"]
    assert deadlines["time_limit"] == {"value": 4, "unit": "working_hours"}
    assert datetime.fromisoformat(deadlines["due_at"]) == deadline_at(created, 4, "working_hours", cal)
    assert datetime.fromisoformat(deadlines["dispatch_due_at"]) == created + timedelta(minutes=30)
    assert deadlines["due_at"].endswith("+08:00")


def test_the_case_its_routing_record_and_first_event_are_committed(client, intake_url):
    leaf = leaf_with_one_worker(intake_url, offset=1)
    body = post_case(client, location=at_point(leaf), reporter={"name": "李四", "phone": "13512345678"},
                     occurred_at="2025-10-09T08:30:00").get_json()
    row = query(intake_url, "SELECT * FROM cases WHERE id = :id", id=body["id"])[0]
    assert row["status"] == "dispatched" and row["town_code"] == TOWN
    assert row["grid_code"] == leaf["code"] and row["admin_code"] == leaf["parent_code"]
    assert row["geocode_precision"] == "point" and row["input_crs"] == "wgs84"
    assert row["queue"] == "grid" and row["on_boundary"] is False
    assert row["grid_version"] == leaf["version"]
    assert row["routing_reason"] == body["routing_reason"]
    assert row["assignment_reason"] == body["assignment_reason"]
    assert row["assignee_id"] == leaf["worker_id"]
    assert row["reporter_name"] == "李四" and row["reporter_phone"] == "13512345678"
    assert row["occurred_at"] == datetime.fromisoformat("2025-10-09T08:30:00+08:00")  # local time
    events = query(intake_url, "SELECT * FROM case_events WHERE case_id = :id", id=body["id"])
    assert len(events) == 1
    event = events[0]
    assert event["type"] == "created" and event["to_status"] == "dispatched"
    assert event["data"]["routing"]["grid"]["leaf"]["code"] == leaf["code"]
    assert event["data"]["routing"]["reason"] == body["routing_reason"]
    assert event["data"]["assignment"]["assignee"]["id"] == leaf["worker_id"]


def test_an_urgent_category_must_be_dispatched_within_ten_minutes(client, intake_url):
    leaf = leaf_with_one_worker(intake_url, level="regional")
    body = post_case(client, category="hazard.fire", location=at_point(leaf)).get_json()
    created = datetime.fromisoformat(body["created_at"])
    assert body["deadlines"]["time_limit"] == {"value": 24, "unit": "urgent_hours"}
    assert datetime.fromisoformat(body["deadlines"]["dispatch_due_at"]) == created + timedelta(minutes=10)
    assert datetime.fromisoformat(body["deadlines"]["due_at"]) == created + timedelta(hours=24)


@pytest.mark.parametrize(("crs", "forward"), [
    ("wgs84", lambda lon, lat: (lon, lat)),
    ("cgcs2000", lambda lon, lat: (lon, lat)),
    ("gcj02", gcj02.wgs84_to_gcj02),
    ("bd09", gcj02.wgs84_to_bd09),
])
def test_phone_coordinates_are_converted_to_wgs84_before_routing(client, intake_url, crs, forward):
    leaf = leaf_with_one_worker(intake_url, offset=2)
    lon, lat = (float(v) for v in forward(leaf["lon"], leaf["lat"]))
    body = post_case(client, location={"lon": lon, "lat": lat, "crs": crs}).get_json()
    assert body["grid"]["leaf"]["code"] == leaf["code"]
    assert body["geocode"]["input_crs"] == crs
    assert body["geocode"]["lon"] == pytest.approx(leaf["lon"], abs=1e-8)
    assert body["geocode"]["lat"] == pytest.approx(leaf["lat"], abs=1e-8)
    stored = query(intake_url, "SELECT ST_X(geom) AS lon, ST_Y(geom) AS lat, input_crs FROM cases WHERE id = :id",
                   id=body["id"])[0]
    assert stored["input_crs"] == crs
    assert stored["lon"] == pytest.approx(leaf["lon"], abs=1e-8)


def _an_address(url: str) -> dict:
    """A standard address with a street and a door, strictly inside its leaf grid."""
    return query(url, """
        SELECT a.full_text, a.village, a.village_code, a.street, a.grid_code
          FROM addresses a JOIN grids g ON g.code = a.grid_code AND g.valid_to IS NULL
         WHERE a.street IS NOT NULL AND a.building IS NULL AND ST_Contains(g.geom, a.geom)
         ORDER BY a.id LIMIT 1""")[0]


def _leader(url: str, admin_code: str) -> int:
    return query(url, "SELECT person_id FROM grid_assignments WHERE grid_code = :c AND role = 'leader'",
                 c=admin_code)[0]["person_id"]


def test_a_door_precise_address_goes_to_its_leaf_grid(client, intake_url):
    addr = _an_address(intake_url)
    body = post_case(client, address=addr["full_text"]).get_json()
    assert body["geocode"]["precision"] == "door"
    assert body["geocode"]["score"] > 0 and body["geocode"]["matched"]
    assert body["queue"] == "grid" and body["status"] == "dispatched"
    assert body["grid"]["leaf"]["code"] == addr["grid_code"]
    assert "door" in body["routing_reason"]


def test_a_street_precise_address_goes_to_the_leaf_grid_at_the_street(client, intake_url):
    addr = _an_address(intake_url)
    text_ = f"巴公镇{addr['village']}{addr['street']}"
    body = post_case(client, address=text_).get_json()
    assert body["geocode"]["precision"] == "street"
    assert body["queue"] == "grid"
    assert body["grid"]["admin"]["code"] == addr["village_code"] + "000"
    assert body["grid"]["leaf"]["code"].startswith(addr["village_code"])
    with session_scope(intake_url) as s:
        found = geocoding.geocode(s, text_)
    assert (body["geocode"]["lon"], body["geocode"]["lat"]) == pytest.approx((found.lon, found.lat))


def test_a_village_precise_address_goes_to_the_village_never_guessed_to_a_leaf(client, intake_url):
    addr = _an_address(intake_url)
    admin = addr["village_code"] + "000"
    body = post_case(client, address=f"巴公镇{addr['village']}").get_json()
    assert body["geocode"]["precision"] == "village"
    assert body["queue"] == "village"
    assert body["grid"]["leaf"] is None
    assert body["grid"]["admin"]["code"] == admin
    assert body["assignee"]["id"] == _leader(intake_url, admin)
    assert body["status"] == "dispatched"
    assert "not guessed down to a leaf grid" in body["routing_reason"]
    row = query(intake_url, "SELECT grid_code, admin_code, queue FROM cases WHERE id = :id", id=body["id"])[0]
    assert row == {"grid_code": admin, "admin_code": admin, "queue": "village"}


def test_a_town_precise_address_waits_in_the_town_centers_queue(client, intake_url):
    body = post_case(client, address="山西省晋城市泽州县巴公镇").get_json()
    assert body["geocode"]["precision"] == "town"
    assert body["queue"] == "town"
    assert body["grid"]["town"]["code"] == TOWN
    assert body["grid"]["admin"] is None and body["grid"]["leaf"] is None
    assert body["assignee"] is None and body["status"] == "collected"
    assert "town center" in body["routing_reason"]
    row = query(intake_url, "SELECT grid_code, admin_code, queue, status FROM cases WHERE id = :id", id=body["id"])[0]
    assert row == {"grid_code": None, "admin_code": None, "queue": "town", "status": "collected"}


def test_a_point_on_a_shared_edge_goes_to_the_smaller_code_and_says_so(client, intake_url):
    leaf = leaf_with_one_worker(intake_url)
    vertex = query(intake_url, """
        SELECT ST_X(v.p) AS lon, ST_Y(v.p) AS lat, array_agg(g.code ORDER BY g.code) AS codes
          FROM (SELECT DISTINCT (ST_DumpPoints(geom)).geom AS p FROM grids
                 WHERE code = :code AND valid_to IS NULL) v
          JOIN grids g ON g.valid_to IS NULL AND g.level IN ('regional', 'service') AND ST_Covers(g.geom, v.p)
         GROUP BY v.p HAVING count(*) = 2
         ORDER BY 1, 2 LIMIT 1""", code=leaf["code"])[0]
    body = post_case(client, location={"lon": vertex["lon"], "lat": vertex["lat"]}).get_json()
    assert body["on_boundary"] is True
    assert body["grid"]["leaf"]["code"] == vertex["codes"][0]
    assert vertex["codes"][1] in body["routing_reason"]
    assert "smaller code wins" in body["routing_reason"]


def test_get_case_shows_routing_deadlines_history_and_photos(client, intake_url):
    leaf = leaf_with_one_worker(intake_url)
    form = {
        "case": json.dumps(case_body(location=at_point(leaf)), ensure_ascii=False),
        "photos": [(io.BytesIO(PNG), "a.png"), (io.BytesIO(JPEG), "b.jpg"), (io.BytesIO(WEBP), "c.webp")],
    }
    created = client.post("/api/v1/cases", data=form, content_type="multipart/form-data")
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    r = client.get(f"/api/v1/cases/{case_id}")
    assert r.status_code == 200
    assert_documented("GET", "/api/v1/cases/{case_id}", r)  # its place, reporter, events, …
    detail = r.get_json()
    CaseDetailOut.model_validate(detail)
    assert detail["grid"] == created.get_json()["grid"]
    assert detail["deadlines"] == created.get_json()["deadlines"]
    assert detail["description"] == "路边有暴露垃圾" and detail["channel"] == "patrol"
    assert [e["type"] for e in detail["events"]] == ["created"]
    assert [(p["filename"], p["content_type"], p["size_bytes"]) for p in detail["photos"]] == [
        ("a.png", "image/png", len(PNG)), ("b.jpg", "image/jpeg", len(JPEG)), ("c.webp", "image/webp", len(WEBP))]
    for photo, data in zip(detail["photos"], (PNG, JPEG, WEBP)):
        got = client.get(photo["url"])
        assert got.status_code == 200 and got.data == data
        assert got.mimetype == photo["content_type"]
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert_documented("GET", "/api/v1/cases/{case_id}/photos/{photo_id}", got)


def test_get_case_of_a_historical_case_without_intake_record(client, intake_url):
    old = query(intake_url, "SELECT id, category_code FROM cases WHERE routing_reason IS NULL ORDER BY id LIMIT 1")[0]
    detail = client.get(f"/api/v1/cases/{old['id']}").get_json()
    assert detail["id"] == old["id"]
    assert detail["category"]["code"] == old["category_code"] and detail["category"]["name_zh"]
    assert detail["photos"] == []
    # the demo's history (demo/cases.py): imported, then the machine's steps to its status
    assert detail["events"][0]["type"] == "imported"
    assert detail["events"][-1]["to_status"] == detail["status"]


def test_list_cases_filters_by_status_grid_and_bbox_and_pages_by_keyset(client, intake_url):
    leaf = leaf_with_one_worker(intake_url, offset=3)
    ids = [post_case(client, location=at_point(leaf)).get_json()["id"] for _ in range(3)]
    r = client.get(f"/api/v1/cases?grid={leaf['code']}&status=dispatched&limit=2")
    assert r.status_code == 200
    page = r.get_json()
    CaseListOut.model_validate(page)
    assert [c["id"] for c in page["items"]] == ids[::-1][:2]
    assert all(c["grid_code"] == leaf["code"] and c["status"] == "dispatched" for c in page["items"])
    rest = client.get(f"/api/v1/cases?grid={leaf['code']}&status=dispatched&limit=2&cursor={page['next_cursor']}").get_json()
    assert rest["items"][0]["id"] == ids[0]
    assert all(c["id"] < ids[0] + 1 for c in rest["items"])
    by_admin = client.get(f"/api/v1/cases?grid={leaf['parent_code']}&limit=500").get_json()
    assert set(ids) <= {c["id"] for c in by_admin["items"]}
    d = 0.00001
    box = f"{leaf['lon'] - d},{leaf['lat'] - d},{leaf['lon'] + d},{leaf['lat'] + d}"
    in_box = client.get(f"/api/v1/cases?bbox={box}&limit=500")
    assert_documented("GET", "/api/v1/cases", in_box)
    in_box = in_box.get_json()
    assert set(ids) <= {c["id"] for c in in_box["items"]}
    assert all(abs(c["location"]["lon"] - leaf["lon"]) <= d for c in in_box["items"])
    town = post_case(client, address="山西省晋城市泽州县巴公镇").get_json()["id"]
    collected = client.get("/api/v1/cases?status=collected&limit=500").get_json()
    assert town in {c["id"] for c in collected["items"]}
    assert {c["status"] for c in collected["items"]} == {"collected"}
