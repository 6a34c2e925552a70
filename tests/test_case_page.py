"""``/cases/{id}`` and ``/cases?grid=CODE`` through Flask's test client, on a copy of the demo:
what a case page shows (details, photos, small map, routing, assignee, deadlines, history),
that everything a person typed is escaped, and the 404s and 400s."""

from __future__ import annotations

import io
import json
import os
import re

import pytest
from sqlalchemy import text

from cases import intake
from db.session import engine_for, session_scope
from tests.accounts_support import operator_client

XSS = "<img src=x onerror=alert(1)>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
URL_RE = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}|https?://", re.IGNORECASE)


@pytest.fixture(scope="module")
def copy_url(pg_server, demo_db_url):
    """A copy of the demo for this module, which adds cases to it."""
    engine_for(demo_db_url).dispose()  # a template must have no connections
    name = f"gridgov_test_casepage_{os.getpid()}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    yield url
    engine_for(url).dispose()
    pg_server.drop_database(name)


@pytest.fixture
def client(copy_url):
    intake.clear_caches()
    return operator_client({"DATABASE_URL": copy_url})


def inside_a_service_grid(url: str) -> dict:
    with session_scope(url) as s:
        row = s.execute(text("""SELECT code, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat
            FROM grids WHERE level = 'service' AND valid_to IS NULL ORDER BY code LIMIT 1""")).mappings().one()
    return dict(row)


