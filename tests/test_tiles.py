"""Vector tiles (/tiles/{layer}/{z}/{x}/{y}.pbf) against the Bagong demo in a real PostGIS.

Tiles are decoded with mapbox-vector-tile and compared with what PostGIS itself says about
the same envelope. The tile cache is per process, so every test starts from an empty one.
"""

from __future__ import annotations

import time

from datetime import datetime, timedelta
from urllib.parse import parse_qs

import mapbox_vector_tile
import mercantile
import pytest
from sqlalchemy import text

from cases.deadlines import LOCAL_TZ
from cases.models import CLOSED_STATES
from db.session import engine_for
from tests.accounts_support import operator_client
from tests.waits import HANG_S
from tiles import cache as tile_caches
from tiles.cache import DEFAULT_MAX_BYTES, TileCache, cached_tile
from tiles.mvt import BUCKETS_PER_SIDE, POINTS_MIN_ZOOM, case_filters, points_min_zoom
from web.tiles import tile_cache

CLOSED = ", ".join(f"'{s}'" for s in CLOSED_STATES)
ENVELOPE = "ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)"
HAZARD = "(category_code = 'hazard' OR category_code LIKE 'hazard.%%')"


@pytest.fixture(scope="module")
def centre(demo_db_url) -> tuple[float, float]:
    """A point in the middle of the town (lon, lat)."""
    with engine_for(demo_db_url).connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p)"
                    " FROM (SELECT ST_PointOnSurface(geom) AS p FROM towns) t"
                )
            ).one()
        )


@pytest.fixture
def client(demo_db_url):
    return operator_client({"DATABASE_URL": demo_db_url})


def _tile(lonlat: tuple[float, float], z: int) -> tuple[int, int, int]:
    t = mercantile.tile(*lonlat, z)
    return z, t.x, t.y


def _url(layer: str, zxy: tuple[int, int, int], query: str = "") -> str:
    z, x, y = zxy
    return f"/tiles/{layer}/{z}/{x}/{y}.pbf" + (f"?{query}" if query else "")


def _features(response, layer: str) -> list[dict]:
    assert response.status_code in (200, 204), response.data
    if response.status_code == 204:
        assert response.data == b""
        return []
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.data)[layer]["features"]


def _scalars(url: str, sql: str, zxy: tuple[int, int, int], **params) -> list:
    z, x, y = zxy
    with engine_for(url).connect() as conn:
        return list(conn.execute(text(sql), {"z": z, "x": x, "y": y, **params}).scalars())


def _open_ids(url: str, zxy, where: str = f"status NOT IN ({CLOSED})", **params) -> set[int]:
    return set(
        _scalars(
            url,
            f"SELECT id FROM cases WHERE ST_Intersects(geom, {ENVELOPE}) AND {where}",
            zxy,
            **params,
        )
    )


# -- layers ------------------------------------------------------------------------------------


def test_grids_tile_at_town_centre_has_the_grids_postgis_finds(client, demo_db_url, centre):
    zxy = _tile(centre, 14)
    features = _features(client.get(_url("grids", zxy)), "grids")
    codes = {f["properties"]["code"] for f in features}
    intersecting = set(
        _scalars(
            demo_db_url,
            f"SELECT code FROM grids WHERE valid_to IS NULL AND ST_Intersects(geom, {ENVELOPE})",
            zxy,
        )
    )
    near = set(
        _scalars(
            demo_db_url,
            f"SELECT code FROM grids WHERE valid_to IS NULL AND geom && {ENVELOPE}",
            zxy,
        )
    )
    # every grid that meets the tile is there; nothing whose box misses it
    assert intersecting and intersecting <= codes <= near
    levels = {f["properties"]["level"] for f in features}
    assert "admin" in levels and levels <= {"admin", "regional", "service"}
    rows = _scalars(
        demo_db_url,
        "SELECT json_build_object('code', code, 'name', name, 'level', level,"
        " 'parent_code', parent_code, 'zone_code', zone_code) FROM grids WHERE valid_to IS NULL",
        zxy,
    )
    by_code = {r["code"]: {k: v for k, v in r.items() if v is not None} for r in rows}
    for f in features:
        assert f["properties"] == by_code[f["properties"]["code"]]
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_zones_tile_has_the_current_zones_postgis_finds(client, demo_db_url, centre):
    zxy = _tile(centre, 11)
    features = _features(client.get(_url("zones", zxy)), "zones")
    intersecting = set(
        _scalars(
            demo_db_url,
            f"SELECT code FROM zones WHERE valid_to IS NULL AND ST_Intersects(geom, {ENVELOPE})",
            zxy,
        )
    )
    assert intersecting and {f["properties"]["code"] for f in features} == intersecting
    assert all(set(f["properties"]) == {"code", "name", "kind"} for f in features)


