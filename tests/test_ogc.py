"""OGC API – Features at ``/ogc/`` on a copy of the demo: the landing page, conformance,
collections and the API definition; items with bbox, datetime (a grid redrawn in the copy:
a moment before the change answers the old outline) and paging (next links walk every feature
once, numberMatched right); ``public_cases`` equal to the public board's records, record by
record, with nothing personal; every bad input its own 400/404 in the OGC exception shape;
and GDAL's OAPIF driver (pyogrio) reading ``grids`` and ``public_cases`` over real HTTP."""

from __future__ import annotations

import json
import os
import re
from datetime import timezone
from urllib.parse import parse_qs, urlsplit

import psycopg
import pyogrio
import pytest
import shapely
from openapi_spec_validator import validate
from shapely.geometry import box, shape

from cases import intake
from db.session import conninfo, engine_for
from ogc.query import LIMIT_MAX
from tests.openapi_support import assert_documented
from web import create_app

# Fields the board never shows (cases/publication.py): a feature must have none of them.
PRIVATE = {"description", "reporter", "lon", "lat", "grid_code", "assignee_id", "closing_note"}
BOARD_FIELDS = {"id", "category_code", "category_zh", "category_en", "village_code",
                "village_name", "address", "reported_at", "closed_at", "time_taken_h",
                "what_was_done", "satisfaction", "supporters", "reporter_name",
                "reporter_phone", "photos"}
PUBLIC = "c.status IN ('closed', 'evaluated') AND c.closed_at >= (town_today() - 90)::timestamp AT TIME ZONE 'Asia/Shanghai'"


