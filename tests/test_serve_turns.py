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


def _server_ends(server_port: int) -> dict[str, int]:
    """The server's end of each established connection to ``server_port``: its socket's inode
    (/proc/net/tcp) → the client's port."""
    inode_of = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
        if state == "01" and int(local.split(":")[1], 16) == server_port:
            inode_of[inode] = int(remote.split(":")[1], 16)
    return inode_of


def _sockets(pid: int) -> set[str]:
    """The inodes of the sockets process ``pid`` holds open."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def _holder(workers: list[int], server_port: int) -> dict[int, int]:
    """For each established connection to ``server_port``: the client's port → the worker
    holding the server's end."""
    inode_of = _server_ends(server_port)
    return {inode_of[i]: pid for pid in workers for i in _sockets(pid) if i in inode_of}


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

        # three of one worker's connections end: the next three are that worker's, the other
        # holding four and it one
        first = workers[0]
        inode_of = _server_ends(server.port)
        mine = {port: inode for inode, port in inode_of.items() if inode in _sockets(first)}
        closing = [c for c, p in zip(conns, ports) if p in mine][:3]
        gone = {mine[c.sock.getsockname()[1]] for c in closing}
        for conn in closing:
            conn.close()
        # the worker has closed its ends (counted out before it closes them: web/serve.py);
        # not the TCP state, which leaves ESTABLISHED as soon as the client closes
        wait_for(lambda: not gone & _sockets(first), "the worker closing its ends")
        newer = [_open(server.port) for _ in range(3)]
        conns += newer
        new_ports = [c.sock.getsockname()[1] for c in newer]
        wait_for(lambda: set(new_ports) <= _holder(workers, server.port).keys(),
                 "the new connections held")
        held = _holder(workers, server.port)
        assert [held[p] for p in new_ports] == [first] * 3
    finally:
        for conn in conns:
            conn.close()
