"""Boundary versions: the database refuses overlapping validity of one code, every change is a
numbered version, two versions compare grid by grid, and a version exports and shows."""

from __future__ import annotations

import json

import geopandas as gpd
import psycopg
import pytest
import requests
import shapely

from db.session import conninfo
from tests.accounts_support import token_for
from tests.boundary_data import TOWN, admin_grids, frame, import_all, query, rect_m, write
from tests.openapi_support import assert_documented

OLD, NEW = "巴公二村", "巴公二村（扩）"
DEPARTMENT = "chengguan"
WEST = "140525108200000"
EAST = "140525108201000"


def _versions(url) -> list[tuple]:
    return query(url, "SELECT number, effective_at FROM boundary_versions ORDER BY number")


def _redraw_west(cli, url, tmp_path, name=OLD, width=2100):
    """Import the admin grids again with the west village widened to ``width`` m (and renamed
    to ``name``): one new version."""
    rows = admin_grids()
    rows[0] = {**rows[0], "name": name, "geometry": rect_m(0, 0, width, 1000)}
    rows[1] = {**rows[1], "geometry": rect_m(width, 0, 4000, 1000)}
    path = write(frame(rows), tmp_path / f"admin-{width}.geojson")
    result = cli(url, "boundaries", "import", str(path), "--level", "admin", "--commit")
    assert result.exit_code == 0, result.output


def test_the_database_refuses_two_rows_of_one_code_valid_at_the_same_moment(cli, empty_db_url,
                                                                            tmp_path):
    import_all(cli, empty_db_url, tmp_path)
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        # a second row of an existing code, valid from yesterday: it overlaps the current row
        with pytest.raises(psycopg.errors.ExclusionViolation) as caught:
            conn.execute(
                "INSERT INTO grids (code, name, level, town_code, geom, version, valid_from, "
                "valid_to) SELECT code, name, level, town_code, geom, 9, now() - interval '1 day',"
                " now() + interval '1 day' FROM grids WHERE code = %s AND valid_to IS NULL",
                (WEST,))
        assert "ex_grids_code_validity" in str(caught.value)
        conn.rollback()
        # the same for zones
        with pytest.raises(psycopg.errors.ExclusionViolation):
            conn.execute(
                "INSERT INTO zones (code, name, kind, town_code, geom, version, valid_from, "
                "valid_to) SELECT code, name, kind, town_code, geom, 2, valid_from + interval "
                "'1 second', valid_from + interval '1 day' FROM zones WHERE valid_to IS NULL")
        conn.rollback()
        # reopening a closed row's range over its successor is refused too
        conn.execute("UPDATE grids SET valid_to = now() WHERE code = %s AND valid_to IS NULL",
                     (EAST,))
        conn.execute(
            "INSERT INTO grids (code, name, level, town_code, geom, version, valid_from) "
            "SELECT code, name, level, town_code, geom, version + 1, now() FROM grids "
            "WHERE code = %s", (EAST,))
        with pytest.raises(psycopg.errors.ExclusionViolation):
            conn.execute("UPDATE grids SET valid_to = now() + interval '1 day' WHERE code = %s "
                         "AND version = 1", (EAST,))
        conn.rollback()
    # nothing of the refused statements is left
    assert query(empty_db_url, "SELECT count(*) FROM grids WHERE code = %s", (WEST,)) == [(1,)]


