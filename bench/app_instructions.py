#!/usr/bin/env python3
"""What one case report costs the server's Python, counted in instructions.

bench/intake_instructions.py counts what a report costs PostgreSQL; this counts the other
side, the Flask app that answers ``POST /api/v1/cases``: our code, Flask and its extensions
(the limiter, the security headers), SQLAlchemy's session and psycopg. Timings here move by
a factor of two between machines and within an hour on one; instructions executed do not
(the same count to 0.05 % from run to run), so a change to the request's path can be judged
by them before a timed benchmark confirms it.

How:

1. a throwaway database with the Bagong demo (bench/servers.py, as bench/http_bench.py);
2. per run, one Python process under valgrind's callgrind, counting nothing until told: it
   makes the app (``web.create_app``, the rate limit on with a bound never reached, as the
   HTTP benchmark runs it), starts the process's live listener as ``gridgov serve`` does,
   sends ``--warm`` reports through Flask's test client (caches filled, statements prepared
   by psycopg), then counts the instructions of ``--reports`` more (a small C library of
   callgrind's client requests, built here with gcc, starts and stops the count);
3. per report = counted / ``--reports``. The reports are bench/http_bench.py's: random points
   in the town, random leaf categories and channels, staff channels with a token. The test
   client builds each request's WSGI environment (gunicorn's share of a request is not in
   the count: it is the same for every view);
4. ``--checkout DIR`` counts another checkout's code instead (a ``git worktree`` of an older
   commit: the figure before a change, in the same run); writes its section of
   bench/RESULTS.md (``--no-write`` to print only; ``--section NAME`` to a section of its
   own, e.g. ``--checkout`` of an older commit beside the current figure).

The live listener reads the notices of the reports only every hour here, so its polling,
which depends on time and not on the reports, is not counted.

Example:
    .venv/bin/python bench/app_instructions.py                # ~3 minutes
    git worktree add /tmp/before HEAD~1 && ln -s $PWD/var /tmp/before/var
    .venv/bin/python bench/app_instructions.py --checkout /tmp/before --no-write
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent

# callgrind's client requests (valgrind/callgrind.h, from Debian's valgrind package): count
# from here, and until here
CONTROL_C = r"""
#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_TOGGLE_COLLECT; }
void count_stop(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS; CALLGRIND_STOP_INSTRUMENTATION; }
"""
CHILD_ENV = "GRIDGOV_APP_INSTRUCTIONS"


def reports(url: str, n: int, seed: int) -> list[tuple[bytes, dict[str, str]]]:
    """``n`` case reports as bench/http_bench.py sends them: (body, headers)."""
    from http_bench import case_bodies, sample
    from servers import bench_token

    points, categories = sample(url, 4000, seed)
    signed = {"Content-Type": "application/json", "Authorization": "Bearer " + bench_token(url)}
    anonymous = {"Content-Type": "application/json"}
    return [(json.dumps(body, ensure_ascii=False).encode(), signed if staff else anonymous)
            for body, staff in case_bodies(points, categories, random.Random(seed), n)]


def child(spec: dict) -> None:
    """Under callgrind: the app, the warm-up, then the counted reports."""
    import web.live as live

    # the listener's reads of the notices (every 50 ms under load) would be counted by the
    # wall-clock time callgrind's slowness stretches, not by the reports
    live.BATCH_S = live.IDLE_S = 3600.0
    from servers import BENCH_INTAKE_LIMIT
    from web import create_app, database

    sent = reports(spec["url"], spec["warm"] + spec["reports"], spec["seed"])
    os.environ["GRIDGOV_DATABASE_URL"] = spec["url"]
    os.environ["GRIDGOV_RATELIMIT_INTAKE"] = BENCH_INTAKE_LIMIT
    app = create_app()
    with app.app_context():  # the process's listener, as gunicorn's worker starts it (web/serve.py)
        hub = live.hub_for(database.listen_conninfo(), database.replica_conninfo())
    hub.listening.wait(10)
    client = app.test_client()
    control = ctypes.CDLL(spec["control"])

    def send(body: bytes, headers: dict[str, str]) -> None:
        answer = client.post("/api/v1/cases", data=body, headers=headers)
        if answer.status_code != 201:
            sys.exit(f"a report was refused: {answer.status_code} {answer.get_data(as_text=True)[:300]}")

    for body, headers in sent[:spec["warm"]]:
        send(body, headers)
    control.count_start()
    for body, headers in sent[spec["warm"]:]:
        send(body, headers)
    control.count_stop()


def count(spec: dict, checkout: Path | None, work: Path, run: int) -> int:
    """One run under callgrind: the instructions of the counted reports."""
    out = work / f"run{run}"
    env = {**os.environ, CHILD_ENV: json.dumps(spec)}
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
         f"--callgrind-out-file={out}.%p", sys.executable, __file__],
        env=env, check=True, cwd=checkout or ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    total = 0
    for path in work.glob(f"run{run}.*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    if total == 0:
        sys.exit(f"callgrind counted nothing in run {run}")
    return total


def main() -> None:
    sys.path.insert(0, str(BENCH))
    if os.environ.get(CHILD_ENV):
        sys.path.insert(0, os.environ.get("PYTHONPATH") or str(ROOT))
        child(json.loads(os.environ[CHILD_ENV]))
        return
    sys.path.insert(0, str(ROOT))
    from results import spread, write_section
    from servers import add_server_options, drop_database, prepare_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=300, help="reports counted per run")
    parser.add_argument("--warm", type=int, default=300, help="reports before the count")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--checkout", type=Path, help="count this checkout's code (module doc)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--section", default="",
                        help="write to a section of its own (the figure of an older commit)")
    add_server_options(parser, "app_instructions")
    args = parser.parse_args()
    for tool in ("valgrind", "gcc"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: apt-get install -y {tool}")
    work = Path(tempfile.mkdtemp(prefix="gridgov-app-callgrind-"))
    try:
        (work / "control.c").write_text(CONTROL_C)
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(work / "control.so"),
                        str(work / "control.c")], check=True)
        url = prepare_database(args)
        spec = {"url": url, "warm": args.warm, "reports": args.reports, "seed": args.seed,
                "control": str(work / "control.so")}
        per_report = []
        for run in range(args.runs):
            per_report.append(count(spec, args.checkout, work, run) / args.reports / 1e6)
            print(f"run {run + 1}: {per_report[-1]:.3f} M instructions per report", flush=True)
    finally:
        drop_database(args)
        shutil.rmtree(work, ignore_errors=True)
    code = "this checkout"
    if args.checkout:
        commit = subprocess.run(["git", "-C", str(args.checkout), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        code = f"the checkout of commit {commit}" if commit else f"the checkout {args.checkout}"
    lines = [
        f"The Flask app answering `POST /api/v1/cases` ({code}), under valgrind's callgrind: "
        f"{args.reports} reports counted per run after {args.warm} not counted, through Flask's "
        "test client (gunicorn's share not included), the Bagong demo; bench/http_bench.py's "
        "reports (random points, leaf categories and channels; staff channels with a token); "
        "the rate limit on. Median (lowest–highest) over the runs.",
        "",
        "| per report | M instructions |",
        "| --- | ---: |",
        f"| the app: our code, Flask and its extensions, SQLAlchemy, psycopg | {spread(per_report, '{:.3f}')} |",
    ]
    print("\n".join(lines))
    if not args.no_write:
        name, title = "app_instructions", "What a case report costs the server's Python, in instructions"
        if args.section:
            name, title = f"app_instructions_{args.section}", f"{title}: {args.section}"
        write_section(name, title, lines, "python bench/app_instructions.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
