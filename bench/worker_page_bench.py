#!/usr/bin/env python3
"""The grid worker's phone page (/worker) as a phone on a weak network would get it: headless
Chromium at 390×844, the CPU throttled 4× (CDP Emulation.setCPUThrottlingRate) and DevTools'
"Fast 3G" profile (Network.emulateNetworkConditions: 562.5 ms latency, 180 KB/s down, 84 KB/s
up). Time to interactive on the first load (empty caches) and on the next load, answered by the
page's service worker from its cache. Writes its section of bench/RESULTS.md.

Interactive: the page's `gridgov-worker-interactive` mark (web/static/js/worker/main.js): the
inbox is drawn — from the phone's IndexedDB copy when it has one, else from the server's
answer — and the page answers taps. Each run is a fresh browser context (no HTTP cache, no
service worker, no IndexedDB), signed in as the demo's grid_worker_1, with geolocation granted
at a point of its grid. `gridgov serve` (2 workers) on the demo (`--cases`) in a throwaway
database.

Targets (DESIGN.md): interactive ≤ 3 s on the first load, ≤ 1 s from the service worker's cache.

  .venv/bin/python bench/worker_page_bench.py [--runs 3] [--cases 4107] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from results import spread, write_section  # noqa: E402
from servers import (  # noqa: E402
    add_server_options, bench_cookie, drop_database, prepare_database, start_gridgov,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ACCOUNT = "grid_worker_1"
# DevTools' "Fast 3G" preset (front_end/core/sdk/NetworkManager.ts): 1.6 Mbit/s down and
# 750 kbit/s up at 90 %, 150 ms × 3.75 latency
FAST_3G = {"offline": False, "latency": 562.5, "downloadThroughput": 1.6 * 1000 * 1000 / 8 * 0.9,
           "uploadThroughput": 750 * 1000 / 8 * 0.9}
CPU_SLOWDOWN = 4
READY = "() => document.body && document.body.dataset.ready === '1'"
MARK = "performance.getEntriesByName('gridgov-worker-interactive')[0].startTime"


def worker_point(url: str) -> tuple[float, float]:
    """A point inside one of the account's grids."""
    import psycopg

    from db.session import conninfo

    with psycopg.connect(conninfo(url)) as conn:
        row = conn.execute("""
            SELECT ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom))
              FROM accounts a JOIN grid_assignments ga ON ga.person_id = a.person_id
              JOIN grids g ON g.code = ga.grid_code AND g.valid_to IS NULL
             WHERE a.name = %s ORDER BY g.code LIMIT 1""", (ACCOUNT,)).fetchone()
    if row is None:
        sys.exit(f"the demo has no account {ACCOUNT} with a grid")
    return row[0], row[1]


def load(page, cap_ms: float) -> dict:
    page.wait_for_function(READY, timeout=cap_ms)
    nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
    resources = page.evaluate(
        "performance.getEntriesByType('resource').map(r => [r.name, r.transferSize, r.encodedBodySize])")
    return {
        "interactive_ms": page.evaluate(MARK),
        "html_ms": nav["responseEnd"],
        "from_service_worker": nav.get("workerStart", 0) > 0,
        "transferred": nav["transferSize"] + sum(r[1] for r in resources),
        "encoded": nav["encodedBodySize"] + sum(r[2] for r in resources),
        "requests": len(resources) + 1,
        "cards": page.evaluate("document.querySelectorAll('#inbox-list .wk-card').length"),
    }


def run_once(browser, base: str, cookie: str, lonlat: tuple[float, float], cap_s: float) -> dict:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
        device_scale_factor=2, locale="zh-CN", permissions=["geolocation"],
        geolocation={"longitude": lonlat[0], "latitude": lonlat[1], "accuracy": 15},
        service_workers="allow")
    context.add_cookies([{"name": "gridgov_session", "value": cookie, "url": base,
                          "httpOnly": True, "sameSite": "Lax"}])
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:"))
            else outside.append(r.url))
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", FAST_3G)
    try:
        page.goto(base + "/worker", wait_until="commit", timeout=cap_s * 1000)
        first = load(page, cap_s * 1000)
        # the service worker installed (page and assets cached) and controlling the page
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=cap_s * 1000)
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.reload(wait_until="commit", timeout=cap_s * 1000)
        cached = load(page, cap_s * 1000)
    finally:
        context.close()
    return {"first": first, "cached": cached, "outside": outside}