def test_each_committed_import_is_one_numbered_version(cli, empty_db_url, tmp_path):
    assert _versions(empty_db_url) == []
    import_all(cli, empty_db_url, tmp_path)  # four imports: zone, admin, regional, service
    first = _versions(empty_db_url)
    assert [n for n, _ in first] == [1, 2, 3, 4]
    assert [t for _, t in first] == sorted(t for _, t in first)
    _redraw_west(cli, empty_db_url, tmp_path)
    after = _versions(empty_db_url)
    assert after[:4] == first and len(after) == 5
    # an import that changes nothing is no version
    _redraw_west(cli, empty_db_url, tmp_path)
    assert _versions(empty_db_url) == after
    listed = cli(empty_db_url, "boundaries", "versions", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [r["number"] for r in rows] == [1, 2, 3, 4, 5]
    # version 5 has every grid: 2 villages and 8 leaf grids; 4 rows changed (2 closed, 2 new)
    assert rows[-1]["grids"] == 10 and rows[-1]["grid_rows_changed"] == 4
    assert rows[1]["grids"] == 2  # after the admin import, before the leaf grids


def test_a_diff_names_every_added_removed_and_changed_grid_with_its_area(cli, empty_db_url,
                                                                        tmp_path):
    from boundaries.versions import diff
    from db.session import session_scope

    import_all(cli, empty_db_url, tmp_path)
    _redraw_west(cli, empty_db_url, tmp_path, name=NEW, width=2100)
    with session_scope(empty_db_url) as session:
        d = diff(session, 4, 5)
        back = diff(session, 5, 4)
        leaves = diff(session, 2, 4)
    assert d["counts"] == {"added": 0, "removed": 0, "changed": 2}
    west, east = (next(g for g in d["grids"] if g["code"] == c) for c in (WEST, EAST))
    assert west["changed"] == ["geometry", "name"] and east["changed"] == ["geometry"]
    assert (west["a"]["name"], west["b"]["name"]) == (OLD, NEW)
    # an independent measure of the areas: the grid rows reprojected to UTM 49N
    areas = dict(query(empty_db_url,
                       "SELECT code || ':' || version, ST_Area(ST_Transform(geom, 32649)) "
                       "FROM grids WHERE code IN (%s, %s)", (WEST, EAST)))
    for g in (west, east):
        a, b = areas[f"{g['code']}:1"], areas[f"{g['code']}:2"]
        assert g["a"]["area_m2"] == pytest.approx(a, rel=2e-3)
        assert g["b"]["area_m2"] == pytest.approx(b, rel=2e-3)
        assert g["area_change_pct"] == pytest.approx(100 * (b - a) / a, abs=0.1)
    # 100 m of a 1 km tall village moved from east to west: +5 % and -5 %
    assert west["area_change_pct"] == pytest.approx(5, abs=0.2)
    assert east["area_change_pct"] == pytest.approx(-5, abs=0.2)
    assert west["area_change_m2"] == pytest.approx(100_000, rel=0.01)
    # read backwards, the signs turn
    assert next(g for g in back["grids"] if g["code"] == WEST)["area_change_pct"] == \
        pytest.approx(-100 * 100_000 / 2_100_000, abs=0.1)
    # from before the leaf grids to after them: eight added, with their areas at b only
    assert leaves["counts"] == {"added": 8, "removed": 0, "changed": 0}
    assert all(g["a"] is None and g["b"]["area_m2"] > 0 for g in leaves["grids"])
    backwards = None
    with session_scope(empty_db_url) as session:
        backwards = diff(session, 4, 2)
    assert backwards["counts"] == {"added": 0, "removed": 8, "changed": 0}


def test_a_version_exports_as_it_was(cli, empty_db_url, tmp_path):
    import_all(cli, empty_db_url, tmp_path)
    _redraw_west(cli, empty_db_url, tmp_path, name=NEW)
    old = tmp_path / "v4.gpkg"
    result = cli(empty_db_url, "boundaries", "export", str(old), "--version", "4")
    assert result.exit_code == 0, result.output
    current = tmp_path / "now.gpkg"
    assert cli(empty_db_url, "boundaries", "export", str(current)).exit_code == 0
    a, b = gpd.read_file(old), gpd.read_file(current)
    assert a[a.code == WEST].name.item() == OLD and b[b.code == WEST].name.item() == NEW
    assert (a[a.code == WEST].version.item(), b[b.code == WEST].version.item()) == (1, 2)
    grown = shapely.area(b[b.code == WEST].geometry.item()) / shapely.area(
        a[a.code == WEST].geometry.item())
    assert grown == pytest.approx(1.05, abs=0.005)
    # version 1 is the zone alone: no grid yet
    assert cli(empty_db_url, "boundaries", "export", str(tmp_path / "v1.gpkg"),
               "--version", "1").exit_code == 0
    assert set(gpd.read_file(tmp_path / "v1.gpkg").level) == {"town", "zone"}
    missing = cli(empty_db_url, "boundaries", "export", str(tmp_path / "x.gpkg"), "--version", "99")
    assert missing.exit_code == 2 and "there is no boundary version 99" in missing.output


def test_the_versions_api_lists_shows_and_compares_for_the_planner(cli, empty_db_url, tmp_path,
                                                                  app_server):
    import_all(cli, empty_db_url, tmp_path)
    _redraw_west(cli, empty_db_url, tmp_path, name=NEW)
    server = app_server(empty_db_url)
    planner = {"Authorization": f"Bearer {token_for(empty_db_url, 'planner', scope=TOWN)}"}
    listed = requests.get(f"{server.base}/api/v1/versions", headers=planner, timeout=30)
    assert listed.status_code == 200, listed.text
    assert [v["number"] for v in listed.json()["versions"]] == [1, 2, 3, 4, 5]
    shown = requests.get(f"{server.base}/api/v1/versions/4", headers=planner, timeout=30)
    assert_documented("GET", "/api/v1/versions/{number}", shown)  # each grid, and the version
    shown = shown.json()
    assert shown["version"]["number"] == 4
    assert {f["properties"]["code"] for f in shown["features"]} >= {WEST, EAST}
    west = next(f for f in shown["features"] if f["properties"]["code"] == WEST)
    assert west["properties"]["name"] == OLD and west["geometry"]["type"] == "MultiPolygon"
    d = requests.get(f"{server.base}/api/v1/versions/4/diff/5", headers=planner, timeout=30)
    assert d.status_code == 200 and d.json()["counts"]["changed"] == 2
    assert_documented("GET", "/api/v1/versions/{a}/diff/{b}", d)  # each grid, its two sides
    # bad input: an unknown version, and a department's handler (not a planner) asking
    missing = requests.get(f"{server.base}/api/v1/versions/4/diff/77", headers=planner, timeout=30)
    assert (missing.status_code, missing.json()["error"]) == (404, "version_not_found")
    handler = {"Authorization": "Bearer " + token_for(
        empty_db_url, "handler", role="department_handler", scope=DEPARTMENT)}
    refused = requests.get(f"{server.base}/api/v1/versions", headers=handler, timeout=30)
    assert refused.status_code == 403
    anonymous = requests.get(f"{server.base}/api/v1/versions", timeout=30)
    assert anonymous.status_code == 401
