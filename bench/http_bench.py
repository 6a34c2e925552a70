"""HTTP benchmark: ``POST /api/v1/cases`` and ``GET /api/v1/locate`` under ``gridgov serve``.

What it does, end to end:

1. creates a throwaway database (on the server of GRIDGOV_DATABASE_URL, else the managed
   cluster of ``gridgov db url``), migrates it and loads the Bagong demo into it (default seed,
   4,107 cases); no other database is written to;
2. starts ``gridgov serve --workers 2`` on a free port against it (gunicorn, as in production);
3. drives 8 keep-alive connections with wrk (C, epoll; 2 threads), for each endpoint in two
   ways: **paced**, the connections together offering ``--rate`` (300) requests/s on a fixed
   schedule, and **saturated**, each connection sending its next request as soon as the
   previous answer arrives. POST bodies carry random points inside the town (drawn by PostGIS)
   with random leaf categories and channels; locate asks for random points inside the town.
   Each run lasts ``--duration`` (60) s after a 5 s warm-up;
4. reports p50, p90, p99, throughput and errors (non-2xx answers and socket errors) as the
   median and the range over ``--runs`` (3) runs (the p99 at both loads also run by run), the
   CPU each party used (wrk, gunicorn, PostgreSQL), and checks that the database holds as many
   new cases as wrk saw answered 201;
5. writes its section ``<!-- http:start -->…<!-- http:end -->`` of bench/RESULTS.md (the rest
   of the file is left alone), stops the server and drops the database (``--keep-db`` keeps it).

wrk comes from Debian (``apt-get install -y wrk``). Targets (DESIGN.md): POST p99 ≤ 25 ms,
≥ 300 cases/s, zero errors, 8 clients, 2 cores.

Example:
    .venv/bin/python bench/http_bench.py                 # 3 runs × 60 s × 4 ways: ~13 minutes
    .venv/bin/python bench/http_bench.py --duration 10 --runs 1 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from db.session import conninfo  # noqa: E402
from results import every_run, machine, replace_section, spread  # noqa: E402  (bench/, the script's own folder)
from servers import (  # noqa: E402
    add_server_options, bench_token, drop_database, prepare_database, start_gridgov,
)

CHANNELS = ("patrol", "resident", "hotline", "app", "sensor", "referral")
WORDS = (
    "路边有垃圾堆放",
    "路灯不亮",
    "井盖破损",
    "占道经营",
    "邻里噪音纠纷",
    "墙体开裂",
    "积水严重",
    "乱贴小广告",
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_KIND = "gthread's requests, each worker's threads waiting on one epoll: web/serve.py"
WARM_UP_S = 5
# DESIGN.md's targets for POST /api/v1/cases: 8 clients on 2 cores
P99_TARGET_MS = 25.0
CAPACITY_TARGET = 300.0

LUA_COMMON = r"""
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON:{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


# Pacing: each wrk thread sends its share of the rate on a fixed schedule; delay() waits for
# the next slot (LuaJIT's ffi reads the monotonic clock). wrk times a request from when it is
# written, so the wait is not counted as latency. Without it, every connection sends its next
# request as soon as the previous answer arrives (closed loop: the server's saturation).
LUA_PACED = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } gg_timespec;
int clock_gettime(int clk_id, gg_timespec *tp);
]]
local ts = ffi.new("gg_timespec")
local interval = %(interval_ms)f
local next_slot = nil
function delay()
  ffi.C.clock_gettime(1, ts)
  local t = tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  if next_slot == nil or next_slot < t - 1000 then next_slot = t end
  local wait = next_slot - t
  next_slot = next_slot + interval
  if wait < 0 then return 0 end
  return wait
end
"""


def add_wrk_options(parser: argparse.ArgumentParser) -> None:
    """wrk's load: ``--duration`` s per run, ``--clients`` keep-alive connections on
    ``--threads`` wrk threads, ``--rate`` requests/s in a paced run."""
    parser.add_argument("--duration", type=int, default=60, help="seconds per run (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rate", type=float, default=300, help="requests/s offered in the paced runs")


def paced(script: str, rate: float, threads: int) -> str:
    """``script`` sending ``rate`` requests per second in all (``threads`` wrk threads)."""
    return script + LUA_PACED % {"interval_ms": 1000.0 / (rate / threads)}


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def case_bodies(
    points: list[tuple[float, float]], categories: list[str], rng: random.Random, n: int = 4000
) -> list[tuple[dict, bool]]:
    """``n`` case reports at the points in turn, of random leaf categories and channels:
    (body, whether it is sent with a token). The residents' and the app's go without an
    account, the staff channels' with one."""
    out = []
    for i in range(n):
        lon, lat = points[i % len(points)]
        body = {
            "category": rng.choice(categories),
            "description": f"{rng.choice(WORDS)}（压测 {i}）",
            "location": {"lon": round(lon, 7), "lat": round(lat, 7), "crs": "wgs84"},
            "channel": rng.choice(CHANNELS),
        }
        out.append((body, body["channel"] not in ("resident", "app")))
    return out


