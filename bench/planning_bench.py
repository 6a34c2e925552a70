"""The planner's draft on the benchmark database (the Bagong demo with 1,000,000 cases):
the impact preview of the largest village after an edit (target ≤ 200 ms) and the validation
of a whole-town draft (target ≤ 1 s), issue 11. No peer: no other tool previews what a
boundary change moves among open cases, households and workers.

What it does:

1. finds the demo village with the most households and, in it, the two leaf grids with the
   longest shared edge;
2. as the demo's planner, through the app in this process (Flask's test client: the view, the
   SQL and the JSON, without a network), starts a draft of that village, then ``--runs`` times:
   moves a band along the shared edge from one grid to the other (``PUT …/grids/{code}``
   twice, a different band each run, so each impact follows a real edit; the narrowest band
   holding at least 20 of the grid's households, 1.25× and 1.5× as wide), and times
   ``GET /api/v1/drafts/{id}/impact``;
3. starts a draft of the whole town and times ``GET /api/v1/drafts/{id}/validation``
   ``--runs`` times (after one warm-up);
4. deletes its drafts, reports the median with the lowest and highest run, and writes its
   section of bench/RESULTS.md.

Example:
    .venv/bin/python bench/planning_bench.py                 # GRIDGOV_DATABASE_URL, 5 runs
    .venv/bin/python bench/planning_bench.py --runs 2 --no-write
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import shapely  # noqa: E402
from shapely.geometry import mapping  # noqa: E402

from db.session import conninfo, database_url  # noqa: E402
from results import spread, write_section  # noqa: E402
from servers import bench_token  # noqa: E402

IMPACT_TARGET_S = 0.2
MIN_MOVING = 20
VALIDATION_TARGET_S = 1.0

LARGEST = """
SELECT left(h.grid_code, 12) || '000' AS village, count(*) AS households
  FROM households h GROUP BY 1 ORDER BY 2 DESC LIMIT 1
"""
NEIGHBOURS = """
SELECT a.code, b.code, ST_AsBinary(a.geom), ST_AsBinary(b.geom)
  FROM grids a JOIN grids b ON a.parent_code = b.parent_code AND a.code < b.code
 WHERE a.valid_to IS NULL AND b.valid_to IS NULL AND a.parent_code = %s
   AND a.level <> 'admin' AND b.level <> 'admin' AND ST_Touches(a.geom, b.geom)
   AND EXISTS (SELECT 1 FROM households h WHERE h.grid_code = b.code)
 ORDER BY ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) DESC LIMIT 1
