"""The duplicate flag at intake (issue 9, point 5): a new case of the same category within 50 m
and 24 h of an open case is stored with ``probable_duplicate_of`` (the nearest such case), by
the intake's own INSERT, over the GiST index of open cases; and ``supporters`` ("+N") shows
where the case does."""

from __future__ import annotations

import json
import math
import os
import re
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cases import intake, repository
from cases.deadlines import LOCAL_TZ
from db.driver import array_literal, driver_connection, driver_sql
from db.session import engine_for, session_scope
from tests.test_intake_api import query
from web import create_app
from tests.accounts_support import bearer
from tests.plan_support import admin_url, explaining, plan_nodes

CATEGORY = "patrol.exposed_rubbish"
OTHER_CATEGORY = "patrol.road_damage"
M_PER_DEG_LAT = 110_574.0  # the shortest degree of latitude: offsets err on the far side


@pytest.fixture(scope="module")
def dup_url(pg_server, demo_db_url):
    """A copy of the demo for this module (it adds cases)."""
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()
    name = f"gridgov_test_duplicates_{os.getpid()}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def client(dup_url, operator_token):
    """The town operator's client: reads cases with their personal data."""
    intake.clear_caches()
    return bearer(create_app({"DATABASE_URL": dup_url}).test_client(), operator_token)


_spots = iter(range(1000))


@pytest.fixture
def spot(dup_url) -> dict:
    """A point inside a leaf grid with no case of the test categories within 300 m, a new one
    for every test (so the tests do not see each other's cases)."""
    rows = query(dup_url, """
        SELECT ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
          FROM grids g
         WHERE g.level IN ('regional', 'service') AND g.valid_to IS NULL
           AND NOT EXISTS (
                SELECT 1 FROM cases c
                 WHERE c.category_code IN (:a, :b)
                   AND ST_DWithin(c.geom::geography, ST_PointOnSurface(g.geom)::geography, 300))
         ORDER BY g.code OFFSET :offset LIMIT 1""", a=CATEGORY, b=OTHER_CATEGORY,
        offset=next(_spots))
    return rows[0]


def moved(spot: dict, east_m: float = 0.0, north_m: float = 0.0) -> dict:
    """``spot`` moved by metres (a local flat approximation, well within a metre at 60 m)."""
    lat = spot["lat"] + north_m / M_PER_DEG_LAT
    lon = spot["lon"] + east_m / (111_320.0 * math.cos(math.radians(spot["lat"])))
    return {"lon": lon, "lat": lat}


def distance_m(url: str, a: dict, b: dict) -> float:
    return query(url, """SELECT ST_Distance(ST_SetSRID(ST_MakePoint(:a, :b), 4326)::geography,
                                         ST_SetSRID(ST_MakePoint(:c, :d), 4326)::geography) AS m""",
                 a=a["lon"], b=a["lat"], c=b["lon"], d=b["lat"])[0]["m"]


def original(url: str, at: dict, hours_ago: float, category: str = CATEGORY) -> int:
    """A case reported ``hours_ago`` hours ago at ``at`` (through intake, committed)."""
    now = datetime.now(LOCAL_TZ) - timedelta(hours=hours_ago)
    req = intake.CaseRequest(category=category, description="原案件", channel="patrol",
                             lon=at["lon"], lat=at["lat"])
    with session_scope(url) as s:
        case_id = intake.create_case(s, req, now=now).case["id"]
        s.commit()
    return case_id


