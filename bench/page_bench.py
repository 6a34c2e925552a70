#!/usr/bin/env python3
"""The operator map's page load with every case of the database (1,000,000 in the dev and
bench databases) in headless Chromium, against two folium pages that put every open case on
the map, in the same run: a plain one with a marker per case, and one with folium's
FastMarkerCluster, the plugin folium offers for many points. Writes its section of
bench/RESULTS.md.

gridgov's page is served by `gridgov serve` (gunicorn, 2 workers) on a free port; the peers
are generated to bench/out/peer_pages/ (with our local Leaflet and Leaflet.markercluster, so
no page touches the network: every request to another host is counted and reported) and
served by Python's http.server. Each run is a fresh browser context (empty HTTP cache); the
server keeps running between runs, so run 1 meets a cold tile cache and the later runs a warm
one (every worker has answered the page before run 1).

What "interactive" means:
- gridgov: the `gridgov-interactive` mark of web/static/js/operator.js — every grid polygon is
  drawn (folium's script, synchronous) and the case layer has fetched and drawn every vector
  tile of the first view (Leaflet's first `load` event). Also reported: the day's numbers shown
  (`gridgov-today`), and "responsive": a requestAnimationFrame + setTimeout(0) round trip
  started right after the mark (the main thread is free again), measured from navigation start.
- peers: the `load` event has fired (every marker script ran; FastMarkerCluster makes its
  markers and clusters in a script of the page) and then the first animation frame after it.

The page only reads the database (LISTEN for the live stream included).

  .venv/bin/python bench/page_bench.py [--runs 3] [--cap 120] [--width 1440 --height 900]
                                       [--peers naive,fastcluster] [--no-write]
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

from results import spread, write_section  # noqa: E402
from servers import bench_cookie, bench_token, start_gridgov  # noqa: E402

from cases.models import OPEN_PREDICATE  # noqa: E402
from db.session import conninfo, database_url  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUT = ROOT / "bench" / "out" / "peer_pages"
MB = 1024 * 1024
RESPONSIVE_JS = "() => new Promise(r => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0)))"


def warm_up(base: str, token: str) -> int:
    """A running server: every worker has answered the page once (its first request opens the
    database pool and renders the map). Returns the page's size in bytes."""
    sizes: list[int] = []

    def get() -> None:
        signed = urllib.request.Request(base + "/", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(signed, timeout=120) as r:
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
            f"SELECT count(*) FROM cases WHERE {OPEN_PREDICATE} AND geom IS NOT NULL"
        ).fetchone()[0]
    return total, opened


def open_case_points(url: str) -> list[tuple[float, float]]:
    """(lat, lon) of every open case with a location: what both peer pages show."""
    import psycopg

    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(
            f"SELECT ST_Y(geom), ST_X(geom) FROM cases WHERE {OPEN_PREDICATE} AND geom IS NOT NULL"
        ).fetchall()


def _peer_map(points: list[tuple[float, float]]):
    import folium

    centre = [sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)]
    # maxZoom: without a tile layer the map has none, and Leaflet.markercluster refuses such a
    # map ("Map has no maxZoom specified"); 18 is what OpenStreetMap's tiles would set
    return folium.Map(location=centre, zoom_start=13, tiles=None, maxZoom=18)


def _save(m, name: str) -> Path:
    """Write a peer page under OUT with our local Leaflet and plugins (no other host)."""
    from web.assets import localise

    localise(m, static_url=lambda path: "/static/" + path)
    OUT.mkdir(parents=True, exist_ok=True)
    static = OUT / "static"
    if not static.exists():
        static.symlink_to(ROOT / "web" / "static")
    page = OUT / name
    m.save(str(page))
    return page


def build_naive_page(points: list[tuple[float, float]]) -> Path:
    """The first peer: folium.Map + one folium.Marker per open case."""
    import folium

    m = _peer_map(points)
    for lat, lon in points:
        folium.Marker([lat, lon]).add_to(m)
    return _save(m, "naive_markers.html")


def build_fast_cluster_page(points: list[tuple[float, float]]) -> Path:
    """The second peer: folium's FastMarkerCluster, made for many points: the coordinates go
    into the page as one JavaScript array and its script makes the markers into
    Leaflet.markercluster in the browser, instead of one folium element (and script) each."""
    from folium.plugins import FastMarkerCluster

    m = _peer_map(points)
    FastMarkerCluster([[lat, lon] for lat, lon in points]).add_to(m)
    return _save(m, "fast_marker_cluster.html")


