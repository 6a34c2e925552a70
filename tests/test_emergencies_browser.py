"""Emergency mobilisation in real headless Chromium: twenty grid workers' phones (/worker, one
browser context each, their own accounts: the grids' workers and auxiliaries) open before the
emergency is mobilised, receive its tasks from the stream, and confirm 154 households between
them, while the command center's board (/emergencies/{id}) counts them live, without a reload.
A phone offline keeps its confirmations and sends each once when the network returns.

``GRIDGOV_DOCS_SCREENSHOTS=1`` also writes the README's docs/emergency-board.png.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from accounts import repository, service
from db.session import session_scope
from demo.accounts import DEMO_PASSWORD
from tests.accounts_support import operator_client, sign_in_browser
from tests.test_browser import Watcher, browser  # noqa: F401  (the module's browser fixture)
from tests.test_case_actions_browser import demo_base  # noqa: F401  (the live server on a demo copy)
from tests.visit_support import query
from tests.waits import HANG_MS

HOUSEHOLDS = 154  # the flood of the town's report: 154 households, 295 people, in 3 hours
PAGES = 20
PHONE = {"width": 390, "height": 844}
DOCS = Path(__file__).resolve().parents[1] / "docs"


def area_of(url: str, client, households: int) -> dict:
    """A circle (a point buffered by some metres) holding exactly ``households`` households,
    in the town's dense places; the circle is a polygon of segments, so the centres tried
    first are those with the widest gap between the last household in and the first out, and
    the count is checked with the preview itself."""
    centres = query(url, """
        SELECT ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat
          FROM households h JOIN addresses a ON a.id = h.address_id
         WHERE h.grid_code IN (SELECT grid_code FROM households GROUP BY grid_code
                                ORDER BY count(*) DESC LIMIT 12)
           AND h.id % 7 = 0""")
    tried = []
    for c in centres:
        d = [r["d"] for r in query(url, """
            SELECT ST_Distance(CAST(a.geom AS geography),
                               CAST(ST_SetSRID(ST_MakePoint(:x, :y), 4326) AS geography)) AS d
              FROM households h JOIN addresses a ON a.id = h.address_id
             ORDER BY 1 LIMIT :n""", x=c["lon"], y=c["lat"], n=households + 4)]
        tried.append(((d[households] - d[households - 1]) / d[households], c, d))
    # the widest gaps first, the radius in the middle of a gap: the buffer is a polygon whose
    # sides touch the circle, a few centimetres outside it at its corners; the preview is the
    # judge, and the gaps next to the 154th are tried too
    seen: list = []
    for _, c, d in sorted(tried, key=lambda t: -t[0])[:40]:
        for k in (households, households + 1, households - 1, households + 2, households + 3):
            if d[k] - d[k - 1] < 0.5:
                continue
            area = {"geojson": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
                    "buffer_m": round((d[k] + d[k - 1]) / 2, 2)}
            answer = client.post("/api/v1/emergencies/preview", json={"area": area})
            if answer.status_code == 200 and answer.json["totals"]["households"] == households:
                return area
            seen.append((answer.status_code, answer.json["totals"]["households"]
                         if answer.status_code == 200 else answer.get_data(as_text=True)[:200]))
    pytest.fail(f"no circle holds exactly {households} households; the previews said "
                f"{seen[:8]}")


def phone_accounts(url: str, grids: list[str], n: int) -> list[tuple[str, frozenset[str]]]:
    """Accounts for up to ``n`` people of ``grids`` — each grid's worker first, then its
    auxiliaries in turn — made with the demo's password; (name, the grids they answer for)."""
    rows = query(url, """
        SELECT ga.person_id, ga.grid_code, ga.role FROM grid_assignments ga
         WHERE ga.grid_code = ANY(:g) AND ga.role IN ('worker', 'auxiliary')
         ORDER BY ga.role = 'auxiliary', ga.person_id""", g=grids)
    people: dict[int, dict] = {}
    for r in rows:
        p = people.setdefault(r["person_id"], {"role": r["role"], "grids": set()})
        p["grids"].add(r["grid_code"])
    chosen = list(people.items())[:n]
    out = []
    with session_scope(url) as s:
        for pid, p in chosen:
            name = f"em_{p['role']}_{pid}"
            if repository.account_by_name(s, name) is None:
                service.create_account(s, name, "grid_worker" if p["role"] == "worker"
                                       else "auxiliary", person_id=pid, password=DEMO_PASSWORD)
            out.append((name, frozenset(p["grids"])))
    return out


