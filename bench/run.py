#!/usr/bin/env python3
"""Run every benchmark against a dedicated database with the Bagong demo and 1,000,000 cases.

`make bench` calls this. It leaves your own data alone: the benchmarks run in the database
`gridgov_bench` on the managed cluster (or on the server of GRIDGOV_DATABASE_URL), loaded once
with `gridgov demo load --seed 3 --cases 1000000` and reused while it has them.

  .venv/bin/python bench/run.py [--only route,http,tiles,page,hotspots,geocode,live,stream,anatomy,transitions,supervision,compliance,planning,publish,emergency,trust,notices]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.session import conninfo  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))

BENCHES = {
    "route": "route_bench.py",
    "http": "http_bench.py",
    "tiles": "tiles_bench.py",
    "page": "page_bench.py",
    "hotspots": "hotspots_bench.py",
    "geocode": "geocode_bench.py",
    "live": "live_bench.py",
    "stream": "stream_bench.py",
    "anatomy": "post_anatomy.py",
    "transitions": "transition_bench.py",
    "supervision": "supervision_bench.py",
    "inbox": "inbox_bench.py",
    "worker_page": "worker_page_bench.py",
    "compliance": "compliance_bench.py",
    "planning": "planning_bench.py",
    "publish": "publish_bench.py",
    "emergency": "emergency_bench.py",
    "trust": "trust_bench.py",
    "notices": "notices_bench.py",
    "instructions": "intake_instructions.py",
    "app_instructions": "app_instructions.py",
}
BENCH_DB = "gridgov_bench"
CASES = 1_000_000


def bench_database() -> str:
    """The URL of gridgov_bench, created, migrated and loaded when needed."""
    from servers import create_database, database_exists, url_of

    url = url_of(BENCH_DB) if database_exists(BENCH_DB) else create_database(BENCH_DB)
    env = dict(os.environ, GRIDGOV_DATABASE_URL=url)
    gridgov = str(ROOT / ".venv" / "bin" / "gridgov")
    subprocess.run([gridgov, "db", "upgrade"], env=env, check=True)
    with psycopg.connect(conninfo(url)) as conn:
        have = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    if have < CASES:
        subprocess.run([gridgov, "demo", "load", "--replace", "--seed", "3", "--cases", str(CASES)], env=env, check=True)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description="Run gridgov's benchmarks.")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma list of " + ", ".join(BENCHES))
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}: choose from {list(BENCHES)}")
    env = dict(os.environ, GRIDGOV_DATABASE_URL=bench_database())
    failed = []
    for name in chosen:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(ROOT / "bench" / BENCHES[name])], env=env).returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