def _query(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def ogc_url(pg_server, demo_db_url):
    """A copy of the demo in which the board's cases have reporters (names, phones, a closing
    note quoting the phone) and a description naming the reporter, and one service grid was
    redrawn (its old row closed, a smaller outline valid from then, version + 1).
    Returns (url, the redrawn grid's code, its old row's version and valid_from)."""
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()
    name = f"gridgov_test_ogc_{os.getpid()}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute(f"""
            UPDATE cases c SET reporter_name = '欧阳' || chr(CAST(19968 + c.id % 500 AS int)) || '娜',
                   reporter_phone = '139' || lpad((c.id * 7919 % 100000000)::text, 8, '0'),
                   description = '住在门牌' || c.id || '号的欧阳' || chr(CAST(19968 + c.id % 500 AS int))
                                 || '娜反映：' || c.description
             WHERE {PUBLIC}""")
        conn.execute(f"""
            INSERT INTO case_events
                   (case_id, town_code, at, type, from_status, to_status, actor, data)
            SELECT c.id, c.town_code, c.closed_at, 'transition', 'fed_back', 'closed', 'test',
                   jsonb_build_object('note', '已回访，联系电话 ' || c.reporter_phone)
              FROM cases c WHERE {PUBLIC} AND c.id % 3 = 0""")
        ((code, version, valid_from),) = conn.execute("""
            SELECT code, version, valid_from FROM grids
             WHERE level = 'service' AND valid_to IS NULL ORDER BY code LIMIT 1""").fetchall()
        conn.execute("UPDATE grids SET valid_to = now() WHERE code = %s AND valid_to IS NULL",
                     (code,))
        conn.execute("""
            INSERT INTO grids (code, name, level, parent_code, zone_code, town_code, geom,
                               version, valid_from)
            SELECT code, name, level, parent_code, zone_code, town_code,
                   ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Buffer(geom, -0.0003)), 3)),
                   version + 1, now()
              FROM grids WHERE code = %s AND version = %s""", (code, version))
    yield url, code, version, valid_from
    engine_for(url).dispose()
    stop_hubs()
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def client(ogc_url):
    intake.clear_caches()
    return create_app({"DATABASE_URL": ogc_url[0]}).test_client()


def _get(client, path: str, **params):
    response = client.get(path, query_string=params)
    assert response.status_code == 200, (path, params, response.get_json())
    return response


def _walk(client, path: str, **params) -> tuple[list[dict], list[dict]]:
    """Every feature of a collection's items, following ``next`` links from the first page;
    and each page (without its features)."""
    features, pages = [], []
    response = _get(client, path, **params)
    while True:
        page = response.get_json()
        assert page["numberReturned"] == len(page["features"])
        features += page["features"]
        pages.append({k: v for k, v in page.items() if k != "features"})
        following = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not following:
            return features, pages
        parts = urlsplit(following[0])
        assert parts.netloc == "localhost"  # absolute, on this server
        response = client.get(parts.path, query_string=parts.query)
        assert response.status_code == 200, following[0]


# -- the documents -------------------------------------------------------------------------------


def test_landing_page_links_to_the_definition_conformance_and_collections(client):
    response = _get(client, "/ogc/")
    assert response.mimetype == "application/json"
    page = response.get_json()
    rels = {link["rel"]: link for link in page["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    for link in page["links"]:
        target = client.get(urlsplit(link["href"]).path, headers={"Accept": link["type"]})
        assert target.status_code == 200, link
        assert target.mimetype == link["type"].split(";")[0]
    assert _get(client, "/ogc").get_json() == page  # without the slash too


def test_the_other_resources_ignore_the_items_parameters_gdal_appends(client):
    plain = _get(client, "/ogc/collections/grids").get_json()
    assert _get(client, "/ogc/collections/grids", datetime="2020-01-01/..", limit="5",
                bbox="1,2,3,4", offset="0").get_json() == plain


def test_conformance_declares_core_geojson_and_oas30(client):
    conforms = _get(client, "/ogc/conformance").get_json()["conformsTo"]
    assert set(conforms) == {
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    }


def test_the_api_definition_is_valid_openapi_3_0_with_the_limit_bounds(client):
    doc = _get(client, "/ogc/api").get_json()
    assert doc["openapi"].startswith("3.0")
    validate(doc)
    items = doc["paths"]["/collections/{collectionId}/items"]["get"]
    limit = next(p for p in items["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == LIMIT_MAX
    assert set(doc["paths"]) == {"/", "/conformance", "/api", "/collections",
                                 "/collections/{collectionId}",
                                 "/collections/{collectionId}/items",
                                 "/collections/{collectionId}/items/{featureId}"}


def test_collections_list_grids_zones_and_public_cases_with_their_extents(client, ogc_url):
    listed = _get(client, "/ogc/collections").get_json()["collections"]
    assert [c["id"] for c in listed] == ["grids", "zones", "public_cases"]
    ((x0, y0, x1, y1),) = _query(ogc_url[0], "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), "
                                             "ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM "
                                             "grids WHERE valid_to IS NULL) x")
    for found in listed:
        assert found["itemType"] == "feature"
        assert found["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
        (bbox,) = found["extent"]["spatial"]["bbox"]
        assert bbox[0] <= x0 + 1e-9 and bbox[1] <= y0 + 1e-9
        assert bbox[2] >= x1 - 1e-9 and bbox[3] >= y1 - 1e-9
        assert {link["rel"] for link in found["links"]} >= {"self", "items"}
        one = _get(client, f"/ogc/collections/{found['id']}").get_json()
        assert one == found


# -- grids and zones -----------------------------------------------------------------------------


def test_grids_are_the_current_versions_walked_page_by_page(client, ogc_url):
    url = ogc_url[0]
    features, pages = _walk(client, "/ogc/collections/grids/items", limit=37)
    current = _query(url, "SELECT code, version, level FROM grids WHERE valid_to IS NULL")
    assert len(features) == len(current) == pages[0]["numberMatched"]
    assert {p["numberMatched"] for p in pages} == {len(current)}
    assert [p["numberReturned"] for p in pages[:-1]] == [37] * (len(pages) - 1)
    assert sorted(f["id"] for f in features) == sorted(f"{c}.v{v}" for c, v, _ in current)
    assert {f["properties"]["level"] for f in features} == {"admin", "regional", "service"}
    # a page after the first links back; the last links to nothing further
    assert any(link["rel"] == "prev" for link in pages[1]["links"])
    assert not any(link["rel"] == "next" for link in pages[-1]["links"])
    for feature in features[:5]:
        assert feature["geometry"]["type"] == "MultiPolygon"
        assert set(feature["properties"]) == {"code", "name", "level", "parent_code",
                                              "zone_code", "town_code", "version",
                                              "valid_from", "valid_to"}


def test_zones_are_the_current_zones_without_their_leader(client, ogc_url):
    features, _ = _walk(client, "/ogc/collections/zones/items", limit=LIMIT_MAX)
    current = _query(ogc_url[0], "SELECT code, version FROM zones WHERE valid_to IS NULL")
    assert sorted(f["id"] for f in features) == sorted(f"{c}.v{v}" for c, v in current)
    assert all("leader" not in f["properties"] for f in features)
    one = features[0]
    assert _get(client, f"/ogc/collections/zones/items/{one['id']}").get_json()["geometry"] \
        == one["geometry"]


def test_bbox_keeps_exactly_the_grids_that_intersect_it(client, ogc_url):
    url = ogc_url[0]
    ((x, y),) = _query(url, "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c "
                            "FROM grids WHERE valid_to IS NULL) e")
    bbox = (x - 0.01, y - 0.008, x + 0.012, y + 0.006)
    features, pages = _walk(client, "/ogc/collections/grids/items",
                            bbox=",".join(map(str, bbox)), limit=25)
    expected = _query(url, "SELECT code FROM grids WHERE valid_to IS NULL AND "
                           "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))", bbox)
    assert 0 < len(expected) < pages[0]["numberMatched"] + 1
    assert sorted(f["properties"]["code"] for f in features) == sorted(c for (c,) in expected)
    assert all(shape(f["geometry"]).intersects(box(*bbox)) for f in features)
    # the bbox is carried by the next links
    assert all("bbox" in parse_qs(urlsplit(link["href"]).query)
               for p in pages for link in p["links"] if link["rel"] == "next")


def _outline(url: str, code: str, version: int):
    ((wkb,),) = _query(url, "SELECT ST_AsBinary(geom) FROM grids WHERE code = %s AND "
                            "version = %s", (code, version))
    return shapely.from_wkb(bytes(wkb))


def _same(geometry: dict, outline) -> bool:
    """The GeoJSON geometry is the outline, to the 7 decimals served (1e-7 degrees)."""
    return shape(geometry).hausdorff_distance(outline) < 1e-6


def test_datetime_before_a_change_answers_the_old_outline(client, ogc_url):
    url, code, version, valid_from = ogc_url
    old, new = _outline(url, code, version), _outline(url, code, version + 1)
    assert not _same(shapely.geometry.mapping(old), new)
    instant = valid_from.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

    now = {f["properties"]["code"]: f for f in
           _walk(client, "/ogc/collections/grids/items", limit=LIMIT_MAX)[0]}
    assert now[code]["id"] == f"{code}.v{version + 1}" and _same(now[code]["geometry"], new)

    then, pages = _walk(client, "/ogc/collections/grids/items", limit=LIMIT_MAX, datetime=instant)
    by_code = {f["properties"]["code"]: f for f in then}
    assert len(by_code) == len(then) == pages[0]["numberMatched"]  # one version per grid
    assert by_code[code]["id"] == f"{code}.v{version}"
    assert by_code[code]["properties"]["valid_to"] is not None
    assert _same(by_code[code]["geometry"], old)

    # an interval from then on meets both versions; the old one stays reachable by its id
    both, _ = _walk(client, "/ogc/collections/grids/items", limit=LIMIT_MAX,
                    datetime=f"{instant}/..")
    assert {f["id"] for f in both if f["properties"]["code"] == code} == {
        f"{code}.v{version}", f"{code}.v{version + 1}"}
    one = _get(client, f"/ogc/collections/grids/items/{code}.v{version}").get_json()
    assert _same(one["geometry"], old)
    assert {link["rel"] for link in one["links"]} == {"self", "collection"}


# -- public_cases --------------------------------------------------------------------------------


def _board(client) -> dict[int, dict]:
    """Every record of the public board's API, by case id."""
    records, page = {}, 1
    while True:
        answer = _get(client, "/api/v1/public/cases", page=page)
        assert_documented("GET", "/api/v1/public/cases", answer)  # each location {lon, lat}
        body = answer.get_json()
        records.update({r["id"]: r for r in body["items"]})
        if page >= body["pages"]:
            return records
        page += 1