def test_low_zoom_grids_tile_is_simplified(client, demo_db_url, centre):
    zxy = _tile(centre, 10)
    features = _features(client.get(_url("grids", zxy)), "grids")
    sent = sum(len(ring) for f in features for ring in _rings(f["geometry"]))
    # the same outlines only clipped and snapped to the tile's grid, not simplified
    unsimplified = _scalars(
        demo_db_url,
        "SELECT sum(ST_NPoints(ST_AsMVTGeom("
        " ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true))) "
        f"FROM grids WHERE valid_to IS NULL AND geom && {ENVELOPE}",
        zxy,
    )[0]
    assert features and sent < 0.8 * unsimplified


def _rings(geometry: dict) -> list:
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    return [ring for polygon in geometry["coordinates"] for ring in polygon]


def test_cases_tile_at_z14_has_exactly_the_open_cases_postgis_counts(client, demo_db_url, centre):
    zxy = _tile(centre, POINTS_MIN_ZOOM)
    features = _features(client.get(_url("cases", zxy)), "cases")
    expected = _open_ids(demo_db_url, zxy)
    assert expected and {f["properties"]["id"] for f in features} == expected
    assert all(
        f["id"] == f["properties"]["id"] and f["geometry"]["type"] == "Point" for f in features
    )
    rows = _scalars(
        demo_db_url,
        "SELECT json_build_object('id', id, 'status', status, 'category_code', category_code,"
        " 'channel', channel, 'created_at', floor(date_part('epoch', created_at))::bigint,"
        " 'due_at', floor(date_part('epoch', due_at))::bigint, "
        "'overdue', coalesce(due_at < now(), false) AND status <> 'parked', 'grid_code', grid_code) "
        f"FROM cases WHERE ST_Intersects(geom, {ENVELOPE}) AND status NOT IN ({CLOSED})",
        zxy,
    )
    by_id = {r["id"]: {k: v for k, v in r.items() if v is not None} for r in rows}
    for f in features:
        assert f["properties"] == by_id[f["properties"]["id"]]


@pytest.mark.parametrize("z", [10, 12, 13])
def test_low_zoom_cases_tile_counts_add_up_to_the_cases_in_it(client, demo_db_url, centre, z):
    zxy = _tile(centre, z)
    features = _features(client.get(_url("cases", zxy)), "cases")
    expected = _open_ids(demo_db_url, zxy)
    overdue = _open_ids(demo_db_url, zxy, f"status NOT IN ({CLOSED}) AND status <> 'parked' AND due_at < now()")
    assert sum(f["properties"]["count"] for f in features) == len(expected) > 0
    assert sum(f["properties"]["overdue"] for f in features) == len(overdue)
    assert len(features) <= BUCKETS_PER_SIDE**2
    assert all(set(f["properties"]) == {"count", "overdue"} for f in features)
    # buckets sit inside the tile (extent 4096)
    assert all(0 <= c <= 4096 for f in features for c in f["geometry"]["coordinates"])


def test_tile_without_features_answers_204_with_an_empty_body(client):
    for layer in ("cases", "grids", "zones"):
        response = client.get(f"/tiles/{layer}/5/0/0.pbf")
        assert response.status_code == 204 and response.data == b""
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["ETag"]


# -- filters -----------------------------------------------------------------------------------

_SINCE = (datetime.now(LOCAL_TZ) - timedelta(days=30)).date()
_UNTIL = (datetime.now(LOCAL_TZ) - timedelta(days=3)).date()

