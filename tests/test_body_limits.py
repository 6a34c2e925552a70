"""Request bodies are refused by their length, before anything reads or parses them: 413,
with a JSON limit (1 MiB) far below the multipart limit for photos (16 MiB), and a chunked
body without a length stopped at the limit.

The app here points at a database that does not exist: a request that got past the limit
to a view would answer 503, so a 413 shows the body was refused before any view ran. The
raw-socket tests send a length and then only a byte or two: had the server waited to read
the body, the answer would never come (the socket's timeout, tests/waits.py, catches that).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from tests.waits import HANG_S
from web import create_app

NOWHERE = "postgresql://gridgov@127.0.0.1:9/nowhere"  # port 9 (discard): nothing listens


def app(**config):
    return create_app({"DATABASE_URL": NOWHERE, **config})


@pytest.fixture
def server() -> Iterator[callable]:
    """Start the app on 127.0.0.1 with the config given; yields the starter."""
    started = []

    def start(**config) -> tuple[str, int]:
        srv = make_server("127.0.0.1", 0, app(**config), threaded=True)
        thread = threading.Thread(target=srv.serve_forever, name="limits-server", daemon=True)
        thread.start()
        started.append((srv, thread))
        return "127.0.0.1", srv.server_port

    yield start
    for srv, thread in started:
        srv.shutdown()
        thread.join(timeout=10)
        srv.server_close()


def exchange(address: tuple[str, int], head: str, body_parts: list[bytes]) -> tuple[int, dict]:
    """Send a request head and body parts over a raw socket; the status and JSON answered."""
    with socket.create_connection(address, timeout=HANG_S) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed before taking the rest: what we want
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    return status, json.loads(body[: _length(data)] or b"{}")


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_a_json_body_over_the_json_limit_is_413_even_when_it_is_not_json():
    """5 MB of something that is not JSON: 413 by its length, never 400 from a parser."""
    client = app().test_client()
    r = client.post("/api/v1/cases", data=b"{" * (5 * 1024 * 1024), content_type="application/json")
    assert r.status_code == 413
    body = r.get_json()
    assert body["error"] == "request_entity_too_large"
    assert "1,048,576" in body["message"]


def test_the_json_limit_is_far_below_the_multipart_limit_and_both_are_configurable():
    client = app(MAX_JSON_LENGTH=1000, MAX_CONTENT_LENGTH=50_000).test_client()
    over_json = client.post("/api/v1/cases", data=b" " * 1001, content_type="application/json")
    assert over_json.status_code == 413 and "1,000" in over_json.get_json()["message"]
    # the same size as multipart is within its limit: it reaches the view, which needs the
    # (missing) database: 503, not 413
    multipart = client.post("/api/v1/cases", data=b"-" * 1001,
                            content_type="multipart/form-data; boundary=x")
    assert multipart.status_code != 413
    over_multipart = client.post("/api/v1/cases", data=b"-" * 50_001,
                                 content_type="multipart/form-data; boundary=x")
    assert over_multipart.status_code == 413


def test_an_oversize_content_length_is_refused_before_the_body_is_read(server):
    address = server()
    head = ("POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {5 * 1024 * 1024}\r\nConnection: close\r\n\r\n")
    status, body = exchange(address, head, [b"{"])  # one byte of the announced 5 MB
    assert status == 413
    assert body["error"] == "request_entity_too_large" and "5,242,880" in body["message"]


def test_a_chunked_body_without_a_length_is_stopped_at_the_limit(server):
    address = server(MAX_JSON_LENGTH=4096)
    head = ("POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    chunk = b" " * 1024
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 64 + [b"0\r\n\r\n"]  # 64 KiB, no length
    status, body = exchange(address, head, parts)
    assert status == 413
    assert body["error"] == "request_entity_too_large"


def test_a_chunked_body_within_the_limit_is_read(server):
    """The limit stops a long stream, not a short one: this one reaches the view (503)."""
    address = server(MAX_JSON_LENGTH=4096)
    head = ("POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    payload = json.dumps({"category": "x"}).encode()
    status, body = exchange(address, head, [b"%x\r\n%s\r\n" % (len(payload), payload), b"0\r\n\r\n"])
    assert status in (422, 503), body
