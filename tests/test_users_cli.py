"""``gridgov users``: add (with its one-time token and an optional password), token, list,
disable; a wrong role, scope or person is a one-line refusal with exit 2 and writes nothing."""

from __future__ import annotations

import pytest

from tests.accounts_support import headers
from tests.test_intake_api import query
from web import create_app


def _count(url: str) -> int:
    return query(url, "SELECT count(*) AS n FROM accounts")[0]["n"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--role", "mayor"), "role 'mayor' is not one of"),
        (("--role", "village_operator", "--scope", "140525108999"), "neither a village"),
        (("--role", "village_operator"), "needs --scope"),
        (("--role", "department_handler", "--scope", "weather"), "department 'weather'"),
        (("--role", "grid_worker", "--person", "99999999"), "no person with id 99999999"),
        (("--role", "grid_worker"), "needs --person"),
        (("--role", "town_operator", "--scope", "999999999"), "not a town"),
    ],
)
def test_a_wrong_role_scope_or_person_is_one_line_and_exit_2(demo_copy_url, cli, args, words):
    before = _count(demo_copy_url)
    result = cli(demo_copy_url, "users", "add", "newcomer", *args)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _count(demo_copy_url) == before


def test_a_grid_worker_cannot_be_given_an_auxiliary_or_a_secretary(demo_copy_url, cli):
    leader = query(demo_copy_url, "SELECT id FROM people WHERE role = 'grid_leader' LIMIT 1")[0][
        "id"
    ]
    result = cli(
        demo_copy_url, "users", "add", "x", "--role", "grid_worker", "--person", str(leader)
    )
    assert result.exit_code == 2 and "cannot hold a grid_worker account" in result.output


def test_a_taken_name_is_refused(demo_copy_url, cli):
    result = cli(demo_copy_url, "users", "add", "admin", "--role", "admin")
    assert result.exit_code == 2 and "exists already" in result.output


def test_add_prints_a_token_once_that_works_and_a_password_that_signs_in(demo_copy_url, cli):
    village = query(
        demo_copy_url, "SELECT scope_code FROM accounts WHERE name = 'village_operator'"
    )[0]["scope_code"]
    result = cli(
        demo_copy_url,
        "users",
        "add",
        "wang",
        "--role",
        "village_operator",
        "--scope",
        village,
        "--password-stdin",
        input="一个很长的密码 2026\n",
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert len(token) >= 40
    client = create_app({"DATABASE_URL": demo_copy_url}).test_client()
    items = client.get("/api/v1/cases", headers=headers(token)).get_json()["items"]
    assert items and all((i["grid_code"] or i["admin_code"]).startswith(village) for i in items)
    r = client.post("/login", data={"name": "wang", "password": "一个很长的密码 2026"})
    assert r.status_code == 303
    stored = query(demo_copy_url, "SELECT password_hash FROM accounts WHERE name = 'wang'")[0]
    assert "一个很长的密码" not in stored["password_hash"]
    assert token not in str(query(demo_copy_url, "SELECT * FROM api_tokens"))


def test_a_zone_code_gives_a_zone_scope_with_its_villages(demo_copy_url, cli):
    zone = query(
        demo_copy_url, "SELECT code FROM zones WHERE kind = 'village' ORDER BY code LIMIT 1"
    )[0]["code"]
    result = cli(
        demo_copy_url, "users", "add", "pianqu", "--role", "village_operator", "--scope", zone
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    villages = {
        r["v"]
        for r in query(
            demo_copy_url,
            "SELECT left(code, 12) AS v FROM grids WHERE level = 'admin' AND zone_code = :z",
            z=zone,
        )
    }
    items = (
        create_app({"DATABASE_URL": demo_copy_url})
        .test_client()
        .get("/api/v1/cases?limit=500", headers=headers(token))
        .get_json()["items"]
    )
    assert items and {(i["grid_code"] or i["admin_code"])[:12] for i in items} <= villages


def test_token_list_and_disable(demo_copy_url, cli):
    result = cli(demo_copy_url, "users", "token", "planner")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    client = create_app({"DATABASE_URL": demo_copy_url}).test_client()
    assert client.get("/api/v1/cases", headers=headers(token)).status_code == 200
    listed = cli(demo_copy_url, "users", "list")
    assert listed.exit_code == 0
    line = next(ln for ln in listed.output.splitlines() if ln.startswith("planner\t"))
    assert "planner\ttown" in line and "active" in line
    assert cli(demo_copy_url, "users", "disable", "planner").exit_code == 0
    assert client.get("/api/v1/cases", headers=headers(token)).status_code == 401
    line = next(
        ln
        for ln in cli(demo_copy_url, "users", "list").output.splitlines()
        if ln.startswith("planner\t")
    )
    assert "disabled" in line and "0 tokens" in line
    missing = cli(demo_copy_url, "users", "token", "nobody")
    assert missing.exit_code == 2 and "no account named 'nobody'" in missing.output
    assert cli(demo_copy_url, "users", "token", "planner").exit_code == 2  # disabled: no new token
