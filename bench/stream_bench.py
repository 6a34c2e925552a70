"""Live streams: 1,000 open ``GET /api/v1/stream`` on ``gridgov serve`` with its defaults, while
``POST /api/v1/cases`` runs at 300/s.

What it does, end to end:

1. creates a throwaway database with the Bagong demo (as bench/http_bench.py does) and starts
   ``gridgov serve`` with its defaults (2 workers × 4 threads; streams go to each worker's
   stream process, web/streams.py);
2. per run, two phases of ``--duration`` s each, POST paced at ``--rate`` by wrk (8 keep-alive
   connections, as bench/http_bench.py):
   - **without streams**: the intake alone, the comparison in the same run;
   - **with streams**: ``--streams`` clients (bench/stream_clients.py, one asyncio process)
     connect first and stay open; every event of every stream is timed from the case's
     ``created_at`` to when its bytes were read by the client, and counted;
3. reports the intake's p50/p99/errors in both phases, how many streams received every case
   created during the phase, the delivery latency (p50/p95/p99 over every event on every
   stream), and what the server spent to hold the streams: its threads and resident memory,
   before and with the streams open; medians over ``--runs`` with the range over runs;
4. writes its section of bench/RESULTS.md, stops the server, drops the database.

Targets (DESIGN.md): 1,000 open streams on the defaults, intake p99 ≤ 25 ms at 300/s,
every stream gets every event within 2 s (p95).

Example:
    .venv/bin/python bench/stream_bench.py                       # 3 runs × 2 × 60 s: ~7 minutes
    .venv/bin/python bench/stream_bench.py --streams 100 --duration 10 --runs 1 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from db.session import conninfo  # noqa: E402
from http_bench import (  # noqa: E402  (bench/)
    CLK_TCK, SERVER_KIND, _proc_ticks, _server_pids, add_wrk_options, backend_pids, paced,
    post_script, prepare_load, run_wrk,
)
from servers import add_server_options, bench_token, drop_database, start_gridgov  # noqa: E402
from results import spread as spread_of, write_section  # noqa: E402


def _status(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def server_footprint(pids: list[int]) -> dict:
    """Threads and resident memory (MiB) of the server's processes together."""
    return {
        "threads": sum(_status(p, "Threads") for p in pids),
        "rss_mib": sum(_status(p, "VmRSS") for p in pids) / 1024,
    }


def percentile_ms(histogram: list[tuple[int, int]], q: float) -> float:
    """The q-th percentile (nearest rank) of a histogram of whole milliseconds."""
    total = sum(n for _, n in histogram)
    if not total:
        return float("nan")
    rank, seen = q / 100 * total, 0
    for ms, n in histogram:
        seen += n
        if seen >= rank:
            return float(ms)
    return float(histogram[-1][0])


def with_streams(
    args, port: int, script: Path, server: list[int], url: str, backends: list[int]
) -> dict:
    """One phase with ``args.streams`` open streams: the clients, then the POST load."""
    clients = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "stream_clients.py"), "--port", str(port),
         "--streams", str(args.streams)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "GRIDGOV_TOKEN": bench_token(url)},
    )
    try:
        ready = clients.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"stream clients did not connect: {ready}")
        footprint = server_footprint(_server_pids_now(server))
        before = max_case_id(url)
        clients.stdin.write(f"FROM {before}\n")
        clients.stdin.flush()
        clients_before = _proc_ticks(clients.pid)
        r = run_wrk(port, script, args.clients, args.threads, args.duration, server, backends)
        r["cpu_clients_s"] = (_proc_ticks(clients.pid) - clients_before) / CLK_TCK
        expected = max_case_id(url, count_after=before)
        # the last events of the phase are on their way: give them the target's 2 s and more
        time.sleep(3)
        clients.stdin.write("STOP\n")
        clients.stdin.flush()
        got = json.loads(clients.stdout.readline())
    finally:
        clients.kill()
        clients.wait()
    counts = got["counts"]
    hist = [tuple(x) for x in got["latency_ms"]]
    r.update(
        streams=args.streams,
        connected=got["connected"],
        closed_by_server=got["closed_by_server"],
        expected=expected,
        complete=sum(1 for c in counts if c == expected),
        fewest=min(counts),
        most=max(counts),
        deliveries=sum(counts),
        lat_p50=percentile_ms(hist, 50),
        lat_p95=percentile_ms(hist, 95),
        lat_p99=percentile_ms(hist, 99),
        lat_max=float(hist[-1][0]) if hist else float("nan"),
        **{f"open_{k}": v for k, v in footprint.items()},
    )
    return r


