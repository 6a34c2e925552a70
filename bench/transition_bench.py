"""Workflow transitions: ``POST /api/v1/cases/{id}/transitions`` paced at 200/s on ``gridgov
serve``'s defaults (target: p99 ≤ 25 ms, DESIGN.md).

What it does, end to end:

1. creates a throwaway database with the Bagong demo (bench/servers.py), and takes the open
   grid-level cases (dispatched or handling) of the village the demo's accounts serve, with the
   tokens of their grid workers and of the village operator (demo/accounts.py);
2. starts ``gridgov serve`` with its defaults (2 workers × 4 threads);
3. per run, ``--clients`` keep-alive connections (uvloop, in this process) send ``--rate``
   transitions a second between them for ``--duration`` s, on a fixed schedule: latency is
   counted from when a request was due, not when it was sent, so a slow answer also delays the
   requests queued behind it (no coordinated omission). Each connection owns a share of the
   cases and walks each of them round a cycle of four real actions that can repeat forever:
   the grid worker asks for an extension (申请延期), the village operator refuses it (驳回延期),
   parks the case (挂账: its clocks suspended) and resumes it (恢复: its clocks restarted) —
   every one a version-checked UPDATE, an event and, for park and resume, the clock rows.
   Each request names the case's version it last saw (``If-Match``), as a client does;
4. reports p50/p99/max, the rate achieved, non-200 answers and the server's CPU, medians over
   ``--runs`` with the range over runs, and writes its section of bench/RESULTS.md.

Example:
    .venv/bin/python bench/transition_bench.py                      # 3 runs × 60 s
    .venv/bin/python bench/transition_bench.py --duration 10 --runs 1 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import uvloop  # noqa: E402

from db.session import conninfo  # noqa: E402
from http_bench import CLK_TCK, _proc_ticks, _server_pids, read_answer  # noqa: E402  (bench/)
from results import spread, write_section  # noqa: E402
from servers import (  # noqa: E402
    add_server_options, bench_token, drop_database, prepare_database, start_gridgov,
)

WARM_UP_S = 5
TARGET_P99_MS = 25.0
CYCLE = ("request_extension", "refuse_extension", "park", "resume")


def bench_cases(url: str) -> tuple[list[dict], dict[str, str]]:
    """The open grid-level cases of the demo accounts' village, and the tokens that act on
    them: each case's grid worker (by person id) and the village operator."""
    with psycopg.connect(conninfo(url)) as conn:
        village, operator = conn.execute(
            "SELECT scope_code, name FROM accounts WHERE role = 'village_operator' ORDER BY id LIMIT 1"
        ).fetchone()
        workers = dict(conn.execute(
            "SELECT person_id, name FROM accounts WHERE role = 'grid_worker' AND person_id IS NOT NULL"
        ).fetchall())
        rows = conn.execute(
            "SELECT id, version, assignee_id FROM cases WHERE status IN ('dispatched', 'handling') "
            "AND queue = 'grid' AND extension_days IS NULL AND left(grid_code, 12) = %s "
            "AND assignee_id = ANY(%s) ORDER BY id", (village, list(workers))).fetchall()
    tokens = {name: bench_token(url, name) for name in {operator, *workers.values()}}
    cases = [{"id": i, "version": v, "worker": tokens[workers[a]], "operator": tokens[operator],
              "step": 0} for i, v, a in rows]
    return cases, tokens


def _body(action: str) -> dict:
    if action == "request_extension":
        return {"action": action, "note": "需要协调施工单位，申请延期", "to": 3}
    if action == "refuse_extension":
        return {"action": action, "note": "时限内可以办结，不予延期"}
    if action == "park":
        return {"action": action, "note": "雨季暂缓施工", "to": (date.today() + timedelta(days=30)).isoformat()}
    return {"action": action}


