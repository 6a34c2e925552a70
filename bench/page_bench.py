#!/usr/bin/env python3
"""The operator map's page load with every case of the database (1,000,000 in the dev and
bench databases) in headless Chromium, against a plain folium page that puts every open case
on the map as a marker, in the same run. Writes its section of bench/RESULTS.md.

gridgov's page is served by `gridgov serve` (gunicorn, 2 workers) on a free port; the peer is
generated to bench/out/naive_markers/index.html (with our local Leaflet, so neither page
touches the network) and served by Python's http.server. Each run is a fresh browser context
(empty HTTP cache); the server keeps running between runs, so run 1 meets a cold tile cache
and runs 2 and 3 a warm one (every worker has answered the page before run 1).

What "interactive" means:
- gridgov: the `gridgov-interactive` mark of web/static/js/operator.js — every grid polygon is
  drawn (folium's script, synchronous) and the case layer has fetched and drawn every vector
  tile of the first view (Leaflet's first `load` event). Also reported: the day's numbers shown
  (`gridgov-today`), and "responsive": a requestAnimationFrame + setTimeout(0) round trip
  started right after the mark (the main thread is free again), measured from navigation start.
- peer: the `load` event has fired (every marker script ran) and then the same round trip.

The page only reads the database (LISTEN for the live stream included).

  .venv/bin/python bench/page_bench.py [--runs 3] [--cap 120] [--width 1440 --height 900]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import write_section  # noqa: E402
from servers import start_gridgov  # noqa: E402

from db.session import conninfo, database_url  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUT = ROOT / "bench" / "out" / "naive_markers"
MB = 1024 * 1024
RESPONSIVE_JS = "() => new Promise(r => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0)))"


def warm_up(base: str) -> int:
    """A running server: every worker has answered the page once (its first request opens the
    database pool and renders the map). Returns the page's size in bytes."""
    sizes: list[int] = []

    def get() -> None:
        with urllib.request.urlopen(base + "/", timeout=120) as r:
            sizes.append(len(r.read()))

    for _ in range(2):
        threads = [threading.Thread(target=get) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return max(sizes)


def counts(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(conninfo(url)) as conn:
        total = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        opened = conn.execute(
            "SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'evaluated', 'voided') AND geom IS NOT NULL"
        ).fetchone()[0]
    return total, opened


def build_naive_page(url: str) -> tuple[Path, float, int]:
    """The peer: folium.Map + one folium.Marker per open case, assets pointed at our copies."""
    import folium
    import psycopg

    from web.assets import localise

    started = time.perf_counter()
    with psycopg.connect(conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT ST_Y(geom), ST_X(geom) FROM cases "
            "WHERE status NOT IN ('closed', 'evaluated', 'voided') AND geom IS NOT NULL").fetchall()
    m = folium.Map(location=[sum(r[0] for r in rows) / len(rows), sum(r[1] for r in rows) / len(rows)],
                   zoom_start=13, tiles=None)
    for lat, lon in rows:
        folium.Marker([lat, lon]).add_to(m)
    localise(m, static_url=lambda path: "/static/" + path)
    OUT.mkdir(parents=True, exist_ok=True)
    static = OUT / "static"
    if not static.exists():
        static.symlink_to(ROOT / "web" / "static")
    page = OUT / "index.html"
    m.save(str(page))
    return page, time.perf_counter() - started, len(rows)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_static(directory: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def measure_gridgov(browser, base: str, size: tuple[int, int], cap_s: float) -> dict:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((base, "data:")) else outside.append(r.url))
    page.goto(base + "/", wait_until="commit", timeout=cap_s * 1000)
    page.wait_for_function("document.body && document.body.dataset.ready === '1'", timeout=cap_s * 1000)
    ready = page.evaluate("performance.getEntriesByName('gridgov-interactive')[0].startTime")
    responsive = page.evaluate(RESPONSIVE_JS)
    page.wait_for_function("document.body.dataset.todayLoaded === '1'", timeout=cap_s * 1000)
    today = page.evaluate("performance.getEntriesByName('gridgov-today')[0].startTime")
    nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
    resources = page.evaluate("performance.getEntriesByType('resource').map(r => [r.name, r.transferSize])")
    tiles = [r for r in resources if "/tiles/cases/" in r[0]]
    result = {
        "interactive_ms": ready, "responsive_ms": responsive, "today_ms": today,
        "html_ms": nav["responseEnd"], "dcl_ms": nav["domContentLoadedEventEnd"],
        "html_bytes": nav["encodedBodySize"], "tiles": len(tiles),
        "tile_bytes": sum(r[1] for r in tiles), "requests": len(resources) + 1,
        "bytes": nav["transferSize"] + sum(r[1] for r in resources),
        "points": page.evaluate("document.querySelectorAll('path.case-cluster, path.case-point').length"),
        "outside": outside,
    }
    context.close()
    return result


def measure_naive(playwright, base: str, size: tuple[int, int], cap_s: float) -> dict:
    """One load of the peer in its own browser (a page still busy must not slow the next run)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    started = time.monotonic()
    result: dict = {"finished": False}
    try:
        page.goto(base + "/index.html", wait_until="load", timeout=cap_s * 1000)
        nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
        result.update(load_ms=nav["loadEventEnd"], html_ms=nav["responseEnd"],
                      dcl_ms=nav["domContentLoadedEventEnd"], html_bytes=nav["encodedBodySize"])
        left_ms = max(1.0, cap_s - (time.monotonic() - started)) * 1000
        # a predicate polled on animation frames runs only once the main thread is free and
        # paints again; the driver's timer enforces the cap even while the page is stuck
        page.wait_for_function("() => true", polling="raf", timeout=left_ms)
        result.update(finished=True, interactive_ms=page.evaluate("performance.now()"),
                      markers=page.evaluate("document.querySelectorAll('.leaflet-marker-icon').length"))
    except Exception as exc:  # noqa: BLE001 - a timeout is the result to report
        result.update(error=type(exc).__name__, elapsed_s=time.monotonic() - started)
    finally:
        browser.close()
    return result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cap", type=float, default=120.0, help="seconds before a page load is given up")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--skip-naive", action="store_true", help="measure gridgov's page only")
    args = parser.parse_args()
    size = (args.width, args.height)
    from playwright.sync_api import sync_playwright

    url = database_url()
    total, opened = counts(url)
    print(f"{total:,} cases, {opened:,} open", flush=True)
    server = start_gridgov(url, workers=2)
    base = server.base
    ours: list[dict] = []
    naive: list[dict] = []
    build_s = naive_markers = 0
    naive_size = 0
    try:
        html_size = warm_up(base)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for i in range(args.runs):
                ours.append(measure_gridgov(browser, base, size, args.cap))
                print(f"gridgov run {i + 1}: {ours[-1]}", flush=True)
            if not args.skip_naive:
                page, build_s, naive_markers = build_naive_page(url)
                naive_size = page.stat().st_size
                print(f"naive page: {naive_markers:,} markers, {naive_size / MB:.1f} MB, built in {build_s:.1f} s",
                      flush=True)
                static_server, static_port = serve_static(OUT)
                try:
                    for i in range(args.runs):
                        naive.append(measure_naive(p, f"http://127.0.0.1:{static_port}", size, args.cap))
                        print(f"naive run {i + 1}: {naive[-1]}", flush=True)
                        if not naive[-1]["finished"]:
                            break  # a page that did not load in the cap will not on the next run
                finally:
                    static_server.shutdown()
            browser.close()
    finally:
        server.stop()
    write_results(args, size, total, opened, html_size, ours, naive, build_s, naive_markers, naive_size)


def write_results(args, size, total, opened, html_size, ours, naive, build_s, naive_markers, naive_size) -> None:
    def s(ms: float) -> str:
        return f"{ms / 1000:.2f}"

    med = {k: median([r[k] for r in ours]) for k in ("interactive_ms", "responsive_ms", "today_ms", "html_ms", "dcl_ms")}
    runs = ", ".join(s(r["interactive_ms"]) for r in ours)
    lines = [
        f"{total:,} cases in the database, {opened:,} of them open; viewport {size[0]}×{size[1]}, headless "
        f"Debian Chromium; {len(ours)} runs each, medians; each run in a fresh browser context.",
        "",
        "| page | HTML | HTML received s | DOMContentLoaded s | interactive s | responsive s | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| gridgov `/` (`gridgov serve`, 2 workers) | {html_size / 1024:.0f} KB | {s(med['html_ms'])} | "
        f"{s(med['dcl_ms'])} | **{s(med['interactive_ms'])}** (runs: {runs}) | {s(med['responsive_ms'])} | "
        f"{ours[0]['tiles']} case tiles ({ours[0]['tile_bytes'] / 1024:.0f} KB), {ours[0]['points']} clusters drawn; "
        f"{ours[0]['requests']} requests, {ours[0]['bytes'] / 1024:.0f} KB in all; day's numbers shown at "
        f"{s(med['today_ms'])} s |",
    ]
    finished = [r for r in naive if r["finished"]]
    loaded = [r for r in naive if "load_ms" in r]
    peer = f"| naive folium page, one `folium.Marker` per open case (http.server) | {naive_size / MB:.1f} MB | "
    built = f"{naive_markers:,} markers, page built by folium in {build_s:.0f} s"
    if args.skip_naive:
        lines.append("| naive folium page | not measured (`--skip-naive`) | | | | | |")
    elif finished and len(finished) == len(naive):
        nm = {k: median([r[k] for r in finished]) for k in ("interactive_ms", "html_ms", "dcl_ms", "load_ms")}
        lines.append(peer + f"{s(nm['html_ms'])} | {s(nm['dcl_ms'])} | {s(nm['load_ms'])} (load event) | "
                     f"{s(nm['interactive_ms'])} | {built} |")
    else:
        load = (f"load event at {s(median([r['load_ms'] for r in loaded]))} s in {len(loaded)} of {len(naive)} runs"
                if loaded else f"no load event within {args.cap:.0f} s")
        dcl = s(median([r["dcl_ms"] for r in loaded])) if loaded else "—"
        html = s(median([r["html_ms"] for r in loaded])) if loaded else "—"
        lines.append(peer + f"{html} | {dcl} | did not finish in {args.cap:.0f} s ({load}) | "
                     f"did not finish in {args.cap:.0f} s | {built}; runs stop after the first that does not finish |")
    outside = sorted({u for r in ours for u in r["outside"]})
    met_time = med["interactive_ms"] <= 3000
    met_size = html_size <= MB
    lines += [
        "",
        "Interactive: every grid drawn and every case tile of the first view fetched and drawn (the "
        "`gridgov-interactive` mark); responsive: the main thread free again after it (requestAnimationFrame + "
        "setTimeout round trip). The naive page's interactive is its `load` event, its responsive the first animation "
        "frame after it. Run 1 of gridgov meets a cold "
        "tile cache in the server, runs 2-3 a warm one.",
        "",
        f"Targets: interactive ≤ 3 s — {'met' if met_time else 'NOT met'} (median {s(med['interactive_ms'])} s); "
        f"HTML ≤ 1 MB — {'met' if met_size else 'NOT met'} ({html_size / 1024:.0f} KB). "
        f"Requests to other hosts: {len(outside) if outside else 'none'}.",
    ]
    command = "python bench/page_bench.py " + " ".join(sys.argv[1:])
    write_section("page", "Operator map page load", lines, command.strip())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
