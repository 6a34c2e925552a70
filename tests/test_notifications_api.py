"""The notification list over HTTP (web/api/notifications.py), on a copy of the demo with a
yellow card issued by a real supervision pass: the grid worker and the village center each read
theirs, newest first and paged; marking read touches only the account's own; bad input is 422
and writes nothing; no credentials is 401."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from cases import intake, supervision
from cases.deadlines import LOCAL_TZ
from db.session import engine_for, session_scope
from tests import clock_support
from tests.test_transitions_api import auth, demo_leaf
from web import create_app

FRIDAY_1600 = datetime(2026, 12, 4, 16, 0, tzinfo=LOCAL_TZ)


@pytest.fixture
def url(demo_copy_url):
    intake.clear_caches()
    yield demo_copy_url
    engine_for(demo_copy_url).dispose()


def carded_cases(url: str, n: int) -> list[int]:
    """``n`` new cases of the demo worker's grid, each with a yellow card on its accept clock
    (the demo's own running clocks ended first, so the cards are these alone)."""
    leaf = demo_leaf(url)
    ids = []
    with session_scope(url) as s:
        s.execute(text("UPDATE case_deadlines SET met_at = started_at WHERE met_at IS NULL"))
        for _ in range(n):
            req = intake.CaseRequest(category="patrol.exposed_rubbish", description="暴露垃圾",
                                     channel="resident", lon=leaf["lon"], lat=leaf["lat"])
            case_id = intake.create_case(s, req).case["id"]
            s.execute(text("UPDATE case_deadlines SET met_at = started_at "
                           "WHERE case_id = :id AND met_at IS NULL"), {"id": case_id})
            clock_support.start_clock(s, case_id, "accept", FRIDAY_1600,
                                      due_at=FRIDAY_1600 + timedelta(days=30),
                                      yellow_at=FRIDAY_1600 + timedelta(hours=1))
            ids.append(case_id)
    with session_scope(url) as s:
        supervision.supervise(s, FRIDAY_1600 + timedelta(hours=2))
    return ids


def test_each_account_reads_its_own_newest_first_and_pages(url, demo_tokens):
    first, second = carded_cases(url, 2)
    client = create_app({"DATABASE_URL": url}).test_client()
    worker = demo_tokens[demo_leaf(url)["account"]]
    got = client.get("/api/v1/notifications", headers=auth(worker)).get_json()
    assert [(n["case_id"], n["signal"]) for n in got["items"]] == [(second, "yellow"),
                                                                    (first, "yellow")]
    assert got["unread"] == 2 and got["next_before"] is None
    assert got["items"][0]["links"]["page"] == f"/cases/{second}"
    page = client.get("/api/v1/notifications?limit=1", headers=auth(worker)).get_json()
    assert [n["case_id"] for n in page["items"]] == [second]
    rest = client.get(f"/api/v1/notifications?limit=1&before={page['next_before']}",
                      headers=auth(worker)).get_json()
    assert [n["case_id"] for n in rest["items"]] == [first] and rest["next_before"] is None
    village = client.get("/api/v1/notifications", headers=auth(demo_tokens["village_operator"]))
    assert sorted(n["case_id"] for n in village.get_json()["items"]) == [first, second]
    handler = client.get("/api/v1/notifications", headers=auth(demo_tokens["department_handler"]))
    assert handler.get_json() == {"items": [], "next_before": None, "unread": 0}


def test_marking_read_touches_only_the_accounts_own(url, demo_tokens):
    (case_id,) = carded_cases(url, 1)
    client = create_app({"DATABASE_URL": url}).test_client()
    worker = auth(demo_tokens[demo_leaf(url)["account"]])
    village = auth(demo_tokens["village_operator"])
    mine = client.get("/api/v1/notifications", headers=worker).get_json()["items"][0]["id"]
    theirs = client.get("/api/v1/notifications", headers=village).get_json()["items"][0]["id"]
    got = client.post("/api/v1/notifications/read", json={"ids": [mine, theirs]}, headers=worker)
    assert got.status_code == 200 and got.get_json() == {"marked": [mine], "unread": 0}
    assert client.get("/api/v1/notifications?unread=1", headers=worker).get_json()["items"] == []
    assert client.get("/api/v1/notifications?unread=1",
                      headers=village).get_json()["unread"] == 1
    again = client.post("/api/v1/notifications/read", json={"ids": [mine]}, headers=worker)
    assert again.get_json()["marked"] == []


@pytest.mark.parametrize("body", [{"ids": []}, {"ids": ["x"]}, {}, {"ids": [1], "all": True},
                                  {"ids": [2**70]}, {"ids": list(range(1, 502))}])
def test_bad_input_is_422_and_marks_nothing(url, demo_tokens, body):
    carded_cases(url, 1)
    client = create_app({"DATABASE_URL": url}).test_client()
    worker = auth(demo_tokens[demo_leaf(url)["account"]])
    got = client.post("/api/v1/notifications/read", json=body, headers=worker)
    assert got.status_code == 422 and got.get_json()["error"] == "invalid_body"
    assert client.get("/api/v1/notifications", headers=worker).get_json()["unread"] == 1
    for bad in ("unread=2", f"before={2**70}", "limit=0"):
        assert client.get(f"/api/v1/notifications?{bad}", headers=worker).status_code == 422


def test_without_credentials_is_401(url):
    client = create_app({"DATABASE_URL": url}).test_client()
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post("/api/v1/notifications/read", json={"ids": [1]}).status_code == 401
