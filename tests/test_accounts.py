"""Accounts, roles and scopes on the demo: who may use each route (401 / 403 / 200), bearer
tokens (expiry, revocation), disabled accounts, sign-in, CSRF, and what a village's accounts
may read of another village. Every route declares who may use it (the URL map is walked)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from accounts import access, service
from db.session import engine_for, session_scope
from tests.accounts_support import bearer, headers, session_cookie, token_for
from tests.test_intake_api import query
from web import auth, create_app


@pytest.fixture
def app(demo_db_url):
    yield create_app({"DATABASE_URL": demo_db_url})
    engine_for(demo_db_url).dispose()


@pytest.fixture
def copy_app(demo_copy_url):
    yield create_app({"DATABASE_URL": demo_copy_url})
    engine_for(demo_copy_url).dispose()


def village_of(url: str, account: str) -> str:
    return query(url, "SELECT scope_code FROM accounts WHERE name = :n", n=account)[0]["scope_code"]


def case_in(url: str, village: str, inside: bool = True) -> dict:
    """A case of ``village`` (or, ``inside=False``, of another village)."""
    op = "=" if inside else "<>"
    return query(
        url,
        f"SELECT id, grid_code, admin_code FROM cases "
        f"WHERE grid_code IS NOT NULL AND left(grid_code, 12) {op} :v "
        f"ORDER BY id LIMIT 1",
        v=village,
    )[0]


def with_reporter(url: str, case: dict, name: str, phone: str) -> dict:
    """``case`` given a reporter (the demo's history has none)."""
    with session_scope(url) as s:
        s.execute(
            text("UPDATE cases SET reporter_name = :n, reporter_phone = :p WHERE id = :id"),
            {"n": name, "p": phone, "id": case["id"]},
        )
    return {**case, "reporter_name": name, "reporter_phone": phone}


def worker_case(url: str, account: str) -> dict:
    """A case in one of the grids of a grid worker's account."""
    return query(
        url,
        """
        SELECT c.id, c.grid_code FROM accounts a
          JOIN grid_assignments ga ON ga.person_id = a.person_id
          JOIN cases c ON c.grid_code = ga.grid_code
         WHERE a.name = :n ORDER BY c.id LIMIT 1""",
        n=account,
    )[0]


def test_every_route_declares_who_may_use_it():
    app = create_app({"DATABASE_URL": "postgresql://unused/none"})
    undeclared = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in auth.STATIC_ENDPOINTS
        and access.declaration(app.view_functions[rule.endpoint]) is None
    ]
    assert undeclared == []
    # the walk sees the routes it should
    assert {"/api/v1/cases", "/tiles/<layer>/<z>/<x>/<y>.pbf", "/login", "/"} <= {
        r.rule for r in app.url_map.iter_rules()
    }


def test_a_route_without_a_declaration_is_refused(demo_db_url):
    app = create_app({"DATABASE_URL": demo_db_url})
    app.add_url_rule("/undeclared", "undeclared", lambda: "secret")
    r = app.test_client().get("/undeclared")
    assert r.status_code == 403 and b"secret" not in r.data


# -- each role: a route it may use, one it may not, and no credentials ----------------------

# (the request the role may make, and the one it may not): a village's accounts read their
# village's cases; those of a role that may not reassign are refused the reassignment route.
ROLE_CASES = [
    "town_operator",
    "town_leader",
    "village_operator",
    "grid_leader",
    "grid_worker_1",
    "auxiliary",
    "department_handler",
    "planner",
    "admin",
]


