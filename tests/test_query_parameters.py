"""A query parameter given twice (``?lon=1&lon=2``) is 422 naming it, on every API operation
that takes query parameters, instead of one of the values being kept silently.

The public operations' app points at a database that does not exist: the refusal comes
before any view runs (a view would answer 503). Those that need an account are asked on the
demo with a town operator's token, or a grid worker's for the routes only the field may use
(authentication comes first and needs the database)."""

from __future__ import annotations

import pytest

from accounts.access import ANY_ACCOUNT, PUBLIC, declaration
from tests.accounts_support import bearer, operator_client
from tests.conftest import DEMO_TOKENS
from web import create_app
from web.api import OPERATIONS, endpoints  # noqa: F401  (endpoints: every operation registered)

NOWHERE = "postgresql://gridgov@127.0.0.1:9/nowhere"
WITH_QUERY = [op for op in OPERATIONS if op.query is not None]


def _path(rule: str) -> str:
    """A concrete path for a Flask rule: any value fits the path parameters here."""
    parts = []
    for part in rule.split("/"):
        if part.startswith("<"):
            part = "1" if part.startswith("<int:") else "140525108201"
        parts.append(part)
    return "/api/v1" + "/".join(parts)


@pytest.fixture(scope="module")
def client():
    return create_app({"DATABASE_URL": NOWHERE}).test_client()


@pytest.fixture
def signed_client(demo_db_url):
    return operator_client({"DATABASE_URL": demo_db_url})


@pytest.fixture
def worker_client(demo_db_url, demo_tokens):
    """A grid worker's client, for the routes only the field roles may use (/visits/due)."""
    return bearer(create_app({"DATABASE_URL": demo_db_url}).test_client(),
                  DEMO_TOKENS["grid_worker_1"])


def test_every_operation_with_query_parameters_is_covered():
    assert {op.rule for op in WITH_QUERY} >= {"/locate", "/geocode", "/geocode/reverse", "/hotspots", "/cases",
                                                "/public/cases"}


@pytest.mark.parametrize("op", WITH_QUERY, ids=[f"{op.method} {op.rule}" for op in WITH_QUERY])
def test_a_repeated_query_parameter_is_422_naming_it(client, signed_client, worker_client, op):
    allowed = declaration(op.view)
    if PUBLIC not in allowed:
        operator = ANY_ACCOUNT in allowed or "town_operator" in allowed
        client = signed_client if operator else worker_client
    # the name in the query string: a field's alias where it has one (`from` is a keyword)
    name = next(field.alias or key for key, field in op.query.model_fields.items())
    response = client.open(_path(op.rule), method=op.method, query_string=[(name, "1"), (name, "2")])
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "repeated_parameter"
    assert f"`{name}`" in body["message"]
    assert body["details"] == [{"field": name, "message": "given 2 times ('1', '2'): give it once"}]


def test_every_repeated_parameter_is_named_once(client):
    response = client.get("/api/v1/locate?lon=1&lon=2&lat=3&lat=4&lat=5&crs=wgs84")
    assert response.status_code == 422
    details = response.get_json()["details"]
    assert [d["field"] for d in details] == ["lon", "lat"]
    assert details[1]["message"].startswith("given 3 times")


def test_a_parameter_given_once_is_not_refused(client):
    response = client.get("/api/v1/locate?lon=112.87&lat=35.64")
    assert response.status_code == 503  # reached the view, which needs the (missing) database
