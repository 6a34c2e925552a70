"""A case's live notification (channel gridgov_cases) on every change it carries, and none
for one more supporter (migration 0035): a monitoring feed repeating an alarm adds supporters
hundreds of times a second, and no live page shows the count."""

from __future__ import annotations

import json

import psycopg
import pytest

from db.session import conninfo
from tests.accounts_support import bearer
from tests.test_intake_api import at_point, leaf_with_one_worker, post_case
from web import create_app


@pytest.fixture
def conn(demo_copy_url):
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as c:
        yield c


@pytest.fixture
def listener(demo_copy_url):
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as c:
        c.execute("LISTEN gridgov_cases")
        yield c


def heard(listener) -> list[dict]:
    """The notifications sent so far (the writer's transactions have committed)."""
    return [json.loads(n.payload) for n in listener.notifies(timeout=0.5, stop_after=100)]


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