@pytest.mark.parametrize("name", ROLE_CASES)
def test_each_role_may_use_its_routes_and_is_refused_the_others(
    app, demo_db_url, demo_tokens, name
):
    client = bearer(app.test_client(), demo_tokens[name])
    village = village_of(demo_db_url, "village_operator")
    role = query(demo_db_url, "SELECT role FROM accounts WHERE name = :n", n=name)[0]["role"]
    if role in ("grid_worker", "auxiliary"):
        mine = worker_case(demo_db_url, name)
    else:
        mine = case_in(demo_db_url, village)
    other = case_in(demo_db_url, village, inside=False)
    if role == "department_handler":
        # no case is dispatched to a department yet: the list is empty, a case is outside
        ok = client.get("/api/v1/cases")
        assert ok.status_code == 200 and ok.get_json()["items"] == []
        assert client.get(f"/api/v1/cases/{mine['id']}").status_code == 403
    else:
        ok = client.get(f"/api/v1/cases/{mine['id']}")
        assert ok.status_code == 200, ok.get_json()
    reassign = client.post(
        f"/api/v1/cases/{other['id']}/assignee", json={"person_id": 1, "reason": "test"}
    )
    if role in access.OPERATOR_ROLES and role != "village_operator":
        # operators of the town may reassign: the route is theirs (the answer is the domain's)
        assert reassign.status_code not in (401, 403)
    elif role == "village_operator":
        assert reassign.status_code == 403 and reassign.get_json()["error"] == "out_of_scope"
    else:
        assert reassign.status_code == 403, reassign.get_json()
        assert reassign.get_json()["error"] == "forbidden"
        assert role in reassign.get_json()["message"]


def test_no_credentials_is_401_on_the_api_and_a_sign_in_redirect_on_pages(app, demo_db_url):
    client = app.test_client()
    case = case_in(demo_db_url, village_of(demo_db_url, "village_operator"))
    for path in (
        "/api/v1/cases",
        f"/api/v1/cases/{case['id']}",
        "/api/v1/stats/today",
        "/api/v1/hotspots",
        "/tiles/cases/12/3370/1630.pbf",
    ):
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.get_json()["error"] == "not_authenticated"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = client.post(f"/api/v1/cases/{case['id']}/assignee", json={"person_id": 1, "reason": "x"})
    assert r.status_code == 401
    for path in ("/", f"/cases/{case['id']}", f"/cases?grid={case['grid_code']}"):
        r = client.get(path)
        assert r.status_code == 302, path
        assert r.headers["Location"].startswith("/login?next=/")
    # the public routes stay public
    for path in (
        "/healthz",
        "/api/v1/categories",
        "/api/v1/grids?level=admin",
        "/login",
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/static/css/gridgov.css",
    ):
        with client.get(path) as r:
            assert r.status_code == 200, path


def test_a_bad_authorization_header_is_401(app):
    client = app.test_client()
    for value in ("Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-token"):
        r = client.get("/api/v1/cases", headers={"Authorization": value})
        assert r.status_code == 401 and r.get_json()["error"] == "not_authenticated", value


# -- tokens ---------------------------------------------------------------------------------


def test_an_expired_token_is_refused(copy_app, demo_copy_url):
    expired = token_for(demo_copy_url, "town_operator", lifetime=timedelta(seconds=-1))
    live = token_for(demo_copy_url, "town_operator")
    client = copy_app.test_client()
    assert client.get("/api/v1/cases", headers=headers(live)).status_code == 200
    r = client.get("/api/v1/cases", headers=headers(expired))
    assert r.status_code == 401 and "expired" in r.get_json()["message"]


def test_a_revoked_token_is_refused_and_the_others_still_work(copy_app, demo_copy_url):
    first, second = token_for(demo_copy_url), token_for(demo_copy_url)
    client = copy_app.test_client()
    assert client.get("/api/v1/cases", headers=headers(first)).status_code == 200
    with session_scope(demo_copy_url) as session:
        assert service.revoke_token(session, first)
    assert client.get("/api/v1/cases", headers=headers(first)).status_code == 401
    assert client.get("/api/v1/cases", headers=headers(second)).status_code == 200


def test_tokens_are_stored_as_hashes_only(demo_copy_url):
    token = token_for(demo_copy_url)
    rows = query(demo_copy_url, "SELECT token_hash FROM api_tokens")
    assert all(token not in r["token_hash"] for r in rows)
    assert service.digest(token) in {r["token_hash"] for r in rows}
    hashes = query(demo_copy_url, "SELECT password_hash FROM accounts WHERE name = 'admin'")
    assert hashes[0]["password_hash"].startswith("$argon2id$")


