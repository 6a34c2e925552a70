"""The supervision pass over 1,000,000 cases with their open ones' clocks running (target:
≤ 5 s, DESIGN.md).

What it does: on the benchmark database (bench/run.py: the Bagong demo with 1,000,000 cases,
whose histories leave every open case with the clocks its events started), it times
``cases.supervision.supervise`` — the statement the background worker runs every minute — in
two situations, ``--runs`` times each, each inside a transaction that is rolled back so every
run starts from the same data:

- **catch-up**: the first pass ``at`` now, which issues every signal whose moment has passed
  (the demo's open cases are months old: most of their clocks are overdue and carded) — the
  worst case, as after a long downtime;
- **steady**: a pass one minute after such a pass (made in the same transaction, not timed),
  which finds nothing new: what the worker costs every minute.

A rolled-back run is timed up to the end of the pass's statements, without the commit. With
``--commit`` one catch-up pass is committed after the runs and its commit timed too (its events
and notifications then stay in the database: bench/run.py does not pass it).

Example:
    .venv/bin/python bench/supervision_bench.py [--runs 3] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from cases import supervision  # noqa: E402
from cases.deadlines import LOCAL_TZ  # noqa: E402
from db.session import database_url, session_scope  # noqa: E402
from results import spread, write_section  # noqa: E402

TARGET_S = 5.0


def _facts(url: str) -> dict:
    with session_scope(url) as s:
        return dict(s.execute(text(
            "SELECT (SELECT count(*) FROM cases) AS cases, "
            "(SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'evaluated', 'voided')) AS open, "
            "(SELECT count(*) FROM case_deadlines WHERE met_at IS NULL AND suspended_at IS NULL) AS clocks, "
            "(SELECT count(*) FROM case_events) AS events")).mappings().one())


def _timed_pass(url: str, at: datetime, before: datetime | None = None) -> tuple[float, int]:
    """Seconds of one pass at ``at`` (after an untimed one at ``before``), and what it issued;
    rolled back."""
    with session_scope(url) as s:
        try:
            if before is not None:
                supervision.supervise(s, before)
            started = time.perf_counter()
            report = supervision.supervise(s, at)
            return time.perf_counter() - started, len(report.issued)
        finally:
            s.rollback()


def _committed_pass(url: str, at: datetime) -> tuple[float, float, int]:
    """One catch-up pass committed: (pass seconds, commit seconds, issued). Changes the
    database (its events stay), so it runs last."""
    with session_scope(url) as s:
        started = time.perf_counter()
        report = supervision.supervise(s, at)
        middle = time.perf_counter()
        s.commit()
        return middle - started, time.perf_counter() - middle, len(report.issued)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--commit", action="store_true",
                        help="end with one committed catch-up pass (its events stay in the database)")
    args = parser.parse_args()
    url = os.environ.get("GRIDGOV_DATABASE_URL") or database_url()
    facts = _facts(url)
    print(f"{facts['cases']:,} cases, {facts['open']:,} open, {facts['clocks']:,} running clocks", flush=True)
    now = datetime.now(LOCAL_TZ).replace(microsecond=0)
    catch_up, steady = [], []
    for k in range(args.runs):
        seconds, issued = _timed_pass(url, now)
        catch_up.append((seconds, issued))
        print(f"run {k + 1}: catch-up {seconds:.2f} s ({issued:,} signals)", flush=True)
        seconds, issued = _timed_pass(url, now + timedelta(minutes=1), before=now)
        steady.append((seconds, issued))
        print(f"run {k + 1}: steady {seconds:.3f} s ({issued:,} signals)", flush=True)
    committed = _committed_pass(url, now) if args.commit else None
    worst = max(s for s, _ in catch_up)
    lines = [
        f"- data: {facts['cases']:,} cases ({facts['open']:,} open; {facts['clocks']:,} running clocks; "
        f"{facts['events']:,} events), the benchmark database of bench/run.py",
        f"- each run inside a transaction rolled back afterwards (every run sees the same data); "
        f"{args.runs} runs, median (lowest–highest)",
        "",
        "| pass | seconds | signals issued |",
        "| --- | ---: | ---: |",
        f"| catch-up (first pass at now: every passed moment; no due-soon on a clock already overdue) | {spread([s for s, _ in catch_up])} | "
        f"{spread([n for _, n in catch_up], '{:,.0f}')} |",
        f"| steady (one minute after a pass) | {spread([s for s, _ in steady], '{:.3f}')} | "
        f"{spread([n for _, n in steady], '{:,.0f}')} |",
    ]
    if committed is not None:
        lines += ["", f"One catch-up pass committed after the runs: {committed[0]:.2f} s for the pass, "
                      f"{committed[1]:.2f} s for the commit, {committed[2]:,} signals."]
    lines += ["", f"Target (DESIGN.md): a pass over 1M cases with their open cases' clocks ≤ {TARGET_S:g} s — "
                  f"worst catch-up run {worst:.2f} s, {'met' if worst <= TARGET_S else '**not met**'}."]
    print("\n".join(lines))
    if not args.no_write:
        write_section("supervision", "Supervision pass over 1,000,000 cases", lines,
                      "python bench/supervision_bench.py" + (" --commit" if args.commit else ""))


if __name__ == "__main__":
    main()
