"""``GET /api/v1/geocode`` and ``GET /api/v1/geocode/reverse`` on the Bagong demo."""

from __future__ import annotations

import jsonschema
import psycopg
import pytest
from psycopg.rows import dict_row

from demo.load import conninfo
from geo.gcj02 import wgs84_to_bd09, wgs84_to_gcj02
from geo.geocoder import haversine_m
from tests.openapi_support import assert_documented
from web import create_app


@pytest.fixture(scope="module")
def client(demo_db_url):
    return create_app({"DATABASE_URL": demo_db_url, "TESTING": True}).test_client()


@pytest.fixture(scope="module")
def house(demo_db_url) -> dict:
    with psycopg.connect(conninfo(demo_db_url), row_factory=dict_row) as conn:
        return conn.execute("""
            SELECT id, full_text, village, village_code, street, door_number, ST_X(geom) AS lon, ST_Y(geom) AS lat
            FROM addresses WHERE village = '渠头村' AND street = '东大街' ORDER BY abs(door_number - 12) LIMIT 1
        """).fetchone()


def _error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["error"] == code and body["message"]
    return body


# -- geocode ---------------------------------------------------------------------------------


def test_geocode_answers_the_door_with_its_point_precision_and_standard_address(client, house):
    q = f"山西晋城泽州巴公渠头村东大街{house['door_number']}#"
    resp = client.get("/api/v1/geocode", query_string={"q": q})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["query"] == q
    assert (body["precision"], body["matched"], body["address_id"]) == ("door", house["full_text"], house["id"])
    assert (body["village_code"], body["village"], body["street"], body["door_number"]) == (
        house["village_code"], "渠头村", "东大街", house["door_number"])
    assert body["interpolated"] is False and body["score"] == 100
    assert body["point"] == {"type": "Point", "coordinates": [body["lon"], body["lat"]]}
    assert_documented("GET", "/api/v1/geocode", resp)  # the parsed address too
    assert body["crs"] == "EPSG:4326"
    assert haversine_m(body["lon"], body["lat"], house["lon"], house["lat"]) < 0.01
    assert body["parsed"]["province"] == "山西" and body["parsed"]["door_number"] == house["door_number"]


def _documented(client, path: str) -> dict:
    """The JSON schema /api/v1/openapi.json gives for ``path``'s 200 answer."""
    doc = client.get("/api/v1/openapi.json").get_json()
    schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


@pytest.mark.parametrize("path, query", [
    ("/api/v1/geocode", {"q": "渠头村东大街12号"}),
    ("/api/v1/geocode/reverse", {"lon": 112.9157, "lat": 35.6425, "crs": "gcj02"}),
])
def test_geocode_answers_match_their_documented_schema_and_name_their_crs(client, path, query):
    resp = client.get(path, query_string=query)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    schema = _documented(client, path)
    jsonschema.Draft202012Validator(schema).validate(body)
    # the answer's coordinates are WGS 84 and say so; only a query given as a point has an input CRS
    assert body["crs"] == "EPSG:4326"
    assert ("input_crs" in body) == ("lon" in query)
    assert set(schema["components"]["schemas"]["GeocodeOut"]["required"]) >= {"crs", "lon", "lat", "point"}


@pytest.mark.parametrize("q, precision", [("渠头村东大街", "street"), ("渠头村", "village"), ("巴公镇", "town")])
def test_geocode_says_how_precise_the_point_is(client, q, precision):
    body = client.get("/api/v1/geocode", query_string={"q": q}).get_json()
    assert body["precision"] == precision


@pytest.mark.parametrize("q", ["北京市朝阳区建国路88号", "巴公镇王家峪村5号"])
def test_geocode_of_an_address_elsewhere_is_404_address_not_found(client, q):
    body = _error(client.get("/api/v1/geocode", query_string={"q": q}), 404, "address_not_found")
    assert q in body["message"]


@pytest.mark.parametrize("query, field, words", [
    ({}, "q", "required"),
    ({"q": ""}, "q", "at least 1"),
    ({"q": "   "}, "q", "blank"),
    ({"q": "渠" * 201}, "q", "at most 200"),
])
def test_geocode_refuses_a_missing_blank_or_too_long_q_with_422(client, query, field, words):
    body = _error(client.get("/api/v1/geocode", query_string=query), 422, "invalid_query")
    assert [d["field"] for d in body["details"]] == [field]
    assert words in body["details"][0]["message"]


