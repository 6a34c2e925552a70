"""cases and case_events partitioned by month (migration 0060, db/partitions.py): rows land in
their month, a month without a partition in the DEFAULT one, the worker's months made ahead
once; the foreign keys' and the unique keys' meaning kept by triggers; the event log still
append-only; an existing database with data converted and restored."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import psycopg
import pytest
from alembic import command
from sqlalchemy import text

from cases.deadlines import LOCAL_TZ
from db import migrate
from db.partitions import MONTHS_AHEAD, make_partitions, month_partitions
from db.session import conninfo, session_scope
from demo.load import load_demo
from tests.plan_support import admin_url, explaining, plan_nodes

NEW_CASE = ("INSERT INTO cases (town_code, category_code, description, status, channel, "
            "created_at, idempotency_key, geom) VALUES ('140525108', 'x', 'test', 'collected', "
            "'hotline', %s, %s, ST_SetSRID(ST_MakePoint(112.87, 35.64), 4326)) RETURNING id")


def _month(d: date, ahead: int) -> str:
    m = d.month - 1 + ahead
    return f"{d.year + m // 12}_{m % 12 + 1:02d}"


def test_cases_and_events_have_a_partition_per_month_ahead_and_a_default(empty_db_url):
    today = datetime.now(LOCAL_TZ).date()
    with session_scope(empty_db_url) as s:
        for table in ("cases", "case_events"):
            names = month_partitions(s, table)
            assert f"{table}_default" in names
            assert {f"{table}_p{_month(today, k)}" for k in range(MONTHS_AHEAD + 1)} <= set(names)
            assert s.execute(text("SELECT relkind FROM pg_class WHERE relname = :t"),
                             {"t": table}).scalar_one() == "p"


def test_a_case_lands_in_its_month_and_one_without_a_month_in_the_default(empty_db_url):
    now = datetime.now(LOCAL_TZ)
    far = datetime(2041, 3, 5, 12, tzinfo=LOCAL_TZ)
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        here = conn.execute(NEW_CASE, (now, None)).fetchone()[0]
        there = conn.execute(NEW_CASE, (far, None)).fetchone()[0]
        where = dict(conn.execute("SELECT id, tableoid::regclass::text FROM cases"))
    assert where == {here: f"cases_p{_month(now.date(), 0)}", there: "cases_default"}


def test_the_worker_makes_months_ahead_once_and_leaves_a_month_waiting_in_the_default(
        empty_db_url):
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        # a case of May 2031 arrived before its month was made: it waits in the default
        conn.execute(NEW_CASE, (datetime(2031, 5, 31, 23, 30, tzinfo=LOCAL_TZ), None))
    with session_scope(empty_db_url) as s:
        made = make_partitions(s, date(2031, 4, 20), months_ahead=2)
    assert made == ["cases_p2031_04", "cases_p2031_06", "case_events_p2031_04",
                    "case_events_p2031_05", "case_events_p2031_06"]
    with session_scope(empty_db_url) as s:
        assert make_partitions(s, date(2031, 4, 20), months_ahead=2) == []
        # the month boundary is local midnight: 23:30 on 31 May is May, in Beijing
        assert s.execute(text("SELECT count(*) FROM cases_default")).scalar_one() == 1
    with pytest.raises(ValueError, match="-1"):
        with session_scope(empty_db_url) as s:
            make_partitions(s, date(2031, 4, 20), months_ahead=-1)


def test_a_month_boundary_is_local_midnight(empty_db_url):
    with session_scope(empty_db_url) as s:
        make_partitions(s, date(2032, 1, 1), months_ahead=1)
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        # 1 Feb 2032 00:10 in Beijing is still 31 January in UTC
        case_id = conn.execute(NEW_CASE, (datetime(2032, 2, 1, 0, 10, tzinfo=LOCAL_TZ), None)
                               ).fetchone()[0]
        assert conn.execute("SELECT tableoid::regclass::text FROM cases WHERE id = %s",
                            (case_id,)).fetchone()[0] == "cases_p2032_02"


@pytest.mark.parametrize("statement", [
    "INSERT INTO case_events (case_id, town_code, type) VALUES (987654321, '140525108', 'note')",
    "INSERT INTO case_deadlines (case_id, town_code, clock, started_at, due_at) "
    "VALUES (987654321, '140525108', 'accept', now(), now())",
    "UPDATE case_deadlines SET case_id = 987654321 WHERE id = (SELECT min(id) FROM case_deadlines)",
    "UPDATE cases SET merged_into = 987654321 WHERE id = (SELECT min(id) FROM cases)",
    "INSERT INTO cases (town_code, category_code, description, status, channel, "
    "probable_duplicate_of) VALUES ('140525108', 'x', 'x', 'collected', 'hotline', 987654321)",
])
def test_a_row_naming_a_case_that_does_not_exist_is_refused(demo_copy_url, statement):
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="987654321"):
            conn.execute(statement)


def test_many_rows_naming_one_missing_case_are_refused(demo_copy_url):
    # above PLANNED_ONCE cases (migration 0062) the check is planned for the statement's rows
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] > 1000
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="case 987654321,"):
            conn.execute("INSERT INTO case_events (case_id, town_code, type) "
                         "SELECT id, town_code, 'note' FROM cases "
                         "UNION ALL SELECT 987654321, '140525108', 'note'")


@pytest.mark.parametrize("days_old", [0, 200, -40],
                         ids=["a recent case", "a case of an older month",
                              "a case of a month ahead"])
@pytest.mark.parametrize("others", [0, 2000], ids=["one case", "many cases"])
def test_a_case_named_by_an_open_transaction_cannot_be_deleted_meanwhile(
    demo_copy_url, others, days_old
):
    """The check locks a case it did not write as a foreign key would (FOR KEY SHARE): a
    concurrent DELETE of it waits, where without the lock it would see no row naming it. A
    case of an older month, or one created over a day ahead, is found by the check's second
    look, over every month (0067, 0068)."""
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as setup:
        created = datetime.now(LOCAL_TZ) - timedelta(days=days_old)
        free = setup.execute(NEW_CASE, (created, None)).fetchone()[0]
    with psycopg.connect(conninfo(demo_copy_url)) as writer, \
            psycopg.connect(conninfo(demo_copy_url)) as deleter:
        writer.execute(
            "INSERT INTO case_events (case_id, town_code, type) "
            "SELECT id, town_code, 'note' FROM cases WHERE id = %s "
            "UNION ALL (SELECT id, town_code, 'note' FROM cases WHERE id <> %s ORDER BY id LIMIT %s)",
            (free, free, others))
        deleter.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.execute("DELETE FROM cases WHERE id = %s", (free,))
        writer.rollback()
        deleter.rollback()
        deleter.execute("DELETE FROM cases WHERE id = %s", (free,))  # free again


@pytest.mark.parametrize("days_old", [200, -40], ids=["an older month", "a month ahead"])
def test_events_of_a_case_outside_the_recent_days_this_transaction_wrote_are_accepted(
    demo_copy_url, days_old
):
    # its month is not among the recent ones the check looks in first (migrations 0067, 0068)
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        created = datetime.now(LOCAL_TZ) - timedelta(days=days_old)
        old = conn.execute(NEW_CASE, (created, None)).fetchone()[0]
        conn.execute("INSERT INTO case_events (case_id, town_code, type) "
                     "VALUES (%s, '140525108', 'note'), (%s, '140525108', 'note')", (old, old))
        conn.commit()
        assert conn.execute("SELECT count(*) FROM case_events WHERE case_id = %s",
                            (old,)).fetchone()[0] == 2


def test_a_case_still_named_is_not_deleted_and_a_free_one_frees_its_key(demo_copy_url):
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        named = conn.execute("SELECT min(case_id) FROM case_events").fetchone()[0]
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match=f"case {named} "):
            conn.execute("DELETE FROM cases WHERE id = %s", (named,))
        conn.rollback()
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="keeps its id"):
            conn.execute("UPDATE cases SET id = -1 WHERE id = %s", (named,))
        conn.rollback()
        free = conn.execute(NEW_CASE, (datetime.now(LOCAL_TZ), "k-free")).fetchone()[0]
        conn.execute("DELETE FROM cases WHERE id = %s", (free,))
        again = conn.execute(NEW_CASE, (datetime.now(LOCAL_TZ), "k-free")).fetchone()
        assert again is not None and again[0] != free


def test_an_idempotency_key_makes_one_case_across_months(empty_db_url):
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        first = conn.execute(NEW_CASE, (datetime.now(LOCAL_TZ), "k-1")).fetchone()
        # the same key a month later, in another partition: nothing inserted, no row back
        second = conn.execute(NEW_CASE, (datetime.now(LOCAL_TZ) + timedelta(days=40), "k-1")
                              ).fetchone()
        assert first is not None and second is None
        assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.UniqueViolation, match="keeps its Idempotency-Key"):
            conn.execute("UPDATE cases SET idempotency_key = 'k-2'")


def test_an_event_key_is_held_once_and_a_refused_event_claims_nothing(demo_copy_url):
    insert = ("INSERT INTO case_events (case_id, town_code, at, type, data, account_id, "
              "idempotency_key) VALUES (%s, '140525108', %s, 'card', %s, %s, %s) RETURNING id")
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        case_id = conn.execute("SELECT min(id) FROM cases").fetchone()[0]
        now = datetime.now(LOCAL_TZ)
        signal = '{"deadline_id": 1, "signal": "yellow"}'
        assert conn.execute(insert, (case_id, now, signal, None, None)).fetchone()
        # the same signal a month later: refused, as the unique index refused it
        assert conn.execute(insert, (case_id, now + timedelta(days=35), signal, None, None)
                            ).fetchone() is None
        # a new account key on an event whose signal is taken: the event is refused and its
        # account key stays free
        assert conn.execute(insert, (case_id, now, signal, 7, "phone-1")).fetchone() is None
        assert conn.execute(insert, (case_id, now, '{"note": 1}', 7, "phone-1")).fetchone()
        assert conn.execute(insert, (case_id, now, '{"note": 2}', 7, "phone-1")).fetchone() is None
        # another account may use the same key
        assert conn.execute(insert, (case_id, now, '{"note": 3}', 8, "phone-1")).fetchone()


def test_the_event_log_stays_append_only_in_every_partition(demo_copy_url):
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        partition = conn.execute("SELECT tableoid::regclass::text FROM case_events LIMIT 1"
                                 ).fetchone()[0]
        for statement in ("UPDATE case_events SET note = 'rewritten'",
                          "DELETE FROM case_events",
                          f"DELETE FROM {partition}",
                          "DELETE FROM case_events_default"):
            if statement.endswith("case_events_default"):
                conn.execute("INSERT INTO case_events (case_id, town_code, at, type) "
                             "SELECT min(id), '140525108', '2045-01-01', 'note' FROM cases")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
            conn.rollback()


def test_upgrade_converts_a_database_with_the_demo_and_downgrade_restores_it(pg_server):
    url = pg_server.create_database("gridgov_test_partitions_upgrade")
    config = migrate.alembic_config(url)
    fingerprint = (
        "SELECT (SELECT count(*) FROM cases), (SELECT sum(id) FROM cases),"
        " (SELECT md5(string_agg(id || status || created_at || coalesce(grid_code, ''), ','"
        "  ORDER BY id)) FROM cases),"
        " (SELECT count(*) FROM case_events), (SELECT sum(case_id) FROM case_events),"
        " (SELECT md5(string_agg(id || type || at, ',' ORDER BY id)) FROM case_events)")
    try:
        command.upgrade(config, "0034")
        load_demo(url, seed=3, cases=600, progress=False)
        with psycopg.connect(conninfo(url)) as conn:
            before = conn.execute(fingerprint).fetchone()
            conn.execute("INSERT INTO cases (town_code, category_code, description, status, "
                         "channel, idempotency_key) VALUES ('140525108', 'x', 'x', 'collected', "
                         "'hotline', 'kept-key')")
            before_keys = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        command.upgrade(config, "head")
        with psycopg.connect(conninfo(url)) as conn:
            assert conn.execute(fingerprint.replace("FROM cases)", "FROM cases WHERE "
                                                    "idempotency_key IS NULL)", 3)
                                ).fetchone() == before
            spread = conn.execute("SELECT count(DISTINCT tableoid), count(*) FILTER (WHERE "
                                  "tableoid = 'cases_default'::regclass) FROM cases").fetchone()
            assert spread[0] >= 12 and spread[1] == 0  # a year of cases over its months
            # the key held before the upgrade is held after it
            assert conn.execute(NEW_CASE, (datetime.now(LOCAL_TZ), "kept-key")).fetchone() is None
            assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == before_keys
        command.downgrade(config, "0034")
        with psycopg.connect(conninfo(url)) as conn:
            assert conn.execute(fingerprint.replace("FROM cases)", "FROM cases WHERE "
                                                    "idempotency_key IS NULL)", 3)
                                ).fetchone() == before
            assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'cases'"
                                ).fetchone()[0] == "r"
            assert conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND "
                                "confrelid = 'cases'::regclass").fetchone()[0] == 8
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute("INSERT INTO cases (town_code, category_code, description, status, "
                             "channel, idempotency_key) VALUES ('140525108', 'x', 'x', "
                             "'collected', 'hotline', 'kept-key')")
            conn.rollback()
        command.upgrade(config, "head")
    finally:
        pg_server.drop_database("gridgov_test_partitions_upgrade")


def test_the_worker_runs_make_partitions_daily_from_this_month(empty_db_url):
    from jobs.app import PARTITIONS_CRON, make_app

    app = make_app(empty_db_url)
    assert ("gridgov.make_partitions", "make_partitions") in app.periodic_registry.periodic_tasks
    assert PARTITIONS_CRON.split()[2:] == ["*", "*", "*"]  # every day
    today = datetime.now(LOCAL_TZ).date()
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        # as if the month after the migration's last one were missing: the task makes it
        conn.execute(f"DROP TABLE case_events_p{_month(today, MONTHS_AHEAD)}")
        # and as if the recent months (migration 0074) were still last year's
        for which in ("from", "until"):
            conn.execute(f"CREATE OR REPLACE FUNCTION gridgov_recent_{which}() RETURNS timestamptz"
                         " LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz '2025-01-01' $$")
    result = app.tasks["gridgov.make_partitions"].func(timestamp=0)
    assert result == {"made": [f"case_events_p{_month(today, MONTHS_AHEAD)}"],
                      "recent_months_moved": True}
    assert app.tasks["gridgov.make_partitions"].func(timestamp=0) == {
        "made": [], "recent_months_moved": False}
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        window = conn.execute(
            "SELECT CAST(gridgov_recent_from() AT TIME ZONE 'Asia/Shanghai' AS date),"
            "       CAST(gridgov_recent_until() AT TIME ZONE 'Asia/Shanghai' AS date)").fetchone()
    first = today.replace(day=1)
    assert window == (_first_of(first, -1), _first_of(first, 2))


def _first_of(first: date, months: int) -> date:
    """The first day of the month ``months`` months from the month of ``first``."""
    n = first.year * 12 + first.month - 1 + months
    return date(n // 12, n % 12 + 1, 1)


def test_the_demo_fills_its_months_and_leaves_the_default_empty(demo_db_url):
    with psycopg.connect(conninfo(demo_db_url)) as conn:
        for table in ("cases", "case_events"):
            months, in_default = conn.execute(
                f"SELECT count(DISTINCT tableoid), count(*) FILTER (WHERE tableoid = "
                f"'{table}_default'::regclass) FROM {table}").fetchone()
            assert months >= 12 and in_default == 0, table


def test_the_reference_checks_probe_cases_by_key_whatever_the_statistics_say(empty_db_url):
    # migration 0068: a month's partition is nearly empty at its start, and a check planned
    # then read the whole month on every later report until the month was analysed again
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        settings = dict(conn.execute(
            "SELECT proname, proconfig FROM pg_proc WHERE proname LIKE 'gridgov\\_%\\_exist'"))
    assert len(settings) >= 8
    assert all(config == ["enable_seqscan=off"] for config in settings.values()), settings


def _node_types(plan: dict) -> set[str]:
    return {node["Node Type"] for node in plan_nodes(plan)}


def test_rows_naming_no_case_or_only_this_transaction_s_count_nothing(pg_server, demo_copy_url):
    """Migration 0072: an intake's checks (a new case naming no other; its event naming the case
    just written) answer without an aggregate; an event of a case written by another
    transaction is still counted and locked (the control: without it the test could not tell)."""
    with psycopg.connect(conninfo(admin_url(pg_server, demo_copy_url))) as conn:
        other = conn.execute("SELECT min(id) FROM cases").fetchone()[0]
        plans = explaining(conn, "new_rows")  # the checks read their statement's rows
        new = conn.execute(NEW_CASE, (datetime.now(LOCAL_TZ), None)).fetchone()[0]
        conn.execute("INSERT INTO case_events (case_id, town_code, type) "
                     "VALUES (%s, '140525108', 'note')", (new,))
        own = list(plans)
        plans.clear()
        conn.execute("INSERT INTO case_events (case_id, town_code, type) "
                     "VALUES (%s, '140525108', 'note')", (other,))
        conn.rollback()
    # the case's two checks (merged_into, probable_duplicate_of: one look each) and the event's
    assert len(own) >= 3
    assert not any("Aggregate" in _node_types(p["Plan"]) for p in own), [
        (p["Query Text"], sorted(_node_types(p["Plan"]))) for p in own]
    assert any("Aggregate" in _node_types(p["Plan"]) for p in plans), [
        p["Query Text"] for p in plans]
    assert any("LockRows" in _node_types(p["Plan"]) for p in plans)


def test_months_and_clocks_are_analyzed_when_they_have_doubled(empty_db_url):
    # migration 0073: each vacuum or analyze of a table the intake reads makes every connection
    # plan its statements again; a young month analyzed at every tenth more rows did that
    # every 10 s under a steady intake
    wanted = ["autovacuum_vacuum_insert_scale_factor=1.0", "autovacuum_analyze_scale_factor=1.0"]
    today = datetime.now(LOCAL_TZ).date()
    later = _month(today, MONTHS_AHEAD + 2)
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        # this month and the months ahead exist (the migration made them): two more
        made = conn.execute("SELECT gridgov_make_month_partitions('case_events', %s, %s)",
                            (today.replace(day=1), MONTHS_AHEAD + 3)).fetchall()
        assert made == [(f"case_events_p{_month(today, MONTHS_AHEAD + 1)}",),
                        (f"case_events_p{later}",)]
        options = dict(conn.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r' AND (relname = 'case_deadlines' "
            "OR relname ~ '^(cases|case_events)_(p[0-9]{4}_[0-9]{2}|default)$')"))
    months = {name: opts for name, opts in options.items() if not name.endswith(("default", "deadlines"))}
    assert f"cases_p{_month(today, 0)}" in months and f"case_events_p{later}" in months
    assert all(opts == wanted for opts in months.values()), months
    assert options["case_deadlines"] == wanted
    assert options["cases_default"] is None and options["case_events_default"] is None
