"""The scores (cases/scores.py) on a real PostGIS (a copy of the demo): a small known history
in a month the demo does not reach — five cases of one grid worker, handled on time and late,
rated on site and through the rating link, a 不满意 that reopens with its card, a red card —
and the worker's score, party points and the village's stars recomputed by hand from README's
formulas; the API's JSON and CSV; scope (a village operator sees its village; 403, 401); the
formulas in README are the module's."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from cases import intake, rating, scores
from cases import workflow_repository as store
from cases.transitions import apply_transition
from db.session import engine_for, session_scope
from tests.accounts_support import headers, token_for
from tests.openapi_support import assert_documented
from tests.test_intake_api import leaf_with_one_worker
from tests.test_rating import actors
from web import create_app

T0 = datetime.fromisoformat("2027-03-01T09:00:00+08:00")  # a Monday, after every demo case
WINDOW = {"from": "2027-03-01", "until": "2027-03-31"}


@pytest.fixture(scope="module")
def history(pg_server, demo_db_url):
    """A copy of the demo with the known history written: (url, leaf, case ids)."""
    name = "gridgov_test_scores"
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()  # a live listener on the demo would block copying it
    url = pg_server.create_database(name, template="gridgov_test_demo")
    intake.clear_caches()
    leaf = leaf_with_one_worker(url, offset=3)
    worker, operator = actors(leaf)

    def new_case(phone: str | None) -> int:
        req = intake.CaseRequest(category="patrol.exposed_rubbish", description="暴露垃圾",
                                 channel="resident", lon=leaf["lon"], lat=leaf["lat"],
                                 reporter_name="王五", reporter_phone=phone)
        with session_scope(url) as s:
            return intake.create_case(s, req, now=T0).case["id"]

    def step(case_id: int, action: str, who, at: datetime, **kw) -> dict:
        with session_scope(url) as s:
            version = s.execute(text("SELECT version FROM cases WHERE id = :id"),
                                {"id": case_id}).scalar_one()
            return apply_transition(s, case_id, action, who, version, at=at, **kw)

    minutes = timedelta(minutes=1)
    # 1: on time, closed, the resident rates 非常满意 through the link
    c1 = new_case("13900001111")
    step(c1, "accept", worker, T0 + 5 * minutes)
    step(c1, "feed_back", worker, T0 + 60 * minutes, note="已清运")
    link1 = step(c1, "close", operator, T0 + 90 * minutes)["rating_link"]
    with session_scope(url) as s:
        rating.rate(s, link1["token"], "非常满意", at=T0 + timedelta(days=1))
    # 2: late, closed, the resident rates 不满意 within 7 days: reopened with a yellow card
    c2 = new_case("13900002222")
    step(c2, "accept", worker, T0 + 5 * minutes)
    step(c2, "feed_back", worker, T0 + timedelta(days=3), note="已处理")
    link2 = step(c2, "close", operator, T0 + timedelta(days=3, hours=1))["rating_link"]
    with session_scope(url) as s:
        out = rating.rate(s, link2["token"], "不满意", at=T0 + timedelta(days=4))
    assert out["reopened"] and out["card_event_id"]
    # 3: a red card from supervision while the worker held it, then fed back late
    c3 = new_case(None)
    step(c3, "accept", worker, T0 + 5 * minutes)
    with session_scope(url) as s:
        handle = s.execute(text("SELECT id FROM case_deadlines WHERE case_id = :id AND "
                                "clock = 'handle' AND met_at IS NULL"), {"id": c3}).scalar_one()
        store.insert_event(s, {
            "case_id": c3, "town_code": "140525108", "at": T0 + timedelta(days=2),
            "type": "card", "from_status": None, "to_status": None, "actor": "supervision",
            "data": {"signal": "red", "clock": "handle", "deadline_id": handle,
                     "moment": (T0 + timedelta(days=2)).isoformat()},
            "account_id": None, "role": None, "note": None, "lon": None, "lat": None,
            "photo_ids": None, "queue": None, "assignee_id": None, "department_code": None})
    step(c3, "feed_back", worker, T0 + timedelta(days=5), note="已处理")
    # 4 and 5: on time, no phone: the village operator rates 满意 on site
    others = []
    for _ in range(2):
        c = new_case(None)
        step(c, "accept", worker, T0 + 5 * minutes)
        step(c, "feed_back", worker, T0 + 30 * minutes, note="已清运")
        step(c, "close", operator, T0 + 40 * minutes)
        step(c, "evaluate", operator, T0 + 50 * minutes, to="满意")
        others.append(c)
    yield url, leaf, [c1, c2, c3, *others]
    engine_for(url).dispose()
    pg_server.drop_database(name)


def by_hand() -> dict:
    """The history's numbers, from README's formulas, worked out here."""
    handled, on_time, yellow, red = 5, 3, 1, 1  # cases 1, 4, 5 on time; 2, 3 late
    ratings = {"very_satisfied": 1, "satisfied": 2, "basically_satisfied": 0, "dissatisfied": 1}
    score = on_time * 1 + yellow * -5 + red * -10 + (1 * 2 + 2 * 1 + 0 * 0 + 1 * -3)  # = -11
    r = 3 / 5
    s = 3 / 4  # three of four ratings are not 不满意
    c = (1 + 2 * 1) / 5
    index = 100 * (0.5 * r + 0.5 * s) - 50 * c  # 67.5 - 30 = 37.5
    return {"handled": handled, "on_time": on_time, "yellow": yellow, "red": red, **ratings,
            "score": score, "party_points": 2 * handled + score, "index": 37.5,
            "index_check": index, "stars": 1}


def test_a_workers_score_and_a_villages_stars_match_the_hand_computation(history):
    url, leaf, _cases = history
    expected = by_hand()
    assert expected["score"] == -11 and expected["index_check"] == pytest.approx(37.5)
    win = scores.window(datetime(2027, 3, 1).date(), datetime(2027, 3, 31).date())
    with session_scope(url) as s:
        party = s.execute(text("SELECT party_member FROM people WHERE id = :id"),
                          {"id": leaf["worker_id"]}).scalar_one()
        workers = scores.scores(s, "workers", scores.Scope("town", ("140525108",)), win)
        villages = scores.scores(s, "villages", scores.Scope("town", ("140525108",)), win)
        grids = scores.scores(s, "grids", scores.Scope("town", ("140525108",)), win)
    [me] = [w for w in workers if w["person_id"] == leaf["worker_id"]]
    for key in ("handled", "on_time", "yellow", "red", "very_satisfied", "satisfied",
                "basically_satisfied", "dissatisfied", "score"):
        assert me[key] == expected[key], key
    assert me["party_points"] == (expected["party_points"] if party else None)
    assert len(workers) == 1  # nobody else acted in the month
    [village] = villages
    assert village["code"] == leaf["parent_code"][:12]
    assert (village["handled"], village["on_time"], village["yellow"], village["red"]) == (
        5, 3, 1, 1)
    assert village["index"] == expected["index"] and village["stars"] == expected["stars"]
    assert village["on_time_rate"] == 0.6 and village["satisfied_share"] == 0.75
    assert village["secretary"]  # the village's grid leader
    [grid] = grids
    assert grid["code"] == leaf["code"] and grid["score"] == expected["score"]


def test_party_points_need_the_flag_and_the_demo_marks_some(history):
    url, _leaf, _ = history
    with session_scope(url) as s:
        flags = s.execute(text("SELECT party_member, count(*) FROM people "
                               "WHERE role = 'grid_worker' GROUP BY 1")).all()
    assert {f for f, _n in flags} == {True, False}


def test_the_api_answers_json_and_csv_in_the_callers_scope(history):
    url, leaf, _ = history
    village = leaf["parent_code"][:12]
    client = create_app({"DATABASE_URL": url}).test_client()
    town = headers(token_for(url, "scores_town_operator", "town_operator"))
    for kind in scores.KINDS:  # each row's fields and their types, as documented
        assert_documented("GET", f"/api/v1/stats/{kind}",
                          client.get(f"/api/v1/stats/{kind}", query_string=WINDOW, headers=town))
    body = client.get("/api/v1/stats/workers", query_string=WINDOW, headers=town).get_json()
    assert body["kind"] == "workers" and body["formulas"] == scores.formulas()
    [me] = body["items"]
    assert (me["person_id"], me["score"]) == (leaf["worker_id"], by_hand()["score"])

    got = client.get("/api/v1/stats/villages", query_string={**WINDOW, "format": "csv"},
                     headers=town)
    assert got.status_code == 200 and got.mimetype == "text/csv"
    assert_documented("GET", "/api/v1/stats/villages", got)  # the fuzzer found it undocumented
    raw = got.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0])[:3] == ["code", "name", "secretary"]
    assert [(r["code"], r["stars"], r["index"]) for r in rows] == [(village, "1", "37.5")]
    grids_csv = client.get("/api/v1/stats/grids", query_string={**WINDOW, "format": "csv"},
                           headers=town).get_data().decode("utf-8-sig")
    assert grids_csv.splitlines()[1].startswith(leaf["code"] + ",")

    mine = headers(token_for(url, "scores_vo_mine", "village_operator", scope=village))
    assert [v["code"] for v in client.get("/api/v1/stats/villages", query_string=WINDOW,
                                          headers=mine).get_json()["items"]] == [village]
    other_village = client.application.test_client()
    with session_scope(url) as s:
        other = s.execute(text("SELECT left(code, 12) FROM grids WHERE level = 'admin' AND "
                               "left(code, 12) <> :v ORDER BY code LIMIT 1"),
                          {"v": village}).scalar_one()
    theirs = headers(token_for(url, "scores_vo_other", "village_operator", scope=other))
    assert other_village.get("/api/v1/stats/workers", query_string=WINDOW,
                             headers=theirs).get_json()["items"] == []

    worker = headers(token_for(url, "scores_worker", "grid_worker",
                               person_id=leaf["worker_id"]))
    refused = client.get("/api/v1/stats/workers", headers=worker)
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
    anonymous = client.get("/api/v1/stats/villages")
    assert anonymous.status_code == 401
    backwards = client.get("/api/v1/stats/grids", query_string={"from": "2027-03-31",
                                                                "until": "2027-03-01"},
                           headers=town)
    assert backwards.status_code == 422 and backwards.get_json()["error"] == "invalid_window"
    bad_format = client.get("/api/v1/stats/grids", query_string={"format": "xls"}, headers=town)
    assert bad_format.status_code == 422
    # days past the ends of the calendar's arithmetic: 500s that make fuzz found
    for window in ({"until": "0001-01-01"}, {"until": "9999-12-31"}, {"from": "9999-12-31"}):
        far = client.get("/api/v1/stats/villages", query_string={**window, "format": "csv"},
                         headers=town)
        assert far.status_code == 422, (window, far.text)
        assert far.get_json()["error"] == "invalid_window" and "1900-01-01" in far.text


def test_readme_carries_the_modules_formulas():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert scores.formulas() in readme
