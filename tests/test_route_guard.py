"""Every route, as every role and as nobody, against its declaration (issue 13, part 1).

The cases are generated from the app's URL map, not listed: a route added tomorrow is called
here tomorrow. Each route and method is called with a made-up path (numbers for ``int``
parts, a word otherwise) and an empty JSON body, by nobody and by an account of each role
(accounts.actor.ROLES, the demo's accounts, on a copy of the demo), and the answer is checked
against the route's ``@allow`` declaration (accounts/access.py):

- a role the declaration does not name: 403 from the guard (the guard's own message);
- nobody, on a route that needs an account: 401 (the API, tiles) or a redirect to /login
  (pages);
- a role it names, and nobody on a public route: never the guard's refusal, and never a 5xx,
  whatever the view makes of the made-up request (404, 422 … are the view's to give).

A route without a declaration fails test_accounts.py's walk; this one checks that the
declarations are what the guard enforces.

The same walk checks that no request holds two of the pool's connections at once (who is
asking is looked up on a connection handed back before the view takes its own,
web/database.py ``lookup_session``): two per request let a burst of concurrent requests
empty the pool between them, each waiting 30 s for a second connection.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from accounts import access
from accounts.actor import ROLES
from tests.visit_support import query, visits_url  # noqa: F401  (a copy of the demo per module)
from web import auth, create_app, database

guard_url = visits_url
NOBODY = "nobody"
# what the guard says when it refuses (web/auth.py _enforce), to tell its refusals from a
# view's own (a case outside the account's scope is the view's 403, and correct)
GUARD_FORBIDS = "may not use this route"
GUARD_SIGN_IN = "sign in first"


def routes() -> list[tuple[str, str, str]]:
    """(rule, method, endpoint) for every route of the app but the static files."""
    app = create_app({"DATABASE_URL": "postgresql://unused/none"})
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in auth.STATIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, rule.endpoint))
    return sorted(found)


ROUTES = routes()


def concrete(rule: str) -> str:
    """A path for ``rule``: 1 for each number, ``json`` for a format, a word otherwise."""
    def part(m: re.Match) -> str:
        converter, name = (m.group(1) or ""), m.group(2)
        if converter.startswith("int") or name in ("z", "x", "y"):
            return "1"
        if name == "fmt":
            return "json"
        return "any"
    return re.sub(r"<(?:(\w+(?:\([^)]*\))?):)?(\w+)>", part, rule)


@pytest.fixture(scope="module")
def app(guard_url):
    return create_app({"DATABASE_URL": guard_url})


class PoolWatch:
    """How many of an engine's pooled connections this test's requests hold at once (the test
    client serves a request in the calling thread; the live listener is not pooled)."""

    def __init__(self, engine):
        self.out = self.most = 0
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)

    def _checkout(self, *_):
        self.out += 1
        self.most = max(self.most, self.out)

    def _checkin(self, *_):
        self.out -= 1

    def start(self) -> None:
        self.most = self.out


@pytest.fixture(scope="module")
def pool(app):
    with app.app_context():
        return PoolWatch(database.engine())


@pytest.fixture(scope="module")
def tokens(guard_url, demo_tokens) -> dict[str, str]:
    """An API token per role: one demo account of each role."""
    rows = query(guard_url, "SELECT DISTINCT ON (role) role, name FROM accounts "
                            "WHERE name = ANY(:names) ORDER BY role, name",
                 names=sorted(demo_tokens))
    by_role = {r["role"]: demo_tokens[r["name"]] for r in rows}
    assert set(by_role) == set(ROLES), f"the demo has no account of {set(ROLES) - set(by_role)}"
    return by_role


def call(client, method: str, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.open(path, method=method, headers=headers, **kwargs)


def refusal(response) -> str | None:
    """"sign-in" or "forbidden" when the guard refused the request, else None."""
    if response.status_code == 401 and response.is_json:
        body = response.get_json()
        return "sign-in" if GUARD_SIGN_IN in body.get("message", "") else None
    if response.status_code in (302, 303) and \
            "/login?next=" in response.headers.get("Location", ""):  # (logging out goes to /login)
        return "sign-in"
    if response.status_code == 403:
        text = response.get_data(as_text=True)
        return "forbidden" if GUARD_FORBIDS in text else None
    return None


@pytest.mark.parametrize("rule,method,endpoint", ROUTES, ids=[f"{m} {r}" for r, m, _ in ROUTES])
def test_each_route_answers_each_role_as_it_declares(app, pool, tokens, rule, method, endpoint):
    declared = access.declaration(app.view_functions[endpoint])
    assert declared is not None, f"{endpoint} declares nobody"
    path = concrete(rule)
    client = app.test_client()
    wrong, greedy = [], []
    for who in (NOBODY, *ROLES):
        pool.start()
        response = call(client, method, path, None if who == NOBODY else tokens[who])
        try:
            got = refusal(response)
            if access.needs_no_account(declared):
                expected = None
            elif who == NOBODY:
                expected = "sign-in"
            else:
                expected = None if (access.ANY_ACCOUNT in declared or who in declared) \
                    else "forbidden"
            if got != expected or response.status_code >= 500:
                wrong.append((who, response.status_code, got, expected,
                              response.get_data(as_text=True)[:160]
                              if not response.mimetype == "text/event-stream" else ""))
        finally:
            response.close()
            if pool.most > 1:
                greedy.append((who, pool.most))
    assert not greedy, f"{method} {path}: (who, connections held at once) {greedy}"
    assert not wrong, (f"{method} {path} (allowed: {sorted(declared)}): "
                       f"(who, status, the guard's answer, expected, body) {wrong}")


def test_the_walk_covers_the_app():
    """The generated cases include the routes of every part of the app."""
    rules = {r for r, _, _ in ROUTES}
    for expected in ("/api/v1/cases", "/api/v1/emergencies/preview", "/api/v1/feeds/<feed>/events",
                     "/open311/v2/requests.<fmt>", "/ogc/collections", "/worker", "/planner",
                     "/tiles/<layer>/<z>/<x>/<y>.pbf", "/emergencies/<int:emergency_id>"):
        assert expected in rules
    assert len(ROUTES) >= 90
