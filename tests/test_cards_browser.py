"""Cards in a real browser (headless Debian Chromium) on a private copy of the demo: a card the
supervision pass issues shows on the open operator map without a reload (the latest list, with
its badge; the case's popup with its worst card), and the case page shows the case's signals with the worst card beside its status,
in Chinese and in English. Saves case-cards.png in tests/artifacts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from cases import supervision
from cases.deadlines import LOCAL_TZ
from db.session import session_scope
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_operator_browser import (  # noqa: F401  (demo_live: the fixture)
    click_lonlat, demo_live, open_map, set_view,
)
from tests.test_supervision import _open_cases
from tests import clock_support
from tests.accounts_support import signed_page
from tests.waits import HANG_MS


def _carded_case(url: str, signals_at: datetime) -> int:
    """An open case with an accept clock whose due-soon and yellow moments have passed at
    ``signals_at`` (red and overdue have not)."""
    with session_scope(url) as s:
        case = _open_cases(s, 1)[0]
        clock_support.start_clock(
            s, case["id"], "accept", signals_at - timedelta(days=1),
            soon_at=signals_at - timedelta(hours=2), yellow_at=signals_at - timedelta(hours=1),
            due_at=signals_at + timedelta(days=1), red_at=signals_at + timedelta(days=2))
    return case["id"]


def test_a_card_shows_on_the_open_map_without_a_reload(browser, demo_live):  # noqa: F811
    base, url = demo_live
    page = signed_page(browser, base, url, viewport={"width": 1280, "height": 800})
    watch = Watcher(page)
    open_map(page, base)
    now = datetime.now(LOCAL_TZ)
    case_id = _carded_case(url, now)
    with session_scope(url) as s:
        assert len(supervision.supervise(s, now).issued) == 2
    item = page.locator(f'#latest-list li[data-case-id="{case_id}"][data-op="card"]')
    item.wait_for(timeout=HANG_MS)
    # both signals arrive; the later one is the item left in the list, with its badge
    badge = item.locator(".card-badge")
    assert badge.inner_text() in ("黄牌", "即将超期")
    # the case's popup shows its worst card beside its status
    with session_scope(url) as s:
        lon, lat = s.execute(text("SELECT lon, lat FROM cases WHERE id = :id"), {"id": case_id}).one()
    set_view(page, lat, lon, 18)
    click_lonlat(page, lon, lat)
    popup_card = page.locator(f'.case-popup[data-case-id="{case_id}"] h3 .card-badge.card-yellow')
    popup_card.wait_for(timeout=HANG_MS)
    assert popup_card.inner_text() == "黄牌"
    # and links to the case's page, where the account's actions are
    link = page.locator(f'.case-popup[data-case-id="{case_id}"] a[href="/cases/{case_id}"]')
    assert link.count() == 1
    link.click()
    page.wait_for_url(f"{base}/cases/{case_id}", timeout=HANG_MS)
    page.locator("#case-actions .action-button").first.wait_for(timeout=HANG_MS)
    assert watch.errors == []
    page.close()


def test_the_case_page_shows_its_signals_and_worst_card(
        browser, demo_live, artifacts_dir):  # noqa: F811
    base, url = demo_live
    now = datetime.now(LOCAL_TZ)
    case_id = _carded_case(url, now)
    with session_scope(url) as s:
        supervision.supervise(s, now)
    page = signed_page(browser, base, url, viewport={"width": 1280, "height": 900})
    watch = Watcher(page)
    page.goto(f"{base}/cases/{case_id}")
    header = page.locator(".case-details h2 .card-badge.card-yellow")
    header.wait_for(timeout=HANG_MS)
    assert header.inner_text() == "黄牌"
    rows = page.locator(".case-cards tbody tr")
    assert rows.count() == 2
    signals = sorted(rows.nth(i).get_attribute("data-signal") for i in range(2))
    assert signals == ["due_soon", "yellow"]
    assert "即将超期" in page.locator(".case-cards").inner_text()
    assert "受理" in page.locator(".case-cards").inner_text()
    page.locator(".case-cards").screenshot(path=str(artifacts_dir / "case-cards.png"),
                                           timeout=HANG_MS)
    page.goto(f"{base}/cases/{case_id}?lang=en")
    page.locator(".case-cards").wait_for(timeout=HANG_MS)
    assert "Yellow card" in page.locator(".case-details h2").inner_text()
    assert "Acceptance" in page.locator(".case-cards").inner_text()
    assert watch.errors == []
    page.close()
