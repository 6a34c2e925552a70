"""What a case's live notice costs the intake: a row of ``live_events`` (migration 0066, ours)
against NOTIFY (the way before it, the peer), on one server and one database.

One ``gridgov serve --workers 2`` on a throwaway demo database (bench/servers.py); between
runs the cases' trigger function is switched between the two ways (``CREATE OR REPLACE
FUNCTION``: migration 0066's upgrade and downgrade bodies), so both run on the same server,
data and machine, taking turns (``--runs`` rounds, the order reversed each round). The
server's listeners LISTEN as before, so with NOTIFY they hear the notices the old way: each
way is the whole path, writer and readers. Two loads, as bench/http_bench.py: **paced**, 8
connections offering ``--rate`` reports/s, and **saturated**, each connection sending its
next report when the answer arrives.

Why NOTIFY is the peer: PostgreSQL takes one lock for the whole cluster before a notifying
transaction commits and holds it until the commit record is flushed (its async.c), so
notifying commits queue behind each other; a row of an unlogged table takes no such lock.

Writes its section ``<!-- notices:start -->…<!-- notices:end -->`` of bench/RESULTS.md.

Example:
    .venv/bin/python bench/notices_bench.py                     # 4 rounds × 2 × 2 × 20 s: ~8 min
    .venv/bin/python bench/notices_bench.py --runs 1 --duration 5 --no-write
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from db.session import conninfo  # noqa: E402
from http_bench import (  # noqa: E402  (bench/, the script's own folder)
    WARM_UP_S, _server_pids, add_wrk_options, backend_pids, count_cases, paced, post_script,
    prepare_load, run_wrk,
)
from results import every_run, spread, write_section  # noqa: E402
from servers import add_server_options, bench_token, drop_database, start_gridgov  # noqa: E402


def trigger_bodies() -> dict[str, str]:
    """The cases' trigger function of each way, from migration 0066 itself."""
    path = ROOT / "migrations" / "versions" / "0066_live_events.py"
    spec = importlib.util.spec_from_file_location("live_events_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return {
        "rows": migration.FUNCTION % f"INSERT INTO live_events (payload) VALUES ({migration.FIELDS})",
        "notify": migration.FUNCTION % f"PERFORM pg_notify('gridgov_cases', {migration.FIELDS})",
    }


LABELS = {"rows": "a row of live_events (ours)", "notify": "NOTIFY (before migration 0066)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_options(p)
    p.set_defaults(duration=20)
    p.add_argument("--runs", type=int, default=4, help="rounds (each runs both ways once)")
    add_server_options(p, "notices")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = p.parse_args()
    url, points, categories = prepare_load(args)
    post = post_script(points, categories, random.Random(args.seed), bench_token(url))
    loads = {f"paced at {args.rate:g}/s": paced(post, args.rate, args.threads), "saturated": post}
    bodies = trigger_bodies()
    results: dict[tuple[str, str], list[dict]] = {(ld, w): [] for ld in loads for w in bodies}
    gridgov = start_gridgov(url, workers=args.workers)
    try:
        server = _server_pids(gridgov.proc)
        before = count_cases(url)
        with tempfile.TemporaryDirectory() as tmp, \
                psycopg.connect(conninfo(url), autocommit=True) as conn:
            for i, (load, text) in enumerate(loads.items()):
                script = Path(tmp, f"{i}.lua")
                script.write_text(text, encoding="utf-8")
                run_wrk(gridgov.port, script, args.clients, args.threads, WARM_UP_S, server)
                backends = backend_pids(url)
                for k in range(args.runs):
                    for way in (list(bodies) if k % 2 == 0 else list(reversed(bodies))):
                        conn.execute(bodies[way])
                        r = run_wrk(gridgov.port, script, args.clients, args.threads,
                                    args.duration, server, backends)
                        results[(load, way)].append(r)
                        print(f"{load}, round {k + 1}, {way}: {r['rps']:.0f} req/s, "
                              f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                              f"{r['errors']} errors", flush=True)
            conn.execute(bodies["rows"])
        written = count_cases(url) - before
    finally:
        gridgov.stop()
        drop_database(args)

    lines = [
        f"`POST /api/v1/cases` on one `gridgov serve --workers {args.workers}` and one demo "
        f"database (seed {args.seed}, {args.cases} cases); wrk, {args.clients} keep-alive "
        f"connections, {args.threads} threads, {args.duration} s per run after a {WARM_UP_S} s "
        f"warm-up; {args.runs} rounds per load, the cases' trigger switched between the two ways "
        "before each run (the order reversed each round). Figures: median (lowest–highest run).",
        "",
        "| load | notice | req/s | p50 ms | p99 ms | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for load in loads:
        for way in bodies:
            runs = results[(load, way)]
            lines.append(
                f"| {load} | {LABELS[way]} | {spread([r['rps'] for r in runs], '{:.0f}')} | "
                f"{spread([r['p50_ms'] for r in runs])} | {spread([r['p99_ms'] for r in runs])} | "
                f"{sum(r['errors'] for r in runs)} |")
    saturated = {w: [r["rps"] for r in results[("saturated", w)]] for w in bodies}
    gain = statistics.median(saturated["rows"]) / statistics.median(saturated["notify"]) - 1
    lines += [
        "",
        f"Saturated throughput with rows against NOTIFY: {gain * 100:+.1f} % (from the medians; "
        "round by round: "
        + every_run([(a / b - 1) * 100 for a, b in zip(saturated["rows"], saturated["notify"])],
                    "{:+.1f}")
        + f" %). Cases written {written:,}.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("notices", "Live notices: rows of live_events against NOTIFY", lines,
                      "python bench/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))


if __name__ == "__main__":
    main()