def post_script(
    points: list[tuple[float, float]], categories: list[str], rng: random.Random, token: str
) -> str:
    """A wrk script sending one of 4,000 prepared case bodies (case_bodies) at random, the
    staff channels' with ``token`` (Authorization: Bearer)."""
    bodies, signed = [], []
    for body, staff in case_bodies(points, categories, rng):
        bodies.append(_lua_string(json.dumps(body, ensure_ascii=False)))
        signed.append("true" if staff else "false")
    return (
        "local bodies = {"
        + ",\n".join(bodies)
        + "}\n"
        + "local signed = {" + ",".join(signed) + "}\n"
        + 'local anonymous = {["Content-Type"] = "application/json"}\n'
        + 'local staff = {["Content-Type"] = "application/json", ["Authorization"] = '
        + _lua_string("Bearer " + token) + "}\n"
        + "function request()\n  local i = math.random(#bodies)\n"
        + "  local headers = signed[i] and staff or anonymous\n"
        + "  return wrk.format('POST', '/api/v1/cases', headers, bodies[i])\nend\n"
        + LUA_COMMON
    )


def locate_script(points: list[tuple[float, float]]) -> str:
    """A wrk script asking where one of the prepared points is, at random."""
    paths = [_lua_string(f"/api/v1/locate?lon={lon:.7f}&lat={lat:.7f}") for lon, lat in points]
    return (
        "local paths = {"
        + ",\n".join(paths)
        + "}\n"
        + "function request()\n  return wrk.format('GET', paths[math.random(#paths)])\nend\n"
        + LUA_COMMON
    )


def sample(url: str, n: int, seed: int) -> tuple[list[tuple[float, float]], list[str]]:
    """Random points inside the town (PostGIS ST_GeneratePoints) and the leaf categories."""
    with psycopg.connect(conninfo(url)) as conn:
        pts = conn.execute(
            "SELECT ST_X(p.geom), ST_Y(p.geom) FROM towns, "
            "LATERAL ST_Dump(ST_GeneratePoints(towns.geom, %s, %s)) AS p",
            (n, seed),
        ).fetchall()
        cats = [
            r[0]
            for r in conn.execute(
                "SELECT code FROM categories WHERE parent_code IS NOT NULL ORDER BY code"
            )
        ]
    return [(float(x), float(y)) for x, y in pts], cats


def server_facts(url: str) -> str:
    """The database server's version and the settings that decide what a write costs."""
    with psycopg.connect(conninfo(url)) as conn:
        show = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                for name in ("server_version", "fsync", "synchronous_commit")}
    return (f"PostgreSQL {show['server_version'].split()[0]} with fsync {show['fsync']}, "
            f"synchronous_commit {show['synchronous_commit']}")


def prepare_load(args: argparse.Namespace) -> tuple[str, list[tuple[float, float]], list[str]]:
    """What a wrk benchmark needs before it starts: wrk itself (or exit saying how to install
    it), the run's throwaway demo database (bench/servers.py) and 4,000 random points inside
    the town with the leaf categories; (database URL, points, categories)."""
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    url = prepare_database(args)
    points, categories = sample(url, 4000, args.seed)
    return url, points, categories


def count_cases(url: str) -> int:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("SELECT count(*) FROM cases").fetchone()[0]


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 answer with a Content-Length from a keep-alive connection: status, body
    (the paced asyncio clients of transition_bench.py and intake_timeline.py)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return status, await reader.readexactly(length)


def _proc_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving the benchmark's database (the server's pooled
    connections): other databases on the cluster are not counted."""
    with psycopg.connect(conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [r[0] for r in rows]


def _server_pids(proc: subprocess.Popen) -> list[int]:
    """The server's processes: the arbiter, its workers and theirs (each worker's stream
    process, web/streams.py)."""
    pids, todo = [], [proc.pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                              text=True).stdout
        todo += [int(p) for p in kids.split()]
    return pids


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far, /proc/stat's first line in ticks: user nice system idle
    iowait irq softirq steal guest guest_nice."""
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:]]


def _cpu_snapshot(server: list[int], backends: list[int]) -> dict[str, int]:
    busy = sum(x for i, x in enumerate(cpu_ticks()) if i not in (3, 4))  # minus idle, iowait
    return {
        "busy": busy,
        "server": sum(_proc_ticks(p) for p in server),
        "postgres": sum(_proc_ticks(p) for p in backends),
    }