FILTERS = [
    ("open=0", "true", {}),
    ("status=handling,dispatched", "status IN ('handling', 'dispatched')", {}),
    ("status=closed", "status = 'closed'", {}),
    (
        "category=hazard",
        f"status NOT IN ({CLOSED}) AND {HAZARD}",
        {},
    ),
    ("category=hazard.fire&open=0", "category_code = 'hazard.fire'", {}),
    ("channel=resident,app", f"status NOT IN ({CLOSED}) AND channel IN ('resident', 'app')", {}),
    (
        f"since={_SINCE}&until={_UNTIL}&open=0",
        "created_at >= :since AND created_at < :until",
        {
            "since": datetime.combine(_SINCE, datetime.min.time(), LOCAL_TZ),
            "until": datetime.combine(_UNTIL + timedelta(days=1), datetime.min.time(), LOCAL_TZ),
        },
    ),
]


@pytest.mark.parametrize(("query", "where", "params"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_select_the_cases_postgis_selects(
    client, demo_db_url, centre, query, where, params
):
    where = where.replace("%%", "%")
    # points: the tile, at the zoom points start for this selection, of a case it selects
    z = points_min_zoom(case_filters(parse_qs(query)))
    with engine_for(demo_db_url).connect() as conn:
        lonlat = conn.execute(
            text(f"SELECT ST_X(geom), ST_Y(geom) FROM cases WHERE {where} ORDER BY id LIMIT 1"),
            params,
        ).one()
    points = _tile(tuple(lonlat), z)
    features = _features(client.get(_url("cases", points, query)), "cases")
    expected = _open_ids(demo_db_url, points, where, **params)
    assert expected and {f["properties"]["id"] for f in features} == expected
    # buckets: the counts add up to the selection
    buckets = _tile(centre, 12)
    response = client.get(_url("cases", buckets, query))
    counted = sum(f["properties"]["count"] for f in _features(response, "cases"))
    expected_count = len(_open_ids(demo_db_url, buckets, where, **params))
    assert counted == expected_count
    # the filter changed the selection: it differs from the default (open cases)
    assert expected_count != len(_open_ids(demo_db_url, buckets))


@pytest.mark.parametrize(
    ("z", "query", "where"),
    [
        (10, "open=0", "true"),
        (12, "open=0", "true"),
        (13, "status=closed,handling", "status IN ('closed', 'handling')"),
        (14, "open=0&channel=hotline", "channel = 'hotline'"),
    ],
)
def test_bucket_tiles_with_closed_cases_count_what_postgis_counts(
    client, demo_db_url, centre, z, query, where
):
    # these read the covering index on lon/lat, not geom: the same cases all the same
    zxy = _tile(centre, z)
    features = _features(client.get(_url("cases", zxy, query)), "cases")
    expected = _open_ids(demo_db_url, zxy, where)
    overdue = _open_ids(
        demo_db_url, zxy, f"{where} AND status NOT IN ({CLOSED}) AND status <> 'parked' AND due_at < now()")
    assert sum(f["properties"]["count"] for f in features) == len(expected) > 0
    assert sum(f["properties"]["overdue"] for f in features) == len(overdue)


def test_a_selection_with_closed_cases_is_bucketed_below_z17(client, centre):
    at14 = _features(client.get(_url("cases", _tile(centre, 14), "open=0")), "cases")
    at17 = _features(client.get(_url("cases", _tile(centre, 17), "open=0")), "cases")
    assert at14 and all(set(f["properties"]) == {"count", "overdue"} for f in at14)
    assert all("id" in f["properties"] for f in at17)
    assert points_min_zoom(case_filters({"status": ["handling"]})) == POINTS_MIN_ZOOM
    assert points_min_zoom(case_filters({"status": ["handling,closed"]})) == 17


BAD = [
    ("/tiles/roads/14/1/1.pbf", 404, "unknown_layer", "roads"),
    ("/tiles/cases/23/0/0.pbf", 404, "tile_out_of_range", 23),
    ("/tiles/cases/-1/0/0.pbf", 404, "tile_out_of_range", -1),
    ("/tiles/cases/3/8/0.pbf", 404, "tile_out_of_range", 8),
    ("/tiles/cases/3/0/-2.pbf", 404, "tile_out_of_range", -2),
    ("/tiles/cases/z/0/0.pbf", 422, "invalid_tile_address", "z"),
    ("/tiles/cases/3/1.5/0.pbf", 422, "invalid_tile_address", "1.5"),
    ("/tiles/cases/14/0/0.pbf?status=lost", 422, "invalid_filter", "lost"),
    ("/tiles/cases/14/0/0.pbf?status=", 422, "invalid_filter", ""),
    (
        "/tiles/cases/14/0/0.pbf?status=handling&status=filed",
        422,
        "invalid_filter",
        ["handling", "filed"],
    ),
    ("/tiles/cases/14/0/0.pbf?open=1&status=closed", 422, "invalid_filter", "closed"),
    ("/tiles/cases/14/0/0.pbf?open=yes", 422, "invalid_filter", "yes"),
    ("/tiles/cases/14/0/0.pbf?category=Hazard", 422, "invalid_filter", "Hazard"),
    ("/tiles/cases/14/0/0.pbf?category=hazard.meteor", 422, "invalid_filter", "hazard.meteor"),
    ("/tiles/cases/14/0/0.pbf?channel=fax", 422, "invalid_filter", "fax"),
    ("/tiles/cases/14/0/0.pbf?since=2026-13-01", 422, "invalid_filter", "2026-13-01"),
    ("/tiles/cases/14/0/0.pbf?until=yesterday", 422, "invalid_filter", "yesterday"),
    (
        "/tiles/cases/14/0/0.pbf?since=2026-05-02&until=2026-05-01",
        422,
        "invalid_filter",
        "2026-05-02",
    ),
    ("/tiles/cases/14/0/0.pbf?bbox=1,2,3,4", 422, "unknown_parameter", "bbox"),
    ("/tiles/grids/14/0/0.pbf?status=handling", 422, "unknown_parameter", "status"),
]


@pytest.mark.parametrize(
    ("url", "status", "code", "value"), BAD, ids=[b[0].removeprefix("/tiles/") for b in BAD]
)
def test_bad_tile_requests_answer_json_naming_the_value(client, url, status, code, value):
    response = client.get(url)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == code and body["message"]
    details = body["details"]
    assert value in (details.get("value"), details.get("layer"), details.get("parameter"))
    if code == "unknown_layer":
        assert details["valid"] == ["cases", "grids", "zones"]


def test_equal_filters_written_differently_share_a_cache_entry():
    assert case_filters({"status": ["handling,filed"]}) == case_filters(
        {"status": ["filed,handling,filed"], "open": ["1"]}
    )
    assert case_filters({}) == case_filters({"open": ["true"]})


# -- cache -------------------------------------------------------------------------------------


def test_second_request_is_a_cache_hit_with_the_same_etag(client, centre):
    url = _url("cases", _tile(centre, 14))
    first, second = client.get(url), client.get(url)
    assert (first.headers["X-Tile-Cache"], second.headers["X-Tile-Cache"]) == ("miss", "hit")
    assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]
    assert second.headers["Cache-Control"] == "no-cache"
    stats = tile_cache(client.application).stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 1, 1)
    assert stats["bytes"] >= len(first.data)
    revalidated = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert revalidated.status_code == 304 and revalidated.data == b""


