"""The grid worker's inbox and grids (web/api/worker.py, cases/inbox.py) on a copy of the demo:
nearest first against an independent geodesic (pyproj.Geod), re-sorted when the phone moves,
the phone's CRS converted, by due moment without a position; the deadline state and card at a
given moment; each case's actions what GET …/transitions answers; and scope: a worker sees
only its cases in its grids, a grid leader its village's."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pyproj import Geod

from accounts.service import actor_for_token
from cases import inbox as inbox_service
from cases import intake
from db.session import session_scope
from geo.gcj02 import wgs84_to_gcj02
from tests.openapi_support import assert_documented
from tests.test_intake_api import leaf_with_one_worker, query
from tests.test_transitions_api import (  # noqa: F401  (fixtures)
    act, auth, client, demo_leaf, new_case, url,
)

GEOD = Geod(ellps="WGS84")


def points_in(url: str, code: str, n: int, seed: int = 7) -> list[tuple[float, float]]:
    """``n`` points strictly inside grid ``code``, the same for a seed."""
    rows = query(url, """
        SELECT ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
          FROM grids g, ST_Dump(ST_GeneratePoints(ST_Buffer(g.geom, -0.00005), :n, :seed)) p
         WHERE g.code = :code AND g.valid_to IS NULL""", code=code, n=n, seed=seed)
    return [(r["lon"], r["lat"]) for r in rows]


def case_at(url: str, lon: float, lat: float, category: str = "patrol.exposed_rubbish") -> int:
    req = intake.CaseRequest(category=category, description="井盖缺失", channel="resident",
                             lon=lon, lat=lat)
    with session_scope(url) as s:
        return intake.create_case(s, req).case["id"]


def get_inbox(client, token: str, **params):
    got = client.get("/api/v1/worker/inbox", query_string=params, headers=auth(token))
    assert got.status_code == 200, got.get_json()
    return got.get_json()


def open_cases_of(url: str, person_id: int, grid_codes: list[str]) -> set[int]:
    """The oracle for a grid worker: open, assigned to its person, in its grids."""
    rows = query(url, """
        SELECT id FROM cases
         WHERE assignee_id = :p AND grid_code = ANY(:codes)
           AND status NOT IN ('closed', 'evaluated', 'voided')""", p=person_id, codes=grid_codes)
    return {r["id"] for r in rows}


@pytest.fixture
def worker(url, demo_tokens):
    """The demo village's grid worker alone on a service grid, with three new cases spread
    over its grid: leaf, token, person id, its grid codes (from its token's actor), case ids."""
    leaf = demo_leaf(url)
    token = demo_tokens[leaf["account"]]
    with session_scope(url) as s:
        actor = actor_for_token(s, token)
    spots = points_in(url, leaf["code"], 3)
    ids = [case_at(url, lon, lat) for lon, lat in spots]
    return {"leaf": leaf, "token": token, "person_id": actor.person_id,
            "grid_codes": sorted(actor.grid_codes), "ids": ids, "spots": spots}


def test_the_inbox_is_nearest_first_by_the_geodesic_and_reorders_when_the_phone_moves(
        client, url, worker):
    assert len(worker["ids"]) == 3
    for (lon, lat), case_id in zip(worker["spots"], worker["ids"]):
        got = get_inbox(client, worker["token"], lon=lon, lat=lat)
        cases = got["cases"]
        assert got["position"] == [lon, lat]
        assert cases[0]["id"] == case_id and cases[0]["distance_m"] == pytest.approx(0, abs=1e-6)
        expected = []
        for c in cases:
            az, _, dist = GEOD.inv(lon, lat, c["lon"], c["lat"])
            assert c["distance_m"] == pytest.approx(dist, abs=0.01), c["id"]
            if dist > 0.01:
                assert c["bearing_deg"] == pytest.approx(az % 360, abs=1e-6), c["id"]
                assert 0 <= c["bearing_deg"] < 360
            expected.append(dist)
        assert all(a <= b + 0.01 for a, b in zip(expected, expected[1:]))
    orders = {tuple(c["id"] for c in get_inbox(client, worker["token"], lon=lon,
                                                lat=lat)["cases"][:3])
              for lon, lat in worker["spots"]}
    assert len(orders) == 3, "the order did not change with the position"


def test_the_inbox_holds_the_workers_open_cases_in_its_grids_and_nothing_else(
        client, url, worker, demo_tokens):
    leaf = worker["leaf"]
    other = next(o for o in (leaf_with_one_worker(url, offset=k) for k in range(60))
                 if o["code"][:12] != leaf["code"][:12])
    elsewhere = case_at(url, other["lon"], other["lat"])
    # still assigned to our worker, but in another village's grid: not its case to see
    query(url, "UPDATE cases SET assignee_id = :p WHERE id = :id RETURNING id",
          p=worker["person_id"], id=elsewhere)
    closed = new_case(url, leaf)
    query(url, "UPDATE cases SET status = 'closed' WHERE id = :id RETURNING id", id=closed)
    got = {c["id"] for c in get_inbox(client, worker["token"])["cases"]}
    assert got == open_cases_of(url, worker["person_id"], worker["grid_codes"])
    assert set(worker["ids"]) <= got
    assert elsewhere not in got and closed not in got
    assert all(c["grid_code"] in worker["grid_codes"]
               for c in get_inbox(client, worker["token"])["cases"])
    # another worker of the village sees none of these
    others = [name for name in demo_tokens if name.startswith("grid_worker_")
              and name != leaf["account"]]
    for name in others[:3]:
        theirs = {c["id"] for c in get_inbox(client, demo_tokens[name])["cases"]}
        assert not theirs & set(worker["ids"]), name


def test_a_grid_leader_sees_its_villages_open_cases_and_an_auxiliary_its_grids_held_ones(
        client, url, worker, demo_tokens):
    village = worker["leaf"]["code"][:12]
    leader = {c["id"] for c in get_inbox(client, demo_tokens["grid_leader"])["cases"]}
    expected = {r["id"] for r in query(url, """
        SELECT id FROM cases WHERE left(coalesce(grid_code, admin_code), 12) = :v
           AND status NOT IN ('closed', 'evaluated', 'voided')""", v=village)}
    assert leader == expected and set(worker["ids"]) <= leader
    with session_scope(url) as s:
        aux = actor_for_token(s, demo_tokens["auxiliary"])
    helped = {c["id"] for c in get_inbox(client, demo_tokens["auxiliary"])["cases"]}
    assert helped == {r["id"] for r in query(url, """
        SELECT id FROM cases WHERE queue = 'grid' AND grid_code = ANY(:g)
           AND status NOT IN ('closed', 'evaluated', 'voided')""", g=sorted(aux.grid_codes))}


def test_without_a_position_the_inbox_is_by_due_moment_and_distances_are_null(
        client, worker):
    cases = get_inbox(client, worker["token"])["cases"]
    assert cases and all(c["distance_m"] is None and c["bearing_deg"] is None for c in cases)
    dues = [c["due_at"] for c in cases if c["due_at"] is not None]
    assert [datetime.fromisoformat(d) for d in dues] == sorted(
        datetime.fromisoformat(d) for d in dues)


@pytest.mark.parametrize("crs", ["gcj02", "cgcs2000"])
def test_a_phone_position_in_its_map_apps_crs_is_converted(client, worker, crs):
    lon, lat = worker["spots"][1]
    wgs = get_inbox(client, worker["token"], lon=lon, lat=lat)
    shown = wgs84_to_gcj02(lon, lat) if crs == "gcj02" else (lon, lat)
    converted = get_inbox(client, worker["token"], lon=float(shown[0]), lat=float(shown[1]),
                          crs=crs)
    assert converted["position"] == pytest.approx(wgs["position"], abs=1e-8)
    assert [c["id"] for c in converted["cases"]] == [c["id"] for c in wgs["cases"]]
    assert converted["cases"][0]["id"] == worker["ids"][1]


def test_each_case_carries_the_actions_get_transitions_answers_and_its_version(
        client, url, worker):
    cases = get_inbox(client, worker["token"])["cases"]
    for c in cases:
        got = client.get(f"/api/v1/cases/{c['id']}/transitions", headers=auth(worker["token"]))
        assert got.status_code == 200
        body = got.get_json()
        assert c["actions"] == body["actions"] and c["version"] == body["version"], c["id"]
        assert c["status"] == body["status"]
    new = next(c for c in cases if c["id"] == worker["ids"][0])
    assert new["status"] == "dispatched" and new["status_zh"] == "已派遣"
    assert {"accept", "escalate", "note"} <= {a["action"] for a in new["actions"]}
    assert new["category_name_zh"] and new["category_code"] == "patrol.exposed_rubbish"
    # acting moves the case on: the inbox says so
    act(client, url, new["id"], worker["token"], "accept")
    again = next(c for c in get_inbox(client, worker["token"])["cases"] if c["id"] == new["id"])
    assert again["version"] == new["version"] + 1 and again["status"] == "handling"
    assert "accept" not in {a["action"] for a in again["actions"]}


def test_the_deadline_state_and_card_follow_the_clocks(url, worker):
    case_id = worker["ids"][0]
    clocks = {r["clock"]: r for r in query(url, """
        SELECT clock, soon_at, due_at, yellow_at, red_at FROM case_deadlines
         WHERE case_id = :id AND met_at IS NULL""", id=case_id)}
    accept, handle = clocks["accept"], clocks["handle"]
    with session_scope(url) as s:
        actor = actor_for_token(s, worker["token"])

    def seen(at):
        with session_scope(url) as s:
            out = inbox_service.inbox(s, actor, at=at)
        return next(c for c in out["cases"] if c["id"] == case_id)

    first = min(accept["soon_at"], handle["soon_at"])
    before = seen(first - timedelta(seconds=1))
    assert (before["deadline_state"], before["card"]) == ("ok", None)
    assert seen(first)["deadline_state"] == "due_soon"
    assert seen(min(accept["due_at"], handle["due_at"]))["deadline_state"] == "overdue"
    assert seen(accept["yellow_at"])["card"] == "yellow"
    assert seen(accept["red_at"])["card"] == "red"
    at = handle["due_at"] + timedelta(hours=1)
    late = seen(at)
    assert late["time_left_s"] == pytest.approx(-3600, abs=1)


def test_a_position_needs_both_coordinates_and_a_known_crs(client, worker):
    for params in ({"lon": 112.9}, {"lat": 35.6}):
        got = client.get("/api/v1/worker/inbox", query_string=params, headers=auth(worker["token"]))
        assert got.status_code == 422 and got.get_json()["error"] == "invalid_query"
    got = client.get("/api/v1/worker/inbox", query_string={"lon": 112.9, "lat": 35.6,
                                                           "crs": "mars"},
                     headers=auth(worker["token"]))
    assert got.status_code == 422 and got.get_json()["error"] == "invalid_query"


def test_only_the_phones_roles_have_an_inbox(client, demo_tokens):
    assert client.get("/api/v1/worker/inbox").status_code == 401
    for role in ("town_operator", "village_operator", "department_handler", "planner"):
        got = client.get("/api/v1/worker/inbox", headers=auth(demo_tokens[role]))
        assert got.status_code == 403 and got.get_json()["error"] == "forbidden", role
        assert client.get("/api/v1/worker/grids",
                          headers=auth(demo_tokens[role])).status_code == 403


def test_the_worker_grids_are_its_own_and_a_leaders_its_village(client, url, worker,
                                                                 demo_tokens):
    got = client.get("/api/v1/worker/grids", headers=auth(worker["token"]))
    assert got.status_code == 200
    assert_documented("GET", "/api/v1/worker/grids", got)
    body = got.get_json()
    assert body["type"] == "FeatureCollection"
    assert sorted(f["properties"]["code"] for f in body["features"]) == worker["grid_codes"]
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in body["features"])
    assert {f["properties"]["level"] for f in body["features"]} <= {"regional", "service"}
    village = worker["leaf"]["code"][:12]
    leader = client.get("/api/v1/worker/grids", headers=auth(demo_tokens["grid_leader"])).get_json()
    codes = [f["properties"]["code"] for f in leader["features"]]
    expected = [village + "000"] + sorted(r["code"] for r in query(url, """
        SELECT code FROM grids WHERE parent_code = :a AND valid_to IS NULL""", a=village + "000"))
    assert sorted(codes) == sorted(expected) and codes[0] == village + "000"
