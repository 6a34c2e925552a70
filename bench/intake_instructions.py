#!/usr/bin/env python3
"""What one intake costs PostgreSQL, counted in instructions: month partitions against none.

Timings on this kind of machine move by a factor of two from one machine to the next and within
an hour on one (bench/RESULTS.md's HTTP runs: intake p99 at 300/s from 12.8 to 41.0 ms on the
same code); instructions executed do not. This runs PostgreSQL under valgrind's callgrind,
which counts every instruction each server process executes, and sends it reports through
``cases.intake.create_case`` (the very code of ``POST /api/v1/cases``, autocommit as there,
each statement prepared by psycopg as there), one connection each:

1. a throwaway cluster of its own (db/cluster.py, on a free port), two databases with the
   Bagong demo: ``partitioned`` (the schema as migrated, a partition per month) and ``flat``
   (every month partition dropped before the load, so every case lies in the DEFAULT
   partition, as bench/province_bench.py's flat layout); then a day of steady intake in both
   (``BUSY``: 20,535 open cases of the last 24 h) and VACUUM ANALYZE, and autovacuum off
   while measuring (make_layout says why);
2. for each layout, ``--runs`` pairs of fresh copies of that database; the cluster restarted
   under callgrind; on one copy of a pair ``--few`` reports, on the other ``--many``, each on
   a connection of its own (a server process of its own, counted apart);
3. what a report costs = (instructions of the process with ``--many`` − of the one with
   ``--few``) / (many − few): the connection's start, its first plans and caches are in both
   and drop out. The same for a few of PostgreSQL's functions, inclusive of what they call
   (callgrind_annotate): the AFTER triggers (the reference checks of migrations 0060–0068 and
   the live notice), setting up each statement's plan (ExecutorStart), CHECK constraints
   (ExecConstraints), planning;
4. writes its section of bench/RESULTS.md (``--no-write`` to print only; ``--section NAME`` to
   a section of its own, e.g. a measurement of an older commit beside the current one).

The same points, categories and order of reports in every run (``--seed``). Under callgrind
the server runs about 50 times slower: 620 reports take ~40 s.

Example:
    .venv/bin/python bench/intake_instructions.py              # ~8 minutes
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from cases.intake import CaseRequest, create_case  # noqa: E402
from db import migrate  # noqa: E402
from db.cluster import Cluster, pg_tool, server_user  # noqa: E402
from db.session import conninfo  # noqa: E402
from demo.load import load_demo  # noqa: E402
from province_bench import drop_month_partitions  # noqa: E402
from results import spread, write_section  # noqa: E402

LAYOUTS = ("partitioned", "flat")
BUSY = 5  # the demo's 4,107 cases five times over: about a minute at 300 reports a second
# inclusive instructions of these server functions, per report (callgrind_annotate's names)
PARTS = {
    "AfterTriggerEndQuery": "AFTER triggers: the reference checks and the live notice",
    "standard_ExecutorStart": "setting up each statement's plan (ExecutorStart)",
    "ExecConstraints": "CHECK constraints of the rows inserted",
    "pg_plan_queries": "planning",
}


def make_layout(cluster: Cluster, layout: str, seed: int) -> None:
    """The layout's template database: migrated, the flat one without its month partitions,
    the demo loaded."""
    cluster.create_database(layout)
    url = cluster.url(layout)
    migrate.upgrade(url)
    if layout == "flat":
        drop_month_partitions(url)
    load_demo(url, seed=seed, progress=False, month_partitions=layout == "partitioned")
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        # A day of steady intake before the reports (BUSY times the demo's cases, at moments
        # of the last 24 h, open), its statistics taken: the state a town is in after some
        # minutes at 300 reports a second, whose plans read the month by its indexes. On the
        # demo as loaded the current month holds a few days' cases, and a plan made on that
        # reads it whole, longer with every report, until ANALYZE makes a new one: autovacuum
        # does that within a minute, but its ANALYZE of the month also has every connection
        # plan again, which with month partitions costs more than the report (a trial with
        # autovacuum looking every second: 1.4 M instructions of planning a report).
        conn.execute("SET gridgov.bulk = 'on'")  # no live notices for these
        conn.execute("SELECT setseed(%s)", (seed / 1000,))
        conn.execute(
            "INSERT INTO cases (town_code, category_code, description, status, channel,"
            " created_at, updated_at, geom)"
            " SELECT town_code, category_code, description, 'dispatched', channel, t, t, geom"
            "   FROM (SELECT c.*, now() - random() * interval '24 hours' AS t"
            "           FROM cases c, generate_series(1, %s)) busy", (BUSY,))
        conn.execute("VACUUM ANALYZE")


def report_inputs(url: str, seed: int) -> tuple[list[tuple[float, float]], list[str]]:
    """500 points inside the town and the leaf categories, the same for every run."""
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute("SELECT setseed(%s)", (seed / 1000,))
        points = conn.execute(
            "SELECT ST_X(p.geom), ST_Y(p.geom) FROM towns,"
            " LATERAL ST_Dump(ST_GeneratePoints(towns.geom, 500, %s)) p ORDER BY 1, 2",
            (seed,)).fetchall()
        categories = [r[0] for r in conn.execute(
            "SELECT code FROM categories WHERE parent_code IS NOT NULL ORDER BY code")]
    return points, categories


def send_reports(url: str, n: int, points, categories, seed: int) -> int:
    """``n`` reports through intake on one connection; its server process's pid."""
    rng = random.Random(seed)
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with Session(engine) as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            for i in range(n):
                lon, lat = rng.choice(points)
                create_case(session, CaseRequest(
                    category=rng.choice(categories), description=f"callgrind {i}",
                    channel="app", lon=lon, lat=lat))
    finally:
        engine.dispose()
    return pid


