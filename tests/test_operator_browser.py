"""The operator's live map in a real browser (headless Debian Chromium) on private copies of the
Bagong demo: the grids and case clusters draw, a case POSTed through the API appears on the open
map without a reload, so does a change made by another connection and one made through another
server process (also after that process restarts), a grid click opens the right numbers, the hot
spot layer draws, nothing is fetched from another host, no script error, and a description typed
as HTML shows as text. Each test waits for what it expects, with the ceiling of tests/waits.py;
how soon a case shows (DESIGN.md: p95 within 2 s) is measured by bench/live_bench.py. Saves
operator.png, operator-grid-panel.png, operator-hotspots.png and case.png in tests/artifacts.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
from playwright.sync_api import Page
from sqlalchemy.engine import make_url

from db.cluster import free_port
from db.driver import driver_sql
from db.session import engine_for
from db.statements import named_statements
from geo.layers.cases import STATUS_COLORS
from tests.accounts_support import signed_page
from tests.conftest import DEMO_TOKENS
from tests.servers import start_server, stop_server  # gridgov serve, one worker
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.waits import HANG_MS, HANG_S

XSS = "<img src=x onerror=alert(1)>"
OPEN = "('collected', 'filed', 'dispatched', 'handling', 'escalated', 'fed_back', 'returned', 'parked')"
# resolves once the browser has painted what the page has drawn so far (two frames: the one
# being prepared, and the one after it is on screen)
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def query(url: str, sql: str, **params) -> list[dict]:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def stop_listener(url: str) -> None:
    """Stop this process's live listener for a test database that is about to be dropped."""
    from web.live import hub_for

    hub_for(libpq(url)).stop()


@pytest.fixture
def demo_live(demo_copy_url, app_server) -> Iterator[tuple[str, str]]:
    """(base URL, database URL): the app on a private copy of the demo, on 127.0.0.1."""
    server = app_server(demo_copy_url)
    try:
        yield server.base, demo_copy_url
    finally:
        server.stop()
        stop_listener(demo_copy_url)
        engine_for(demo_copy_url).dispose()


def post_case(base: str, lon: float, lat: float, description: str = XSS) -> dict:
    """POST /api/v1/cases over HTTP, as any client would."""
    body = {"category": "patrol.exposed_rubbish", "description": description, "channel": "resident",
            "location": {"lon": lon, "lat": lat}}
    request = urllib.request.Request(base + "/api/v1/cases", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=HANG_S) as response:
        assert response.status == 201
        return json.loads(response.read())


def busy_service_grid(url: str) -> dict:
    """The service grid with the most open cases: its code and a point inside it."""
    return query(url, f"""
        SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
        FROM grids g JOIN cases c ON c.grid_code = g.code AND c.status IN {OPEN}
        WHERE g.level = 'service' AND g.valid_to IS NULL
        GROUP BY g.id ORDER BY count(*) DESC, g.code LIMIT 1""")[0]


def open_map(page: Page, base: str) -> None:
    page.goto(base + "/")
    page.wait_for_function("() => document.body.dataset.ready === '1' && document.body.dataset.todayLoaded === '1'")
    page.wait_for_function("() => document.getElementById('live-state').dataset.state === 'on'")


def set_view(page: Page, lat: float, lon: float, zoom: int) -> None:
    """Move the map and wait until the case tiles of the new view are drawn."""
    page.evaluate("""([lat, lon, zoom]) => new Promise(resolve => {
        const map = window[document.querySelector('.folium-map').id];
        let layer; map.eachLayer(l => { if (l.setUrl && l._vectorTiles) layer = l; });
        layer.once('load', () => resolve());
        map.setView([lat, lon], zoom, {animate: false});
    })""", [lat, lon, zoom])


def click_lonlat(page: Page, lon: float, lat: float) -> None:
    x, y = page.evaluate("""([lat, lon]) => {
        const el = document.querySelector('.folium-map');
        const point = window[el.id].latLngToContainerPoint([lat, lon]);
        const box = el.getBoundingClientRect();
        return [box.left + point.x, box.top + point.y];
    }""", [lat, lon])
    page.mouse.click(x, y)


def outside_requests(watch: Watcher, *bases: str) -> list[str]:
    return [u for u in watch.requests if not u.startswith(tuple(b + "/" for b in bases) + ("data:",))]


