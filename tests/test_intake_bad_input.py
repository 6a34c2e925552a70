"""Every bad input the intake API promises to handle, each sent for real: the status, the
stable error code, a message per field, and no case written."""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from tests.accounts_support import operator_client
from tests.test_intake_api import (  # noqa: F401  (fixtures)
    JPEG, PNG, case_body, client, intake_url, leaf_with_one_worker, query,
)
from web import create_app

INSIDE = {"lon": 112.87, "lat": 35.64}  # inside the demo town


@pytest.fixture(autouse=True)
def nothing_written(intake_url):
    """Bad input must never leave a case behind."""
    before = query(intake_url, "SELECT count(*) AS n FROM cases")[0]["n"]
    yield
    assert query(intake_url, "SELECT count(*) AS n FROM cases")[0]["n"] == before


def fields_of(response) -> set[str]:
    return {d["field"] for d in response.get_json().get("details") or []}


def check(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == code and body["message"]
    return body


@pytest.mark.parametrize("raw", [b'{"category": ', b"", b"{'category': 'x'}", b"\xff\xfe{}", b"[1, 2"])
def test_malformed_json_is_400(client, raw):
    r = client.post("/api/v1/cases", data=raw, content_type="application/json")
    check(r, 400, "malformed_json")


@pytest.mark.parametrize("raw", [b"[]", b'"a case"', b"42", b"null"])
def test_json_that_is_not_an_object_is_422(client, raw):
    r = client.post("/api/v1/cases", data=raw, content_type="application/json")
    check(r, 422, "invalid_body")


def test_missing_fields_get_a_message_each(client):
    r = client.post("/api/v1/cases", json={})
    body = check(r, 422, "invalid_body")
    assert fields_of(r) == {"category", "description", "channel", "location", "address"}
    assert all(d["message"] for d in body["details"])


@pytest.mark.parametrize(("overrides", "fields", "says"), [
    ({"category": ""}, {"category"}, "at least 1"),
    ({"description": ""}, {"description"}, "at least 1"),
    ({"description": "   "}, {"description"}, "at least 1"),
    ({"description": "x" * 2001}, {"description"}, "at most 2000"),
    ({"description": 42}, {"description"}, "valid string"),
    ({"channel": "fax"}, {"channel"}, "'patrol', 'resident', 'hotline', 'app', 'sensor' or 'referral'"),
    ({"priority": "high"}, {"priority"}, "Extra inputs"),
    ({"address": "巴公镇"}, {"location", "address"}, "not both"),
    ({"location": None}, {"location", "address"}, "location {lon, lat, crs} or address"),
    ({"location": {"lon": "112.87", "lat": 35.64}}, {"location.lon"}, "valid number"),
    ({"location": {"lon": True, "lat": 35.64}}, {"location.lon"}, "valid number"),
    ({"location": {"lon": None, "lat": 35.64}}, {"location.lon"}, "valid number"),
    ({"location": {"lon": 112.87}}, {"location.lat"}, "required"),
    ({"location": {"lon": 181, "lat": 35.64}}, {"location.lon"}, "less than or equal to 180"),
    ({"location": {"lon": -180.5, "lat": 35.64}}, {"location.lon"}, "greater than or equal to -180"),
    ({"location": {"lon": 112.87, "lat": 90.01}}, {"location.lat"}, "less than or equal to 90"),
    ({"location": {"lon": 112.87, "lat": 35.64, "crs": "epsg:3857"}}, {"location.crs"}, "wgs84, cgcs2000, gcj02, bd09"),
    ({"location": {"lon": 112.87, "lat": 35.64, "alt": 900}}, {"location.alt"}, "Extra inputs"),
    ({"location": [112.87, 35.64]}, {"location"}, "valid dictionary"),
    ({"reporter": {"phone": "call me"}}, {"reporter.phone"}, "pattern"),
    ({"reporter": {"name": ""}}, {"reporter.name"}, "at least 1"),
    ({"occurred_at": "2099-01-01T08:00:00+08:00"}, {"occurred_at"}, "in the future"),
    ({"occurred_at": "yesterday"}, {"occurred_at"}, "datetime"),
    ({"occurred_at": 1760000000}, {"occurred_at"}, "ISO 8601"),
])
def test_wrong_fields_get_a_message_each(client, overrides, fields, says):
    body = case_body(location=INSIDE)
    body.update(overrides)
    if body.get("location") is None and "address" not in overrides:
        body.pop("location", None)
    r = client.post("/api/v1/cases", json=body)
    data = check(r, 422, "invalid_body")
    assert fields_of(r) == fields
    assert any(says in d["message"] for d in data["details"]), data["details"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_coordinates_that_are_not_finite_numbers_are_422(client, literal):
    raw = json.dumps(case_body()).rstrip("}") + f', "location": {{"lon": {literal}, "lat": 35.64}}}}'
    r = client.post("/api/v1/cases", data=raw, content_type="application/json")
    check(r, 422, "invalid_body")
    assert fields_of(r) == {"location.lon"}


def test_an_unknown_category_is_422_listing_the_valid_ones(client, intake_url):
    r = client.post("/api/v1/cases", json=case_body(category="patrol.unicorn", location=INSIDE))
    body = check(r, 422, "unknown_category")
    assert "patrol.unicorn" in body["message"]
    codes = sorted(row["code"] for row in query(intake_url, "SELECT code FROM categories"))
    assert body["details"]["valid"] == codes


def test_a_point_outside_the_town_is_422_outside_coverage_with_the_nearest_grid(client):
    r = client.post("/api/v1/cases", json=case_body(location={"lon": 116.397, "lat": 39.909}))
    body = check(r, 422, "outside_coverage")
    assert len(body["details"]["nearest"]["code"]) == 15
    assert body["details"]["nearest"]["name"]
    assert body["details"]["distance_m"] > 400_000  # Beijing is ~500 km away


def test_a_point_just_outside_the_town_names_the_grid_next_to_it(client, intake_url):
    # 300 m due north of the town's northernmost vertex: outside, whatever the outline
    edge = query(intake_url, """
        SELECT ST_X(p) AS lon, ST_Y(p) AS lat FROM (
          SELECT ST_Project(v.geom::geography, 300, radians(0))::geometry AS p
            FROM towns, LATERAL ST_DumpPoints(towns.geom) AS v
           ORDER BY ST_Y(v.geom) DESC LIMIT 1) q""")[0]
    r = client.post("/api/v1/cases", json=case_body(location=edge))
    body = check(r, 422, "outside_coverage")
    assert 0 < body["details"]["distance_m"] <= 300.5


@pytest.mark.parametrize("location", [
    {"lon": -180.0, "lat": -58.02, "crs": "bd09"},  # BD-09's shift carried it past -180
    {"lon": 0.0, "lat": -90.0, "crs": "bd09"},      # and past the pole
    {"lon": 180.0, "lat": 90.0, "crs": "gcj02"},
])
def test_a_point_at_the_edge_of_the_globe_in_bd09_or_gcj02_is_outside_coverage(client, location):
    # make fuzz found these as a 500: the converted point fell off the globe
    r = client.post("/api/v1/cases", json=case_body(location=location))
    body = check(r, 422, "outside_coverage")
    assert len(body["details"]["nearest"]["code"]) == 15


def test_an_address_that_matches_nothing_is_422_address_not_found(client):
    r = client.post("/api/v1/cases", json=case_body(address="北京市海淀区中关村大街1号"))
    body = check(r, 422, "address_not_found")
    assert "中关村" in body["message"]


@pytest.mark.parametrize("key", ["k" * 201, "has space", ""])
def test_a_bad_idempotency_key_is_422(client, key):
    r = client.post("/api/v1/cases", json=case_body(location=INSIDE), headers={"Idempotency-Key": key})
    check(r, 422, "invalid_idempotency_key")
    assert fields_of(r) == {"Idempotency-Key"}


def test_a_body_over_the_limit_is_413_json(intake_url):
    small = operator_client({"DATABASE_URL": intake_url, "MAX_CONTENT_LENGTH": 4096})
    body = case_body(location=INSIDE, description="长" * 1500)  # 4.5 kB of UTF-8
    r = small.post("/api/v1/cases", data=json.dumps(body, ensure_ascii=False).encode(), content_type="application/json")
    check(r, 413, "request_entity_too_large")


def test_a_body_over_the_default_16_mib_is_413_json(client):
    r = client.post("/api/v1/cases", data=b"{" + b" " * (16 * 1024 * 1024 + 1) + b"}",
                    content_type="application/json")
    check(r, 413, "request_entity_too_large")


def multipart(client, case: object = None, photos=(), extra=None):
    data = {} if case is None else {"case": case if isinstance(case, str) else json.dumps(case)}
    if photos:
        data["photos"] = [FileStorage(io.BytesIO(b), name) for name, b in photos]
    data.update(extra or {})
    # encoded here, in memory: the test client would spool a large body to a temporary file
    # it never closes (a ResourceWarning, an error under filterwarnings=error)
    boundary, body = encode_multipart(MultiDict(data))
    return client.post("/api/v1/cases", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_multipart_without_the_case_field_is_422(client):
    r = multipart(client, photos=[("a.png", PNG)])
    check(r, 422, "invalid_body")
    assert fields_of(r) == {"case"}


def test_multipart_with_a_case_field_that_is_not_json_is_400(client):
    check(multipart(client, case="{not json"), 400, "malformed_json")


def test_multipart_with_wrong_case_fields_is_422_per_field(client):
    r = multipart(client, case={"description": "x"}, photos=[("a.png", PNG)])
    check(r, 422, "invalid_body")
    assert fields_of(r) == {"category", "channel", "location", "address"}


def test_multipart_with_an_unknown_field_is_422(client):
    r = multipart(client, case=case_body(location=INSIDE), extra={"photo": FileStorage(io.BytesIO(PNG), "a.png")})
    check(r, 422, "invalid_body")
    assert fields_of(r) == {"photo"}


def unreadable_name_multipart(fields: dict[str, str]) -> tuple[str, bytes]:
    """A multipart body of ``fields`` and one more part whose name has a quote left open
    (``name="ñ\\"``): werkzeug gives that part the name None. Its content type and bytes."""
    boundary = "b0undary"
    parts = [("\u00f1\\", "x"), *fields.items()]
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n" for name, value in parts) + f"--{boundary}--\r\n"
    return f"multipart/form-data; boundary={boundary}", body.encode()


def test_multipart_with_a_field_whose_name_cannot_be_read_is_422(client):
    # sorting the None name with the others was a 500 (make fuzz found it on POST /visits)
    content_type, body = unreadable_name_multipart({"case": json.dumps(case_body(location=INSIDE))})
    r = client.post("/api/v1/cases", data=body, content_type=content_type)
    check(r, 422, "invalid_body")
    assert fields_of(r) == {""}


def test_more_than_five_photos_is_422(client):
    r = multipart(client, case=case_body(location=INSIDE), photos=[(f"{i}.png", PNG) for i in range(6)])
    check(r, 422, "too_many_photos")


@pytest.mark.parametrize(("name", "data"), [
    ("notes.txt", b"just some text, not an image"),
    ("empty.jpg", b""),
    ("fake.png", b"GIF89a" + b"\x00" * 20),
    ("page.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
])
def test_a_photo_that_is_not_jpeg_png_or_webp_is_422_unsupported_photo(client, name, data):
    r = multipart(client, case=case_body(location=INSIDE), photos=[("ok.jpg", JPEG), (name, data)])
    body = check(r, 422, "unsupported_photo")
    assert name in body["message"]
    assert fields_of(r) == {"photos[1]"}


def test_a_photo_over_5_mb_is_413_photo_too_large(client):
    big = PNG + b"\x00" * (5 * 1024 * 1024)
    r = multipart(client, case=case_body(location=INSIDE), photos=[("big.png", big)])
    check(r, 413, "photo_too_large")


def test_a_multipart_body_over_the_limit_is_413_json(intake_url):
    small = operator_client({"DATABASE_URL": intake_url, "MAX_CONTENT_LENGTH": 64 * 1024})
    r = multipart(small, case=case_body(location=INSIDE), photos=[("a.png", PNG + b"\x00" * 100_000)])
    check(r, 413, "request_entity_too_large")


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/v1/cases/999999999", 404, "case_not_found"),
    ("/api/v1/cases/1/photos/999999999", 404, "photo_not_found"),
    ("/api/v1/cases/abc", 404, "not_found"),
])
def test_reading_what_does_not_exist_is_404(client, path, status, code):
    check(client.get(path), status, code)


@pytest.mark.parametrize(("qs", "field"), [
    ("status=open", "status"),
    ("grid=abc", "grid"),
    ("bbox=a,b,c,d", "bbox"),
    ("bbox=112.8,35.6,112.9", "bbox"),
    ("bbox=112.9,35.6,112.8,35.7", "bbox"),
    ("bbox=112.8,35.6,200,35.7", "bbox"),
    ("limit=0", "limit"),
    ("limit=501", "limit"),
    ("limit=ten", "limit"),
    ("cursor=-1", "cursor"),
])
def test_a_bad_list_query_is_422_naming_the_parameter(client, qs, field):
    r = client.get(f"/api/v1/cases?{qs}")
    check(r, 422, "invalid_query")
    assert fields_of(r) == {field}


def test_with_no_town_loaded_a_point_is_outside_coverage_and_an_address_not_found(empty_db_url):
    empty = create_app({"DATABASE_URL": empty_db_url}).test_client()
    # a resident's report: no account needed (and none could be made without a town)
    body = check(empty.post("/api/v1/cases", json=case_body(location=INSIDE, channel="resident")),
                 422, "outside_coverage")
    assert body["details"] == {"nearest": None, "distance_m": None}
    check(empty.post("/api/v1/cases", json=case_body(address="巴公镇渠头村", channel="resident")),
          422, "address_not_found")
