"""Open311 GeoReport v2 at /open311/v2/ on a copy of the demo, checked from outside.

Two checkers that are not ours read every answer:
- ``georeport`` (PyPI, an Open311 GeoReport v2 client: services, service definitions and
  requests, in JSON and in XML through xmltodict) reads our endpoint over real HTTP, as it
  reads a city's; it does not POST, so reports are sent form-encoded with ``requests``, as the
  spec's example request is;
- schemas written from the spec's text (tests/data/open311/: an XSD per XML document, checked
  with xmlschema, and one JSON Schema, checked with jsonschema), which hold every document to
  the spec's element names and types and refuse any field the spec does not name.

The round trip: a report POSTed in JSON and in XML comes back from GET in both, with the
spec's seventeen fields, routed by the same intake as POST /api/v1/cases (checked in the
database), and with nothing personal in any GET body (the public board's redaction).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import requests
import xmlschema
import xmltodict
from georeport import GeoReport
from sqlalchemy import text

from cases import intake
from cases.deadlines import LOCAL_TZ
from cases.publication import POSITION_STEP_DEG, public_address
from db.session import engine_for, session_scope
from open311 import georeport
from open311.errors import JurisdictionRequired, UnknownJurisdiction
from tests.test_intake_api import leaf_with_one_worker, query
from web import create_app

TOWN = "140525108"
SCHEMAS = Path(__file__).parent / "data" / "open311"
XSD = {name: xmlschema.XMLSchema(str(SCHEMAS / f"{name}.xsd")) for name in (
    "discovery", "services", "service_definition", "service_requests", "post_response", "errors")}
JSON_SCHEMA = json.loads((SCHEMAS / "georeport_v2.schema.json").read_text(encoding="utf-8"))
# GET Service Requests' response fields, in the spec's order
REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url"]
# a closed case's window of the board fixture (cases/board.sql's closed states)
RECENT_CLOSED = "c.status IN ('closed', 'evaluated') AND c.created_at >= now() - interval '80 days'"


# -- fixtures and checkers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def o311_url(pg_server, demo_db_url):
    """A copy of the demo whose recent closed cases have reporters (household heads' names,
    phones) and, for some, a closing note naming them: what GET must never show."""
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()
    name = f"gridgov_test_open311_{os.getpid()}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    with session_scope(url) as s:
        s.execute(text(f"""
            UPDATE cases c SET reporter_name = h.head_name,
                   reporter_phone = '139' || lpad((c.id * 7919 % 100000000)::text, 8, '0')
              FROM (SELECT row_number() OVER (ORDER BY address_id) AS n, head_name
                      FROM households) h
             WHERE h.n = c.id % 5000 + 1 AND {RECENT_CLOSED}"""))
        s.execute(text(f"""
            INSERT INTO case_events
                   (case_id, town_code, at, type, from_status, to_status, actor, note)
            SELECT c.id, c.town_code, c.closed_at, 'close', 'fed_back', 'closed', 'test',
                   '已联系' || c.reporter_name || '（' || c.reporter_phone || '），现场已清理完毕'
              FROM cases c WHERE {RECENT_CLOSED} AND c.closed_at IS NOT NULL"""))
        s.commit()
    yield url
    engine_for(url).dispose()
    pg_server.drop_database(name)


@pytest.fixture
def client(o311_url):
    intake.clear_caches()
    return create_app({"DATABASE_URL": o311_url}).test_client()


@pytest.fixture
def live(app_server, o311_url) -> str:
    """The endpoint's base URL on a real HTTP server."""
    intake.clear_caches()
    return app_server(o311_url).base + "/open311/v2"


def n_cases(url: str) -> int:
    return query(url, "SELECT count(*) AS n FROM cases")[0]["n"]


@pytest.fixture
def nothing_written(o311_url):
    """A refused report leaves no case behind."""
    before = n_cases(o311_url)
    yield
    assert n_cases(o311_url) == before


def valid_xml(body: bytes, kind: str) -> dict:
    """``body`` checked against the spec's XSD for ``kind``; parsed, lists always lists."""
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    XSD[kind].validate(body.decode("utf-8"))
    return xmltodict.parse(body, force_list=("service", "request", "error", "endpoint",
                                             "format", "attribute"))