def test_grids_and_clusters_draw_and_a_posted_case_appears_on_the_open_map_as_text(
    browser, demo_live, artifacts_dir  # noqa: F811
):
    base, url = demo_live
    page = signed_page(browser, base, url, viewport={"width": 1440, "height": 900}, locale="zh-CN")
    watch = Watcher(page)
    open_map(page, base)

    # every grid is drawn, and the open cases as clusters whose counts add up to the open cases
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() >= 419
    counts = page.eval_on_selector_all("path.case-cluster", "ps => ps.map(p => +p.dataset.count)")
    open_cases = query(url, f"SELECT count(*) AS n FROM cases WHERE status IN {OPEN}")[0]["n"]
    assert counts and abs(sum(counts) - open_cases) <= 3  # a point on a tile edge counts twice
    assert page.locator("text.case-cluster-count").count() == len(counts)
    assert int(page.locator("#today-open").inner_text().replace(",", "")) == open_cases
    page.screenshot(path=str(artifacts_dir / "operator.png"))

    grid = busy_service_grid(url)
    set_view(page, grid["lat"], grid["lon"], 17)
    assert page.locator("path.case-point").count() > 0
    case = post_case(base, grid["lon"], grid["lat"])
    point = page.locator(f'path.case-point[data-case-id="{case["id"]}"]')
    point.wait_for(state="attached", timeout=HANG_MS)
    item = page.locator(f'#latest-list li[data-case-id="{case["id"]}"]')
    item.wait_for(timeout=HANG_MS)
    page.wait_for_function(
        "id => document.querySelector(`#latest-list li[data-case-id='${id}'] .description`).textContent !== ''",
        arg=case["id"])
    assert item.locator(".description").inner_text() == XSS
    assert item.locator(".category").inner_text() == "暴露垃圾"

    # its popup: fetched from the API and shown as text
    click_lonlat(page, grid["lon"], grid["lat"])
    popup = page.locator(f'.case-popup[data-case-id="{case["id"]}"] .description')
    popup.wait_for()
    assert popup.inner_text() == XSS
    page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
    assert page.locator("img[src='x']").count() == 0

    # every link from the map leads to the case page, where the description is text too
    page.locator(".case-popup a").click()
    page.wait_for_url(f"**/cases/{case['id']}")
    page.wait_for_load_state("networkidle")
    assert page.locator("dd.description").inner_text() == XSS
    assert page.locator(".small-map path").count() >= 2  # the grid outline and the point
    page.screenshot(path=str(artifacts_dir / "case.png"), full_page=True)

    assert page.locator("img[src='x']").count() == 0
    assert watch.dialogs == []
    assert watch.errors == []
    assert outside_requests(watch, base) == []
    page.close()


def test_filters_repoint_the_case_tiles(browser, demo_live):  # noqa: F811
    base, url = demo_live
    page = signed_page(browser, base, url, viewport={"width": 1280, "height": 800})
    watch = Watcher(page)
    open_map(page, base)
    page.wait_for_function("() => document.querySelectorAll('#f-category option').length > 40")
    before = len(watch.requests)
    page.select_option("#f-state", "escalated")
    page.select_option("#f-category", "hazard")
    page.select_option("#f-channel", "hotline")
    page.select_option("#f-window", "30")
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    page.wait_for_load_state("networkidle")
    tiles = [u for u in watch.requests[before:] if "/tiles/cases/" in u]
    last = tiles[-1]
    assert "status=escalated" in last and "category=hazard" in last and "channel=hotline" in last
    assert "since=" in last and "open=" not in last
    assert watch.errors == []
    page.close()


def test_a_change_made_by_another_connection_shows_on_the_open_map(browser, demo_live):  # noqa: F811
    base, url = demo_live
    page = signed_page(browser, base, url, viewport={"width": 1280, "height": 800})
    watch = Watcher(page)
    open_map(page, base)
    case = query(url, "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM cases "
                      "WHERE status = 'dispatched' ORDER BY id LIMIT 1")[0]
    set_view(page, case["lat"], case["lon"], 17)
    point = page.locator(f'path.case-point[data-case-id="{case["id"]}"]')
    assert point.count() >= 1
    escalated = STATUS_COLORS["escalated"]
    query(url, "UPDATE cases SET status = 'escalated', updated_at = now() WHERE id = %(id)s", id=case["id"])
    page.locator(f'#latest-list li[data-case-id="{case["id"]}"][data-op="update"]').wait_for(timeout=HANG_MS)
    page.wait_for_function(
        "([id, color]) => [...document.querySelectorAll(`path.case-point[data-case-id='${id}']`)]"
        ".some(p => p.getAttribute('fill') === color)", arg=[case["id"], escalated], timeout=HANG_MS)
    # closing it takes it off the map of open cases
    query(url, "UPDATE cases SET status = 'closed', closed_at = now() WHERE id = %(id)s", id=case["id"])
    page.wait_for_function(
        "id => !document.querySelector(`path.case-point[data-case-id='${id}']`)", arg=case["id"], timeout=HANG_MS)
    assert watch.errors == []
    page.close()


