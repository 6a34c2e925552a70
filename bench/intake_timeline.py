"""The intake's latency second by second: where a paced ``POST /api/v1/cases`` run's p99 comes
from (a steady spread, or stalls of a second or more, and when).

Makes a throwaway database with the Bagong demo (as bench/http_bench.py does), starts
``gridgov serve`` with its defaults, and POSTs the case bodies of http_bench.py at ``--rate``
(300) a second over ``--clients`` (8) keep-alive connections (uvloop), each request timed from
when it was due (a late answer delays the requests after it, and they count the wait), for a
5 s warm-up and then ``--duration`` s. Prints the whole run's p50/p90/p99 and, per second, the
answers' p50, p99, max and how many took over 25 ms, with the wall-clock moment the timed
part began, to set against the server's log (autovacuum, checkpoints); next to them, what
the second's answers may have waited on: the milliseconds PostgreSQL spent in the WAL's
fdatasync (pg_stat_wal with track_wal_io_timing, set on the run's database: every intake's
commit waits for one, and one at a time), and the machine's CPU busy, waiting for the disk
and stolen by the hypervisor (/proc/stat). The last lines give the run's mean fdatasync and
split the answers over 25 ms by their second's CPU busy: a tail made in saturated seconds is
the queue's, one made in calm seconds waited on something else. ``--sql`` runs
statements on the database before the load (to try a setting: ``ALTER TABLE … SET (…)``),
``--sql-file`` a script of them (an earlier migration's functions, to compare with).
Writes nothing to bench/RESULTS.md: it is a looking glass, not a benchmark with a peer.

Example:
    .venv/bin/python bench/intake_timeline.py --duration 60
    .venv/bin/python bench/intake_timeline.py --sql "ALTER TABLE case_deadlines RESET (autovacuum_analyze_scale_factor)"
    .venv/bin/python bench/intake_timeline.py --sql-file before.sql   # an older migration's functions
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from http_bench import (add_wrk_options, case_bodies, cpu_ticks, prepare_load,  # noqa: E402  (bench/)
                        read_answer)
from servers import (add_server_options, bench_token, drop_database, set_on_database,  # noqa: E402
                     start_gridgov)
from db.session import conninfo  # noqa: E402


def requests(url: str, points, categories, seed: int) -> list[bytes]:
    token = bench_token(url)
    out = []
    for body, staff in case_bodies(points, categories, random.Random(seed)):
        data = json.dumps(body, ensure_ascii=False).encode()
        auth = f"Authorization: Bearer {token}\r\n" if staff else ""
        out.append(f"POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json"
                   f"\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    return out


async def _client(port: int, reqs: list[bytes], rate: float, start: float, duration: float,
                  offset: float, rng: random.Random, out: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    k = 0
    while (due := start + offset + k / rate) - start < duration:
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        writer.write(rng.choice(reqs))
        status, _ = await read_answer(reader)
        out.append((due - start, (time.perf_counter() - due) * 1000, status))
        k += 1
    writer.close()


# what a second's answers may have waited on: the WAL's sync time, and the CPU (cpu_ticks)
SECOND_SQL = "SELECT wal_sync, wal_sync_time FROM pg_stat_wal"
BUSY_BANDS = (80, 90)  # the last line's split of the late answers by their second's CPU busy %


class Seconds(threading.Thread):
    """Reads the WAL's sync counters and the machine's CPU at ``start`` + 0, 1, 2, … s, as the
    load's seconds begin; ``per_second()`` the differences, a dict per second."""

    def __init__(self, url: str, start: float, duration: int):
        super().__init__(daemon=True)
        self.url, self.start_at, self.duration = url, start, duration
        self.samples: list[tuple[int, float, list[int]]] = []

    def run(self) -> None:
        with psycopg.connect(conninfo(self.url), autocommit=True) as conn:
            for k in range(self.duration + 1):
                if (delay := self.start_at + k - time.perf_counter()) > 0:
                    time.sleep(delay)
                syncs, sync_ms = conn.execute(SECOND_SQL).fetchone()
                self.samples.append((syncs, sync_ms, cpu_ticks()))

    def per_second(self) -> list[dict]:
        out = []
        for (s0, ms0, c0), (s1, ms1, c1) in zip(self.samples, self.samples[1:]):
            d = [b - a for a, b in zip(c0, c1)]
            total = sum(d) or 1
            out.append({"syncs": s1 - s0, "sync_ms": ms1 - ms0,
                        "busy": 100 * (total - d[3] - d[4]) / total,
                        "iowait": 100 * d[4] / total, "steal": 100 * d[7] / total})
        return out