def _flat(record: dict) -> dict:
    """A board record as the OGC feature's properties should be."""
    village, reporter = record["village"] or {}, record["reporter"] or {}
    return {
        "id": record["id"], "category_code": record["category"]["code"],
        "category_zh": record["category"]["name_zh"], "category_en": record["category"]["name_en"],
        "village_code": village.get("code"), "village_name": village.get("name"),
        "address": record["address"], "reported_at": record["reported_at"],
        "closed_at": record["closed_at"], "time_taken_h": record["time_taken_h"],
        "what_was_done": record["what_was_done"], "satisfaction": record["satisfaction"],
        "supporters": record["supporters"], "reporter_name": reporter.get("name"),
        "reporter_phone": reporter.get("phone"), "photos": record["photos"],
    }


def test_public_cases_are_the_board_records_and_nothing_more(client, ogc_url):
    board = _board(client)
    features, pages = _walk(client, "/ogc/collections/public_cases/items", limit=50)
    assert len(board) > 100 and pages[0]["numberMatched"] == len(board) == len(features)
    for feature in features:
        record = board[feature["id"]]
        assert feature["properties"] == _flat(record)
        assert set(feature["properties"]) == BOARD_FIELDS and not PRIVATE & set(feature)
        location = record["location"]
        assert feature["geometry"] == {"type": "Point",
                                       "coordinates": [location["lon"], location["lat"]]}
    # nothing personal anywhere in the raw bodies: the stored names, phones and descriptions
    raw = json.dumps(features, ensure_ascii=False)
    private = _query(ogc_url[0], f"SELECT reporter_name, reporter_phone, description "
                                 f"FROM cases c WHERE {PUBLIC}")
    assert private
    for name, phone, description in private:
        assert name not in raw and phone not in raw and description not in raw
    assert re.search(r"\b139\*{4}\d{4}\b", raw) and "欧*" in raw
    assert any("****" in (f["properties"]["what_was_done"] or "") for f in features)