def _s(values_ms: list[float]) -> str:
    return spread([v / 1000 for v in values_ms])


def _kb(n: float) -> str:
    return f"{n / 1024:.0f} KB"


def report(args, runs: list[dict], html_bytes: int) -> list[str]:
    first = [r["first"] for r in runs]
    cached = [r["cached"] for r in runs]
    med_first = statistics.median(r["interactive_ms"] for r in first)
    med_cached = statistics.median(r["interactive_ms"] for r in cached)
    outside = sorted({u for r in runs for u in r["outside"]})
    from_sw = sum(1 for r in cached if r["from_service_worker"])
    return [
        f"Demo with {args.cases:,} cases; the demo's `{ACCOUNT}` ({first[0]['cards']} open cases in "
        f"its inbox); headless Debian Chromium at 390×844, CPU {CPU_SLOWDOWN}× slower, DevTools' "
        f"Fast 3G (562.5 ms, 180 KB/s down, 84 KB/s up); {len(runs)} runs, each a fresh browser "
        "context; seconds from navigation start, median (lowest–highest run).",
        "",
        "| load | interactive s | HTML received s | transferred | requests | notes |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| first (empty caches) | **{_s([r['interactive_ms'] for r in first])}** | "
        f"{_s([r['html_ms'] for r in first])} | {_kb(statistics.median(r['transferred'] for r in first))} "
        f"({_kb(statistics.median(r['encoded'] for r in first))} encoded) | {first[0]['requests']} | "
        f"HTML {_kb(html_bytes)} uncompressed |",
        f"| again, from the service worker's cache | **{_s([r['interactive_ms'] for r in cached])}** | "
        f"{_s([r['html_ms'] for r in cached])} | {_kb(statistics.median(r['transferred'] for r in cached))} | "
        f"{cached[0]['requests']} | page answered by the service worker in {from_sw} of {len(runs)} runs; "
        "the inbox drawn from IndexedDB, then refreshed |",
        "",
        f"Targets: first load ≤ 3 s — {'met' if med_first <= 3000 else 'NOT met'} (median "
        f"{med_first / 1000:.2f} s); from the service worker's cache ≤ 1 s — "
        f"{'met' if med_cached <= 1000 else 'NOT met'} (median {med_cached / 1000:.2f} s). "
        f"Requests to other hosts: {len(outside) if outside else 'none'}.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_options(parser, "worker_page")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds before a load is given up")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    import urllib.request

    url = prepare_database(args)
    try:
        lonlat = worker_point(url)
        cookie = bench_cookie(url, ACCOUNT)
        server = start_gridgov(url, workers=args.workers)
        try:
            signed = urllib.request.Request(server.base + "/worker",
                                            headers={"Cookie": f"gridgov_session={cookie}"})
            with urllib.request.urlopen(signed, timeout=60) as answer:  # warm both workers
                html_bytes = len(answer.read())
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                runs = []
                for i in range(args.runs):
                    runs.append(run_once(browser, server.base, cookie, lonlat, args.cap))
                    print(f"run {i + 1}: {runs[-1]}", flush=True)
                browser.close()
        finally:
            server.stop()
    finally:
        drop_database(args)
    lines = report(args, runs, html_bytes)
    print("\n".join(lines))
    if not args.no_write:
        command = "python bench/worker_page_bench.py " + " ".join(sys.argv[1:])
        write_section("worker_page", "Grid worker's phone page (/worker), 4× CPU, Fast 3G", lines,
                      command.strip())


if __name__ == "__main__":
    main()