def report(client, at: dict, category: str = CATEGORY) -> dict:
    r = client.post("/api/v1/cases", json={
        "category": category, "description": "新上报", "channel": "resident",
        "location": {**at, "crs": "wgs84"}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_same_category_30_m_and_10_h_is_flagged_in_the_answer_the_case_and_its_event(
        client, dup_url, spot):
    first = original(dup_url, spot, hours_ago=10)
    at = moved(spot, east_m=30)
    assert 29 < distance_m(dup_url, spot, at) < 31
    body = report(client, at)
    assert body["probable_duplicate_of"] == first
    assert body["supporters"] == 0
    shown = client.get(f"/api/v1/cases/{body['id']}").get_json()
    assert shown["probable_duplicate_of"] == first
    assert client.get(f"/api/v1/cases/{first}").get_json()["probable_duplicate_of"] is None
    event = query(dup_url, "SELECT data FROM case_events WHERE case_id = :id", id=body["id"])[0]
    assert event["data"]["probable_duplicate_of"] == first


def test_60_m_away_is_not_flagged(client, dup_url, spot):
    original(dup_url, spot, hours_ago=1)
    at = moved(spot, north_m=60)
    assert 59 < distance_m(dup_url, spot, at) < 61
    assert report(client, at)["probable_duplicate_of"] is None


def test_25_h_earlier_is_not_flagged(client, dup_url, spot):
    original(dup_url, spot, hours_ago=25)
    assert report(client, moved(spot, east_m=10))["probable_duplicate_of"] is None


def test_another_category_is_not_flagged(client, dup_url, spot):
    original(dup_url, spot, hours_ago=1, category=OTHER_CATEGORY)
    assert report(client, moved(spot, east_m=10))["probable_duplicate_of"] is None


def test_a_closed_original_is_not_flagged(client, dup_url, spot):
    first = original(dup_url, spot, hours_ago=2)
    with session_scope(dup_url) as s:
        s.execute(text("UPDATE cases SET status = 'closed', closed_at = now() WHERE id = :id"),
                  {"id": first})
        s.commit()
    assert report(client, moved(spot, east_m=10))["probable_duplicate_of"] is None


def test_the_nearest_of_two_open_cases_is_chosen(client, dup_url, spot):
    far = original(dup_url, moved(spot, east_m=40), hours_ago=3)
    near = original(dup_url, moved(spot, east_m=-15), hours_ago=20)
    assert far != near
    assert report(client, spot)["probable_duplicate_of"] == near


def test_a_case_long_past_finds_its_duplicate_over_every_month(dup_url, spot):
    # migration 0074: the 24 h of a case created 150 days ago lie outside the recent months,
    # so its lookup reads every month (a test's or an import's moment; an intake's is now)
    first = original(dup_url, spot, hours_ago=150 * 24)
    then = datetime.now(LOCAL_TZ) - timedelta(hours=150 * 24 - 10)
    req = intake.CaseRequest(category=CATEGORY, description="旧案", channel="patrol",
                             **moved(spot, east_m=30))
    with session_scope(dup_url) as s:
        found = intake.create_case(s, req, now=then).case["probable_duplicate_of"]
        s.rollback()
    assert found == first


def test_a_window_left_months_behind_still_finds_the_duplicate(dup_url, spot):
    # the recent months as the background worker would have left them had it not run for a
    # year (both functions written over in this transaction, rolled back): an intake's 24 h lie
    # outside them, and its lookup reads every month
    first = original(dup_url, spot, hours_ago=10)
    req = intake.CaseRequest(category=CATEGORY, description="新上报", channel="patrol",
                             **moved(spot, east_m=30))
    with session_scope(dup_url) as s:
        for which, months in (("from", 13), ("until", 10)):
            s.execute(text(
                f"CREATE OR REPLACE FUNCTION gridgov_recent_{which}() RETURNS timestamptz"
                f" LANGUAGE sql IMMUTABLE AS $$ SELECT date_trunc('month', now()) - interval"
                f" '{months} months' $$"))
        stale = "SELECT gridgov_recent_until() < now() - interval '9 months'"
        assert s.execute(text(stale)).scalar()
        found = intake.create_case(s, req).case["probable_duplicate_of"]
        s.rollback()
    assert found == first


def test_supporters_show_on_the_case_and_its_page(client, dup_url, spot):
    first = original(dup_url, spot, hours_ago=1)
    with session_scope(dup_url) as s:
        s.execute(text("UPDATE cases SET supporters = 3 WHERE id = :id"), {"id": first})
        s.commit()
    assert client.get(f"/api/v1/cases/{first}").get_json()["supporters"] == 3
    page = client.get(f"/cases/{first}?lang=zh").get_data(as_text=True)
    assert "+3" in page


@contextmanager
def _admin_engine(pg_server, url: str, **options):
    """An engine on the database of ``url`` as the server's superuser, its connections closed
    afterwards (auto_explain stays loaded in a connection until it closes)."""
    engine = engine_for(admin_url(pg_server, url))
    try:
        yield engine.execution_options(**options)
    finally:
        engine.dispose()


def _explaining(conn: psycopg.Connection) -> list[dict]:
    """The plans of the insert's statement (the body of the function insert_case, migration
    0070) each time ``conn`` runs it from now on: a list that fills as it runs."""
    return explaining(conn, "near AS MATERIALIZED")


def _generic(plan: dict) -> bool:
    """Whether ``plan`` is a generic plan: the start of the 24 h is compared with the
    statement's parameter (``created_at >= ($13 - '24:00:00'::interval)``) where a custom
    plan, made for one call's values, has the moment written in."""
    return re.search(r"created_at >= \(\$\d+ ", json.dumps(plan["Plan"])) is not None


def _insert_values(spot: dict, created_at: datetime) -> dict:
    """The function insert_case's arguments as the intake sends them, for a case at ``spot``
    created at ``created_at``."""
    return {
        "town_code": "140525108", "category_code": CATEGORY, "description": "x",
        "status": "collected", "channel": "patrol", "address": None, "grid_code": None,
        "admin_code": None, "assignee_id": None, "reporter_name": None, "reporter_phone": None,
        "occurred_at": None, "created_at": created_at, "due_at": None,
        "dispatch_due_at": None, "lon": spot["lon"], "lat": spot["lat"], "input_crs": "wgs84",
        "geocode_precision": "point", "geocode_score": None, "geocode_match": None,
        "queue": "grid", "on_boundary": False, "grid_version": 1, "routing_reason": None,
        "assignment_reason": None, "idempotency_key": None, "request_hash": None,
        "boundary_version": 1, "routed_town": "140525108",
        "actor": "test", "event_data": json.dumps({}),
        **{f"clock_{k}": array_literal([])
           for k in ("names", "started", "due", "soon", "yellow", "red", "units")},
    }


def _parents(s: Session) -> dict[str, str]:
    """cases is partitioned by month (migration 0060): each month's scan names its own table
    and its own copy of an index; the parent of each (cases, ix_cases_open_geom,
    ix_cases_created_at) by its name."""
    return dict(s.execute(text(
        "SELECT c.relname, p.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE p.relname IN ('cases', 'ix_cases_open_geom', 'ix_cases_created_at')")).all())


def _window_months(s: Session) -> set[str]:
    """The month partitions of cases within the recent months (migration 0074)."""
    start, end = s.execute(text(
        "SELECT CAST(gridgov_recent_from() AT TIME ZONE 'Asia/Shanghai' AS date),"
        "       CAST(gridgov_recent_until() AT TIME ZONE 'Asia/Shanghai' AS date)")).one()
    names = s.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'cases'::regclass")).scalars()
    return {n for n in names if (m := re.fullmatch(r"cases_p(\d{4})_(\d{2})", n))
            and start <= date(int(m[1]), int(m[2]), 1) < end}


def test_the_lookup_reads_the_box_of_the_recent_months_pruned_when_planned(pg_server, dup_url,
                                                                            spot):
    # the plans the function insert_case runs on (auto_explain: tests/plan_support.py), with
    # the values of a real intake, on a busy day (all rolled back): the open cases near the
    # point come from ix_cases_open_geom in the recent months, the others pruned while the
    # lookup was planned, and in the 24 h's months of those when it started; the insert itself
    # reads no table of cases
    values = _insert_values(spot, datetime.now(LOCAL_TZ))
    with _admin_engine(pg_server, dup_url) as engine, Session(engine) as s:
        # A busy day first, as under the intake's steady load (bench/http_bench.py: 300
        # reports/s for a few minutes): the demo's cases 15 times over (61,605), each at a
        # moment of the last 24 h, and the statistics taken. On the demo alone the 24 h hold a
        # dozen cases and either index reads a handful of rows, so the planner's choice
        # between them says nothing: at 14:00 on 1 December, Beijing, it took November's
        # created_at index for the ten hours of the window in that month.
        s.execute(text("SET LOCAL gridgov.bulk = 'on'"))  # no live notices for these
        s.execute(text("""
            INSERT INTO cases (town_code, category_code, description, status, channel,
                               created_at, updated_at, geom)
            SELECT town_code, category_code, description, 'dispatched', channel, t, t, geom
              FROM (SELECT c.*, CAST(:now AS timestamptz) - random() * interval '24 hours' AS t
                      FROM cases c, generate_series(1, 15)) busy"""), {"now": values["created_at"]})
        s.execute(text("ANALYZE cases"))
        conn = driver_connection(s)
        plans = _explaining(conn)
        inserts = explaining(conn, "WITH new_case AS")
        inserted = conn.execute(driver_sql(repository._q("insert_case").text), values).fetchone()
        parent = _parents(s)
        window = _window_months(s)
        # a month with cases in it: an empty one is read whole (it has nothing to read)
        populated = set(s.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'cases'::regclass AND c.reltuples >= 100")).scalars())
        s.rollback()
    assert inserted is not None and len(plans) == 1 and _generic(plans[0])
    nodes = list(plan_nodes(plans[0]["Plan"]))
    # (a bitmap scan names its index on the Bitmap Index Scan below the heap scan)
    indexes = {parent.get(n["Index Name"], n["Index Name"]) for n in nodes if "Index Name" in n}
    assert "ix_cases_open_geom" in indexes, nodes
    assert "ix_cases_created_at" not in indexes, indexes
    scans = [n for n in nodes if "Scan" in n["Node Type"]
             and parent.get(n.get("Relation Name")) == "cases"]
    assert populated and scans
    assert not any(n["Node Type"] == "Seq Scan" and n["Relation Name"] in populated
                   for n in scans), [(n["Node Type"], n.get("Relation Name"), n.get("Index Name"),
                                       n.get("Plan Rows"), n.get("Filter")) for n in scans]
    # the plan holds the previous month, this one and the next only: the other months (of the
    # demo's year: at least 12) and the DEFAULT partition were pruned while it was planned;
    # when it started, the 24 h pruned the window's months they do not touch
    assert len(populated) >= 12 and len(window) == 3
    read = {n["Relation Name"] for n in scans}
    assert read <= window and 1 <= len(read) <= 2, sorted(read)
    removed = sum(n.get("Subplans Removed", 0) for n in nodes)
    assert len(read) + removed == len(window), (sorted(read), removed)
    # the insert's statement reads no table of cases: a month's ANALYZE leaves its plan alone
    assert len(inserts) == 1
    read = {n.get("Relation Name") for n in plan_nodes(inserts[0]["Plan"])
            if "Scan" in n["Node Type"]}
    assert not {parent.get(r) for r in read} & {"cases"} and "cases" not in read, read


@pytest.mark.parametrize("setting", ["as migrated", "without the scan settings"])
def test_a_plan_made_on_a_small_month_still_reads_the_box_once_it_has_filled(
        pg_server, dup_url, spot, setting):
    # migration 0071: a connection's first insert plans the statement for the month as it is
    # then, 20 cases (the planner scales the month's statistics to its size at that moment),
    # and keeps the plan while a steady intake fills the month (3,000 cases in its first day
    # here) until an ANALYZE of it. With the function's enable_seqscan and enable_bitmapscan
    # off the plan reads the box in ix_cases_open_geom; without them (the control) it read the
    # month whole, every insert. The month is one made ahead (empty in the demo). (With 10
    # cases at the plan it read the day by created_at even with the
    # settings: the migration's heading says what bounds that.) Ten days into the next month:
    # within the recent months (migration 0074), whose lookup is planned with no bound that
    # depends on the call.
    now = datetime.now(LOCAL_TZ)
    day = (now.replace(day=28) + timedelta(days=14)).replace(day=11, hour=12, minute=0)
    fill = """
        INSERT INTO cases (town_code, category_code, description, status, channel,
                           created_at, updated_at, geom)
        SELECT town_code, category_code, description, 'dispatched', channel, t, t, geom
          FROM (SELECT c.*, CAST(:day AS timestamptz) - random() * interval '20 hours' AS t
                  FROM cases c ORDER BY c.id LIMIT :n) filled
        RETURNING tableoid::regclass::text"""
    # the rows an earlier test wrote there and rolled back (the other parameter's) vacuumed
    # away, and the pages they took: the planner sizes the month by its pages
    with _admin_engine(pg_server, dup_url, isolation_level="AUTOCOMMIT") as engine, \
            engine.connect() as c:
        c.execute(text("VACUUM cases"))
    with _admin_engine(pg_server, dup_url) as engine, Session(engine) as s:
        s.execute(text("SET LOCAL gridgov.bulk = 'on'"))  # no live notices for these
        months = set(s.execute(text(fill), {"day": day, "n": 20}).scalars())
        assert len(months) == 1 and "cases_default" not in months, months
        month = months.pop()
        s.execute(text(f"ANALYZE {month}"))
        if setting != "as migrated":
            s.execute(text("ALTER FUNCTION insert_case RESET enable_seqscan"))
            s.execute(text("ALTER FUNCTION insert_case RESET enable_bitmapscan"))
        conn = driver_connection(s)
        plans = _explaining(conn)
        insert = driver_sql(repository._q("insert_case").text)
        conn.execute(insert, _insert_values(spot, day))  # the plan is made now
        s.execute(text(fill), {"day": day, "n": 3000})
        conn.execute(insert, _insert_values(moved(spot, east_m=200), day))
        parent = _parents(s)
        s.rollback()
    assert len(plans) == 2 and all(_generic(p) for p in plans)
    nodes = list(plan_nodes(plans[1]["Plan"]))
    # the copies of the indexes of cases read, by their parents' names (the recent months')
    read = {parent[n["Index Name"]] for n in nodes if n.get("Index Name") in parent}
    scans = {n["Node Type"] for n in nodes if n.get("Relation Name") == month}
    if setting == "as migrated":
        assert scans and "Seq Scan" not in scans and read == {"ix_cases_open_geom"}, (scans, read)
    else:
        # the whole month by a sequential scan (seen here) or the day's cases by created_at
        # (seen in the live-streams benchmark: 36 cases of December at the plan)
        assert "Seq Scan" in scans or "ix_cases_created_at" in read, (scans, read)


@pytest.mark.parametrize("autocommit", [False, True], ids=["in a transaction", "autocommit"])
def test_every_insert_runs_on_the_generic_plan_and_leaves_the_setting_as_it_was(
        pg_server, dup_url, spot, autocommit):
    # migration 0070: the function runs its statement on the generic plan from the first call
    # (left to the plan cache, the first five executions of a statement are custom plans, and
    # in a province every one was: 6.6 ms of planning each), and the caller's plan_cache_mode
    # is as it was after each call. As POST /api/v1/cases runs it: in autocommit without
    # photos (web/database.py session(autocommit=True)), in a transaction with them.
    options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    with _admin_engine(pg_server, dup_url, **options) as engine, Session(engine) as s:
        conn = driver_connection(s)
        plans = _explaining(conn)
        ids, settings = [], []
        for i in range(7):
            ids.append(intake.create_case(s, intake.CaseRequest(
                category=OTHER_CATEGORY, description=f"plan, autocommit {autocommit}",
                channel="patrol", lon=spot["lon"] + (i if autocommit else -i) * 1e-4,
                lat=spot["lat"])).case["id"])
            settings.append(conn.execute("SHOW plan_cache_mode").fetchone()[0])
        # the function without its setting (ALTER FUNCTION, rolled back with the transaction):
        # its next call is planned for its values (so _generic tells the two apart)
        if not autocommit:
            conn.execute("ALTER FUNCTION insert_case RESET plan_cache_mode")
            intake.create_case(s, intake.CaseRequest(
                category=OTHER_CATEGORY, description="plan, custom", channel="patrol",
                lon=spot["lon"], lat=spot["lat"] + 1e-4))
            s.rollback()
        # in autocommit each report committed by itself: another connection sees them all
        with session_scope(dup_url) as other:
            seen = other.execute(text("SELECT count(*) FROM cases WHERE id = ANY(:ids)"),
                                 {"ids": ids}).scalar_one()
    assert settings == ["auto"] * 7
    assert [_generic(p) for p in plans[:7]] == [True] * 7
    if autocommit:
        assert (len(plans), seen) == (7, 7)
    else:
        assert (len(plans), seen) == (8, 0) and not _generic(plans[7])
