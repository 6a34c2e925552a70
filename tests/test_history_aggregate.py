"""History across boundary changes: the grid numbers (``GET /api/v1/grids/stats``,
``/grids/{code}``) and the hot spots' per-grid tally count each case in the grid it was
routed to (``aggregate=routed``, the default), or, with ``aggregate=current``, in today's grid
that holds its point; totals agree, and both are checked against an independent count
(pandas over the stored codes, a geopandas spatial join over today's grids)."""

from __future__ import annotations

import itertools
import os
from datetime import timedelta

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
import shapely

from cases.models import CLOSED_STATES
from cases.stats import local_now, unplaced
from db.session import conninfo, engine_for
from tests.accounts_support import operator_client
from tests.openapi_support import assert_documented

_copies = itertools.count()
SINCE = "2020-01-01"
# the land of grid A within this distance (degrees, about 150 m) of its neighbour B goes to B
MOVED_DEG = 0.0015


def _query(url, sql, params=()):
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(sql, params).fetchall()


def _neighbours_with_cases_near_the_edge(url) -> tuple[str, str]:
    """Two leaf grids of one village sharing an edge, A having the most closed cases near B."""
    ((a, b),) = _query(url, """
        SELECT a.code, b.code
          FROM grids a JOIN grids b ON a.parent_code = b.parent_code AND a.code <> b.code
         WHERE a.valid_to IS NULL AND b.valid_to IS NULL
           AND a.level IN ('regional', 'service') AND b.level IN ('regional', 'service')
           AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) > 0.001
         ORDER BY (SELECT count(*) FROM cases c
                    WHERE c.grid_code = a.code AND c.status IN ('closed', 'evaluated')
                      AND ST_DWithin(c.geom, b.geom, %s)) DESC, a.code, b.code
         LIMIT 1""", (MOVED_DEG,))
    return a, b


def _move_land(url, a: str, b: str) -> None:
    """A new version of A and of B, as an import would write them (the old rows closed at
    now(), the new ones valid from now(), version + 1): A's land near B goes to B."""
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute("""
            CREATE TEMP TABLE moved AS
            SELECT ST_Intersection(a.geom, ST_Buffer(b.geom, %(d)s)) AS piece
              FROM grids a, grids b
             WHERE a.code = %(a)s AND b.code = %(b)s AND a.valid_to IS NULL
               AND b.valid_to IS NULL""", {"a": a, "b": b, "d": MOVED_DEG})
        conn.execute("""
            CREATE TEMP TABLE redrawn AS
            SELECT g.code, g.name, g.level, g.parent_code, g.zone_code, g.town_code,
                   g.version + 1 AS version,
                   ST_Multi(ST_CollectionExtract(ST_MakeValid(CASE WHEN g.code = %(a)s
                       THEN ST_Difference(g.geom, m.piece) ELSE ST_Union(g.geom, m.piece) END),
                       3)) AS geom
              FROM grids g, moved m
             WHERE g.code IN (%(a)s, %(b)s) AND g.valid_to IS NULL""", {"a": a, "b": b})
        conn.execute("UPDATE grids SET valid_to = now() "
                     "WHERE code IN (%s, %s) AND valid_to IS NULL", (a, b))
        conn.execute("""
            INSERT INTO grids (code, name, level, parent_code, zone_code, town_code, geom,
                               version, valid_from)
            SELECT code, name, level, parent_code, zone_code, town_code, geom, version, now()
              FROM redrawn""")


@pytest.fixture(scope="module")
def changed(pg_server, demo_db_url):
    """A copy of the demo in which the land of one leaf grid near its neighbour went to the
    neighbour (a new boundary version of both); of three closed cases elsewhere, one lost its
    point, one was matched only to its village and one only to the town (the demo's cases are
    all points): returns (url, A, B, the closed cases routed to A that now lie in B)."""
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()
    name = f"gridgov_test_history_{os.getpid()}_{next(_copies)}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    a, b = _neighbours_with_cases_near_the_edge(url)
    _move_land(url, a, b)
    moved = [r[0] for r in _query(url, """
        SELECT c.id FROM cases c JOIN grids g ON g.code = %s AND g.valid_to IS NULL
         WHERE c.grid_code = %s AND c.status IN ('closed', 'evaluated')
           AND ST_Covers(g.geom, c.geom) ORDER BY c.id""", (b, a))]
    with psycopg.connect(conninfo(url)) as conn:
        three = [r[0] for r in conn.execute(
            "SELECT id FROM cases WHERE status = 'closed' AND grid_code NOT IN (%s, %s) "
            "AND grid_code <> admin_code ORDER BY id LIMIT 3", (a, b))]
        conn.execute("UPDATE cases SET geom = NULL WHERE id = %s", (three[0],))
        conn.execute("UPDATE cases SET geocode_precision = 'village' WHERE id = %s", (three[1],))
        conn.execute("UPDATE cases SET geocode_precision = 'town' WHERE id = %s", (three[2],))
    yield url, a, b, moved
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def client(changed):
    return operator_client({"DATABASE_URL": changed[0]})


