#!/usr/bin/env python3
"""Province benchmark (issue 13): a province of ``--towns`` towns and ``--cases`` cases
(``gridgov demo load --towns``, demo/province.py) in a database of its own, measured with and
without the month partitions of cases and case_events (migration 0060).

For each layout (``--layouts``):

- ``partitioned``: the schema as migrated: a partition per month, the DEFAULT one empty;
- ``flat``: the same schema with every month partition dropped before the load, so every row
  lies in the DEFAULT partition: one table per kind, as before partitioning (plus an Append
  node of one child, which costs nothing measurable);
- ``partitioned, replica`` (unless ``--no-replica``): the partitioned database again, with
  ``gridgov serve`` reading the map, tiles, hot spots, statistics and public pages from a
  streaming-replication hot standby of the managed cluster (``gridgov db start --replica``'s,
  made after the load and caught up before measuring; on this machine, so it shares the
  cores with the primary: what it shows is the cost of the routing, not a second machine's
  capacity);

it creates a database ``<--db-name>_<layout>`` per layout (bench/servers.py: on the managed
cluster or the server of GRIDGOV_DATABASE_URL, never GRIDGOV_DATABASE_URL's own database),
migrates them and loads the province into them side by side (a load is bulk SQL in the server,
a core each: two take the time of one); then, one configuration at a time with nothing else
running, after a CHECKPOINT (the loads' dirty pages written out first, not during the runs), it
starts ``gridgov serve`` and measures, ``--runs`` times:

1. locate: ``GET /api/v1/locate`` at random points of random towns, paced at ``--rate``
   requests/s by wrk (bench/http_bench.py's scripts), p99 (target ≤ 10 ms);
2. intake: ``POST /api/v1/cases`` at random points of random towns, paced at ``--rate``,
   p99 (target ≤ 25 ms at 300/s);
3. one tile: every ``/tiles/cases`` tile of one copied town at zoom ``--tile-zoom``, fetched
   once each from one client by an operator of that town, another town each run, so no tile
   is in the server's cache: median and p99;
4. one town's operator page: a town operator of that town (an account scoped to it) opens
   ``/`` in headless Chromium (bench/page_bench.py's measure): interactive (target ≤ 3 s).

Then it writes its section of bench/RESULTS.md (``--no-write`` to only print), stops the server
and drops the databases (``--keep-db`` keeps them). Loading 1,000 towns and 10M cases takes a
long while and most of the machine: do not run it at full scale beside a test run.

Examples:
    .venv/bin/python bench/province_bench.py --towns 1000 --cases 10000000
    .venv/bin/python bench/province_bench.py --towns 3 --cases 3000 --duration 5 --runs 1 --no-write
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import mercantile  # noqa: E402
import psycopg  # noqa: E402

from db import migrate  # noqa: E402
from db.session import conninfo, managed_cluster, managed_standby, session_scope  # noqa: E402
from demo.load import load_demo  # noqa: E402
from http_bench import (  # noqa: E402
    WARM_UP_S, _server_pids, add_wrk_options, backend_pids, locate_script, median_of, paced,
    post_script, run_wrk,
)
from results import spread, write_section  # noqa: E402
from servers import (  # noqa: E402
    bench_token, checkpoint, create_database, database_exists, drop_named_database, start_gridgov,
    url_of,
)

LAYOUTS = ("partitioned", "flat")
LOCATE_P99_MS, INTAKE_P99_MS, PAGE_S = 10.0, 25.0, 3.0
PAGE_SIZE = (1440, 900)
PAGE_CAP_S = 120.0
OPERATOR = "province_operator"


def create(name: str, layout: str) -> str:
    """The layout's database, created afresh and migrated (one at a time: Alembic's context
    is the process's); its URL."""
    url = create_database(name)
    migrate.upgrade(url)
    if layout == "flat":
        drop_month_partitions(url)
    return url


def drop_month_partitions(url: str) -> None:
    """Every month partition of cases and case_events dropped (before a load): what is loaded
    then lies in their DEFAULT partitions."""
    with psycopg.connect(conninfo(url)) as conn:
        months = [r[0] for r in conn.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits"
            " WHERE inhparent IN ('cases'::regclass, 'case_events'::regclass)"
            " AND inhrelid::regclass::text NOT LIKE '%\\_default'")]
        for month in months:
            conn.execute(f'DROP TABLE "{month}"')