def test_clicking_a_grid_opens_its_panel_with_the_right_numbers(browser, demo_live, artifacts_dir):  # noqa: F811
    base, url = demo_live
    page = signed_page(browser, base, url, viewport={"width": 1440, "height": 900}, locale="zh-CN")
    watch = Watcher(page)
    open_map(page, base)
    grid = busy_service_grid(url)
    set_view(page, grid["lat"], grid["lon"], 15)
    page.locator(".leaflet-control-layers-overlays label", has_text="未结案件").click()  # cases off
    click_lonlat(page, grid["lon"], grid["lat"])
    page.wait_for_selector(f'#grid-panel[data-code="{grid["code"]}"]:not([data-loading])')
    expected = query(url, f"""
        SELECT count(*) FILTER (WHERE status IN {OPEN}) AS open,
               count(*) FILTER (WHERE status IN {OPEN} AND status <> 'parked' AND due_at < now()) AS overdue
        FROM cases WHERE grid_code = %(code)s""", code=grid["code"])[0]
    expected |= query(url, "SELECT count(*) AS households, coalesce(sum(residents), 0) AS residents "
                           "FROM households WHERE grid_code = %(code)s", code=grid["code"])[0]
    expected |= query(url, """SELECT count(*) AS workers_on_duty FROM grid_assignments a
        JOIN people p ON p.id = a.person_id WHERE a.grid_code = %(code)s AND a.role = 'worker' AND p.on_duty""",
                      code=grid["code"])[0]
    shown = {key: int(page.locator(f'#grid-panel dd[data-key="{key}"]').inner_text().replace(",", ""))
             for key in expected}
    assert shown == expected
    assert page.locator('#grid-panel dd[data-key="code"]').inner_text() == grid["code"]
    link = page.locator("#grid-panel a.button")
    assert link.get_attribute("href") == f"/cases?grid={grid['code']}"
    page.locator(".leaflet-control-layers-overlays label", has_text="未结案件").click()  # cases back on
    page.wait_for_function("() => document.querySelectorAll('path.case-cluster, path.case-point').length > 0")
    page.select_option("#f-choropleth", "open")
    page.wait_for_function("() => !document.getElementById('legend-choropleth').hidden")
    page.evaluate(PAINTED)  # the restyled grids on screen before the screenshot
    page.screenshot(path=str(artifacts_dir / "operator-grid-panel.png"))
    link.click()
    page.wait_for_url(f"**/cases?grid={grid['code']}")
    assert page.locator("tr[data-case-id]").count() > 0
    assert watch.errors == [] and outside_requests(watch, base) == []
    page.close()


def test_hotspot_layer_draws_the_significant_cells_and_a_heat_map(browser, demo_live, artifacts_dir):  # noqa: F811
    base, url = demo_live
    page = signed_page(browser, base, url, viewport={"width": 1440, "height": 900}, locale="zh-CN")
    watch = Watcher(page)
    open_map(page, base)
    page.locator(".leaflet-control-layers-overlays label", has_text="热点").click()
    page.wait_for_function("() => document.body.dataset.hotspots === 'drawn'", timeout=30000)
    asked = urllib.request.Request(base + "/api/v1/hotspots?cell_size=250", headers={
        "Authorization": f"Bearer {DEMO_TOKENS['town_operator']}"})
    with urllib.request.urlopen(asked, timeout=60) as response:
        cells = json.loads(response.read())["features"]
    significant = [c for c in cells if c["properties"]["class"] != "not_significant"]
    assert significant  # the demo plants clusters
    drawn = page.eval_on_selector_all("path[data-class]", "ps => ps.map(p => p.dataset.class)")
    assert sorted(drawn) == sorted(c["properties"]["class"] for c in significant)
    assert not page.locator("#legend-hotspots").is_hidden()
    page.locator("#method summary").click()
    assert "Benjamini" in page.locator("#method").inner_text()
    assert "250" in page.locator("#method-params").inner_text()
    page.screenshot(path=str(artifacts_dir / "operator-hotspots.png"))
    page.locator(".leaflet-control-layers-overlays label", has_text="热力图").click()
    page.locator("canvas.leaflet-heatmap-layer").wait_for()
    assert watch.errors == [] and outside_requests(watch, base) == []
    page.close()