def _frames(url) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Every case (id, status, grid_code, admin_code, precision, point) and today's grids."""
    cases = pd.DataFrame(_query(url, "SELECT id, status, grid_code, admin_code, "
                                     "geocode_precision, ST_AsBinary(geom) FROM cases "
                                     "ORDER BY id"),
                         columns=["id", "status", "grid_code", "admin_code", "precision", "wkb"])
    cases["geometry"] = [shapely.from_wkb(bytes(w)) if w is not None else None
                         for w in cases.pop("wkb")]
    grids = gpd.GeoDataFrame(
        [(c, lvl, p, shapely.from_wkb(bytes(w))) for c, lvl, p, w in _query(
            url, "SELECT code, level, parent_code, ST_AsBinary(geom) FROM grids "
                 "WHERE valid_to IS NULL")],
        columns=["code", "level", "parent_code", "geometry"], crs=4326)
    return cases, grids


def _current_placement(cases: pd.DataFrame, grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """Each case's grid and village today, by a geopandas spatial join of its point: the leaf
    grid covering it (the smallest code on a shared edge), else the village grid; only the
    village grid for a case matched only to its village; none without a point or for a case
    matched only to the town."""
    points = gpd.GeoDataFrame(cases[["id", "precision"]], geometry=list(cases["geometry"]),
                              crs=4326)
    points = points[~points.geometry.isna() & (points.precision != "town")]
    joined = gpd.sjoin(points, grids, predicate="covered_by")
    leaf = (joined[(joined.level != "admin") & (joined.precision != "village")]
            .sort_values("code").groupby("id")[["code", "parent_code"]].first())
    admin = joined[joined.level == "admin"].sort_values("code").groupby("id")["code"].first()
    out = cases[["id", "status"]].set_index("id")
    out["grid_code"] = leaf["code"].reindex(out.index).fillna(admin.reindex(out.index))
    out["admin_code"] = leaf["parent_code"].reindex(out.index).fillna(admin.reindex(out.index))
    return out.reset_index()


def _tally(placed: pd.DataFrame, grids: gpd.GeoDataFrame) -> dict[str, dict[str, int]]:
    """Cases and open cases per current grid: a leaf grid its own, a village every case whose
    grid or village it is (as cases/stats.py grid_numbers counts them)."""
    open_ = ~placed.status.isin(CLOSED_STATES)
    out = {}
    for code in grids.code:
        mine = (placed.grid_code == code) | (placed.admin_code == code)
        out[code] = {"cases": int(mine.sum()), "open": int((mine & open_).sum())}
    return out


def _window():
    until = (local_now() + timedelta(days=2)).date().isoformat()
    return f"since={SINCE}&until={until}"


def test_the_change_moved_closed_cases_into_the_neighbour(changed):
    url, a, b, moved = changed
    assert len(moved) >= 3
    # the stored grid of a closed case is kept: it still names A
    assert {r[0] for r in _query(url, "SELECT grid_code FROM cases WHERE id = ANY(%s)",
                                 (moved,))} == {a}
    assert _query(url, "SELECT count(*) FROM grids WHERE code IN (%s, %s)", (a, b)) == [(4,)]


def test_grid_numbers_count_routed_cases_in_the_old_grid_and_current_ones_in_the_new(
        changed, client):
    url, a, b, moved = changed
    cases, grids = _frames(url)
    routed = client.get(f"/api/v1/grids/stats?{_window()}")
    current = client.get(f"/api/v1/grids/stats?{_window()}&aggregate=current")
    assert routed.status_code == 200 and current.status_code == 200, routed.text
    for answer in (routed, current):
        assert_documented("GET", "/api/v1/grids/stats", answer)  # none and retired too
    routed, current = routed.get_json(), current.get_json()
    assert (routed["aggregate"], current["aggregate"]) == ("routed", "current")
    assert routed == client.get(f"/api/v1/grids/stats?{_window()}&aggregate=routed").get_json() \
        | {"as_of": routed["as_of"]}

    # routed: each case where it was routed (the stored codes), by pandas
    expected_routed = _tally(cases, grids)
    assert {c: {"cases": n["cases"], "open": n["open"]}
            for c, n in routed["grids"].items()} == expected_routed
    # current: each case where its point lies today, by a geopandas spatial join
    placed = _current_placement(cases, grids)
    expected_current = _tally(placed, grids)
    assert {c: {"cases": n["cases"], "open": n["open"]}
            for c, n in current["grids"].items()} == expected_current

    # the moved closed cases count in A when routed, in B today
    assert routed["grids"][a]["cases"] - current["grids"][a]["cases"] >= len(moved)
    assert current["grids"][b]["cases"] - routed["grids"][b]["cases"] >= len(moved)
    assert set(placed.set_index("id").loc[moved, "grid_code"]) == {b}

    # nothing is lost: the villages and "none" hold every case, either way
    total = len(cases)
    villages = grids.code[grids.level == "admin"]
    for body in (routed, current):
        assert sum(body["grids"][v]["cases"] for v in villages) + body["none"]["cases"] == total
        assert body["retired"] == {}
    assert routed["none"] == {"open": 0, "overdue": 0, "cases": 0}
    # the case without a point and the one matched only to the town
    assert current["none"]["cases"] == int(placed.grid_code.isna().sum()) == 2


def test_one_grid_s_numbers_follow_the_aggregate(changed, client):
    url, a, b, moved = changed
    cases, grids = _frames(url)
    expected = {"routed": _tally(cases, grids)[a],
                "current": _tally(_current_placement(cases, grids), grids)[a]}
    for aggregate, counts in expected.items():
        res = client.get(f"/api/v1/grids/{a}?{_window()}&aggregate={aggregate}")
        assert res.status_code == 200, res.text
        props = res.get_json()["properties"]
        assert props["aggregate"] == aggregate
        assert {k: props["numbers"][k] for k in ("cases", "open")} == counts
    assert expected["routed"]["cases"] > expected["current"]["cases"]


def test_hot_spots_tally_cases_by_routed_and_by_current_grid(changed, client):
    url, a, b, moved = changed
    cases, grids = _frames(url)
    with_point = cases[cases.geometry.notna()]
    plain = client.get("/api/v1/hotspots?cell_size=500").get_json()
    bodies = {agg: client.get(f"/api/v1/hotspots?cell_size=500&aggregate={agg}").get_json()
              for agg in ("routed", "current")}
    assert plain["properties"]["aggregate"] is None and "grids" not in plain["properties"]
    placed = _current_placement(cases, grids).set_index("id").loc[with_point.id]
    expected = {"routed": with_point.grid_code.value_counts().to_dict(),
                "current": placed.grid_code.value_counts().to_dict()}
    hot_cases = sum(f["properties"]["count"] for f in plain["features"]
                    if f["properties"]["class"].startswith("hot"))
    for agg, body in bodies.items():
        props = body["properties"]
        assert props["aggregate"] == agg
        assert body["features"] == plain["features"]  # the cells are by position, either way
        assert {c: t["cases"] for c, t in props["grids"].items()} == expected[agg], agg
        assert props["cases"] == len(with_point)
        assert sum(t["cases"] for t in props["grids"].values()) + props["none"]["cases"] \
            == props["cases"]  # totals equal
        assert sum(t["hot"] for t in props["grids"].values()) + props["none"]["hot"] == hot_cases
    assert bodies["routed"]["properties"]["grids"][a]["cases"] \
        - bodies["current"]["properties"]["grids"][a]["cases"] >= len(moved)
    # of the cases with a point, the one matched only to the town is in no grid today
    assert bodies["current"]["properties"]["none"]["cases"] == 1


@pytest.mark.parametrize("path", ["/api/v1/grids/stats", "/api/v1/grids/140525108200000",
                                  "/api/v1/hotspots"])
@pytest.mark.parametrize("value", ["now", "CURRENT", ""])
def test_an_unknown_aggregate_is_422(client, path, value):
    res = client.get(f"{path}?aggregate={value}")
    assert res.status_code == 422, res.text
    body = res.get_json()
    assert body["error"] == "invalid_query"
    assert any(d.get("field") == "aggregate" for d in body["details"]), body


@pytest.mark.parametrize(("query", "field"), [
    ("until=0001-01-01", "until"),  # 30 days before it: a 500 make fuzz found
    ("since=9999-12-31", "since"),  # the day after it
    ("since=1899-12-31", "since"),
    ("until=3000-01-02", "until"),
])
@pytest.mark.parametrize("path", ["/api/v1/grids/stats", "/api/v1/grids/140525108200000"])
def test_a_day_outside_the_years_a_window_may_name_is_422(client, path, query, field):
    res = client.get(f"{path}?{query}")
    assert res.status_code == 422, res.text
    body = res.get_json()
    assert body["error"] == "invalid_query" and "1900-01-01" in body["message"]
    assert [d["field"] for d in body["details"]] == [field]


def test_the_years_a_window_may_name_reach_to_their_ends(client):
    for query in ("since=1900-01-01&until=1900-01-02", "since=2999-12-31&until=3000-01-01"):
        assert client.get(f"/api/v1/grids/stats?{query}").status_code == 200, query


def test_openapi_documents_the_aggregate(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/grids/stats", "/api/v1/hotspots"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert "aggregate" in params, path
        schema = str(params["aggregate"]["schema"])
        assert "routed" in schema and "current" in schema


def test_unplaced_counts_what_no_current_grid_counts():
    rows = [
        {"grid_code": "L1", "admin_code": "V1", "open": 1, "overdue": 0, "cases": 2},
        {"grid_code": "OLD", "admin_code": "V1", "open": 1, "overdue": 1, "cases": 3},
        {"grid_code": "GONE", "admin_code": "VGONE", "open": 0, "overdue": 0, "cases": 4},
        {"grid_code": None, "admin_code": None, "open": 2, "overdue": 1, "cases": 5},
    ]
    none, retired = unplaced(rows, ["L1", "V1"])
    assert none == {"open": 2, "overdue": 1, "cases": 9}
    assert retired == {"GONE": {"open": 0, "overdue": 0, "cases": 4},
                       "OLD": {"open": 1, "overdue": 1, "cases": 3}}
