"""Where the feeds subscriber's time goes: one message per transaction, against batches.

What it does, end to end:

1. creates a throwaway database with the Bagong demo (bench/servers.py) and a feed ``bench``
   with feeds/data/water_level.toml;
2. takes ``--events`` (3,000) messages shaped like bench/feeds_bench.py's — ``--sensors`` (20)
   water gauges repeating their alarms, 10 % readings under the threshold — in this process,
   through the subscriber's own code (feeds/mqtt.py ``Subscriber``; no broker, so what is
   measured is the taking alone): one message per transaction (``Subscriber.take``: the path
   before batches, and still the fallback for a batch that breaks), then in batches of each
   ``--batch`` size (``Subscriber.take_many``, feeds/batch.py);
3. for each path, ``--runs`` (3) times with fresh event ids (the gauges' cases stay open, so
   after the first run every alarm joins one): events taken per second, round trips to
   PostgreSQL per event (psycopg's waits for the server, counted; a pipelined executemany
   counts its flushes), commits per event, and this process's CPU per event (the rest of the
   wall time is waiting for PostgreSQL, its work included);
4. writes its section ``<!-- feeds_take:start -->…<!-- feeds_take:end -->`` of
   bench/RESULTS.md unless ``--no-write``, and drops the database (``--keep-db`` keeps it).

Example:
    .venv/bin/python bench/feeds_take.py
    .venv/bin/python bench/feeds_take.py --events 500 --runs 1 --no-write
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from db.session import session_scope  # noqa: E402
from http_bench import sample  # noqa: E402  (bench/)
from results import spread, write_section  # noqa: E402
from servers import add_server_options, drop_database, prepare_database  # noqa: E402


class Counts:
    """Round trips and commits, counted by wrapping psycopg's wait for the server (every
    execute, fetch and commit waits once) and by SQLAlchemy's commit event."""

    def __init__(self) -> None:
        self.waits = self.commits = 0
        original = psycopg.Connection.wait

        def wait(conn, *args, **kwargs):
            self.waits += 1
            return original(conn, *args, **kwargs)

        psycopg.Connection.wait = wait  # instrumentation of this benchmark only
        event.listen(Engine, "commit", self._commit)

    def _commit(self, conn) -> None:
        self.commits += 1


def messages(points: list[tuple[float, float]], n: int, run: int, rng: random.Random):
    from feeds.mqtt import message_of, topic

    out = []
    for k in range(n):
        gauge = k % len(points)
        lon, lat = points[gauge]
        value = 3.0 if rng.random() < 0.1 else 3.6 + rng.random()
        body = {"id": f"G{gauge}-{run}-{k}", "sensor_type": "water_level", "sensor_id": f"G{gauge}",
                "value": round(value, 3), "location": {"lon": lon, "lat": lat}}
        out.append(message_of(topic("bench"), json.dumps(body).encode()))
    return out


def measure(take, msgs, counts: Counts) -> dict:
    waits, commits = counts.waits, counts.commits
    wall, cpu = time.perf_counter(), time.process_time()
    statuses = take(msgs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert "rejected" not in statuses, statuses
    n = len(msgs)
    return {"rate": n / wall, "trips": (counts.waits - waits) / n,
            "commits": (counts.commits - commits) / n, "cpu_ms": cpu / n * 1000,
            "cpu_share": cpu / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=3000, help="messages per run (default 3000)")
    p.add_argument("--sensors", type=int, default=20, help="water gauges (default 20)")
    p.add_argument("--batch", type=int, nargs="+", default=[25, 100, 500],
                   help="batch sizes to measure (default 25 100 500)")
    p.add_argument("--runs", type=int, default=3, help="runs of each path (default 3)")
    add_server_options(p, "feeds_take")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = p.parse_args()

    from feeds import service
    from feeds.mapping import read_mapping
    from feeds.mqtt import Subscriber

    rng = random.Random(args.seed)
    url = prepare_database(args)
    try:
        with session_scope(url) as session:
            service.add_feed(session, "bench", read_mapping(ROOT / "feeds/data/water_level.toml"))
        gauges = sample(url, args.sensors, args.seed)[0]
        subscriber = Subscriber(url, "mqtt://127.0.0.1:1")  # takes messages; never connects
        counts = Counts()

        def one_by_one(msgs):
            return [subscriber.take(m.topic, m.payload) for m in msgs]

        def batched(size):
            return lambda msgs: [s for i in range(0, len(msgs), size)
                                 for s in subscriber.take_many(msgs[i:i + size])]

        paths = [("one message per transaction", one_by_one)]
        paths += [(f"batches of {size}", batched(size)) for size in args.batch]
        results: dict[str, list[dict]] = {name: [] for name, _ in paths}
        run = 0
        for _ in range(args.runs):
            for name, take in paths:  # interleaved, so that the machine's moods fall on all
                run += 1
                results[name].append(measure(take, messages(gauges, args.events, run, rng), counts))
                r = results[name][-1]
                print(f"{name}: {r['rate']:.0f} events/s, {r['trips']:.2f} round trips and "
                      f"{r['commits']:.3f} commits per event, {r['cpu_ms']:.2f} ms CPU per event",
                      flush=True)
    finally:
        drop_database(args)
    lines = [
        f"The MQTT subscriber's code taking {args.events} messages a run in one process, no broker "
        f"({args.sensors} water gauges repeating their alarms, 10 % readings under the threshold); "
        f"{args.runs} runs of each path, interleaved. Round trips: the subscriber's waits for "
        "PostgreSQL; CPU: the subscriber's own (the rest of its wall time waits for PostgreSQL).",
        "",
        "| path | events/s | round trips per event | commits per event | subscriber CPU per event (ms) | CPU share of its wall time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, runs in results.items():
        lines.append(
            f"| {name} | {spread([r['rate'] for r in runs], '{:.0f}')} | "
            f"{spread([r['trips'] for r in runs])} | {spread([r['commits'] for r in runs], '{:.3f}')} | "
            f"{spread([r['cpu_ms'] for r in runs])} | {spread([r['cpu_share'] for r in runs], '{:.0%}')} |")
    print("\n".join(lines))
    if not args.no_write:
        write_section("feeds_take", "Monitoring feeds: the subscriber's time, one message against batches",
                      lines, " ".join(sys.argv))


if __name__ == "__main__":
    main()