def test_tile_cache_bytes_zero_turns_the_cache_off(demo_db_url, centre):
    client = operator_client({"DATABASE_URL": demo_db_url, "TILE_CACHE_BYTES": 0})
    url = _url("cases", _tile(centre, 14))
    assert [client.get(url).headers["X-Tile-Cache"] for _ in range(2)] == ["miss", "miss"]
    stats = tile_cache(client.application).stats()
    assert stats["entries"] == 0 and stats["max_bytes"] == 0


def test_each_app_keeps_the_tile_cache_size_it_was_made_with(demo_db_url, centre):
    small = operator_client({"DATABASE_URL": demo_db_url, "TILE_CACHE_BYTES": 1_000_000})
    off = operator_client({"DATABASE_URL": demo_db_url, "TILE_CACHE_BYTES": 0})
    default = operator_client({"DATABASE_URL": demo_db_url})
    assert tile_cache(small.application).stats()["max_bytes"] == 1_000_000
    assert tile_cache(off.application).stats()["max_bytes"] == 0
    assert tile_cache(default.application).stats()["max_bytes"] == DEFAULT_MAX_BYTES
    url = _url("cases", _tile(centre, 14))
    assert [small.get(url).headers["X-Tile-Cache"] for _ in range(2)] == ["miss", "hit"]
    assert [off.get(url).headers["X-Tile-Cache"] for _ in range(2)] == ["miss", "miss"]