def test_a_disabled_account_loses_its_tokens_and_sessions(copy_app, demo_copy_url, cli):
    token = token_for(demo_copy_url, "planner")
    session_id, _csrf = session_cookie(demo_copy_url, "planner")
    client = copy_app.test_client()
    assert client.get("/api/v1/cases", headers=headers(token)).status_code == 200
    result = cli(demo_copy_url, "users", "disable", "planner")
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/cases", headers=headers(token)).status_code == 401
    client.set_cookie(auth.COOKIE, session_id)
    assert client.get("/").status_code == 302
    r = client.post("/login", data={"name": "planner", "password": "bagong-demo"})
    assert r.status_code == 401
    with session_scope(demo_copy_url) as session, pytest.raises(Exception, match="disabled"):
        service.issue_token(session, "planner")


# -- signing in on the pages -------------------------------------------------------------------


def test_sign_in_with_a_wrong_password_shows_the_form_again_with_an_error(copy_app):
    client = copy_app.test_client()
    r = client.post("/login", data={"name": "town_operator", "password": "wrong", "next": "/"})
    assert r.status_code == 401
    page = r.get_data(as_text=True)
    assert "账号或密码错误" in page and auth.COOKIE not in r.headers.get("Set-Cookie", "")
    r = client.post("/login", data={"name": "nobody", "password": "bagong-demo"})
    assert r.status_code == 401 and "账号或密码错误" in r.get_data(as_text=True)