@pytest.fixture
def xss_case(client, copy_url) -> dict:
    """A case POSTed through the API whose every typed field is HTML, with one photo."""
    where = inside_a_service_grid(copy_url)
    body = {"category": "patrol.exposed_rubbish", "description": XSS, "channel": "resident",
            "location": {"lon": where["lon"], "lat": where["lat"]},
            "reporter": {"name": "<b>张三</b>", "phone": "13512345678"}}
    response = client.post("/api/v1/cases", data={
        "case": json.dumps(body), "photos": [(io.BytesIO(PNG), "<script>.png")],
    }, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_case_page_shows_details_routing_deadlines_history_and_photos(client, xss_case):
    response = client.get(f"/cases/{xss_case['id']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"案件 #{xss_case['id']}" in html
    assert "暴露垃圾" in html  # its category
    assert xss_case["grid"]["leaf"]["name"] in html and xss_case["grid"]["admin"]["name"] in html
    # the routing decision in Chinese on a Chinese page, in the recorded English on an English one
    leaf = xss_case["grid"]["leaf"]
    assert f"位于服务网格 {leaf['code']}（{leaf['name']}）" in html and "由该网格的网格员办理" in html
    english = client.get(f"/cases/{xss_case['id']}?lang=en").get_data(as_text=True)
    assert xss_case["routing_reason"] and xss_case["routing_reason"] in english.replace("&#34;", '"').replace("&#39;", "'")
    assert xss_case["assignee"]["name"] in html
    assert "办结时限" in html and "立案派遣时限" in html and "4 个工作小时" in html
    assert "处理记录" in html and "上报立案" in html  # the first event, named
    detail = client.get(f"/api/v1/cases/{xss_case['id']}").get_json()
    photo = detail["photos"][0]
    assert f'<img src="{photo["url"]}"' in html
    assert client.get(photo["url"]).data == PNG
    # the small map: local Leaflet, the grid outline and the point
    assert "/static/vendor/leaflet/leaflet.js" in html and "L.circleMarker" in html
    assert URL_RE.findall(html) == []


def test_case_page_escapes_everything_a_person_typed(client, xss_case):
    html = client.get(f"/cases/{xss_case['id']}").get_data(as_text=True)
    assert XSS not in html and "<b>张三</b>" not in html and "<script>.png" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;*" in html  # the reporter's name is masked until a reason is given
    # shown in full (tests/test_privacy.py), the name is escaped too, and so is the reason
    full = client.post(f"/cases/{xss_case['id']}/contact",
                       data={"reason": XSS}).get_data(as_text=True)
    assert XSS not in full and "<b>张三</b>" not in full
    assert "&lt;b&gt;张三&lt;/b&gt;" in full and "&lt;img src=x onerror=alert(1)&gt;" in full


def test_case_page_in_english(client, xss_case):
    html = client.get(f"/cases/{xss_case['id']}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html and "Routing decision" in html and "Exposed rubbish" in html


def test_case_page_of_a_demo_case_without_intake_record(client, copy_url):
    with session_scope(copy_url) as s:
        case_id = s.execute(text("SELECT min(id) FROM cases WHERE status = 'evaluated'")).scalar_one()
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    # its history is the demo's, made by the state machine: imported, accepted, ..., rated
    assert "已评价" in html and "导入" in html and "评价" in html and "没有记录" not in html


@pytest.mark.parametrize("path", ["/cases/99999999", "/cases/abc", "/cases/1234567890123456789012"])
def test_unknown_case_is_a_404_page(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")
    assert "没有编号为" in response.get_data(as_text=True)


def test_grid_case_list_links_every_case_newest_first(client, xss_case, copy_url):
    code = xss_case["grid"]["leaf"]["code"]
    response = client.get(f"/cases?grid={code}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    ids = [int(i) for i in re.findall(r'<tr data-case-id="(\d+)"', html)]
    with session_scope(copy_url) as s:
        expected = s.execute(text("SELECT id FROM cases WHERE grid_code = :g OR admin_code = :g "
                                  "ORDER BY id DESC LIMIT 100"), {"g": code}).scalars().all()
    assert ids == expected and ids[0] == xss_case["id"]
    assert f'href="/cases/{xss_case["id"]}"' in html
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_grid_case_list_pages_and_filters_open_cases(client, copy_url):
    with session_scope(copy_url) as s:
        village = s.execute(text("SELECT admin_code FROM cases GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar_one()
        total_open = s.execute(text(
            "SELECT count(*) FROM cases WHERE admin_code = :g AND status NOT IN ('closed', 'evaluated', 'voided')"),
            {"g": village}).scalar_one()
    html = client.get(f"/cases?grid={village}").get_data(as_text=True)
    first = re.findall(r'<tr data-case-id="(\d+)"', html)
    assert len(first) == 100
    older = re.search(r'href="/cases\?grid=\d+&amp;before=(\d+)"', html).group(1)
    assert older == first[-1]
    second = client.get(f"/cases?grid={village}&before={older}").get_data(as_text=True)
    assert int(re.findall(r'<tr data-case-id="(\d+)"', second)[0]) < int(older)
    opened = client.get(f"/cases?grid={village}&open=1").get_data(as_text=True)
    assert len(re.findall(r'<tr data-case-id="(\d+)"', opened)) == min(100, total_open)
    assert "已结案" not in opened.split("<tbody>")[1]


@pytest.mark.parametrize("query, status", [
    ("grid=abc", 404), ("grid=140525108299999", 404), ("", 404),
    ("grid=140525108227001&before=x", 400),
])
def test_grid_case_list_refuses_bad_or_unknown_grids(client, query, status):
    response = client.get(f"/cases?{query}")
    assert response.status_code == status
    assert response.content_type.startswith("text/html")


def test_the_chinese_routing_reason_says_each_kind_of_decision():
    from cases.routing import reason_zh

    town = {"code": "140525108", "name": "巴公镇"}
    admin = {"code": "140525108227000", "name": "渠头村", "level": "admin"}
    leaf = {"code": "140525108227003", "name": "渠头村第三网格", "level": "service"}
    point = {"precision": "point", "lon": 112.9, "lat": 35.6, "input_crs": "gcj02"}
    on_edge = reason_zh({"queue": "grid", "grid": {"town": town, "admin": admin, "leaf": leaf},
                         "on_boundary": True, "geocode": point})
    assert on_edge.startswith("上报坐标（112.900000, 35.600000）（由 GCJ-02 换算为 WGS 84）")
    assert "服务网格 140525108227003（渠头村第三网格）" in on_edge and "编码较小" in on_edge
    village = reason_zh({"queue": "village", "grid": {"town": town, "admin": admin},
                         "geocode": {"precision": "village", "matched": "渠头村", "score": 91.0}})
    assert village == ("地址匹配到村级「渠头村」（匹配度 91.0）：分派至行政网格 140525108227000"
                       "（渠头村），不再猜测到单元网格，由村便民服务中心分拣")
    gap = reason_zh({"queue": "village", "grid": {"town": town, "admin": admin}, "geocode": point})
    assert "不在其任何单元网格中" in gap
    to_town = reason_zh({"queue": "town", "grid": {"town": town},
                         "geocode": {"precision": "town", "matched": "巴公镇", "score": None}})
    assert to_town == "地址匹配到镇级「巴公镇」：进入巴公镇指挥中心的待办队列"
    assert reason_zh({"queue": None}) is None  # not through intake: the page shows the record
