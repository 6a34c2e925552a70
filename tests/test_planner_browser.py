"""The planner's page (/planner) in a real browser, on a copy of the demo.

The demo's planner starts a draft of a village, then draws with the mouse as a person would:
clicks on the map at the pixel of a point computed with the page's own Leaflet map
(``map.latLngToContainerPoint``), so Leaflet-Geoman draws the line and the page sends it. It
splits a grid by a line, gives the new grid a worker in the attribute form, merges two grids,
moves the shared edge of two neighbours, watches the impact table change after each edit, and
publishes. Each result is checked through the API and the database, not only on the page.

Where the test zooms the map onto the grids it is about to draw on, it calls the map's own
fitBounds, as a planner scrolling the wheel would end up. ``GRIDGOV_DOCS_SCREENSHOTS=1`` also
writes the README's docs/planner.png.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import shapely
from shapely.geometry import LineString, Point, shape
from shapely.ops import linemerge, split

from db.session import engine_for
from tests.accounts_support import signed_page
from tests.boundary_data import query
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_operator_browser import stop_listener
from tests.waits import HANG_MS

VILLAGE = "140525108001"  # 东寺庄社区: the demo's village with accounts, 11 leaf grids
DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture
def demo_base(demo_copy_url, app_server) -> Iterator[str]:
    server = app_server(demo_copy_url)
    try:
        yield server.base
    finally:
        server.stop()
        stop_listener(demo_copy_url)
        engine_for(demo_copy_url).dispose()


def api(base: str, token: str, method: str, path: str, **kwargs):
    return requests.request(method, f"{base}/api/v1{path}", timeout=30,
                            headers={"Authorization": f"Bearer {token}"}, **kwargs)


def draft_grids(base: str, token: str, draft: int) -> dict[str, dict]:
    """The draft's grids from the API: code -> {properties, geometry (shapely)}."""
    got = api(base, token, "GET", f"/drafts/{draft}")
    assert got.status_code == 200, got.text
    return {f["properties"]["code"]: {**f["properties"], "geometry": shape(f["geometry"])}
            for f in got.json()["features"]}


# -- the page's map ----------------------------------------------------------------------------


def pixel(page, lon: float, lat: float) -> tuple[float, float]:
    """Where a point (EPSG:4326) is on the page, by the page's own Leaflet map."""
    return tuple(page.evaluate(
        """([lat, lon]) => {
            const p = window.plannerMap.latLngToContainerPoint([lat, lon]);
            const box = window.plannerMap.getContainer().getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""", [lat, lon]))


def click_map(page, lon: float, lat: float, shift: bool = False) -> None:
    x, y = pixel(page, lon, lat)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(x, y)
    if shift:
        page.keyboard.up("Shift")


def look_at(page, *geometries) -> None:
    """Zoom the map onto ``geometries``, clear of the legend (bottom left)."""
    west, south, east, north = shapely.union_all(list(geometries)).bounds
    page.evaluate(
        """([s, w, n, e]) => window.plannerMap.fitBounds([[s, w], [n, e]],
              {paddingTopLeft: [260, 70], paddingBottomRight: [70, 70], animate: false})""",
        [south, west, north, east])


def draw_line(page, points: list[tuple[float, float]]) -> None:
    """Click along ``points`` (lon, lat) and click the last one again: Geoman ends the line."""
    for lon, lat in points:
        click_map(page, lon, lat)
    click_map(page, *points[-1])


def wait_revision(page, revision: int) -> None:
    """Until the page has redrawn the draft at ``revision`` and shown its checks."""
    page.wait_for_function(
        """(r) => document.querySelector('#draft-info').dataset.revision === r
                && document.querySelector('#impact').dataset.revision === r
                && document.querySelector('#validation').dataset.revision === r""",
        arg=str(revision), timeout=HANG_MS)


def impact_rows(page) -> list[tuple[str, str]]:
    return [(r.get_attribute("data-code"), r.inner_text())
            for r in page.locator("#impact-rows tr").all()]


# -- what to draw, from the draft's geometry ----------------------------------------------------


