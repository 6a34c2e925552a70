"""Proposals (planning/proposals.py): a demo village's residential land split into service grids
within the size bounds asked for, each one piece, tiling the land the old service grids held;
the figures answered equal an independent count (geopandas on the draft's GeoJSON and the
households' positions, not the SQL under test); every bad input refused by name, writing
nothing."""

from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from tests.accounts_support import bearer
from tests.boundary_data import query
from tests.waits import HANG_S
from web import create_app

TOWN = "140525108"
LOW, HIGH = 100, 200
NEAR_STREET_DEG = 15 / 111_320  # 15 m, in degrees of latitude (less than 15 m of longitude)


@pytest.fixture
def api(demo_copy_url, demo_tokens):
    def client(name="planner"):
        return bearer(create_app({"DATABASE_URL": demo_copy_url}).test_client(),
                      demo_tokens[name])
    return client


def _largest(url, communities: bool) -> str:
    """The demo village (statistical serial 200-399, 村委会) or community (001-199, 居委会)
    with the most households in its service grids."""
    return query(url, """
        SELECT g.parent_code FROM grids g JOIN households h ON h.grid_code = g.code
         WHERE g.valid_to IS NULL AND g.level = 'service'
           AND (substr(g.parent_code, 10, 3) < '200') = %s
         GROUP BY g.parent_code ORDER BY count(*) DESC, g.parent_code LIMIT 1""",
                 (communities,))[0][0][:12]


def _households(url) -> gpd.GeoDataFrame:
    rows = query(url, "SELECT h.id, a.street, a.door_number, ST_AsBinary(a.geom) "
                      "FROM households h JOIN addresses a ON a.id = h.address_id")
    return gpd.GeoDataFrame({"id": [r[0] for r in rows], "street": [r[1] for r in rows],
                             "door": [r[2] for r in rows]},
                            geometry=[shapely.from_wkb(bytes(r[3])) for r in rows],
                            crs="EPSG:4326")


def _figures(grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame) -> dict[str, dict]:
    """Households per grid (one grid per household: the smallest code covering it) and
    Polsby-Popper in a local UTM projection (the ratio does not depend on the scale)."""
    joined = gpd.sjoin(households, grids, how="inner", predicate="intersects")
    joined = joined.sort_values("code").drop_duplicates("id")
    counts = joined.groupby("code").size()
    metric = grids.to_crs(grids.estimate_utm_crs())
    return {code: {"households": int(counts.get(code, 0)),
                   "polsby_popper": 4 * np.pi * geom.area / geom.length ** 2}
            for code, geom in zip(metric.code, metric.geometry)}


def _assert_summary(summary: dict, figures: dict[str, dict]) -> None:
    counts = np.array([f["households"] for f in figures.values()])
    assert summary["grids"] == len(figures)
    assert summary["households"] == counts.sum()
    assert (summary["min"], summary["max"]) == (counts.min(), counts.max())
    assert summary["std"] == pytest.approx(counts.std(), abs=0.01)
    assert summary["mean_polsby_popper"] == pytest.approx(
        np.mean([f["polsby_popper"] for f in figures.values()]), abs=2e-3)


