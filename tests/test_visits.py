"""Check-ins (POST /api/v1/visits): the distance flag against an outside geodesic (pyproj),
idempotent replays (one after another and concurrent), a problem opening a case, photos, the
visit list in scope, and every bad input of the contract with nothing written."""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from datetime import datetime, timedelta

import pytest
from pyproj import Geod
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from cases.deadlines import LOCAL_TZ
from geo.gcj02 import wgs84_to_gcj02
from tests.visit_support import (  # noqa: F401  (visits_url is a fixture)
    JPEG, PNG, body, client_for, counts, query, target_in, visits_url, worker_grids,
)

WGS84 = Geod(ellps="WGS84")  # the oracle: not our code


@pytest.fixture
def worker(visits_url, demo_tokens):
    return client_for(visits_url, demo_tokens["grid_worker_1"])


@pytest.fixture
def grids(visits_url):
    return worker_grids(visits_url)


def moved(target: dict, distance_m: float, azimuth: float = 45.0) -> list[float]:
    lon, lat, _ = WGS84.fwd(target["lon"], target["lat"], azimuth, distance_m)
    return [lon, lat]


@pytest.mark.parametrize(("distance_m", "far"), [(99.0, False), (101.0, True), (0.0, False)])
def test_check_in_is_flagged_far_past_100_m(worker, visits_url, grids, distance_m, far):
    target = target_in(visits_url, grids, "household", offset=3)
    r = worker.post("/api/v1/visits", json=body(target, moved(target, distance_m, 130.0)))
    assert r.status_code == 201, r.get_json()
    visit = r.get_json()["visit"]
    assert visit["far"] is far
    assert visit["distance_m"] == pytest.approx(distance_m, abs=0.05)
    stored = query(visits_url, "SELECT far, distance_m FROM visits WHERE id = :id",
                   id=visit["id"])[0]
    assert stored["far"] is far


def test_the_far_limit_is_configurable(visits_url, demo_tokens, grids):
    client = client_for(visits_url, demo_tokens["grid_worker_1"], VISIT_MAX_DISTANCE_M=50)
    target = target_in(visits_url, grids, "shop")
    r = client.post("/api/v1/visits", json=body(target, moved(target, 60.0)))
    assert r.status_code == 201 and r.get_json()["visit"]["far"] is True


def test_a_gcj02_position_is_converted_before_measuring(worker, visits_url, grids):
    target = target_in(visits_url, grids, "shop", offset=1)
    lon, lat = wgs84_to_gcj02(target["lon"], target["lat"])  # ~500 m off in WGS 84 terms
    r = worker.post("/api/v1/visits", json=body(target, [float(lon), float(lat)], crs="gcj02"))
    visit = r.get_json()["visit"]
    assert r.status_code == 201 and visit["distance_m"] < 1.0 and visit["far"] is False
    assert visit["lon"] == pytest.approx(target["lon"], abs=1e-7)


def test_the_answer_names_the_target_and_the_times(worker, visits_url, grids):
    target = target_in(visits_url, grids, "key_person")
    sent = body(target)
    visit = worker.post("/api/v1/visits", json=sent).get_json()["visit"]
    assert visit["id"] == sent["id"]
    assert visit["target"]["key"] == f"key_person:{target['id']}"
    assert visit["target"]["type_zh"] == "重点人员" and visit["target"]["grid_code"] in grids
    assert datetime.fromisoformat(visit["visited_at"]) == datetime.fromisoformat(sent["visited_at"])
    assert visit["received_at"] and visit["accuracy_m"] == 8.5 and visit["photo_ids"] == []
    row = query(visits_url, "SELECT v.account_id, a.name, v.person_id = a.person_id AS same_person "
                            "FROM visits v JOIN accounts a ON a.id = v.account_id WHERE v.id = :id",
                id=sent["id"])[0]
    assert row["name"] == "grid_worker_1" and row["same_person"]


def test_a_replay_answers_the_stored_visit_and_writes_nothing(worker, visits_url, grids):
    sent = body(target_in(visits_url, grids, "household", offset=5))
    first = worker.post("/api/v1/visits", json=sent)
    before = counts(visits_url)
    again = worker.post("/api/v1/visits", json=sent)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["replayed"] is True
    assert again.get_json()["visit"] == first.get_json()["visit"]
    assert counts(visits_url) == before


def test_the_same_id_with_another_body_is_409(worker, visits_url, grids):
    sent = body(target_in(visits_url, grids, "household", offset=6))
    assert worker.post("/api/v1/visits", json=sent).status_code == 201
    before = counts(visits_url)
    r = worker.post("/api/v1/visits", json={**sent, "note": "改过的备注"})
    assert r.status_code == 409 and r.get_json()["error"] == "visit_id_reused"
    assert counts(visits_url) == before


def test_the_same_id_from_another_account_is_409(visits_url, demo_tokens, grids):
    sent = body(target_in(visits_url, grids, "household", offset=7))
    assert client_for(visits_url, demo_tokens["grid_worker_1"]).post(
        "/api/v1/visits", json=sent).status_code == 201
    r = client_for(visits_url, demo_tokens["grid_leader"]).post("/api/v1/visits", json=sent)
    assert r.status_code == 409 and r.get_json()["error"] == "visit_id_reused"