def land_changed_m2(url: str, draft: int, drafted: list[str], today: list[str]) -> float:
    """The area (m²) between the land of grids ``drafted`` in the draft and of grids ``today``
    in the current boundaries: 0 when an edit only cut or joined the land they held."""
    return query(url, """
        SELECT ST_Area(ST_SymDifference(
                 (SELECT ST_Union(geom) FROM draft_grids
                   WHERE draft_id = %s AND code = ANY(%s) AND NOT removed),
                 (SELECT ST_Union(geom) FROM grids WHERE valid_to IS NULL AND code = ANY(%s))
               )::geography)""", (draft, drafted, today))[0][0]


def households_at(url: str, polygon) -> int:
    return query(url, "SELECT count(*) FROM households h JOIN addresses ad ON ad.id = h.address_id "
                      "WHERE ST_Intersects(ad.geom, ST_GeomFromText(%s, 4326))",
                 (polygon.wkt,))[0][0]


def split_line(url: str, grid) -> tuple[LineString, object]:
    """A horizontal line across ``grid`` cutting it in two pieces, the smaller one holding
    households (so the impact shows them moving); the line and the smaller piece."""
    west, south, east, north = grid.bounds
    margin = (east - west) * 0.12
    for share in (0.5, 0.4, 0.6, 0.3, 0.7, 0.45, 0.55):
        lat = south + (north - south) * share
        line = LineString([(west - margin, lat), (east + margin, lat)])
        pieces = [p for p in split(grid, line).geoms]
        if len(pieces) != 2:
            continue
        small = min(pieces, key=lambda p: p.area)
        if small.area > grid.area * 0.2 and households_at(url, small) > 0:
            return line, small
    raise AssertionError("no horizontal line cuts the grid in two with households on both sides")


def shared_edge(a, b) -> LineString | None:
    edge = shapely.intersection(a.boundary, b.boundary)
    if edge.geom_type == "MultiLineString":
        edge = linemerge(edge)
    return edge if isinstance(edge, LineString) and edge.length > 0 else None


def new_edge(a, b, edge: LineString) -> list[tuple[float, float]]:
    """The shared edge redrawn: from one end to the other through a point pushed into ``b``
    (so ``a`` grows), staying inside the two grids."""
    start, end = edge.coords[0], edge.coords[-1]
    middle = edge.interpolate(0.5, normalized=True)
    dx, dy = end[0] - start[0], end[1] - start[1]
    norm = math.hypot(dx, dy)
    both = shapely.union(a, b).buffer(1e-9)
    for push in (0.3, 0.2, 0.12, 0.06):
        for sign in (1, -1):
            px = middle.x - dy / norm * push * norm * sign
            py = middle.y + dx / norm * push * norm * sign
            if b.contains(Point(px, py)) and both.contains(LineString([start, (px, py), end])):
                return [start, (px, py), end]
    raise AssertionError("no new edge fits inside the two grids")


def choose(url: str, grids: dict[str, dict]) -> dict:
    """The grids to split, merge and move an edge between: all different."""
    leaves = {c: g for c, g in grids.items() if g["level"] != "admin"}
    by_households = sorted(leaves, key=lambda c: -households_at(url, leaves[c]["geometry"]))
    plan: dict = {}
    for code in by_households:
        try:
            plan["line"], plan["split_piece"] = split_line(url, leaves[code]["geometry"])
        except AssertionError:
            continue
        plan["split"] = code
        break
    used = {plan["split"]}
    pairs = sorted(
        ((a, b, shared_edge(leaves[a]["geometry"], leaves[b]["geometry"]))
         for a in leaves for b in leaves if a < b),
        key=lambda p: -(p[2].length if p[2] is not None else 0))
    for a, b, edge in pairs:
        if edge is None or {a, b} & used:
            continue
        if "merge" not in plan:
            plan["merge"] = [a, b]
            used |= {a, b}
        elif "move" not in plan:
            try:
                plan["edge_line"] = new_edge(leaves[a]["geometry"], leaves[b]["geometry"], edge)
            except AssertionError:
                continue
            plan["move"] = [a, b]
            used |= {a, b}
    assert {"split", "merge", "move"} <= set(plan), plan
    return plan


# -- the session ---------------------------------------------------------------------------------