@pytest.mark.parametrize("communities", [False, True], ids=["village", "community"])
def test_a_proposal_for_a_demo_village_is_within_its_bounds_and_contiguous(
        demo_copy_url, api, communities):
    url = demo_copy_url
    village = _largest(url, communities)
    admin = village + "000"
    client = api()
    source = client.post("/api/v1/drafts", json={"scope": TOWN}).get_json()["id"]
    answer = client.post(f"/api/v1/drafts/{source}/proposals", json={
        "village": village, "min_households": LOW, "max_households": HIGH})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    new = body["draft"]
    assert new != source and body["source_draft"] == source and body["revision"] == 2
    assert answer.headers["Location"] == f"/api/v1/drafts/{new}"
    draft = client.get(f"/api/v1/drafts/{new}").get_json()
    assert draft["draft"]["scope_code"] == admin and draft["revision"] == 2
    features = draft["features"]
    proposed = gpd.GeoDataFrame(
        [{"code": f["id"], "geometry": shape(f["geometry"])} for f in features
         if f["properties"]["level"] == "service"], crs="EPSG:4326")
    assert len(proposed) >= 2
    # every grid one polygon, codes by the rule: the village's 12 digits and a serial
    for code, geom in zip(proposed.code, proposed.geometry):
        assert len(shapely.get_parts(geom)) == 1, f"{code} is in several pieces"
        assert code[:12] == village and code[12:] != "000"
    # the village grid and the regional grids are today's, untouched
    today = {r[0]: (r[1], shapely.from_wkb(bytes(r[2]))) for r in query(
        url, "SELECT code, level, ST_AsBinary(geom) FROM grids WHERE valid_to IS NULL "
             "AND (code = %s OR parent_code = %s)", (admin, admin))}
    kept = query(url, "SELECT d.code, d.name, md5(ST_AsBinary(d.geom)) = md5(ST_AsBinary(g.geom)) "
                      "FROM draft_grids d JOIN grids g ON g.id = d.base_grid_id "
                      "WHERE d.draft_id = %s AND d.level <> 'service'", (new,))
    assert {r[0] for r in kept} == {c for c, (level, _) in today.items() if level != "service"}
    assert all(r[2] for r in kept)
    # the new service grids cover exactly the land the old ones held (read at full precision:
    # the GeoJSON's 7 decimals move an edge by up to a centimetre)
    stored = [shapely.from_wkb(bytes(r[0])) for r in query(
        url, "SELECT ST_AsBinary(geom) FROM draft_grids WHERE draft_id = %s AND NOT removed "
             "AND level = 'service'", (new,))]
    land = shapely.union_all([g for level, g in today.values() if level == "service"])
    apart = land.symmetric_difference(shapely.union_all(stored))
    # its area in lon/lat scaled to m² there (projecting a sliver bends its straight edges)
    m2_per_deg2 = 111_320 ** 2 * np.cos(np.radians(land.centroid.y))
    assert apart.area * m2_per_deg2 < 0.01
    # and the draft validates: no gap, overlap or grid outside its village; every grid staffed
    validation = client.get(f"/api/v1/drafts/{new}/validation").get_json()
    assert validation["ok"], validation["errors"]
    # the figures, counted again by geopandas
    households = _households(url)
    figures = _figures(proposed, households)
    by_code = {g["code"]: g for g in body["grids"]}
    assert set(by_code) == set(figures)
    for code, expected in figures.items():
        assert LOW <= expected["households"] <= HIGH, (code, expected)
        assert by_code[code]["households"] == expected["households"]
        assert by_code[code]["polsby_popper"] == pytest.approx(expected["polsby_popper"],
                                                               abs=2e-3)
    _assert_summary(body["summary"], figures)
    old = gpd.GeoDataFrame([{"code": c, "geometry": g} for c, (level, g) in today.items()
                            if level == "service"], crs="EPSG:4326")
    old_figures = _figures(old, households)
    _assert_summary(body["today"]["summary"], old_figures)
    assert body["summary"]["households"] == body["today"]["summary"]["households"]
    # grids follow the streets: where two next-door houses of one side of a street (door
    # numbers n and n + 2) are in different grids, a crossing street passes between them, its
    # own houses (10 m off it) in the row
    streets = query(url, "SELECT name, ST_AsBinary(geom) FROM streets WHERE village_code = %s",
                    (village,))
    on_land = gpd.sjoin(households, proposed, how="inner", predicate="intersects")
    for (street, _), row in on_land.groupby(["street", on_land.door % 2]):
        row = row.sort_values("door").drop_duplicates("door")
        for (a, code_a), (b, code_b) in zip(zip(row.geometry, row.code),
                                            list(zip(row.geometry, row.code))[1:]):
            if code_a != code_b:
                between = shapely.LineString([a, b])
                assert any(between.distance(shapely.from_wkb(bytes(w))) < NEAR_STREET_DEG
                           for name, w in streets if name != street), (street, code_a, code_b)
    # the same figures again, from the balance of the new draft; the source draft unchanged
    again = client.get(f"/api/v1/drafts/{new}/balance").get_json()
    assert {k: again[k] for k in ("grids", "summary", "today")} == {
        k: body[k] for k in ("grids", "summary", "today")}
    unchanged = client.get(f"/api/v1/drafts/{source}/balance?village={village}").get_json()
    assert unchanged["grids"] == unchanged["today"]["grids"]
    source_draft = client.get(f"/api/v1/drafts/{source}").get_json()["draft"]
    assert source_draft["revision"] == 1
    assert draft["draft"]["base_version"] == source_draft["base_version"]
    # accepted: published as it is, the village's households are in the proposed grids
    published = client.post(f"/api/v1/drafts/{new}/publish", json={},
                            headers={"If-Match": '"2"'})
    assert published.status_code == 200, published.get_data(as_text=True)
    held = dict(query(url, "SELECT h.grid_code, count(*) FROM households h JOIN grids g "
                           "ON g.code = h.grid_code AND g.valid_to IS NULL "
                           "WHERE g.parent_code = %s AND g.level = 'service' GROUP BY 1", (admin,)))
    assert held == {g["code"]: g["households"] for g in body["grids"]}