@pytest.mark.parametrize("outcome", ["ok", "problem"])
def test_concurrent_replays_store_one_visit(app_server, visits_url, demo_tokens, grids, outcome):
    server = app_server(visits_url)
    target = target_in(visits_url, grids, "household", offset=10 if outcome == "ok" else 11)
    extra = {"outcome": outcome}
    if outcome == "problem":
        extra["case"] = {"category_code": "patrol.exposed_rubbish", "description": "门前堆放杂物"}
    sent = json.dumps(body(target, **extra)).encode()
    cases_before = counts(visits_url)["cases"]
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def post():
        request = urllib.request.Request(
            server.base + "/api/v1/visits", data=sent, method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {demo_tokens['grid_worker_1']}"})
        barrier.wait()
        try:
            with urllib.request.urlopen(request) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as err:
            statuses.append(err.code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [201], statuses
    visit_id = json.loads(sent)["id"]
    assert query(visits_url, "SELECT count(*) AS n FROM visits WHERE id = :id", id=visit_id)[0]["n"] == 1
    assert counts(visits_url)["cases"] == cases_before + (outcome == "problem")


def test_a_problem_opens_a_patrol_case_at_the_target(worker, visits_url, grids):
    target = target_in(visits_url, grids, "shop", offset=2)
    sent = body(target, moved(target, 30.0), outcome="problem",
                case={"category_code": "patrol.street_order", "description": "店外占道经营"})
    r = worker.post("/api/v1/visits", json=sent)
    assert r.status_code == 201, r.get_json()
    case_id = r.get_json()["visit"]["case_id"]
    case = query(visits_url, "SELECT channel, grid_code, category_code, ST_X(geom) AS lon, "
                             "ST_Y(geom) AS lat FROM cases WHERE id = :id", id=case_id)[0]
    assert case["channel"] == "patrol" and case["category_code"] == "patrol.street_order"
    assert case["grid_code"] == target["grid_code"]
    assert (case["lon"], case["lat"]) == pytest.approx((target["lon"], target["lat"]), abs=1e-7)


def test_photos_are_stored_with_the_visit(worker, visits_url, grids):
    sent = body(target_in(visits_url, grids, "household", offset=12))
    form = {k: json.dumps(v) if k in ("target", "position", "accuracy_m") else v
            for k, v in sent.items()}
    form["photos"] = [(io.BytesIO(JPEG), "a.jpg"), (io.BytesIO(PNG), "b.png")]
    r = worker.post("/api/v1/visits", data=form, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    ids = r.get_json()["visit"]["photo_ids"]
    stored = query(visits_url, "SELECT id, content_type FROM visit_photos WHERE visit_id = :id "
                               "ORDER BY id", id=sent["id"])
    assert [p["id"] for p in stored] == ids and [p["content_type"] for p in stored] == [
        "image/jpeg", "image/png"]


# -- bad input: each its own status and code, nothing written ----------------------------


@pytest.fixture
def nothing_written(visits_url):
    before = counts(visits_url)
    yield
    assert counts(visits_url) == before


def _refused(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    out = r.get_json()
    assert out["error"] == code and out["message"]
    return out


def test_no_position_is_422_position_required(worker, visits_url, grids, nothing_written):
    sent = body(target_in(visits_url, grids))
    del sent["position"]
    _refused(worker.post("/api/v1/visits", json=sent), 422, "position_required")
    _refused(worker.post("/api/v1/visits", json={**sent, "position": None}), 422,
             "position_required")


def test_a_position_50_km_away_is_422(worker, visits_url, grids, nothing_written):
    target = target_in(visits_url, grids)
    out = _refused(worker.post("/api/v1/visits", json=body(target, moved(target, 50_000))),
                   422, "position_outside_town")
    assert out["details"]["distance_m"] == pytest.approx(50_000, abs=1)


def test_a_photo_that_is_not_an_image_is_422(worker, visits_url, grids, nothing_written):
    sent = body(target_in(visits_url, grids))
    r = worker.post("/api/v1/visits", data={
        "visit": json.dumps(sent), "photos": [(io.BytesIO(b"%PDF-1.7 not a photo"), "x.pdf")]},
        content_type="multipart/form-data")
    _refused(r, 422, "unsupported_photo")


def test_a_photo_over_the_limit_is_413(worker, visits_url, grids, nothing_written):
    from cases.intake import MAX_PHOTO_BYTES

    sent = body(target_in(visits_url, grids))
    big = JPEG + b"\x00" * MAX_PHOTO_BYTES
    # encoded here, in memory: the test client would spool a large body to a temporary file
    # it never closes (a ResourceWarning, an error under filterwarnings=error)
    boundary, data = encode_multipart(MultiDict({
        "visit": json.dumps(sent), "photos": [FileStorage(io.BytesIO(big), "big.jpg")]}))
    r = worker.post("/api/v1/visits", data=data,
                    content_type=f"multipart/form-data; boundary={boundary}")
    _refused(r, 413, "photo_too_large")


def test_a_part_whose_name_cannot_be_read_is_422(worker, visits_url, grids, nothing_written):
    from tests.test_intake_bad_input import unreadable_name_multipart

    content_type, data = unreadable_name_multipart({
        "visit": json.dumps(body(target_in(visits_url, grids)))})
    out = _refused(worker.post("/api/v1/visits", data=data, content_type=content_type),
                   422, "invalid_body")
    assert [d["field"] for d in out["details"]] == [""]


def test_a_target_outside_the_workers_grids_is_403(worker, visits_url, grids, nothing_written):
    other = target_in(visits_url, grids, "household", inside=False)
    _refused(worker.post("/api/v1/visits", json=body(other)), 403, "target_out_of_scope")


def test_an_unknown_target_is_404(worker, visits_url, grids, nothing_written):
    sent = body(target_in(visits_url, grids))
    sent["target"]["id"] = 999_999_999
    _refused(worker.post("/api/v1/visits", json=sent), 404, "target_not_found")


def test_a_problem_with_an_unknown_category_writes_no_visit(worker, visits_url, grids,
                                                             nothing_written):
    sent = body(target_in(visits_url, grids), outcome="problem",
                case={"category_code": "9999", "description": "x"})
    _refused(worker.post("/api/v1/visits", json=sent), 422, "unknown_category")


@pytest.mark.parametrize(("change", "field"), [
    ({"id": "not-a-uuid"}, "id"),
    ({"target": {"type": "castle", "id": 1}}, "target.type"),
    ({"target": {"type": "household"}}, "target.id"),
    ({"outcome": "problem"}, "case"),
    ({"outcome": "ok", "case": {"category_code": "patrol.street_order", "description": "x"}}, "case"),
    ({"visited_at": "2026-11-30T10:00:00"}, "visited_at"),
    ({"position": [112.87]}, "position"),
    ({"position": [512.87, 35.6]}, "position"),
    ({"crs": "epsg:3857"}, "crs"),
    ({"accuracy_m": -1}, "accuracy_m"),
    ({"note": "长" * 2001}, "note"),
    ({"colour": "red"}, "colour"),
])
def test_a_body_that_does_not_fit_is_422_per_field(worker, visits_url, grids, nothing_written,
                                                    change, field):
    out = _refused(worker.post("/api/v1/visits", json={**body(target_in(visits_url, grids)),
                                                       **change}), 422, "invalid_body")
    assert field in {d["field"] for d in out["details"]}


@pytest.mark.parametrize("days", [-1, 8])
def test_a_visit_in_the_future_or_over_a_week_old_is_422(worker, visits_url, grids,
                                                          nothing_written, days):
    at = (datetime.now(LOCAL_TZ) - timedelta(days=days)).isoformat()
    out = _refused(worker.post("/api/v1/visits", json=body(target_in(visits_url, grids),
                                                           visited_at=at)), 422, "invalid_body")
    assert {d["field"] for d in out["details"]} == {"visited_at"}


def test_malformed_json_is_400(worker, nothing_written):
    _refused(worker.post("/api/v1/visits", data=b'{"id": ', content_type="application/json"),
             400, "malformed_json")


@pytest.mark.parametrize("account", ["town_operator", "department_handler", "planner"])
def test_only_field_roles_check_in(visits_url, demo_tokens, grids, account, nothing_written):
    client = client_for(visits_url, demo_tokens[account])
    _refused(client.post("/api/v1/visits", json=body(target_in(visits_url, grids))), 403,
             "forbidden")


# -- the visit list ---------------------------------------------------------------------


def test_a_worker_lists_only_the_visits_of_their_grids(worker, visits_url, demo_tokens, grids):
    mine = worker.get("/api/v1/visits?limit=1000").get_json()["visits"]
    assert mine and {v["target"]["grid_code"] for v in mine} <= grids
    everyone = client_for(visits_url, demo_tokens["town_operator"]).get(
        "/api/v1/visits?limit=1000").get_json()["visits"]
    assert {v["target"]["grid_code"] for v in everyone} - grids  # other grids exist
    other = target_in(visits_url, grids, inside=False)
    r = worker.get(f"/api/v1/visits?target=household:{other['id']}")
    assert r.status_code == 200 and r.get_json()["visits"] == []


def test_visits_filter_by_target_and_time(worker, visits_url, grids):
    target = target_in(visits_url, grids, "key_person", offset=1)
    sent = body(target)
    worker.post("/api/v1/visits", json=sent)
    found = worker.get(f"/api/v1/visits?target=key_person:{target['id']}").get_json()["visits"]
    assert sent["id"] in [v["id"] for v in found]
    assert all(v["target"]["key"] == f"key_person:{target['id']}" for v in found)
    since = (datetime.now(LOCAL_TZ) + timedelta(hours=1)).isoformat()
    later = worker.get("/api/v1/visits", query_string={"since": since}).get_json()["visits"]
    assert later == []