def test_planner_draws_splits_merges_moves_an_edge_sees_the_impact_and_publishes(
        browser, demo_base, demo_copy_url, demo_tokens, artifacts_dir):  # noqa: F811
    url, base, token = demo_copy_url, demo_base, demo_tokens["planner"]
    page = signed_page(browser, base, url, "planner", viewport={"width": 1440, "height": 900},
                       locale="zh-CN")
    watch = Watcher(page)
    page.goto(f"{base}/planner")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)

    # a new draft of the village, picked from the list
    page.select_option("#scope-select", VILLAGE)
    page.click("#draft-new")
    wait_revision(page, 1)
    drafts = api(base, token, "GET", "/drafts").json()["drafts"]
    assert [(d["scope_code"], d["revision"]) for d in drafts] == [(VILLAGE + "000", 1)]
    draft = drafts[0]["id"]
    assert f"draft={draft}" in page.url
    assert page.locator("#validation-state").inner_text() == "校验通过，可以发布"
    assert impact_rows(page) == []
    grids = draft_grids(base, token, draft)
    plan = choose(url, grids)
    impacts = [impact_rows(page)]

    # 1. split a grid by a line drawn across it
    s = plan["split"]
    look_at(page, grids[s]["geometry"].buffer(0.0005))
    inside = grids[s]["geometry"].representative_point()
    click_map(page, inside.x, inside.y)
    page.wait_for_function(
        f"() => document.querySelector(\"path[data-code='{s}']\").dataset.selected === '1'",
        timeout=HANG_MS)
    page.click("button.tool[data-tool=split]")
    draw_line(page, list(plan["line"].coords))
    wait_revision(page, 2)
    after = draft_grids(base, token, draft)
    new = sorted(set(after) - set(grids))
    assert len(new) == 1, new
    new = new[0]
    # no gap, no overlap: what differs is floating-point dust, under the 1 m² of a sliver
    assert land_changed_m2(url, draft, [s, new], [s]) < 1.0
    assert after[new]["geometry"].area == pytest.approx(plan["split_piece"].area, rel=0.02)
    impacts.append(impact_rows(page))
    assert impacts[-1] != impacts[-2]
    expected = api(base, token, "GET", f"/drafts/{draft}/impact").json()
    assert [code for code, _ in impacts[-1]] == [g["code"] for g in expected["grids"]]
    moved = next(g for g in expected["grids"] if g["code"] == new)["in"]["households"]
    assert moved > 0 and str(moved) in dict(impacts[-1])[new]
    assert page.locator(f"path[data-code='{new}'][data-change='added']").count() == 1
    # the new grid has no worker yet: the validation says so, and publishing waits
    assert page.locator("#validation").get_attribute("data-ok") == "0"
    assert page.locator("#validation .finding[data-kind=no_worker]").count() >= 1
    assert page.locator("#publish").is_disabled()

    # 2. the attribute form: the new grid gets a name and a grid worker
    piece = after[new]["geometry"].representative_point()
    click_map(page, piece.x, piece.y)
    form = page.locator("#attributes-form")
    page.wait_for_function(f"() => document.querySelector('#attributes-form').dataset.code === '{new}'",
                           timeout=HANG_MS)
    worker = int(form.locator("input[name=workers]").first.get_attribute("value"))
    form.locator("input[name=name]").fill("东寺庄社区新建服务网格")
    form.locator(f"input[name=workers][value='{worker}']").check()
    form.locator("button[type=submit]").click()
    wait_revision(page, 3)
    props = draft_grids(base, token, draft)[new]
    assert (props["name"], props["worker_ids"]) == ("东寺庄社区新建服务网格", [worker])
    assert page.locator("#validation").get_attribute("data-ok") == "1"

    # 3. merge two neighbours: click one, Shift-click the other
    a, b = plan["merge"]
    look_at(page, grids[a]["geometry"], grids[b]["geometry"])
    pa, pb = (grids[c]["geometry"].representative_point() for c in (a, b))
    click_map(page, pa.x, pa.y)
    click_map(page, pb.x, pb.y, shift=True)
    page.wait_for_function("() => document.querySelectorAll('#selection-list .chip').length === 2",
                           timeout=HANG_MS)
    page.click("button.tool[data-tool=merge]")
    wait_revision(page, 4)
    after = draft_grids(base, token, draft)
    assert b not in after
    assert land_changed_m2(url, draft, [a], [a, b]) < 1.0
    impacts.append(impact_rows(page))
    assert impacts[-1] != impacts[-2]
    assert b in dict(impacts[-1])

    # 4. move the shared edge of two neighbours: select both, draw the new edge
    a, b = plan["move"]
    look_at(page, grids[a]["geometry"], grids[b]["geometry"])
    pa, pb = (grids[c]["geometry"].representative_point() for c in (a, b))
    click_map(page, pa.x, pa.y)
    click_map(page, pb.x, pb.y, shift=True)
    page.wait_for_function("() => document.querySelectorAll('#selection-list .chip').length === 2",
                           timeout=HANG_MS)
    page.click("button.tool[data-tool=move_edge]")
    draw_line(page, plan["edge_line"])
    wait_revision(page, 5)
    after = draft_grids(base, token, draft)
    assert after[a]["geometry"].area > grids[a]["geometry"].area
    assert after[b]["geometry"].area < grids[b]["geometry"].area
    assert land_changed_m2(url, draft, [a, b], [a, b]) < 1.0
    impacts.append(impact_rows(page))
    assert impacts[-1] != impacts[-2]
    assert {a, b} <= set(dict(impacts[-1]))
    assert page.locator("#validation").get_attribute("data-ok") == "1"
    page.screenshot(path=str(artifacts_dir / "planner-edited.png"))
    if os.environ.get("GRIDGOV_DOCS_SCREENSHOTS") == "1":  # the README's picture: the village
        look_at(page, *(g["geometry"] for g in after.values()))
        page.wait_for_function(
            "() => document.querySelectorAll('.draft-label:not(.label-hidden)').length > 3",
            timeout=HANG_MS)
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "planner.png"))

    # 5. publish now (the effective time left at its default, now)
    assert page.locator("#publish").is_enabled()
    page.click("#publish")
    page.wait_for_function(
        "() => ['published', 'scheduled'].includes("
        "document.querySelector('#publish-result').dataset.state)"
        " || document.querySelector('#planner-message').dataset.kind === 'alert'", timeout=HANG_MS)
    page.screenshot(path=str(artifacts_dir / "planner-published.png"))
    assert page.locator("#publish-result").get_attribute("data-state") == "published", \
        page.locator("#planner-message").inner_text()
    assert "已发布为第 2 版" in page.locator("#publish-result").inner_text()
    versions = api(base, token, "GET", "/versions").json()["versions"]
    assert [v["number"] for v in versions] == [1, 2] and versions[-1]["in_force"]
    current = dict(query(url, "SELECT code, ST_Area(geom::geography) FROM grids "
                              "WHERE valid_to IS NULL AND code LIKE %s", (VILLAGE + "%",)))
    assert new in current and plan["merge"][1] not in current
    assert current[plan["move"][0]] > 0
    assert query(url, "SELECT state FROM drafts WHERE id = %s", (draft,)) == [("published",)]
    page.locator("#versions-list li[data-number='2']").wait_for(timeout=HANG_MS)
    assert page.locator("#draft-info").get_attribute("data-state") == "published"
    assert page.locator("button.tool[data-tool=split]").is_disabled()
    assert watch.dialogs == [] and watch.errors == [], (watch.dialogs, watch.errors)
    assert [u for u in watch.requests if not u.startswith((base + "/", "data:"))] == []