class UnderCallgrind:
    """The cluster's server started by hand under callgrind (every process it forks counted
    in a file of its own), stopped (fast shutdown) on exit."""

    def __init__(self, cluster: Cluster, out: Path):
        self.cluster, self.out = cluster, out

    def __enter__(self) -> UnderCallgrind:
        argv = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                f"--callgrind-out-file={self.out}/callgrind.%p",
                str(pg_tool("postgres")), "-D", str(self.cluster.data_dir),
                "-p", str(self.cluster.port),
                # the server's memory is mapped whole under valgrind: the test clusters' size
                "-c", "shared_buffers=256MB",
                # the statistics as make_layout left them: the same plans in every run
                "-c", "autovacuum=off"]
        user = server_user()
        if user is not None:
            argv = ["runuser", "-u", user, "--", *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                admin = conninfo(self.cluster.admin_url("postgres"))
                with psycopg.connect(admin, connect_timeout=5):
                    return self
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start under callgrind") from None
                time.sleep(1)

    def __exit__(self, *exc) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)
        self.proc.wait(timeout=300)


def instructions(path: Path) -> dict[str, int]:
    """The process's total and, inclusive, the functions of PARTS."""
    total = next(int(line.split()[1]) for line in path.read_text(errors="replace").splitlines()
                 if line.startswith(("summary:", "totals:")))
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
        capture_output=True, text=True, check=True).stdout
    found = {"total": total}
    for line in annotated.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+\S*?:(\w+) \[", line)
        if m and m.group(2) in PARTS and m.group(2) not in found:
            found[m.group(2)] = int(m.group(1).replace(",", ""))
    return found


def millions(value: float) -> float:
    # rounded as printed, and never -0.00: a part that costs nothing per report comes out a
    # few instructions either side of 0
    return round(value / 1e6, 2) + 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # past the first 200 reports: the statements run rarely (a probable duplicate's lock) are
    # planned a few times each before their plans are kept, which costs more with partitions
    parser.add_argument("--few", type=int, default=220)
    parser.add_argument("--many", type=int, default=620)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--section", default="")
    parser.add_argument("--keep-counts", type=Path,
                        help="copy callgrind's files of the measured connections here, named "
                             "<layout>_<run>_<reports> (to read with callgrind_annotate)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        sys.exit("valgrind is not installed: apt-get install -y valgrind")
    work = Path(tempfile.mkdtemp(prefix="gridgov-callgrind-"))
    os.chmod(work, 0o777)  # the server's user writes its counts here
    cluster = Cluster(work / "pg")
    per_report: dict[str, list[dict[str, float]]] = {layout: [] for layout in LAYOUTS}
    try:
        cluster.start()
        for layout in LAYOUTS:
            make_layout(cluster, layout, args.seed)
        points, categories = report_inputs(cluster.url("partitioned"), args.seed)
        with psycopg.connect(conninfo(cluster.url("partitioned"))) as conn:
            partitions = conn.execute("SELECT count(*) FROM pg_inherits"
                                      " WHERE inhparent = 'cases'::regclass").fetchone()[0]
        copies = {(layout, run, n): f"{layout}_{run}_{n}" for layout in LAYOUTS
                  for run in range(args.runs) for n in (args.few, args.many)}
        with psycopg.connect(conninfo(cluster.admin_url("postgres")), autocommit=True) as conn:
            # the load's pooled connections: a template must have none
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE datname = ANY(%s)", (list(LAYOUTS),))
        for (layout, _, _), name in copies.items():
            cluster.create_database(name, template=layout)
        cluster.stop()
        out = work / "counts"
        out.mkdir()
        os.chmod(out, 0o777)
        pids = {}
        with UnderCallgrind(cluster, out):
            for key, name in copies.items():
                pids[key] = send_reports(cluster.url(name), key[2], points, categories, args.seed)
                print(f"{name}: {key[2]} reports sent", flush=True)
        for layout in LAYOUTS:
            for run in range(args.runs):
                few = instructions(out / f"callgrind.{pids[layout, run, args.few]}")
                many = instructions(out / f"callgrind.{pids[layout, run, args.many]}")
                if args.keep_counts:
                    args.keep_counts.mkdir(parents=True, exist_ok=True)
                    for n in (args.few, args.many):
                        shutil.copy(out / f"callgrind.{pids[layout, run, n]}",
                                    args.keep_counts / f"{layout}_{run}_{n}")
                per_report[layout].append(
                    {k: (many.get(k, 0) - few.get(k, 0)) / (args.many - args.few) for k in many})
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)
    part, flat = per_report["partitioned"], per_report["flat"]
    months = f"cases in {partitions} partitions (a month each, the DEFAULT one among them)"
    out_lines = [
        f"PostgreSQL under valgrind's callgrind; {args.many - args.few} reports per run through "
        "`cases.intake.create_case` (the code of `POST /api/v1/cases`, autocommit, statements "
        f"prepared by psycopg), counted as the difference between a connection that sent "
        f"{args.many} and one that sent {args.few}; the Bagong demo; {args.runs} run(s) per "
        "layout, each on fresh copies: median (lowest–highest). Millions of instructions per "
        "report, inclusive of what each part calls.",
        "",
        f"- partitioned: {months}; flat: every case in the DEFAULT partition",
        f"- before the reports, in both: a day of steady intake ({BUSY} × the demo's cases, open,"
        " at moments of the last 24 h) and VACUUM ANALYZE; autovacuum off while measuring, so "
        "every run plans alike",
        "",
        "| per report, M instructions | partitioned | flat | partitioned − flat |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in [("total", "all of PostgreSQL's work"), *PARTS.items()]:
        p = [r.get(key, 0) for r in part]
        f = [r.get(key, 0) for r in flat]
        gap = millions(statistics.median(p) - statistics.median(f))
        out_lines.append(f"| {label} | {spread([millions(v) for v in p])} | "
                         f"{spread([millions(v) for v in f])} | {gap:+.2f} |")
    print("\n".join(out_lines))
    if not args.no_write:
        title = "What an intake costs PostgreSQL, in instructions: month partitions and none"
        name = "instructions"
        if args.section:
            name, title = f"instructions_{args.section}", f"{title}: {args.section}"
        write_section(name, title, out_lines,
                      "python bench/intake_instructions.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
