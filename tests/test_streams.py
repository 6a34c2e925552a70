"""Live streams cost a socket, not a thread: hundreds open on ``gridgov serve`` with its
defaults while the API keeps answering, and every stream gets every event (web/streams.py)."""

from __future__ import annotations

import json
import os
import re
import selectors
import socket
import threading
import time
import urllib.request
from pathlib import Path

import mercantile
import psycopg
import pytest
import uvloop

from db.session import conninfo
from tests.conftest import DEMO_TOKENS
from tests.waits import HANG_S, wait_for  # a ceiling that only catches hangs; speed is bench/stream_bench.py's
from web import streams
from web.live import Hub

STREAMS = 300
CASES = 20


def stream_request() -> bytes:
    """The stream's request, with the demo town operator's token."""
    return (b"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            b"Authorization: Bearer " + DEMO_TOKENS["town_operator"].encode() + b"\r\n\r\n")


def signed(url: str, **options) -> urllib.request.Request:
    token = DEMO_TOKENS["town_operator"]
    return urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}, **options)
EVENT_ID = re.compile(rb'event: case\ndata: \{"op":"insert","id":(\d+)')


def post_case(base: str, lon: float, lat: float) -> dict:
    body = {"category": "visit", "description": "路灯不亮", "channel": "resident",
            "location": {"lon": lon, "lat": lat, "crs": "wgs84"}}
    req = urllib.request.Request(base + "/api/v1/cases", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=HANG_S) as r:
        assert r.status == 201
        return json.loads(r.read())


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for {pid}")


def server_pids(proc) -> list[int]:
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return [proc.pid, *map(int, children)]


class StreamReaders:
    """``n`` raw stream clients on one selector, reading everything they are sent."""

    def __init__(self, port: int, n: int):
        self.selector = selectors.DefaultSelector()
        self.received: dict[socket.socket, bytes] = {}
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
            s.sendall(stream_request())
            s.setblocking(False)
            self.selector.register(s, selectors.EVENT_READ)
            self.received[s] = b""

    def read_until(self, done, what: str) -> None:
        deadline = time.monotonic() + HANG_S
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"streams: {what} not seen within {HANG_S} s")
            for key, _ in self.selector.select(timeout=0.5):
                data = key.fileobj.recv(65536)
                if not data:
                    raise AssertionError("the server closed a stream")
                self.received[key.fileobj] += data

    def ids(self, s: socket.socket) -> set[int]:
        return {int(i) for i in EVENT_ID.findall(self.received[s])}

    def close(self) -> None:
        for s in self.received:
            self.selector.unregister(s)
            s.close()
        self.selector.close()


def test_hundreds_of_open_streams_leave_the_api_answering_and_each_gets_every_case(
    demo_copy_url, gridgov_server
):
    server = gridgov_server(demo_copy_url, workers=2)  # gridgov serve's defaults: 2 workers × 4 threads
    base = server.base
    readers = StreamReaders(server.port, STREAMS)
    try:
        readers.read_until(lambda: all(b": connected\n\n" in d for d in readers.received.values()),
                           "the connected comment on every stream")
        heads = {d.split(b"\r\n", 1)[0] for d in readers.received.values()}
        assert heads == {b"HTTP/1.1 200 OK"}
        assert all(b"Content-Type: text/event-stream" in d for d in readers.received.values())

        # with 300 streams open (gthread would need 300 threads), the API still answers
        posted = {post_case(base, 112.87 + i * 1e-4, 35.64)["id"] for i in range(CASES)}
        with urllib.request.urlopen(base + "/api/v1/categories", timeout=HANG_S) as r:
            assert r.status == 200
        tile = mercantile.tile(112.87, 35.64, 12)
        with urllib.request.urlopen(signed(base + f"/tiles/grids/12/{tile.x}/{tile.y}.pbf"),
                                    timeout=HANG_S) as r:
            assert r.status in (200, 204)

        readers.read_until(lambda: all(posted <= readers.ids(s) for s in readers.received),
                           f"all {CASES} cases on every stream")
        # the streams are held by each worker's event loop, not by threads
        assert max(threads_of(pid) for pid in server_pids(server.proc)) < 20
    finally:
        readers.close()


