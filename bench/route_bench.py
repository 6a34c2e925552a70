#!/usr/bin/env python3
"""Bulk routing throughput: the engine of `gridgov route` against PostGIS ST_Covers spatial
joins — the plain one over `grids` and the best we know, over the subdivided `grid_parts` — and
geopandas' sjoin, on the current grids and N uniform random points over the town's bounding
box (some fall outside), in the same run, with every result checked equal to ours point by
point. Target (DESIGN.md): at least 5x the plain PostGIS join.

  .venv/bin/python bench/route_bench.py [--points 1000000] [--runs 3] [--no-write]

Uses GRIDGOV_DATABASE_URL, else the managed cluster (it needs the demo loaded). The points go
into an unlogged table of their own, dropped at the end; nothing else is written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from boundaries.locate import current_grids  # noqa: E402
from cases.bulk import GridRouter  # noqa: E402
from db.session import database_url, engine_for, session_scope  # noqa: E402
from geo.pointindex import PointIndex  # noqa: E402
from results import spread, write_section  # noqa: E402

# The peer as a GIS analyst would write it: the plain grids table, a GiST index on both sides,
# the tie rule (smallest code) by DISTINCT ON ... ORDER BY code.
POSTGIS_JOIN = """
SELECT DISTINCT ON (p.id) p.id, g.code
FROM {table} p
LEFT JOIN grids g ON g.level IN ('regional', 'service') AND g.valid_to IS NULL
                 AND ST_Covers(g.geom, p.geom)
