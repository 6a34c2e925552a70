"""The impact of a draft on the demo equals an independent count (geopandas, not the SQL under
test) of what lies where."""

from __future__ import annotations

import geopandas as gpd
import jsonschema
import pandas as pd
import pytest
import shapely
from shapely.geometry import mapping

from db.session import session_scope
from tests.boundary_data import query
from web.api.drafts import IMPACT

# a band along the shared edge moves from one grid to the other: this wide (degrees, about
# 80 m) at first, widened until it holds a few households
BAND_DEG = 0.0008


def _neighbours(url) -> tuple[str, str, str]:
    """Two leaf grids of one demo village with households (the demo registers households in
    some villages) sharing the longest edge, and the village."""
    row = query(url, """
        SELECT a.code, b.code, a.parent_code
          FROM grids a JOIN grids b ON a.parent_code = b.parent_code AND a.code < b.code
         WHERE a.valid_to IS NULL AND b.valid_to IS NULL AND a.level <> 'admin'
           AND b.level <> 'admin' AND ST_Touches(a.geom, b.geom)
           AND EXISTS (SELECT 1 FROM households h WHERE h.grid_code = a.code)
           AND EXISTS (SELECT 1 FROM households h WHERE h.grid_code = b.code)
         ORDER BY ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) DESC
         LIMIT 1""")
    return row[0]


def _geometries(url, codes) -> dict[str, shapely.Geometry]:
    rows = query(url, "SELECT code, ST_AsBinary(geom) FROM grids WHERE valid_to IS NULL "
                      "AND code = ANY(%s)", (list(codes),))
    return {c: shapely.from_wkb(bytes(w)) for c, w in rows}


def test_impact_equals_an_independent_count(demo_copy_url):
    from planning.drafts import create_draft, get_draft, put_grid
    from planning.impact import draft_impact

    url = demo_copy_url
    a, b, village = _neighbours(url)
    old = _geometries(url, [a, b])
    width = BAND_DEG
    while True:
        band = old[b].intersection(old[a].boundary.buffer(width))
        held = query(url, "SELECT count(*) FROM households h JOIN addresses ad ON "
                          "ad.id = h.address_id WHERE ST_Intersects(ad.geom, "
                          "ST_GeomFromText(%s, 4326))", (band.wkt,))[0][0]
        if held >= 3 or width > 0.01:
            break
        width *= 2
    new_a = shapely.make_valid(shapely.union(old[a], band))
    new_b = shapely.make_valid(shapely.difference(old[b], band))
    with session_scope(url) as session:
        draft = create_draft(session, "planner", village[:12])["id"]
        put_grid(session, draft, a, 1, {"geometry": mapping(new_a)}, "planner")
        put_grid(session, draft, b, 2, {"geometry": mapping(new_b)}, "planner")
        impact = draft_impact(session, draft)
        features = get_draft(session, draft)["features"]
    jsonschema.validate(impact, IMPACT)  # the answer as the API documents it
    # the oracle: every household, open case and enterprise of the town located by geopandas
    # in the draft's leaf grids and the town's other current leaf grids
    leaves = gpd.GeoDataFrame(
        [{"code": f["id"], "geometry": shapely.geometry.shape(f["geometry"])}
         for f in features if f["properties"]["level"] != "admin"], crs="EPSG:4326")
    drafted = set(leaves.code)
    others = query(url, "SELECT code, ST_AsBinary(geom) FROM grids WHERE valid_to IS NULL "
                        "AND level <> 'admin'")
    leaves = pd.concat([leaves, gpd.GeoDataFrame(
        [{"code": c, "geometry": shapely.from_wkb(bytes(w))} for c, w in others
         if c not in drafted], crs="EPSG:4326")], ignore_index=True)

    def moved(sql) -> pd.DataFrame:
        rows = query(url, sql)
        points = gpd.GeoDataFrame([{"id": r[0], "old": r[1], "weight": r[2]} for r in rows],
                                  geometry=[shapely.from_wkb(bytes(r[3])) for r in rows],
                                  crs="EPSG:4326")
        joined = gpd.sjoin(points, leaves, how="left", predicate="intersects")
        joined = joined.sort_values("code").drop_duplicates("id")
        return joined[joined.old != joined.code]

    households = moved("SELECT h.id, h.grid_code, h.residents, ST_AsBinary(a.geom) "
                       "FROM households h JOIN addresses a ON a.id = h.address_id")
    cases = moved("SELECT id, grid_code, 1, ST_AsBinary(geom) FROM cases "
                  "WHERE status NOT IN ('closed', 'evaluated', 'voided') AND geom IS NOT NULL")
    enterprises = moved("SELECT id, grid_code, 1, ST_AsBinary(geom) FROM enterprises")
    assert len(households) > 0, "the band should move some households"
    by_code = {g["code"]: g for g in impact["grids"]}
    for code in (a, b):
        got = by_code[code]
        assert got["in"]["households"] == int((households.code == code).sum())
        assert got["out"]["households"] == int((households.old == code).sum())
        assert got["in"]["residents"] == int(households[households.code == code].weight.sum())
        assert got["in"]["open_cases"] == int((cases.code == code).sum())
        assert got["out"]["open_cases"] == int((cases.old == code).sum())
        assert got["in"]["enterprises"] == int((enterprises.code == code).sum())
    # before and after, by an independent count of the stored grid codes
    hh = dict(query(url, "SELECT grid_code, count(*) FROM households GROUP BY grid_code"))
    for code in (a, b):
        g = by_code[code]
        assert g["households_before"] == hh.get(code, 0)
        assert g["households_after"] == hh.get(code, 0) + g["in"]["households"] \
            - g["out"]["households"]
    assert {c["id"] for c in impact["cases_moving"]} == set(cases.id)
    assert impact["totals_moving"]["households"] == len(households)
    # the grid that gains: households per worker go up by what it gains per worker
    gained = by_code[a]
    if gained["workers_after"]:
        assert gained["households_per_worker_after"] == pytest.approx(
            gained["households_after"] / gained["workers_after"], abs=0.05)