def test_a_refused_method_and_head_are_answered_normally(demo_copy_url, gridgov_server):
    base = gridgov_server(demo_copy_url, workers=2).base + "/api/v1/stream"
    req = signed(base, method="HEAD")
    with urllib.request.urlopen(req, timeout=HANG_S) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    req = urllib.request.Request(base, method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=HANG_S)
    assert err.value.code == 405
    err.value.close()


# -- the fan-out itself, in this process, on a real database ------------------------------


@pytest.fixture
def fanout(demo_copy_url):
    """A fan-out on its own uvloop loop in a thread of this process, as the stream process
    runs one on its main thread."""
    hub = Hub(conninfo(demo_copy_url), invalidates_tiles=False)
    hub.start()
    assert hub.listening.wait(HANG_S)
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield streams.Fanout(hub, loop)
    hub.stop()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(HANG_S)


def read_until(sock: socket.socket, needle: bytes) -> bytes:
    sock.settimeout(HANG_S)
    got = b""
    while needle not in got:
        chunk = sock.recv(65536)
        assert chunk, f"closed before {needle!r}"
        got += chunk
    return got


def test_an_adopted_socket_gets_the_head_and_each_change_made_in_the_database(fanout, demo_copy_url):
    ours, theirs = socket.socketpair()
    fanout.adopt(ours, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    assert read_until(theirs, b": connected\n\n").startswith(b"HTTP/1.1 200 OK\r\n")
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as conn:
        case_id = conn.execute("SELECT min(id) FROM cases").fetchone()[0]
        conn.execute("UPDATE cases SET description = description || '。' WHERE id = %s", (case_id,))
    got = read_until(theirs, b'"op":"update","id":%d,' % case_id)
    assert b"event: case\ndata: " in got
    theirs.close()
    wait_for(lambda: fanout.count() == 0, "the closed stream dropped")


def test_only_the_events_a_stream_accepts_are_written_to_it(fanout):
    ours, theirs = socket.socketpair()
    fanout.adopt(ours, b"", accepts=lambda e: e["grid_code"] == "A")
    read_until(theirs, b": connected\n\n")
    for code in ("B", "A"):
        fanout._from_hub({"op": "insert", "id": 1, "grid_code": code})
    got = read_until(theirs, b'"grid_code":"A"')
    assert b'"grid_code":"B"' not in got
    theirs.close()


def test_a_client_that_stops_reading_is_cut_off_not_buffered_forever(fanout, monkeypatch):
    monkeypatch.setattr(streams, "MAX_BUFFERED_BYTES", 64 * 1024)
    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    fanout.adopt(ours, b"")
    wait_for(lambda: fanout.count() == 1, "the stream adopted")
    big = {"op": "insert", "id": 1, "note": "x" * 20_000}
    deadline = time.monotonic() + HANG_S
    while fanout.count() and time.monotonic() < deadline:
        fanout._from_hub(big)
        time.sleep(0.01)
    assert fanout.count() == 0, "a stalled stream was kept"
    theirs.close()


# -- the stream process: a worker hands it sockets, it outlives nothing ----------------------


@pytest.fixture
def stream_process():
    process = streams.StreamProcess()
    process.start()
    yield process
    process.stop()


def handed_off(process: streams.StreamProcess, url: str, scope: dict | None = None) -> socket.socket:
    ours, theirs = socket.socketpair()
    process.hand_off(ours, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", conninfo(url), scope)
    assert read_until(theirs, b": connected\n\n").startswith(b"HTTP/1.1 200 OK\r\n")
    return theirs


def touch_case(url: str, where: str) -> int:
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        case_id = conn.execute(f"SELECT min(id) FROM cases WHERE {where}").fetchone()[0]
        conn.execute("UPDATE cases SET description = description || '。' WHERE id = %s", (case_id,))
    return case_id


def test_a_handed_off_socket_is_served_by_the_stream_process_in_the_accounts_scope(
    stream_process, demo_copy_url
):
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        village = conn.execute("SELECT substr(min(grid_code), 1, 12) FROM cases "
                               "WHERE grid_code IS NOT NULL").fetchone()[0]
    everything = handed_off(stream_process, demo_copy_url)
    villages = handed_off(stream_process, demo_copy_url,
                          {"role": "village_operator", "scope_kind": "village", "scope_code": village})
    other = touch_case(demo_copy_url, f"grid_code NOT LIKE '{village}%'")
    mine = touch_case(demo_copy_url, f"grid_code LIKE '{village}%'")
    read_until(everything, b'"op":"update","id":%d,' % mine)
    got = read_until(villages, b'"op":"update","id":%d,' % mine)
    assert b'"id":%d,' % other not in got, "a case outside the village reached its stream"
    everything.close()
    villages.close()


def test_the_stream_process_and_its_listener_run_below_every_request(stream_process, demo_copy_url):
    handed_off(stream_process, demo_copy_url).close()  # its hub's listener thread is running
    pid = stream_process._proc.pid
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    assert len(threads) > 1
    assert {os.sched_getscheduler(t) for t in threads} == {os.SCHED_IDLE}
    assert os.sched_getscheduler(os.getpid()) != os.SCHED_IDLE  # the process that started it


def test_a_dead_stream_process_is_replaced_and_one_ends_with_its_worker(stream_process, demo_copy_url):
    first = stream_process._proc
    first.kill()
    first.wait(HANG_S)
    handed_off(stream_process, demo_copy_url).close()  # served by a new one
    second = stream_process._proc
    assert second.pid != first.pid and second.poll() is None
    stream_process.stop()  # the worker's end of the channel closes: the process exits by itself
    assert second.wait(HANG_S) == 0


def test_a_scope_filter_passes_the_scopes_cases_and_every_bulk_change():
    village = streams.scope_filter({"role": "village_operator", "scope_kind": "village",
                                    "scope_code": "140525108227"})
    assert village({"op": "update", "grid_code": "140525108227003"})
    assert village({"op": "update", "grid_code": None, "admin_code": "140525108227000"})
    assert not village({"op": "update", "grid_code": "140525108228001"})
    assert village({"op": "bulk"})
    department = streams.scope_filter({"role": "department_handler", "scope_kind": "department",
                                       "scope_code": "huanbao"})
    assert department({"op": "update", "grid_code": "140525108227003", "department_code": "huanbao"})
    assert not department({"op": "update", "grid_code": "140525108227003", "department_code": None})
    assert streams.scope_filter({"role": "town_operator", "scope_kind": "town",
                                 "scope_code": "140525108"}) is None


def test_a_stream_served_by_a_thread_says_connected_only_once_its_hub_listens():
    """``sse_stream`` (a server without the stream loop; the tests' app_server) waits, as the
    stream loop does, until its hub listens before ": connected": a hub started by the request
    reads where to begin when it connects, and a change committed before that read would
    never reach a client already told it is connected (seen once in a full run of the suite:
    test_privacy's live stream, the case reported right after ": connected")."""
    from web.live import LISTEN_WAIT_S, PREAMBLE, sse_stream

    seen = []

    class Listening(threading.Event):
        def wait(self, timeout=None):
            seen.append((timeout, self.is_set()))
            self.set()  # what the hub's thread does once it knows where to begin
            return True

    hub = Hub("host=/nonexistent")  # never started: it listens when the test says so
    hub.listening = Listening()
    stream = sse_stream(hub, hub.subscribe())
    assert next(stream) == PREAMBLE
    assert seen == [(LISTEN_WAIT_S, False)]
    stream.close()
