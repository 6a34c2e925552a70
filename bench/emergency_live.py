"""The live board of an emergency under 50 grid workers confirming at once, for
``bench/emergency_bench.py`` (issue 12: each confirmation on the board ≤ 2 s, p95).

What the board listens to (web/static/js/emergency.js): the live stream ``GET /api/v1/stream``
(Server-Sent Events), where each confirmation arrives as ``event: emergency`` with its
``task_id`` and recolours that task on the map at once; then the page refetches the figures
``GET /api/v1/emergencies/{id}``, one request at a time (events arriving meanwhile ask for one
more after it). ``Board`` here does both, over HTTP on ``gridgov serve``, as the town
operator, in threads of this process:

- **event**: when the confirmation's ``emergency`` event was read from the stream;
- **figures**: when the first refetched figures that count it arrived: a worker confirms its
  own tasks one after the other, so its k-th confirmation is counted once the figures' row of
  that worker (``workers``, by person) has ``confirmed`` ≥ k — exact, whatever the order the
  answers came in.

The workers are real accounts (role grid_worker, linked to their person, so their scope is
their grids) with their own API tokens. In each round all of them confirm one of their own
tasks at the same moment (a barrier), each on a new connection as a phone would; the next round
starts ``gap_s`` after the last answer. Latencies are measured from the confirm POST's answer
(0 when the event came first) and from its sending, on this process's monotonic clock. A
confirmation not on the board within ``timeout_s`` is counted as infinitely late, never dropped.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg

from db.session import conninfo

# the villages with the most targets first, until the emergency holds ``tasks`` of them
VILLAGES = """
WITH t AS (
    SELECT left(grid_code, 12) AS village, count(*) AS n FROM households GROUP BY 1
    UNION ALL SELECT left(grid_code, 12), count(*) FROM enterprises GROUP BY 1
    UNION ALL SELECT left(grid_code, 12), count(*) FROM hazards WHERE status <> 'resolved' GROUP BY 1
)
SELECT village, sum(n) AS n FROM t GROUP BY 1 ORDER BY 2 DESC, 1
"""
AREA = """
SELECT ST_AsGeoJSON(ST_Multi(ST_Union(geom)), 7) FROM grids
 WHERE code = ANY(%s) AND valid_to IS NULL
"""
BUSIEST_WORKERS = """
SELECT person_id, count(*) FROM emergency_tasks
 WHERE emergency_id = %s AND person_id IS NOT NULL AND status = 'open'
 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s
"""
TASKS_OF = """
SELECT id FROM emergency_tasks WHERE emergency_id = %s AND person_id = %s AND status = 'open'
 ORDER BY id LIMIT %s
"""


def area_of_tasks(url: str, tasks: int) -> tuple[dict, list[str]]:
    """A (multi)polygon holding at least ``tasks`` targets: the union of the villages with
    the most, largest first; and those villages' codes."""
    chosen, total = [], 0
    with psycopg.connect(conninfo(url)) as conn:
        for village, n in conn.execute(VILLAGES):
            if total >= tasks:
                break
            chosen.append(village)
            total += int(n)
        area = conn.execute(AREA, ([v + "000" for v in chosen],)).fetchone()[0]
    return json.loads(area), chosen


def worker_tokens(url: str, emergency_id: int, workers: int, rounds: int
                  ) -> list[tuple[int, str, list[int]]]:
    """``workers`` grid-worker accounts (made now, named embench_w<person id>) of the people
    with the most open tasks in the emergency: each one's person id, token and ``rounds`` of
    its tasks."""
    from accounts import repository, service
    from db.session import session_scope

    with psycopg.connect(conninfo(url)) as conn:
        people = conn.execute(BUSIEST_WORKERS, (emergency_id, workers)).fetchall()
        tasks = {pid: [r[0] for r in conn.execute(TASKS_OF, (emergency_id, pid, rounds))]
                 for pid, _ in people}
    out = []
    with session_scope(url) as session:
        for pid, _ in people:
            name = f"embench_w{pid}"
            if repository.account_by_name(session, name) is None:
                service.create_account(session, name, "grid_worker", person_id=pid)
            token, _ = service.issue_token(session, name)
            out.append((pid, token, tasks[pid]))
    return out


def _request(port: int, method: str, path: str, token: str, body: dict | None = None
             ) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def mobilise(port: int, token: str, area: dict) -> dict:
    """``POST /api/v1/emergencies`` of ``area`` over HTTP; the board's figures."""
    status, body = _request(port, "POST", "/api/v1/emergencies", token, {
        "name": "bench live board", "kind": "confirm_safe", "area": {"geojson": area}})
    if status != 201:
        raise RuntimeError(f"mobilising answered {status}: {body[:300]!r}")
    return json.loads(body)


