"""``/worker`` and its files over HTTP (web/worker.py): who may open the page, the account
answer with its CSRF token, the service worker (its scope header, its versioned cache and
every asset it caches served by us), the manifest. The page itself runs in
tests/test_worker_browser.py."""

from __future__ import annotations

import json
import re

import pytest

from tests.accounts_support import session_cookie
from web import create_app
from web.auth import COOKIE


@pytest.fixture
def client(demo_db_url):
    return create_app({"DATABASE_URL": demo_db_url}).test_client()


def signed(client, url: str, name: str):
    session_id, csrf = session_cookie(url, name)
    client.set_cookie(COOKIE, session_id)
    return csrf


def test_worker_page_sends_strangers_to_sign_in(client):
    answer = client.get("/worker")
    assert answer.status_code == 302
    assert "/login?next=/worker" in answer.headers["Location"]


def test_worker_page_refuses_a_town_operator(client, demo_db_url):
    signed(client, demo_db_url, "town_operator")
    assert client.get("/worker").status_code == 403
    assert client.get("/worker/me").status_code == 403


@pytest.mark.parametrize("name", ["grid_worker_1", "auxiliary", "grid_leader"])
def test_worker_page_is_the_same_shell_for_every_phone_account(client, demo_db_url, name):
    csrf = signed(client, demo_db_url, name)
    page = client.get("/worker")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert csrf not in html and 'name="csrf-token"' not in html
    assert "网格员工作台" in html and 'lang="zh-CN"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from another host
    config = json.loads(re.search(r'id="worker-config">(.*?)</script>', html, re.S).group(1))
    assert config["urls"]["inbox"] == "/api/v1/worker/inbox"
    # the workflow a phone falls back on offline: what a holder may do once it has accepted
    handling = {a["action"] for a in config["workflow"]["handling"]}
    assert {"feed_back", "escalate", "request_extension", "return"} <= handling
    assert "close" not in handling
    me = client.get("/worker/me").get_json()
    assert me["account"] == name and me["csrf_token"] == csrf
    assert client.get("/worker/me").headers["Cache-Control"] == "no-store"


def test_worker_page_in_english(client, demo_db_url):
    signed(client, demo_db_url, "grid_worker_1")
    html = client.get("/worker?lang=en").get_data(as_text=True)
    assert "Grid worker" in html and 'lang="en"' in html


def test_service_worker_caches_a_versioned_list_of_our_own_files(client):
    answer = client.get("/worker/sw.js")  # public: the browser updates it on its own schedule
    assert answer.status_code == 200
    assert answer.mimetype == "text/javascript"
    assert answer.headers["Service-Worker-Allowed"] == "/worker"
    body = answer.get_data(as_text=True)
    version = re.search(r"const CACHE = 'gridgov-worker-([0-9a-f]{12})'", body).group(1)
    assets = json.loads(re.search(r"const ASSETS = (\[.*?\]);", body).group(1))
    assert len(assets) >= 15
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert client.get(asset, buffered=True).status_code == 200, asset
    page_assets = re.findall(r'(?:href|src)="(/static/[^"]+)"',
                             client.get("/worker/sw.js").get_data(as_text=True))
    assert page_assets == []  # the script names its files in ASSETS only
    assert client.get("/worker/sw.js").get_data(as_text=True).count(version) >= 1


def test_manifest_opens_the_page_standalone(client):
    answer = client.get("/worker/manifest.webmanifest")
    assert answer.status_code == 200 and answer.mimetype == "application/manifest+json"
    manifest = json.loads(answer.get_data(as_text=True))
    assert manifest["start_url"] == "/worker" and manifest["display"] == "standalone"
