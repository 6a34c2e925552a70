"""Security headers (web/security.py): every page says its Content-Security-Policy — scripts
from our host and this answer's nonce only, no ``unsafe-inline`` for scripts — and every inline
script of every page carries that nonce; framing is refused, types are not sniffed, HSTS comes
only over TLS, and the session cookie is HttpOnly, SameSite and (over TLS) Secure."""

from __future__ import annotations

import re

import pytest

from demo.accounts import DEMO_PASSWORD
from tests.visit_support import client_for, query, visits_url  # noqa: F401
from web import create_app

headers_url = visits_url

# (path, account): every page, as someone who may open it
PAGES = [
    ("/", "town_operator"), ("/cases?grid={grid}", "grid_worker_1"), ("/rate/not-a-token", None), ("/public", None), ("/scores", None),
    ("/login", None), ("/worker", "grid_worker_1"), ("/planner", "planner"),
    ("/api/v1/docs", None), ("/cases/{case}", "town_operator"), ("/?lang=en", "town_operator"),
    ("/cases/999999999", "town_operator"), ("/planner", "grid_worker_1"),  # not found, refused
]
SCRIPT = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def policy(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request.path}"
    return {d.split()[0]: " ".join(d.split()[1:]) for d in header.split(";") if d.strip()}


@pytest.mark.parametrize("path,account", PAGES)
def test_every_inline_script_of_a_page_carries_the_policys_nonce(headers_url, demo_tokens, path,
                                                                 account):
    case = query(headers_url, "SELECT id FROM cases ORDER BY id LIMIT 1")[0]["id"]
    client = (client_for(headers_url, demo_tokens[account]) if account
              else create_app({"DATABASE_URL": headers_url}).test_client())
    grid = query(headers_url, "SELECT grid_code FROM cases WHERE grid_code IS NOT NULL "
                              "ORDER BY id LIMIT 1")[0]["grid_code"]
    response = client.get(path.format(case=case, grid=grid))
    assert response.mimetype == "text/html"
    rules = policy(response)
    assert "'unsafe-inline'" not in rules["script-src"] and "'unsafe-eval'" not in rules["script-src"]
    nonce = re.search(r"'nonce-([^']+)'", rules["script-src"]).group(1)
    assert rules["frame-ancestors"] == "'none'" and rules["object-src"] == "'none'"
    html = response.get_data(as_text=True)
    inline = [attrs for attrs in SCRIPT.findall(html)
              if "src=" not in attrs and "application/json" not in attrs]
    assert all(f'nonce="{nonce}"' in attrs for attrs in inline), inline
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: no HSTS


def test_each_answer_has_its_own_nonce(headers_url):
    client = create_app({"DATABASE_URL": headers_url}).test_client()
    nonces = {re.search(r"'nonce-([^']+)'", client.get("/login").headers[
        "Content-Security-Policy"]).group(1) for _ in range(3)}
    assert len(nonces) == 3


def test_over_tls_hsts_and_a_secure_session_cookie(headers_url):
    client = create_app({"DATABASE_URL": headers_url}).test_client()
    answer = client.post("/login", base_url="https://localhost",
                         data={"name": "town_operator", "password": DEMO_PASSWORD})
    assert answer.status_code == 303
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = answer.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    plain = create_app({"DATABASE_URL": headers_url}).test_client().post(
        "/login", data={"name": "town_operator", "password": DEMO_PASSWORD})
    assert "HttpOnly" in plain.headers["Set-Cookie"] and "Secure" not in plain.headers["Set-Cookie"]