@dataclass
class Board:
    """The board's two channels, followed in two threads (see the module's docstring)."""

    port: int
    token: str
    emergency_id: int
    event_at: dict[int, float] = field(default_factory=dict)
    # (request sent, answer arrived, confirmed tasks by worker's person id) of every refetch
    fetches: list[tuple[float, float, dict[int, int]]] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    _wanted: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._stream, daemon=True).start()
        threading.Thread(target=self._refetch, daemon=True).start()
        if not self.connected.wait(30):
            raise RuntimeError("the live stream did not connect within 30 s")

    def _stream(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3600)
        conn.request("GET", "/api/v1/stream", headers={
            "Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"})
        answer = conn.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"the stream answered {answer.status}")
        kind = None
        while not self.stop.is_set():
            line = answer.fp.readline()
            if not line:
                return
            now = time.monotonic()
            if line.startswith(b": connected"):
                self.connected.set()
            elif line.startswith(b"event: "):
                kind = line[7:].strip()
            elif line.startswith(b"data: ") and kind == b"emergency":
                event = json.loads(line[6:])
                if event.get("emergency_id") == self.emergency_id:
                    if event.get("event") == "confirmed":
                        self.event_at.setdefault(int(event["task_id"]), now)
                    self._wanted.set()  # as the page: every event asks for the figures
            elif line == b"\n":
                kind = None

    def _refetch(self) -> None:
        # one request at a time; events during it ask for one more after it (emergency.js)
        while not self.stop.is_set():
            if not self._wanted.wait(0.2):
                continue
            self._wanted.clear()
            sent = time.monotonic()
            status, body = _request(self.port, "GET", f"/api/v1/emergencies/{self.emergency_id}",
                                    self.token)
            arrived = time.monotonic()
            if status == 200:
                counted = {w["person_id"]: int(w["confirmed"])
                           for w in json.loads(body)["workers"] if w["person_id"] is not None}
                self.fetches.append((sent, arrived, counted))

    def figures_at(self, person_id: int, nth: int) -> float | None:
        """When the board's figures first counted the ``nth`` confirmation (from 1) of the
        worker ``person_id`` (see the module's docstring)."""
        for _, arrived, counted in self.fetches:
            if counted.get(person_id, 0) >= nth:
                return arrived
        return None


@dataclass
class Confirmation:
    person_id: int
    nth: int  # the worker's how-many-th confirmation (from 1) when it succeeded
    task_id: int
    sent: float
    answered: float
    status: int


def _confirm(port: int, person_id: int, nth: int, token: str, emergency_id: int,
             task_id: int) -> Confirmation:
    body = {"id": str(uuid.uuid4()), "status": "safe", "people": 2,
            "confirmed_at": datetime.now(timezone.utc).isoformat()}
    sent = time.monotonic()
    try:
        status, _ = _request(port, "POST", f"/api/v1/emergencies/{emergency_id}/tasks/"
                             f"{task_id}/confirm", token, body)
    except OSError:
        status = 0  # counted as refused, and as never on the board
    return Confirmation(person_id, nth, task_id, sent, time.monotonic(), status)


def run(port: int, board: Board, workers: list[tuple[int, str, list[int]]], rounds: int,
        gap_s: float, timeout_s: float) -> dict:
    """``rounds`` rounds of every worker confirming one task at once; the latencies."""
    done: list[Confirmation] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(workers) + 1)

    def worker(person_id: int, token: str, tasks: list[int]) -> None:
        nth = 0
        for r in range(rounds):
            barrier.wait()
            if r < len(tasks):
                c = _confirm(port, person_id, nth + 1, token, board.emergency_id, tasks[r])
                nth += c.status == 201
                with lock:
                    done.append(c)
            barrier.wait()

    threads = [threading.Thread(target=worker, args=w, daemon=True) for w in workers]
    for t in threads:
        t.start()
    started = time.monotonic()
    for _ in range(rounds):
        barrier.wait()  # all at once
        barrier.wait()  # every answer in
        time.sleep(gap_s)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ok = [c for c in done if c.status == 201]
    deadline = max((c.answered for c in ok), default=time.monotonic()) + timeout_s
    while time.monotonic() < deadline and not all(
            c.task_id in board.event_at and board.figures_at(c.person_id, c.nth) is not None
            for c in ok):
        time.sleep(0.1)
    board.stop.set()
    from_answer, from_send, figures = [], [], []
    for c in done:
        at = board.event_at.get(c.task_id) if c.status == 201 else None
        late = at is not None and at - c.answered <= timeout_s
        from_answer.append(max(0.0, at - c.answered) * 1000 if late else math.inf)
        from_send.append((at - c.sent) * 1000 if late else math.inf)
        fig = board.figures_at(c.person_id, c.nth) if c.status == 201 else None
        figures.append(max(0.0, fig - c.answered) * 1000
                       if fig is not None and fig - c.answered <= timeout_s else math.inf)
    return {
        "confirmations": len(done), "refused": len(done) - len(ok),
        "seconds": elapsed, "per_s": len(done) / elapsed if elapsed else 0.0,
        "answer_ms": summary([(c.answered - c.sent) * 1000 for c in done]),
        "event_from_answer": summary(from_answer), "event_from_send": summary(from_send),
        "figures_from_answer": summary(figures), "refetches": len(board.fetches),
        "refetch_ms": summary([(a - s) * 1000 for s, a, _ in board.fetches] or [math.nan]),
    }


def nearest_rank(values: list[float], p: float) -> float:
    """The ``p`` percentile by nearest rank (a missing one is math.inf: never dropped)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def summary(values_ms: list[float]) -> dict:
    return {"n": len(values_ms), "p50": nearest_rank(values_ms, 0.50),
            "p95": nearest_rank(values_ms, 0.95), "max": max(values_ms),
            "missing": sum(math.isinf(v) for v in values_ms)}