def load(url: str, layout: str, args: argparse.Namespace) -> str:
    """The province loaded into the layout's database; its URL."""
    started = time.monotonic()
    load_demo(url, seed=args.seed, cases=args.cases, progress=True, towns=args.towns,
              month_partitions=layout == "partitioned")
    with psycopg.connect(conninfo(url)) as conn:
        spread_over = conn.execute("SELECT count(DISTINCT tableoid) FROM cases").fetchone()[0]
    print(f"{layout}: loaded {args.towns:,} towns and {args.cases:,} cases in "
          f"{time.monotonic() - started:.0f} s, over {spread_over} partition(s)", flush=True)
    return url


@contextmanager
def standby_of(name: str) -> Iterator[str]:
    """The URL of the database ``name`` on the managed cluster's hot standby (``gridgov db
    start --replica``'s, in var/pg-replica), caught up with the primary. One already running is
    used as it is; otherwise one is made now (a base backup, so it holds the loaded province)
    and destroyed afterwards."""
    standby = managed_standby()
    made = not standby.running()
    if made:
        started = time.monotonic()
        standby.destroy()  # a stopped one from earlier may have lost its slot
        standby.start()
        print(f"standby made in {time.monotonic() - started:.0f} s", flush=True)
    try:
        with psycopg.connect(conninfo(managed_cluster().admin_url("postgres")), autocommit=True) as primary:
            target = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        with psycopg.connect(conninfo(standby.admin_url("postgres")), autocommit=True) as replica:
            while replica.execute("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s) < 0",
                                  (target,)).fetchone()[0]:
                time.sleep(0.5)
        yield standby.url(name)
    finally:
        if made:
            standby.destroy()


