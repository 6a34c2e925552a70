"""The map page and /healthz through Flask's test client, against a real PostGIS.

Each test gets a fresh migrated database (``empty_db_url``); ``small_town`` adds a town of two
villages with four leaf grids, a zone, people and households. The browser tests
(test_browser.py) reuse :func:`insert_small_town`.
"""

from __future__ import annotations

import json
import re

import folium
import folium.plugins
import pytest
from sqlalchemy import text

from boundaries import repository
from db.session import engine_for, session_scope
from geo.layers import grids as layers
from tests.accounts_support import bearer, token_for
from web import create_app
from web.assets import AssetError, localise, static_paths

XSS = "<img src=x onerror=alert(1)>"
XSS_PERSON = "王五<img src=y onerror=alert(2)>"
TOWN = "140525108"
ADMIN_CODES = ["140525108201000", "140525108202000"]
LEAF_CODES = ["140525108201001", "140525108201002", "140525108202001", "140525108202002"]
GRID_CODES = ADMIN_CODES + LEAF_CODES
ZONE = "14052510801"
# Anything that looks like a link to a host: any http(s) URL, or a protocol-relative
# //host.tld. Our own links are root-relative (/static/...), so the page should have none.
URL_RE = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}|https?://", re.IGNORECASE)

INSERT_TOWN = text(
    "INSERT INTO towns (code, name, county, city, province, geom) "
    "VALUES (:code, '巴公镇', '泽州县', '晋城市', '山西省', ST_GeomFromText(:wkt, 4326))"
)
INSERT_PERSON = text(
    "INSERT INTO people (name, role, town_code) VALUES (:name, :role, :town) RETURNING id"
)
INSERT_ZONE = text(
    "INSERT INTO zones (code, name, kind, town_code, leader_id, geom) "
    "VALUES (:code, '第一片区', 'village', :town, :leader, ST_GeomFromText(:wkt, 4326))"
)
INSERT_GRID = text(
    "INSERT INTO grids (code, name, level, parent_code, zone_code, town_code, geom, version, "
    "valid_from, valid_to) "
    "VALUES (:code, :name, :level, :parent, :zone, :town, ST_GeomFromText(:wkt, 4326), :version, "
    "coalesce(CAST(:valid_from AS timestamptz), now()), CAST(:valid_to AS timestamptz))"
)
INSERT_POST = text(
    "INSERT INTO grid_assignments (person_id, grid_code, role, since, until) "
    "VALUES (:person, :grid, :role, '1999-01-01', CAST(:until AS date))"
)
INSERT_ADDRESS = text(
    "INSERT INTO addresses (full_text, town_code, grid_code, geom) "
    "VALUES (:t, :town, :grid, ST_SetSRID(ST_MakePoint(112.83, 35.64), 4326)) RETURNING id"
)
INSERT_HOUSEHOLD = text(
    "INSERT INTO households (address_id, head_name, residents, grid_code, town_code) "
    "VALUES (:address, '户主', 3, :grid, :town)"
)


def _box(west: float, south: float, east: float, north: float) -> str:
    ring = f"{west} {south},{east} {south},{east} {north},{west} {north},{west} {south}"
    return f"MULTIPOLYGON((({ring})))"