def test_public_cases_bbox_filters_the_published_position(client, ogc_url):
    url = ogc_url[0]
    board = _board(client)
    # a box with an edge between a case's true position and its published one
    lon, lat, true_lon, case_id = _query(url, f"""
        SELECT round(c.lon / 0.0005) * 0.0005, round(c.lat / 0.0005) * 0.0005, c.lon, c.id
          FROM cases c WHERE {PUBLIC} AND abs(c.lon - round(c.lon / 0.0005) * 0.0005) > 0.0001
         ORDER BY c.id LIMIT 1""")[0]
    edge = (float(lon) + true_lon) / 2
    box_ = (edge, float(lat) - 0.01, edge + 0.02, float(lat) + 0.01) if true_lon > float(lon) \
        else (edge - 0.02, float(lat) - 0.01, edge, float(lat) + 0.01)
    features, pages = _walk(client, "/ogc/collections/public_cases/items",
                            bbox=",".join(map(repr, box_)), limit=LIMIT_MAX)
    inside = {i for i, r in board.items() if r["location"]
              and box_[0] <= r["location"]["lon"] <= box_[2]
              and box_[1] <= r["location"]["lat"] <= box_[3]}
    assert inside and {f["id"] for f in features} == inside
    assert pages[0]["numberMatched"] == len(inside)
    assert case_id not in inside  # its true position is inside; its published one is not


