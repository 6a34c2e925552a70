"""A case's live notice (a row of live_events, migration 0066, read as each server's hub reads
it: cases/notices.py) on every change it carries, and none for one more supporter
(migration 0035): a monitoring feed repeating an alarm adds supporters hundreds of times a
second, and no live page shows the count. And the reader's own promises: a notice committed
after a later one is still read, once; a rolled-back one is given up; old ones are deleted."""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from cases.notices import Notices, prune
from db.session import conninfo
from tests.accounts_support import bearer
from tests.test_intake_api import at_point, leaf_with_one_worker, post_case
from web import create_app
from web.live import APPLICATION_NAME, Hub


@pytest.fixture
def conn(demo_copy_url):
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as c:
        yield c


@pytest.fixture
def listener(demo_copy_url):
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as c:
        notices = Notices()
        assert notices.read(c) == []  # from now on
        yield c, notices


def heard(listener) -> list[dict]:
    """The notices committed since the last look (the writer's transactions have committed)."""
    c, notices = listener
    return [json.loads(p) for p in notices.read(c)]


def open_case(conn) -> int:
    return conn.execute("SELECT id FROM cases WHERE status NOT IN ('closed', 'evaluated', "
                        "'voided') ORDER BY id LIMIT 1").fetchone()[0]


def test_one_more_supporter_notifies_nobody(conn, listener):
    case = open_case(conn)
    conn.execute("UPDATE cases SET supporters = supporters + 1 WHERE id = %s", (case,))
    conn.execute("UPDATE cases SET supporters = supporters + 5 WHERE id = %s", (case,))
    assert heard(listener) == []
    assert conn.execute("SELECT supporters FROM cases WHERE id = %s", (case,)).fetchone()[0] >= 6


def test_a_change_that_also_adds_a_supporter_notifies(conn, listener):
    """A resident's "+1" through the workflow changes the version too (cases/workflow.sql)."""
    case = open_case(conn)
    conn.execute("UPDATE cases SET supporters = supporters + 1, version = version + 1, "
                 "updated_at = now() WHERE id = %s", (case,))
    got = heard(listener)
    assert [(n["op"], n["id"]) for n in got] == [("update", case)]


def test_any_other_update_notifies_once(conn, listener):
    case = open_case(conn)
    conn.execute("UPDATE cases SET updated_at = updated_at + interval '1 second' WHERE id = %s",
                 (case,))
    conn.execute("UPDATE cases SET version = version + 1 WHERE id = %s", (case,))
    got = heard(listener)
    assert [(n["op"], n["id"]) for n in got] == [("update", case), ("update", case)]


def test_a_new_case_notifies(demo_copy_url, operator_token, listener):
    """A report (the intake's INSERT) notifies as before."""
    client = bearer(create_app({"DATABASE_URL": demo_copy_url}).test_client(), operator_token)
    leaf = leaf_with_one_worker(demo_copy_url)
    answer = post_case(client, location=at_point(leaf))
    assert answer.status_code == 201, answer.json
    got = heard(listener)
    assert [(n["op"], n["id"]) for n in got] == [("insert", answer.json["id"])]


def test_cases_notify_nobody_by_notify(demo_copy_url, conn):
    """The cases' notices are rows now: a report's commit takes no NOTIFY lock (migration 0066)."""
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as ear:
        ear.execute("LISTEN gridgov_cases")
        case = open_case(conn)
        conn.execute("UPDATE cases SET version = version + 1 WHERE id = %s", (case,))
        assert list(ear.notifies(timeout=0.5, stop_after=1)) == []


def notice(c, text: str) -> int:
    return c.execute("INSERT INTO live_events (payload) VALUES (%s) RETURNING id",
                     (json.dumps({"op": text}),)).fetchone()[0]


def test_a_notice_committed_after_a_later_one_is_read_once(demo_copy_url, listener):
    with psycopg.connect(conninfo(demo_copy_url)) as slow, \
            psycopg.connect(conninfo(demo_copy_url), autocommit=True) as quick:
        first = notice(slow, "slow")  # taken first, committed last
        second = notice(quick, "quick")
        assert second > first
        assert [n["op"] for n in heard(listener)] == ["quick"]
        assert first in listener[1].gaps
        slow.commit()
        assert [n["op"] for n in heard(listener)] == ["slow"]
        assert heard(listener) == [] and listener[1].gaps == {}


def test_a_rolled_back_notice_is_given_up(demo_copy_url, listener, monkeypatch):
    with psycopg.connect(conninfo(demo_copy_url)) as gone, \
            psycopg.connect(conninfo(demo_copy_url), autocommit=True) as kept:
        lost = notice(gone, "rolled back")
        notice(kept, "kept")
        gone.rollback()
    assert [n["op"] for n in heard(listener)] == ["kept"]
    assert lost in listener[1].gaps
    monkeypatch.setattr("cases.notices.GAP_WAIT_S", 0.0)
    assert heard(listener) == [] and listener[1].gaps == {}


def test_old_notices_are_deleted(conn):
    old = notice(conn, "old")
    conn.execute("UPDATE live_events SET at = at - interval '2 minutes' WHERE id = %s", (old,))
    recent = notice(conn, "recent")
    prune(conn)
    left = {r[0] for r in conn.execute("SELECT id FROM live_events WHERE id IN (%s, %s)",
                                       (old, recent))}
    assert left == {recent}


def test_a_listener_that_lost_its_connection_reads_on_from_where_it_was(demo_copy_url, conn):
    hub = Hub(conninfo(demo_copy_url), invalidates_tiles=False)
    hub.start()
    try:
        assert hub.listening.wait(30)
        heard_by_hub = hub.subscribe()
        notice(conn, "before")
        assert heard_by_hub.get(timeout=30)["op"] == "before"
        generation = hub.generation
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND application_name = %s",
                     (APPLICATION_NAME,))
        notice(conn, "while away")  # committed before the listener is back, or after: either
        assert heard_by_hub.get(timeout=30)["op"] == "while away"
        deadline = time.monotonic() + 30  # only catches a hang
        while hub.generation == generation and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.generation > generation  # it did reconnect
        assert heard_by_hub.empty()  # and read nothing twice
    finally:
        hub.stop()


def test_a_new_reader_waits_for_no_id_taken_before_it_started(conn):
    # a quiet minute's notices are deleted; the ids taken for them are not news to a listener
    # that starts afterwards (it once waited for each of them as skipped over)
    for _ in range(5):
        notice(conn, "old")
    conn.execute("DELETE FROM live_events")
    reader = Notices()
    assert reader.read(conn) == []
    notice(conn, "new")
    assert [json.loads(p)["op"] for p in reader.read(conn)] == ["new"]
    assert reader.gaps == {}
