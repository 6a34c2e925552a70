"""Emergency mobilisation at the town's full population (issue 12, Performance): the preview
and the mobilisation of an area holding 70,000 people (target ≤ 1 s each, tasks for every
household included), and the live board of an emergency of 20,000 tasks while 50 grid workers
confirm at once (target: each confirmation on the board ≤ 2 s, p95). No peer: no other tool
turns an area into per-worker tasks.

What it does:

1. makes its own throwaway database (bench/servers.py: on the server of GRIDGOV_DATABASE_URL,
   else the managed cluster), migrated, with the demo at the town's resident population
   (``gridgov demo load --residents 86000``, ``--residents``); ``--database-url`` uses a
   database loaded before instead (the emergencies the run makes are deleted from it, its
   worker accounts embench_w<person> stay);
2. takes the area: by default the town's own outline (everything in it: 86,000 people), or
   ``--village CODE`` (a village's administrative grid), or a circle ``--buffer-m`` metres
   around the densest grid's first household;
3. as the demo's town operator, through the app in this process (Flask's test client: the
   view, the SQL and the JSON, without a network), times ``POST /api/v1/emergencies/preview``
   and ``POST /api/v1/emergencies`` (the emergency and one task per household, enterprise and
   hazard, committed) ``--runs`` times after a warm-up of each, and deletes what it made;
4. the live board (bench/emergency_live.py says exactly what is timed): starts ``gridgov
   serve``, mobilises over HTTP the villages with the most targets until ``--live-tasks``
   (20,000), makes grid-worker accounts and tokens for the ``--live-workers`` (50) people with
   the most tasks, follows the board as the town operator (its live stream and its refetched
   figures, as /emergencies/{id} does), and runs ``--rounds`` rounds in which every worker
   confirms one of its tasks at the same moment; each confirmation is timed from its POST's
   answer to its event on the board's stream, and to the board's figures holding it;
5. reports medians with the lowest and highest run, and percentiles, writes its section of
   bench/RESULTS.md (unless ``--no-write``) and drops the database (unless ``--keep-db``).

Example:
    .venv/bin/python bench/emergency_bench.py                       # about 3 minutes
    .venv/bin/python bench/emergency_bench.py --runs 1 --rounds 5 --no-write
    .venv/bin/python bench/emergency_bench.py --database-url URL --no-live --no-write
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402

import emergency_live as live  # noqa: E402
from db.session import conninfo  # noqa: E402
from demo.registry import RESIDENTS  # noqa: E402
from results import spread, write_section  # noqa: E402
from servers import (  # noqa: E402
    add_server_options, bench_token, drop_database, prepare_database, start_gridgov,
)

TARGET_S = 1.0
TARGET_PEOPLE = 70_000
TOWN = "SELECT ST_AsGeoJSON(geom) FROM towns ORDER BY code LIMIT 1"
DENSEST = """
SELECT ST_X(a.geom), ST_Y(a.geom) FROM households h JOIN addresses a ON a.id = h.address_id
 WHERE h.grid_code = (SELECT grid_code FROM households GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)
 ORDER BY h.id LIMIT 1