def max_case_id(url: str, count_after: int | None = None) -> int:
    """The greatest case id; with ``count_after``, how many cases have a greater id."""
    with psycopg.connect(conninfo(url)) as conn:
        if count_after is None:
            return conn.execute("SELECT coalesce(max(id), 0) FROM cases").fetchone()[0]
        return conn.execute("SELECT count(*) FROM cases WHERE id > %s", (count_after,)).fetchone()[0]


def _server_pids_now(server: list[int]) -> list[int]:
    return [p for p in server if Path(f"/proc/{p}").exists()]


def spread(runs: list[dict], key: str, fmt: str = "{:.1f}") -> str:
    """``key`` over the runs as every section writes it (results.spread)."""
    return spread_of([r[key] for r in runs], fmt)


def cpu_shares(r: dict) -> str:
    """The cores each party used during a phase: wrk / gunicorn / PostgreSQL / stream clients /
    everything else (the machine's busy time minus theirs)."""
    parts = [r["cpu_wrk_s"], r["cpu_server_s"], r["cpu_postgres_s"], r["cpu_clients_s"]]
    rest = max(0.0, r["cpu_busy_s"] - sum(parts))
    return " / ".join(f"{x / r['wall_s']:.2f}" for x in [*parts, rest])


def report(args, alone: list[dict], streamed: list[dict], idle: dict, versions: str) -> list[str]:
    def met(ok: bool) -> str:
        return "met" if ok else "**missed**"

    p99 = statistics.median(r["p99_ms"] for r in streamed)
    lat95 = statistics.median(r["lat_p95"] for r in streamed)
    errors = sum(r["errors"] for r in streamed)
    complete = min(r["complete"] for r in streamed)
    lines = [
        f"- server: `gridgov serve` with its defaults (2 workers × 4 threads; gunicorn, {SERVER_KIND}; "
        f"streams handed to each worker's stream process, one uvloop loop under SCHED_IDLE) on a throwaway database with the Bagong demo; {versions}",
        f"- load: wrk, {args.clients} keep-alive connections offering {args.rate:g} `POST /api/v1/cases`/s "
        f"for {args.duration} s per phase; {args.streams} stream clients in one asyncio process "
        "(bench/stream_clients.py) on the same 2 cores; each run has a phase without streams, then one with them",
        f"- figures: medians over {args.runs} run(s), with the range over runs in brackets; latency of "
        "delivery = when the client read an event − the case's `created_at`, for every event on every stream "
        "(timed by the oldest event of each read: an upper bound)",
        "",
        "| phase | POST p50 ms | POST p99 ms | POST req/s | POST errors | streams with every event | "
        "delivery p50 ms | delivery p95 ms | delivery p99 ms | server threads | server MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| without streams | {spread(alone, 'p50_ms', '{:.2f}')} | {spread(alone, 'p99_ms', '{:.2f}')} | "
        f"{spread(alone, 'rps', '{:.0f}')} | {sum(r['errors'] for r in alone)} | — | — | — | — | "
        f"{idle['threads']} | {idle['rss_mib']:.0f} |",
        f"| with {args.streams} streams | {spread(streamed, 'p50_ms', '{:.2f}')} | "
        f"{spread(streamed, 'p99_ms', '{:.2f}')} | {spread(streamed, 'rps', '{:.0f}')} | {errors} | "
        f"{spread(streamed, 'complete', '{:.0f}')} of {args.streams} | {spread(streamed, 'lat_p50', '{:.0f}')} | "
        f"{spread(streamed, 'lat_p95', '{:.0f}')} | {spread(streamed, 'lat_p99', '{:.0f}')} | "
        f"{spread(streamed, 'open_threads', '{:.0f}')} | {spread(streamed, 'open_rss_mib', '{:.0f}')} |",
        "",
        f"Targets (DESIGN.md): {args.streams} open streams on the defaults with intake p99 ≤ 25 ms at "
        f"{args.rate:g}/s — {p99:.1f} ms, {met(p99 <= 25 and errors == 0)} ({errors} errors); every stream "
        f"gets every event — {complete} of {args.streams} in the worst run, "
        f"{met(complete == args.streams)}; within 2 s (p95) — {lat95:.0f} ms, {met(lat95 <= 2000)}.",
        "",
        "Per run:",
        "",
    ]
    def kinds(r: dict) -> str:
        return (f"{r['errors']} errors" if not r["errors"] else
                f"{r['errors']} errors ({r['non_2xx']} non-2xx, {r['timeouts']} without an answer "
                f"in 10 s, {r['socket_errors']} socket errors)")

    for i, (a, s) in enumerate(zip(alone, streamed), 1):
        lines.append(
            f"- run {i}: without streams p99 {a['p99_ms']:.2f} ms, {a['rps']:.0f} req/s, {kinds(a)}; "
            f"with streams p99 {s['p99_ms']:.2f} ms, {s['rps']:.0f} req/s, {kinds(s)}; {s['connected']} streams "
            f"connected, {s['closed_by_server']} closed by the server; {s['expected']} cases created, each "
            f"stream received {s['fewest']}–{s['most']} events ({s['deliveries']:,} deliveries); delivery "
            f"p95 {s['lat_p95']:.0f} ms, max {s['lat_max']:.0f} ms; CPU cores wrk / gunicorn (its stream "
            f"processes included) / PostgreSQL (the server's connections) / stream clients / everything else, "
            f"without streams {cpu_shares(a)}, with streams {cpu_shares(s)}"
        )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=1000)
    add_wrk_options(p)  # --duration is per phase
    p.add_argument("--runs", type=int, default=3)
    add_server_options(p, "stream")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = p.parse_args()
    url, points, categories = prepare_load(args)
    gridgov = start_gridgov(url, workers=args.workers)  # 2: gridgov serve's default
    port = gridgov.port
    alone: list[dict] = []
    streamed: list[dict] = []
    try:
        server = _server_pids(gridgov.proc)
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp, "post.lua")
            body = post_script(points, categories, random.Random(args.seed), bench_token(url))
            script.write_text(paced(body, args.rate, args.threads), encoding="utf-8")
            run_wrk(port, script, args.clients, args.threads, 5, server)  # warm-up
            idle = server_footprint(server)
            # the server's pooled connections, open after the warm-up (its live listeners too)
            backends = backend_pids(url)
            for k in range(args.runs):
                a = run_wrk(port, script, args.clients, args.threads, args.duration, server, backends)
                a["cpu_clients_s"] = 0.0
                print(f"run {k + 1} without streams: p99 {a['p99_ms']:.2f} ms, {a['errors']} errors", flush=True)
                time.sleep(2)  # the phase's last answers and events settle before the streams open
                s = with_streams(args, port, script, server, url, backends)
                print(f"run {k + 1} with {args.streams} streams: p99 {s['p99_ms']:.2f} ms, {s['errors']} errors, "
                      f"{s['complete']} complete, delivery p95 {s['lat_p95']:.0f} ms", flush=True)
                alone.append(a)
                streamed.append(s)
    finally:
        gridgov.stop()
        drop_database(args)
    from importlib.metadata import version

    versions = f"Flask {version('flask')}, gunicorn {version('gunicorn')}"
    lines = report(args, alone, streamed, idle, versions)
    print("\n".join(lines))
    if not args.no_write:
        write_section(
            "stream", f"Live streams: {args.streams} open on `gridgov serve` while cases arrive", lines,
            f".venv/bin/python bench/stream_bench.py --streams {args.streams} --duration {args.duration} "
            f"--runs {args.runs} --rate {args.rate:g}",
        )


if __name__ == "__main__":
    main()