"""


def timed_get(client, path: str) -> tuple[float, dict]:
    """Seconds for ``GET path`` through the app, and its JSON (an error ends the run)."""
    t0 = time.perf_counter()
    answer = client.get(path)
    elapsed = time.perf_counter() - t0
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return elapsed, answer.get_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: GRIDGOV_DATABASE_URL or gridgov db url")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    url = args.database_url or os.environ.get("GRIDGOV_DATABASE_URL") or database_url()
    with psycopg.connect(conninfo(url)) as conn:
        village, households = conn.execute(LARGEST).fetchone()
        a, b, wkb_a, wkb_b = conn.execute(NEIGHBOURS, (village,)).fetchone()
        cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        open_cases = conn.execute(
            "SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'evaluated', 'voided')"
        ).fetchone()[0]
        grids = conn.execute("SELECT count(*) FROM grids WHERE valid_to IS NULL").fetchone()[0]
    old_a, old_b = shapely.from_wkb(bytes(wkb_a)), shapely.from_wkb(bytes(wkb_b))
    # the narrowest band along the shared edge holding at least MIN_MOVING households: an edit
    # that moves people, not empty land
    base = 0.0002
    with psycopg.connect(conninfo(url)) as conn:
        while base < 0.005:
            band = old_b.intersection(old_a.boundary.buffer(base))
            held = conn.execute(
                "SELECT count(*) FROM households h JOIN addresses ad ON ad.id = h.address_id "
                "WHERE h.grid_code = %s AND ST_Intersects(ad.geom, ST_GeomFromText(%s, 4326))",
                (b, band.wkt)).fetchone()[0]
            if held >= MIN_MOVING:
                break
            base *= 1.5
    from web import create_app

    client = create_app({"DATABASE_URL": url}).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {bench_token(url, 'planner')}"
    made: list[int] = []
    try:
        created = client.post("/api/v1/drafts", json={"scope": village})
        assert created.status_code == 201, created.get_data(as_text=True)
        draft = created.get_json()["id"]
        made.append(draft)
        revision = 1
        impact_runs, moved = [], []
        for run in range(args.runs + 1):  # the first is a warm-up
            width = base * (1 + 0.25 * (run % 3))  # a different band each run
            band = old_b.intersection(old_a.boundary.buffer(width))
            for code, geom in ((a, shapely.union(old_a, band)),
                               (b, shapely.difference(old_b, band))):
                put = client.put(f"/api/v1/drafts/{draft}/grids/{code}",
                                 json={"geometry": mapping(shapely.make_valid(geom))},
                                 headers={"If-Match": f'"{revision}"'})
                assert put.status_code == 200, put.get_data(as_text=True)
                revision = put.get_json()["revision"]
            elapsed, found = timed_get(client, f"/api/v1/drafts/{draft}/impact")
            if run:
                impact_runs.append(elapsed)
                moved.append(found["totals_moving"])
        print(f"impact: {spread(impact_runs, '{:.3f}')} s; moved {moved}", flush=True)
        created = client.post("/api/v1/drafts", json={"scope": village[:9]})
        assert created.status_code == 201, created.get_data(as_text=True)
        town_draft = created.get_json()["id"]
        made.append(town_draft)
        validation_runs = []
        for run in range(args.runs + 1):  # the first is a warm-up
            elapsed, report = timed_get(client, f"/api/v1/drafts/{town_draft}/validation")
            if run:
                validation_runs.append(elapsed)
        print(f"validation: {spread(validation_runs, '{:.3f}')} s; "
              f"{len(report['errors'])} errors, {len(report['warnings'])} warnings", flush=True)
    finally:
        with psycopg.connect(conninfo(url)) as conn:
            conn.execute("DELETE FROM drafts WHERE id = ANY(%s)", (made,))
    worst_impact, worst_validation = max(impact_runs), max(validation_runs)
    per_run = ", ".join(f"{m['households']} / {m['open_cases']}" for m in moved)
    lines = [
        f"- data: the benchmark database ({cases:,} cases, {open_cases:,} open; {grids} current "
        f"grids); the largest village by households, {village} ({households:,} households); "
        f"its leaf grids {a} and {b}, which share the longest edge",
        f"- the demo's planner through the app in-process; {args.runs} runs after a warm-up, "
        "each figure the median (lowest–highest run)",
        "",
        "| what | seconds | |",
        "| --- | ---: | --- |",
        f"| impact of the village's draft, after moving a band along the shared edge from one grid "
        f"to the other (two PUTs; the band about {base * 111_320:.0f}–{base * 1.5 * 111_320:.0f} m "
        f"wide, the narrowest holding ≥ {MIN_MOVING} households) | "
        f"{spread(impact_runs, '{:.3f}')} | moving per run (households / open cases): "
        f"{per_run} |",
        f"| validation of a draft of the whole town | {spread(validation_runs, '{:.3f}')} | "
        f"{len(report['errors'])} errors, {len(report['warnings'])} warnings (the demo's own) |",
        "",
        f"Targets (issue 11): impact ≤ {IMPACT_TARGET_S * 1000:.0f} ms — slowest run "
        f"{worst_impact * 1000:.0f} ms, {'met' if worst_impact <= IMPACT_TARGET_S else 'not met'}; "
        f"validation of a whole town ≤ {VALIDATION_TARGET_S:g} s — slowest run "
        f"{worst_validation:.3f} s, "
        f"{'met' if worst_validation <= VALIDATION_TARGET_S else 'not met'}.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("planning", "The planner's draft: impact preview and validation", lines,
                      "python bench/planning_bench.py")


if __name__ == "__main__":
    main()
