"""``/planner`` over HTTP (web/planner.py): who may open it, what it loads (our own files only),
and the people its attribute form offers. The page itself runs in tests/test_planner_browser.py."""

from __future__ import annotations

import json
import re

import pytest

from tests.accounts_support import bearer, session_cookie
from web import create_app
from web.auth import COOKIE

VILLAGE = "140525108001"


@pytest.fixture
def client(demo_db_url):
    return create_app({"DATABASE_URL": demo_db_url}).test_client()


def signed(client, url: str, name: str) -> str:
    session_id, csrf = session_cookie(url, name)
    client.set_cookie(COOKIE, session_id)
    return csrf


def test_planner_page_sends_strangers_to_sign_in(client):
    answer = client.get("/planner")
    assert answer.status_code == 302
    assert "/login?next=/planner" in answer.headers["Location"]


@pytest.mark.parametrize(("name", "role"), [("grid_worker_1", "grid_worker"),
                                          ("town_operator", "town_operator"),
                                          ("village_operator", "village_operator")])
def test_planner_page_refuses_other_roles_with_a_readable_page(client, demo_db_url, name, role):
    signed(client, demo_db_url, name)
    answer = client.get("/planner")
    assert answer.status_code == 403
    assert answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    assert "无权访问" in html
    assert f"a {role} account may not use this route" in html


@pytest.mark.parametrize("name", ["planner", "admin"])
def test_planner_page_for_the_planner_and_the_administrator(client, demo_db_url, name):
    csrf = signed(client, demo_db_url, name)
    answer = client.get("/planner")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "网格调整" in html and "影响预览" in html
    assert f'name="csrf-token" content="{csrf}"' in html  # the page's writes send it
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from another host
    for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(path, buffered=True).status_code == 200, path
    assert "/static/vendor/leaflet-geoman/leaflet-geoman.min.js" in html
    config = json.loads(re.search(r'id="planner-config">(.*?)</script>', html, re.S).group(1))
    assert config["urls"]["drafts"] == "/api/v1/drafts"
    assert config["levels"]["service"] == "服务网格"


def test_planner_page_in_english(client, demo_db_url):
    signed(client, demo_db_url, "planner")
    html = client.get("/planner?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "Redraw grids" in html and "Impact" in html


def test_planner_page_refuses_an_unknown_language(client, demo_db_url):
    signed(client, demo_db_url, "planner")
    assert client.get("/planner?lang=xx").status_code == 400


def test_the_attribute_form_offers_the_village_people_by_name(demo_copy_url, demo_tokens):
    client = bearer(create_app({"DATABASE_URL": demo_copy_url}).test_client(),
                    demo_tokens["planner"])
    draft = client.post("/api/v1/drafts", json={"scope": VILLAGE}).get_json()["id"]
    answer = client.get(f"/planner/drafts/{draft}/people")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    people = answer.get_json()["people"]
    assert {p["village_code"] for p in people} == {VILLAGE}
    assert {"grid_worker", "grid_leader"} <= {p["role"] for p in people}
    assert set(people[0]) == {"id", "name", "role", "village_code", "on_duty"}  # no phone
    features = client.get(f"/api/v1/drafts/{draft}").get_json()["features"]
    named = {w for f in features for w in f["properties"]["worker_ids"]}
    assert named <= {p["id"] for p in people}  # every worker of the draft has a name


def test_the_people_of_a_draft_that_does_not_exist_is_404(demo_db_url, demo_tokens):
    client = bearer(create_app({"DATABASE_URL": demo_db_url}).test_client(),
                    demo_tokens["planner"])
    answer = client.get("/planner/drafts/987654/people")
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "draft_not_found"


def test_the_people_of_a_draft_are_not_for_a_grid_worker(demo_db_url, demo_tokens):
    client = bearer(create_app({"DATABASE_URL": demo_db_url}).test_client(),
                    demo_tokens["grid_worker_1"])
    assert client.get("/planner/drafts/1/people").status_code == 403
