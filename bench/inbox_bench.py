"""The grid worker's inbox: ``GET /api/v1/worker/inbox`` for a worker with 200 open cases,
sorted by distance from the phone (target: ≤ 50 ms on the server, DESIGN.md / issue 10).

What it does:

1. on the benchmark database (bench/run.py: the Bagong demo with 1,000,000 cases), or with
   ``--cases N`` on a throwaway database with the demo and N cases (dropped afterwards), takes
   a service grid with exactly one grid worker on duty and gives that worker an account
   (``bench_inbox_worker``); then reports cases at random points of its grid through the
   intake (each with an Idempotency-Key, so a second run reuses them) until the worker holds
   200 open cases in its grids — every one routed, assigned, with its clocks, as a real one;
2. **server side**: ``cases.inbox.inbox`` in this process, as the view calls it, from a new
   random position of the grid each time: the one statement (PostGIS distance and bearing,
   the clocks, the cards) and the actions of every case; and the statement alone;
3. **HTTP**: the same request to ``gridgov serve`` (its defaults, 2 workers), one keep-alive
   connection, one request after another, timed from send to the last byte of the answer
   (JSON of 200 cases with their actions);
4. ``--runs`` runs of ``--requests`` requests each; median and p95 per run, then the median
   with the lowest and highest run, written to bench/RESULTS.md.

Example:
    .venv/bin/python bench/inbox_bench.py                          # the bench database
    .venv/bin/python bench/inbox_bench.py --cases 4107 --runs 1 --requests 20 --no-write
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from accounts import repository as accounts_repository  # noqa: E402
from accounts import service as accounts_service  # noqa: E402
from cases import inbox as inbox_service  # noqa: E402
from cases import intake  # noqa: E402
from db.session import database_url, session_scope  # noqa: E402
from results import spread, write_section  # noqa: E402
from servers import add_server_options, drop_database, prepare_database, start_gridgov  # noqa: E402

TARGET_MS = 50.0
OPEN_CASES = 200
ACCOUNT = "bench_inbox_worker"

_LEAF_SQL = text("""
    SELECT g.code, min(a.person_id) AS person_id
      FROM grids g
      JOIN grid_assignments a ON a.grid_code = g.code AND a.role = 'worker'
      JOIN people p ON p.id = a.person_id AND p.on_duty
     WHERE g.level = 'service' AND g.valid_to IS NULL
     GROUP BY g.code HAVING count(*) = 1
     ORDER BY g.code""")
_OPEN_SQL = text("""
    SELECT count(*) FROM cases
     WHERE assignee_id = :person AND grid_code = ANY(:codes)
       AND status NOT IN ('closed', 'evaluated', 'voided')""")
_POINTS_SQL = text("""
    SELECT ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
      FROM grids g, ST_Dump(ST_GeneratePoints(ST_Buffer(g.geom, -0.00005), :n, :seed)) p
     WHERE g.code = :code AND g.valid_to IS NULL""")
_FACTS_SQL = text("""
    SELECT (SELECT count(*) FROM cases) AS cases,
           (SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'evaluated', 'voided')) AS open""")


def _points(session, code: str, n: int, seed: int) -> list[tuple[float, float]]:
    return [(r.lon, r.lat) for r in session.execute(_POINTS_SQL, {"code": code, "n": n,
                                                                   "seed": seed})]


def prepare_worker(url: str) -> dict:
    """The benchmark's grid worker (its account, grid, person) holding OPEN_CASES open cases."""
    with session_scope(url) as s:
        account = accounts_repository.account_by_name(s, ACCOUNT)
        if account is not None:
            person_id = account["person_id"]
            code = s.execute(text("SELECT grid_code FROM grid_assignments WHERE person_id = :p "
                                  "AND role = 'worker' ORDER BY grid_code LIMIT 1"),
                             {"p": person_id}).scalar_one()
        else:
            code, person_id = None, None
            for row in s.execute(_LEAF_SQL):
                codes = _grid_codes(s, row.person_id)
                if s.execute(_OPEN_SQL, {"person": row.person_id, "codes": codes}).scalar() \
                        <= OPEN_CASES:
                    code, person_id = row.code, row.person_id
                    break
            if code is None:
                sys.exit("no service grid with one worker on duty holding at most "
                         f"{OPEN_CASES} open cases")
            accounts_service.create_account(s, ACCOUNT, "grid_worker", person_id=person_id)
        token, _ = accounts_service.issue_token(s, ACCOUNT)
    with session_scope(url) as s:
        codes = _grid_codes(s, person_id)
        have = s.execute(_OPEN_SQL, {"person": person_id, "codes": codes}).scalar()
        spots = _points(s, code, 2 * OPEN_CASES, 11)
    made = 0
    for i, (lon, lat) in enumerate(spots):
        if have >= OPEN_CASES:
            break
        req = intake.CaseRequest(category="patrol.exposed_rubbish", description="路边有暴露垃圾",
                                 channel="patrol", lon=lon, lat=lat)
        with session_scope(url) as s:
            result = intake.create_case(s, req, idempotency_key=f"bench:inbox:{code}:{i}",
                                        request_hash=f"bench:inbox:{i}")
        made += not result.replayed
        with session_scope(url) as s:
            have = s.execute(_OPEN_SQL, {"person": person_id, "codes": codes}).scalar()
    print(f"worker {ACCOUNT} (person {person_id}, grid {code}): {have} open cases "
          f"({made} reported now)", flush=True)
    return {"token": token, "person_id": person_id, "code": code, "open": have}


