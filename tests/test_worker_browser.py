"""The grid worker's phone page (/worker) in headless Chromium at 390×844, geolocation granted
and set: the inbox sorted by distance and re-sorted when the phone moves; a case reported for
the worker appears without a reload; accept → note with a photo → escalate, checked in the
database; offline, three check-ins and a case resolved, sent once each with their offline
times when the network returns; the page reloading offline from its service worker.

``GRIDGOV_DOCS_SCREENSHOTS=1`` also writes the README's docs/worker.png.
"""

from __future__ import annotations

import json
import os
import struct
import urllib.request
import zlib
from datetime import datetime, timezone
from pathlib import Path


from cases import intake
from db.session import session_scope
from tests.accounts_support import sign_in_browser
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_case_actions_browser import demo_base  # noqa: F401  (the live server on a demo copy)
from tests.test_intake_api import query
from tests.test_transitions_api import demo_leaf, state
from tests.waits import HANG_MS, wait_for

PHONE = {"width": 390, "height": 844}
DOCS = Path(__file__).resolve().parents[1] / "docs"


def points_in(url: str, grid_code: str, n: int) -> list[tuple[float, float]]:
    """``n`` points well inside the grid (its polygon shrunk by 15 m), [lon, lat]."""
    rows = query(url, """
        SELECT ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
          FROM grids g,
               LATERAL ST_Dump(ST_GeneratePoints(
                   COALESCE(NULLIF(ST_Buffer(g.geom::geography, -15)::geometry, 'POLYGON EMPTY'),
                            g.geom), :n, 7)) AS p
         WHERE g.code = :code AND g.valid_to IS NULL""", code=grid_code, n=n)
    return [(r["lon"], r["lat"]) for r in rows]


def new_case(url: str, lonlat: tuple[float, float], description: str) -> int:
    req = intake.CaseRequest(category="patrol.exposed_rubbish", description=description,
                             channel="resident", lon=lonlat[0], lat=lonlat[1])
    with session_scope(url) as s:
        return intake.create_case(s, req).case["id"]


def phone_page(browser, base: str, url: str, account: str, lonlat, offline_ok=True):  # noqa: F811
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"longitude": lonlat[0], "latitude": lonlat[1],
                                               "accuracy": 12},
                                  service_workers="allow")
    sign_in_browser(context, base, url, account)
    page = context.new_page()
    watch = Watcher(page)
    page.goto(f"{base}/worker")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)
    return context, page, watch


def all_loaded(page) -> None:
    """Until every module of the page has loaded (main.js sets data-booted) and its service
    worker is active (data-offline-ready): a phone opened online and taken offline at once
    would have no case view to open (it loads after the inbox is drawn), and its browser would
    be fetching the service worker's script."""
    page.wait_for_function("() => document.body.dataset.booted === '1' "
                           "&& document.body.dataset.offlineReady === '1'", timeout=HANG_MS)


def card_ids(page) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all(
        "#inbox-list .wk-card", "cards => cards.map(c => c.dataset.caseId)")]


def card_distances(page) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all(
        "#inbox-list .wk-card .wk-dist", "ds => ds.map(d => d.dataset.distance)")]


def first_card_is(page, case_id: int) -> None:
    page.wait_for_function(
        "id => { const c = document.querySelector('#inbox-list .wk-card'); "
        "return c && c.dataset.caseId === String(id); }", arg=case_id, timeout=HANG_MS)


