"""``GET /api/v1/locate``: the point lookup over HTTP, against the demo in PostGIS."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.locate import TIE_RULE
from db.session import engine_for
from geo import gcj02
from web import create_app


@pytest.fixture(scope="module")
def client(demo_db_url):
    return create_app({"DATABASE_URL": demo_db_url, "TESTING": True}).test_client()


@pytest.fixture(scope="module")
def addresses(demo_db_url) -> list[tuple[float, float, str]]:
    with Session(engine_for(demo_db_url)) as s:
        rows = s.execute(text(
            "SELECT ST_X(geom), ST_Y(geom), grid_code FROM addresses ORDER BY id LIMIT 200")).all()
    return [tuple(r) for r in rows]


def test_a_point_answers_with_its_whole_hierarchy(client, addresses):
    lon, lat, grid = addresses[0]
    resp = client.get(f"/api/v1/locate?lon={lon}&lat={lat}")
    assert resp.status_code == 200
    body = resp.get_json()
    assert list(body) == ["input", "wgs84", "town", "zone", "admin", "leaf", "workers_on_duty",
                          "leader", "on_boundary", "candidates", "rule"]
    assert body["input"] == {"lon": lon, "lat": lat, "crs": "wgs84"}
    assert body["wgs84"] == {"lon": pytest.approx(lon), "lat": pytest.approx(lat)}
    assert body["leaf"]["code"] == grid and body["leaf"]["version"] == 1
    assert set(body["leaf"]) == {"code", "name", "level", "version", "valid_from"}
    assert set(body["admin"]) == {"code", "name", "version", "valid_from"}
    assert body["admin"]["code"] == grid[:12] + "000"
    assert body["town"]["name"] == "巴公镇" and body["zone"]["code"].startswith("140525108")
    assert body["on_boundary"] is False and body["rule"] is None


def test_a_shared_vertex_says_on_boundary_and_the_rule(client, demo_db_url):
    with Session(engine_for(demo_db_url)) as s:
        x, y = s.execute(text("""
            SELECT ST_X(pt), ST_Y(pt) FROM (
              SELECT (ST_DumpPoints(geom)).geom AS pt FROM grids
              WHERE level = 'service' AND valid_to IS NULL ORDER BY code LIMIT 40) v
            WHERE (SELECT count(*) FROM grids g WHERE g.level IN ('regional', 'service')
                   AND g.valid_to IS NULL AND ST_Covers(g.geom, v.pt)) >= 2
            LIMIT 1""")).one()
    body = client.get(f"/api/v1/locate?lon={x!r}&lat={y!r}").get_json()
    assert body["on_boundary"] is True and body["rule"] == TIE_RULE
    assert len(body["candidates"]) >= 2 and body["leaf"]["code"] == min(body["candidates"])


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_phone_point_lands_in_the_right_grid_only_when_converted(client, addresses, crs):
    forward = gcj02.wgs84_to_gcj02 if crs == "gcj02" else gcj02.wgs84_to_bd09
    for lon, lat, grid in addresses:
        m_lon, m_lat = forward(lon, lat)
        raw = client.get(f"/api/v1/locate?lon={m_lon!r}&lat={m_lat!r}")
        raw_grid = raw.get_json().get("leaf", {}).get("code") if raw.status_code == 200 else None
        if raw_grid != grid:
            break
    else:
        pytest.fail("every offset point landed in its own grid: no case to test")
    resp = client.get(f"/api/v1/locate?lon={m_lon!r}&lat={m_lat!r}&crs={crs.upper()}")
    body = resp.get_json()
    assert resp.status_code == 200 and body["leaf"]["code"] == grid
    assert body["input"]["crs"] == crs
    assert body["wgs84"]["lon"] == pytest.approx(lon, abs=1e-8)
    assert body["wgs84"]["lat"] == pytest.approx(lat, abs=1e-8)


def test_a_point_outside_every_grid_is_404_naming_the_nearest(client):
    resp = client.get("/api/v1/locate?lon=112.6&lat=35.6")
    assert resp.status_code == 404
    body = resp.get_json()
    assert body["error"] == "outside_coverage"
    assert set(body["details"]) == {"nearest", "distance_m"}
    assert set(body["details"]["nearest"]) == {"code", "name", "level"}
    assert body["details"]["distance_m"] > 10_000
    assert body["details"]["nearest"]["code"] in body["message"]


@pytest.mark.parametrize("query", ["lon=-180&lat=-58.02&crs=bd09", "lon=0&lat=-90&crs=bd09"])
def test_a_bd09_point_at_the_antimeridian_or_a_pole_is_404_not_a_500(client, query):
    # BD-09's shift carried these past -180 and past the pole; make fuzz found the 500
    resp = client.get(f"/api/v1/locate?{query}")
    assert resp.status_code == 404, resp.text
    body = resp.get_json()
    assert body["error"] == "outside_coverage"
    assert set(body["details"]) == {"nearest", "distance_m"}
    assert body["details"]["distance_m"] > 5_000_000  # the far south of the globe


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("lat=35.6", "lon"),
        ("lon=112.9", "lat"),
        ("lon=abc&lat=35.6", "lon"),
        ("lon=112.9&lat=91", "lat"),
        ("lon=-181&lat=35.6", "lon"),
        ("lon=nan&lat=35.6", "lon"),
        ("lon=112.9&lat=inf", "lat"),
        ("lon=112.9&lat=35.6&crs=epsg:4547", "crs"),
        ("lon=112.9&lat=35.6&crs=", "crs"),
    ],
)
def test_bad_query_parameters_are_422_per_field(client, query, field):
    resp = client.get(f"/api/v1/locate?{query}")
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["error"] == "invalid_query"
    assert [d["field"] for d in body["details"]] == [field]
    if field == "crs":
        assert all(name in body["details"][0]["message"] for name in ("wgs84", "cgcs2000", "gcj02", "bd09"))


def test_the_openapi_document_describes_locate(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/api/v1/locate"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["crs"]["schema"]["enum"] == ["wgs84", "cgcs2000", "gcj02", "bd09"]
    assert params["lon"]["required"] and params["lat"]["required"] and not params["crs"]["required"]
    assert "smallest code" in op["description"]
