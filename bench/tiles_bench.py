"""Benchmark: vector tiles of the ``cases`` table, gridgov against tipg, same database, same run.

What it does:

1. lists every tile covering the town at z12-16 (``--zooms``) and shuffles the list with a
   fixed seed, so every run and both servers fetch the same tiles in the same order;
2. serves the dev database (``gridgov db url``, the demo with 1,000,000 cases; or
   ``--database-url``) twice, on free local ports:

   * tipg (PyPI ``tipg``, FastAPI under uvicorn, ``--workers 2``), publishing only
     ``public.cases`` (``TIPG_DB_TABLES``), with the same selection and properties as
     gridgov's default view: ``filter=status NOT IN (<closed states>)`` and ``properties=id,status,
     category_code,channel,created_at,due_at,grid_code`` (tipg cannot send the computed
     ``overdue``); ``TIPG_MAX_FEATURES_PER_TILE`` raised so its tiles are complete rather
     than cut at 10,000 features; its connections get the settings gridgov's get (JIT off,
     no parallel workers: ``db.session.SERVER_OPTIONS``) as asyncpg server settings in its
     ``DATABASE_URL``, and a route added for the benchmark (bench/tipg_app.py) shows that
     connections from tipg's own pools run with them;
   * ``gridgov serve --workers 2`` (gunicorn, gthread), ``/tiles/cases/{z}/{x}/{y}.pbf``;

3. drives ``--clients`` concurrent keep-alive connections (Python threads, http.client) over
   the list. tipg: one untimed pass (warms PostgreSQL's buffers), then a timed pass — tipg has
   no tile cache, so that is all there is. gridgov: restarted (empty caches), an untimed pass
   over the ``grids`` layer at the same addresses (opens its connections and warms its code,
   as tipg's untimed pass does for tipg, and leaves the cases tiles uncached), a timed cold
   pass, an untimed pass, then a timed warm pass (each of the 2 workers has its own cache;
   the hit ratio of the warm pass is reported);
4. checks that both sent the same cases for a sample of z14+ tiles (below z14 gridgov sends
   buckets with counts and tipg sends every point, so the contents differ there by design);
5. repeats ``--rounds`` times and writes the medians, with the lowest and highest round,
   into its section
   ``<!-- tiles:start -->…<!-- tiles:end -->`` of bench/RESULTS.md (the rest is left alone).

Benchmark numbers taken on a busy machine are noisy: the load average is recorded.

Example:
    .venv/bin/python bench/tiles_bench.py                       # 3 rounds, 8 clients
    .venv/bin/python bench/tiles_bench.py --rounds 1 --zooms 14-15 --no-write
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shlex
import statistics
import sys
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mapbox_vector_tile  # noqa: E402
import mercantile  # noqa: E402
import psycopg  # noqa: E402

from cases.models import OPEN_PREDICATE  # noqa: E402
from db.session import SERVER_OPTIONS, database_url, engine_for  # noqa: E402
from results import every_run, hardware, masked, python_speed_ms, replace_section, spread  # noqa: E402  (bench/, the script's own folder)
from servers import Server, bench_token, free_port, start_gridgov  # noqa: E402
from tiles.mvt import BUCKETS_PER_SIDE, POINTS_MIN_ZOOM  # noqa: E402

SECTION = "tiles"
BIN = Path(sys.executable).parent
PROPERTIES = "id,status,category_code,channel,created_at,due_at,grid_code"
REQUEST_TIMEOUT_S = 120
PASS_TIMEOUT_S = 1800  # a pass that takes longer than this is stopped and reported as such


# -- servers -----------------------------------------------------------------------------------


def _plain_url(url: str) -> str:
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)



def server_settings(options: str) -> dict[str, str]:
    """libpq's ``options`` (``-c name=value`` …, as gridgov sends them) as name → value."""
    words = shlex.split(options)
    if len(words) % 2 or any(flag != "-c" for flag in words[0::2]):
        raise ValueError(f"options {options!r} are not all of the form -c name=value")
    return dict(word.split("=", 1) for word in words[1::2])


