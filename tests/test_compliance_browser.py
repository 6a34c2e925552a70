"""The operator map's 巡访合规 layer in a real browser: switched on, every leaf grid is coloured
by the share the compliance API gives it, the legend shows, a grid's popup names its share and
overdue visits, nothing is fetched from another host; an account that may not read compliance
is told so. Saves operator-compliance.png (1440×900) in tests/artifacts."""

from __future__ import annotations

import json
import urllib.request

from geo.layers.compliance import band
from tests.accounts_support import signed_page
from tests.conftest import DEMO_TOKENS
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_operator_browser import demo_live, open_map, outside_requests  # noqa: F401
from tests.waits import HANG_MS, HANG_S


def compliance_rows(base: str) -> dict[str, dict]:
    asked = urllib.request.Request(base + "/api/v1/compliance?level=grid", headers={
        "Authorization": f"Bearer {DEMO_TOKENS['town_operator']}"})
    with urllib.request.urlopen(asked, timeout=HANG_S) as response:
        return {r["code"]: r for r in json.loads(response.read())["rows"]}


def switch_on(page) -> None:
    page.locator(".leaflet-control-layers-overlays label", has_text="巡访合规").click()


def test_the_compliance_layer_colours_each_grid_by_its_share(browser, demo_live,  # noqa: F811
                                                             artifacts_dir):
    base, url = demo_live
    page = signed_page(browser, base, url, viewport={"width": 1440, "height": 900}, locale="zh-CN")
    watch = Watcher(page)
    open_map(page, base)
    assert page.locator("#legend-compliance").is_hidden()
    switch_on(page)
    page.wait_for_function("() => document.body.dataset.compliance === 'drawn'", timeout=HANG_MS)
    rows = compliance_rows(base)
    drawn = page.eval_on_selector_all(
        "path[data-grid]", "ps => ps.map(p => [p.dataset.grid, p.dataset.share, "
                           "p.getAttribute('fill')])")
    assert len({g for g, _, _ in drawn}) >= len(rows) > 100
    for grid, share, fill in drawn:
        row = rows.get(grid)
        expected = row["share"] if row else None
        assert (float(share) if share else None) == expected
        assert fill == band(expected)
    assert not page.locator("#legend-compliance").is_hidden()
    assert "巡访合规" in page.locator("#legend-compliance").inner_text()
    # the worst grid's popup: its code, share and overdue visits
    worst = min((r for r in rows.values() if r["share"] is not None), key=lambda r: r["share"])
    page.evaluate("""code => {
        const path = document.querySelector(`path[data-grid="${code}"]`);
        const box = path.getBoundingClientRect();  // Leaflet places the popup where clicked
        path.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: box.x + box.width / 2,
                                                    clientY: box.y + box.height / 2}));
    }""", worst["code"])
    popup = page.locator(".compliance-popup")
    popup.wait_for(timeout=HANG_MS)
    text = popup.inner_text()
    assert worst["code"] in text and worst["name"] in text and "按时巡访率" in text
    assert popup.locator("dd[data-overdue]").inner_text() == f"{worst['overdue']}次"
    # the popup fades in: the screenshot waits until it is opaque
    page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity"
                           " === '1'", timeout=HANG_MS)
    page.screenshot(path=str(artifacts_dir / "operator-compliance.png"))
    assert watch.errors == [] and outside_requests(watch, base) == []
    page.close()


def test_an_account_without_compliance_is_told_so(browser, demo_live):  # noqa: F811
    base, url = demo_live
    page = signed_page(browser, base, url, "planner", viewport={"width": 1440, "height": 900})
    open_map(page, base)
    switch_on(page)
    page.wait_for_function("() => document.body.dataset.compliance === 'failed'", timeout=HANG_MS)
    assert "无权查看" in page.locator("#legend-compliance-status").inner_text()
    page.close()