@pytest.mark.parametrize("q", ["渠\U00010a40村东大街1号", "渠头村东大街" + "1" * 190 + "号"],
                         ids=["digit_int_cannot_read", "long_door_number"])
def test_geocode_of_odd_digits_answers_without_a_server_error(client, q):
    # 𐩀 is a digit to str.isdigit() that int() refuses: the homophone matcher raised on it, a 500
    resp = client.get("/api/v1/geocode", query_string={"q": q})
    assert resp.status_code in (200, 404), resp.get_json()


def test_geocode_accepts_a_q_of_exactly_200_characters(client):
    resp = client.get("/api/v1/geocode", query_string={"q": "巴公镇渠头村" + "东" * 194})
    assert resp.status_code in (200, 404)


# -- reverse ---------------------------------------------------------------------------------


def test_reverse_answers_the_nearest_standard_address_and_its_distance(client, house):
    resp = client.get("/api/v1/geocode/reverse", query_string={"lon": house["lon"] + 0.00003, "lat": house["lat"]})
    assert resp.status_code == 200
    body = resp.get_json()
    a = body["address"]
    assert set(a) == {"id", "full_text", "village", "village_code", "group_name", "street", "door_number",
                      "building", "unit", "room", "grid_code", "lon", "lat"}
    assert (a["id"], a["full_text"], a["door_number"]) == (house["id"], house["full_text"], house["door_number"])
    assert 2.0 < body["distance_m"] < 3.5  # 0.00003° of longitude at 35.6°N is 2.7 m
    assert body["input_crs"] == "wgs84"


@pytest.mark.parametrize("crs, forward", [("gcj02", wgs84_to_gcj02), ("GCJ02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_reverse_converts_a_map_app_point_before_looking(client, house, crs, forward):
    lon, lat = forward(house["lon"], house["lat"])
    body = client.get("/api/v1/geocode/reverse", query_string={"lon": lon, "lat": lat, "crs": crs}).get_json()
    assert body["address"]["id"] == house["id"] and body["distance_m"] < 0.01
    assert haversine_m(body["lon"], body["lat"], house["lon"], house["lat"]) < 0.01
    # taken as WGS 84, the same numbers are hundreds of metres off: the conversion matters
    raw = client.get("/api/v1/geocode/reverse", query_string={"lon": lon, "lat": lat}).get_json()
    assert raw.get("address", {}).get("id") != house["id"]


def test_reverse_takes_cgcs2000_as_wgs84(client, house):
    body = client.get("/api/v1/geocode/reverse",
                      query_string={"lon": house["lon"], "lat": house["lat"], "crs": "cgcs2000"}).get_json()
    assert body["address"]["id"] == house["id"] and body["distance_m"] < 0.01


def test_reverse_with_nothing_within_2_km_is_404(client):
    body = _error(client.get("/api/v1/geocode/reverse", query_string={"lon": 116.4, "lat": 39.9}), 404,
                  "address_not_found")
    assert "2000 m" in body["message"] and body["details"]["max_distance_m"] == 2000


@pytest.mark.parametrize("query, field, words", [
    ({"lat": 35.6}, "lon", "required"),
    ({"lon": 112.9}, "lat", "required"),
    ({"lon": "abc", "lat": 35.6}, "lon", "valid number"),
    ({"lon": "nan", "lat": 35.6}, "lon", "finite"),
    ({"lon": 112.9, "lat": 91}, "lat", "less than or equal to 90"),
    ({"lon": -181, "lat": 35.6}, "lon", "greater than or equal to -180"),
])
def test_reverse_refuses_a_missing_non_numeric_or_out_of_range_coordinate_with_422(client, query, field, words):
    body = _error(client.get("/api/v1/geocode/reverse", query_string=query), 422, "invalid_query")
    assert [d["field"] for d in body["details"]] == [field]
    assert words in body["details"][0]["message"]


def test_reverse_refuses_an_unknown_crs_listing_the_valid_ones(client):
    body = _error(client.get("/api/v1/geocode/reverse", query_string={"lon": 112.9, "lat": 35.6, "crs": "mars"}),
                  422, "invalid_query")
    message = body["details"][0]["message"]
    assert body["details"][0]["field"] == "crs" and "'mars'" in message
    for valid in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        assert valid in message


def test_both_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/geocode", "/api/v1/geocode/reverse"} <= set(paths)
    params = {p["name"] for p in paths["/api/v1/geocode/reverse"]["get"]["parameters"]}
    assert params == {"lon", "lat", "crs"}
    assert [p["name"] for p in paths["/api/v1/geocode"]["get"]["parameters"]] == ["q"]