def _grid_codes(session, person_id: int) -> list[str]:
    return [r[0] for r in session.execute(text(
        "SELECT grid_code FROM grid_assignments WHERE person_id = :p AND role = 'worker' "
        "AND (until IS NULL OR until >= town_today())"), {"p": person_id})]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def server_side(url: str, worker: dict, positions: list[tuple[float, float]]) -> dict:
    """Milliseconds of inbox() per request, and of its statement alone."""
    with session_scope(url) as s:
        actor = accounts_service.actor_for_token(s, worker["token"])
        statement = inbox_service._statement(inbox_service.MINE[actor.role])
        params = inbox_service._params(actor)
        whole, sql, sizes = [], [], set()
        for lon, lat in positions:
            started = time.perf_counter()
            out = inbox_service.inbox(s, actor, position=(lon, lat))
            whole.append((time.perf_counter() - started) * 1000)
            sizes.add(len(out["cases"]))
            started = time.perf_counter()
            s.execute(statement, {**params, "lon": lon, "lat": lat,
                                  "at": out["at"]}).fetchall()
            sql.append((time.perf_counter() - started) * 1000)
        s.rollback()
    return {"p50": statistics.median(whole), "p95": _p95(whole),
            "sql_p50": statistics.median(sql), "sql_p95": _p95(sql), "cases": sorted(sizes)}


def over_http(port: int, worker: dict, positions: list[tuple[float, float]]) -> dict:
    """Milliseconds per GET /api/v1/worker/inbox, send to last byte, one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {worker['token']}"}
    times, sizes = [], []
    try:
        for lon, lat in positions:
            started = time.perf_counter()
            conn.request("GET", f"/api/v1/worker/inbox?lon={lon}&lat={lat}", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            times.append((time.perf_counter() - started) * 1000)
            if resp.status != 200:
                raise RuntimeError(f"inbox answered {resp.status}: {body[:200]!r}")
            sizes.append(len(body))
        count = len(json.loads(body)["cases"])
    finally:
        conn.close()
    return {"p50": statistics.median(times), "p95": _p95(times), "bytes": statistics.median(sizes),
            "cases": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(parser, "inbox")
    parser.set_defaults(cases=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="requests per run and kind")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    throwaway = args.cases is not None
    url = prepare_database(args) if throwaway else (
        os.environ.get("GRIDGOV_DATABASE_URL") or database_url())
    try:
        worker = prepare_worker(url)
        with session_scope(url) as s:
            facts = dict(s.execute(_FACTS_SQL).mappings().one())
            positions = _points(s, worker["code"], args.requests * (args.runs + 1), args.seed)
        rng = random.Random(args.seed)
        rng.shuffle(positions)
        batches = [positions[i::args.runs + 1] for i in range(args.runs + 1)]
        server_side(url, worker, batches[0][:10])  # warm: caches, the plan
        inside = []
        for k, batch in enumerate(batches[1:]):
            r = server_side(url, worker, batch)
            print(f"run {k + 1}: server side p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms "
                  f"(statement p50 {r['sql_p50']:.2f} ms); cases {r['cases']}", flush=True)
            inside.append(r)
        server = start_gridgov(url, workers=args.workers)
        try:
            over_http(server.port, worker, batches[0][:20])  # warm both workers
            outside = []
            for k, batch in enumerate(batches[1:]):
                r = over_http(server.port, worker, batch)
                print(f"run {k + 1}: HTTP p50 {r['p50']:.2f} ms, p95 {r['p95']:.2f} ms, "
                      f"{r['bytes'] / 1024:.0f} KiB", flush=True)
                outside.append(r)
        finally:
            server.stop()
    finally:
        if throwaway:
            drop_database(args)
    worst = max(r["p95"] for r in inside)
    lines = [
        f"- data: {facts['cases']:,} cases ({facts['open']:,} open)"
        + (f", a throwaway demo database (--cases {args.cases})" if throwaway else
           ", the benchmark database of bench/run.py"),
        f"- a grid worker holding {worker['open']} open cases in its grids (`{ACCOUNT}`, grid "
        f"{worker['code']}); each request from another random point of the grid; "
        f"{args.runs} runs × {args.requests} requests, median (lowest–highest run)",
        "",
        "| measured | p50 ms | p95 ms |",
        "| --- | ---: | ---: |",
        f"| server side: `cases.inbox.inbox` (the statement + every case's actions) | "
        f"{spread([r['p50'] for r in inside])} | {spread([r['p95'] for r in inside])} |",
        f"| of which the statement (distance, bearing, clocks, cards) | "
        f"{spread([r['sql_p50'] for r in inside])} | {spread([r['sql_p95'] for r in inside])} |",
        f"| HTTP: `GET /api/v1/worker/inbox` on gridgov serve ({args.workers} workers), "
        f"{statistics.median([r['bytes'] for r in outside]) / 1024:.0f} KiB of JSON | "
        f"{spread([r['p50'] for r in outside])} | {spread([r['p95'] for r in outside])} |",
        "",
        f"Target (issue 10): the inbox of a worker with 200 open cases sorted by distance "
        f"≤ {TARGET_MS:g} ms on the server — worst run's p95 {worst:.1f} ms, "
        f"{'met' if worst <= TARGET_MS else '**not met**'}.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("inbox", "Grid worker's inbox, 200 open cases by distance", lines,
                      "python bench/inbox_bench.py" + (f" --cases {args.cases}" if throwaway else ""))


if __name__ == "__main__":
    main()