ORDER BY p.id, g.code
"""

# The best PostGIS query we know: the join over grid_parts, the current grids cut by
# ST_Subdivide into pieces of at most 32 vertices with a GiST index (boundaries/models.py
# GridPart), driven by the pieces: for each piece, the points its box finds in the points'
# GiST index, tested by ST_Covers. With the same polygon as the first argument row after row,
# PostGIS prepares it once (its prepared-geometry cache) instead of testing a whole grid
# outline per point; a small piece's box holds few points outside it. Left to itself the
# planner puts the points outside and the pieces inside (as in the plain join): LATERAL with
# OFFSET 0 keeps the pieces outside, MATERIALIZED keeps the outer join from being reordered.
# Points outside every grid come back through the LEFT JOIN. A point on a cut line is covered
# by two pieces of one grid (DISTINCT ON keeps one); the tie rule is the same. Subdividing
# rounds the cut vertices, so a point exactly on an original edge could fall a hair outside
# (boundaries/locate.sql): the check against ours below would show it.
POSTGIS_PARTS_JOIN = """
WITH hit AS MATERIALIZED (
    SELECT inside.id, gp.code
    FROM grid_parts gp
    CROSS JOIN LATERAL (
        SELECT p.id FROM {table} p WHERE ST_Covers(gp.geom, p.geom) OFFSET 0
    ) inside
    WHERE gp.level IN ('regional', 'service')
)
SELECT DISTINCT ON (p.id) p.id, hit.code
FROM {table} p
LEFT JOIN hit ON hit.id = p.id
ORDER BY p.id, hit.code
"""


def timed(fn, runs: int) -> tuple[list[float], object]:
    """The wall time of each of `runs` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def differences(got: np.ndarray, want: np.ndarray) -> int:
    """How many points `got` routes to another grid than `want` (None and NaN: no grid)."""
    return int(sum(not (a == b or (pd.isna(a) and pd.isna(b))) for a, b in zip(got, want, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    url = database_url()
    with session_scope(url) as session:
        grids = current_grids(session)
    leaves = [g for g in grids if g["level"] in ("regional", "service")]
    if not leaves:
        sys.exit("no leaf grids in the database: load the demo first (gridgov demo load)")
    codes = np.array([g["code"] for g in leaves], dtype=object)
    polygons = [g["geometry"] for g in leaves]
    town = shapely.union_all([g["geometry"] for g in grids if g["level"] == "admin"])
    minx, miny, maxx, maxy = town.bounds
    rng = np.random.default_rng(args.seed)
    lon = rng.uniform(minx, maxx, args.points)
    lat = rng.uniform(miny, maxy, args.points)
    n = args.points
    print(f"{len(leaves)} leaf grids, {n:,} points; {args.runs} runs each", flush=True)

    # ours: build (reported apart), then route
    build_s, index = timed(lambda: PointIndex(codes, [g["parent_code"] for g in leaves], polygons),
                           args.runs)
    router_build_s, router = timed(lambda: GridRouter(grids), 1)
    ours_s, ours = timed(lambda: index.codes_of(index.route(lon, lat)), args.runs)
    engine_s, routed = timed(lambda: router.route(lon, lat), args.runs)
    print(f"PointIndex: build {spread(build_s)} s, route {spread(ours_s, '{:.3f}')} s; "
          f"GridRouter {spread(engine_s, '{:.3f}')} s", flush=True)

    # geopandas sjoin, covered_by, the same tie rule
    grid_frame = gpd.GeoDataFrame({"code": codes}, geometry=polygons, crs=4326)

    def sjoin():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
        joined = gpd.sjoin(pts, grid_frame, how="left", predicate="covered_by")
        first = joined.sort_values("code").groupby(level=0, sort=True)["code"].first()
        return first.reindex(range(n)).to_numpy(dtype=object)

    sjoin_s, theirs = timed(sjoin, args.runs)
    print(f"geopandas sjoin: {spread(sjoin_s)} s", flush=True)

    # PostGIS: the points in a table with a GiST index (loading not timed), each join timed
    # from the query to the last row in the client, on a connection opened the way gridgov
    # opens its own (db.session.engine_for: JIT off, no parallel workers), so that the joins
    # and ours run with the same settings
    table = f"bench_route_points_{os.getpid()}"
    pooled = engine_for(url).raw_connection()
    conn: psycopg.Connection = pooled.driver_connection
    conn.autocommit = True
    try:
        load_start = time.perf_counter()
        conn.execute(f"CREATE UNLOGGED TABLE {table} (id integer PRIMARY KEY, "
                     "geom geometry(Point, 4326) NOT NULL)")
        with conn.cursor() as cur, cur.copy(f"COPY {table} (id, geom) FROM STDIN") as copy:
            for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
                copy.write_row((i, f"SRID=4326;POINT({x!r} {y!r})"))
        conn.execute(f"CREATE INDEX ON {table} USING gist (geom)")
        conn.execute(f"ANALYZE {table}")
        load_s = time.perf_counter() - load_start
        settings = {name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]
                    for name in ("jit", "max_parallel_workers_per_gather")}
        parts = conn.execute("SELECT count(*) FROM grid_parts WHERE level IN ('regional', 'service')"
                             ).fetchone()[0]

        def postgis(query: str):
            def run():
                rows = conn.execute(query.format(table=table)).fetchall()
                out = np.empty(n, dtype=object)
                for i, code in rows:
                    out[i] = code
                return out
            return run

        plans, postgis_s, pg = {}, {}, {}
        for name, query in (("plain", POSTGIS_JOIN), ("parts", POSTGIS_PARTS_JOIN)):
            plans[name] = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query.format(table=table)))
            postgis_s[name], pg[name] = timed(postgis(query), args.runs)
            print(f"PostGIS {name} join: {spread(postgis_s[name])} s", flush=True)
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        pooled.close()
    print(f"loading the points into PostGIS: {load_s:.1f} s", flush=True)

    # the same grid for every point, every way, compared with ours (the engine of gridgov route)
    mine = routed.grid_code
    mismatches = {
        "PointIndex": differences(ours, mine),
        "geopandas": differences(theirs, mine),
        "PostGIS plain join": differences(pg["plain"], mine),
        "PostGIS subdivided join": differences(pg["parts"], mine),
    }
    print(mismatches, flush=True)
    outside = int(sum(c is None for c in mine))
    on_boundary = int(routed.on_boundary.sum())
    median_s = {name: statistics.median(times) for name, times in
                (("ours", ours_s), ("engine", engine_s), ("sjoin", sjoin_s),
                 ("plain", postgis_s["plain"]), ("parts", postgis_s["parts"]))}
    rate = {name: n / s for name, s in median_s.items()}
    speedup = rate["engine"] / rate["plain"]

    def row(label: str, key: str, times: list[float], fmt: str) -> str:
        return (f"| {label} | {spread(times, fmt)} | {rate[key]:,.0f} | {rate[key] / rate['plain']:.1f}× | "
                f"{rate[key] / rate['parts']:.1f}× |")

    ok = all(v == 0 for v in mismatches.values())
    lines = [
        f"{len(leaves)} leaf grids of the database's current boundaries ({parts:,} pieces in "
        f"`grid_parts`); {n:,} uniform random points over the town's bounding box ({outside:,} "
        f"outside every grid, {on_boundary} on a boundary); {args.runs} runs each: seconds are the "
        "median (fastest–slowest run), points/s and ratios from the medians.",
        "",
        "| implementation | seconds | points/s | vs PostGIS plain join | vs PostGIS subdivided join |",
        "| --- | --- | --- | --- | --- |",
        row("`gridgov route`'s engine (`cases.bulk.GridRouter.route`: leaf index, admin fallback, flags)",
            "engine", engine_s, "{:.3f}"),
        row("`geo.pointindex.PointIndex.route` + codes (leaf grids only)", "ours", ours_s, "{:.3f}"),
        row("geopandas `sjoin(predicate=\"covered_by\")`, incl. `points_from_xy`, tie rule", "sjoin",
            sjoin_s, "{:.2f}"),
        row("PostGIS subdivided join (each `grid_parts` piece `CROSS JOIN LATERAL` the points it "
            "`ST_Covers`, then `LEFT JOIN` the points, `DISTINCT ON ... ORDER BY code`), to the last row "
            "in the client", "parts", postgis_s["parts"], "{:.2f}"),
        row("PostGIS plain join (`LEFT JOIN grids ... ST_Covers`, `DISTINCT ON ... ORDER BY code`), to "
            "the last row in the client", "plain", postgis_s["plain"], "{:.2f}"),
        "",
        f"Index build, not in the figures above: PointIndex {spread(build_s)} s (raster "
        f"{index._raster.shape[1]}×{index._raster.shape[0]}, {index.mixed_fraction:.1%} of cells need "
        f"the exact test); GridRouter (leaf + admin indexes) {spread(router_build_s)} s; loading the "
        f"points into PostGIS (COPY, GiST, ANALYZE) {load_s:.1f} s. The PostGIS joins ran on a "
        "connection opened as gridgov opens its own (`db.session.engine_for`: "
        + ", ".join(f"{k}={v}" for k, v in settings.items()) + ").",
        "",
        "Results checked equal to ours (`gridgov route`'s engine) point by point: "
        + ", ".join(f"{k} {v} differences" for k, v in mismatches.items()) + ".",
        "",
        f"Target ≥ 5× the PostGIS plain join: {'met' if speedup >= 5 else 'MISSED'} ({speedup:.1f}×); "
        f"against the subdivided join {rate['engine'] / rate['parts']:.1f}× (no target).",
        "",
        "PostGIS plans:",
        "",
        "```",
        "-- subdivided join",
        plans["parts"],
        "",
        "-- plain join",
        plans["plain"],
        "```",
    ]
    command = "python bench/route_bench.py" + "".join(
        f" --{k} {v}" for k, v in (("points", n), ("runs", args.runs)) if v != parser.get_default(k))
    if not args.no_write:
        write_section("route", "Bulk routing: points to grids", lines, command)
    print("\n".join(lines))
    if not ok:
        sys.exit("the implementations disagree: see the counts above")


if __name__ == "__main__":
    main()
