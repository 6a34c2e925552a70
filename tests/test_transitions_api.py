"""The workflow over HTTP (web/api/transitions.py) on a copy of the demo, with the demo's
accounts: for each role a legal action in scope (200), the same out of scope (403), nothing
without credentials (401); the version (If-Match, 428, 422); each refused input with nothing
written; and two concurrent POSTs on one version against a real ``gridgov serve``."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request

import pytest

from accounts import repository as accounts_repository
from cases import intake
from db.session import engine_for, session_scope
from tests.accounts_support import token_for
from tests.openapi_support import assert_documented
from tests.test_intake_api import leaf_with_one_worker, query
from tests.waits import HANG_S
from web import create_app

TOWN = "140525108"
OTHER_TOWN = "140525999"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000000000400010d0a2db4"
                    "0000000049454e44ae426082")


@pytest.fixture
def url(demo_copy_url):
    intake.clear_caches()
    yield demo_copy_url
    engine_for(demo_copy_url).dispose()


@pytest.fixture
def client(url):
    return create_app({"DATABASE_URL": url}).test_client()


def auth(token: str, version: int | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {token}"}
    if version is not None:
        out["If-Match"] = f'"{version}"'
    return out


def demo_leaf(url: str) -> dict:
    """A service grid of the demo accounts' village with one grid worker on duty who has a
    demo account (``account``)."""
    rows = query(url, """
        SELECT g.code, g.parent_code, ST_X(ST_PointOnSurface(g.geom)) AS lon,
               ST_Y(ST_PointOnSurface(g.geom)) AS lat, min(p.id) AS worker_id,
               min(acc.name) AS account
          FROM grids g
          JOIN grid_assignments a ON a.grid_code = g.code AND a.role = 'worker'
          JOIN people p ON p.id = a.person_id AND p.on_duty
          LEFT JOIN accounts acc ON acc.person_id = p.id AND acc.role = 'grid_worker'
         WHERE g.level = 'service' AND g.valid_to IS NULL
           AND substr(g.code, 1, 12) = (SELECT scope_code FROM accounts
                                         WHERE name = 'village_operator')
         GROUP BY g.id HAVING count(*) = 1 AND min(acc.name) IS NOT NULL
         ORDER BY g.code LIMIT 1""")
    return rows[0]


def other_village_leaf(url: str, leaf: dict) -> dict:
    return next(o for o in (leaf_with_one_worker(url, offset=k) for k in range(60))
                if o["code"][:12] != leaf["code"][:12])


def new_case(url: str, leaf: dict) -> int:
    req = intake.CaseRequest(category="patrol.exposed_rubbish", description="路边有暴露垃圾",
                             channel="resident", lon=leaf["lon"], lat=leaf["lat"])
    with session_scope(url) as s:
        return intake.create_case(s, req).case["id"]


def state(url: str, case_id: int) -> dict:
    return query(url, "SELECT status, version, queue, department_code, "
                      "(SELECT count(*) FROM case_events WHERE case_id = :id) AS events, "
                      "(SELECT count(*) FROM case_photos WHERE case_id = :id) AS photos "
                      "FROM cases WHERE id = :id", id=case_id)[0]


def post(client, case_id: int, token: str, body: dict, version: int | None = None):
    return client.post(f"/api/v1/cases/{case_id}/transitions", json=body,
                       headers=auth(token, version))


def act(client, url: str, case_id: int, token: str, action: str, **body):
    """One action on the case's current version; it must pass."""
    got = post(client, case_id, token, {"action": action, **body}, state(url, case_id)["version"])
    assert got.status_code == 200, got.get_json()
    return got.get_json()


def other_town_token(url: str, role: str) -> str:
    """An account of another town (written directly: the demo loads one town, and accounts
    refuse a scope that is not loaded)."""
    name = f"{role}_elsewhere"
    with session_scope(url) as s:
        accounts_repository.insert_account(s, {
            "name": name, "display_name": name, "role": role, "scope_kind": "town",
            "scope_code": OTHER_TOWN, "person_id": None, "password_hash": None})
    return token_for(url, name)


def at_town(client, url, case_id, tokens, leaf):
    """The case sent up: the grid worker to the village center, the village center to the town."""
    act(client, url, case_id, tokens[leaf["account"]], "escalate", note="无法处置")
    act(client, url, case_id, tokens["village_operator"], "escalate", note="需镇里协调")


@pytest.mark.parametrize("role", ["grid_worker", "grid_leader", "village_operator",
                                  "town_operator", "town_leader", "department_handler"])
