"""The workflow's transitions on a real PostGIS (a copy of the demo per test): the closed loop
end to end, every illegal transition (409 with the allowed list), scope (403), stale and
concurrent versions (exactly one of two wins, on two real connections), each refused input
with nothing written, merges, and the event log's immutability."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text

from accounts.actor import RESIDENT, Actor
from cases import intake
from cases.errors import (
    CaseVoided, ExtensionPending, InvalidTarget, NoteTooLong, OutsideScope, PersonOffDuty,
    ReasonRequired, ReopenNotDissatisfied, ReopenTooLate, StaleVersion, TooManyPhotos,
    TransitionNotAllowed, UnknownAction,
)
from cases.models import STATES
from cases.transitions import allowed_actions, apply_transition
from cases.workflow import ACTIONS
from db.session import conninfo, engine_for, session_scope
from tests.test_intake_api import leaf_with_one_worker
from tests.waits import HANG_S

TOWN = "140525108"
T0 = datetime.fromisoformat("2026-11-23T09:00:00+08:00")  # a Monday


@pytest.fixture
def url(demo_copy_url):
    intake.clear_caches()
    yield demo_copy_url
    engine_for(demo_copy_url).dispose()


def town_operator(name: str = "镇指挥中心 王") -> Actor:
    return Actor(role="town_operator", name=name, account_id=1, scope_kind="town", scope_code=TOWN)


def village_operator(village: str) -> Actor:
    return Actor(role="village_operator", name="村便民服务中心 李", account_id=2,
                 scope_kind="village", scope_code=village)


def worker(leaf: dict) -> Actor:
    return Actor(role="grid_worker", name=leaf["worker_name"], account_id=3,
                 person_id=leaf["worker_id"], scope_kind="grids", grid_codes=frozenset({leaf["code"]}))


def handler(department: str) -> Actor:
    return Actor(role="department_handler", name="环保站 赵", account_id=4,
                 scope_kind="department", scope_code=department)


def new_case(url: str, leaf: dict, category: str = "patrol.exposed_rubbish", at: datetime = T0) -> int:
    req = intake.CaseRequest(category=category, description="路边有暴露垃圾", channel="resident",
                             lon=leaf["lon"], lat=leaf["lat"], reporter_name="张三",
                             reporter_phone="13812345678")
    with session_scope(url) as s:
        return intake.create_case(s, req, now=at).case["id"]


def step(url: str, case_id: int, action: str, actor: Actor, **kw):
    """One transition in its own transaction, on the case's current version."""
    with session_scope(url) as s:
        version = kw.pop("version", None)
        if version is None:
            version = s.execute(text("SELECT version FROM cases WHERE id = :id"), {"id": case_id}).scalar()
        return apply_transition(s, case_id, action, actor, version, **kw)


def row(url: str, case_id: int) -> dict:
    with session_scope(url) as s:
        return dict(s.execute(text("SELECT * FROM cases WHERE id = :id"), {"id": case_id}).mappings().one())


def events(url: str, case_id: int) -> list[dict]:
    with session_scope(url) as s:
        return [dict(r) for r in s.execute(text(
            "SELECT * FROM case_events WHERE case_id = :id ORDER BY id"), {"id": case_id}).mappings()]