def valid_json(value, kind: str):
    """``value`` checked against the spec's JSON Schema for ``kind``."""
    jsonschema.validate(value, {**JSON_SCHEMA, "$ref": f"#/$defs/{kind}"})
    return value


def errors_of(response, fmt: str, status: int) -> list[str]:
    """The descriptions of an Open311 error answer, checked against the spec's schema."""
    assert response.status_code == status, response.get_data(as_text=True)
    if fmt == "xml":
        assert response.mimetype == "text/xml"
        found = valid_xml(response.get_data(), "errors")["errors"]["error"]
        assert all(int(e["code"]) == status for e in found)
        return [e["description"] for e in found]
    assert response.mimetype == "application/json"
    found = valid_json(response.get_json(), "errors")
    assert all(e["code"] == status for e in found)
    return [e["description"] for e in found]


def report(leaf: dict, **fields) -> dict:
    """A POST Service Request's form, at the leaf grid's inner point."""
    form = {"service_code": "patrol.exposed_rubbish", "lat": str(leaf["lat"]),
            "long": str(leaf["lon"]), "description": "路边有暴露垃圾，已堆了三天",
            "first_name": "三", "last_name": "张", "phone": "13812345678",
            "email": "zhang@example.org", "device_id": "tt222111",
            "media_url": "http://farm3.static.example.com/2212426634.jpg"}
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


# -- discovery and services ----------------------------------------------------------------