def insert_small_town(url: str) -> None:
    """Bagong in miniature: 2 villages (one named with an HTML tag), 2 regional, 2 service grids."""
    town_box = (112.80, 35.60, 112.90, 35.68)
    grids = [
        # code, name, level, parent, box (west, south, east, north)
        (ADMIN_CODES[0], "东庄村", "admin", None, (112.80, 35.60, 112.85, 35.68)),
        (ADMIN_CODES[1], "西庄村" + XSS, "admin", None, (112.85, 35.60, 112.90, 35.68)),
        (LEAF_CODES[0], "东庄区域一", "regional", ADMIN_CODES[0], (112.80, 35.60, 112.825, 35.68)),
        (LEAF_CODES[1], "东庄服务一", "service", ADMIN_CODES[0], (112.825, 35.60, 112.85, 35.68)),
        (LEAF_CODES[2], "西庄区域一", "regional", ADMIN_CODES[1], (112.85, 35.60, 112.875, 35.68)),
        (LEAF_CODES[3], XSS + "服务网格", "service", ADMIN_CODES[1], (112.875, 35.60, 112.90, 35.68)),
    ]
    people = [
        ("赵镇长", "zone_leader"), ("张书记", "grid_leader"), ("李网格员", "grid_worker"),
        (XSS_PERSON, "grid_worker"), ("钱已离任", "grid_worker"),
    ]
    posts = [  # person, grid, role, until (a post that ended is not shown)
        ("张书记", ADMIN_CODES[0], "leader", None),
        ("李网格员", LEAF_CODES[1], "worker", None),
        (XSS_PERSON, LEAF_CODES[3], "worker", None),
        ("钱已离任", LEAF_CODES[1], "worker", "2000-01-01"),
    ]
    with session_scope(url) as s:
        s.execute(INSERT_TOWN, {"code": TOWN, "wkt": _box(*town_box)})
        ids = {
            name: s.execute(INSERT_PERSON, {"name": name, "role": role, "town": TOWN}).scalar_one()
            for name, role in people
        }
        zone = {"code": ZONE, "town": TOWN, "leader": ids["赵镇长"], "wkt": _box(*town_box)}
        s.execute(INSERT_ZONE, zone)
        # An old version of a leaf grid, closed a year ago: the map shows current rows only.
        old = {
            "code": LEAF_CODES[0], "name": "旧版本网格", "level": "regional", "parent": ADMIN_CODES[0],
            "zone": ZONE, "town": TOWN, "wkt": _box(112.80, 35.60, 112.85, 35.68), "version": 1,
            "valid_from": "2024-01-01", "valid_to": "2025-01-01",
        }
        s.execute(INSERT_GRID, old)
        for code, name, level, parent, box in grids:
            s.execute(INSERT_GRID, {
                "code": code, "name": name, "level": level, "parent": parent, "zone": ZONE,
                "town": TOWN, "wkt": _box(*box), "version": 2 if code == LEAF_CODES[0] else 1,
                "valid_from": None, "valid_to": None,
            })
        for person, grid, role, until in posts:
            post = {"person": ids[person], "grid": grid, "role": role, "until": until}
            s.execute(INSERT_POST, post)
        for grid, n in [(LEAF_CODES[1], 3), (LEAF_CODES[2], 2)]:
            for i in range(n):
                params = {"t": f"{grid}-{i}", "town": TOWN, "grid": grid}
                address = s.execute(INSERT_ADDRESS, params).scalar_one()
                s.execute(INSERT_HOUSEHOLD, {"address": address, "grid": grid, "town": TOWN})


@pytest.fixture
def small_town(empty_db_url) -> str:
    insert_small_town(empty_db_url)
    return empty_db_url


def _client(url: str, **config):
    return create_app({"DATABASE_URL": url, "TESTING": True, **config}).test_client()


def _signed_client(url: str, **config):
    """A client signed in as an administrator (made when missing) of the database at ``url``."""
    return bearer(_client(url, **config), token_for(url, "admin"))


# --- the repository -----------------------------------------------------------------------