def clocks(url: str, case_id: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    with session_scope(url) as s:
        for r in s.execute(text("SELECT * FROM case_deadlines WHERE case_id = :id ORDER BY id"),
                           {"id": case_id}).mappings():
            out.setdefault(r["clock"], []).append(dict(r))
    return out


def test_the_closed_loop_from_a_grid_to_a_department_and_back_by_a_dissatisfied_resident(url):
    leaf = leaf_with_one_worker(url)
    village = leaf["parent_code"][:12]
    case_id = new_case(url, leaf)
    assert row(url, case_id)["status"] == "dispatched"
    assert set(clocks(url, case_id)) == {"accept", "handle"}  # intake started them

    me = worker(leaf)
    assert [a["action"] for a in allowed_actions_of(url, case_id, me)] == [
        "accept", "escalate", "return", "request_extension", "note"]
    out = step(url, case_id, "accept", me, position=(leaf["lon"], leaf["lat"]), at=T0 + timedelta(minutes=5))
    assert out["status"] == "handling" and out["version"] == 2
    step(url, case_id, "escalate", me, note="需要镇里协调", at=T0 + timedelta(hours=1))
    r = row(url, case_id)
    assert (r["status"], r["queue"], r["assignee_id"]) == ("escalated", "village", None)
    step(url, case_id, "escalate", village_operator(village), note="村里解决不了",
         at=T0 + timedelta(hours=2))
    assert row(url, case_id)["queue"] == "town"
    step(url, case_id, "dispatch", town_operator(), to={"department": "huanbao"},
         at=T0 + timedelta(hours=3))
    r = row(url, case_id)
    assert (r["status"], r["queue"], r["department_code"], r["sender_level"]) == (
        "dispatched", "department", "huanbao", "town")
    env = handler("huanbao")
    with pytest.raises(OutsideScope):
        step(url, case_id, "accept", handler("anquan"))
    step(url, case_id, "accept", env, at=T0 + timedelta(hours=4))
    step(url, case_id, "feed_back", env, note="已清运", at=T0 + timedelta(hours=5),
         photos=[intake.photo("after.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)])
    with pytest.raises(OutsideScope):  # the village did not dispatch it: the town closes
        step(url, case_id, "close", village_operator(village))
    step(url, case_id, "close", town_operator(), at=T0 + timedelta(hours=6))
    step(url, case_id, "evaluate", RESIDENT, to="不满意", at=T0 + timedelta(days=1))
    r = row(url, case_id)
    assert (r["status"], r["satisfaction"], r["closed_level"], r["closed_by"]) == (
        "evaluated", "dissatisfied", "town", 1)
    step(url, case_id, "reopen", RESIDENT, note="垃圾又堆起来了", at=T0 + timedelta(days=2))
    r = row(url, case_id)
    assert (r["status"], r["queue"], r["department_code"], r["closed_at"]) == ("filed", "town", None, None)
    assert r["version"] == 10  # created + 9 transitions

    log = events(url, case_id)
    assert [e["type"] for e in log] == ["created", "accept", "escalate", "escalate", "dispatch", "accept",
                                        "feed_back", "close", "evaluate", "reopen"]
    accept = log[1]
    assert (accept["role"], accept["account_id"], accept["actor"]) == ("grid_worker", 3, leaf["worker_name"])
    assert (accept["lon"], accept["lat"]) == (leaf["lon"], leaf["lat"])
    assert log[6]["note"] == "已清运" and len(log[6]["photo_ids"]) == 1
    assert log[4]["data"]["to"] == {"person_id": None, "department": "huanbao"}
    c = clocks(url, case_id)
    assert [k["met_at"] is not None for k in c["accept"]] == [True, True]
    assert all(k["met_at"] is not None for k in c["handle"] + c["check"])
    # each escalation and the reopen started a dispatch clock; the next step met it
    assert [k["met_at"] is None for k in c["dispatch"]] == [False, False, True]
    running = [k for name in c for k in c[name] if k["met_at"] is None]
    assert [k["clock"] for k in running] == ["dispatch"]  # the reopened case waits to be dispatched


def allowed_actions_of(url: str, case_id: int, actor: Actor) -> list[dict]:
    with session_scope(url) as s:
        return allowed_actions(s, case_id, actor)


def _force(url: str, case_id: int, status: str, **columns) -> None:
    """Put a case in a state directly (test setup: the machine's own paths are tested above)."""
    sets = ", ".join(f"{k} = :{k}" for k in columns)
    with session_scope(url) as s:
        s.execute(text(f"UPDATE cases SET status = :status{', ' + sets if sets else ''} WHERE id = :id"),
                  {"status": status, "id": case_id, **columns})


@pytest.mark.parametrize("state", [s for s in STATES if s != "voided"])
def test_every_action_not_allowed_from_a_state_is_409_with_the_allowed_list(url, state):
    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf)
    extra = {"satisfaction": "dissatisfied"} if state == "evaluated" else {}
    _force(url, case_id, state, queue="town", **extra)
    actor = town_operator()
    allowed = [a["action"] for a in allowed_actions_of(url, case_id, actor)]
    illegal = [name for name, a in ACTIONS.items() if state not in a.sources]
    assert illegal, state
    before = row(url, case_id)
    for name in illegal:
        with pytest.raises(TransitionNotAllowed) as err:
            step(url, case_id, name, actor, note="x", to=None)
        assert err.value.details == {"status": state, "allowed": allowed}, name
    after = row(url, case_id)
    assert after["version"] == before["version"] and len(events(url, case_id)) == 1


def test_a_voided_case_refuses_every_action(url):
    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf)
    step(url, case_id, "return", worker(leaf), note="不是本网格的事")
    step(url, case_id, "void", village_operator(leaf["parent_code"][:12]), to="invalid")
    assert row(url, case_id)["status"] == "voided"
    for name in ACTIONS:
        with pytest.raises(CaseVoided):
            step(url, case_id, name, town_operator(), note="x")


def test_out_of_scope_and_wrong_role_are_403_and_write_nothing(url):
    leaf = leaf_with_one_worker(url)
    other = next(o for o in (leaf_with_one_worker(url, offset=k) for k in range(1, 60))
                 if o["parent_code"] != leaf["parent_code"])
    case_id = new_case(url, leaf)
    refusals = [
        ("accept", worker(other), "outside"),  # another grid's worker
        ("escalate", village_operator(other["parent_code"][:12]), "role"),  # not the holder level
        ("accept", town_operator(), "may not accept"),  # a town operator does not accept
        ("supervise", worker(leaf), "may not supervise"),
        ("supervise", village_operator(other["parent_code"][:12]), "outside"),
    ]
    for action, actor, _ in refusals:
        with pytest.raises(OutsideScope):
            step(url, case_id, action, actor, note="督办")
    assert row(url, case_id)["version"] == 1 and len(events(url, case_id)) == 1
    # in scope, the same actions pass
    step(url, case_id, "supervise", village_operator(leaf["parent_code"][:12]), note="请尽快处理")
    step(url, case_id, "accept", worker(leaf))
    assert row(url, case_id)["version"] == 3


@pytest.mark.parametrize(("action", "kw", "error"), [
    ("fly", {}, UnknownAction),
    ("return", {}, ReasonRequired),
    ("return", {"note": "   "}, ReasonRequired),
    ("return", {"note": "因" * 2001}, NoteTooLong),
    ("request_extension", {"note": "材料未到"}, InvalidTarget),
    ("request_extension", {"note": "材料未到", "to": 0}, InvalidTarget),
    ("accept", {"to": {"person_id": 1}}, InvalidTarget),
    ("accept", {"position": (500, 35)}, InvalidTarget),
    ("feed_back", {"photos": [intake.photo("p.png", b"\x89PNG\r\n\x1a\n")] * 6}, TooManyPhotos),
])
def test_bad_input_is_refused_with_its_own_error_and_nothing_written(url, action, kw, error):
    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf)
    with pytest.raises(error) as err:
        step(url, case_id, action, worker(leaf), **kw)
    assert err.value.message
    if error is UnknownAction:
        assert err.value.details == {"valid": list(ACTIONS)}
    r = row(url, case_id)
    assert (r["status"], r["version"]) == ("dispatched", 1)
    assert len(events(url, case_id)) == 1
    assert sum(len(v) for v in clocks(url, case_id).values()) == 2


def test_a_stale_version_is_409_with_the_current_state(url):
    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf)
    step(url, case_id, "accept", worker(leaf))
    with pytest.raises(StaleVersion) as err:
        step(url, case_id, "feed_back", worker(leaf), version=1)
    assert err.value.details == {"status": "handling", "version": 2}