def test_each_role_acts_in_scope_and_is_403_out_of_scope(url, client, demo_tokens, role):
    leaf = demo_leaf(url)
    inside_case, outside_case = new_case(url, leaf), None
    token = demo_tokens[leaf["account"] if role == "grid_worker" else role]
    outside_token = token
    if role in ("grid_worker", "grid_leader"):
        action, body = "accept", {}
        outside_case = new_case(url, other_village_leaf(url, leaf))
    elif role == "village_operator":
        action, body = "supervise", {"note": "请尽快处理"}
        outside_case = new_case(url, other_village_leaf(url, leaf))
    elif role in ("town_operator", "town_leader"):
        action, body = "supervise", {"note": "限期办结"}
        outside_case, outside_token = inside_case, other_town_token(url, role)
    else:  # the department handler: a case the town dispatched to its department, and another's
        outside_case = new_case(url, leaf)
        for case_id, department in ((inside_case, "chengguan"), (outside_case, "huanbao")):
            at_town(client, url, case_id, demo_tokens, leaf)
            act(client, url, case_id, demo_tokens["town_operator"], "dispatch",
                to={"department": department})
        action, body = "accept", {}

    before = state(url, outside_case)
    refused = post(client, outside_case, outside_token, {"action": action, **body},
                   before["version"])
    assert refused.status_code == 403, refused.get_json()
    assert refused.get_json()["error"] in ("out_of_scope", "outside_scope")
    assert state(url, outside_case) == before

    listed = client.get(f"/api/v1/cases/{inside_case}/transitions", headers=auth(token))
    assert listed.status_code == 200
    assert action in [a["action"] for a in listed.get_json()["actions"]]
    version = listed.get_json()["version"]
    assert listed.headers["ETag"] == f'"{version}"'
    done = post(client, inside_case, token, {"action": action, **body}, version)
    assert done.status_code == 200, done.get_json()
    assert_documented("POST", "/api/v1/cases/{case_id}/transitions", done)  # the event, typed
    out = done.get_json()
    assert out["version"] == version + 1 and done.headers["ETag"] == f'"{version + 1}"'
    assert out["event"]["type"] == action
    last = query(url, "SELECT role, type FROM case_events WHERE case_id = :id ORDER BY id DESC "
                      "LIMIT 1", id=inside_case)[0]
    assert last == {"role": role, "type": action}


@pytest.mark.parametrize("role", ["auxiliary", "planner", "admin"])
def test_roles_without_a_workflow_action_are_403(url, client, demo_tokens, role):
    case_id = new_case(url, demo_leaf(url))
    before = state(url, case_id)
    got = post(client, case_id, demo_tokens[role], {"action": "accept"}, before["version"])
    assert got.status_code == 403 and got.get_json()["error"] == "forbidden"
    assert client.get(f"/api/v1/cases/{case_id}/transitions",
                      headers=auth(demo_tokens[role])).status_code == 403
    assert state(url, case_id) == before


def test_without_credentials_is_401(url, client):
    case_id = new_case(url, demo_leaf(url))
    before = state(url, case_id)
    got = client.post(f"/api/v1/cases/{case_id}/transitions", json={"action": "accept"},
                      headers={"If-Match": f'"{before["version"]}"'})
    assert got.status_code == 401 and got.get_json()["error"] == "not_authenticated"
    assert client.get(f"/api/v1/cases/{case_id}/transitions").status_code == 401
    assert state(url, case_id) == before


def test_an_illegal_transition_is_409_listing_the_allowed(url, client, demo_tokens):
    leaf = demo_leaf(url)
    case_id = new_case(url, leaf)
    before = state(url, case_id)
    got = post(client, case_id, demo_tokens[leaf["account"]], {"action": "feed_back"},
               before["version"])
    assert got.status_code == 409
    body = got.get_json()
    assert body["error"] == "transition_not_allowed"
    assert body["details"]["status"] == "dispatched"
    assert "accept" in body["details"]["allowed"] and "feed_back" not in body["details"]["allowed"]
    assert state(url, case_id) == before


