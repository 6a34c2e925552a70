#!/usr/bin/env python3
"""Hot spots (Gi*) over the cases in the database: gridgov's analysis against esda's G_Local
with its defaults (star=True for Gi*; 999 permutations, row-standardised weights), on the
same cells, in the same run. Writes its section of bench/RESULTS.md.

Run (the managed database with `gridgov demo load --replace --cases 1000000`):
  .venv/bin/python bench/hotspots_bench.py [--runs 3] [--cell-size 250] [--no-write]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
import warnings
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import machine, spread, write_section  # noqa: E402

from cases.hotspots import case_cells, case_hotspots  # noqa: E402
from db.session import database_url, session_scope  # noqa: E402
from geo.hotspots import DEFAULT_PERMUTATIONS, _neighbour_table  # noqa: E402


def _esda_run(session, cell_size: float) -> float:
    """The peer: the same SQL binning, then libpysal weights and esda.G_Local(star=True)."""
    import esda
    from libpysal.weights import W

    started = time.perf_counter()
    cells = case_cells(session, cell_size_m=cell_size)
    table, _ = _neighbour_table(cells.mask)
    neighbours = {i: [int(j) for j in row if j >= 0] for i, row in enumerate(table)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = W(neighbours, silence_warnings=True)
        esda.G_Local(cells.values[cells.mask], w, star=True, seed=1)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cell-size", type=float, default=250.0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    url = database_url()
    ours, peer = [], []
    with session_scope(url) as session:
        n_cases = session.execute(
            __import__("sqlalchemy").text("SELECT count(*) FROM cases")
        ).scalar()
        case_hotspots(session, cell_size_m=args.cell_size)  # warm the database cache for both
        for _ in range(args.runs):
            started = time.perf_counter()
            result = case_hotspots(session, cell_size_m=args.cell_size)
            ours.append(time.perf_counter() - started)
            peer.append(_esda_run(session, args.cell_size))
    cells = len(result["features"])
    import esda

    esda_permutations = inspect.signature(esda.G_Local).parameters["permutations"].default
    lines = [
        f"Hot spots over {n_cases:,} cases, {cells:,} cells of {args.cell_size:g} m, {args.runs} runs; "
        "seconds are the median (fastest–slowest run).",
        "",
        "| implementation | seconds | what it does |",
        "| --- | --- | --- |",
        f"| gridgov `GET /api/v1/hotspots` path (`case_hotspots`) | {spread(ours)} | SQL binning + Gi* + "
        f"{DEFAULT_PERMUTATIONS} permutations refined where p is small + FDR + GeoJSON |",
        f"| esda {esda.__version__} `G_Local(star=True)`, defaults | {spread(peer)} | the same SQL binning + "
        f"libpysal W + {esda_permutations} permutations (no FDR, no GeoJSON) |",
        "",
        f"Target ≤ 2 s (median): {'met' if statistics.median(ours) <= 2 else 'NOT met'}; runs over 2 s: "
        f"{sum(t > 2 for t in ours)} of {len(ours)}. Classes: {result['properties']['classes']}.",
    ]
    if not args.no_write:
        write_section(
            "hotspots",
            "Hot spots (Gi*) over the cases",
            lines,
            command=f"python bench/hotspots_bench.py --runs {args.runs} --cell-size {args.cell_size:g}",
        )
    print("\n".join(lines))
    print(machine())


if __name__ == "__main__":
    main()
