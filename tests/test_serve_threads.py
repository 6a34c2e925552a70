"""``gridgov serve``'s threads wait for their connections themselves (web/serve.py,
StreamingWorker): a readable connection wakes one thread, which answers it and arms it again.
What gthread's poller did for us must still hold: requests sent back to back in one packet,
a request that arrives in pieces, a connection that sends nothing (holding no thread), and a
kept-alive connection closed once idle past its keep-alive."""

from __future__ import annotations

import socket
import time

from tests.waits import HANG_S

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=HANG_S)


def _read_answers(sock: socket.socket, n: int) -> list[bytes]:
    """The status lines of ``n`` answers read from ``sock`` (each with its Content-Length)."""
    data = b""
    statuses = []
    while len(statuses) < n:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(statuses)} of {n} answers"
            data += chunk
            continue
        head = data[:head_end].decode("latin-1").split("\r\n")
        length = next(int(h.split(":", 1)[1]) for h in head
                      if h.lower().startswith("content-length:"))
        while len(data) < head_end + 4 + length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside an answer"
            data += chunk
        statuses.append(head[0].encode())
        data = data[head_end + 4 + length:]
    return statuses


def test_requests_in_one_packet_and_in_pieces(empty_db_url, gridgov_server):
    server = gridgov_server(empty_db_url, workers=1, threads=1)
    with _connect(server.port) as sock:
        # three requests in one send: the second and third are read with the first, and the
        # socket is not readable for them again
        sock.sendall(HEALTHZ * 3)
        assert _read_answers(sock, 3) == [b"HTTP/1.1 200 OK"] * 3
        # then one in three pieces, on the same kept-alive connection
        for piece in (HEALTHZ[:7], HEALTHZ[7:20], HEALTHZ[20:]):
            sock.sendall(piece)
            time.sleep(0.05)
        assert _read_answers(sock, 1) == [b"HTTP/1.1 200 OK"]


def test_a_silent_connection_holds_no_thread(empty_db_url, gridgov_server):
    # one thread: connections that send nothing wait in the epoll, not in it
    server = gridgov_server(empty_db_url, workers=1, threads=1)
    silent = [_connect(server.port) for _ in range(3)]
    try:
        with _connect(server.port) as sock:
            sock.sendall(HEALTHZ)
            assert _read_answers(sock, 1) == [b"HTTP/1.1 200 OK"]
        # and a silent one is answered when it speaks
        silent[0].sendall(HEALTHZ)
        assert _read_answers(silent[0], 1) == [b"HTTP/1.1 200 OK"]
    finally:
        for sock in silent:
            sock.close()


def test_an_idle_kept_alive_connection_is_closed(empty_db_url, gridgov_server):
    server = gridgov_server(empty_db_url, workers=1, threads=1)
    with _connect(server.port) as sock:
        sock.sendall(HEALTHZ)
        assert _read_answers(sock, 1) == [b"HTTP/1.1 200 OK"]
        # gunicorn's keep-alive (2 s) passes: the server closes its end (recv sees the end;
        # a hang trips the socket's timeout instead)
        assert sock.recv(1) == b""
    # and the worker still serves
    with _connect(server.port) as sock:
        sock.sendall(HEALTHZ)
        assert _read_answers(sock, 1) == [b"HTTP/1.1 200 OK"]
