"""A grid worker's live stream (GET /api/v1/stream, filtered by web/streams.py scope_filter)
carries only its grids' cases, and a new case routed to the worker arrives with what the
phone needs to put it in its inbox: id, version, status, assignee, grid and position."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.request

from tests.test_intake_api import leaf_with_one_worker
from tests.test_transitions_api import auth, demo_leaf, new_case, url  # noqa: F401  (fixture)
from tests.waits import HANG_S

EVENT = re.compile(rb"event: case\ndata: (\{[^\n]*\})\n")


class Stream:
    """One raw SSE client of ``/api/v1/stream`` with a bearer token."""

    def __init__(self, port: int, token: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
        self.sock.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Accept: text/event-stream\r\nAuthorization: Bearer "
                          + token.encode() + b"\r\n\r\n")
        self.data = b""

    def until(self, found, what: str) -> None:
        deadline = time.monotonic() + HANG_S
        while not found(self.data):
            if time.monotonic() > deadline:
                raise AssertionError(f"stream: {what} not seen within {HANG_S} s")
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("the server closed the stream")
            self.data += chunk

    def events(self) -> list[dict]:
        return [json.loads(m) for m in EVENT.findall(self.data)]

    def close(self) -> None:
        self.sock.close()


def _events(data: bytes) -> list[dict]:
    return [json.loads(m) for m in EVENT.findall(data)]


def _accept(base: str, case_id: int, token: str) -> None:
    req = urllib.request.Request(f"{base}/api/v1/cases/{case_id}/transitions", method="POST",
                                 data=json.dumps({"action": "accept"}).encode(),
                                 headers={**auth(token, 1), "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=HANG_S) as resp:
        assert resp.status == 200


def test_a_workers_stream_carries_its_grids_cases_with_what_the_phone_needs(
        url, demo_tokens, app_server):
    leaf = demo_leaf(url)
    token = demo_tokens[leaf["account"]]
    other = next(o for o in (leaf_with_one_worker(url, offset=k) for k in range(60))
                 if o["code"][:12] != leaf["code"][:12])
    server = app_server(url)
    stream = Stream(server.port, token)
    try:
        stream.until(lambda d: b": connected\n\n" in d, "the connected comment")
        assert stream.data.startswith(b"HTTP/1.1 200")
        # first a case of another village's grid, then the worker's: events keep their order,
        # so once the worker's has arrived the other would have too
        elsewhere = new_case(url, other)
        mine = new_case(url, leaf)
        stream.until(lambda d: any(e["id"] == mine for e in _events(d)), "the worker's case")
        created = next(e for e in stream.events() if e["id"] == mine)
        assert created["op"] == "insert" and created["status"] == "dispatched"
        assert created["version"] == 1 and created["assignee_id"] == leaf["worker_id"]
        assert created["grid_code"] == leaf["code"] and created["queue"] == "grid"
        assert {"lon", "lat", "due_at", "category_code"} <= set(created)
        _accept(server.base, mine, token)
        stream.until(lambda d: any(e["id"] == mine and e["op"] == "update"
                                   for e in _events(d)), "the change of the worker's case")
        changed = next(e for e in stream.events() if e["id"] == mine and e["op"] == "update")
        assert (changed["status"], changed["version"]) == ("handling", 2)
        assert all(e["id"] != elsewhere for e in stream.events())
    finally:
        stream.close()
