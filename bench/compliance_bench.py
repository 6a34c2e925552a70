"""Visit compliance over a month of 100,000 visits: ``GET /api/v1/compliance`` at each level
(grid, worker, village) and as CSV (target: ≤ 1 s, DESIGN.md / issue 10). No peer: nothing
else computes this.

What it does:

1. creates a throwaway database with the Bagong demo (bench/servers.py: its ~9,600 targets
   — households, shops, enterprises, key persons, key places, unresolved hazards);
2. replaces the demo's visits with ``--visits`` visits (default 100,000) spread at random
   over the targets and over last month (one INSERT … SELECT), and ANALYZEs;
3. asks the town operator's ``GET /api/v1/compliance?level=…&period=<last month>`` through
   the app in this process (Flask's test client: the view, the SQL, the counting and the JSON,
   without a network), once to warm up, then ``--runs`` times per level, and reports the
   median with the lowest and highest run; writes its section of bench/RESULTS.md.

Example:
    .venv/bin/python bench/compliance_bench.py                    # 100,000 visits, 5 runs
    .venv/bin/python bench/compliance_bench.py --visits 20000 --runs 2 --no-write
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from db.session import conninfo  # noqa: E402
from results import spread, write_section  # noqa: E402
from servers import add_server_options, bench_token, drop_database, prepare_database  # noqa: E402

TARGET_S = 1.0
LEVELS = ("grid", "worker", "village")

# n visits at random targets and random moments of the month [:start, :end)
FILL = """
DELETE FROM visits;
CREATE TEMP TABLE bench_targets AS
    SELECT row_number() OVER () AS rn, type, id, grid_code, town_code,
           ST_X(geom) AS lon, ST_Y(geom) AS lat
      FROM visit_targets;
INSERT INTO visits (id, town_code, target_type, target_id, grid_code, person_id, visited_at,
                    received_at, lon, lat, input_crs, accuracy_m, distance_m, far, outcome,
                    request_hash)
SELECT gen_random_uuid(), t.town_code, t.type, t.id, t.grid_code, NULL, s.at, s.at, t.lon, t.lat,
       'wgs84', 10, 5, false, 'ok', 'bench'
  FROM (SELECT 1 + floor(random() * (SELECT count(*) FROM bench_targets))::bigint AS rn,
               %(start)s::timestamptz + random() * (%(end)s::timestamptz - %(start)s::timestamptz) AS at
          FROM generate_series(1, %(n)s)) s
  JOIN bench_targets t ON t.rn = s.rn;
ANALYZE visits;
"""


def fill(url: str, month: date, n: int) -> int:
    after = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for statement in FILL.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"start": f"{month} 00:00+08", "end": f"{after} 00:00+08",
                                         "n": n})
        return conn.execute("SELECT count(*) FROM visits").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(parser, "compliance")
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    url = prepare_database(args)
    try:
        month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
        stored = fill(url, month, args.visits)
        from web import create_app

        client = create_app({"DATABASE_URL": url}).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {bench_token(url)}"
        period = f"{month:%Y-%m}"
        timings: dict[str, list[float]] = {}
        sizes: dict[str, int] = {}
        for level in (*LEVELS, "grid&format=csv"):
            path = f"/api/v1/compliance?level={level}&period={period}"
            assert client.get(path).status_code == 200  # warm-up: caches, prepared plans
            runs = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                response = client.get(path)
                runs.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.get_data(as_text=True)[:200]
            timings[level] = runs
            sizes[level] = len(response.get_data())
            print(f"{level}: {spread(runs, '{:.3f}')} s, {sizes[level]} bytes", flush=True)
        worst = max(max(r) for r in timings.values())
        lines = [
            f"{stored:,} visits in {period} over the demo's targets (seed {args.seed}); "
            f"the town operator's `GET /api/v1/compliance` through the app in-process, "
            f"{args.runs} runs per row after a warm-up.",
            "",
            "| level | seconds | answer bytes |",
            "| --- | --- | --- |",
            *[f"| {level.replace('&format=csv', ' (CSV)')} | {spread(runs, '{:.3f}')} | {sizes[level]:,} |"
              for level, runs in timings.items()],
            "",
            f"Target (issue 10): ≤ {TARGET_S:g} s — slowest run {worst:.3f} s, "
            f"{'met' if worst <= TARGET_S else 'NOT met'}.",
        ]
        print("\n".join(lines))
        if not args.no_write:
            write_section("compliance", "Visit compliance over a month of 100,000 visits", lines,
                          "python bench/compliance_bench.py")
    finally:
        drop_database(args)


if __name__ == "__main__":
    main()
