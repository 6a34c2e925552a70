"""What the fault tests (tests/test_faults_*.py) share: a PostgreSQL cluster of their own that
they may stop, kill or fill (the suite's ``pg_server`` serves every other test and keeps
running), a small town in it, and clients that report cases with an ``Idempotency-Key`` and
send again on 503 as the README tells clients to.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from db import migrate
from db.cluster import Cluster
from db.session import conninfo, engine_for
from tests.boundary_data import import_all, staff_all
from tests.waits import HANG_S


def own_cluster(root: Path) -> Cluster:
    """A started cluster under ``root``, durable as `make run` makes it: the suite's clusters
    turn synchronous_commit off, and a crash would lose commits a client was told of."""
    cluster = Cluster(root)
    cluster.start()
    return cluster


def small_town(cluster: Cluster, cli, tmp_path: Path, dbname: str = "gridgov") -> str:
    """The migrated database ``dbname`` in ``cluster`` with tests/boundary_data.py's two
    villages, a worker in every grid; its URL."""
    cluster.create_database(dbname)
    url = cluster.url(dbname)
    migrate.upgrade(url)
    import_all(cli, url, tmp_path)
    staff_all(url)
    engine_for(url).dispose()
    return url


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(sql, params).fetchall()


def leaf_points(url: str) -> list[tuple[float, float]]:
    """A point inside each current leaf grid (WGS 84)."""
    return [(lon, lat) for lon, lat in query(
        url, "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grids "
             "WHERE valid_to IS NULL AND level IN ('regional', 'service') ORDER BY code")]


def case_body(lon: float, lat: float, n: int = 0) -> dict:
    return {"category": "visit", "description": f"路灯不亮 {n}", "channel": "resident",
            "location": {"lon": lon, "lat": lat, "crs": "wgs84"}}


def multipart(case: dict, photos: list[bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body with the case as JSON and its photos; (body, content type)."""
    boundary = uuid.uuid4().hex
    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="case"\r\n'
              f"Content-Type: application/json\r\n\r\n").encode()
             + json.dumps(case, ensure_ascii=False).encode() + b"\r\n"]
    for i, data in enumerate(photos):
        parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
                      f'filename="p{i}.png"\r\nContent-Type: image/png\r\n\r\n').encode()
                     + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Answer:
    status: int | None  # None: no answer (the connection was cut or refused)
    headers: dict[str, str]
    body: dict | None
    error: str | None = None


Connection = http.client.HTTPConnection


def send(port: int, body: bytes, content_type: str, key: str,
         conn: Connection | None = None) -> tuple[Answer, Connection | None]:
    """POST /api/v1/cases on ``conn`` (a new keep-alive connection when None); the answer and
    the connection to use next (None when it broke). Waits at most HANG_S: a hang fails."""
    reused = conn is not None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_S)
    try:
        try:
            conn.request("POST", "/api/v1/cases", body=body,
                         headers={"Content-Type": content_type, "Idempotency-Key": key})
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError):
            if not reused:
                raise
            # a kept-alive connection the server had closed while this client was busy (as
            # every HTTP client library does: once more, on a new connection)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_S)
            conn.request("POST", "/api/v1/cases", body=body,
                         headers={"Content-Type": content_type, "Idempotency-Key": key})
            response = conn.getresponse()
        raw = response.read()
    except TimeoutError:
        conn.close()
        return Answer(None, {}, None, "no answer within HANG_S"), None
    except OSError as exc:  # refused, reset: the server's worker died under the request
        conn.close()
        return Answer(None, {}, None, f"{type(exc).__name__}: {exc}"), None
    headers = {k.lower(): v for k, v in response.getheaders()}
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = {"raw": raw[:200].decode(errors="replace")}
    if headers.get("connection", "").lower() == "close":
        conn.close()
        conn = None
    return Answer(response.status, headers, parsed), conn


@dataclass
class Tally:
    """What a crowd of reporting clients saw, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    created: dict[str, int] = field(default_factory=dict)  # key -> case id the client was told
    retried: set[str] = field(default_factory=set)  # keys sent more than once
    answers: dict[int | None, int] = field(default_factory=dict)  # status -> how many
    unavailable: list[Answer] = field(default_factory=list)  # the 503s
    odd: list[Answer] = field(default_factory=list)  # anything but 200, 201 or 503
    slowest_s: float = 0.0  # the longest wait for one answer (reported, not asserted)

    def count(self, status: int | None) -> int:
        with self.lock:
            return self.answers.get(status, 0)


def report_until(port: int, points: list[tuple[float, float]], stop: threading.Event,
                 tally: Tally, rate_per_s: float, photos: list[bytes] | None = None) -> None:
    """One client: reports cases at ``rate_per_s`` (as fast as answers come when slower), each
    with a new Idempotency-Key (see :func:`report`), until ``stop`` is set and its report in
    hand is created."""
    conn = None
    n = 0
    next_at = time.monotonic()
    while not stop.is_set():
        n += 1
        lon, lat = points[n % len(points)]
        conn = report(port, case_body(lon, lat, n), str(uuid.uuid4()), tally, photos, conn)
        next_at += 1 / rate_per_s
        while time.monotonic() < next_at:
            time.sleep(0.002)
        next_at = max(next_at, time.monotonic() - 1)  # behind: no burst to catch up
    if conn is not None:
        conn.close()


def report(port: int, case: dict, key: str, tally: Tally, photos: list[bytes] | None = None,
           conn: http.client.HTTPConnection | None = None) -> http.client.HTTPConnection | None:
    """Report ``case`` (with ``photos``, as multipart) under ``key`` until it is created: sent
    again with the same key after a 503 (waiting its Retry-After) or a cut connection; given
    up on any other answer (kept in ``tally.odd``). Returns the connection to use next."""
    if photos:
        body, content_type = multipart(case, photos)
    else:
        body, content_type = json.dumps(case).encode(), "application/json"
    attempts = 0
    while True:
        attempts += 1
        started = time.monotonic()
        answer, conn = send(port, body, content_type, key, conn)
        waited = time.monotonic() - started
        with tally.lock:
            tally.answers[answer.status] = tally.answers.get(answer.status, 0) + 1
            tally.slowest_s = max(tally.slowest_s, waited)
            if attempts > 1:
                tally.retried.add(key)
            if answer.status in (200, 201):
                tally.created[key] = answer.body["id"]
            elif answer.status == 503:
                tally.unavailable.append(answer)
            elif answer.status is not None:
                tally.odd.append(answer)
        if answer.status in (200, 201):
            return conn
        if answer.status == 503:
            pause = float(answer.headers.get("retry-after") or 1)
            if conn is not None:  # idle that long, the server would close it (keep-alive 2 s)
                conn.close()
                conn = None
        elif answer.status is None:
            pause = 0.2
        else:
            return conn  # refused for good: reported in tally.odd
        wake = time.monotonic() + pause
        while time.monotonic() < wake:
            time.sleep(0.05)


def report_once(port: int, case: dict, key: str, tally: Tally,
                photos: list[bytes] | None = None) -> None:
    """:func:`report` on a connection of its own, closed afterwards (a client thread's target)."""
    conn = report(port, case, key, tally, photos)
    if conn is not None:
        conn.close()


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    os.kill(pid, sig)


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid``."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