# name -> (label in RESULTS.md, page builder)
PEERS = {
    "naive": ("naive folium page, one `folium.Marker` per open case", build_naive_page),
    "fastcluster": ("folium `FastMarkerCluster` of every open case", build_fast_cluster_page),
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_static(directory: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def measure_gridgov(browser, base: str, size: tuple[int, int], cap_s: float, cookie: str) -> dict:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    # the operator map needs an account: the demo town operator's session
    context.add_cookies([{"name": "gridgov_session", "value": cookie, "url": base, "httpOnly": True,
                          "sameSite": "Lax"}])
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((base, "data:")) else outside.append(r.url))
    page.goto(base + "/", wait_until="commit", timeout=cap_s * 1000)
    page.wait_for_function("() => document.body && document.body.dataset.ready === '1'",
                           timeout=cap_s * 1000)
    ready = page.evaluate("performance.getEntriesByName('gridgov-interactive')[0].startTime")
    responsive = page.evaluate(RESPONSIVE_JS)
    page.wait_for_function("() => document.body.dataset.todayLoaded === '1'",
                           timeout=cap_s * 1000)
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


def measure_peer(playwright, base: str, name: str, size: tuple[int, int], cap_s: float) -> dict:
    """One load of a peer page in its own browser (a page still busy must not slow the next
    run): its `load` event, then the first animation frame after it (the main thread free)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}).new_page()
    outside: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((base, "data:")) else outside.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    started = time.monotonic()
    result: dict = {"finished": False, "outside": outside, "script_errors": errors}
    try:
        page.goto(f"{base}/{name}", wait_until="load", timeout=cap_s * 1000)
        nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
        result.update(load_ms=nav["loadEventEnd"], html_ms=nav["responseEnd"],
                      dcl_ms=nav["domContentLoadedEventEnd"], html_bytes=nav["encodedBodySize"])
        left_ms = max(1.0, cap_s - (time.monotonic() - started)) * 1000
        # a predicate polled on animation frames runs only once the main thread is free and
        # paints again; the driver's timer enforces the cap even while the page is stuck
        page.wait_for_function("() => true", polling="raf", timeout=left_ms)
        resources = page.evaluate("performance.getEntriesByType('resource').map(r => r.transferSize)")
        result.update(
            finished=True, responsive_ms=page.evaluate("performance.now()"),
            requests=len(resources) + 1, bytes=nav["transferSize"] + sum(resources),
            icons=page.evaluate("document.querySelectorAll('.leaflet-marker-icon').length"),
            clusters=page.evaluate("document.querySelectorAll('.marker-cluster').length"),
        )
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
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma list of the peer pages to measure, of {', '.join(PEERS)} ('' for none)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    peers = [name.strip() for name in args.peers.split(",") if name.strip()]
    unknown = [name for name in peers if name not in PEERS]
    if unknown:
        parser.error(f"--peers was {args.peers!r} but {unknown} are not in {list(PEERS)}")
    size = (args.width, args.height)
    from playwright.sync_api import sync_playwright

    url = database_url()
    total, opened = counts(url)
    print(f"{total:,} cases, {opened:,} open", flush=True)
    server = start_gridgov(url, workers=2)
    base = server.base
    ours: list[dict] = []
    measured: dict[str, dict] = {}
    try:
        html_size = warm_up(base, bench_token(url))
        cookie = bench_cookie(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for i in range(args.runs):
                ours.append(measure_gridgov(browser, base, size, args.cap, cookie))
                print(f"gridgov run {i + 1}: {ours[-1]}", flush=True)
            browser.close()
            points = open_case_points(url) if peers else []
            for name in peers:
                started = time.perf_counter()
                page = PEERS[name][1](points)
                peer = {"build_s": time.perf_counter() - started, "size": page.stat().st_size, "runs": []}
                measured[name] = peer
                print(f"{name} page: {len(points):,} points, {peer['size'] / MB:.1f} MB, built in "
                      f"{peer['build_s']:.1f} s", flush=True)
                static_server, static_port = serve_static(OUT)
                try:
                    for i in range(args.runs):
                        peer["runs"].append(
                            measure_peer(p, f"http://127.0.0.1:{static_port}", page.name, size, args.cap))
                        print(f"{name} run {i + 1}: {peer['runs'][-1]}", flush=True)
                        if not peer["runs"][-1]["finished"]:
                            break  # a page that did not load in the cap will not on the next run
                finally:
                    static_server.shutdown()
    finally:
        server.stop()
    lines = results(args, size, total, opened, html_size, ours, measured, len(points) if peers else 0)
    print("\n".join(lines))
    broken = {name: r["script_errors"] for name, peer in measured.items() for r in peer["runs"] if r["script_errors"]}
    if broken:
        sys.exit(f"script errors on a peer page, its figures mean nothing: {broken}")
    if not args.no_write:
        command = "python bench/page_bench.py " + " ".join(sys.argv[1:])
        write_section("page", "Operator map page load", lines, command.strip())


def _s(values_ms: list[float]) -> str:
    """Seconds over the runs: median (lowest–highest)."""
    return spread([v / 1000 for v in values_ms])


def _size(n_bytes: float) -> str:
    return f"{n_bytes / MB:.1f} MB" if n_bytes >= MB else f"{n_bytes / 1024:.0f} KB"


def _peer_row(args, name: str, peer: dict, points: int) -> str:
    label = f"{PEERS[name][0]} (http.server)"
    built = f"{points:,} points, page built by folium in {peer['build_s']:.1f} s"
    runs = peer["runs"]
    finished = [r for r in runs if r["finished"]]
    loaded = [r for r in runs if "load_ms" in r]
    if finished and len(finished) == len(runs):
        f0 = finished[0]
        drawn = (f"{f0['clusters']:,} clusters" if f0["clusters"] else f"{f0['icons']:,} markers")
        return (
            f"| {label} | {_size(peer['size'])} | {_size(median([r['bytes'] for r in finished]))} | "
            f"{_s([r['html_ms'] for r in finished])} | {_s([r['dcl_ms'] for r in finished])} | "
            f"{_s([r['load_ms'] for r in finished])} (load event) | {_s([r['responsive_ms'] for r in finished])} | "
            f"{built}; {drawn} drawn; {f0['requests']} requests |"
        )
    load = (f"load event at {_s([r['load_ms'] for r in loaded])} s in {len(loaded)} of {len(runs)} runs"
            if loaded else f"no load event within {args.cap:.0f} s")
    dcl = _s([r["dcl_ms"] for r in loaded]) if loaded else "—"
    html = _s([r["html_ms"] for r in loaded]) if loaded else "—"
    return (f"| {label} | {_size(peer['size'])} | — | {html} | {dcl} | did not finish in {args.cap:.0f} s ({load}) | "
            f"did not finish in {args.cap:.0f} s | {built}; runs stop after the first that does not finish |")


def results(args, size, total, opened, html_size, ours, measured, points) -> list[str]:
    """The section's lines: every time as median (lowest–highest run)."""
    interactive = median([r["interactive_ms"] for r in ours])
    lines = [
        f"{total:,} cases in the database, {opened:,} of them open; viewport {size[0]}×{size[1]}, headless "
        f"Debian Chromium; {len(ours)} runs each, each in a fresh browser context; times in seconds from "
        "navigation start, median (lowest–highest run); transferred: every byte the page fetched (median).",
        "",
        "| page | HTML | transferred | HTML received s | DOMContentLoaded s | interactive s | responsive s | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| gridgov `/` (`gridgov serve`, 2 workers) | {_size(html_size)} | "
        f"{_size(median([r['bytes'] for r in ours]))} | {_s([r['html_ms'] for r in ours])} | "
        f"{_s([r['dcl_ms'] for r in ours])} | **{_s([r['interactive_ms'] for r in ours])}** | "
        f"{_s([r['responsive_ms'] for r in ours])} | {ours[0]['tiles']} case tiles "
        f"({_size(ours[0]['tile_bytes'])}), {ours[0]['points']} clusters drawn; {ours[0]['requests']} requests; "
        f"day's numbers shown at {_s([r['today_ms'] for r in ours])} s |",
    ]
    for name, peer in measured.items():
        lines.append(_peer_row(args, name, peer, points))
    for name in PEERS:
        if name not in measured:
            lines.append(f"| {PEERS[name][0]} | not measured (`--peers {args.peers}`) | | | | | | |")
    outside = sorted({u for r in ours for u in r["outside"]}
                     | {u for peer in measured.values() for r in peer["runs"] for u in r["outside"]})
    warm = "run 2 on a warm one" if len(ours) == 2 else f"runs 2–{len(ours)} on a warm one"
    cache = f"; run 1 of gridgov meets a cold tile cache in the server, {warm}" if len(ours) > 1 else ""
    lines += [
        "",
        "Interactive: every grid drawn and every case tile of the first view fetched and drawn (the "
        "`gridgov-interactive` mark); responsive: the main thread free again after it (requestAnimationFrame + "
        "setTimeout round trip). A peer page's interactive is its `load` event (folium's scripts have made "
        "every marker by then), its responsive the first animation frame after it. The peer pages use our local "
        f"copies of Leaflet and Leaflet.markercluster{cache}.",
        "",
        f"Targets: interactive ≤ 3 s — {'met' if interactive <= 3000 else 'NOT met'} (median "
        f"{interactive / 1000:.2f} s); HTML ≤ 1 MB — {'met' if html_size <= MB else 'NOT met'} "
        f"({_size(html_size)}). Requests to other hosts, from any page: {len(outside) if outside else 'none'}.",
    ]
    return lines


if __name__ == "__main__":
    main()