def test_discovery_names_the_endpoint_and_its_formats(client):
    for fmt in ("xml", "json"):
        r = client.get(f"/open311/v2/discovery.{fmt}")
        assert r.status_code == 200
        if fmt == "xml":
            assert r.headers["Content-Type"] == "text/xml; charset=utf-8"
            doc = valid_xml(r.get_data(), "discovery")["discovery"]
            endpoint = doc["endpoints"]["endpoint"][0]
            formats = endpoint["formats"]["format"]
        else:
            assert r.headers["Content-Type"] == "application/json; charset=utf-8"
            doc = valid_json(r.get_json(), "discovery")
            endpoint = doc["endpoints"][0]
            formats = endpoint["formats"]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["url"] == "http://localhost/open311/v2"
        assert endpoint["type"] == "production"
        assert set(formats) == {"text/xml", "application/json"}
        assert "巴公镇" in doc["contact"] and "api_key" in doc["key_service"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_services_are_the_categories_read_by_an_open311_client(live, o311_url, fmt):
    services = GeoReport(live, jurisdiction=TOWN, output_format=fmt).get_service_list()
    raw = requests.get(f"{live}/services.{fmt}", params={"jurisdiction_id": TOWN}, timeout=30)
    if fmt == "xml":
        valid_xml(raw.content, "services")
    else:
        valid_json(raw.json(), "services")
    rows = query(o311_url, "SELECT code, parent_code, name_zh FROM categories")
    by_code = {r["code"]: r for r in rows}
    codes = [s["service_code"] for s in services]
    assert sorted(codes) == sorted(by_code)  # each category once
    for s in services:
        row = by_code[s["service_code"]]
        assert s["service_name"] == row["name_zh"]
        assert s["group"] == by_code[row["parent_code"] or row["code"]]["name_zh"]
        assert str(s["metadata"]).lower() == "false" and s["type"] == "realtime"
    rubbish = next(s for s in services if s["service_code"] == "patrol.exposed_rubbish")
    assert rubbish["description"] == "办理时限：4个工作小时"
    assert rubbish["group"] == "巡检巡查" and "Exposed rubbish" in rubbish["keywords"]


def test_services_in_english_on_request(client):
    body = client.get("/open311/v2/services.json?lang=en").get_json()
    rubbish = next(s for s in body if s["service_code"] == "patrol.exposed_rubbish")
    assert rubbish["service_name"] == "Exposed rubbish" and rubbish["group"] == "Patrol inspection"
    assert rubbish["description"] == "Time limit: 4 working hours"
    r = client.get("/open311/v2/services.xml?lang=xx")
    assert "xx" in errors_of(r, "xml", 400)[0]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_service_definition_has_no_attributes(live, fmt):
    found = GeoReport(live, output_format=fmt).get_service_definition("patrol.street_light")
    raw = requests.get(f"{live}/services/patrol.street_light.{fmt}", timeout=30)
    if fmt == "xml":
        valid_xml(raw.content, "service_definition")
        assert found["service_code"] == "patrol.street_light" and not found["attributes"]
    else:
        valid_json(raw.json(), "service_definition")
        assert found == {"service_code": "patrol.street_light", "attributes": []}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_service_definition_is_404_in_open311_format(client, fmt):
    r = client.get(f"/open311/v2/services/no.such.{fmt}")
    assert "no.such" in errors_of(r, fmt, 404)[0]


@pytest.mark.parametrize("path", ["discovery", "services", "services/patrol", "requests",
                                  "requests/1"])
def test_an_unknown_jurisdiction_is_404_on_every_resource(client, path):
    r = client.get(f"/open311/v2/{path}.json?jurisdiction_id=sfgov.org")
    assert "sfgov.org" in errors_of(r, "json", 404)[0]
    assert client.get(f"/open311/v2/{path}.json?jurisdiction_id={TOWN}").status_code in (200, 404)
    assert client.get(f"/open311/v2/{path}.json?jurisdiction_id=").status_code in (200, 404)


# -- POST: the intake ----------------------------------------------------------------------


def _stored(url: str, case_id: int) -> dict:
    return query(url, """
        SELECT id, channel, grid_code, admin_code, assignee_id, status, queue, category_code,
               description, reporter_name, reporter_phone, address, input_crs,
               geocode_precision, lon, lat
          FROM cases WHERE id = :id""", id=case_id)[0]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_anonymous_report_is_routed_like_the_intake_and_round_trips(
        live, o311_url, operator_token, fmt):
    leaf = leaf_with_one_worker(o311_url, offset=3)
    r = requests.post(f"{live}/requests.{fmt}", data=report(leaf, jurisdiction_id=TOWN),
                      timeout=30)
    assert r.status_code == 201, r.text
    if fmt == "xml":
        answer = valid_xml(r.content, "post_response")["service_requests"]["request"]
    else:
        answer = valid_json(r.json(), "post_response")
    case_id = int(answer[0]["service_request_id"])
    assert r.headers["Location"].endswith(f"/open311/v2/requests/{case_id}.{fmt}")
    assert answer[0]["service_notice"].startswith("办理时限：4个工作小时，应于 ")

    stored = _stored(o311_url, case_id)
    assert stored["channel"] == "app" and stored["status"] == "dispatched"
    assert stored["grid_code"] == leaf["code"] and stored["assignee_id"] == leaf["worker_id"]
    assert stored["reporter_name"] == "张三" and stored["reporter_phone"] == "13812345678"
    assert stored["description"] == "路边有暴露垃圾，已堆了三天" and stored["input_crs"] == "wgs84"
    # the same point through POST /api/v1/cases goes to the same grid and person
    api = requests.post(live.replace("/open311/v2", "/api/v1/cases"), json={
        "category": "patrol.exposed_rubbish", "description": "同一地点", "channel": "resident",
        "location": {"lon": leaf["lon"], "lat": leaf["lat"]}}, timeout=30).json()
    assert api["grid"]["leaf"]["code"] == stored["grid_code"]
    assert api["assignee"]["id"] == stored["assignee_id"]

    # back through an Open311 client, in both formats
    for out in ("json", "xml"):
        client = GeoReport(live, jurisdiction=TOWN, output_format=out)
        got = client.get_service_request(str(case_id))
        if isinstance(got, list):  # xmltodict: a list only when there are several
            got = got[0]
        assert list(got) == REQUEST_FIELDS
        assert got["service_request_id"] == str(case_id) and got["status"] == "open"
        assert got["service_code"] == "patrol.exposed_rubbish" and got["service_name"] == "暴露垃圾"
        assert got["status_notes"] == "已派遣"
        assert got["requested_datetime"].endswith("+08:00")
        assert leaf["worker_name"] not in got["agency_responsible"]
        assert f"{leaf['worker_name'][0]}*" in got["agency_responsible"]
        assert float(got["lat"]) == pytest.approx(leaf["lat"], abs=POSITION_STEP_DEG)
        assert float(got["long"]) == pytest.approx(leaf["lon"], abs=POSITION_STEP_DEG)
        raw = requests.get(f"{live}/requests/{case_id}.{out}", timeout=30)
        if out == "xml":
            valid_xml(raw.content, "service_requests")
        else:
            valid_json(raw.json(), "service_requests")
        for secret in ("张三", "13812345678", "1234", "zhang@example.org", "tt222111",
                       "堆了三天", "farm3", leaf["worker_name"]):
            assert secret not in raw.text


def test_an_address_string_is_geocoded_as_the_intake_does(client, o311_url):
    addr = query(o311_url, """
        SELECT a.full_text, a.grid_code
          FROM addresses a JOIN grids g ON g.code = a.grid_code AND g.valid_to IS NULL
         WHERE a.street IS NOT NULL AND a.building IS NULL AND ST_Contains(g.geom, a.geom)
         ORDER BY a.id OFFSET 7 LIMIT 1""")[0]
    r = client.post("/open311/v2/requests.json", data={
        "service_code": "patrol.street_light", "address_string": addr["full_text"]})
    assert r.status_code == 201, r.get_data(as_text=True)
    stored = _stored(o311_url, int(r.get_json()[0]["service_request_id"]))
    assert stored["geocode_precision"] == "door" and stored["grid_code"] == addr["grid_code"]
    assert stored["address"] == addr["full_text"]
    # no description: the report says what its service is
    assert stored["description"] == "路灯不亮" and stored["reporter_name"] is None
    got = client.get(f"/open311/v2/requests/{stored['id']}.json").get_json()[0]
    # cut to the street, as the board cuts it: no door number
    assert got["address"] == public_address(addr["full_text"]) and "号" not in got["address"]


def test_with_both_a_point_and_an_address_the_point_routes(client, o311_url):
    leaf = leaf_with_one_worker(o311_url, offset=5)
    r = client.post("/open311/v2/requests.json", data=report(
        leaf, address_string="巴公镇某处路口东侧"))
    assert r.status_code == 201, r.get_data(as_text=True)
    stored = _stored(o311_url, int(r.get_json()[0]["service_request_id"]))
    assert stored["grid_code"] == leaf["code"] and stored["geocode_precision"] == "point"
    assert stored["address"] == "巴公镇某处路口东侧"


@pytest.mark.parametrize("account", ["town_operator", "grid_worker_1"])
def test_a_report_with_an_api_key_is_a_referral_of_that_account(client, o311_url, demo_tokens,
                                                                account):
    leaf = leaf_with_one_worker(o311_url, offset=1)
    r = client.post("/open311/v2/requests.xml",
                    data=report(leaf, api_key=demo_tokens[account], first_name=None,
                                last_name=None, phone=None))
    assert r.status_code == 201, r.get_data(as_text=True)
    case_id = int(valid_xml(r.get_data(), "post_response")["service_requests"]["request"][0][
        "service_request_id"])
    stored = _stored(o311_url, case_id)
    assert stored["channel"] == "referral" and stored["grid_code"] == leaf["code"]
    assert stored["assignee_id"] == leaf["worker_id"]


# -- POST: refusals, each its own, nothing written -----------------------------------------


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_bad_api_key_is_403(client, o311_url, fmt):
    leaf = leaf_with_one_worker(o311_url)
    r = client.post(f"/open311/v2/requests.{fmt}", data=report(leaf, api_key="not-a-token"))
    assert "api_key" in errors_of(r, fmt, 403)[0]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("account", ["planner", "town_leader"])
def test_a_key_of_a_role_that_may_not_report_is_403(client, o311_url, demo_tokens, account):
    leaf = leaf_with_one_worker(o311_url)
    r = client.post("/open311/v2/requests.json", data=report(leaf, api_key=demo_tokens[account]))
    assert account in errors_of(r, "json", 403)[0]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_service_code_is_404_with_its_own_error(client, o311_url, fmt):
    leaf = leaf_with_one_worker(o311_url)
    r = client.post(f"/open311/v2/requests.{fmt}", data=report(leaf, service_code="graffiti"))
    (description,) = errors_of(r, fmt, 404)
    assert "service_code 'graffiti' was not found" in description


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_missing_location_is_400_with_its_own_error(client, o311_url, fmt):
    leaf = leaf_with_one_worker(o311_url)
    r = client.post(f"/open311/v2/requests.{fmt}", data=report(leaf, lat=None, long=None))
    (description,) = errors_of(r, fmt, 400)
    assert description.startswith("a location is required: send lat and long")
    r = client.post(f"/open311/v2/requests.{fmt}", data=report(leaf, lat="", long="",
                                                                address_id="545483"))
    assert "address_id is not used here" in errors_of(r, fmt, 400)[0]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(("fields", "says"), [
    ({"long": None}, "lat and long must be sent together"),
    ({"lat": "north"}, "lat 'north' is not a number"),
    ({"long": "181"}, "long '181' is out of range"),
    ({"lat": "nan"}, "lat 'nan' is out of range"),
    ({"description": "x" * 2001}, "description has 2001 characters"),
    ({"phone": "call me"}, "phone 'call me' is not a phone number"),
    ({"first_name": "名" * 30, "last_name": "姓" * 30}, "at most 50"),
    ({"address_string": "x", "lat": None, "long": None}, "address_string has 1 characters"),
])
def test_a_field_that_does_not_fit_is_400_naming_it(client, o311_url, fields, says):
    leaf = leaf_with_one_worker(o311_url)
    r = client.post("/open311/v2/requests.json", data=report(leaf, **fields))
    assert any(says in d for d in errors_of(r, "json", 400))


@pytest.mark.usefixtures("nothing_written")
def test_a_report_to_another_jurisdiction_is_404(client, o311_url):
    leaf = leaf_with_one_worker(o311_url)
    r = client.post("/open311/v2/requests.xml", data=report(leaf, jurisdiction_id="140525109"))
    assert "jurisdiction_id '140525109' was not found" in errors_of(r, "xml", 404)[0]


@pytest.mark.usefixtures("nothing_written")
def test_several_problems_are_several_errors(client):
    r = client.post("/open311/v2/requests.xml", data={"phone": "call me", "lat": "35.6"})
    found = errors_of(r, "xml", 400)
    assert len(found) == 3
    assert found[0].startswith("service_code was not provided")
    assert any("lat and long must be sent together" in d for d in found)
    assert any("phone 'call me'" in d for d in found)


@pytest.mark.usefixtures("nothing_written")
def test_a_point_outside_the_town_is_400(client):
    r = client.post("/open311/v2/requests.json", data={
        "service_code": "patrol.street_light", "lat": "39.9", "long": "116.4"})
    assert errors_of(r, "json", 400)


def test_a_hostile_value_comes_back_as_well_formed_escaped_xml(client, o311_url):
    case_id = query(o311_url, f"SELECT c.id FROM cases c WHERE {RECENT_CLOSED} "
                              "ORDER BY c.id LIMIT 1")[0]["id"]
    with session_scope(o311_url) as s:
        s.execute(text("""
            INSERT INTO case_events (case_id, town_code, at, type, from_status, to_status,
                                     actor, note)
            SELECT id, town_code, closed_at + interval '1 second', 'close', 'fed_back',
                   'closed', 'test', :note FROM cases WHERE id = :id"""),
            {"id": case_id, "note": "已处理</status_notes><x>&amp;\x01\x0b]]>"})
        s.commit()
    r = client.get(f"/open311/v2/requests/{case_id}.xml")
    (got,) = valid_xml(r.get_data(), "service_requests")["service_requests"]["request"]
    assert got["status_notes"] == "已处理</status_notes><x>&amp;\ufffd\ufffd]]>"
    assert client.get(f"/open311/v2/requests/{case_id}.json").get_json()[0][
        "status_notes"] == "已处理</status_notes><x>&amp;\x01\x0b]]>"
    r = client.post("/open311/v2/requests.xml", data={"service_code": "<a>&\x01"})
    assert "<a>&" in errors_of(r, "xml", 404)[0]


@pytest.mark.usefixtures("nothing_written")
def test_a_body_over_the_limit_is_413_in_open311_format(client, o311_url):
    leaf = leaf_with_one_worker(o311_url)
    r = client.post("/open311/v2/requests.json", data=report(leaf, description="垃" * 400_000))
    assert "at most 1,048,576" in errors_of(r, "json", 413)[0]


def test_the_jurisdiction_is_the_one_town_or_the_one_named():
    bagong, other = {"code": TOWN, "name": "巴公镇"}, {"code": "140525109", "name": "北义城镇"}
    assert georeport.jurisdiction([bagong], None) == bagong
    assert georeport.jurisdiction([bagong], " ") == bagong  # sent empty: not sent
    assert georeport.jurisdiction([bagong, other], "140525109") == other
    assert georeport.jurisdiction([], None) is None
    with pytest.raises(JurisdictionRequired, match="140525108, 140525109"):
        georeport.jurisdiction([bagong, other], None)
    with pytest.raises(UnknownJurisdiction, match="'sfgov.org' was not found"):
        georeport.jurisdiction([bagong], "sfgov.org")


@pytest.mark.parametrize(("first", "last", "name"), [
    ("三", "张", "张三"), ("娜娜", "欧阳", "欧阳娜娜"), ("John", "Smith", "John Smith"),
    ("三", None, "三"), (None, "张", "张"), (" ", "", None),
])
def test_a_reporter_name_is_family_name_first_when_chinese(first, last, name):
    assert georeport.reporter_name(first, last) == name


def test_other_paths_methods_and_formats_answer_in_open311_format(client):
    assert "services, services/{service_code}" in errors_of(
        client.get("/open311/v2/tokens/1.xml"), "xml", 404)[0]
    errors_of(client.get("/open311/v2/"), "xml", 404)
    errors_of(client.get("/open311/v2/services"), "xml", 404)
    refused = client.post("/open311/v2/services.json")
    assert "GET only" in errors_of(refused, "json", 405)[0] and refused.headers["Allow"] == "GET"
    assert "'csv'" in errors_of(client.get("/open311/v2/services.csv"), "xml", 400)[0]
    assert "was not found" in errors_of(client.get("/open311/v2/requests/abc.json"), "json",
                                        404)[0]
    errors_of(client.get("/open311/v2/requests/999999999.xml"), "xml", 404)


# -- GET requests: filters, paging, redaction ----------------------------------------------


def _window_count(url: str, where: str = "true", **params) -> int:
    return query(url, f"""
        SELECT count(*) AS n FROM cases c
         WHERE c.created_at >= now() - interval '90 days' AND c.created_at <= now()
           AND {where}""", **params)[0]["n"]


def test_by_default_the_last_90_days_newest_first_at_most_1000(client, o311_url):
    body = valid_json(client.get("/open311/v2/requests.json").get_json(), "service_requests")
    assert len(body) == min(1000, _window_count(o311_url)) > 0
    moments = [datetime.fromisoformat(b["requested_datetime"]) for b in body]
    assert moments == sorted(moments, reverse=True)
    assert moments[-1] >= datetime.now(LOCAL_TZ) - timedelta(days=90, minutes=1)
    assert all(list(b) == REQUEST_FIELDS for b in body)
    page2 = client.get("/open311/v2/requests.json?page=2&page_size=5").get_json()
    assert [b["service_request_id"] for b in page2] == [
        b["service_request_id"] for b in body[5:10]]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_filters_narrow_the_list(live, o311_url, fmt):
    client = GeoReport(live, jurisdiction=TOWN, output_format=fmt)

    def listed(**params) -> list[dict]:
        found = client.get_service_requests(**params) if params else []
        return [found] if isinstance(found, dict) else found  # xmltodict: one is a dict

    closed = listed(status="closed")
    assert closed and all(r["status"] == "closed" for r in closed)
    assert len(closed) == min(1000, _window_count(
        o311_url, "c.status IN ('closed', 'evaluated', 'voided')"))
    opened = listed(status="open", service_code="patrol.exposed_rubbish,patrol.street_light")
    assert opened and all(r["status"] == "open" for r in opened)
    assert {r["service_code"] for r in opened} <= {"patrol.exposed_rubbish", "patrol.street_light"}
    assert len(opened) == _window_count(
        o311_url, "c.status NOT IN ('closed', 'evaluated', 'voided') AND c.category_code IN "
                  "('patrol.exposed_rubbish', 'patrol.street_light')")
    end = (datetime.now(LOCAL_TZ) - timedelta(days=10)).replace(microsecond=0)
    start = end - timedelta(days=7)
    week = listed(start_date=start.isoformat(), end_date=end.isoformat())
    assert week and all(start <= datetime.fromisoformat(r["requested_datetime"]) <= end
                        for r in week)
    ids = [r["service_request_id"] for r in week[:3]]
    by_id = listed(service_request_id=",".join(ids), status="open", service_code="hazard.gas")
    assert sorted(r["service_request_id"] for r in by_id) == sorted(ids)  # ids override


@pytest.mark.parametrize(("params", "says"), [
    ("start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", "more than 90"),
    ("start_date=2026-06-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", "before start_date"),
    ("start_date=yesterday", "not a W3C date-time"),
    ("status=pending", "'pending' is not open or closed"),
    ("service_request_id=1,x", "'x' is not a service request id"),
    ("page_size=1001", "from 1 to 1000"),
    ("page=0", "from 1 to 1000000"),
])
def test_a_bad_query_is_400_naming_it(client, params, says):
    assert says in errors_of(client.get(f"/open311/v2/requests.xml?{params}"), "xml", 400)[0]


def test_an_unknown_service_code_filter_is_404(client):
    assert "'nope'" in errors_of(client.get("/open311/v2/requests.json?service_code=nope"),
                                 "json", 404)[0]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_no_reporter_or_personal_data_in_any_get_body(live, o311_url, fmt):
    reporters = query(o311_url, f"""
        SELECT c.id, c.reporter_name, c.reporter_phone, c.description, c.address
          FROM cases c WHERE {RECENT_CLOSED} AND c.reporter_phone IS NOT NULL""")
    assert len(reporters) > 20
    body = requests.get(f"{live}/requests.{fmt}", params={"status": "closed"}, timeout=30)
    ids = ",".join(str(r["id"]) for r in reporters[:200])
    by_id = requests.get(f"{live}/requests.{fmt}", params={"service_request_id": ids},
                         timeout=30)
    assert len(re.findall(r"service_request_id", by_id.text)) >= min(200, len(reporters))
    for text_ in (body.text, by_id.text):
        for r in reporters:
            assert r["reporter_phone"] not in text_ and r["reporter_phone"][-8:] not in text_
            assert len(r["reporter_name"]) < 2 or r["reporter_name"] not in text_
            assert r["description"] not in text_
        # the closing notes are published with the phone and the name masked
        assert re.search(r"已联系.\*（139\*\*\*\*\d{4}）", text_)
    # the positions are the board's: snapped to its grid of about 50 m
    listed = (valid_json(by_id.json(), "service_requests") if fmt == "json" else
              valid_xml(by_id.content, "service_requests")["service_requests"]["request"])
    for item in listed:
        for key in ("lat", "long"):
            steps = float(item[key]) / POSITION_STEP_DEG
            assert steps == pytest.approx(round(steps), abs=1e-6)


def test_a_merged_duplicate_is_closed_and_says_where_it_went(client, o311_url, operator_token):
    """A case reported over Open311 where it waits in a center's queue, merged by the town
    operator into an open case (the workflow's merge): closed, naming its original."""
    original = query(o311_url, "SELECT id FROM cases WHERE status = 'dispatched' "
                               "ORDER BY id DESC LIMIT 1")[0]["id"]
    r = client.post("/open311/v2/requests.json", data={
        "service_code": "patrol.street_light", "address_string": "山西省晋城市泽州县巴公镇"})
    duplicate = int(r.get_json()[0]["service_request_id"])
    assert _stored(o311_url, duplicate)["status"] == "collected"  # the town centre's queue
    got = client.get(f"/open311/v2/requests/{duplicate}.json").get_json()[0]
    assert got["status"] == "open" and got["agency_responsible"] == "巴公镇党群服务中心"
    r = client.post(f"/api/v1/cases/{duplicate}/transitions",
                    json={"action": "merge", "to": original, "version": 1},
                    headers={"Authorization": f"Bearer {operator_token}"})
    assert r.status_code == 200, r.get_json()
    got = client.get(f"/open311/v2/requests/{duplicate}.xml").get_data()
    (got,) = valid_xml(got, "service_requests")["service_requests"]["request"]
    assert got["status"] == "closed" and got["status_notes"] == f"已合并到 {original}（同一事项）"