def test_a_new_grid_drawn_shows_its_overlap_and_a_stale_save_is_told_not_written(
        browser, demo_base, demo_copy_url, demo_tokens):  # noqa: F811
    url, base, token = demo_copy_url, demo_base, demo_tokens["planner"]
    created = api(base, token, "POST", "/drafts", json={"scope": VILLAGE})
    assert created.status_code == 201, created.text
    draft = created.json()["id"]
    grids = draft_grids(base, token, draft)
    leaves = {c: g for c, g in grids.items() if g["level"] != "admin"}
    host = max(leaves, key=lambda c: leaves[c]["geometry"].area)
    page = signed_page(browser, base, url, "planner", viewport={"width": 1440, "height": 900},
                       locale="zh-CN")
    watch = Watcher(page)
    page.goto(f"{base}/planner?draft={draft}")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)
    wait_revision(page, 1)

    # draw a small square inside the largest grid, closed on its first corner
    geometry = leaves[host]["geometry"]
    look_at(page, geometry)
    centre = geometry.representative_point()
    west, south, east, north = geometry.bounds
    half = min(east - west, north - south) * 0.08
    square = [(centre.x - half, centre.y - half), (centre.x + half, centre.y - half),
              (centre.x + half, centre.y + half), (centre.x - half, centre.y + half)]
    assert geometry.buffer(-half).contains(shapely.Polygon(square))
    page.click("button.tool[data-tool=draw]")
    for lon, lat in square + square[:1]:
        click_map(page, lon, lat)
    form = page.locator("#new-grid-form")
    form.wait_for(state="visible", timeout=HANG_MS)
    code = form.locator("input[name=code]").input_value()
    assert code.startswith(VILLAGE) and code not in grids
    form.locator("input[name=name]").fill("<b>新楼盘</b>网格")
    form.locator("button[type=submit]").click()
    wait_revision(page, 2)
    drawn = draft_grids(base, token, draft)[code]
    assert drawn["name"] == "<b>新楼盘</b>网格" and drawn["level"] == "service"
    assert drawn["geometry"].area == pytest.approx(shapely.Polygon(square).area, rel=0.05)
    # it overlaps the grid it was drawn in: an error, with its place on the map
    assert page.locator("#validation").get_attribute("data-ok") == "0"
    assert page.locator("#validation .finding[data-kind=overlap]").count() >= 1
    assert page.locator("path.finding-marker").count() >= 1
    assert page.locator(f"path[data-code='{code}'][data-change='added']").count() == 1
    assert page.locator(".draft-label b").count() == 0  # a name typed as HTML shows as text

    # someone else renames a grid; this page still shows revision 2 and saves a name on it
    other = sorted(c for c in leaves if c != host)[0]
    renamed = requests.put(
        f"{base}/api/v1/drafts/{draft}/grids/{other}", json={"name": "管理员改的名字"},
        headers={"Authorization": f"Bearer {demo_tokens['admin']}", "If-Match": '"2"'}, timeout=30)
    assert renamed.status_code == 200, renamed.text
    spot = leaves[other]["geometry"].representative_point()
    look_at(page, leaves[other]["geometry"])
    click_map(page, spot.x, spot.y)
    page.wait_for_function(f"() => document.querySelector('#attributes-form').dataset.code === '{other}'",
                           timeout=HANG_MS)
    page.locator("#attributes-form input[name=name]").fill("规划员改的名字")
    page.locator("#attributes-form button[type=submit]").click()
    message = page.locator("#planner-message[data-kind=alert]")
    message.wait_for(timeout=HANG_MS)
    assert "草稿已被他人修改" in message.inner_text() and "admin" in message.inner_text()
    wait_revision(page, 3)
    assert draft_grids(base, token, draft)[other]["name"] == "管理员改的名字"  # not overwritten
    page.wait_for_function(
        "() => document.querySelector('#attributes-form input[name=name]').value === '管理员改的名字'",
        timeout=HANG_MS)

    # discard, asked twice in the page (no browser dialog)
    page.click("#draft-discard")
    page.click("#draft-discard-confirm")
    page.wait_for_function("() => document.querySelector('#draft-info').dataset.state === 'discarded'",
                           timeout=HANG_MS)
    assert api(base, token, "GET", f"/drafts/{draft}").json()["draft"]["state"] == "discarded"
    assert page.locator("button.tool[data-tool=draw]").is_disabled()
    # the one refused save is the browser's only complaint (it logs every 4xx it fetched)
    refused = "Failed to load resource: the server responded with a status of 409 (CONFLICT)"
    assert watch.dialogs == [] and watch.errors == [refused], watch.errors


