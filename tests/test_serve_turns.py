"""``gridgov serve`` spreads keep-alive connections evenly over its workers (web/serve.py,
ConnectionCounts): a worker takes a new connection only while it holds no more than any other.
Spread by the kernel's hash instead, 8 connections were often 6/2 or 7/1."""

from __future__ import annotations

import http.client
import os
from collections import Counter
from pathlib import Path

from tests.waits import HANG_S, wait_for


def _workers(arbiter: int) -> list[int]:
    """gunicorn's worker processes: the arbiter's children (their stream processes are the
    workers' children)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == arbiter and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def _holder(workers: list[int], server_port: int) -> dict[int, int]:
    """For each established connection to ``server_port``: the client's port → the worker
    holding the server's end (by the socket's inode in /proc/net/tcp and the workers' fds)."""
    inode_of = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
        if state == "01" and int(local.split(":")[1], 16) == server_port:
            inode_of[inode] = int(remote.split(":")[1], 16)
    held = {}
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inode_of:
                held[inode_of[target[8:-1]]] = pid
    return held


def _open(port: int) -> http.client.HTTPConnection:
    """A keep-alive connection that has been answered once (so a worker has accepted it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_S)
    conn.request("GET", "/healthz")
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 200
    return conn


def test_keep_alive_connections_are_taken_in_turns(empty_db_url, gridgov_server):
    server = gridgov_server(empty_db_url, workers=2)
    workers = _workers(server.proc.pid)
    assert len(workers) == 2
    conns: list[http.client.HTTPConnection] = []
    try:
        for _ in range(8):
            conns.append(_open(server.port))
        ports = [c.sock.getsockname()[1] for c in conns]

        def per_worker() -> Counter:
            held = _holder(workers, server.port)
            return Counter(held[p] for p in ports if p in held)

        wait_for(lambda: sum(per_worker().values()) == 8, "the 8 connections held by the workers")
        assert sorted(per_worker().values()) == [4, 4]
    finally:
        for conn in conns:
            conn.close()
