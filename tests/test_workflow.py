"""The machine as data (cases/workflow.py): it is consistent with the states, roles and clocks
it names; every demo case's state rebuilds from its events alone, and so do cases moved by
real transitions and reassignments; README's diagram is the one the data draws."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from accounts.actor import ROLES
from cases import intake
from cases.assignment import reassign_case
from cases.models import CLOCKS, QUEUES, STATES
from cases.workflow import ACTIONS, CLOSED_STATES, LEVELS, ROLE_LEVEL, diagram, readme_block, rebuild
from db.session import engine_for, session_scope
from demo.cases import PATHS
from tests.test_intake_api import leaf_with_one_worker
from tests.test_transitions import new_case, step, town_operator, village_operator, worker

README = Path(__file__).resolve().parents[1] / "README.md"
REBUILT = ("status", "queue", "assignee_id", "department_code", "version")


def test_the_machine_names_only_states_roles_levels_and_clocks_that_exist():
    assert set(LEVELS) == set(QUEUES)
    assert set(ROLE_LEVEL) <= set(ROLES)
    for action in ACTIONS.values():
        assert set(action.sources) <= set(STATES), action.name
        assert action.target is None or action.target in STATES, action.name
        assert set(action.roles) <= set(ROLES) | {"resident"}, action.name
        assert set(action.meets) | set(action.starts) <= set(CLOCKS), action.name
        assert not set(action.sources) & {"voided"}, action.name  # nothing leaves voided
    # every open state has a way forward, every state but the first is reachable
    reachable = {"collected", "dispatched"}
    for _ in STATES:
        for action in ACTIONS.values():
            if set(action.sources) & reachable and action.target:
                reachable.add(action.target)
    assert reachable == set(STATES)
    for state in set(STATES) - set(CLOSED_STATES):
        assert any(state in a.sources and (a.target or a.name == "resume") for a in ACTIONS.values()), state
    assert set(PATHS) == set(STATES)


def _rebuilt_and_rows(url: str, where: str = "true") -> tuple[dict, dict]:
    with session_scope(url) as s:
        rows = {r["id"]: {k: r[k] for k in REBUILT} for r in s.execute(text(
            f"SELECT id, {', '.join(REBUILT)} FROM cases WHERE {where}")).mappings()}
        by_case: dict[int, list] = {}
        for e in s.execute(text("SELECT case_id, to_status, queue, assignee_id, department_code "
                                "FROM case_events ORDER BY case_id, at, id")).mappings():
            by_case.setdefault(e["case_id"], []).append(e)
    return {cid: rebuild(by_case.get(cid, [])) for cid in rows}, rows


def test_every_demo_case_rebuilds_from_its_events_alone(demo_db_url):
    rebuilt, rows = _rebuilt_and_rows(demo_db_url)
    engine_for(demo_db_url).dispose()
    assert len(rows) > 1000
    statuses = {r["status"] for r in rows.values()}
    assert {"filed", "dispatched", "handling", "escalated", "fed_back", "closed", "evaluated",
            "returned", "parked", "voided"} <= statuses
    wrong = {cid: (rebuilt[cid], rows[cid]) for cid in rows if rebuilt[cid] != rows[cid]}
    assert wrong == {}


def test_cases_moved_by_transitions_and_reassignment_rebuild_too(demo_copy_url):
    url = demo_copy_url
    intake.clear_caches()
    leaf = leaf_with_one_worker(url)
    other = next(o for o in (leaf_with_one_worker(url, offset=k) for k in range(1, 20))
                 if o["worker_id"] != leaf["worker_id"])
    village = village_operator(leaf["parent_code"][:12])
    a, b, c = (new_case(url, leaf) for _ in range(3))
    step(url, a, "accept", worker(leaf))
    step(url, a, "escalate", worker(leaf), note="上报")
    step(url, a, "escalate", village, note="上报镇")
    step(url, a, "dispatch", town_operator(), to={"department": "anquan"})
    step(url, a, "supervise", town_operator(), note="请今天内处理")
    step(url, b, "return", worker(leaf), note="派错")
    step(url, b, "merge", village, to=c)
    with session_scope(url) as s:
        reassign_case(s, c, other["worker_id"], "原网格员请假", "operator:张三")
    rebuilt, rows = _rebuilt_and_rows(url, f"id IN ({a}, {b}, {c})")
    engine_for(url).dispose()
    assert rows[a]["queue"] == "department" and rows[b]["status"] == "voided"
    assert rows[c]["assignee_id"] == other["worker_id"] and rows[c]["version"] == 3
    assert rebuilt == rows


def test_readme_shows_the_diagram_and_the_actions_the_machine_draws():
    readme = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- workflow:start -->\n(.*?)<!-- workflow:end -->", readme, re.S)
    assert found, "README has no generated Workflow block"
    assert found.group(1) == readme_block(), "README's workflow is stale: run scripts/workflow_readme.py"
    assert "```mermaid\n" + diagram() + "```" in found.group(1)
    assert "| `supervise` | 督办 |" in found.group(1)


def test_every_action_has_a_name_in_both_languages():
    from web.i18n import EVENT

    for lang in ("zh", "en"):
        assert set(ACTIONS) | {"merged_in"} <= set(EVENT[lang]), lang


def test_a_case_dispatched_from_the_town_queue_by_reassignment_gets_the_dispatch_clocks(demo_copy_url):
    url = demo_copy_url
    intake.clear_caches()
    leaf = leaf_with_one_worker(url)
    req = intake.CaseRequest(category="patrol.street_light", description="路灯不亮", channel="hotline",
                             address="山西省晋城市泽州县巴公镇")
    with session_scope(url) as s:
        case = intake.create_case(s, req).case
    assert case["status"] == "collected"
    with session_scope(url) as s:
        reassign_case(s, case["id"], leaf["worker_id"], "镇中心派遣", "operator:李")
        clocks = {r["clock"]: r["met_at"] is None for r in s.execute(text(
            "SELECT clock, met_at FROM case_deadlines WHERE case_id = :id"), {"id": case["id"]}).mappings()}
    engine_for(url).dispose()
    assert clocks == {"dispatch": False, "accept": True, "handle": True}


def test_rebuild_counts_a_version_for_each_change_and_none_for_a_card():
    events = [
        {"to_status": "dispatched", "queue": "grid", "assignee_id": 7, "department_code": None},
        {"to_status": None, "queue": None, "assignee_id": None, "department_code": None},  # a card
        {"to_status": "handling", "queue": "grid", "assignee_id": 7, "department_code": None},
        {"to_status": "escalated", "queue": "village", "assignee_id": None, "department_code": None},
    ]
    assert rebuild(events) == {"status": "escalated", "queue": "village", "assignee_id": None,
                               "department_code": None, "version": 3}


def test_the_demo_open_cases_have_the_running_clocks_their_events_leave(demo_db_url):
    with session_scope(demo_db_url) as s:
        found = s.execute(text("""
            SELECT c.status::text,
                   -- as text: an array of the domain gridgov_clock (migration 0076) is a type
                   -- psycopg does not know, and reads as one string
                   array_agg(d.clock::text ORDER BY d.clock) FILTER (WHERE d.id IS NOT NULL) AS clocks,
                   bool_or(d.suspended_at IS NOT NULL) AS suspended, count(*) AS n
              FROM cases c LEFT JOIN case_deadlines d ON d.case_id = c.id AND d.met_at IS NULL
             GROUP BY c.id, c.status""")).all()
    engine_for(demo_db_url).dispose()
    expected = {"collected": ["dispatch"], "filed": ["dispatch"], "dispatched": ["accept", "handle"],
                "handling": ["handle"], "escalated": ["dispatch"], "fed_back": ["check"],
                "returned": ["dispatch"], "parked": ["handle"],
                "closed": None, "evaluated": None, "voided": None}
    seen = set()
    for status, clocks, suspended, _ in found:
        assert clocks == expected[status], status
        assert bool(suspended) == (status == "parked"), status
        seen.add(status)
    assert {"dispatched", "handling", "parked", "fed_back", "closed"} <= seen