def test_sign_in_sets_an_httponly_lax_cookie_and_follows_next_only_on_this_site(copy_app):
    client = copy_app.test_client()
    r = client.post(
        "/login", data={"name": "town_operator", "password": "bagong-demo", "next": "/cases?grid=1"}
    )
    assert r.status_code == 303 and r.headers["Location"] == "/cases?grid=1"
    cookie = r.headers["Set-Cookie"]
    assert (
        cookie.startswith(auth.COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    )
    page = client.get("/").get_data(as_text=True)
    assert "镇指挥中心值班员" in page and "镇指挥中心操作员" in page and "退出" in page
    for evil in (
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        r = copy_app.test_client().post(
            "/login", data={"name": "town_operator", "password": "bagong-demo", "next": evil}
        )
        assert r.headers["Location"] == "/", evil
    form = copy_app.test_client().get("/login?next=%2F%2Fevil.example").get_data(as_text=True)
    assert 'name="next" value="/"' in form


def test_sign_out_needs_the_csrf_token_and_ends_the_session(copy_app, demo_copy_url):
    session_id, csrf = session_cookie(demo_copy_url, "village_operator")
    client = copy_app.test_client()
    client.set_cookie(auth.COOKIE, session_id)
    assert client.get("/").status_code == 200
    r = client.post("/logout")
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["Location"] == "/login"
    client.set_cookie(auth.COOKIE, session_id)  # the old cookie, sent again
    assert client.get("/").status_code == 302


def test_a_cookie_write_without_the_csrf_token_is_refused_with_its_own_code(
    copy_app, demo_copy_url
):
    session_id, csrf = session_cookie(demo_copy_url, "town_operator")
    client = copy_app.test_client()
    client.set_cookie(auth.COOKIE, session_id)
    case = query(
        demo_copy_url, "SELECT id FROM cases WHERE status = 'dispatched' ORDER BY id LIMIT 1"
    )[0]
    before = query(demo_copy_url, "SELECT count(*) AS n FROM case_events")[0]["n"]
    r = client.post(f"/api/v1/cases/{case['id']}/assignee", json={"person_id": 1, "reason": "x"})
    assert r.status_code == 403 and r.get_json()["error"] == "csrf_failed"
    r = client.post(
        f"/api/v1/cases/{case['id']}/assignee",
        json={"person_id": 1, "reason": "x"},
        headers={"X-CSRF-Token": "not-the-token"},
    )
    assert r.status_code == 403 and r.get_json()["error"] == "csrf_failed"
    assert query(demo_copy_url, "SELECT count(*) AS n FROM case_events")[0]["n"] == before
    # with the token the request reaches the route (the answer is the domain's)
    r = client.post(
        f"/api/v1/cases/{case['id']}/assignee",
        json={"person_id": 10**6, "reason": "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 404 and r.get_json()["error"] == "person_not_found"
    # reading needs no token
    assert client.get("/api/v1/cases").status_code == 200


# -- scope -------------------------------------------------------------------------------------


def test_a_village_operator_cannot_read_another_villages_case(copy_app, demo_copy_url, demo_tokens):
    village = village_of(demo_copy_url, "village_operator")
    other = with_reporter(
        demo_copy_url, case_in(demo_copy_url, village, inside=False), "欧阳举报", "13912345678"
    )
    client = bearer(copy_app.test_client(), demo_tokens["village_operator"])
    r = client.get(f"/api/v1/cases/{other['id']}")
    assert r.status_code == 403 and r.get_json()["error"] == "out_of_scope"
    assert other["reporter_name"] not in r.get_data(as_text=True)
    page = client.get(f"/cases/{other['id']}")
    assert page.status_code == 403
    assert "无权" in page.get_data(as_text=True) and other["reporter_name"] not in page.get_data(
        as_text=True
    )
    assert client.get(f"/cases?grid={other['grid_code']}").status_code == 403
    # a photo outside the scope is 404, as a missing one (tests/test_privacy.py)
    assert client.get(f"/api/v1/cases/{other['id']}/photos/1").status_code == 404


def test_lists_hold_only_the_cases_in_scope(app, demo_db_url, demo_tokens):
    village = village_of(demo_db_url, "village_operator")
    seen = {}
    for name in ("town_operator", "village_operator", "grid_worker_1"):
        client = bearer(app.test_client(), demo_tokens[name])
        items = client.get("/api/v1/cases?limit=200").get_json()["items"]
        seen[name] = items
    assert len(seen["town_operator"]) == 200
    assert seen["village_operator"] and all(
        (i["grid_code"] or i["admin_code"]).startswith(village) for i in seen["village_operator"]
    )
    grids = {
        r["grid_code"]
        for r in query(
            demo_db_url,
            """
        SELECT ga.grid_code FROM accounts a JOIN grid_assignments ga ON ga.person_id = a.person_id
         WHERE a.name = 'grid_worker_1'""",
        )
    }
    assert seen["grid_worker_1"] and {i["grid_code"] for i in seen["grid_worker_1"]} <= grids
    # another village's grid asked for by name: still nothing
    other = case_in(demo_db_url, village, inside=False)
    client = bearer(app.test_client(), demo_tokens["village_operator"])
    assert client.get(f"/api/v1/cases?grid={other['grid_code']}").get_json()["items"] == []


def test_reporters_are_shown_only_inside_the_scope(copy_app, demo_copy_url, demo_tokens):
    village = village_of(demo_copy_url, "village_operator")
    worker_grids = {
        r["grid_code"]
        for r in query(
            demo_copy_url,
            """
        SELECT ga.grid_code FROM accounts a JOIN grid_assignments ga ON ga.person_id = a.person_id
         WHERE a.name = 'grid_worker_1'""",
        )
    }
    # a case of the village, in a grid that is not grid_worker_1's
    mine = query(
        demo_copy_url,
        "SELECT id, grid_code FROM cases WHERE left(grid_code, 12) = :v "
        "AND NOT grid_code = ANY(:g) ORDER BY id LIMIT 1",
        v=village,
        g=sorted(worker_grids),
    )[0]
    mine = with_reporter(demo_copy_url, mine, "司马上报", "13800001111")
    client = bearer(copy_app.test_client(), demo_tokens["village_operator"])
    # in scope: masked, and in full with a reason (accounts/privacy.py; tests/test_privacy.py)
    body = client.get(f"/api/v1/cases/{mine['id']}").get_json()
    assert body["reporter"] == {"name": "司*", "phone": "138****1111"}
    body = client.get(f"/api/v1/cases/{mine['id']}?reason=回访").get_json()
    assert body["reporter"] == {"name": "司马上报", "phone": "13800001111"}
    page = client.get(f"/cases/{mine['id']}").get_data(as_text=True)
    assert "司马上报" not in page and "司*" in page
    page = client.post(f"/cases/{mine['id']}/contact", data={"reason": "回访"}).get_data(as_text=True)
    assert "司马上报" in page
    worker = bearer(copy_app.test_client(), demo_tokens["grid_worker_1"])
    r = worker.get(f"/api/v1/cases/{mine['id']}")
    assert r.status_code == 403
    assert "司马上报" not in r.get_data(as_text=True) and "13800001111" not in r.get_data(
        as_text=True
    )
    town = bearer(copy_app.test_client(), demo_tokens["town_operator"])
    listed = town.get(f"/api/v1/cases?grid={mine['grid_code']}").get_data(as_text=True)
    assert str(mine["id"]) in listed and "司马上报" not in listed  # lists carry no personal data


def test_a_village_operator_may_reassign_only_inside_the_village(copy_app, demo_copy_url):
    token = token_for(demo_copy_url, "village_operator")
    village = village_of(demo_copy_url, "village_operator")
    client = bearer(copy_app.test_client(), token)
    other = case_in(demo_copy_url, village, inside=False)
    r = client.post(f"/api/v1/cases/{other['id']}/assignee", json={"person_id": 1, "reason": "x"})
    assert r.status_code == 403 and r.get_json()["error"] == "out_of_scope"
    person = query(
        demo_copy_url, "SELECT id FROM people WHERE village_code <> :v LIMIT 1", v=village
    )[0]
    r = client.patch(f"/api/v1/people/{person['id']}", json={"on_duty": False})
    assert r.status_code == 403 and r.get_json()["error"] == "out_of_scope"


# -- anonymous reports --------------------------------------------------------------------------


def _report(channel: str, point: dict) -> dict:
    return {
        "category": "patrol.exposed_rubbish",
        "description": "路边有暴露垃圾",
        "channel": channel,
        "location": {"lon": point["lon"], "lat": point["lat"], "crs": "wgs84"},
    }


def test_residents_report_without_an_account_and_staff_channels_need_one(copy_app, demo_copy_url):
    point = query(
        demo_copy_url,
        "SELECT ST_X(ST_PointOnSurface(geom)) AS lon, "
        "ST_Y(ST_PointOnSurface(geom)) AS lat FROM grids "
        "WHERE level = 'service' ORDER BY code LIMIT 1",
    )[0]
    client = copy_app.test_client()
    for channel in access.RESIDENT_CHANNELS:
        assert client.post("/api/v1/cases", json=_report(channel, point)).status_code == 201
    before = query(demo_copy_url, "SELECT count(*) AS n FROM cases")[0]["n"]
    r = client.post("/api/v1/cases", json=_report("patrol", point))
    assert r.status_code == 401 and r.get_json()["error"] == "not_authenticated"
    planner = token_for(demo_copy_url, "planner")
    r = client.post("/api/v1/cases", json=_report("hotline", point), headers=headers(planner))
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"
    assert query(demo_copy_url, "SELECT count(*) AS n FROM cases")[0]["n"] == before
    worker = token_for(demo_copy_url, "grid_worker_1")
    assert (
        client.post(
            "/api/v1/cases", json=_report("patrol", point), headers=headers(worker)
        ).status_code
        == 201
    )


def test_the_map_tiles_hold_only_the_cases_in_scope(app, demo_db_url, demo_tokens):
    import mapbox_vector_tile
    import mercantile

    from tiles.mvt import POINTS_MIN_ZOOM

    village = village_of(demo_db_url, "village_operator")
    # a tile around one of the village's open cases
    row = query(
        demo_db_url,
        """
        SELECT c.lon, c.lat FROM cases c
         WHERE left(c.grid_code, 12) = :v AND c.status NOT IN ('closed', 'evaluated', 'voided')
         ORDER BY c.id LIMIT 1""",
        v=village,
    )[0]
    tile = mercantile.tile(row["lon"], row["lat"], POINTS_MIN_ZOOM)
    path = f"/tiles/cases/{tile.z}/{tile.x}/{tile.y}.pbf"

    def grid_codes(name: str) -> list[str]:
        r = bearer(app.test_client(), demo_tokens[name]).get(path)
        assert r.status_code in (200, 204)
        if r.status_code == 204:
            return []
        return [
            f["properties"]["grid_code"]
            for f in mapbox_vector_tile.decode(r.data)["cases"]["features"]
        ]

    town, mine = grid_codes("town_operator"), grid_codes("village_operator")
    assert mine and set(mine) < set(town)  # the town sees more in this tile than the village
    assert all(code.startswith(village) for code in mine)
    assert sorted(c for c in town if c.startswith(village)) == sorted(mine)
    assert grid_codes("department_handler") == []


def test_the_api_document_says_which_operations_need_a_token(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    cases = doc["paths"]["/api/v1/cases"]
    assert cases["get"]["security"] == [{"bearer": []}] and "401" in cases["get"]["responses"]
    assert "security" not in cases["post"] and "401" in cases["post"]["responses"]
    assert "security" not in doc["paths"]["/api/v1/locate"]["get"]
    reassign = doc["paths"]["/api/v1/cases/{case_id}/assignee"]["post"]
    assert "town_operator" in reassign["description"] and "403" in reassign["responses"]


@pytest.mark.parametrize("name", ["town_operator", "town_leader", "planner", "admin"])
def test_a_town_account_cannot_read_another_towns_case(copy_app, demo_copy_url, demo_tokens, name):
    # a case of another town (a province's database holds several): outside a town's scope
    with session_scope(demo_copy_url) as s:
        other = s.execute(text("""
            INSERT INTO cases (town_code, category_code, description, status, channel, geom,
                               reporter_name)
            SELECT '140525999', category_code, description, status, channel, geom, '外镇举报人'
              FROM cases ORDER BY id LIMIT 1 RETURNING id""")).scalar_one()
    client = bearer(copy_app.test_client(), demo_tokens[name])
    r = client.get(f"/api/v1/cases/{other}")
    assert r.status_code == 403 and r.get_json()["error"] == "out_of_scope"
    assert "外镇举报人" not in r.get_data(as_text=True)
    listed = client.get("/api/v1/cases?limit=5").get_json()["items"]
    assert listed and other not in {i["id"] for i in listed}


def test_a_village_operator_cannot_give_a_case_to_someone_of_another_village(copy_app,
                                                                             demo_copy_url):
    token = token_for(demo_copy_url, "village_operator")
    village = village_of(demo_copy_url, "village_operator")
    mine = case_in(demo_copy_url, village)
    stranger = query(demo_copy_url, "SELECT id FROM people WHERE role = 'grid_worker' "
                                    "AND village_code <> :v ORDER BY id LIMIT 1", v=village)[0]
    client = bearer(copy_app.test_client(), token)
    r = client.post(f"/api/v1/cases/{mine['id']}/assignee",
                    json={"person_id": stranger["id"], "reason": "x"})
    assert r.status_code == 403 and r.get_json()["error"] == "out_of_scope"
    assert query(demo_copy_url, "SELECT count(*) AS n FROM case_events WHERE case_id = :id "
                                "AND type = 'reassigned'", id=mine["id"])[0]["n"] == 0


def test_the_account_in_the_top_bar_is_text(copy_app, demo_copy_url, cli):
    hostile = '<img src=x onerror="alert(1)">'
    result = cli(demo_copy_url, "users", "add", "xss", "--role", "planner",
                 "--display-name", hostile, "--password-stdin", input="a password\n")
    assert result.exit_code == 0, result.output
    client = copy_app.test_client()
    assert client.post("/login", data={"name": "xss", "password": "a password"}).status_code == 303
    page = client.get("/?lang=en").get_data(as_text=True)
    assert hostile not in page and "&lt;img src=x" in page and "Planner" in page


def test_a_department_handler_reads_the_cases_dispatched_to_its_department_only(
    copy_app, demo_copy_url, demo_tokens
):
    from cases.transitions import apply_transition
    from demo.accounts import DEPARTMENT
    from tests.test_transitions import _at_town, new_case, leaf_with_one_worker, town_operator

    leaf = leaf_with_one_worker(demo_copy_url)
    theirs, other = new_case(demo_copy_url, leaf), new_case(demo_copy_url, leaf)
    _at_town(demo_copy_url, theirs)
    with session_scope(demo_copy_url) as s:
        version = s.execute(text("SELECT version FROM cases WHERE id = :id"), {"id": theirs}).scalar()
        apply_transition(s, theirs, "dispatch", town_operator(), version, to={"department": DEPARTMENT})
    client = bearer(copy_app.test_client(), demo_tokens["department_handler"])
    assert client.get(f"/api/v1/cases/{theirs}").status_code == 200
    refused = client.get(f"/api/v1/cases/{other}")
    assert refused.status_code == 403 and refused.get_json()["error"] == "out_of_scope"
    listed = {c["id"] for c in client.get("/api/v1/cases?limit=200").get_json()["items"]}
    assert theirs in listed and other not in listed