def test_grids_geojson_has_current_grids_with_people_and_households(small_town):
    with session_scope(small_town) as s:
        features = repository.grids_geojson(s)["features"]
        counts = repository.grid_counts(s)
    by_code = {f["properties"]["code"]: f["properties"] for f in features}
    # By level (admin, regional, service), then by code.
    codes = [f["properties"]["code"] for f in features]
    assert codes == ADMIN_CODES + LEAF_CODES[0::2] + LEAF_CODES[1::2]
    assert by_code[LEAF_CODES[0]]["name"] == "东庄区域一" and by_code[LEAF_CODES[0]]["version"] == 2
    assert by_code[ADMIN_CODES[0]]["leaders"] == ["张书记"]
    assert by_code[LEAF_CODES[1]]["workers"] == ["李网格员"]  # the post that ended is not listed
    assert by_code[LEAF_CODES[1]]["worker_count"] == 1
    assert by_code[LEAF_CODES[1]]["households"] == 3
    assert by_code[ADMIN_CODES[0]]["households"] == 3  # a village counts its leaf grids' households
    assert by_code[ADMIN_CODES[1]]["households"] == 2
    assert by_code[LEAF_CODES[3]]["parent_code"] == ADMIN_CODES[1]
    assert features[0]["geometry"]["type"] == "MultiPolygon"
    assert counts == {"admin": 2, "regional": 2, "service": 2}


@pytest.mark.parametrize("level, expected", [("admin", ADMIN_CODES), ("service", LEAF_CODES[1::2])])
def test_grids_geojson_filters_by_level(small_town, level, expected):
    with session_scope(small_town) as s:
        codes = [f["properties"]["code"] for f in repository.grids_geojson(s, level)["features"]]
    assert codes == expected


@pytest.mark.parametrize("level", ["village", "admin; DROP TABLE grids", ""])
def test_grids_geojson_refuses_unknown_level(small_town, level):
    with session_scope(small_town) as s, pytest.raises(ValueError, match=re.escape(repr(level))):
        repository.grids_geojson(s, level)


def test_zones_and_town_geojson(small_town):
    with session_scope(small_town) as s:
        zones = repository.zones_geojson(s)["features"]
        towns = repository.town_geojson(s)["features"]
        summary = repository.town_summary(s)
    assert [z["properties"]["leader"] for z in zones] == ["赵镇长"]
    assert towns[0]["properties"]["name"] == "巴公镇"
    assert summary == {
        "code": TOWN, "name": "巴公镇", "zones": 1, "grids": {"admin": 2, "regional": 2, "service": 2},
        "people": 5, "households": 5,
    }


# --- the layers and the assets ------------------------------------------------------------

