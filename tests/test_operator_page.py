"""The operator map page and the numbers behind it, through Flask's test client on the Bagong
demo: the page stays small and local, the language switch, and the grid and day numbers equal
what SQL counts with the definitions of cases/stats.py.

The browser half (drawing, live updates, clicks) is test_operator_browser.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from cases import stats
from cases.deadlines import LOCAL_TZ
from db.session import engine_for, session_scope
from tests.accounts_support import bearer, operator_client, token_for
from tests.openapi_support import assert_documented
from web import create_app
from web.i18n import COOKIE

# Any link to a host: an http(s) URL, or a protocol-relative //host.tld (ours are root-relative).
URL_RE = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}|https?://", re.IGNORECASE)
OPEN = "('collected', 'filed', 'dispatched', 'handling', 'escalated', 'fed_back', 'returned', 'parked')"
MB = 1024 * 1024


@pytest.fixture
def client(demo_db_url):
    yield operator_client({"DATABASE_URL": demo_db_url, "TESTING": True})
    engine_for(demo_db_url).dispose()  # demo_copy_url copies the demo: no connection may stay


def sql(url: str, statement: str, **params) -> list[dict]:
    with session_scope(url) as s:
        return [dict(r) for r in s.execute(text(statement), params).mappings()]


# -- the page ------------------------------------------------------------------------------

def test_operator_page_is_small_local_and_holds_no_case(client, demo_db_url):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert len(response.data) < MB
    assert URL_RE.findall(html) == []
    for path in ("vendor/leaflet/leaflet.js", "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
                 "vendor/leaflet.heat/leaflet-heat.js", "js/operator.js", "css/gridgov.css"):
        assert f"/static/{path}" in html
    assert "/tiles/cases/{z}/{x}/{y}.pbf?open=1" in html
    # folium's widgets we do not use are not loaded
    assert "jquery" not in html and "bootstrap" not in html
    # cases come from tiles, never from the page
    descriptions = [r["description"] for r in sql(demo_db_url, "SELECT description FROM cases ORDER BY id LIMIT 50")]
    assert not any(d in html for d in descriptions)
    # every grid is on the page, with the layer control, the legend and the method section
    codes = [r["code"] for r in sql(demo_db_url, "SELECT code FROM grids WHERE valid_to IS NULL")]
    assert len(codes) == 419 and all(code in html for code in codes)
    assert "L.control.layers" in html
    assert 'class="legend"' in html and "热点分析" in html and "Benjamini" in html


def test_operator_page_flags_leaf_grids_without_a_worker_on_duty(client, demo_db_url):
    html = client.get("/").get_data(as_text=True)
    unstaffed = sql(demo_db_url, """
        SELECT count(*) AS n FROM grids g
        WHERE g.valid_to IS NULL AND g.level <> 'admin' AND NOT EXISTS (
            SELECT 1 FROM grid_assignments a JOIN people p ON p.id = a.person_id
            WHERE a.grid_code = g.code AND a.role = 'worker' AND p.on_duty
              AND (a.until IS NULL OR a.until >= town_today()))""")[0]["n"]
    assert unstaffed > 0  # the demo takes 4 % of its grid workers off duty
    assert html.count('"no_duty": true') == unstaffed
    legend = html[html.index('id="legend"'):]
    assert re.search(rf"无在岗网格员</span><span class=\"count\">{unstaffed}个", legend)


def test_language_is_chinese_by_default_and_english_sticks_once_chosen(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "网格化治理指挥中心" in html
    response = client.get("/?lang=en")
    english = response.get_data(as_text=True)
    assert '<html lang="en">' in english and "grid command center" in english and "Open cases" in english
    assert f"{COOKIE}=en" in response.headers["Set-Cookie"]
    # the cookie keeps English on the next page without ?lang=
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in client.get("/?lang=zh").get_data(as_text=True)


def test_an_unknown_language_on_a_page_is_a_page_in_chinese_then_english(client):
    response = client.get("/?lang=fr")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    chinese, english = html.index("不支持语言“fr”"), html.index("There is no language “fr”")
    assert chinese < english
    assert 'href="?lang=zh"' in html and 'href="?lang=en"' in html
    assert "gridgov_lang" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("path", ["/cases?grid=140525108201&lang=xx", "/cases/1?lang=xx"])
def test_every_page_answers_an_unknown_language_with_a_page_keeping_its_other_parameters(client, path):
    response = client.get(path)
    assert response.status_code == 400 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "不支持语言“xx”" in html
    if "grid=" in path:
        assert 'href="?grid=140525108201&amp;lang=en"' in html


def test_an_unknown_language_is_escaped_on_the_page(client):
    html = client.get("/?lang=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_the_api_keeps_json_errors_whatever_lang_says(client):
    response = client.get("/api/v1/cases/999999999?lang=xx")
    assert response.status_code == 404 and response.mimetype == "application/json"


def test_empty_database_page_says_how_to_load_data_in_english_too(empty_db_url):
    # an administrator's account made before any town is loaded
    client = bearer(create_app({"DATABASE_URL": empty_db_url}).test_client(),
                    token_for(empty_db_url, "admin"))
    html = client.get("/?lang=en").get_data(as_text=True)
    assert "No grids yet" in html and "gridgov demo load" in html
    assert URL_RE.findall(html) == []


# -- GET /api/v1/grids ----------------------------------------------------------------------

def test_grids_api_lists_one_level_as_geojson(client):
    response = client.get("/api/v1/grids?level=admin")
    assert_documented("GET", "/api/v1/grids", response)  # each feature's properties, its geometry
    body = response.get_json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 38
    assert {f["properties"]["level"] for f in body["features"]} == {"admin"}
    assert len(client.get("/api/v1/grids").get_json()["features"]) == 419


def test_grids_api_refuses_an_unknown_level(client):
    response = client.get("/api/v1/grids?level=village")
    assert response.status_code == 422
    assert response.get_json()["details"][0]["field"] == "level"


# -- GET /api/v1/grids/stats ----------------------------------------------------------------

def _expected_leaf(url: str, code: str, since: datetime, until: datetime) -> dict:
    now = datetime.now(LOCAL_TZ)
    cases = sql(url, f"""
        SELECT count(*) FILTER (WHERE status IN {OPEN}) AS open,
               count(*) FILTER (WHERE status IN {OPEN} AND status <> 'parked' AND due_at < :now) AS overdue,
               count(*) FILTER (WHERE created_at >= :since AND created_at < :until) AS cases
        FROM cases WHERE grid_code = :code""", code=code, now=now, since=since, until=until)[0]
    homes = sql(url, "SELECT count(*) AS households, coalesce(sum(residents), 0) AS residents "
                     "FROM households WHERE grid_code = :code", code=code)[0]
    duty = sql(url, """SELECT count(*) FILTER (WHERE p.on_duty) AS on_duty, count(*) AS workers
        FROM grid_assignments a JOIN people p ON p.id = a.person_id
        WHERE a.grid_code = :code AND a.role = 'worker'""", code=code)[0]
    return {**cases, **homes, "workers_on_duty": duty["on_duty"], "workers": duty["workers"]}


def test_grid_stats_equal_sql_counts(client, demo_db_url):
    body = client.get("/api/v1/grids/stats").get_json()
    since, until = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
    assert until - since == timedelta(days=30)
    grids = body["grids"]
    assert len(grids) == 419
    busiest = sql(demo_db_url, f"""SELECT grid_code FROM cases WHERE status IN {OPEN}
        GROUP BY grid_code ORDER BY count(*) DESC, grid_code LIMIT 3""")
    for row in busiest:
        got = grids[row["grid_code"]]
        expected = _expected_leaf(demo_db_url, row["grid_code"], since, until)
        assert {k: got[k] for k in expected} == expected
        assert got["cases_per_1000"] == (
            round(expected["cases"] * 1000 / expected["residents"], 2) if expected["residents"] else None)
    # a village adds up its leaf grids and the cases queued to the village itself
    village = sql(demo_db_url, "SELECT admin_code FROM cases GROUP BY admin_code ORDER BY count(*) DESC LIMIT 1")[0]["admin_code"]
    totals = sql(demo_db_url, f"""SELECT count(*) FILTER (WHERE status IN {OPEN}) AS open
        FROM cases WHERE admin_code = :code""", code=village)[0]
    assert grids[village]["open"] == totals["open"]
    homes = sql(demo_db_url, """SELECT count(*) AS n FROM households WHERE grid_code = :code
        OR grid_code IN (SELECT code FROM grids WHERE parent_code = :code AND valid_to IS NULL)""",
                code=village)[0]["n"]
    assert grids[village]["households"] == homes > 0
    all_open = sql(demo_db_url, f"SELECT count(*) AS n FROM cases WHERE status IN {OPEN}")[0]["n"]
    assert sum(g["open"] for g in grids.values() if g["level"] == "admin") == all_open


def test_grid_stats_count_cases_in_the_window_asked(client, demo_db_url):
    body = client.get("/api/v1/grids/stats?since=2020-01-01&until=2100-01-01").get_json()
    assert body["since"].startswith("2020-01-01T00:00:00+08:00")
    total = sql(demo_db_url, "SELECT count(*) AS n FROM cases")[0]["n"]
    assert sum(g["cases"] for g in body["grids"].values() if g["level"] == "admin") == total


@pytest.mark.parametrize("query, field", [
    ("since=2025-13-01", "since"), ("until=yesterday", "until"),
    ("since=2026-05-02&until=2026-05-01", "until"), ("since=2026-05-01&until=2026-05-01", "until"),
])
def test_grid_stats_refuse_a_bad_window(client, query, field):
    response = client.get(f"/api/v1/grids/stats?{query}")
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_query" and body["details"][0]["field"] == field


def test_households_per_worker_is_the_load_of_the_grids_on_duty_workers():
    grids = [
        {"code": "V", "level": "admin", "parent_code": None},
        {"code": "A", "level": "service", "parent_code": "V"},
        {"code": "B", "level": "service", "parent_code": "V"},
        {"code": "C", "level": "regional", "parent_code": "V"},
        {"code": "D", "level": "service", "parent_code": "V"},
    ]
    households = {"A": (100, 300), "B": (50, 120), "D": (80, 200)}
    posts = [("A", 1, True), ("B", 1, True), ("C", 2, True), ("C", 3, True), ("D", 4, False)]
    counts = [{"grid_code": "A", "admin_code": "V", "open": 3, "overdue": 1, "cases": 6},
              {"grid_code": "V", "admin_code": "V", "open": 1, "overdue": 0, "cases": 1}]
    out = stats.grid_numbers(grids, households, posts, counts)
    assert out["A"]["households_per_worker"] == 150.0  # worker 1 serves A and B
    assert out["B"]["households_per_worker"] == 150.0
    assert out["C"]["households_per_worker"] == 0.0  # two workers share no households
    assert out["D"]["households_per_worker"] is None and out["D"]["workers_on_duty"] == 0
    assert out["V"]["households_per_worker"] == round(230 / 3, 1)  # 3 distinct workers on duty
    assert out["V"]["open"] == 4 and out["A"]["open"] == 3 and out["A"]["cases_per_1000"] == 20.0
    assert out["C"]["cases_per_1000"] is None  # no residents


# -- GET /api/v1/grids/{code} ---------------------------------------------------------------

def test_grid_detail_has_people_with_duty_and_the_grids_numbers(client, demo_db_url):
    leaf = sql(demo_db_url, """SELECT a.grid_code FROM grid_assignments a JOIN people p ON p.id = a.person_id
        WHERE a.role = 'worker' AND NOT p.on_duty ORDER BY a.grid_code LIMIT 1""")[0]["grid_code"]
    response = client.get(f"/api/v1/grids/{leaf}")
    assert_documented("GET", "/api/v1/grids/{code}", response)
    feature = response.get_json()
    props = feature["properties"]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "MultiPolygon"
    assert props["code"] == leaf and props["level"] in ("regional", "service")
    assert props["parent_name"] and props["links"]["cases"] == f"/cases?grid={leaf}"
    workers = [p for p in props["people"] if p["post"] == "worker"]
    assert any(not w["on_duty"] for w in workers)
    stats_body = client.get("/api/v1/grids/stats").get_json()
    assert props["numbers"] == stats_body["grids"][leaf]
    village = client.get(f"/api/v1/grids/{props['parent_code']}").get_json()["properties"]
    assert village["people"][0]["post"] == "leader"  # leaders first
    assert {p["grid_code"] for p in village["people"]} > {props["parent_code"]}  # its leaf grids' too


@pytest.mark.parametrize("code, status, error", [
    ("abc", 422, "invalid_grid_code"), ("1405251082270019999999", 422, "invalid_grid_code"),
    ("140525108299999", 404, "grid_not_found"),
])
def test_grid_detail_refuses_bad_or_unknown_codes(client, code, status, error):
    response = client.get(f"/api/v1/grids/{code}")
    assert response.status_code == status and response.get_json()["error"] == error


# -- GET /api/v1/stats/today ----------------------------------------------------------------

def test_day_numbers_equal_sql_counts(client, demo_db_url):
    body = client.get("/api/v1/stats/today").get_json()
    now = datetime.fromisoformat(body["as_of"])
    day = date.fromisoformat(body["day"])
    start = datetime.combine(day, datetime.min.time(), LOCAL_TZ)
    end = start + timedelta(days=1)
    assert body["timezone"] == "Asia/Shanghai" and start <= now < end
    expected = sql(demo_db_url, f"""
        SELECT count(*) FILTER (WHERE created_at >= :start AND created_at < :end) AS new,
               count(*) FILTER (WHERE status IN {OPEN}) AS open,
               count(*) FILTER (WHERE status IN {OPEN} AND status <> 'parked' AND due_at < :now) AS overdue,
               count(*) FILTER (WHERE status IN ('closed', 'evaluated') AND closed_at >= :start
                                AND closed_at < :end) AS closed
        FROM cases""", start=start, end=end, now=now)[0]
    assert {k: body[k] for k in expected} == expected
    rated = sql(demo_db_url, """SELECT satisfaction, count(*) AS n FROM cases
        WHERE satisfaction IS NOT NULL AND closed_at >= :since AND closed_at < :now GROUP BY 1""",
                since=now - timedelta(days=30), now=now)
    levels = {r["satisfaction"]: r["n"] for r in rated}
    s = body["satisfaction"]
    assert s["levels"] == {k: levels.get(k, 0) for k in
                           ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied")}
    assert s["evaluated"] == sum(levels.values()) > 0
    assert s["satisfied_share"] == round(1 - levels.get("dissatisfied", 0) / s["evaluated"], 4)


def test_day_numbers_count_a_case_created_and_one_closed_today(demo_copy_url):
    client = operator_client({"DATABASE_URL": demo_copy_url})
    before = client.get("/api/v1/stats/today").get_json()
    with session_scope(demo_copy_url) as s:
        s.execute(text("""INSERT INTO cases (town_code, category_code, description, status, channel,
                          created_at, updated_at, due_at)
                          VALUES ('140525108', 'patrol.street_light', '路灯不亮', 'dispatched', 'hotline',
                                  now(), now(), now() - interval '1 hour')"""))
        s.execute(text("""UPDATE cases SET status = 'closed', closed_at = now()
                          WHERE id = (SELECT min(id) FROM cases WHERE status = 'handling')"""))
    after = client.get("/api/v1/stats/today").get_json()
    assert after["new"] == before["new"] + 1
    assert after["closed"] == before["closed"] + 1
    assert after["overdue"] >= before["overdue"]  # the new case is overdue, the closed one may have been
    assert after["open"] == before["open"]  # one opened, one closed
    engine_for(demo_copy_url).dispose()
