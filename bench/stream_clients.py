"""Many live-stream clients in one process (asyncio), for ``bench/stream_bench.py``.

Run as a child process: it opens ``--streams`` connections to ``GET /api/v1/stream``, prints
``READY <n>`` when every stream has received the server's ``: connected`` comment, then reads
standard input: ``FROM <id>`` counts only the cases with a greater id from then on (events of
cases made before the measurement still on their way are not counted), and ``STOP`` makes it
print one JSON line with what it measured:

- per stream, how many case events it received (every stream should receive every event);
- the delivery latency of every event on every stream, as a histogram of whole milliseconds:
  the time a read's bytes arrived here minus the ``created_at`` of the first (oldest) case in
  that read, counted once for each event the read carried — an upper bound for each of them
  (the database's clock on the same machine, so both clocks are one).

Why this shape: at 300 cases/s, 1,000 streams receive 300,000 events a second, on the same
two cores as the server. Parsing each as JSON, or even matching each with a regular
expression, took more CPU than the server under test has. A read is counted with
``bytes.count`` and timed by its first event only (C speed, a few microseconds a read); a read
whose first case is older than ``FROM`` (rare: only around the start) is parsed in full.

Example:
    .venv/bin/python bench/stream_clients.py --port 8000 --streams 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections import Counter
from datetime import datetime

import uvloop

EVENT = re.compile(rb'"id":(\d+),.*?"created_at":"([^"]+)"')
# the stream needs an account: the token comes in GRIDGOV_TOKEN (bench/stream_bench.py sets it;
# an argument would show in the process list)
REQUEST = (b"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
           b"Authorization: Bearer " + os.environ.get("GRIDGOV_TOKEN", "").encode() + b"\r\n\r\n")


class Shared:
    def __init__(self, n: int):
        self.counts = [0] * n
        self.connected = 0
        self.all_connected = asyncio.Event()
        self.n = n
        self.latency_ms: Counter[int] = Counter()
        self.epoch: dict[bytes, float] = {}
        self.closed = 0
        self.from_id = 0

    def seconds(self, stamp: bytes) -> float:
        t = self.epoch.get(stamp)
        if t is None:
            if len(self.epoch) > 100_000:
                self.epoch.clear()
            t = self.epoch[stamp] = datetime.fromisoformat(stamp.decode()).timestamp()
        return t


class Client(asyncio.Protocol):
    def __init__(self, shared: Shared, index: int):
        self.shared = shared
        self.index = index
        self.head_done = False
        self.buf = b""

    def connection_made(self, transport) -> None:
        transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        shared = self.shared
        if not self.head_done:
            self.buf += data
            if b": connected\n\n" not in self.buf:
                return
            self.head_done = True
            data, self.buf = self.buf.split(b": connected\n\n", 1)[1], b""
            shared.connected += 1
            if shared.connected == shared.n:
                shared.all_connected.set()
        # an event may be split over two reads: count it when its end has arrived
        if self.buf:
            data = self.buf + data
        cut = data.rfind(b"\n\n") + 2
        whole, self.buf = data[:cut], data[cut:]
        n = whole.count(b"event: case\n")
        if not n:
            return
        at = whole.index(b'"id":') + 5
        first_id = int(whole[at:whole.index(b",", at)])
        if first_id <= shared.from_id:  # events of cases made before the measurement: parse
            events = [(t, int(i)) for i, t in EVENT.findall(whole) if int(i) > shared.from_id]
            if not events:
                return
            n, stamp = len(events), events[0][0]
        else:
            at = whole.index(b'"created_at":"') + 14
            stamp = whole[at:whole.index(b'"', at)]
        shared.counts[self.index] += n
        shared.latency_ms[int((now - shared.seconds(stamp)) * 1000)] += n

    def connection_lost(self, exc) -> None:
        self.shared.closed += 1


async def main(port: int, n: int) -> None:
    loop = asyncio.get_running_loop()
    shared = Shared(n)
    for i in range(n):
        await loop.create_connection(lambda i=i: Client(shared, i), "127.0.0.1", port)
    await asyncio.wait_for(shared.all_connected.wait(), 120)
    print(f"READY {shared.connected}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while (line := (await reader.readline()).split()) != [b"STOP"]:
        if line[:1] == [b"FROM"]:
            shared.from_id = int(line[1])
            shared.counts = [0] * n
            shared.latency_ms.clear()
    print(json.dumps({
        "streams": n, "connected": shared.connected, "closed_by_server": shared.closed,
        "counts": shared.counts,
        "latency_ms": sorted(shared.latency_ms.items()),
    }), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--streams", type=int, default=1000)
    a = p.parse_args()
    # uvloop, as the server's stream loop: the clients share the server's two cores
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(a.port, a.streams))