def test_grid_layer_escapes_names_before_folium_sees_them():
    collection = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [112.8, 35.6]},
        "properties": {"code": "1", "name": XSS, "level": "service", "parent_code": None,
                       "leaders": [XSS_PERSON], "workers": [], "households": 0},
    }]}
    layer = layers.grid_layer(collection, "service")
    props = layer.data["features"][0]["properties"]
    assert props["name"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert props["leaders"] == "王五&lt;img src=y onerror=alert(2)&gt;"
    assert props["workers"] == "—"


def test_localise_leaves_folium_classes_alone():
    before = list(folium.Map.default_css)
    m = localise(folium.Map(tiles=None), static_url=lambda p: "/static/" + p)
    assert all(url.startswith("/static/") for _, url in m.default_js + m.default_css)
    assert "glyphicons_css" not in dict(m.default_css)
    assert folium.Map.default_css == before


def test_localise_refuses_a_resource_we_do_not_serve():
    m = folium.Map(tiles=None)
    folium.plugins.Fullscreen().add_to(m)
    with pytest.raises(AssetError, match="Control.Fullscreen.js"):
        localise(m, static_url=lambda p: "/static/" + p)


def test_every_local_asset_is_served(empty_db_url):
    client = _client(empty_db_url)
    for path in static_paths():
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, f"/static/{path} is missing: run `make assets`"
        response.close()


# --- the pages ----------------------------------------------------------------------------

def test_map_page_shows_current_grids_and_links_only_to_us(small_town):
    response = _signed_client(small_town).get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    for code in GRID_CODES:
        assert code in html
    assert "旧版本网格" not in html
    assert "<title>巴公镇网格化治理指挥中心</title>" in html
    assert URL_RE.findall(html) == []
    assert "/static/vendor/leaflet/leaflet.js" in html
    # The legend: grid counts per level.
    legend = html[html.index('class="legend"'):]
    assert re.search(r"行政网格</span><span class=\"count\">2个", legend)
    assert re.search(r"服务网格</span><span class=\"count\">2个", legend)
    # the leaf grid whose only worker left (and the one with none) stand out
    assert re.search(r"无在岗网格员</span><span class=\"count\">2个", legend)


def test_map_page_escapes_typed_names(small_town):
    html = _signed_client(small_town).get("/").get_data(as_text=True)
    assert XSS not in html
    assert "onerror=alert(2)>" not in html
    # Escaped for HTML (&lt;), then JSON-encoded by folium (& as \u0026): shown as text.
    assert r"\u0026lt;img src=x onerror=alert(1)\u0026gt;" in html
    # people's names are not on the page at all: the grid panel fetches them as JSON
    assert "alert(2)" not in html


def test_map_page_adds_configured_basemap(small_town):
    url = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"
    client = _signed_client(small_town, BASEMAP_URL=url, BASEMAP_ATTRIBUTION="本地底图")
    html = client.get("/").get_data(as_text=True)
    assert url in html
    assert json.dumps("本地底图") in html  # folium writes it as a JSON string


def test_empty_database_shows_how_to_load_data(empty_db_url):
    response = _signed_client(empty_db_url).get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "gridgov demo load" in html and "gridgov boundaries import" in html
    assert URL_RE.findall(html) == []


def test_healthz_ok(small_town):
    response = _client(small_town).get("/healthz")
    body = response.get_json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"] == {"reachable": True}
    assert body["schema"]["up_to_date"] is True
    assert body["schema"]["current"] == body["schema"]["head"]
    assert body["town"]["name"] == "巴公镇" and body["town"]["grids"]["admin"] == 2


def test_healthz_ok_without_town(empty_db_url):
    body = _client(empty_db_url).get("/healthz").get_json()
    assert body["status"] == "ok" and body["town"] is None


@pytest.mark.parametrize("statement, current", [
    ("DELETE FROM alembic_version", None),
    ("UPDATE alembic_version SET version_num = '0000_older'", "0000_older"),
])
def test_healthz_reports_schema_out_of_date(empty_db_url, statement, current):
    with engine_for(empty_db_url).begin() as conn:
        conn.execute(text(statement))
    response = _client(empty_db_url).get("/healthz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["schema"]["up_to_date"] is False and body["schema"]["current"] == current


def test_healthz_reports_unreachable_database_with_a_code_and_logs_the_driver_text(caplog):
    from db.cluster import free_port

    port = free_port()
    url = f"postgresql://nobody@127.0.0.1:{port}/nowhere"
    with caplog.at_level("WARNING"):
        response = _client(url).get("/healthz")
    body = response.get_json()
    assert response.status_code == 503
    assert response.content_type == "application/json"
    assert body == {"status": "down", "database": {"reachable": False, "error": "database_unreachable"},
                    "schema": None, "town": None}
    # the driver's words (host, port, user) are for the server's log, not for anyone asking
    text_sent = response.get_data(as_text=True)
    assert str(port) not in text_sent and "nobody" not in text_sent and "Traceback" not in text_sent
    logged = [r.getMessage() for r in caplog.records if "healthz" in r.getMessage()]
    assert any("OperationalError" in m and str(port) in m for m in logged), logged


def test_an_api_call_without_its_database_is_503_with_a_code_and_no_driver_text(caplog):
    from db.cluster import free_port

    port = free_port()
    url = f"postgresql://nobody@127.0.0.1:{port}/nowhere"
    with caplog.at_level("WARNING"):
        response = _client(url).get("/api/v1/locate?lon=112.87&lat=35.64")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "database_unavailable"
    text_sent = response.get_data(as_text=True)
    assert str(port) not in text_sent and "nobody" not in text_sent and "Traceback" not in text_sent
    assert any(str(port) in r.getMessage() for r in caplog.records), "the driver's text is logged"