async def load(port: int, reqs: list[bytes], clients: int, rate: float, duration: float,
               start: float) -> list:
    out: list = []
    await asyncio.gather(*(_client(port, reqs, rate / clients, start, duration, i / rate,
                                   random.Random(i), out) for i in range(clients)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_options(p)
    add_server_options(p, "timeline")
    p.add_argument("--sql", default="", help="statements (;-separated) run before the load")
    p.add_argument("--sql-file", type=Path, default=None,
                   help="a file of statements run before the load, as one script (function "
                        "bodies may hold semicolons): to try an earlier migration's functions")
    args = p.parse_args()
    url, points, categories = prepare_load(args)
    if args.sql.strip():
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            for statement in filter(str.strip, args.sql.split(";")):
                conn.execute(statement)
    if args.sql_file is not None:
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            psycopg.ClientCursor(conn).execute(args.sql_file.read_text())  # the simple protocol
    reqs = requests(url, points, categories, args.seed)
    timed_syncs = set_on_database(args.db_name, "track_wal_io_timing", "on")
    gridgov = start_gridgov(url, workers=args.workers)
    try:
        uvloop.run(load(gridgov.port, reqs, args.clients, args.rate, 5,
                        time.perf_counter() + 0.2))  # warm-up
        start = time.perf_counter() + 0.5
        seconds = Seconds(url, start, int(args.duration))
        seconds.start()
        began = datetime.now(timezone.utc)
        rec = uvloop.run(load(gridgov.port, reqs, args.clients, args.rate, args.duration, start))
        seconds.join()
    finally:
        gridgov.stop()
        drop_database(args)
    latencies = sorted(ms for _, ms, _ in rec)
    q = statistics.quantiles(latencies, n=100)
    print(f"timed from {began:%H:%M:%S.%f} UTC: {len(rec)} requests, p50 {q[49]:.1f} ms, p90 {q[89]:.1f}, "
          f"p99 {q[98]:.1f}, max {latencies[-1]:.1f}; not 201: {sum(1 for *_, s in rec if s != 201)}")
    by_second: dict[int, list[float]] = {}
    for at, ms, _ in rec:
        by_second.setdefault(int(at), []).append(ms)
    context = seconds.per_second()
    if not timed_syncs:
        print("(the WAL's sync time is not timed: the role may not set track_wal_io_timing)")
    late_by_band = [0] * (len(BUSY_BANDS) + 1)
    for second, values in sorted(by_second.items()):
        values.sort()
        late = sum(1 for v in values if v > 25)
        line = (f"{second:4d} s  n {len(values):4d}  p50 {values[len(values) // 2]:7.1f}  "
                f"p99 {values[int(len(values) * 0.99)]:7.1f}  max {values[-1]:7.1f}  "
                f"over 25 ms {late:4d}")
        if second < len(context):
            c = context[second]
            line += (f"  | WAL syncs {c['syncs']:4d} {c['sync_ms']:6.1f} ms  cpu busy "
                     f"{c['busy']:3.0f}% iowait {c['iowait']:2.0f}% steal {c['steal']:2.0f}%")
            late_by_band[sum(c["busy"] >= b for b in BUSY_BANDS)] += late
        print(line)
    syncs = sum(c["syncs"] for c in context)
    if timed_syncs and syncs:
        each = sum(c["sync_ms"] for c in context) / syncs
        print(f"WAL fdatasync: {syncs} in {len(context)} s, {each:.2f} ms each on average")
    if context:
        print(f"CPU busy {statistics.mean(c['busy'] for c in context):.0f}% on average, "
              f"stolen {statistics.mean(c['steal'] for c in context):.1f}%")
    low, high = BUSY_BANDS
    print(f"answers over 25 ms by their second's CPU busy: under {low}% {late_by_band[0]}, "
          f"{low}-{high}% {late_by_band[1]}, {high}% or more {late_by_band[2]}")


if __name__ == "__main__":
    main()