def test_the_version_from_the_body_if_match_missing_or_contradicting(url, client, demo_tokens):
    leaf = demo_leaf(url)
    case_id = new_case(url, leaf)
    token = demo_tokens[leaf["account"]]
    before = state(url, case_id)
    missing = post(client, case_id, token, {"action": "accept"})
    assert missing.status_code == 428 and missing.get_json()["error"] == "version_required"
    both = post(client, case_id, token, {"action": "accept", "version": before["version"] + 1},
                before["version"])
    assert both.status_code == 422 and both.get_json()["error"] == "version_mismatch"
    bad = client.post(f"/api/v1/cases/{case_id}/transitions", json={"action": "accept"},
                      headers={**auth(token), "If-Match": "*"})
    assert bad.status_code == 422 and bad.get_json()["error"] == "invalid_if_match"
    assert state(url, case_id) == before
    stale = post(client, case_id, token, {"action": "accept", "version": before["version"] + 5})
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale_version"
    assert stale.get_json()["details"] == {"status": "dispatched", "version": before["version"]}
    ok = post(client, case_id, token, {"action": "accept", "version": before["version"]})
    assert ok.status_code == 200 and ok.get_json()["status"] == "handling"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"action": "teleport"}, 422, "unknown_action"),
    ({"action": "return"}, 422, "reason_required"),
    ({"action": "return", "note": "派" * 2001}, 422, "note_too_long"),
    ({"action": "request_extension", "note": "需要材料", "to": 99}, 422, "invalid_target"),
    ({"action": "accept", "to": {"person_id": 1}}, 422, "invalid_target"),
    ({"action": "accept", "colour": "red"}, 422, "invalid_body"),
])
def test_refused_input_writes_nothing(url, client, demo_tokens, body, status, code):
    leaf = demo_leaf(url)
    case_id = new_case(url, leaf)
    before = state(url, case_id)
    got = post(client, case_id, demo_tokens[leaf["account"]], body, before["version"])
    assert (got.status_code, got.get_json()["error"]) == (status, code), got.get_json()
    assert got.get_json()["message"]
    assert state(url, case_id) == before


def test_a_photo_that_is_not_an_image_is_refused_and_a_real_one_kept(url, client, demo_tokens):
    leaf = demo_leaf(url)
    case_id = new_case(url, leaf)
    token = demo_tokens[leaf["account"]]
    before = state(url, case_id)
    form = {"action": "accept", "note": "到场", "photos": [(io.BytesIO(b"%PDF-1.4 not"), "scan.pdf")]}
    got = client.post(f"/api/v1/cases/{case_id}/transitions", data=form,
                      content_type="multipart/form-data", headers=auth(token, before["version"]))
    assert got.status_code == 422 and got.get_json()["error"] == "unsupported_photo"
    assert state(url, case_id) == before
    form = {"action": "accept", "note": "到场", "position": json.dumps([leaf["lon"], leaf["lat"]]),
            "photos": [(io.BytesIO(PNG), "site.png")]}
    got = client.post(f"/api/v1/cases/{case_id}/transitions", data=form,
                      content_type="multipart/form-data", headers=auth(token, before["version"]))
    assert got.status_code == 200, got.get_json()
    assert len(got.get_json()["event"]["photo_ids"]) == 1
    assert state(url, case_id)["photos"] == before["photos"] + 1


def test_a_transition_on_a_voided_case_is_409(url, client, demo_tokens):
    leaf = demo_leaf(url)
    case_id = new_case(url, leaf)
    token = demo_tokens[leaf["account"]]
    act(client, url, case_id, token, "return", note="不是本网格的事")
    act(client, url, case_id, demo_tokens["village_operator"], "void", to="invalid",
        note="无效上报")
    before = state(url, case_id)
    assert before["status"] == "voided"
    got = post(client, case_id, demo_tokens["village_operator"],
               {"action": "dispatch", "to": {"person_id": leaf["worker_id"]}}, before["version"])
    assert got.status_code == 409 and got.get_json()["error"] == "case_voided"
    assert state(url, case_id) == before


def test_two_concurrent_accepts_on_one_version_one_wins(url, demo_tokens, gridgov_server):
    leaf = demo_leaf(url)
    case_id = new_case(url, leaf)
    version = state(url, case_id)["version"]
    server = gridgov_server(url, workers=2)
    token = demo_tokens[leaf["account"]]
    barrier = threading.Barrier(2, timeout=HANG_S)
    answers: list[tuple[int, dict]] = []

    def accept():
        req = urllib.request.Request(
            f"{server.base}/api/v1/cases/{case_id}/transitions", method="POST",
            data=json.dumps({"action": "accept"}).encode(),
            headers={**auth(token, version), "Content-Type": "application/json"})
        barrier.wait()
        try:
            with urllib.request.urlopen(req, timeout=HANG_S) as resp:
                answers.append((resp.status, json.load(resp)))
        except urllib.error.HTTPError as exc:
            answers.append((exc.code, json.load(exc)))

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_S)
    assert sorted(status for status, _ in answers) == [200, 409], answers
    lost = next(body for status, body in answers if status == 409)
    assert lost["error"] == "stale_version"
    assert lost["details"] == {"status": "handling", "version": version + 1}
    after = state(url, case_id)
    assert (after["status"], after["version"]) == ("handling", version + 1)
    accepts = query(url, "SELECT count(*) AS n FROM case_events WHERE case_id = :id AND "
                         "type = 'accept'", id=case_id)[0]["n"]
    assert accepts == 1


def test_the_operation_is_documented(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    path = doc["paths"]["/api/v1/cases/{case_id}/transitions"]
    assert set(path) == {"get", "post"}
    assert {"409", "428", "403", "401", "422"} <= set(path["post"]["responses"])
    assert "multipart/form-data" in path["post"]["requestBody"]["content"]