def test_filter_variants_are_cached_apart(client, centre):
    zxy = _tile(centre, 14)
    client.get(_url("cases", zxy))
    assert client.get(_url("cases", zxy, "open=0")).headers["X-Tile-Cache"] == "miss"
    assert client.get(_url("cases", zxy, "open=0")).headers["X-Tile-Cache"] == "hit"


def test_a_new_case_drops_the_cached_tiles_around_it_through_the_live_listener(
    demo_copy_url, centre
):
    client = operator_client({"DATABASE_URL": demo_copy_url})
    lon, lat = centre[0] + 0.0003, centre[1] + 0.0002
    here16, here12, elsewhere = (
        _tile((lon, lat), 16),
        _tile((lon, lat), 12),
        _tile((lon + 0.05, lat), 16),
    )
    before = {zxy: client.get(_url("cases", zxy)) for zxy in (here16, here12, elsewhere)}
    client.get(_url("cases", here16, "open=0"))
    cache = tile_cache(client.application)
    invalidated = cache.stats()["invalidated"]
    with engine_for(demo_copy_url).begin() as conn:
        new_id = conn.execute(
            text(
                "INSERT INTO cases (town_code, category_code, description, status, channel, geom) "
                "VALUES ('140525108', 'hazard.fire', 'smoke behind the school', 'collected',"
                " 'app', "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) RETURNING id"
            ),
            {"lon": lon, "lat": lat},
        ).scalar_one()
    # the process's live listener (started with the first tile, web/live.py) hears the
    # insert's NOTIFY and calls invalidate_point: z16 in two filter variants, and z12
    deadline = time.monotonic() + HANG_S
    while cache.stats()["invalidated"] < invalidated + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.stats()["invalidated"] == invalidated + 3

    after16 = client.get(_url("cases", here16))
    assert (
        after16.headers["X-Tile-Cache"] == "miss"
        and after16.headers["ETag"] != before[here16].headers["ETag"]
    )
    assert new_id in {f["properties"]["id"] for f in _features(after16, "cases")}
    after12 = client.get(_url("cases", here12))
    assert after12.headers["X-Tile-Cache"] == "miss"
    counts = [
        sum(f["properties"]["count"] for f in _features(r, "cases"))
        for r in (before[here12], after12)
    ]
    assert counts[1] == counts[0] + 1
    still = client.get(_url("cases", elsewhere))
    assert still.headers["X-Tile-Cache"] == "hit" and still.data == before[elsewhere].data


def test_case_a_fraction_of_a_metre_outside_a_tile_is_only_in_its_neighbour(demo_copy_url, centre):
    client = operator_client({"DATABASE_URL": demo_copy_url})
    z, x, y = _tile(centre, 16)
    edge = mercantile.bounds(x, y, z)
    lat = (edge.north + edge.south) / 2
    ids = {}
    with engine_for(demo_copy_url).begin() as conn:
        for name, lon in (("inside", edge.east - 2e-6), ("outside", edge.east + 2e-6)):
            ids[name] = conn.execute(
                text(
                    "INSERT INTO cases (town_code, category_code, description, status, channel,"
                    " geom) VALUES ('140525108', 'patrol.street_light', 'lamp out', 'filed',"
                    " 'patrol', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) RETURNING id"
                ),
                {"lon": lon, "lat": lat},
            ).scalar_one()
    # 2e-6 degrees is within the float4 slack of PostGIS boxes: && alone would let it in
    here = {f["properties"]["id"] for f in _features(client.get(_url("cases", (z, x, y))), "cases")}
    east = {
        f["properties"]["id"] for f in _features(client.get(_url("cases", (z, x + 1, y))), "cases")
    }
    assert ids["inside"] in here and ids["outside"] not in here
    assert ids["outside"] in east and ids["inside"] not in east


# -- the cache on its own ----------------------------------------------------------------------


def _key(layer: str, z: int, x: int, y: int, filters=None):
    return ("db", layer, z, x, y, filters)


