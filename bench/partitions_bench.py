#!/usr/bin/env python3
"""What the month partitions (migration 0060) cost the statements that do not name a month:
the intake's INSERT (the function ``insert_case``, migration 0070: the case, its clock, its
event, the duplicate check), a case read by id, and an event added to a case, each alone from
one client and committed, on the same province (``gridgov demo load --towns``) migrated to the head
(partitioned: a lookup by id probes each month) and to the revision before 0060 (plain
tables, real foreign keys). Median and p99 in ms over ``--statements`` of each, ``--runs``
times. No server: the database's cost alone.

Examples:
    .venv/bin/python bench/partitions_bench.py                       # 20 towns, 200,000 cases
    .venv/bin/python bench/partitions_bench.py --towns 1000 --cases 10000000 --keep-db
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from alembic import command  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402

from cases import repository  # noqa: E402
from cases.deadlines import LOCAL_TZ  # noqa: E402
from db import migrate  # noqa: E402
from db.driver import driver_sql  # noqa: E402
from db.session import conninfo  # noqa: E402
from demo.load import load_demo  # noqa: E402
from results import spread  # noqa: E402
from servers import create_database, drop_named_database  # noqa: E402


def before_partitions(url: str) -> str:
    """The revision migration 0060 comes after (the lead re-chains revisions when merging)."""
    return ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision("0060").down_revision


def prepare(name: str, partitioned: bool, args: argparse.Namespace) -> str:
    url = create_database(name)
    command.upgrade(migrate.alembic_config(url), "head" if partitioned else before_partitions(url))
    if not partitioned:
        # the insert is a call of the function insert_case (migrations 0070, 0071): the plain
        # tables get it too
        script = ScriptDirectory.from_config(migrate.alembic_config(url))
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            conn.execute(script.get_revision("0071").module.FUNCTION)
    started = time.monotonic()
    load_demo(url, seed=args.seed, cases=args.cases, progress=False, towns=args.towns)
    print(f"{name}: loaded in {time.monotonic() - started:.0f} s", flush=True)
    return url


def _case(lon: float, lat: float, key: str) -> dict:
    now = datetime.now(LOCAL_TZ)
    return {
        "town_code": "140525108", "category_code": "x", "description": "x", "status": "collected",
        "channel": "patrol", "address": None, "grid_code": None, "admin_code": None,
        "assignee_id": None, "reporter_name": None, "reporter_phone": None, "occurred_at": None,
        "created_at": now, "due_at": None, "dispatch_due_at": None, "lon": lon, "lat": lat,
        "input_crs": "wgs84", "geocode_precision": "point", "geocode_score": None,
        "geocode_match": None, "queue": "grid", "on_boundary": False, "grid_version": 1,
        "routing_reason": None, "assignment_reason": None, "idempotency_key": key,
        "request_hash": None, "boundary_version": 10**9, "routed_town": "140525108",
        "actor": "bench", "event_data": json.dumps({}), "clock_names": ["accept"],
        "clock_started": [now], "clock_due": [now], "clock_soon": [None], "clock_yellow": [None],
        "clock_red": [None], "clock_units": ["working_days"],
    }


def measure(url: str, n: int, seed: int) -> dict[str, list[float]]:
    """Seconds of each statement, committed, ``n`` of each kind, interleaved."""
    insert = driver_sql(repository._q("insert_case").text)
    times: dict[str, list[float]] = {"insert_case": [], "case_by_id": [], "event_insert": []}
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute("SELECT setseed(%s)", (1 / (seed + 1),))
        points = conn.execute(
            "SELECT ST_X(p.geom), ST_Y(p.geom) FROM (SELECT geom FROM towns ORDER BY random() "
            "LIMIT 200) t, LATERAL ST_Dump(ST_GeneratePoints(t.geom, 5)) p").fetchall()
        ids = [r[0] for r in conn.execute("SELECT id FROM cases ORDER BY random() LIMIT %s", (n,))]
        conn.commit()
        rng = random.Random(seed)
        for i in range(n):
            lon, lat = points[rng.randrange(len(points))]
            statements = (
                ("insert_case", insert, _case(lon, lat, f"bench-{os.getpid()}-{time.time_ns()}")),
                ("case_by_id", "SELECT id, status, version FROM cases WHERE id = %s", (ids[i],)),
                ("event_insert", "INSERT INTO case_events (case_id, town_code, at, type, actor) "
                                 "VALUES (%s, '140525108', now(), 'note', 'bench')", (ids[i],)),
            )
            for kind, statement, params in statements:
                started = time.perf_counter()
                conn.execute(statement, params)
                conn.commit()
                times[kind].append(time.perf_counter() - started)
    return times


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--towns", type=int, default=20)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--statements", type=int, default=1000, help="of each kind, per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-name", default=f"gridgov_bench_partitions_{os.getpid()}")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    rows = []
    for layout, partitioned in (("partitioned (head)", True), ("plain (before 0060)", False)):
        name = f"{args.db_name}_{'parts' if partitioned else 'plain'}"
        try:
            url = prepare(name, partitioned, args)
            runs = [measure(url, args.statements, args.seed + k) for k in range(args.runs)]
        finally:
            if not args.keep_db:
                drop_named_database(name)
        cells = [f"{spread([1000 * statistics.median(r[kind]) for r in runs])} / "
                 f"{spread([1000 * _p99(r[kind]) for r in runs])}" for kind in runs[0]]
        rows.append(f"| {layout} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    print(f"\n{args.towns:,} towns, {args.cases:,} cases; {args.statements} statements of each "
          f"kind per run, {args.runs} runs; ms, median / p99 (each over the runs)\n")
    print("| layout | intake INSERT | case by id | event INSERT |\n| --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
