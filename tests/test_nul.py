"""No NUL character (U+0000) reaches the database (web/nul.py): PostgreSQL's text cannot hold
it, and it came back a 500. Each way text comes in is sent one, and is refused naming the field,
with nothing written."""

from __future__ import annotations

import json

from tests.test_intake_api import case_body, client, intake_url, query  # noqa: F401  (fixtures)

INSIDE = {"lon": 112.87, "lat": 35.64}


def _cases(url: str) -> int:
    return query(url, "SELECT count(*) AS n FROM cases")[0]["n"]


def _refused(response, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text
    body = response.get_json()
    assert body["error"] == code and "U+0000" in body["message"]
    assert [d["field"] for d in body["details"]] == [field]


def test_a_json_body_with_a_nul_is_422_naming_the_field(client, intake_url):
    before = _cases(intake_url)
    sent = case_body(location=INSIDE, description="路灯\u0000不亮")
    _refused(client.post("/api/v1/cases", json=sent), 422, "invalid_body", "description")
    nested = case_body(location={**INSIDE, "crs": "wgs\u000084"})
    _refused(client.post("/api/v1/cases", json=nested), 422, "invalid_body", "location.crs")
    assert _cases(intake_url) == before


def test_json_text_in_a_form_field_with_a_nul_is_422(client, intake_url):
    before = _cases(intake_url)
    form = {"case": json.dumps(case_body(location=INSIDE, description="a\u0000b"))}
    got = client.post("/api/v1/cases", data=form, content_type="multipart/form-data")
    _refused(got, 422, "invalid_body", "description")
    assert _cases(intake_url) == before


def test_a_form_field_or_query_parameter_with_a_nul_is_422(client):
    got = client.post("/api/v1/cases", data={"case": "{}", "note\x00": "x"},
                      content_type="multipart/form-data")
    _refused(got, 422, "invalid_body", "note\\u0000")
    _refused(client.get("/api/v1/geocode?q=%E5%B7%B4%00"), 422, "invalid_query", "q")


def test_a_page_form_with_a_nul_answers_a_page(client):
    got = client.post("/login", data={"name": "admin\x00", "password": "x"})
    assert got.status_code == 400 and got.mimetype == "text/html"
    assert "U+0000" in got.text and "name" in got.text


def test_open311_answers_a_nul_in_its_own_format(client):
    got = client.post("/open311/v2/requests.json",
                      data={"service_code": "x", "description": "a\x00b", "lat": "35.64",
                            "long": "112.87"})
    assert got.status_code == 400
    [error] = got.get_json()
    assert error["code"] == 400 and "description" in error["description"]
