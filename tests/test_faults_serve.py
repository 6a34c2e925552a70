"""A worker of ``gridgov serve`` killed (SIGKILL) while reports with photos, or workflow
actions with photos, are in flight (issue 13, item 5; README, "Faults"): nothing half-written —
a report's case, its first event and its photos commit together or not at all, as do an
action's case update, event and photos — gunicorn's master starts a new worker, and clients
sending again with the same Idempotency-Key get one case each, one action each.

The requests are held in flight by the test, not by a sleep in the code: a transaction of the
test locks ``case_photos``, so each request waits there, its case already inserted (or
updated) in its own transaction, until the worker dies under it.
"""

from __future__ import annotations

import http.client
import signal
import threading
import uuid

import psycopg

from db.session import conninfo
from tests.accounts_support import token_for
from tests.boundary_data import import_all, staff_all
from tests.fault_support import Tally, case_body, children, kill, leaf_points, query, report_once
from tests.waits import HANG_S, wait_for

THREADS = 4  # gridgov serve's threads per worker: every one busy with a report when it dies
PHOTOS = [b"\x89PNG\r\n\x1a\n" + bytes([i]) * 64 for i in range(2)]


def _waiting_on_the_lock(watch: psycopg.Connection) -> int:
    return watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                         "AND query LIKE '%%INSERT INTO case_photos%%'").fetchone()[0]


def test_a_worker_killed_mid_request_leaves_no_half_case_and_a_retry_makes_one(
        empty_db_url, cli, tmp_path, gridgov_server):
    url = empty_db_url
    import_all(cli, url, tmp_path)
    staff_all(url)
    points = leaf_points(url)
    server = gridgov_server(url, workers=1, threads=THREADS)
    [worker] = children(server.proc.pid)
    tally = Tally()
    holder = psycopg.connect(conninfo(url))
    holder.execute("LOCK TABLE case_photos IN ACCESS EXCLUSIVE MODE")
    keys = [str(uuid.uuid4()) for _ in range(THREADS)]
    clients = [threading.Thread(target=report_once, daemon=True,
                                args=(server.port, case_body(*points[i], i), key, tally, PHOTOS))
               for i, key in enumerate(keys)]
    try:
        for client in clients:
            client.start()
        with psycopg.connect(conninfo(url), autocommit=True) as watch:
            wait_for(lambda: _waiting_on_the_lock(watch) == THREADS,
                     f"{THREADS} reports in flight, their cases inserted, at their photos")
            assert query(url, "SELECT count(*) FROM cases") == [(0,)]  # nothing committed yet
            kill(worker, signal.SIGKILL)
            wait_for(lambda: tally.count(None) >= THREADS, "every client's connection cut")
            wait_for(lambda: [p for p in children(server.proc.pid) if p != worker],
                     "gunicorn's master starting a new worker")
        holder.rollback()  # the reports sent again go through now
        for client in clients:
            client.join(HANG_S)
    finally:
        holder.close()
    assert not any(c.is_alive() for c in clients), "a client is stuck"
    assert tally.odd == [], tally.odd
    assert set(tally.created) == set(keys) and tally.retried == set(keys)

    # one case per key, the one its client was told of, each whole: its first event, its photos
    rows = query(url, "SELECT idempotency_key, id FROM cases ORDER BY id")
    assert sorted(k for k, _ in rows) == sorted(keys)
    assert dict(rows) == tally.created
    assert query(url, "SELECT c.id, count(DISTINCT e.id), count(DISTINCT p.id) FROM cases c "
                      "LEFT JOIN case_events e ON e.case_id = c.id AND e.type = 'created' "
                      "LEFT JOIN case_photos p ON p.case_id = c.id GROUP BY c.id "
                      "HAVING count(DISTINCT e.id) <> 1 OR count(DISTINCT p.id) <> %s",
                 (len(PHOTOS),)) == []
    assert query(url, "SELECT count(*) FROM case_photos") == [(THREADS * len(PHOTOS),)]
    assert server.proc.poll() is None  # the master lives on