def test_the_versions_list_draws_a_diff_against_the_current_version(
        browser, cli, empty_db_url, tmp_path, app_server):  # noqa: F811
    from accounts import service
    from db.session import session_scope
    from demo.accounts import DEMO_PASSWORD
    from tests.boundary_data import TOWN, import_all
    from tests.test_boundary_versions import _redraw_west

    import_all(cli, empty_db_url, tmp_path)
    _redraw_west(cli, empty_db_url, tmp_path, name="巴公二村（扩）")
    with session_scope(empty_db_url) as session:
        service.create_account(session, "planner", "planner", scope=TOWN, password=DEMO_PASSWORD)
    base = app_server(empty_db_url).base
    page = signed_page(browser, base, empty_db_url, "planner",
                       viewport={"width": 1440, "height": 900}, locale="zh-CN")
    watch = Watcher(page)
    page.goto(f"{base}/planner")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)
    items = page.locator("#versions-list li")
    assert [i.get_attribute("data-number") for i in items.all()] == ["5", "4", "3", "2", "1"]
    assert "现行" in items.first.inner_text()
    assert items.first.locator("button.diff-button").count() == 0  # the current one
    items.nth(1).locator("button.diff-button").click()
    page.wait_for_function("() => document.querySelector('#diff-summary').dataset.a === '4'",
                           timeout=HANG_MS)
    token = token_for_planner(empty_db_url)
    expected = requests.get(f"{base}/api/v1/versions/4/diff/5", timeout=30,
                            headers={"Authorization": f"Bearer {token}"}).json()
    assert page.locator("#diff-summary").inner_text() == (
        f"第 4 版 → 第 5 版：新增 {expected['counts']['added']}，删除 "
        f"{expected['counts']['removed']}，修改 {expected['counts']['changed']}")
    assert page.locator("path.diff-changed").count() == expected["counts"]["changed"] == 2
    assert page.locator("path.diff-before").count() == 2  # the outlines before, dashed
    page.click("#diff-clear")
    assert page.locator("path.diff-shape").count() == 0
    assert watch.errors == [], watch.errors