def test_inbox_sorted_by_distance_resorts_when_moving_and_hears_new_cases(
        browser, demo_base, demo_copy_url, artifacts_dir):  # noqa: F811
    url = demo_copy_url
    leaf = demo_leaf(url)
    near_a, near_b, third = points_in(url, leaf["code"], 3)
    case_a = new_case(url, near_a, "村口暴露垃圾 <b>不是标签</b>")
    case_b = new_case(url, near_b, "路边堆放杂物")
    context, page, watch = phone_page(browser, demo_base, url, leaf["account"], near_a)
    first_card_is(page, case_a)
    ids = card_ids(page)
    assert case_b in ids
    distances = card_distances(page)
    assert distances == sorted(distances) and distances[0] <= 1
    assert "不是标签" in page.locator(f".wk-card[data-case-id='{case_a}']").inner_text()
    assert page.locator(".wk-desc b").count() == 0  # the hostile description is text
    assert "直线距离" in page.locator("#inbox-list").inner_text()
    page.screenshot(path=str(artifacts_dir / "worker-inbox.png"))
    if os.environ.get("GRIDGOV_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "worker.png"))

    # the phone walks to the other case: the order follows without a reload
    page.evaluate("window.__sameDocument = true")
    context.set_geolocation({"longitude": near_b[0], "latitude": near_b[1], "accuracy": 10})
    first_card_is(page, case_b)
    distances = card_distances(page)
    assert distances == sorted(distances)

    # a case reported now, routed to this worker, appears without a reload
    body = json.dumps({"category": "patrol.exposed_rubbish", "description": "新上报：井盖缺失",
                       "channel": "resident",
                       "location": {"lon": third[0], "lat": third[1]}}).encode()
    request = urllib.request.Request(f"{demo_base}/api/v1/cases", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        created = json.loads(answer.read())["id"]
    page.wait_for_selector(f".wk-card[data-case-id='{created}']", timeout=HANG_MS)
    assert page.evaluate("window.__sameDocument") is True
    # every request went to our own host
    assert all(r.startswith((demo_base, "data:", "blob:")) for r in watch.requests), [
        r for r in watch.requests if not r.startswith((demo_base, "data:", "blob:"))]
    context.close()
    assert watch.errors == [], watch.errors


def png(width: int, height: int) -> bytes:
    """A PNG of ``width``×``height`` (a horizontal gradient), standing in for a camera's photo."""
    row = b"\x00" + b"".join(bytes((x % 256, 60, 90)) for x in range(width))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height, 6)) + chunk(b"IEND", b""))


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise AssertionError("no start-of-frame marker")


def act(page, action: str, note: str | None = None, photo: bytes | None = None) -> None:
    page.locator(f".wk-action[data-action={action}]").click()
    form = page.locator(f"form.wk-action-form[data-action={action}]")
    if note is not None:
        form.locator("textarea[name=note]").fill(note)
    if photo is not None:
        form.locator("input[type=file]").set_input_files(
            files=[{"name": "camera.png", "mimeType": "image/png", "buffer": photo}])
        form.locator(".wk-thumbs img").wait_for(timeout=HANG_MS)
    form.locator("button[type=submit]").click()


def test_accept_then_note_with_a_photo_then_escalate(browser, demo_base, demo_copy_url,  # noqa: F811
                                                     artifacts_dir):
    url = demo_copy_url
    leaf = demo_leaf(url)
    (here,) = points_in(url, leaf["code"], 1)
    case_id = new_case(url, here, "电线杆倾斜")
    context, page, watch = phone_page(browser, demo_base, url, leaf["account"], here)
    first_card_is(page, case_id)
    page.locator(f".wk-card[data-case-id='{case_id}']").click()
    sheet = page.locator("#wk-sheet")
    sheet.locator(".wk-action[data-action=accept]").wait_for(timeout=HANG_MS)
    names = sheet.locator(".wk-action").all_inner_texts()
    assert "受理" in names and "结案" not in names and "就地解决" not in names

    act(page, "accept")
    wait_for(lambda: state(url, case_id)["status"] == "handling", "accepted")
    # the inbox's fresh answer offers what a handling case allows, 就地解决 among them
    sheet.locator(".wk-action[data-action=feed_back]").wait_for(timeout=HANG_MS)
    assert sheet.locator(".wk-action[data-action=feed_back]").inner_text() == "就地解决"

    act(page, "note", note="现场已拍照，等待村里协调", photo=png(2400, 1800))
    wait_for(lambda: state(url, case_id)["photos"] == 1, "the note's photo stored")
    photo = query(url, "SELECT content_type, data FROM case_photos WHERE case_id = :id", id=case_id)[0]
    assert photo["content_type"] == "image/jpeg"
    assert max(jpeg_size(bytes(photo["data"]))) == 1600  # resized on the phone

    sheet.locator(".wk-action[data-action=escalate]").wait_for(timeout=HANG_MS)
    page.screenshot(path=str(artifacts_dir / "worker-case.png"))
    act(page, "escalate", note="电线杆倾斜严重，需供电所处理")
    wait_for(lambda: state(url, case_id)["status"] == "escalated", "escalated")
    events = query(url, "SELECT type, note, taken_at, idempotency_key FROM case_events "
                        "WHERE case_id = :id ORDER BY id", id=case_id)
    assert [e["type"] for e in events][-3:] == ["accept", "note", "escalate"]
    assert events[-1]["note"] == "电线杆倾斜严重，需供电所处理"
    assert all(e["taken_at"] is not None and e["idempotency_key"] for e in events[-3:])
    assert state(url, case_id)["version"] == 4
    context.close()
    assert watch.errors == [], watch.errors


def online_errors(watch: Watcher) -> list[str]:
    """The page's errors but the browser's own notes of requests failing while offline."""
    return [e for e in watch.errors if "net::ERR_INTERNET_DISCONNECTED" not in e]


