"""Assignment to a person: the leaf grid's worker on duty; with several, the one with the
fewest open cases; with none on duty, the village's grid leader; an operator's reassignment
recorded as an event. Each test works on its own copy of the demo (it changes who is on duty
and who holds which cases)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cases import intake
from db.session import engine_for, session_scope
from tests.accounts_support import bearer
from tests.test_intake_api import at_point, leaf_with_one_worker, post_case, query
from web import create_app


@pytest.fixture
def client(demo_copy_url, operator_token):
    intake.clear_caches()
    yield bearer(create_app({"DATABASE_URL": demo_copy_url}).test_client(), operator_token)
    engine_for(demo_copy_url).dispose()


def add_worker(url: str, grid_code: str, name: str) -> int:
    """A new grid worker on duty, posted to ``grid_code``."""
    with session_scope(url) as s:
        pid = s.execute(text(
            "INSERT INTO people (name, role, title, phone, village_code, on_duty, town_code) "
            "VALUES (:name, 'grid_worker', '网格员', '13900000000', left(:grid, 12), true, '140525108') "
            "RETURNING id"), {"name": name, "grid": grid_code}).scalar()
        s.execute(text("INSERT INTO grid_assignments (person_id, grid_code, role) VALUES (:p, :g, 'worker')"),
                  {"p": pid, "g": grid_code})
    return pid


def give_cases(url: str, person_id: int, n: int, status: str) -> None:
    """``n`` cases in ``status`` held by the person (copies of an existing case's fields)."""
    with session_scope(url) as s:
        s.execute(text("""
            INSERT INTO cases (town_code, category_code, description, status, channel, assignee_id, geom)
            SELECT town_code, category_code, description, :status, channel, :p, geom
              FROM cases ORDER BY id LIMIT :n"""), {"status": status, "p": person_id, "n": n})


def open_cases(url: str, person_id: int) -> int:
    return query(url, "SELECT count(*) AS n FROM cases WHERE assignee_id = :p "
                      "AND status NOT IN ('closed', 'evaluated', 'voided')", p=person_id)[0]["n"]


def leader_of(url: str, admin_code: str) -> dict:
    return query(url, "SELECT p.id, p.name FROM grid_assignments a JOIN people p ON p.id = a.person_id "
                      "WHERE a.grid_code = :c AND a.role = 'leader'", c=admin_code)[0]


def test_the_only_worker_on_duty_gets_the_case(client, demo_copy_url):
    leaf = leaf_with_one_worker(demo_copy_url)
    body = post_case(client, location=at_point(leaf)).get_json()
    assert body["assignee"]["id"] == leaf["worker_id"]
    assert "the grid worker on duty" in body["assignment_reason"]


def test_with_several_on_duty_the_one_with_fewest_open_cases_gets_it(client, demo_copy_url):
    leaf = leaf_with_one_worker(demo_copy_url)
    first = leaf["worker_id"]
    held = open_cases(demo_copy_url, first)
    second = add_worker(demo_copy_url, leaf["code"], "王新")
    give_cases(demo_copy_url, second, held + 2, "closed")  # closed cases do not count
    give_cases(demo_copy_url, second, held + 1, "handling")
    body = post_case(client, location=at_point(leaf)).get_json()
    assert body["assignee"]["id"] == first
    assert f"({held}, against 王新 {held + 1})" in body["assignment_reason"]
    assert open_cases(demo_copy_url, first) == held + 1
    # now level: the tie goes to the lower person id, the first worker again
    body = post_case(client, location=at_point(leaf)).get_json()
    assert body["assignee"]["id"] == min(first, second)
    # the first worker now holds more: the new one gets the next
    body = post_case(client, location=at_point(leaf)).get_json()
    assert body["assignee"]["id"] == second
    event = query(demo_copy_url, "SELECT data FROM case_events WHERE case_id = :id", id=body["id"])[0]
    assert event["data"]["assignment"]["open_cases"] == {str(first): held + 2, str(second): held + 1}


def test_with_no_worker_on_duty_the_grid_leader_gets_it(client, demo_copy_url):
    leaf = leaf_with_one_worker(demo_copy_url)
    r = client.patch(f"/api/v1/people/{leaf['worker_id']}", json={"on_duty": False})
    assert r.status_code == 200 and r.get_json()["on_duty"] is False
    leader = leader_of(demo_copy_url, leaf["parent_code"])
    body = post_case(client, location=at_point(leaf)).get_json()
    assert body["assignee"]["id"] == leader["id"]
    assert body["status"] == "dispatched"
    assert "no grid worker on duty" in body["assignment_reason"]
    assert leader["name"] in body["assignment_reason"]
    # back on duty: back to the worker
    assert client.patch(f"/api/v1/people/{leaf['worker_id']}", json={"on_duty": True}).status_code == 200
    assert post_case(client, location=at_point(leaf)).get_json()["assignee"]["id"] == leaf["worker_id"]


def test_an_operators_reassignment_is_recorded_as_an_event(client, demo_copy_url):
    leaf = leaf_with_one_worker(demo_copy_url)
    other = leaf_with_one_worker(demo_copy_url, offset=5)
    case = post_case(client, location=at_point(leaf)).get_json()
    r = client.post(f"/api/v1/cases/{case['id']}/assignee",
                    json={"person_id": other["worker_id"], "reason": "原网格员请假"})
    assert r.status_code == 200, r.get_json()
    detail = r.get_json()
    assert detail["assignee"]["id"] == other["worker_id"]
    assert detail["status"] == "dispatched"
    assert [e["type"] for e in detail["events"]] == ["created", "reassigned"]
    event = detail["events"][1]
    assert event["actor"] == "town_operator:town_operator"  # the signed-in account, not the body's
    assert event["data"]["from"]["id"] == leaf["worker_id"]
    assert event["data"]["to"]["id"] == other["worker_id"]
    assert event["data"]["reason"] == "原网格员请假"
    row = query(demo_copy_url, "SELECT assignee_id, assignment_reason FROM cases WHERE id = :id", id=case["id"])[0]
    assert row["assignee_id"] == other["worker_id"]
    assert "town_operator:town_operator" in row["assignment_reason"]
    assert "原网格员请假" in row["assignment_reason"]
    assert client.get(f"/api/v1/cases/{case['id']}").get_json()["events"] == detail["events"]


def test_assigning_a_case_waiting_in_the_town_queue_dispatches_it(client, demo_copy_url):
    worker = leaf_with_one_worker(demo_copy_url)["worker_id"]
    case = post_case(client, address="山西省晋城市泽州县巴公镇").get_json()
    assert case["status"] == "collected" and case["assignee"] is None
    r = client.post(f"/api/v1/cases/{case['id']}/assignee",
                    json={"person_id": worker, "reason": "镇中心派遣", "actor": "operator:李"})
    detail = r.get_json()
    assert detail["status"] == "dispatched" and detail["assignee"]["id"] == worker
    event = detail["events"][-1]
    assert (event["from_status"], event["to_status"]) == ("collected", "dispatched")
    assert event["data"]["from"] is None


@pytest.mark.parametrize(("what", "status", "code"), [
    ("unknown case", 404, "case_not_found"),
    ("unknown person", 404, "person_not_found"),
    ("off-duty person", 422, "person_off_duty"),
    ("same person", 409, "already_assigned"),
    ("closed case", 409, "case_closed"),
])
def test_a_reassignment_that_cannot_be_done_is_refused(client, demo_copy_url, what, status, code):
    leaf = leaf_with_one_worker(demo_copy_url)
    other = leaf_with_one_worker(demo_copy_url, offset=5)
    case_id = post_case(client, location=at_point(leaf)).get_json()["id"]
    person = other["worker_id"]
    if what == "unknown case":
        case_id = 999_999_999
    elif what == "unknown person":
        person = 999_999
    elif what == "off-duty person":
        client.patch(f"/api/v1/people/{person}", json={"on_duty": False})
    elif what == "same person":
        person = leaf["worker_id"]
    elif what == "closed case":
        with session_scope(demo_copy_url) as s:
            s.execute(text("UPDATE cases SET status = 'closed' WHERE id = :id"), {"id": case_id})
    r = client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": person, "reason": "x", "actor": "op"})
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"] == code
    events = query(demo_copy_url, "SELECT type FROM case_events WHERE case_id = :id", id=case_id)
    assert [e["type"] for e in events] == ([] if what == "unknown case" else ["created"])


@pytest.mark.parametrize(("body", "fields"), [
    ({"person_id": 3, "actor": "op"}, {"reason"}),
    ({"person_id": "3", "reason": "x", "actor": "op"}, {"person_id"}),
    ({"person_id": 0, "reason": "x", "actor": "op"}, {"person_id"}),
    ({"person_id": 3, "reason": "", "actor": "x" * 101}, {"reason", "actor"}),
    ({"person_id": 3, "reason": "x", "actor": "op", "force": True}, {"force"}),
])
def test_a_reassignment_with_bad_fields_is_422_per_field(client, body, fields):
    r = client.post("/api/v1/cases/1/assignee", json=body)
    assert r.status_code == 422
    assert {d["field"] for d in r.get_json()["details"]} == fields


@pytest.mark.parametrize(("body", "status", "fields"), [
    ({"on_duty": "yes"}, 422, {"on_duty"}),
    ({"on_duty": 1}, 422, {"on_duty"}),
    ({}, 422, {"on_duty"}),
    ({"on_duty": False, "name": "x"}, 422, {"name"}),
])
def test_setting_on_duty_with_bad_fields_is_422(client, body, status, fields):
    r = client.patch("/api/v1/people/1", json=body)
    assert r.status_code == status
    assert {d["field"] for d in r.get_json()["details"]} == fields


def test_setting_on_duty_of_an_unknown_person_is_404(client):
    r = client.patch("/api/v1/people/999999", json={"on_duty": False})
    assert r.status_code == 404 and r.get_json()["error"] == "person_not_found"
    assert client.patch("/api/v1/people/1", data="{", content_type="application/json").status_code == 400