class Client:
    """One keep-alive connection walking its cases round CYCLE, on a schedule."""

    def __init__(self, port: int, cases: list[dict]):
        self.port, self.cases, self.next = port, cases, 0
        self.latencies_ms: list[float] = []
        self.errors: dict[int, int] = {}

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def one(self, due: float) -> None:
        case = self.cases[self.next % len(self.cases)]
        self.next += 1
        action = CYCLE[case["step"] % len(CYCLE)]
        token = case["worker"] if action == "request_extension" else case["operator"]
        body = json.dumps(_body(action), ensure_ascii=False).encode()
        self.writer.write(
            f"POST /api/v1/cases/{case['id']}/transitions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nIf-Match: \"{case['version']}\"\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        status, answer = await read_answer(self.reader)
        self.latencies_ms.append((time.perf_counter() - due) * 1000)
        if status == 200:
            case["version"] = json.loads(answer)["version"]
            case["step"] += 1
        else:
            self.errors[status] = self.errors.get(status, 0) + 1
            if status == 409:  # stale: take the version the answer names and go on
                details = json.loads(answer).get("details") or {}
                case["version"] = details.get("version", case["version"])

    async def run(self, rate: float, start: float, duration: float, offset: float) -> None:
        k = 0
        while True:
            due = start + offset + k / rate
            if due - start >= duration:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.one(due)
            k += 1


async def _load(port: int, cases: list[dict], clients: int, rate: float, duration: float) -> list[Client]:
    shares = [cases[i::clients] for i in range(clients)]
    pool = [Client(port, share) for share in shares if share]
    for c in pool:
        await c.connect()
    start = time.perf_counter() + 0.2
    per_client = rate / len(pool)
    await asyncio.gather(*(c.run(per_client, start, duration, i / rate) for i, c in enumerate(pool)))
    for c in pool:
        c.writer.close()
    return pool


def run_once(port: int, cases: list[dict], args, server_pids: list[int]) -> dict:
    ticks = sum(_proc_ticks(p) for p in server_pids)
    wall = time.monotonic()
    pool = uvloop.run(_load(port, cases, args.clients, args.rate, args.duration))
    cpu = (sum(_proc_ticks(p) for p in server_pids) - ticks) / CLK_TCK / (time.monotonic() - wall)
    latencies = sorted(x for c in pool for x in c.latencies_ms)
    errors: dict[int, int] = {}
    for c in pool:
        for k, v in c.errors.items():
            errors[k] = errors.get(k, 0) + v
    q = statistics.quantiles(latencies, n=100)
    return {"p50_ms": q[49], "p99_ms": q[98], "max_ms": latencies[-1],
            "rps": len(latencies) / args.duration, "errors": sum(errors.values()),
            "by_status": errors, "server_cores": cpu, "n": len(latencies)}


def report(args, runs: list[dict], cases: int) -> list[str]:
    p99 = statistics.median(r["p99_ms"] for r in runs)
    met = "met" if p99 <= TARGET_P99_MS and all(r["errors"] == 0 for r in runs) else "**not met**"
    return [
        f"- server: `gridgov serve` with its defaults (2 workers × 4 threads) on a throwaway database "
        f"with the Bagong demo ({args.cases} cases, seed {args.seed})",
        f"- load: {args.clients} keep-alive connections (uvloop) offering {args.rate:g} transitions/s "
        f"for {args.duration} s per run after a {WARM_UP_S} s warm-up, on a fixed schedule (latency "
        f"from when each request was due); {cases} open cases of one village, each walked round "
        f"申请延期 (grid worker) → 驳回延期 → 挂账 → 恢复 (village operator), with `If-Match` and a bearer token",
        f"- figures: medians over {len(runs)} run(s), with the range over runs in brackets",
        "",
        "| p50 ms | p99 ms | max ms | transitions/s | non-200 | server CPU cores |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {spread([r['p50_ms'] for r in runs])} | {spread([r['p99_ms'] for r in runs])} | "
        f"{spread([r['max_ms'] for r in runs], '{:.1f}')} | {spread([r['rps'] for r in runs], '{:.0f}')} | "
        f"{sum(r['errors'] for r in runs)} | {spread([r['server_cores'] for r in runs])} |",
        "",
        f"Target (DESIGN.md): p99 ≤ {TARGET_P99_MS:g} ms at 200 transitions/s — {p99:.1f} ms, {met}.",
        "",
        "Per run: " + "; ".join(
            f"p99 {r['p99_ms']:.2f} ms, {r['rps']:.0f}/s, non-200 {r['by_status'] or 0}" for r in runs),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(parser, "transition")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    url = prepare_database(args)
    try:
        cases, _ = bench_cases(url)
        if len(cases) < args.clients:
            sys.exit(f"only {len(cases)} open grid-level cases in the accounts' village: "
                     f"load more demo cases (--cases)")
        server = start_gridgov(url, workers=args.workers)
        try:
            pids = _server_pids(server.proc)
            warm = argparse.Namespace(**{**vars(args), "duration": WARM_UP_S})
            run_once(server.port, cases, warm, pids)
            runs = []
            for k in range(args.runs):
                r = run_once(server.port, cases, args, pids)
                print(f"run {k + 1}: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                      f"{r['rps']:.0f}/s, non-200 {r['by_status']}", flush=True)
                runs.append(r)
        finally:
            server.stop()
        lines = report(args, runs, len(cases))
        print("\n".join(lines))
        if not args.no_write:
            write_section("transitions", "Workflow transitions at 200/s", lines,
                          "python bench/transition_bench.py")
    finally:
        drop_database(args)


if __name__ == "__main__":
    main()