def run_wrk(
    port: int, script: Path, clients: int, threads: int, duration: int, server: list[int],
    backends: list[int] | None = None,
) -> dict:
    """One wrk run; its numbers plus the CPU seconds each party used (the machine's busy time
    too, so load from elsewhere shows)."""
    backends = backends or []
    before = _cpu_snapshot(server, backends)
    child_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic()
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(clients),
            "-d",
            f"{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.monotonic() - wall
    child_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = _cpu_snapshot(server, backends)
    line = next(l for l in out.splitlines() if l.startswith("JSON:"))
    r = json.loads(line[5:])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    wrk_cpu = (child_after.ru_utime + child_after.ru_stime) - (
        child_before.ru_utime + child_before.ru_stime
    )
    return {
        "requests": r["requests"],
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p90_ms": r["p90_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "errors": errors,
        "non_2xx": r["status"],
        "timeouts": r["timeout"],  # no answer within wrk's --timeout (10 s)
        "socket_errors": r["connect"] + r["read"] + r["write"],
        "cpu_wrk_s": wrk_cpu,
        "cpu_server_s": (after["server"] - before["server"]) / CLK_TCK,
        "cpu_postgres_s": (after["postgres"] - before["postgres"]) / CLK_TCK,
        "cpu_busy_s": (after["busy"] - before["busy"]) / CLK_TCK,
        "wall_s": wall,
    }