def open_phone(browser, base: str, url: str, account: str, lonlat):  # noqa: F811
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"longitude": lonlat[0], "latitude": lonlat[1],
                                               "accuracy": 15},
                                  service_workers="allow")
    sign_in_browser(context, base, url, account)
    page = context.new_page()
    watch = Watcher(page)
    page.goto(f"{base}/worker")
    page.wait_for_function("() => document.body.dataset.booted === '1'", timeout=HANG_MS)
    page.click(".wk-tabs button[data-tab='emergency']")
    return context, page, watch


def confirm_relocated(page, task_id: int, place: str | None = None) -> None:
    page.click(f".wk-em-task[data-task='{task_id}'] .wk-em-relocate")
    if place is not None:
        page.fill(".wk-relocate-form input[name='relocated_to']", place)
    page.click(".wk-relocate-form button[type='submit']")


def count_on_board(board, name: str) -> int:
    return int(board.locator(f"[data-count='{name}']").inner_text())


def test_twenty_phones_confirm_154_households_while_the_board_counts_them_live(
        browser, demo_base, demo_copy_url, artifacts_dir):  # noqa: F811
    url = demo_copy_url
    operator = operator_client({"DATABASE_URL": url})
    area = area_of(url, operator, HOUSEHOLDS)
    preview = operator.post("/api/v1/emergencies/preview", json={"area": area}).json
    grids = [g["grid_code"] for g in preview["grids"]]
    accounts = phone_accounts(url, grids, PAGES)
    assert len(accounts) == PAGES, f"the area's grids have {len(accounts)} people, not {PAGES}"
    centre = area["geojson"]["coordinates"]

    phones = [open_phone(browser, demo_base, url, name, centre) for name, _ in accounts]
    for _, page, _ in phones:  # nothing yet
        page.wait_for_function("() => document.getElementById('emergency-summary').textContent"
                               ".includes('没有应急任务')", timeout=HANG_MS)

    answer = operator.post("/api/v1/emergencies", json={
        "name": "丹河汛情 转移群众", "kind": "evacuate",
        "instructions": "先转移独居老人、卧床和残疾人员，集中安置到村委会大院", "area": area})
    assert answer.status_code == 201, answer.json
    eid = answer.json["emergency"]["id"]
    tasks = query(url, "SELECT id, grid_code, residents, vulnerable FROM emergency_tasks "
                       "WHERE emergency_id = :e AND target_type = 'household' ORDER BY id", e=eid)
    assert len(tasks) == HOUSEHOLDS

    board_context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                        locale="zh-CN")
    sign_in_browser(board_context, demo_base, url, "town_operator")
    board = board_context.new_page()
    board_watch = Watcher(board)
    board.goto(f"{demo_base}/emergencies/{eid}")
    board.wait_for_function("() => document.getElementById('em-live').dataset.state === 'on'",
                            timeout=HANG_MS)
    board.evaluate("window.__sameDocument = true")
    assert count_on_board(board, "households_to_go") == HOUSEHOLDS
    assert count_on_board(board, "households_confirmed") == 0

    # each phone hears of the emergency from the stream: its grids' tasks, the vulnerable first
    mine: dict[int, list[int]] = defaultdict(list)  # page index -> household task ids to confirm
    by_grid: dict[str, list[int]] = defaultdict(list)
    for i, (_, covered) in enumerate(accounts):
        for g in covered:
            by_grid[g].append(i)
    for k, t in enumerate(tasks):
        pages = by_grid[t["grid_code"]]
        assert pages, f"no phone for grid {t['grid_code']}"
        mine[pages[k % len(pages)]].append(t["id"])
    for i, (_, page, _) in enumerate(phones):
        if not mine[i]:
            continue
        page.wait_for_selector(f".wk-em-task[data-task='{mine[i][0]}']", timeout=HANG_MS)
        order = page.eval_on_selector_all(
            "#emergency-list .wk-em-task", "ts => ts.map(t => Number(t.dataset.vulnerable || 0))")
        assert order == sorted(order, reverse=True)

    # what a worker sees: the emergency's instructions and their tasks, the vulnerable first
    phone = phones[0][1]
    line = phone.locator("#emergency-list .wk-em-task .wk-desc").first
    whole = line.get_attribute("title")
    assert whole.startswith("山西省晋城市泽州县巴公镇"), whole  # the whole address on a long press
    assert line.inner_text() == whole.removeprefix("山西省晋城市泽州县巴公镇")  # the line: from the village on
    phone.screenshot(path=str(artifacts_dir / "emergency-phone.png"))
    if os.environ.get("GRIDGOV_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        phone.screenshot(path=str(DOCS / "emergency-phone.png"))

    # the phones confirm, round by round (each sends through its own queue, concurrently)
    first = set()
    rounds = max(len(v) for v in mine.values())
    for r in range(rounds):
        for i, (_, page, _) in enumerate(phones):
            if r < len(mine[i]):
                confirm_relocated(page, mine[i][r], None if i in first else "村委会大院")
                first.add(i)
        if r == rounds // 2:  # half way: the board has counted some, live
            board.wait_for_function(
                "() => document.querySelector(\"[data-count='households_confirmed']\").textContent !== '0'",
                timeout=HANG_MS)

    people = sum(t["residents"] for t in tasks)
    board.wait_for_function(
        "n => document.querySelector(\"[data-count='households_confirmed']\").textContent === String(n)",
        arg=HOUSEHOLDS, timeout=HANG_MS)
    board.wait_for_function(
        "n => document.querySelector(\"[data-count='people_relocated']\").textContent === String(n)",
        arg=people, timeout=HANG_MS)
    assert count_on_board(board, "households_to_go") == 0
    assert count_on_board(board, "vulnerable_not_reached") == 0
    assert board.evaluate("window.__sameDocument") is True  # counted live, never reloaded
    board.wait_for_function(
        "n => document.querySelectorAll('#em-recent li').length === n", arg=20, timeout=HANG_MS)
    board.screenshot(path=str(artifacts_dir / "emergency-board.png"), full_page=True)
    if os.environ.get("GRIDGOV_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        board.screenshot(path=str(DOCS / "emergency-board.png"), full_page=True)

    # in the database: each household once, relocated, by an account of its grid
    rows = query(url, """
        SELECT t.status, t.relocated_to, t.people = t.residents AS all_people, a.name
          FROM emergency_tasks t JOIN accounts a ON a.id = t.confirmed_by
         WHERE t.emergency_id = :e AND t.target_type = 'household'""", e=eid)
    assert len(rows) == HOUSEHOLDS
    assert {r["status"] for r in rows} == {"relocated"}
    assert {r["relocated_to"] for r in rows} == {"村委会大院"}
    assert all(r["all_people"] for r in rows)
    grids_of = dict(accounts)
    wrong = query(url, """
        SELECT t.grid_code, a.name FROM emergency_tasks t JOIN accounts a ON a.id = t.confirmed_by
         WHERE t.emergency_id = :e AND t.target_type = 'household'""", e=eid)
    assert all(w["grid_code"] in grids_of[w["name"]] for w in wrong)
    for _, page, watch in phones:
        assert not watch.errors, watch.errors
    assert not board_watch.errors, board_watch.errors
    assert all(u.startswith(demo_base) or u.startswith("data:") for u in board_watch.requests)
    for context, _, _ in phones:
        context.close()
    board_context.close()


def test_an_offline_phone_sends_its_confirmations_once_when_back_online(
        browser, demo_base, demo_copy_url):  # noqa: F811
    url = demo_copy_url
    operator = operator_client({"DATABASE_URL": url})
    grid = query(url, "SELECT ga.grid_code FROM grid_assignments ga JOIN accounts a ON "
                      "a.person_id = ga.person_id WHERE a.name = 'grid_worker_1' "
                      "ORDER BY 1 LIMIT 1")[0]["grid_code"]
    eid = operator.post("/api/v1/emergencies", json={
        "name": "确认安全", "kind": "confirm_safe", "area": {"grid": grid}}).json["emergency"]["id"]
    tasks = [r["id"] for r in query(url, "SELECT id FROM emergency_tasks WHERE emergency_id = :e "
                                         "AND target_type = 'household' ORDER BY id LIMIT 2",
                                    e=eid)]
    centre = query(url, "SELECT ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) "
                        "AS y FROM grids WHERE code = :g AND valid_to IS NULL", g=grid)[0]
    context, page, watch = open_phone(browser, demo_base, url, "grid_worker_1",
                                      (centre["x"], centre["y"]))
    page.wait_for_selector(f".wk-em-task[data-task='{tasks[0]}']", timeout=HANG_MS)
    page.wait_for_function("() => document.body.dataset.offlineReady === '1'", timeout=HANG_MS)
    context.set_offline(True)
    page.click(f".wk-em-task[data-task='{tasks[0]}'] .wk-em-safe")
    confirm_relocated(page, tasks[1], "镇中学体育馆")
    page.wait_for_function("() => document.querySelectorAll('#emergency-list [data-done=queued]')"
                           ".length === 2", timeout=HANG_MS)
    assert query(url, "SELECT count(*) AS n FROM emergency_tasks WHERE emergency_id = :e AND "
                      "status <> 'open'", e=eid)[0]["n"] == 0
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("() => document.querySelector('[data-badge=sync]').hidden", timeout=HANG_MS)
    rows = query(url, "SELECT id, status, relocated_to FROM emergency_tasks WHERE emergency_id = :e "
                      "AND status <> 'open' ORDER BY id", e=eid)
    assert [(r["id"], r["status"]) for r in rows] == [(tasks[0], "safe"), (tasks[1], "relocated")]
    assert rows[1]["relocated_to"] == "镇中学体育馆"
    # the requests refused while offline are the only errors
    assert [e for e in watch.errors if "net::ERR_INTERNET_DISCONNECTED" not in e] == []
    context.close()


def test_the_operator_previews_a_drawn_area_and_a_village_and_mobilises(
        browser, demo_base, demo_copy_url, tmp_path):  # noqa: F811
    from tests.accounts_support import signed_page

    url = demo_copy_url
    operator = operator_client({"DATABASE_URL": url})
    village = query(url, "SELECT scope_code FROM accounts WHERE name = 'village_operator'")[0][
        "scope_code"]
    page = signed_page(browser, demo_base, url, viewport={"width": 1440, "height": 900},
                       locale="zh-CN")
    watch = Watcher(page)
    page.goto(demo_base + "/")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=HANG_MS)

    # a polygon drawn on the map with leaflet-draw: four clicks, then 完成
    page.select_option("#emp-mode", "polygon")
    page.click("#emp-draw")
    box = page.locator(".folium-map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    corners = [(cx - 60, cy - 60), (cx + 60, cy - 60), (cx + 60, cy + 60), (cx - 60, cy + 60)]
    for n, (x, y) in enumerate(corners, 1):
        page.mouse.move(x, y, steps=4)
        page.mouse.down()
        page.mouse.up()
        page.wait_for_function(
            "n => document.querySelectorAll('.leaflet-marker-icon.leaflet-div-icon').length >= n",
            arg=n, timeout=HANG_MS)
    page.click("#emp-finish")
    page.wait_for_function("() => document.getElementById('emp-status').textContent.length > 0",
                           timeout=HANG_MS)
    page.click("#emp-preview")
    page.wait_for_function("() => !document.getElementById('emp-result').hidden "
                           "|| document.getElementById('emp-status').classList.contains('error')",
                           timeout=HANG_MS)
    # the town center is dense: the square holds households (else the API said why)
    assert not page.locator("#emp-result").is_hidden(), page.locator("#emp-status").inner_text()
    assert page.locator("#emp-grids tbody tr").count() > 0

    # a village by its code: the table is the API's
    page.select_option("#emp-mode", "village")
    page.fill("#emp-code", village)
    page.click("#emp-preview")
    page.wait_for_function("() => !document.getElementById('emp-result').hidden", timeout=HANG_MS)
    expected = operator.post("/api/v1/emergencies/preview",
                             json={"area": {"village": village}}).json
    rows = page.locator("#emp-grids tbody tr")
    page.wait_for_function("n => document.querySelectorAll('#emp-grids tbody tr').length === n",
                           arg=len(expected["grids"]), timeout=HANG_MS)
    assert str(expected["totals"]["households"]) in page.locator("#emp-totals").inner_text()
    assert rows.count() == len(expected["grids"])

    # a file that covers nothing: the API's message, nothing mobilised
    far = tmp_path / "far.geojson"
    far.write_text('{"type": "Polygon", "coordinates": [[[116, 39], [116.01, 39], '
                   '[116.01, 39.01], [116, 39]]]}', encoding="utf-8")
    page.select_option("#emp-mode", "upload")
    page.set_input_files("#emp-file", str(far))
    page.click("#emp-preview")
    page.wait_for_function("() => document.getElementById('emp-status').classList.contains('error')",
                           timeout=HANG_MS)
    assert "没有" in page.locator("#emp-status").inner_text() or \
        "no household" in page.locator("#emp-status").inner_text()

    # back to the village: mobilise, then follow the link to its board
    page.select_option("#emp-mode", "village")
    page.fill("#emp-code", village)
    page.click("#emp-preview")
    page.wait_for_function("() => !document.getElementById('emp-result').hidden", timeout=HANG_MS)
    page.fill("#emp-form input[name='name']", "村庄疏散演练")
    page.select_option("#emp-form select[name='kind']", "count")
    page.click("#emp-mobilise")
    page.wait_for_selector("#emp-board-link", timeout=HANG_MS)
    created = query(url, "SELECT id, kind FROM emergencies WHERE name = '村庄疏散演练'")
    assert [r["kind"] for r in created] == ["count"]
    page.click("#emp-board-link")
    page.wait_for_function("() => document.getElementById('em-live') "
                           "&& document.getElementById('em-live').dataset.state === 'on'",
                           timeout=HANG_MS)
    assert int(page.locator("[data-count='households_to_go']").inner_text()) == \
        expected["totals"]["households"]
    # closed with a summary: the page shows it, the figures are kept
    page.fill("#em-summary-text", "演练结束，<b>全部</b>清点完毕")
    page.click("#em-close-form button[type='submit']")
    # the page reloads when closed: between the two documents there is no em-state to read
    page.wait_for_function("() => document.getElementById('em-state') "
                           "&& document.getElementById('em-state').dataset.state === 'closed'",
                           timeout=HANG_MS)
    assert page.locator("#em-summary").inner_text() == "演练结束，<b>全部</b>清点完毕"
    final = query(url, "SELECT final_figures FROM emergencies WHERE name = '村庄疏散演练'")[0]
    assert final["final_figures"]["households"] == expected["totals"]["households"]
    errors = [e for e in watch.errors if "422" not in e]  # the refused file's answer
    assert errors == [], watch.errors
