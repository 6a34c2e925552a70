"""Signing in, for tests: API tokens for the test client and a session cookie for a browser.

The demo database (tests/conftest.py ``demo_db_url``) has one account of every role
(demo/accounts.py); a test database without the demo gets the account it asks for.
"""

from __future__ import annotations

from datetime import timedelta

from accounts import repository, service
from db.session import session_scope
from web.auth import COOKIE


def token_for(
    url: str,
    name: str = "town_operator",
    role: str | None = None,
    lifetime: timedelta = service.TOKEN_LIFETIME,
    **account,
) -> str:
    """A new API token for account ``name`` in the database at ``url``, created (with ``role``,
    default ``name``, and ``account``'s options) when missing."""
    with session_scope(url) as session:
        if repository.account_by_name(session, name) is None:
            service.create_account(session, name, role or name, **account)
        token, _ = service.issue_token(session, name, lifetime)
    return token


def bearer(client, token: str):
    """``client`` (a Flask test client) sending ``Authorization: Bearer <token>`` from now on."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def session_cookie(
    url: str, name: str = "town_operator", password: str = "bagong-demo"
) -> tuple[str, str]:
    """Sign ``name`` in at the database's level: (the session cookie's value, its CSRF token)."""
    with session_scope(url) as session:
        session_id, signed = service.sign_in(session, name, password)
    return session_id, signed.csrf_token


def sign_in_browser(context, base: str, url: str, name: str = "town_operator") -> str:
    """Give a Playwright browser context the session cookie of ``name``; its CSRF token."""
    session_id, csrf = session_cookie(url, name)
    context.add_cookies(
        [{"name": COOKIE, "value": session_id, "url": base, "httpOnly": True, "sameSite": "Lax"}]
    )
    return csrf


def operator_client(config: dict):
    """A test client of ``create_app(config)`` (an app on the demo or a copy of it) sending the
    demo town operator's token."""
    from tests.conftest import DEMO_TOKENS
    from web import create_app

    assert DEMO_TOKENS, "ask for the demo_db_url fixture first: it makes the demo's tokens"
    return bearer(create_app(config).test_client(), DEMO_TOKENS["town_operator"])


def signed_page(browser, base: str, url: str, name: str = "town_operator", **page_options):
    """A new page of ``browser`` in a context signed in as ``name`` (on the demo, its account;
    on another database the account is made, with the demo's password, when missing)."""
    from demo.accounts import DEMO_PASSWORD

    with session_scope(url) as session:
        if repository.account_by_name(session, name) is None:
            service.create_account(session, name, name, password=DEMO_PASSWORD)
    context = browser.new_context(**page_options)
    sign_in_browser(context, base, url, name)
    return context.new_page()