"""


def timed_post(client, path: str, body: dict, status: int) -> tuple[float, dict]:
    """Seconds for ``POST path`` through the app, and its JSON (an error ends the run)."""
    t0 = time.perf_counter()
    answer = client.post(path, json=body)
    elapsed = time.perf_counter() - t0
    assert answer.status_code == status, answer.get_data(as_text=True)[:500]
    return elapsed, answer.get_json()


TARGET_LIVE_P95_MS = 2000


def mobilisation(args, url: str) -> dict:
    """Preview and mobilise the area ``args.runs`` times after a warm-up, in-process."""
    load = os.getloadavg()[0]
    with psycopg.connect(conninfo(url)) as conn:
        if args.village:
            area, what = {"village": args.village}, f"village {args.village}"
        elif args.buffer_m:
            lon, lat = conn.execute(DENSEST).fetchone()
            area = {"geojson": {"type": "Point", "coordinates": [lon, lat]},
                    "buffer_m": args.buffer_m}
            what = f"a circle of {args.buffer_m:.0f} m around the densest grid"
        else:
            area, what = {"geojson": json.loads(conn.execute(TOWN).fetchone()[0])}, "the whole town"
        residents = conn.execute("SELECT coalesce(sum(residents), 0) FROM households").fetchone()[0]
    from web import create_app

    client = create_app({"DATABASE_URL": url}).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {bench_token(url, 'town_operator')}"
    made: list[int] = []
    preview_runs, mobilise_runs = [], []
    try:
        for run in range(args.runs + 1):  # the first is a warm-up
            elapsed, found = timed_post(client, "/api/v1/emergencies/preview", {"area": area}, 200)
            if run:
                preview_runs.append(elapsed)
        totals = found["totals"]
        print(f"preview: {spread(preview_runs, '{:.3f}')} s; {totals['residents']:,} people, "
              f"{totals['households']:,} households, {totals['targets']:,} targets", flush=True)
        for run in range(args.runs + 1):
            elapsed, board = timed_post(client, "/api/v1/emergencies", {
                "name": f"bench {run}", "kind": "evacuate", "area": area}, 201)
            made.append(board["emergency"]["id"])
            if run:
                mobilise_runs.append(elapsed)
        print(f"mobilise: {spread(mobilise_runs, '{:.3f}')} s; "
              f"{board['totals']['targets']:,} tasks each", flush=True)
    finally:
        _delete_emergencies(url, made)
    return {"what": what, "totals": totals, "tasks": board["totals"]["targets"],
            "residents": residents, "preview": preview_runs, "mobilise": mobilise_runs,
            "load": (load, os.getloadavg()[0])}


def _delete_emergencies(url: str, ids: list[int]) -> None:
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute("DELETE FROM emergency_tasks WHERE emergency_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM emergencies WHERE id = ANY(%s)", (ids,))


def live_board(args, url: str) -> dict:
    """The live-board run on ``gridgov serve`` (bench/emergency_live.py)."""
    area, villages = live.area_of_tasks(url, args.live_tasks)
    operator = bench_token(url, "town_operator")
    server = start_gridgov(url, workers=args.workers)
    made: list[int] = []
    try:
        board = live.mobilise(server.port, operator, area)
        emergency_id = board["emergency"]["id"]
        made.append(emergency_id)
        workers = live.worker_tokens(url, emergency_id, args.live_workers, args.rounds)
        follower = live.Board(server.port, operator, emergency_id)
        follower.start()
        print(f"live: emergency {emergency_id} of {board['totals']['targets']:,} tasks in "
              f"{len(villages)} villages; {len(workers)} workers, {args.rounds} rounds…",
              flush=True)
        load = os.getloadavg()[0]
        result = live.run(server.port, follower, workers, args.rounds, args.gap_s, args.timeout_s)
        result["load"] = (load, os.getloadavg()[0])
    finally:
        server.stop()
        _delete_emergencies(url, made)
    result.update(tasks=board["totals"]["targets"], villages=len(villages),
                  workers=len(workers))
    return result


def _ms(value: float) -> str:
    return "> timeout" if math.isinf(value) else f"{value:,.0f}"


def report(args, m: dict | None, r: dict | None, load: tuple[float, float, float]) -> list[str]:
    lines = [f"- data: a throwaway database with the demo at {args.residents:,} residents "
             f"(`gridgov demo load --residents {args.residents}`, seed {args.seed}); "
             f"load average when the run started {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} "
             "(1, 5, 15 min; 2 cores shared)"]
    if m is not None:
        totals, people = m["totals"], m["totals"]["residents"]
        worst = max(max(m["preview"]), max(m["mobilise"]))
        scale = (f"{people:,} people in the area, fewer than the target's {TARGET_PEOPLE:,}"
                 if people < TARGET_PEOPLE else f"{people:,} people in the area")
        lines += [
            "",
            "### Preview and mobilisation",
            "",
            f"- the area: {m['what']} — {totals['households']:,} households, {people:,} people "
            f"({totals['vulnerable']:,} vulnerable), {totals['enterprises']:,} enterprises, "
            f"{totals['hazards']:,} hazards, {totals['grids']} grids",
            f"- the demo's town operator through the app in-process; {args.runs} runs after a "
            "warm-up, each figure the median (lowest–highest run); load average (1 min) "
            f"{m['load'][0]:.2f} before, {m['load'][1]:.2f} after",
            "",
            "| what | seconds | |",
            "| --- | ---: | --- |",
            f"| preview (`POST /api/v1/emergencies/preview`) | {spread(m['preview'], '{:.3f}')} "
            "| totals, by grid and worker, the vulnerable households |",
            f"| mobilise (`POST /api/v1/emergencies`, committed) | "
            f"{spread(m['mobilise'], '{:.3f}')} | {m['tasks']:,} tasks, one per target |",
            "",
            f"Target (issue 12): ≤ {TARGET_S:g} s each for {TARGET_PEOPLE:,} people — {scale}; "
            f"slowest preview {max(m['preview']):.3f} s, slowest mobilisation "
            f"{max(m['mobilise']):.3f} s: {'met' if worst <= TARGET_S else 'not met'}.",
        ]
    if r is not None:
        ev, send, fig = r["event_from_answer"], r["event_from_send"], r["figures_from_answer"]
        lines += [
            "",
            "### The live board",
            "",
            f"- an emergency of {r['tasks']:,} tasks (the {r['villages']} villages with the most "
            f"targets) mobilised over HTTP on `gridgov serve --workers {args.workers}`; "
            f"{r['workers']} grid-worker accounts (each its own token, its own grids) confirm "
            f"one of their tasks at the same moment, {args.rounds} rounds "
            f"{args.gap_s:g} s apart: {r['confirmations']:,} confirmations "
            f"({r['refused']} refused) in {r['seconds']:.1f} s",
            "- the board followed as /emergencies/{id} does, by the town operator over HTTP: "
            "its live stream (`GET /api/v1/stream`, `event: emergency`, which recolours the "
            "task) and its figures (`GET /api/v1/emergencies/{id}`, refetched one at a time on "
            f"events: {r['refetches']} refetches, each {_ms(r['refetch_ms']['p50'])} ms "
            f"median, {_ms(r['refetch_ms']['max'])} ms at most)",
            "- percentiles by nearest rank over every confirmation; one not on the board "
            f"within {args.timeout_s:g} s counts as infinitely late; load average (1 min) "
            f"{r['load'][0]:.2f} before the rounds, {r['load'][1]:.2f} after",
            "",
            "| per confirmation, ms | p50 | p95 | max | missing |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| confirm POST answered, from sending | {_ms(r['answer_ms']['p50'])} | "
            f"{_ms(r['answer_ms']['p95'])} | {_ms(r['answer_ms']['max'])} | — |",
            f"| **on the board's stream, from the POST's answer** | {_ms(ev['p50'])} | "
            f"{_ms(ev['p95'])} | {_ms(ev['max'])} | {ev['missing']} |",
            f"| on the board's stream, from sending the POST | {_ms(send['p50'])} | "
            f"{_ms(send['p95'])} | {_ms(send['max'])} | {send['missing']} |",
            f"| in the board's figures, from the POST's answer | "
            f"{_ms(fig['p50'])} | {_ms(fig['p95'])} | {_ms(fig['max'])} | {fig['missing']} |",
            "",
            f"Target (issue 12): each confirmation on the board ≤ {TARGET_LIVE_P95_MS:,} ms "
            f"(p95): {_ms(ev['p95'])} ms on the stream, {_ms(fig['p95'])} ms in the figures — "
            f"{'met' if max(ev['p95'], fig['p95']) <= TARGET_LIVE_P95_MS else 'not met'}.",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(parser, "emergency")
    parser.add_argument("--residents", type=int, default=86_000,
                        help=f"residents of the demo (its default is {RESIDENTS:,})")
    parser.add_argument("--database-url",
                        help="a database loaded before, instead of a throwaway one")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--village", help="a village code: its administrative grid is the area")
    parser.add_argument("--buffer-m", type=float,
                        help="a circle of this radius around the densest grid's first household")
    parser.add_argument("--live-tasks", type=int, default=20_000)
    parser.add_argument("--live-workers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20,
                        help="rounds of every worker confirming at once")
    parser.add_argument("--gap-s", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--no-mobilise", action="store_true", help="only the live board")
    parser.add_argument("--no-live", action="store_true", help="only preview and mobilise")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    # `gridgov serve` runs this checkout's code, whichever the virtualenv's install points at
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    load = os.getloadavg()
    if args.database_url:
        url = args.database_url
    else:
        url = prepare_database(args)
    try:
        m = None if args.no_mobilise else mobilisation(args, url)
        r = None if args.no_live else live_board(args, url)
    finally:
        if not args.database_url:
            drop_database(args)
    lines = report(args, m, r, load)
    print("\n".join(lines))
    if not args.no_write:
        write_section("emergency", "Emergency mobilisation at the town's population, and its "
                      "live board", lines, "python bench/emergency_bench.py")


if __name__ == "__main__":
    main()