def test_of_two_concurrent_accepts_on_two_connections_exactly_one_wins(url):
    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf)
    first_applied, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def first():
        try:
            with session_scope(url) as s:
                results["first"] = apply_transition(s, case_id, "accept", worker(leaf), 1)
                first_applied.set()
                release.wait(HANG_S)  # hold the row lock until the second is waiting on it
        except Exception as exc:  # noqa: BLE001 (the main thread reports it)
            results["first"] = exc
            first_applied.set()

    def second():
        first_applied.wait(HANG_S)
        try:
            with session_scope(url) as s:
                results["second"] = apply_transition(s, case_id, "accept", worker(leaf), 1)
        except StaleVersion as exc:
            results["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    # the second transaction read version 1 too and now waits for the first's row lock
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for _ in range(HANG_S * 20):
            waiting = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND query LIKE '%%UPDATE cases%%'").fetchone()[0]
            if waiting:
                break
            threading.Event().wait(0.05)
        assert waiting == 1
    release.set()
    for t in threads:
        t.join(HANG_S)
    assert results["first"]["version"] == 2
    assert isinstance(results["second"], StaleVersion)
    assert results["second"].details == {"status": "handling", "version": 2}
    assert [e["type"] for e in events(url, case_id)] == ["created", "accept"]


def test_guards_extension_pending_reopen_window_and_rating(url):
    leaf = leaf_with_one_worker(url)
    village = village_operator(leaf["parent_code"][:12])
    case_id = new_case(url, leaf)
    step(url, case_id, "request_extension", worker(leaf), note="等配件", to=2)
    with pytest.raises(ExtensionPending):
        step(url, case_id, "request_extension", worker(leaf), note="再等", to=3)
    with pytest.raises(OutsideScope):  # the holder cannot approve its own request
        step(url, case_id, "approve_extension", worker(leaf))
    step(url, case_id, "refuse_extension", village, note="不需要延期")
    assert row(url, case_id)["extension_days"] is None
    for action in ("accept", "feed_back"):
        step(url, case_id, action, worker(leaf))
    step(url, case_id, "close", village)
    with pytest.raises(InvalidTarget):
        step(url, case_id, "evaluate", RESIDENT, to="还行")
    step(url, case_id, "evaluate", RESIDENT, to="满意", at=T0 + timedelta(days=1))
    with pytest.raises(ReopenNotDissatisfied):
        step(url, case_id, "reopen", village)

    late = new_case(url, leaf)
    for action in ("accept", "feed_back"):
        step(url, late, action, worker(leaf))
    step(url, late, "close", village, at=T0)
    step(url, late, "evaluate", village, to="dissatisfied", at=T0 + timedelta(days=1))
    with pytest.raises(ReopenTooLate):
        step(url, late, "reopen", village, at=T0 + timedelta(days=8, minutes=1))
    step(url, late, "reopen", village, at=T0 + timedelta(days=7))
    assert row(url, late)["queue"] == "village"


def test_dispatch_checks_its_person_and_only_the_town_sends_to_a_department(url):
    leaf = leaf_with_one_worker(url)
    village = village_operator(leaf["parent_code"][:12])
    case_id = new_case(url, leaf)
    step(url, case_id, "return", worker(leaf), note="派错了")
    assert row(url, case_id)["queue"] == "village"
    with pytest.raises(InvalidTarget):
        step(url, case_id, "dispatch", village, to={"department": "huanbao"})
    with pytest.raises(InvalidTarget):
        step(url, case_id, "dispatch", town_operator(), to={"department": "nowhere"})
    with pytest.raises(InvalidTarget):
        step(url, case_id, "dispatch", village, to={"person_id": 999999})
    with session_scope(url) as s:
        s.execute(text("UPDATE people SET on_duty = false WHERE id = :id"), {"id": leaf["worker_id"]})
    with pytest.raises(PersonOffDuty):
        step(url, case_id, "dispatch", village, to={"person_id": leaf["worker_id"]})
    with session_scope(url) as s:
        s.execute(text("UPDATE people SET on_duty = true WHERE id = :id"), {"id": leaf["worker_id"]})
    step(url, case_id, "dispatch", village, to={"person_id": leaf["worker_id"]})
    r = row(url, case_id)
    assert (r["status"], r["queue"], r["assignee_id"], r["sender_level"]) == (
        "dispatched", "grid", leaf["worker_id"], "village")


def test_a_merge_voids_the_duplicate_with_a_link_and_records_its_reporter_on_both(url):
    leaf = leaf_with_one_worker(url)
    village = village_operator(leaf["parent_code"][:12])
    original = new_case(url, leaf)
    duplicate = new_case(url, leaf)
    step(url, duplicate, "return", worker(leaf), note="重复")
    with pytest.raises(InvalidTarget):
        step(url, duplicate, "merge", village, to=duplicate)
    step(url, duplicate, "merge", village, to=original, note="同一处垃圾")
    d, o = row(url, duplicate), row(url, original)
    assert (d["status"], d["merged_into"]) == ("voided", original)
    assert o["version"] == 2 and o["status"] == "dispatched"
    assert o["supporters"] == 1, "the duplicate's reporter counts as a supporter (+N)"
    mine, theirs = events(url, duplicate)[-1], events(url, original)[-1]
    assert mine["type"] == "merge" and theirs["type"] == "merged_in"
    assert mine["data"]["supporter"] == theirs["data"]["supporter"] == {"name": "张三", "phone": "13812345678"}
    assert theirs["data"]["duplicate"] == duplicate


@pytest.mark.parametrize("statement", ["UPDATE case_events SET note = 'rewritten'", "DELETE FROM case_events"])
def test_the_database_refuses_to_rewrite_or_delete_events(url, statement):
    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf)
    step(url, case_id, "accept", worker(leaf), note="收到")
    with psycopg.connect(conninfo(url)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(f"{statement} WHERE case_id = %s", (case_id,))
    assert [e["note"] for e in events(url, case_id)] == [None, "收到"]


def _at_town(url: str, case_id: int) -> None:
    """Escalate a fresh intake case up to the town center (grid → village → town)."""
    leaf = _leaf_of(url, case_id)
    step(url, case_id, "escalate", worker(leaf), note="上报")
    step(url, case_id, "escalate", village_operator(leaf["parent_code"][:12]), note="上报镇")


def _leaf_of(url: str, case_id: int) -> dict:
    leaf = leaf_with_one_worker(url)
    assert row(url, case_id)["grid_code"] == leaf["code"]
    return leaf


OTHER_TOWN = "140525999"


@pytest.mark.parametrize("role", ["town_operator", "town_leader", "village_operator", "grid_leader",
                                  "grid_worker", "auxiliary", "department_handler", "planner", "admin",
                                  "resident"])
def test_each_role_takes_a_legal_action_in_scope_and_the_same_one_out_of_scope_is_403(url, role):
    leaf = leaf_with_one_worker(url)
    village = leaf["parent_code"][:12]
    case_id = new_case(url, leaf)
    # (the action, the actor in scope, the same actor out of scope, what the action needs)
    if role in ("town_operator", "town_leader"):
        _at_town(url, case_id)
        inside = Actor(role=role, name=role, account_id=9, scope_kind="town", scope_code=TOWN)
        outside = Actor(role=role, name=role, account_id=9, scope_kind="town", scope_code=OTHER_TOWN)
        action, kw = ("dispatch", {"to": {"department": "huanbao"}}) if role == "town_operator" else (
            "supervise", {"note": "限期办结"})
    elif role in ("village_operator", "grid_leader"):
        step(url, case_id, "return", worker(leaf), note="派错")
        other = next(o for o in (leaf_with_one_worker(url, offset=k) for k in range(1, 60))
                     if o["parent_code"] != leaf["parent_code"])
        inside = Actor(role=role, name=role, account_id=9, scope_kind="village", scope_code=village)
        outside = Actor(role=role, name=role, account_id=9, scope_kind="village",
                        scope_code=other["parent_code"][:12])
        action, kw = "dispatch", {"to": {"person_id": leaf["worker_id"]}}
    elif role == "grid_worker":
        inside, outside = worker(leaf), Actor(role=role, name=role, account_id=9, scope_kind="grids",
                                              grid_codes=frozenset({"140525108999001"}))
        action, kw = "accept", {}
    elif role == "department_handler":
        _at_town(url, case_id)
        step(url, case_id, "dispatch", town_operator(), to={"department": "huanbao"})
        inside, outside = handler("huanbao"), handler("anquan")
        action, kw = "accept", {}
    elif role == "resident":
        for name in ("accept", "feed_back"):
            step(url, case_id, name, worker(leaf))
        with pytest.raises(OutsideScope):  # a resident rates and reopens, nothing else
            step(url, case_id, "close", RESIDENT)
        step(url, case_id, "close", village_operator(village))
        inside, outside = RESIDENT, RESIDENT
        action, kw = "evaluate", {"to": "满意"}
    else:  # auxiliary, planner, admin: no workflow action is theirs, in scope or not
        scope = {"auxiliary": ("grids", None), "planner": ("town", TOWN), "admin": ("town", TOWN)}[role]
        actor = Actor(role=role, name=role, account_id=9, scope_kind=scope[0], scope_code=scope[1],
                      grid_codes=frozenset({leaf["code"]}))
        assert allowed_actions_of(url, case_id, actor) == []
        with pytest.raises(OutsideScope):
            step(url, case_id, "accept", actor)
        return
    if role != "resident":  # (a resident's scope is the rating link, checked by the web layer)
        before = row(url, case_id)["version"]
        with pytest.raises(OutsideScope):
            step(url, case_id, action, outside, **kw)
        assert row(url, case_id)["version"] == before
        assert action not in [a["action"] for a in allowed_actions_of(url, case_id, outside)]
    assert action in [a["action"] for a in allowed_actions_of(url, case_id, inside)]
    out = step(url, case_id, action, inside, **kw)
    assert out["event"]["type"] == action
    assert events(url, case_id)[-1]["role"] == role


@pytest.mark.parametrize(("action", "most"), [("accept", 4), ("dispatch", 6), ("park", 6)])
def test_a_transition_is_a_handful_of_statements(url, action, most):
    from sqlalchemy import event as sa_event

    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf)
    village = village_operator(leaf["parent_code"][:12])
    if action == "dispatch":
        step(url, case_id, "return", worker(leaf), note="派错")
    kw = {"dispatch": {"to": {"person_id": leaf["worker_id"]}},
          "park": {"note": "施工", "to": "2030-01-01"}}.get(action, {})
    actor = worker(leaf) if action == "accept" else village
    statements: list[str] = []
    engine = engine_for(url)

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with session_scope(url) as s:  # warm: the categories and the calendar, cached per process
        allowed_actions(s, case_id, actor)
        version = row(url, case_id)["version"]
        sa_event.listen(engine, "before_cursor_execute", count)
        try:
            apply_transition(s, case_id, action, actor, version, **kw)
        finally:
            sa_event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= most, statements


def test_a_pending_extension_goes_with_the_holder_who_asked_for_it(url):
    leaf = leaf_with_one_worker(url)
    case_id = new_case(url, leaf)
    step(url, case_id, "request_extension", worker(leaf), note="等配件", to=3)
    assert row(url, case_id)["extension_days"] == 3
    step(url, case_id, "escalate", worker(leaf), note="上报")
    assert row(url, case_id)["extension_days"] is None
