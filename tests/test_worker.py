"""``gridgov worker`` as a real process on a copy of the demo: its periodic supervision pass
issues every due signal once, reaches an open map's stream (``event: card`` from ``gridgov
serve``), and a worker killed with SIGKILL in the middle of a pass loses nothing and issues
nothing twice once restarted.

The worker runs its pass every second here (GRIDGOV_SUPERVISION_CRON with a seconds column)
so the tests wait for events, not for the minute.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import text

import migrations

from cases import supervision
from cases.deadlines import LOCAL_TZ
from db.session import conninfo, session_scope
from tests.servers import GRIDGOV
from tests.test_supervision import _moments, _open_cases, _signals
from tests import clock_support
from tests.waits import HANG_S, wait_for

EVERY_SECOND = {"GRIDGOV_SUPERVISION_CRON": "* * * * * *"}
PASS_LINE = re.compile(r"tick \d+: supervision pass at \S+: issued (\d+) signals")
CARD_EVENT = re.compile(rb"event: card\ndata: (\{.*?\})\n")
def _request(token: str) -> bytes:
    return (b"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n\r\n")


def _clocks(url: str, n_cases: int) -> set[tuple[int, str]]:
    """Start an accept and a handle clock on ``n_cases`` open cases, 30 days ago, so every
    moment has passed; the (deadline_id, signal) pairs a pass must issue: overdue and both
    cards (no due-soon reminder for a clock already overdue: cases/supervision.sql)."""
    started = datetime.now(LOCAL_TZ) - timedelta(days=30)
    expected = set()
    with session_scope(url) as s:
        for case in _open_cases(s, n_cases):
            for clock, due_days in (("accept", 2), ("handle", 3)):
                clock_id = clock_support.start_clock(s, case["id"], clock, started,
                                                   **_moments(s, clock, started, due_days))
                expected |= {(clock_id, sig) for sig in ("overdue", "yellow", "red")}
    return expected


def _passes(worker) -> list[int]:
    """What each pass the worker logged issued, in order."""
    return [int(n) for n in PASS_LINE.findall(worker.log_tail(10**7))]


def _issued_once(url: str, expected: set[tuple[int, str]]) -> None:
    found = [(d, sig) for _, d, sig, _ in _signals(url)]
    assert len(found) == len(set(found)), "a signal was issued twice"
    assert set(found) == expected
    with session_scope(url) as s:
        told = s.execute(text("SELECT count(*), count(DISTINCT event_id) FROM notifications")).one()
    # each signal: its case's assignee and the level above
    assert tuple(told) == (2 * len(expected), len(expected))


def _stream(port: int, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
    sock.sendall(_request(token))
    return sock


def _more(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    assert data, "the server closed the stream"
    return data


def test_a_running_worker_issues_each_signal_once_and_open_maps_hear_the_cards(
        demo_copy_url, gridgov_worker, gridgov_server, operator_token):
    server = gridgov_server(demo_copy_url)
    with _stream(server.port, operator_token) as sock:
        received = b""
        while b": connected" not in received:
            received += _more(sock)
        expected = _clocks(demo_copy_url, 5)
        worker = gridgov_worker(demo_copy_url, env=EVERY_SECOND)
        wait_for(what="every signal issued", predicate=lambda: len(_signals(demo_copy_url)) >= len(expected))
        # the pass commits before it logs its line: wait until the log accounts for every
        # signal, so that the passes counted next are later ones
        wait_for(what="the issuing passes logged",
                 predicate=lambda: sum(_passes(worker)) >= len(expected))
        # two passes more: they find everything issued already
        after = len(_passes(worker))
        wait_for(what="two more passes", predicate=lambda: len(_passes(worker)) >= after + 2)
        assert _passes(worker)[-2:] == [0, 0]
        _issued_once(demo_copy_url, expected)

        # every card reached the map's stream, as `event: card`, once
        signals = {(case_id, sig) for case_id, _, sig, _ in _signals(demo_copy_url)}
        heard: list[tuple[int, str]] = []
        deadline = time.monotonic() + HANG_S
        while len(heard) < len(expected) and time.monotonic() < deadline:
            received += _more(sock)
            heard = [(m["id"], m["signal"]) for m in map(json.loads, CARD_EVENT.findall(received))]
    assert set(heard) == signals
    # one message per signal (a case with two clocks has each signal twice), none more
    assert len(heard) == len(expected)


def test_a_worker_killed_mid_pass_loses_nothing_and_issues_nothing_twice(
        demo_copy_url, gridgov_worker):
    expected = _clocks(demo_copy_url, 100)
    last_clock = max(d for d, _ in expected)
    with session_scope(demo_copy_url) as s:
        case_id, town = s.execute(
            text("SELECT case_id, town_code FROM case_deadlines WHERE id = :id"),
            {"id": last_clock}).one()
    # Hold the last signal the pass will write (it inserts in case and moment order) in an
    # open transaction: the pass writes every other one, then waits on this row's unique key.
    # That is the middle of a pass, whatever the machine's speed.
    blocker = psycopg.connect(conninfo(demo_copy_url))
    blocker.execute(
        "INSERT INTO case_events (case_id, town_code, type, actor, data) "
        "VALUES (%s, %s, 'card', 'test', %s::jsonb)",
        (case_id, town, json.dumps({"deadline_id": last_clock, "signal": "red"})))
    worker = gridgov_worker(demo_copy_url, env=EVERY_SECOND)
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as watch:
        def waiting_pass() -> int | None:
            row = watch.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'transactionid'").fetchone()
            return row[0] if row else None

        wait_for(what="the pass waiting mid-way", predicate=lambda: waiting_pass() is not None)
        pass_pid = waiting_pass()
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(timeout=HANG_S)
        blocker.rollback()
        blocker.close()
        # the pass's backend wakes, finds its client gone, and rolls back: it never commits
        wait_for(what="the killed pass's connection gone", predicate=lambda: watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pass_pid,)).fetchone()[0] == 0)
    assert _signals(demo_copy_url) == []

    again = gridgov_worker(demo_copy_url, env=EVERY_SECOND)
    wait_for(what="every signal issued after the restart",
             predicate=lambda: len(_signals(demo_copy_url)) >= len(expected))
    after = len(_passes(again))
    wait_for(what="two more passes", predicate=lambda: len(_passes(again)) >= after + 2)
    _issued_once(demo_copy_url, expected)


def test_the_frozen_procrastinate_schema_is_the_pinned_packages():
    # migration 0012 applies a frozen copy of procrastinate's schema; moving the pin in
    # pyproject.toml needs a new revision applying procrastinate's own migrations, and this
    # says so
    from procrastinate.schema import SchemaManager

    frozen = Path(migrations.__file__).parent / "versions" / "0012_procrastinate_3.10.0.sql"
    body = frozen.read_text(encoding="utf-8").split("\n\n", 1)[1]
    assert body == SchemaManager.get_schema(), (
        "the installed procrastinate's schema differs from migration 0012's copy: add a revision "
        "that applies procrastinate/sql/migrations/ from 3.10.0 to the new version")


def test_the_worker_refuses_an_unmigrated_database_in_one_line(pg_server):
    url = pg_server.create_database("gridgov_test_worker_unmigrated")
    try:
        out = subprocess.run([str(GRIDGOV), "worker"],
                             env={**os.environ, "GRIDGOV_DATABASE_URL": url},
                             capture_output=True, text=True, timeout=HANG_S)
        assert out.returncode == 2
        assert "gridgov db upgrade" in out.stderr and "Traceback" not in out.stderr
    finally:
        pg_server.drop_database("gridgov_test_worker_unmigrated")
