"""What authentication and rate limiting cost the intake (issue 13: at most 10 % of its
throughput, measured before and after in one run).

Two ``gridgov serve --workers 2`` processes run side by side on one throwaway demo database
(bench/servers.py), and wrk saturates ``POST /api/v1/cases`` on one, then the other, in turn
(``--runs`` rounds, so a change in the machine's load falls on both):

- **without**: the rate limiter switched off (``GRIDGOV_RATELIMIT_ENABLED=0``) and every report
  anonymous (a resident's report looks nobody up: web/auth.py);
- **with**: the limiter on, counting every report against a bound the run never reaches
  (as in production, only higher), and every report carrying an API token
  (``Authorization: Bearer``), looked up as the API does (the process's credential cache,
  accounts/cache.py, as in production).

The bodies are the same in both (4,000 prepared reports at random points in the town, the
resident channel). The audit of personal-data reads costs the intake nothing: a report reads no
one's full record (accounts/ writes an audit row only for such a read), so it is not in the
comparison. Saturated throughput is each connection sending its next report when the answer
arrives (8 keep-alive connections, 2 wrk threads), as in bench/http_bench.py.

Writes its section ``<!-- trust:start -->…<!-- trust:end -->`` of bench/RESULTS.md.

Example:
    .venv/bin/python bench/trust_bench.py                      # 5 rounds × 2 × 20 s: ~6 minutes
    .venv/bin/python bench/trust_bench.py --runs 1 --duration 5 --no-write
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from http_bench import (  # noqa: E402  (bench/, the script's own folder)
    LUA_COMMON, WARM_UP_S, _lua_string, _server_pids, backend_pids, count_cases, prepare_load, run_wrk,
)
from results import every_run, spread, write_section  # noqa: E402
from servers import (  # noqa: E402
    BENCH_INTAKE_LIMIT, BIN, Server, add_server_options, bench_token, drop_database, free_port,
)

TARGET = 0.10  # the most the two may cost, as a share of the throughput without them


def script(points, categories, rng: random.Random, token: str | None) -> str:
    """A wrk script posting one of 4,000 prepared residents' reports at random, with
    ``token`` as a Bearer token when given."""
    bodies = []
    for i in range(4000):
        lon, lat = points[i % len(points)]
        bodies.append(_lua_string(json.dumps({
            "category": rng.choice(categories), "description": f"路边有垃圾堆放（压测 {i}）",
            "location": {"lon": round(lon, 7), "lat": round(lat, 7), "crs": "wgs84"},
            "channel": "resident"}, ensure_ascii=False)))
    headers = '{["Content-Type"] = "application/json"'
    if token:
        headers += ', ["Authorization"] = ' + _lua_string("Bearer " + token)
    headers += "}"
    return ("local bodies = {" + ",\n".join(bodies) + "}\n"
            f"local headers = {headers}\n"
            "function request()\n"
            "  return wrk.format('POST', '/api/v1/cases', headers, bodies[math.random(#bodies)])\n"
            "end\n"
            + LUA_COMMON)


def serve(url: str, workers: int, env: dict[str, str], name: str) -> Server:
    port = free_port()
    argv = [str(BIN / "gridgov"), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers)]
    return Server(name, argv, {"GRIDGOV_DATABASE_URL": url, **env}, port, "/healthz")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="rounds (each runs both servers once)")
    p.add_argument("--duration", type=int, default=20, help="seconds per wrk run (default 20)")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    add_server_options(p, "trust")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = p.parse_args()
    url, points, categories = prepare_load(args)
    token = bench_token(url, "town_operator")
    ways = {
        "without": ({"GRIDGOV_RATELIMIT_ENABLED": "0"}, None),
        "with": ({"GRIDGOV_RATELIMIT_ENABLED": "1", "GRIDGOV_RATELIMIT_INTAKE": BENCH_INTAKE_LIMIT},
                 token),
    }
    servers: dict[str, Server] = {}
    results: dict[str, list[dict]] = {w: [] for w in ways}
    try:
        before = count_cases(url)
        with tempfile.TemporaryDirectory() as tmp:
            scripts = {}
            for way, (env, tok) in ways.items():
                servers[way] = serve(url, args.workers, env, f"trust_{way}")
                scripts[way] = Path(tmp, f"{way}.lua")
                scripts[way].write_text(script(points, categories, random.Random(args.seed), tok),
                                        encoding="utf-8")
                run_wrk(servers[way].port, scripts[way], args.clients, args.threads, WARM_UP_S,
                        _server_pids(servers[way].proc))
            backends = backend_pids(url)
            for k in range(args.runs):
                for way in (ways if k % 2 == 0 else reversed(list(ways))):
                    r = run_wrk(servers[way].port, scripts[way], args.clients, args.threads,
                                args.duration, _server_pids(servers[way].proc), backends)
                    results[way].append(r)
                    print(f"round {k + 1}, {way}: {r['rps']:.0f} req/s, p99 {r['p99_ms']:.1f} ms, "
                          f"{r['errors']} errors", flush=True)
        written = count_cases(url) - before
    finally:
        for s in servers.values():
            s.stop()
        drop_database(args)

    rps = {w: [r["rps"] for r in runs] for w, runs in results.items()}
    median = {w: statistics.median(v) for w, v in rps.items()}
    cost = 1 - median["with"] / median["without"]
    # each round's own ratio: the spread of the cost over the rounds
    per_round = [1 - a / b for a, b in zip(rps["with"], rps["without"])]
    errors = sum(r["errors"] for runs in results.values() for r in runs)
    lines = [
        f"`POST /api/v1/cases` saturated by wrk ({args.clients} keep-alive connections, "
        f"{args.threads} threads, {args.duration} s per run after a {WARM_UP_S} s warm-up), on two "
        f"`gridgov serve --workers {args.workers}` side by side on one demo database "
        f"(seed {args.seed}, {args.cases} cases); {args.runs} rounds, the two taking turns "
        "(first one, then the other, reversed each round). Residents' reports at random points.",
        "",
        "| way | req/s | p99 ms | errors |",
        "| --- | ---: | ---: | ---: |",
    ]
    for way, label in (("without", "without: no rate limiter, anonymous"),
                       ("with", "with: rate limiter on, every report with an API token")):
        lines.append(f"| {label} | {spread(rps[way], '{:.0f}')} | "
                     f"{spread([r['p99_ms'] for r in results[way]], '{:.1f}')} | "
                     f"{sum(r['errors'] for r in results[way])} |")
    lines += [
        "",
        f"Cost of authentication and rate limiting: {cost * 100:.1f} % of the throughput "
        f"(from the medians; round by round: {every_run([c * 100 for c in per_round], '{:.1f}')} %). "
        f"Target ≤ {TARGET * 100:.0f} %: {'met' if cost <= TARGET else '**missed**'}. "
        f"Errors: {errors}. Cases written {written:,}.",
        "",
        "The audit of personal-data reads is not in the comparison: a report reads nobody's full "
        "record, so it writes no audit row.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("trust", "Trust: what authentication and rate limiting cost the intake",
                      lines, "python bench/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))


if __name__ == "__main__":
    main()