def median_of(runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if k not in ("requests",)]
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["errors"] = sum(r["errors"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    return out


def report(args, results: dict[str, list[dict]], created: int, answered: int, versions: str,
           database: str) -> str:
    cores = os.cpu_count()
    paced_post = results[f"POST /api/v1/cases at {args.rate:g}/s"]
    saturated_post = results["POST /api/v1/cases, saturated"]
    lines = [
        "## HTTP: `POST /api/v1/cases` and `GET /api/v1/locate` under `gridgov serve`",
        "",
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- command: `.venv/bin/python bench/http_bench.py --duration {args.duration} --runs {args.runs} "
        f"--clients {args.clients} --rate {args.rate:g} --workers {args.workers}`",
        f"- server: `gridgov serve --workers {args.workers}` (gunicorn, {SERVER_KIND}) on a throwaway "
        f"database with the Bagong demo (seed {args.seed}, {args.cases} cases), {database}, on the same "
        f"{cores} cores; {versions}",
        f"- load: wrk, {args.clients} keep-alive connections on {args.threads} threads, {args.duration} s "
        f"per run after a {WARM_UP_S} s warm-up, random points inside the town (PostGIS ST_GeneratePoints), "
        f"random leaf categories and channels. Two ways: **paced**, the {args.clients} connections together "
        f"offering {args.rate:g} requests/s on a fixed schedule (latency = service time at that load), "
        f"and **saturated**, each connection sending its next request as soon as an answer arrives "
        f"(throughput = capacity; latency there is mostly queueing: with {args.clients} requests always "
        f"in flight, mean latency = {args.clients} / throughput).",
        f"- {args.runs} run(s) of each: every figure is the median and, in brackets, the lowest and highest "
        "run; errors are summed over the runs (non-2xx answers and socket errors); CPU (medians) is cores "
        "used during the run by wrk, the gunicorn processes, the PostgreSQL backends of the benchmark's "
        "database, and everything else on the machine (other databases' backends, PostgreSQL's WAL writer, "
        f"other programs): of {cores} cores",
        "",
        "| endpoint | p50 ms | p90 ms | p99 ms | max ms | req/s | errors | CPU cores: wrk / gunicorn / PostgreSQL / everything else |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, runs in results.items():
        m = median_of(runs)
        w = m["wall_s"]
        other = max(0.0, m["cpu_busy_s"] - m["cpu_wrk_s"] - m["cpu_server_s"] - m["cpu_postgres_s"])
        cpu = (f"{m['cpu_wrk_s'] / w:.2f} / {m['cpu_server_s'] / w:.2f} / {m['cpu_postgres_s'] / w:.2f}"
               f" / {other / w:.2f}")
        lines.append(
            f"| {name} | {spread([r['p50_ms'] for r in runs])} | {spread([r['p90_ms'] for r in runs])} | "
            f"{spread([r['p99_ms'] for r in runs])} | {spread([r['max_ms'] for r in runs], '{:.1f}')} | "
            f"{spread([r['rps'] for r in runs], '{:.0f}')} | {m['errors']} | {cpu} |"
        )

    def of_runs(values: list[float], fmt: str = "{:.1f}") -> str:
        return f" (median {fmt.format(statistics.median(values))})" if len(values) > 1 else ""

    def p99s(runs: list[dict]) -> str:
        """Each run's p99 and how many runs meet the target."""
        met = sum(r["p99_ms"] <= P99_TARGET_MS for r in runs)
        return (f"{every_run([r['p99_ms'] for r in runs], '{:.1f}')} ms{of_runs([r['p99_ms'] for r in runs])} — "
                f"met in {met} of {len(runs)} run(s)")

    def kept_up(runs: list[dict]) -> str:
        """A warning when the server answered fewer requests than were offered (the paced
        schedule slips: the latencies are then those of an overloaded server)."""
        slow = [r["rps"] for r in runs if r["rps"] < 0.98 * args.rate]
        if not slow:
            return ""
        return (f" (in {len(slow)} of {len(runs)} run(s) the server kept up with only "
                f"{every_run(slow, '{:.0f}')} requests/s of the {args.rate:g} offered)")

    capacity = [r["rps"] for r in saturated_post]
    errors = sum(r["errors"] for r in paced_post + saturated_post)
    lines += [
        "",
        f"Targets for `POST /api/v1/cases` (DESIGN.md: p99 ≤ {P99_TARGET_MS:g} ms, ≥ {CAPACITY_TARGET:g} "
        f"cases/s, zero errors, 8 clients, 2 cores; here {args.clients} clients on {cores} cores), run by run:",
        "",
        f"- p99 at {args.rate:g}/s offered: {p99s(paced_post)}{kept_up(paced_post)};",
        f"- p99 saturated ({args.clients} clients never pausing, the stricter reading): {p99s(saturated_post)};",
        f"- capacity: {every_run(capacity, '{:.0f}')} cases/s{of_runs(capacity, '{:.0f}')} — "
        f"met in {sum(c >= CAPACITY_TARGET for c in capacity)} of {len(capacity)} run(s);",
        f"- errors: {errors} — {'met' if errors == 0 else '**missed**'}.",
        "",
        f"Check: cases written during the POST runs {created}; answers 2xx counted by wrk {answered} "
        f"({'they agree' if abs(created - answered) <= args.clients * 2 * (args.runs + 1) else 'THEY DIFFER'}; "
        "a request cut off when a run ends is written but not counted).",
        "",
        "Per run:",
        "",
    ]
    for name, runs in results.items():
        for i, r in enumerate(runs, 1):
            lines.append(
                f"- {name}, run {i}: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                f"{r['rps']:.0f} req/s, {r['errors']} errors, {r['requests']} requests"
            )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_options(p)
    p.add_argument("--runs", type=int, default=3, help="runs per endpoint and mode (default 3)")
    add_server_options(p, "http")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = p.parse_args()
    url, points, categories = prepare_load(args)
    rng = random.Random(args.seed)
    post = post_script(points, categories, rng, bench_token(url))
    locate = locate_script(points)
    plan = {
        f"POST /api/v1/cases at {args.rate:g}/s": paced(post, args.rate, args.threads),
        "POST /api/v1/cases, saturated": post,
        f"GET /api/v1/locate at {args.rate:g}/s": paced(locate, args.rate, args.threads),
        "GET /api/v1/locate, saturated": locate,
    }
    gridgov = start_gridgov(url, workers=args.workers)
    port = gridgov.port
    results: dict[str, list[dict]] = {}
    answered = 0
    try:
        server = _server_pids(gridgov.proc)
        before = count_cases(url)
        with tempfile.TemporaryDirectory() as tmp:
            for i, (name, text) in enumerate(plan.items()):
                script = Path(tmp, f"{i}.lua")
                script.write_text(text, encoding="utf-8")
                warm = run_wrk(port, script, args.clients, args.threads, WARM_UP_S, server)
                backends = backend_pids(url)
                runs = []
                for k in range(args.runs):
                    r = run_wrk(port, script, args.clients, args.threads, args.duration, server, backends)
                    print(f"{name}, run {k + 1}: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                          f"{r['rps']:.0f} req/s, {r['errors']} errors", flush=True)
                    runs.append(r)
                results[name] = runs
                if name.startswith("POST"):
                    answered += sum(r["requests"] - r["non_2xx"] for r in runs + [warm])
        created = count_cases(url) - before
        database = server_facts(url)
    finally:
        gridgov.stop()
        drop_database(args)
    from importlib.metadata import version

    versions = f"Flask {version('flask')}, gunicorn {version('gunicorn')}, psycopg {version('psycopg')}"
    text = report(args, results, created, answered, versions, database)
    print(text)
    if not args.no_write:
        replace_section("http", text.splitlines())


if __name__ == "__main__":
    main()