def test_a_proposal_refuses_bad_input_by_name_and_writes_nothing(demo_copy_url, api):
    url = demo_copy_url
    village = _largest(url, communities=False)
    held = query(url, "SELECT count(*) FROM households h JOIN grids g ON g.code = h.grid_code "
                      "WHERE g.valid_to IS NULL AND g.parent_code = %s", (village + "000",))[0][0]
    client = api()
    source = client.post("/api/v1/drafts", json={"scope": TOWN}).get_json()["id"]
    other = next(r[0][:12] for r in query(url, "SELECT code FROM grids WHERE level = 'admin' "
                                               "AND valid_to IS NULL ORDER BY code")
                 if r[0][:12] != village)
    one_village = client.post("/api/v1/drafts", json={"scope": other}).get_json()["id"]
    drafts_before = query(url, "SELECT count(*) FROM drafts")[0][0]

    def ask(body, draft=source, who=client):
        return who.post(f"/api/v1/drafts/{draft}/proposals", json={
            "village": village, "min_households": LOW, "max_households": HIGH, **body})

    cases = [
        (ask({}, draft=999_999), 404, "draft_not_found"),
        (ask({"village": TOWN + "999"}), 404, "village_not_found"),
        (ask({"village": "140525109200"}), 422, "invalid_scope"),  # another town's code
        (ask({}, draft=one_village), 422, "invalid_scope"),  # the draft holds another village
        (ask({"min_households": 300, "max_households": 200}), 422, "invalid_proposal"),
        (ask({"min_households": 0}), 422, "invalid_body"),
        (ask({"max_households": -5}), 422, "invalid_body"),
        (ask({"village": "14052510820x"}), 422, "invalid_body"),
        # more than the village holds; and bounds no whole number of grids fits
        (ask({"min_households": held + 1, "max_households": held + 100}), 422,
         "proposal_impossible"),
        (ask({"min_households": held // 2 + 1, "max_households": held - 1}), 422,
         "proposal_impossible"),
        (ask({}, who=api("town_operator")), 403, "forbidden"),
    ]
    for answer, status, code in cases:
        body = answer.get_json()
        assert (answer.status_code, body["error"]) == (status, code), body
        assert body["message"]
    assert query(url, "SELECT count(*) FROM drafts")[0][0] == drafts_before
    # the reader may see a balance; a village outside the draft is refused there too
    reader = api("town_operator")
    assert reader.get(f"/api/v1/drafts/{source}/balance").status_code == 200
    refused = reader.get(f"/api/v1/drafts/{one_village}/balance?village={village}")
    assert (refused.status_code, refused.get_json()["error"]) == (422, "invalid_scope")
    assert reader.get("/api/v1/drafts/999999/balance").status_code == 404


def test_max_p_ends_when_no_unit_can_move_to_another_region():
    """spopt 0.7's annealing looped for ever when the units it may move border no other
    region (pysal/spopt#506): a star whose centre holds most households can only be one
    region, and its leaves may each leave it but have nowhere to go."""
    from planning.regions import _maxp

    neighbours = {0: [1, 2, 3, 4], 1: [0], 2: [0], 3: [0], 4: [0]}
    hh = np.array([10, 1, 1, 1, 1])
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, 0.0], [0.0, -10.0]])
    found: list = []
    worker = threading.Thread(target=lambda: found.append(
        _maxp([0, 1, 2, 3, 4], neighbours, hh, xy, floor=7, seed=1)), daemon=True)
    worker.start()
    worker.join(HANG_S)
    assert found == [[[0, 1, 2, 3, 4]]]


def _scattered(rng, box, n, first_id=0) -> list[dict]:
    minx, miny, maxx, maxy = box.bounds
    return [{"id": first_id + i, "street": None, "lon": float(rng.uniform(minx, maxx)),
             "lat": float(rng.uniform(miny, maxy))} for i in range(n)]


def test_regions_of_land_in_pieces_tile_it_within_tight_bounds():
    """Away from the demo's streets: households scattered over a square kilometre and an empty
    plot apart from it, split 25 to 30 a region (tight: max-p alone overshoots the maximum)."""
    from planning.regions import regions

    rng = np.random.default_rng(2)
    main = shapely.box(112.87, 35.64, 112.88, 35.65)
    plot = shapely.box(112.882, 35.64, 112.883, 35.641)  # ~200 m east, nobody on it
    households = _scattered(rng, main, 300)
    found = regions(shapely.MultiPolygon([main, plot]), households, [], 25, 30, seed=1)
    assert all(25 <= len(r["households"]) <= 30 for r in found)
    assert sorted(h for r in found for h in r["households"]) == list(range(300))
    parts = [len(shapely.get_parts(r["geometry"])) for r in found]
    assert sorted(parts)[-1] == 2 and parts.count(1) == len(found) - 1  # the plot joined one
    whole = shapely.union_all([r["geometry"] for r in found])
    assert whole.symmetric_difference(shapely.MultiPolygon([main, plot])).area < 1e-14  # deg²
    assert sum(r["geometry"].area for r in found) == pytest.approx(whole.area, rel=1e-9)
    # each household lies in its region
    for r in found:
        for h in r["households"]:
            point = shapely.Point(households[h]["lon"], households[h]["lat"])
            assert r["geometry"].covers(point)


def test_regions_refuse_a_piece_of_land_with_too_few_households():
    from planning.errors import ProposalImpossible
    from planning.regions import regions

    rng = np.random.default_rng(3)
    main = shapely.box(112.87, 35.64, 112.88, 35.65)
    plot = shapely.box(112.882, 35.64, 112.883, 35.641)
    households = _scattered(rng, main, 100) + _scattered(rng, plot, 3, first_id=100)
    with pytest.raises(ProposalImpossible, match="the piece .* has 3 households"):
        regions(shapely.MultiPolygon([main, plot]), households, [], 25, 30, seed=1)