def test_public_cases_datetime_keeps_the_cases_open_at_some_moment_of_it(client, ogc_url):
    board = _board(client)
    closed = sorted(r["closed_at"] for r in board.values())
    middle = closed[len(closed) // 2]
    features, pages = _walk(client, "/ogc/collections/public_cases/items", limit=LIMIT_MAX,
                            datetime=f"{middle}/..")
    assert {f["id"] for f in features} == {i for i, r in board.items()
                                           if r["closed_at"] >= middle}
    features, _ = _walk(client, "/ogc/collections/public_cases/items", limit=LIMIT_MAX,
                        datetime=middle)
    assert {f["id"] for f in features} == {
        i for i, r in board.items() if r["reported_at"] <= middle <= r["closed_at"]}


def test_a_case_the_board_does_not_show_is_not_found(client, ogc_url):
    ((open_id,),) = _query(ogc_url[0], "SELECT min(id) FROM cases WHERE status NOT IN "
                                       "('closed', 'evaluated')")
    response = client.get(f"/ogc/collections/public_cases/items/{open_id}")
    assert response.status_code == 404
    assert response.get_json()["code"] == "feature_not_found"
    shown = next(iter(_board(client)))
    feature = _get(client, f"/ogc/collections/public_cases/items/{shown}").get_json()
    assert feature["id"] == shown and set(feature["properties"]) == BOARD_FIELDS


# -- paging and bad input ------------------------------------------------------------------------


def test_a_limit_above_the_maximum_is_taken_as_the_maximum(client):
    page = _get(client, "/ogc/collections/public_cases/items", limit=10**30).get_json()
    assert page["numberReturned"] == min(LIMIT_MAX, page["numberMatched"])
    (self_link,) = [link for link in page["links"] if link["rel"] == "self"]
    assert parse_qs(urlsplit(self_link["href"]).query)["limit"] == [str(LIMIT_MAX)]


def test_a_page_past_the_end_is_empty_and_still_counts(client):
    page = _get(client, "/ogc/collections/zones/items", offset=100000).get_json()
    assert page["features"] == [] and page["numberReturned"] == 0 and page["numberMatched"] > 0


ITEMS = "/ogc/collections/grids/items"


@pytest.mark.parametrize(("path", "params", "headers", "status", "code"), [
    (ITEMS, {"bbox": "112.8,35.6,112.9"}, {}, 400, "invalid_bbox"),
    (ITEMS, {"bbox": "a,b,c,d"}, {}, 400, "invalid_bbox"),
    (ITEMS, {"bbox": "112.8,35.7,112.9,35.6"}, {}, 400, "invalid_bbox"),
    (ITEMS, {"bbox": "35.6,112.8,35.7,112.9"}, {}, 400, "invalid_bbox"),
    (ITEMS, {"bbox": "112.8,35.6,nan,35.7"}, {}, 400, "invalid_bbox"),
    (ITEMS, {"bbox": "112.8,35.6,0,112.9,35.7,100"}, {}, 400, "bbox_3d_not_supported"),
    (ITEMS, {"datetime": "yesterday"}, {}, 400, "invalid_datetime"),
    (ITEMS, {"datetime": "2024-05-01T10:00:00"}, {}, 400, "invalid_datetime"),
    (ITEMS, {"datetime": "2024-02-30T10:00:00Z"}, {}, 400, "invalid_datetime"),
    (ITEMS, {"datetime": "2024-06-01T00:00:00Z/2024-05-01T00:00:00Z"}, {}, 400,
     "invalid_datetime"),
    (ITEMS, {"datetime": "2024-05-01/2024-06-01/2024-07-01"}, {}, 400, "invalid_datetime"),
    (ITEMS, {"datetime": ".."}, {}, 400, "invalid_datetime"),
    (ITEMS, {"limit": "0"}, {}, 400, "invalid_limit"),
    (ITEMS, {"limit": "-5"}, {}, 400, "invalid_limit"),
    (ITEMS, {"limit": "ten"}, {}, 400, "invalid_limit"),
    (ITEMS, {"offset": "-1"}, {}, 400, "invalid_offset"),
    (ITEMS, {"offset": "99999999999"}, {}, 400, "invalid_offset"),
    (ITEMS, {"level": "admin"}, {}, 400, "unknown_parameter"),
    (ITEMS, {"limit": ["5", "6"]}, {}, 400, "repeated_parameter"),
    (ITEMS, {"f": "html"}, {}, 400, "unsupported_format"),
    (ITEMS, {}, {"Accept": "text/html"}, 406, "not_acceptable"),
    ("/ogc/", {"level": "admin"}, {}, 400, "unknown_parameter"),
    ("/ogc/collections/grids", {"f": "xml"}, {}, 400, "unsupported_format"),
    ("/ogc/collections/cases", {}, {}, 404, "collection_not_found"),
    ("/ogc/collections/cases/items", {}, {}, 404, "collection_not_found"),
    ("/ogc/collections/cases/items/1", {}, {}, 404, "collection_not_found"),
    ("/ogc/collections/grids/items/140525100", {}, {}, 404, "feature_not_found"),
    ("/ogc/collections/grids/items/x.v1", {}, {}, 404, "feature_not_found"),
    ("/ogc/collections/zones/items/nope.v99", {}, {}, 404, "feature_not_found"),
    ("/ogc/collections/public_cases/items/abc", {}, {}, 404, "feature_not_found"),
    ("/ogc/collections/public_cases/items/999999999", {}, {}, 404, "feature_not_found"),
])
def test_bad_input_is_answered_with_its_own_ogc_exception(client, path, params, headers,
                                                          status, code):
    response = client.get(path, query_string=params, headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"code", "description"} and body["code"] == code
    assert body["description"]


def test_f_json_wins_over_an_accept_header_without_json(client):
    response = client.get(ITEMS, query_string={"f": "json"}, headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.mimetype == "application/geo+json"


# -- GDAL ----------------------------------------------------------------------------------------


def test_gdal_oapif_reads_grids_and_public_cases(client, ogc_url, gridgov_server):
    # `gridgov serve`, a process of its own: GDAL holds this process's GIL while it waits for
    # an answer, so a server in a thread of the test process (app_server) would never answer
    url = ogc_url[0]
    server = gridgov_server(url)
    source = f"OAPIF:{server.base}/ogc/"
    layers = {name for name, _ in pyogrio.list_layers(source)}
    assert layers == {"grids", "zones", "public_cases"}

    grids = pyogrio.read_dataframe(source, layer="grids")
    current = _query(url, "SELECT code FROM grids WHERE valid_to IS NULL")
    assert sorted(grids["code"]) == sorted(c for (c,) in current)
    assert grids.crs.to_epsg() == 4326
    assert set(grids.geom_type) == {"MultiPolygon"}

    # pages of 100 (GDAL would ask for our maximum, 1000, and get them in one): it follows
    # the next links to the end
    cases = pyogrio.read_dataframe(source, layer="public_cases", PAGE_SIZE=100)
    board = _board(client)
    assert len(board) > 100 and sorted(cases["id"]) == sorted(board)
    assert not PRIVATE & set(cases.columns)
    assert cases["reporter_name"].dropna().str.fullmatch(r".\*").all()
    assert set(cases.geom_type.dropna()) == {"Point"}

    # the query of an OAPIF: URL goes with every request GDAL makes: the grids as they were
    code, version, valid_from = ogc_url[1:]
    instant = valid_from.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    then = pyogrio.read_dataframe(f"OAPIF:{server.base}/ogc/collections/grids?datetime={instant}")
    assert sorted(then["code"]) == sorted(grids["code"])
    assert then.set_index("code").loc[code, "version"] == version
    assert grids.set_index("code").loc[code, "version"] == version + 1