# -- several server processes, and a restart ------------------------------------------------


def test_a_case_posted_to_another_server_process_appears_also_after_a_restart(
    browser, demo_copy_url  # noqa: F811
):
    port_a, port_b = free_port(), free_port()
    a, b = start_server(demo_copy_url, port_a), start_server(demo_copy_url, port_b)
    base_a, base_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    try:
        # one sign-in serves both servers: a cookie belongs to the host, not to the port
        page = signed_page(browser, base_a, demo_copy_url, viewport={"width": 1280, "height": 800})
        watch = Watcher(page)
        open_map(page, base_a)
        grid = busy_service_grid(demo_copy_url)
        set_view(page, grid["lat"], grid["lon"], 17)
        first = post_case(base_b, grid["lon"], grid["lat"], "另一个进程收到的案件")
        page.locator(f'path.case-point[data-case-id="{first["id"]}"]').wait_for(state="attached", timeout=HANG_MS)
        page.locator(f'#latest-list li[data-case-id="{first["id"]}"]').wait_for(timeout=HANG_MS)

        # the page's server goes away and comes back: the page notices, reconnects by itself
        # and refetches
        stop_server(a)
        page.wait_for_function("() => document.getElementById('live-state').dataset.state === 'lost'")
        a = start_server(demo_copy_url, port_a)
        page.wait_for_function("() => document.getElementById('live-state').dataset.state === 'on'", timeout=HANG_MS)
        second = post_case(base_b, grid["lon"], grid["lat"], "重启之后的案件")
        page.locator(f'path.case-point[data-case-id="{second["id"]}"]').wait_for(state="attached", timeout=HANG_MS)
        page.locator(f'#latest-list li[data-case-id="{second["id"]}"]').wait_for(timeout=HANG_MS)
        assert outside_requests(watch, base_a) == []
        assert watch.dialogs == []
        page.close()
    finally:
        stop_server(a)
        stop_server(b)
        engine_for(demo_copy_url).dispose()


def test_a_publish_of_the_towns_boundaries_offers_a_reload_of_its_outlines(
        browser, demo_live, artifacts_dir):  # noqa: F811
    """The outlines are the page's own: a publish tells the operator and offers the reload; a
    publish of another town does not."""
    base, url = demo_live
    page = signed_page(browser, base, url, viewport={"width": 1440, "height": 900})
    watch = Watcher(page)
    open_map(page, base)
    notify = named_statements("planning", "publish.sql")["notify"]
    box = {"minlon": 112.8, "minlat": 35.6, "maxlon": 112.9, "maxlat": 35.7}
    # the statement the publish sends its notice with (planning/publish.py), for another town
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(driver_sql(notify), {"town": "140525999", "number": 7, **box})
    # a case posted after it arrives after it on the same stream: once it shows, so has the
    # other town's notice, and left the banner hidden
    grid = busy_service_grid(url)
    posted = post_case(base, grid["lon"], grid["lat"], description="after the other town's notice")
    page.locator(f'#latest-list li[data-case-id="{posted["id"]}"]').wait_for(timeout=HANG_MS)
    assert page.locator("#boundaries-banner").is_hidden()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(driver_sql(notify), {"town": "140525108", "number": 7, **box})
    banner = page.locator("#boundaries-banner")
    banner.wait_for(state="visible", timeout=HANG_MS)
    assert "第 7 版" in banner.inner_text()
    page.screenshot(path=str(artifacts_dir / "operator-boundaries.png"))
    with page.expect_navigation(timeout=HANG_MS):
        page.locator("#boundaries-reload").click()
    open_map(page, base)
    assert page.locator("#boundaries-banner").is_hidden()
    assert watch.errors == []
    page.close()
