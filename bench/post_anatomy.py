"""Where the time of a paced ``POST /api/v1/cases`` goes, inside ``gridgov serve``.

What it does, end to end:

1. creates a throwaway database with the Bagong demo and starts ``gridgov serve`` with its
   defaults (as bench/http_bench.py does);
2. drives POST at ``--rate`` (300) cases/s with wrk (8 keep-alive connections) for
   ``--duration`` s, while py-spy samples every thread of both worker processes (``--idle``:
   a thread waiting on a socket is sampled too) at ``--sample-rate`` Hz;
3. keeps the samples of the threads that were serving a request (gunicorn's
   ``handle_request`` on the stack) and files each under the innermost frame it recognises:
   waiting for PostgreSQL (psycopg), SQLAlchemy, Flask/werkzeug, gunicorn's HTTP parsing and
   writing, pydantic, JSON, compression, gridgov's own code, or the rest of Python;
4. divides by the requests served: milliseconds of one request's wall time per part, next to
   wrk's p50, and the cost of one commit's WAL flush on this disk (pg_test_fsync, one 8 kB
   write + fdatasync, PostgreSQL's default ``wal_sync_method`` on Linux), which every intake
   pays inside its wait for PostgreSQL;
5. writes its section of bench/RESULTS.md.

A sample of a thread that is runnable but waiting for the GIL is filed under the frame it
waits in, so the parts add up to wall time, as a client sees it.

py-spy comes with ``make bench`` (pip); it must be allowed to read the workers' memory (root,
or ptrace permitted).

Example:
    .venv/bin/python bench/post_anatomy.py                       # 60 s: ~2 minutes
    .venv/bin/python bench/post_anatomy.py --duration 10 --no-write
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from http_bench import _server_pids, add_wrk_options, paced, post_script, prepare_load, run_wrk  # noqa: E402  (bench/)
from servers import add_server_options, bench_token, drop_database, start_gridgov  # noqa: E402
from results import write_section  # noqa: E402

# (part, pattern on a frame's file path), innermost recognised frame wins
PARTS = [
    ("waiting for PostgreSQL (psycopg: send, wait, receive)", re.compile(r"(^|/)psycopg(_binary)?/")),
    ("SQLAlchemy (sessions, pool, result rows)", re.compile(r"(^|/)sqlalchemy/")),
    ("pydantic (validation)", re.compile(r"(^|/)pydantic(_core)?/")),
    ("JSON (encode, decode)", re.compile(r"(^|/)json/")),
    ("compression (Flask-Compress)", re.compile(r"(^|/)(flask_compress/|gzip|zlib|brotli|zstandard)")),
    ("Flask and werkzeug (routing, request, response)", re.compile(r"(^|/)(flask|werkzeug)/")),
    ("gunicorn (reading the request, writing the answer)", re.compile(r"(^|/)gunicorn/")),
    ("gridgov's own code", re.compile(r"^(cases|boundaries|web|geo|db|tiles)/[^/]+\.py")),
]
OTHER = "the rest of Python (stdlib, other libraries)"
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^)]*?)(?::\d+)?\)$")


def classify(stack: str) -> str | None:
    """The part one collapsed stack belongs to; None when the thread served no request."""
    frames = stack.split(";")
    if not any(".handle_request (" in f for f in frames):
        return None
    for frame in reversed(frames):
        m = FRAME.match(frame)
        path = m.group("file") if m else frame
        for part, pattern in PARTS:
            if pattern.search(path):
                return part
    return OTHER


def fsync_ms(directory: Path) -> float | None:
    """One 8 kB write + fdatasync on ``directory``'s file system, milliseconds (pg_test_fsync)."""
    tool = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_test_fsync"))), None)
    if tool is None:
        return None
    with tempfile.TemporaryDirectory(dir=directory) as tmp:  # pg_test_fsync removes its file itself
        out = subprocess.run([str(tool), "-s", "2", "-f", str(Path(tmp, "fsync"))], capture_output=True,
                             text=True).stdout
    m = re.search(r"fdatasync\s+[\d.,]+ ops/sec\s+(\d+) usecs/op", out)
    return int(m.group(1)) / 1000 if m else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_options(p)
    p.add_argument("--sample-rate", type=int, default=250, help="py-spy samples per second")
    add_server_options(p, "anatomy")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        sys.exit("py-spy is not installed: pip install py-spy (make bench installs it)")
    url, points, categories = prepare_load(args)
    gridgov = start_gridgov(url, workers=args.workers)
    port = gridgov.port
    counts: Counter[str] = Counter()
    try:
        server = _server_pids(gridgov.proc)
        workers = server[1:]
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp, "post.lua")
            body = post_script(points, categories, random.Random(args.seed), bench_token(url))
            script.write_text(paced(body, args.rate, args.threads), encoding="utf-8")
            run_wrk(port, script, args.clients, args.threads, 5, server)  # warm-up
            spies = [
                subprocess.Popen([pyspy, "record", "--pid", str(pid), "--idle", "--rate", str(args.sample_rate),
                                  "--duration", str(args.duration + 2), "--format", "raw",
                                  "--output", str(Path(tmp, f"{pid}.txt")), "--nonblocking"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for pid in workers
            ]
            r = run_wrk(port, script, args.clients, args.threads, args.duration, server)
            for spy in spies:
                spy.wait()
            for pid in workers:
                for line in Path(tmp, f"{pid}.txt").read_text().splitlines():
                    stack, _, n = line.rpartition(" ")
                    part = classify(stack)
                    if part is not None:
                        counts[part] += int(n)
        flush = fsync_ms(Path(os.environ.get("GRIDGOV_VAR_DIR") or ROOT / "var"))
    finally:
        gridgov.stop()
        drop_database(args)
    # samples cover duration + 2 s, wrk's requests its duration: the 2 s tail is idle pool time,
    # which is not counted (no handle_request on the stack)
    per_request_ms = {part: n / args.sample_rate / r["requests"] * 1000 for part, n in counts.items()}
    total = sum(per_request_ms.values())
    lines = [
        f"- server: `gridgov serve` defaults on a throwaway demo database; wrk offering {args.rate:g} POST/s "
        f"over {args.clients} connections for {args.duration} s ({r['requests']:,} requests, "
        f"{r['errors']} errors); py-spy {args.sample_rate} Hz on both workers, waiting threads included",
        "",
        f"wrk: p50 {r['p50_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms. Inside the "
        f"server a request spent {total:.2f} ms on average (the mean, not the median), made of:",
        "",
        "| part | ms per request | share |",
        "| --- | ---: | ---: |",
    ]
    for part, ms in sorted(per_request_ms.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {part} | {ms:.2f} | {ms / total:.0%} |")
    if flush is not None:
        lines += ["", f"One 8 kB WAL write + fdatasync on this disk (pg_test_fsync, 2 s): {flush:.2f} ms; every "
                      "intake commits once, inside its wait for PostgreSQL."]
    print("\n".join(lines))
    if not args.no_write:
        write_section("anatomy", "Where a paced `POST /api/v1/cases` spends its time", lines,
                      f".venv/bin/python bench/post_anatomy.py --duration {args.duration} --rate {args.rate:g}")


if __name__ == "__main__":
    main()