def tipg_database_url(url: str) -> str:
    """``url`` for tipg, with the settings gridgov's connections get.

    gridgov sends ``db.session.SERVER_OPTIONS`` as libpq options unless the URL has its own
    ``options=`` (then it sends those). tipg connects with asyncpg, which takes no ``options``
    argument but sends every query parameter of the URL it does not know as a server setting
    (``server_settings``) in the startup packet — where PostgreSQL reads a parameter named
    ``options`` as libpq's. So a URL with its own options is handed over as it is, and
    otherwise each ``-c name=value`` becomes ``?name=value``.
    """
    plain = _plain_url(url)
    parts = urllib.parse.urlsplit(plain)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "options" for name, _ in query):
        return plain
    query += list(server_settings(SERVER_OPTIONS).items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def start_tipg(url: str) -> Server:
    port = free_port()
    env = {
        "DATABASE_URL": tipg_database_url(url),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.cases"]',
        "TIPG_DB_FUNCTIONS": "[]",
        "TIPG_DB_SPATIAL_EXTENT": "false",
        "TIPG_DB_DATETIME_EXTENT": "false",
        "TIPG_MAX_FEATURES_PER_TILE": "1000000",
        "TIPG_DEBUG": "false",
    }
    argv = [
        str(BIN / "uvicorn"), "--app-dir", str(ROOT / "bench"), "tipg_app:app",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "2", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return Server("tipg", argv, env, port, "/collections/public.cases")


def gridgov_path(z: int, x: int, y: int, layer: str = "cases") -> str:
    return f"/tiles/{layer}/{z}/{x}/{y}.pbf"


def tipg_path(z: int, x: int, y: int) -> str:
    query = urllib.parse.urlencode(
        {
            "properties": PROPERTIES,
            # the predicate gridgov's tiles use (cases.models.OPEN_PREDICATE), the form that
            # lets a partial index on open cases answer alone: both servers get the same question
            "filter": OPEN_PREDICATE,
            "filter-lang": "cql2-text",
        }
    )
    return f"/collections/public.cases/tiles/WebMercatorQuad/{z}/{x}/{y}?{query}"


# -- load --------------------------------------------------------------------------------------


def run_pass(
    port: int, paths: list[tuple[int, str]], clients: int, headers: dict | None = None
) -> dict:
    """Fetch every (zoom, path) once with ``clients`` keep-alive connections; latency of each.
    ``headers``: gridgov's tiles need an account (Authorization: Bearer)."""
    results: list[tuple[float, int, int, str, int]] = []
    lock = threading.Lock()
    queue = list(reversed(paths))
    deadline = time.monotonic() + PASS_TIMEOUT_S

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if not queue:
                        return
                    zoom, path = queue.pop()
                t0 = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers or {})
                    response = conn.getresponse()
                    body = response.read()
                    status, cache = response.status, response.getheader("X-Tile-Cache", "")
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
                    body, status, cache = b"", 599, ""
                elapsed = time.perf_counter() - t0
                with lock:
                    results.append((elapsed, status, len(body), cache, zoom))
        finally:
            conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies = sorted(r[0] for r in results)
    errors = sum(1 for r in results if r[1] not in (200, 204))
    hits = sum(1 for r in results if r[3] == "hit")
    by_zoom: dict[int, list[float]] = {}
    for r in results:
        by_zoom.setdefault(r[4], []).append(r[0])
    return {
        "requests": len(results),
        "unfinished": len(paths) - len(results),
        "errors": errors,
        "wall_s": wall,
        "tiles_per_s": len(results) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "mb_per_s": sum(r[2] for r in results) / wall / 1e6,
        "mean_kb": sum(r[2] for r in results) / max(1, len(results)) / 1024,
        "hit_ratio": hits / max(1, len(results)),
        "p50_by_zoom_ms": {z: 1000 * statistics.median(v) for z, v in sorted(by_zoom.items())},
    }


def fetch(port: int, path: str, headers: dict | None = None) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        if response.status not in (200, 204):
            raise RuntimeError(f"{path} answered {response.status}: {body[:300]!r}")
        return body
    finally:
        conn.close()


def case_ids(data: bytes) -> set[int]:
    if not data:
        return set()
    layers = mapbox_vector_tile.decode(data)
    layer = next(iter(layers.values()), {"features": []})
    return {int(f["properties"]["id"]) for f in layer["features"]}


def content_check(
    gridgov: Server, tipg: Server, tiles: list[tuple[int, int, int]], headers: dict
) -> str:
    """Do both servers send the same cases in a sample of tiles carrying points?"""
    sample = [t for t in tiles if t[0] >= POINTS_MIN_ZOOM][:20]
    same = 0
    for t in sample:
        if case_ids(fetch(gridgov.port, gridgov_path(*t), headers)) == case_ids(
            fetch(tipg.port, tipg_path(*t))
        ):
            same += 1
    return (
        f"{same} of {len(sample)} sampled z{POINTS_MIN_ZOOM}+ tiles carry the same case ids from "
        "both servers"
    )


# -- the same connection settings on both sides ------------------------------------------------

CHECKED_SETTINGS = tuple(server_settings(SERVER_OPTIONS))  # jit, max_parallel_workers_per_gather


def gridgov_settings(url: str) -> dict[str, str]:
    """The checked settings of a connection from gridgov's engine (``db.session.engine_for``,
    the code every worker of ``gridgov serve`` opens its pool with)."""
    from sqlalchemy import text

    from db.session import normalise_url

    with engine_for(normalise_url(url)).connect() as conn:
        return {
            name: conn.execute(text("SELECT current_setting(:name)"), {"name": name}).scalar_one()
            for name in CHECKED_SETTINGS
        }


def tipg_settings(tipg: Server, asks: int = 8) -> list[dict]:
    """The checked settings of connections from tipg's own pools, asked ``asks`` times over new
    connections (the answers come from whichever worker took each; bench/tipg_app.py)."""
    query = urllib.parse.urlencode([("name", name) for name in CHECKED_SETTINGS])
    return [json.loads(fetch(tipg.port, f"/_bench/settings?{query}")) for _ in range(asks)]


def settings_check(expected: dict[str, str], answers: list[dict]) -> str:
    """A sentence saying what tipg's connections run with; exits when they differ from gridgov's."""
    differing = [a for a in answers if a["settings"] != expected]
    if differing:
        sys.exit(f"tipg's connections do not run with gridgov's settings {expected}: {differing[0]}")
    shown = ", ".join(f"{k}={v}" for k, v in expected.items())
    workers = len({a["worker_pid"] for a in answers})
    backends = len({a["backend_pid"] for a in answers})
    return (
        f"both servers' connections run with {shown} (gridgov: `db.session.SERVER_OPTIONS` as "
        "libpq options; tipg: the same settings as asyncpg server settings in its `DATABASE_URL`). "
        f"Checked after the timed passes: a connection of gridgov's engine, and {len(answers)} "
        f"connections from tipg's own pools ({backends} backends in {workers} worker "
        f"process{'es' if workers != 1 else ''}, asked through a route bench/tipg_app.py adds) — "
        "all the same"
    )


# -- the run -----------------------------------------------------------------------------------


def town_tiles(url: str, zooms: range) -> tuple[list[tuple[int, int, int]], int]:
    """Every tile covering the town at ``zooms``, shuffled with a fixed seed; and the case count."""
    with psycopg.connect(_plain_url(url)) as conn:
        w, s, e, n = conn.execute(
            "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)"
            " FROM (SELECT ST_Extent(geom) AS b FROM towns) t"
        ).fetchone()
        cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    tiles = [(t.z, t.x, t.y) for t in mercantile.tiles(w, s, e, n, list(zooms))]
    random.Random(7).shuffle(tiles)
    return tiles, cases


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _spread(runs: list[dict], key: str) -> str:
    return spread([r[key] for r in runs], "{:.1f}")


def _row(label: str, runs: list[dict], note: str) -> str:
    return (
        f"| {label} | {_spread(runs, 'tiles_per_s')} | {_spread(runs, 'p50_ms')} | "
        f"{_spread(runs, 'p99_ms')} | {_spread(runs, 'mb_per_s')} | "
        f"{_median(runs, 'mean_kb'):.1f} | {sum(r['errors'] + r['unfinished'] for r in runs)} | "
        f"{note} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="default: the managed dev database (gridgov db url)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--zooms", default="12-16", help="a range, e.g. 12-16")
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave RESULTS.md alone"
    )
    args = parser.parse_args()
    url = args.database_url or database_url()
    low, high = (int(v) for v in args.zooms.split("-"))
    tiles, cases = town_tiles(url, range(low, high + 1))
    load_start = os.getloadavg()
    started = datetime.now(UTC)
    print(
        f"{len(tiles)} tiles at z{low}-{high}, {cases:,} cases, {args.clients} clients, "
        f"{args.rounds} rounds"
    )

    runs: dict[str, list[dict]] = {"tipg": [], "cold": [], "warm": []}
    check = settings = ""
    expected = gridgov_settings(url)
    for n in range(args.rounds):
        tipg = start_tipg(url)
        try:
            tipg_paths = [(t[0], tipg_path(*t)) for t in tiles]
            run_pass(tipg.port, tipg_paths, args.clients)  # warms PostgreSQL's buffers
            runs["tipg"].append(run_pass(tipg.port, tipg_paths, args.clients))
            gridgov = start_gridgov(url, workers=2)
            try:
                paths = [(t[0], gridgov_path(*t)) for t in tiles]
                signed = {"Authorization": f"Bearer {bench_token(url)}"}
                # a started server, as tipg's untimed pass left tipg: its connections open, its
                # code warm, the account read; the grids layer at the same addresses leaves the
                # cases tiles uncached, so the timed pass renders every one of them
                warm_up = [(t[0], gridgov_path(*t, layer="grids")) for t in tiles]
                run_pass(gridgov.port, warm_up, args.clients, signed)
                runs["cold"].append(run_pass(gridgov.port, paths, args.clients, signed))
                run_pass(gridgov.port, paths, args.clients, signed)
                runs["warm"].append(run_pass(gridgov.port, paths, args.clients, signed))
                if n == 0:
                    check = content_check(gridgov, tipg, tiles, signed)
                    settings = settings_check(expected, tipg_settings(tipg))
            finally:
                gridgov.stop()
        finally:
            tipg.stop()
        for name, got in runs.items():
            r = got[-1]
            print(
                f"round {n + 1} {name:5}: {r['tiles_per_s']:7.1f} tiles/s  "
                f"p50 {r['p50_ms']:7.1f} ms  "
                f"p99 {r['p99_ms']:7.1f} ms  {r['mb_per_s']:6.1f} MB/s  errors {r['errors']}  "
                f"unfinished {r['unfinished']}  hits {r['hit_ratio']:.0%}"
            )
    load_end = os.getloadavg()
    print(check)
    print(settings)

    tipg_tps = _median(runs["tipg"], "tiles_per_s")
    ratios = {k: _median(runs[k], "tiles_per_s") / tipg_tps for k in ("cold", "warm")}
    # each round's own ratio (tipg and gridgov of the same round ran back to back)
    round_ratios = {
        k: every_run(
            [g["tiles_per_s"] / t["tiles_per_s"] for g, t in zip(runs[k], runs["tipg"], strict=True)],
            "{:.1f}×",
        )
        for k in ("cold", "warm")
    }
    command = masked(("python bench/tiles_bench.py " + " ".join(sys.argv[1:])).strip())
    noisy = max(load_start[0], load_end[0]) > 0.7
    verdict = {k: "met" if ratios[k] >= 2 else "not met" for k in ratios}
    zooms = sorted(runs["tipg"][0]["p50_by_zoom_ms"])
    lines = [
        f"## Vector tiles of {cases:,} cases: gridgov against tipg",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        (
            f"- machine: {hardware()}; load average {load_start[0]:.2f} at the start, "
            f"{load_end[0]:.2f} at the end; Python's sum(range(10**6)) {python_speed_ms():.1f} ms"
            + (" (other work was running: the numbers are noisy)" if noisy else "")
        ),
        f"- command: `{command}`",
        (
            f"- data: {cases:,} cases; {len(tiles)} tiles covering the town at z{low}-{high}, "
            f"shuffled (seed 7); {args.clients} concurrent keep-alive clients; "
            + ("1 round" if args.rounds == 1
               else f"{args.rounds} rounds, each figure the median (lowest–highest round)")
        ),
        f"- connection settings: {settings}",
        (
            "- passes: tipg one untimed pass, then the timed one; gridgov restarted (empty tile "
            "caches), one untimed pass over the grids layer at the same addresses (its "
            "connections open, as tipg's are), then the timed cold pass, an untimed pass and the "
            "timed warm pass"
        ),
        (
            "- selection: open cases; properties id, status, category_code, channel, created_at, "
            "due_at, grid_code (gridgov adds overdue). tipg was asked with `properties=` and a "
            "CQL2 `filter=status NOT IN (closed states)`; `TIPG_MAX_FEATURES_PER_TILE` raised so that its tiles "
            "are complete; tipg has no tile cache"
        ),
        (
            f"- below z{POINTS_MIN_ZOOM} the contents differ by design: gridgov sends ≤ "
            f"{BUCKETS_PER_SIDE ** 2:,} buckets with counts, tipg every point. Content check: {check}"
        ),
        "",
        "| server | tiles/s | p50 ms | p99 ms | MB/s | mean KB/tile | errors | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        _row(f"tipg {version('tipg')} (uvicorn, 2 workers)", runs["tipg"], "no tile cache"),
        _row(
            "gridgov serve, cold cache",
            runs["cold"],
            f"{ratios['cold']:.1f}× tipg (rounds: {round_ratios['cold']})",
        ),
        _row(
            "gridgov serve, warm cache",
            runs["warm"],
            f"{ratios['warm']:.1f}× tipg (rounds: {round_ratios['warm']}); hit ratio "
            f"{_median(runs['warm'], 'hit_ratio'):.0%}",
        ),
        "",
        "p50 latency by zoom, ms, median (lowest–highest round):",
        "",
        "| server | " + " | ".join(f"z{z}" for z in zooms) + " |",
        "| --- |" + " --- |" * len(zooms),
        *(
            f"| {label} | "
            + " | ".join(spread([r["p50_by_zoom_ms"][z] for r in runs[key]], "{:.1f}") for z in zooms)
            + " |"
            for key, label in (("tipg", "tipg"), ("cold", "gridgov cold"), ("warm", "gridgov warm"))
        ),
        "",
        (
            f"Target ≥ 2× tipg's throughput (medians): cold {verdict['cold']} "
            f"({ratios['cold']:.1f}×; rounds {round_ratios['cold']}), warm {verdict['warm']} "
            f"({ratios['warm']:.1f}×; rounds {round_ratios['warm']})."
        ),
    ]
    print("\n".join(lines))
    if not args.no_write:
        replace_section(SECTION, lines)


if __name__ == "__main__":
    main()