def test_cache_evicts_least_recently_used_tiles_beyond_its_byte_bound():
    cache = TileCache(max_bytes=3 * (cached_tile(b"x" * 1000).nbytes + 256))
    for x in range(3):
        assert cache.put(_key("cases", 16, x, 0), cached_tile(b"x" * 1000), cache.token())
    cache.get(_key("cases", 16, 0, 0))  # now the most recently used
    cache.put(_key("cases", 16, 3, 0), cached_tile(b"y" * 1000), cache.token())
    assert cache.get(_key("cases", 16, 1, 0)) is None
    assert cache.get(_key("cases", 16, 0, 0)) is not None
    assert cache.stats()["entries"] == 3 and cache.stats()["evictions"] == 1
    assert not cache.put(_key("cases", 16, 9, 0), cached_tile(b"z" * 5000), cache.token())


def test_point_on_a_tile_edge_invalidates_both_tiles():
    cache = TileCache()
    west = mercantile.bounds(10, 20, 6).west  # the edge between x=9 and x=10
    for x in (8, 9, 10, 11):
        cache.put(_key("cases", 6, x, 20), cached_tile(b"t"), cache.token())
    lat = (mercantile.bounds(10, 20, 6).north + mercantile.bounds(10, 20, 6).south) / 2
    assert cache.invalidate_point(west, lat) == 2
    assert cache.get(_key("cases", 6, 8, 20)) and cache.get(_key("cases", 6, 11, 20))


def test_an_invalidation_reaches_every_app_cache_of_the_process():
    first, second = tile_caches.app_cache(), tile_caches.app_cache(max_bytes=100_000)
    zxy = mercantile.tile(112.87, 35.63, 15)
    for cache in (first, second):
        cache.put(_key("cases", 15, zxy.x, zxy.y), cached_tile(b"t"), cache.token())
    assert tile_caches.invalidate_point(112.87, 35.63) >= 2
    assert first.get(_key("cases", 15, zxy.x, zxy.y)) is None
    assert second.get(_key("cases", 15, zxy.x, zxy.y)) is None
    assert second.stats()["max_bytes"] == 100_000


def test_render_overlapping_an_invalidation_is_not_stored():
    cache = TileCache()
    zxy = mercantile.tile(112.87, 35.63, 15)
    token = cache.token()
    cache.invalidate_point(112.87, 35.63)  # a case committed while the tile was being rendered
    assert not cache.put(_key("cases", 15, zxy.x, zxy.y), cached_tile(b"stale"), token)
    # a render elsewhere in the same moment is stored
    assert cache.put(_key("cases", 15, zxy.x + 5, zxy.y), cached_tile(b"fine"), token)


def test_invalidate_bbox_drops_polygon_tiles_it_meets_including_their_buffer():
    cache = TileCache()
    inside, neighbour, far = (14, 13328, 6454), (14, 13329, 6454), (14, 13340, 6454)
    for zxy in (inside, neighbour, far):
        cache.put(_key("grids", *zxy), cached_tile(b"g"), cache.token())
    cache.put(_key("cases", *inside), cached_tile(b"c"), cache.token())
    b = mercantile.bounds(inside[1], inside[2], 14)
    width = b.east - b.west
    # a box just east of the tile's edge, within the 64/4096 buffer of it
    assert (
        cache.invalidate_bbox(
            b.east + width * 0.005, b.south, b.east + width * 0.01, b.north, ["grids"]
        )
        == 2
    )
    assert cache.get(_key("grids", *far)) and cache.get(_key("cases", *inside))
    with pytest.raises(ValueError):
        cache.invalidate_bbox(1, 1, 0, 0, ["grids"])


def test_a_client_that_accepts_gzip_gets_the_tile_gzipped_with_its_own_etag(client, centre):
    import gzip

    url = _url("cases", _tile(centre, 14))
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data)
    assert packed.headers["ETag"] == plain.headers["ETag"][:-1] + ':gzip"'
    # each representation revalidates against its own ETag
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304
    crossed = client.get(url, headers={"If-None-Match": packed.headers["ETag"]})
    assert crossed.status_code == 200 and crossed.data == plain.data
    refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0, br"})
    assert "Content-Encoding" not in refused.headers and refused.data == plain.data