def visit_rows(url: str, account: str) -> list[dict]:
    return query(url, "SELECT v.target_type, v.target_id, v.visited_at, v.received_at "
                      "FROM visits v JOIN accounts a ON a.id = v.account_id "
                      "WHERE a.name = :name ORDER BY v.visited_at", name=account)


def test_offline_check_ins_and_a_resolved_case_are_sent_once_with_their_times(
        browser, demo_base, demo_copy_url, artifacts_dir):  # noqa: F811
    url = demo_copy_url
    leaf = demo_leaf(url)
    (here,) = points_in(url, leaf["code"], 1)
    case_id = new_case(url, here, "垃圾桶满溢")
    context, page, watch = phone_page(browser, demo_base, url, leaf["account"], here)
    first_card_is(page, case_id)
    page.locator(f".wk-card[data-case-id='{case_id}']").click()
    act(page, "accept")
    wait_for(lambda: state(url, case_id)["status"] == "handling", "accepted online")
    page.locator("#wk-sheet .wk-action[data-action=feed_back]").wait_for(timeout=HANG_MS)
    page.locator("#wk-sheet .wk-back").click()
    page.locator(".wk-tabs button[data-tab=visits]").click()
    page.locator("#visits-list .wk-checkin").nth(2).wait_for(timeout=HANG_MS)
    assert visit_rows(url, leaf["account"]) == []

    # the phone writes its times to the second
    went_offline = datetime.now(timezone.utc).replace(microsecond=0)
    all_loaded(page)
    context.set_offline(True)
    page.wait_for_function("() => document.getElementById('wk-net').dataset.state === 'offline'",
                           timeout=HANG_MS)
    keys = []
    for _ in range(3):
        row = page.locator("#visits-list .wk-visit:not([data-done])").first
        keys.append(row.get_attribute("data-key"))
        row.locator(".wk-checkin").click()
        form = page.locator("form.wk-visit-form")
        form.locator("textarea[name=note]").fill("入户走访，一切正常")
        form.locator("button[type=submit]").click()
        page.locator(f".wk-visit[data-key='{keys[-1]}'][data-done=queued]").wait_for(timeout=HANG_MS)
    page.locator(".wk-tabs button[data-tab=inbox]").click()
    page.locator(f".wk-card[data-case-id='{case_id}']").click()
    act(page, "feed_back", note="已清运")
    page.locator(".wk-tabs button[data-tab=sync]").click()
    page.wait_for_function("() => document.querySelectorAll('.wk-queue li').length === 4", timeout=HANG_MS)
    page.screenshot(path=str(artifacts_dir / "worker-offline-queue.png"))
    assert visit_rows(url, leaf["account"]) == []
    assert state(url, case_id)["status"] == "handling"

    back_online = datetime.now(timezone.utc)
    context.set_offline(False)
    wait_for(lambda: state(url, case_id)["status"] == "fed_back", "the resolved case sent")
    wait_for(lambda: len(visit_rows(url, leaf["account"])) == 3, "the three check-ins sent")
    page.wait_for_function("() => document.querySelectorAll('.wk-queue li').length === 0", timeout=HANG_MS)
    visits = visit_rows(url, leaf["account"])
    assert sorted(f"{v['target_type']}:{v['target_id']}" for v in visits) == sorted(keys)
    for v in visits:  # when they were done (offline), not when they arrived
        assert went_offline <= v["visited_at"] <= back_online <= v["received_at"]
    event = query(url, "SELECT taken_at, at AS created_at FROM case_events WHERE case_id = :id "
                       "AND type = 'feed_back'", id=case_id)
    assert len(event) == 1
    assert went_offline <= event[0]["taken_at"] <= back_online <= event[0]["created_at"]
    assert page.locator(".wk-conflicts li").count() == 0
    context.close()
    assert online_errors(watch) == [], watch.errors


def test_page_reloads_offline_from_its_service_worker(browser, demo_base, demo_copy_url):  # noqa: F811
    url = demo_copy_url
    leaf = demo_leaf(url)
    (here,) = points_in(url, leaf["code"], 1)
    case_id = new_case(url, here, "路灯不亮")
    context, page, watch = phone_page(browser, demo_base, url, leaf["account"], here)
    first_card_is(page, case_id)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=HANG_MS)
    all_loaded(page)
    context.set_offline(True)
    page.reload()
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)
    first_card_is(page, case_id)
    assert "离线数据" in page.locator("#inbox-summary").inner_text()
    assert page.locator("#wk-net").get_attribute("data-state") == "offline"
    context.close()
    assert online_errors(watch) == [], watch.errors


