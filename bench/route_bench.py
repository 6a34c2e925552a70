#!/usr/bin/env python3
"""Bulk routing throughput: the engine of `gridgov route` against a plain PostGIS ST_Covers
spatial join and geopandas' sjoin, on the current grids and N uniform random points over the
town's bounding box (some fall outside), in the same run, with the results checked equal
point by point. Target (DESIGN.md): at least 5x the PostGIS join.

  .venv/bin/python bench/route_bench.py [--points 1000000] [--runs 3]

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
from db.session import conninfo, database_url, session_scope  # noqa: E402
from geo.pointindex import PointIndex  # noqa: E402
from results import write_section  # noqa: E402

# The peer as a GIS analyst would write it: the plain grids table (not the subdivided
# grid_parts), a GiST index on both sides, the tie rule by DISTINCT ON ... ORDER BY code.
POSTGIS_JOIN = """
SELECT DISTINCT ON (p.id) p.id, g.code
FROM {table} p
LEFT JOIN grids g ON g.level IN ('regional', 'service') AND g.valid_to IS NULL
                 AND ST_Covers(g.geom, p.geom)
ORDER BY p.id, g.code
"""


def timed(fn, runs: int) -> tuple[float, object]:
    """The median wall time of `runs` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
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

    # (c) ours: build (reported apart), then route
    build_s, index = timed(lambda: PointIndex(codes, [g["parent_code"] for g in leaves], polygons),
                           args.runs)
    router_build_s, router = timed(lambda: GridRouter(grids), 1)
    ours_s, ours = timed(lambda: index.codes_of(index.route(lon, lat)), args.runs)
    engine_s, routed = timed(lambda: router.route(lon, lat), args.runs)
    print(f"PointIndex: build {build_s:.2f} s, route {ours_s:.3f} s; GridRouter {engine_s:.3f} s",
          flush=True)

    # (b) geopandas sjoin, covered_by, the same tie rule
    grid_frame = gpd.GeoDataFrame({"code": codes}, geometry=polygons, crs=4326)

    def sjoin():
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
        joined = gpd.sjoin(pts, grid_frame, how="left", predicate="covered_by")
        first = joined.sort_values("code").groupby(level=0, sort=True)["code"].first()
        return first.reindex(range(n)).to_numpy(dtype=object)

    sjoin_s, theirs = timed(sjoin, args.runs)
    print(f"geopandas sjoin: {sjoin_s:.2f} s", flush=True)

    # (a) PostGIS: the points in a table with a GiST index (loading not timed), the join timed
    # from the query to the last row in the client
    table = f"bench_route_points_{os.getpid()}"
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
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
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + POSTGIS_JOIN.format(table=table)))

            def postgis():
                rows = conn.execute(POSTGIS_JOIN.format(table=table)).fetchall()
                out = np.empty(n, dtype=object)
                for i, code in rows:
                    out[i] = code
                return out

            postgis_s, pg = timed(postgis, args.runs)
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    print(f"PostGIS join: {postgis_s:.2f} s (loading {load_s:.1f} s)", flush=True)

    # the same grid for every point, all four ways
    mismatches = {
        "PointIndex vs PostGIS": int((ours != pg).sum()),
        "GridRouter vs PostGIS": int((routed.grid_code != pg).sum()),
        "geopandas vs PostGIS": int(sum(a != b and not (a is None and pd.isna(b))
                                        for a, b in zip(pg, theirs, strict=True))),
    }
    print(mismatches, flush=True)
    outside = int(sum(c is None for c in pg))
    on_boundary = int(routed.on_boundary.sum())
    rate = {name: n / s for name, s in
            (("ours", ours_s), ("engine", engine_s), ("sjoin", sjoin_s), ("postgis", postgis_s))}
    speedup = rate["engine"] / rate["postgis"]
    ok = all(v == 0 for v in mismatches.values())
    lines = [
        f"{len(leaves)} leaf grids of the database's current boundaries; {n:,} uniform random "
        f"points over the town's bounding box ({outside:,} outside every grid, {on_boundary} on a "
        f"boundary); medians of {args.runs} runs.",
        "",
        "| implementation | seconds | points/s | vs PostGIS |",
        "| --- | --- | --- | --- |",
        f"| `gridgov route`'s engine (`cases.bulk.GridRouter.route`: leaf index, admin fallback, "
        f"flags) | {engine_s:.3f} | {rate['engine']:,.0f} | {speedup:.1f}× |",
        f"| `geo.pointindex.PointIndex.route` + codes (leaf grids only) | {ours_s:.3f} | "
        f"{rate['ours']:,.0f} | {rate['ours'] / rate['postgis']:.1f}× |",
        f"| geopandas `sjoin(predicate=\"covered_by\")`, incl. `points_from_xy`, tie rule | "
        f"{sjoin_s:.2f} | {rate['sjoin']:,.0f} | {rate['sjoin'] / rate['postgis']:.1f}× |",
        f"| PostGIS plain join (`LEFT JOIN grids ... ST_Covers`, `DISTINCT ON ... ORDER BY code`), "
        f"to the last row in the client | {postgis_s:.2f} | {rate['postgis']:,.0f} | 1.0× |",
        "",
        f"Index build, not in the figures above: PointIndex {build_s:.2f} s (raster "
        f"{index._raster.shape[1]}×{index._raster.shape[0]}, {index.mixed_fraction:.1%} of cells need "
        f"the exact test); GridRouter (leaf + admin indexes) {router_build_s:.2f} s; loading the "
        f"points into PostGIS (COPY, GiST, ANALYZE) {load_s:.1f} s.",
        "",
        "Results checked equal point by point: "
        + ", ".join(f"{k}: {v} differences" for k, v in mismatches.items()) + ".",
        "",
        f"Target ≥ 5× the PostGIS join: {'met' if speedup >= 5 else 'MISSED'} ({speedup:.1f}×).",
        "",
        "PostGIS plan:",
        "",
        "```",
        plan,
        "```",
    ]
    command = "python bench/route_bench.py" + "".join(
        f" --{k} {v}" for k, v in (("points", n), ("runs", args.runs)) if v != parser.get_default(k))
    write_section("route", "Bulk routing: points to grids", lines, command)
    print("\n".join(lines))
    if not ok:
        sys.exit("the implementations disagree: see the counts above")


if __name__ == "__main__":
    main()