def token_for_planner(url: str) -> str:
    from tests.accounts_support import token_for

    return token_for(url, "planner")


def test_a_proposal_made_on_the_page_opens_as_a_draft_with_its_balance(
        browser, demo_base, demo_copy_url, demo_tokens, artifacts_dir):  # noqa: F811
    """The planner asks for service grids of 100–200 households in a village: the page shows
    the new draft and the balance of the proposal beside today's, as the API computes them."""
    url, base, token = demo_copy_url, demo_base, demo_tokens["planner"]
    village = query(url, """
        SELECT left(grid_code, 12) FROM households GROUP BY 1 ORDER BY count(*) DESC LIMIT 1
    """)[0][0]
    page = signed_page(browser, base, url, "planner", viewport={"width": 1440, "height": 900},
                       locale="zh-CN")
    watch = Watcher(page)
    page.goto(f"{base}/planner")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)
    page.select_option("#scope-select", village)
    page.click("#draft-new")
    wait_revision(page, 1)
    source = api(base, token, "GET", "/drafts").json()["drafts"][0]["id"]
    page.fill("#proposal-form input[name=min]", "100")
    page.fill("#proposal-form input[name=max]", "200")
    page.click("#propose")
    page.wait_for_function(
        "() => document.querySelector('#proposal-result').textContent.startsWith('已生成草稿')",
        timeout=HANG_MS * 4)
    drafts = {d["id"]: d for d in api(base, token, "GET", "/drafts").json()["drafts"]}
    made = max(drafts)
    assert made != source and drafts[made]["scope_code"] == village + "000"
    assert f"draft={made}" in page.url
    balance = api(base, token, "GET", f"/drafts/{made}/balance").json()
    assert 100 <= balance["summary"]["min"] and balance["summary"]["max"] <= 200
    cells = page.locator("#balance-table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.textContent))")
    assert cells[0] == [str(balance["summary"]["grids"]), str(balance["today"]["summary"]["grids"])]
    assert cells[1][0] == str(balance["summary"]["min"])
    assert not page.locator("#balance-table").is_hidden()
    page.screenshot(path=str(artifacts_dir / "planner-proposal.png"))
    assert watch.dialogs == [] and watch.errors == [], (watch.dialogs, watch.errors)
    assert [u for u in watch.requests if not u.startswith((base + "/", "data:"))] == []