def test_refused_geolocation_sorts_by_a_typed_position_gcj02_converted(
        browser, demo_base, demo_copy_url):  # noqa: F811
    from geo.gcj02 import wgs84_to_gcj02

    url = demo_copy_url
    leaf = demo_leaf(url)
    near_a, near_b = points_in(url, leaf["code"], 2)
    case_a = new_case(url, near_a, "树木倒伏")
    case_b = new_case(url, near_b, "违规占道")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN",
                                  permissions=[], service_workers="block")
    sign_in_browser(context, demo_base, url, leaf["account"])
    page = context.new_page()
    watch = Watcher(page)
    page.goto(f"{demo_base}/worker")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)
    form = page.locator("#wk-position .wk-pos-form")
    form.wait_for(state="visible", timeout=HANG_MS)  # refused: the form opens by itself
    assert "无法获取定位" in page.locator("#wk-position .wk-pos-text").inner_text()
    form.locator("input[name=lonlat]").fill("112.8,abc")
    form.locator("button[type=submit]").click()
    assert "经度,纬度" in form.locator(".wk-error").inner_text()
    # where case B is, as a Chinese map app shows it (GCJ-02, some 500 m off at Bagong)
    gcj = wgs84_to_gcj02(*near_b)
    form.locator("input[name=lonlat]").fill(f"{gcj[0]:.7f}，{gcj[1]:.7f}")
    form.locator("select[name=crs]").select_option("gcj02")
    form.locator("button[type=submit]").click()
    first_card_is(page, case_b)
    assert card_distances(page)[0] <= 2  # converted on the phone before measuring
    assert "GCJ02" in page.locator("#wk-position .wk-pos-text").inner_text()
    # and back to where case A is, typed as GPS (WGS 84) coordinates
    page.locator("#wk-position .wk-pos-edit").click()
    form.locator("input[name=lonlat]").fill(f"{near_a[0]:.7f},{near_a[1]:.7f}")
    form.locator("select[name=crs]").select_option("wgs84")
    form.locator("button[type=submit]").click()
    first_card_is(page, case_a)
    context.close()
    assert watch.errors == [], watch.errors


def test_a_queued_action_on_a_case_moved_on_meanwhile_is_shown_as_a_conflict(
        browser, demo_base, demo_copy_url, demo_tokens):  # noqa: F811
    from tests.accounts_support import bearer
    from tests.test_transitions_api import act as api_act
    from web import create_app

    url = demo_copy_url
    leaf = demo_leaf(url)
    (here,) = points_in(url, leaf["code"], 1)
    case_id = new_case(url, here, "占道经营")
    context, page, watch = phone_page(browser, demo_base, url, leaf["account"], here)
    first_card_is(page, case_id)
    all_loaded(page)
    context.set_offline(True)
    page.wait_for_function("() => document.getElementById('wk-net').dataset.state === 'offline'",
                           timeout=HANG_MS)
    page.locator(f".wk-card[data-case-id='{case_id}']").click()
    act(page, "accept")
    act(page, "note", note="已到现场")  # chained on the accept, offered offline by the workflow
    # meanwhile the same case goes back to the village center from another device
    client = bearer(create_app({"DATABASE_URL": url}).test_client(), demo_tokens[leaf["account"]])
    api_act(client, url, case_id, demo_tokens[leaf["account"]], "return", note="不属于本网格")
    # back to the list while still offline: once online, the case leaves the inbox (it went
    # back to the village center) and its sheet closes by itself
    page.locator("#wk-sheet .wk-back").click()
    context.set_offline(False)
    page.locator(".wk-tabs button[data-tab=sync]").click()
    page.wait_for_function("() => document.querySelectorAll('.wk-conflicts li').length === 2",
                           timeout=HANG_MS)
    conflicts = page.locator(".wk-conflicts li").all_inner_texts()
    assert "受理" in conflicts[0] and "记录" in conflicts[1]
    assert "同一案件之前的操作未执行" in conflicts[1]
    assert page.locator(".wk-queue li").count() == 0
    events = [e["type"] for e in query(url, "SELECT type FROM case_events WHERE case_id = :id",
                                       id=case_id)]
    assert "accept" not in events and "note" not in events
    # dismissed by the worker, not before
    page.locator(".wk-conflicts li button").first.click()
    page.wait_for_function("() => document.querySelectorAll('.wk-conflicts li').length === 1",
                           timeout=HANG_MS)
    context.close()
    # the browser notes the refusal it was meant to get
    assert [e for e in online_errors(watch) if "409" not in e] == [], watch.errors