def _transition(port: int, case_id: int, version: int, key: str, token: str) -> int | None:
    """An accept with a note and PHOTOS, as a phone sends it; the status, or None when the
    connection was cut."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             .encode() for name, value in (("action", "accept"), ("note", "到场处理"))]
    parts += [(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
               f'filename="p{i}.png"\r\nContent-Type: image/png\r\n\r\n').encode() + data + b"\r\n"
              for i, data in enumerate(PHOTOS)]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_S)
    try:
        conn.request("POST", f"/api/v1/cases/{case_id}/transitions", body=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "If-Match": f'"{version}"',
            "Idempotency-Key": key, "Authorization": f"Bearer {token}"})
        answer = conn.getresponse()
        answer.read()
        return answer.status
    except OSError:  # cut: the worker died under it
        return None
    finally:
        conn.close()


def test_a_worker_killed_mid_transition_leaves_the_case_as_it_was_and_a_retry_applies_it_once(
        empty_db_url, cli, tmp_path, gridgov_server):
    url = empty_db_url
    import_all(cli, url, tmp_path)
    staff_all(url)
    server = gridgov_server(url, workers=1, threads=THREADS)
    port = server.port
    intake_tally = Tally()
    for i, point in enumerate(leaf_points(url)[:THREADS]):  # a dispatched case in each of 4 grids
        report_once(port, case_body(*point, i), str(uuid.uuid4()), intake_tally)
    cases = query(url, "SELECT id, version, assignee_id FROM cases ORDER BY id")
    assert len(cases) == THREADS and all(assignee for _, _, assignee in cases)
    tokens = {case_id: token_for(url, f"worker_{assignee}", role="grid_worker", person_id=assignee)
              for case_id, _, assignee in cases}
    before = query(url, "SELECT id, status, version FROM cases ORDER BY id")
    [worker] = children(server.proc.pid)
    holder = psycopg.connect(conninfo(url))
    holder.execute("LOCK TABLE case_photos IN ACCESS EXCLUSIVE MODE")
    answers: dict[int, list[int | None]] = {case_id: [] for case_id, _, _ in cases}
    keys = {case_id: str(uuid.uuid4()) for case_id, _, _ in cases}

    def phone(case_id: int, version: int) -> None:
        # sent again on a cut connection, as the phone's queue does, until delivered
        while not answers[case_id] or answers[case_id][-1] is None:
            answers[case_id].append(_transition(port, case_id, version, keys[case_id],
                                                tokens[case_id]))

    phones = [threading.Thread(target=phone, args=(case_id, version), daemon=True)
              for case_id, version, _ in cases]
    try:
        for p in phones:
            p.start()
        with psycopg.connect(conninfo(url), autocommit=True) as watch:
            wait_for(lambda: _waiting_on_the_lock(watch) == THREADS,
                     f"{THREADS} transitions in flight, their cases updated, at their photos")
            kill(worker, signal.SIGKILL)
            wait_for(lambda: all(None in a for a in answers.values()), "every phone's request cut")
            # nothing of the cut transitions is visible: each case as it was
            assert query(url, "SELECT id, status, version FROM cases ORDER BY id") == before
        holder.rollback()
        for p in phones:
            p.join(HANG_S)
    finally:
        holder.close()
    assert not any(p.is_alive() for p in phones), "a phone is stuck"
    assert {case_id: a[-1] for case_id, a in answers.items()} == {c: 200 for c in answers}
    # applied once each: one version up, one accept event with its two photos
    assert query(url, "SELECT id, status, version FROM cases ORDER BY id") == [
        (case_id, "handling", version + 1) for case_id, _, version in before]
    assert query(url, "SELECT case_id, count(*), min(cardinality(photo_ids)) FROM case_events "
                      "WHERE type = 'accept' GROUP BY case_id ORDER BY case_id") == [
        (case_id, 1, len(PHOTOS)) for case_id, _, _ in before]
    assert query(url, "SELECT count(*) FROM case_photos") == [(THREADS * len(PHOTOS),)]