def sample(url: str, n: int, seed: int) -> tuple[list[tuple[float, float]], list[str], list[str]]:
    """``n`` random points, each in a town drawn at random; the leaf categories; and the
    towns' codes from the middle one of the province on (a copy when there are copies): the
    first's operator page is measured, and each run's tiles are another town's, so that no
    run fetches a tile an earlier one left in the server's cache."""
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute("SELECT setseed(%s)", (1 / (seed + 1),))
        points = conn.execute("""
            SELECT ST_X(p.geom), ST_Y(p.geom)
              FROM (SELECT geom FROM towns, generate_series(1, %s)
                     ORDER BY random() LIMIT %s) t,
                   LATERAL ST_Dump(ST_GeneratePoints(t.geom, 1)) AS p""",
                              (max(1, n // max(1, _count(conn, "towns")) + 1), n)).fetchall()
        categories = [r[0] for r in conn.execute(
            "SELECT code FROM categories WHERE parent_code IS NOT NULL ORDER BY code")]
        codes = [r[0] for r in conn.execute("SELECT code FROM towns ORDER BY code")]
    return ([(float(x), float(y)) for x, y in points], categories,
            codes[len(codes) // 2:] + codes[:len(codes) // 2])


def _count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def operator_of(url: str, town: str) -> tuple[str, str]:
    """A town operator of ``town``: (an API token, a signed-in session cookie)."""
    from accounts import repository, service
    from demo.accounts import DEMO_PASSWORD

    name = f"{OPERATOR}_{town}"
    with session_scope(url) as session:
        if repository.account_by_name(session, name) is None:
            service.create_account(session, name, "town_operator", scope=town,
                                   password=DEMO_PASSWORD)
        token, _ = service.issue_token(session, name)
        cookie, _ = service.sign_in(session, name, DEMO_PASSWORD)
    return token, cookie


def wrk_p99(port: int, script: str, server, url: str, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(paced(script, args.rate, args.threads))
    path = Path(f.name)
    try:
        pids = _server_pids(server.proc)
        run_wrk(port, path, args.clients, args.threads, WARM_UP_S, pids)
        return run_wrk(port, path, args.clients, args.threads, args.duration, pids,
                       backend_pids(url))
    finally:
        path.unlink()


def tile_times(port: int, url: str, town: str, zoom: int, token: str) -> list[float]:
    """Seconds for each tile of ``town`` at ``zoom``, fetched once each (none cached)."""
    from tiles_bench import fetch, gridgov_path

    with psycopg.connect(conninfo(url)) as conn:
        w, s, e, n = conn.execute("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), "
                                  "ST_YMax(geom) FROM towns WHERE code = %s", (town,)).fetchone()
    times = []
    for t in mercantile.tiles(w, s, e, n, [zoom]):
        started = time.perf_counter()
        fetch(port, gridgov_path(t.z, t.x, t.y), {"Authorization": f"Bearer {token}"})
        times.append(time.perf_counter() - started)
    return times


def page_load(base: str, cookie: str) -> dict:
    from page_bench import CHROMIUM, CHROMIUM_ARGS, measure_gridgov
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            return measure_gridgov(browser, base, PAGE_SIZE, PAGE_CAP_S, cookie)
        finally:
            browser.close()


def measure(url: str, args: argparse.Namespace, replica_url: str | None = None) -> dict:
    """The runs on ``url``; with ``replica_url``, the server reads the map, tiles, hot spots,
    statistics and public pages from that standby (GRIDGOV_REPLICA_URL)."""
    points, categories, towns = sample(url, 4000, args.seed)
    town = towns[0]
    token, cookie = operator_of(url, town)
    # the loads' dirty pages written out before, not during, the runs: measured 2026-12-01,
    # the checkpoint at the end of a load of 10M cases wrote 535,558 pages (4.1 GB) over 270 s,
    # across the flat layout's three runs (intake p99 36.8, 39.9, 49.1 ms)
    took = checkpoint()
    print(f"checkpoint before measuring: {'not allowed' if took is None else f'{took:.1f} s'}",
          flush=True)
    server = start_gridgov(url, workers=args.workers,
                           env={"GRIDGOV_REPLICA_URL": replica_url} if replica_url else None)
    runs: dict[str, list] = {"locate": [], "intake": [], "tile_ms": [], "page": []}
    try:
        port = server.port
        rng = random.Random(args.seed)
        for i in range(args.runs):
            runs["locate"].append(wrk_p99(port, locate_script(points), server, url, args))
            runs["intake"].append(
                wrk_p99(port, post_script(points, categories, rng, token), server, url, args))
            tile_town = towns[i % len(towns)]  # its own operator: a tile shows what they may see
            tile_token = token if tile_town == town else operator_of(url, tile_town)[0]
            runs["tile_ms"] += [1000 * t for t in tile_times(port, url, tile_town, args.tile_zoom, tile_token)]
            if not args.no_page:
                runs["page"].append(page_load(server.base, cookie))
            print(f"run {i + 1}: locate p99 {runs['locate'][-1]['p99_ms']:.1f} ms, intake p99 "
                  f"{runs['intake'][-1]['p99_ms']:.1f} ms"
                  + (f", page {runs['page'][-1]['interactive_ms'] / 1000:.2f} s"
                     if runs["page"] else ""), flush=True)
    finally:
        server.stop()
    runs["town"] = town
    return runs


def lines(args: argparse.Namespace, measured: dict[str, dict]) -> list[str]:
    out = [
        f"{args.towns:,} towns (`gridgov demo load --towns {args.towns} --cases {args.cases}`), "
        f"{args.cases:,} cases; wrk paced at {args.rate:g} requests/s, {args.clients} clients, "
        f"{args.duration} s per run, {args.runs} run(s); `gridgov serve --workers {args.workers}`.",
        "",
        "| layout | locate p99 ms (≤ 10) | intake p99 ms (≤ 25) | errors | one tile ms, median / p99 "
        f"(z{args.tile_zoom}, uncached) | one town's operator page, interactive s (≤ 3) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for layout, m in measured.items():
        tiles = sorted(m["tile_ms"])
        tile = (f"{statistics.median(tiles):.1f} / {tiles[min(len(tiles) - 1, int(len(tiles) * 0.99))]:.1f}"
                if tiles else "—")
        page = spread([p["interactive_ms"] / 1000 for p in m["page"]]) if m["page"] else "not measured"
        errors = sum(r["errors"] for r in m["locate"] + m["intake"])
        out.append(f"| {layout} | {spread([r['p99_ms'] for r in m['locate']], '{:.1f}')} | "
                   f"{spread([r['p99_ms'] for r in m['intake']], '{:.1f}')} | {errors} | {tile} | "
                   f"{page} (town {m['town']}) |")
    # what the machine gave: the same code needs about twice the CPU a report on some of the
    # machines this runs on as on others (docs/scale.md), which a p99 alone does not show
    # the medians as the HTTP section takes them (http_bench.median_of)
    intake = {layout: median_of(m["intake"]) for layout, m in measured.items()}
    cpu = "; ".join(f"{layout} {r['cpu_server_s'] / r['wall_s']:.2f} / "
                    f"{r['cpu_postgres_s'] / r['wall_s']:.2f}" for layout, r in intake.items())
    out += ["", f"CPU during the intake runs, cores of {os.cpu_count()} (median over the runs), "
            f"gunicorn / PostgreSQL (the server's connections): {cpu}."]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--towns", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of gridgov serve")
    parser.add_argument("--tile-zoom", type=int, default=14)
    parser.add_argument("--layouts", default=",".join(LAYOUTS),
                        help=f"comma list of {', '.join(LAYOUTS)}")
    parser.add_argument("--no-page", action="store_true", help="skip the browser's page load")
    parser.add_argument("--no-replica", action="store_true",
                        help="skip measuring the partitioned layout again with a hot standby")
    parser.add_argument("--db-name", default=f"gridgov_bench_province_{os.getpid()}")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="measure a layout's database left by --keep-db (or an interrupted run) "
                             "as it is, without loading it again (give its --db-name)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    parser.add_argument("--section", default="",
                        help="write to a section of its own, named after this text (a measurement "
                             "made beside the main one, say after a change), not the main section")
    add_wrk_options(parser)
    args = parser.parse_args()
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    if not layouts or any(name not in LAYOUTS for name in layouts):
        parser.error(f"--layouts was {args.layouts!r} but each must be one of {list(LAYOUTS)}")
    names = {layout: f"{args.db_name}_{layout}" for layout in layouts}
    measured: dict[str, dict] = {}
    try:
        # The layouts load side by side: a load is INSERT … SELECT statements, one server
        # process each (a core each on two), so two take the time of one. Measuring waits
        # for every load: nothing else runs while a layout is measured.
        with ThreadPoolExecutor(max_workers=len(layouts)) as pool:
            kept = {layout: url_of(names[layout]) for layout in layouts
                    if args.reuse and database_exists(names[layout])}
            for layout, url in kept.items():
                print(f"{layout}: measuring the province already in {names[layout]}", flush=True)
            fresh = [layout for layout in layouts if layout not in kept]
            created = [create(names[layout], layout) for layout in fresh]
            urls = {**kept, **dict(zip(fresh, pool.map(lambda u, layout: load(u, layout, args),
                                                       created, fresh), strict=True))}
        # flat first, dropped once measured: the standby then copies the partitioned one only
        for layout in sorted(layouts, key=lambda layout: layout != "flat"):
            measured[layout] = measure(urls[layout], args)
            if layout == "partitioned" and not args.no_replica:
                with standby_of(names[layout]) as replica_url:
                    measured["partitioned, replica"] = measure(urls[layout], args, replica_url)
            if not args.keep_db:
                drop_named_database(names[layout])
    finally:
        if not args.keep_db:
            for name in names.values():
                drop_named_database(name)
    order = ["partitioned", "partitioned, replica", "flat"]
    measured = {key: measured[key] for key in order if key in measured}
    out = lines(args, measured)
    print("\n".join(out))
    if not args.no_write:
        command = "python bench/province_bench.py " + " ".join(sys.argv[1:])
        section, title = "province", f"A province: {args.towns:,} towns, {args.cases:,} cases"
        if args.section:  # a further measurement beside the main one, not in its place
            section, title = f"province_{args.section}", f"{title}: {args.section}"
        write_section(section, title, out, command.strip())


if __name__ == "__main__":
    main()
