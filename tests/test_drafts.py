"""The planner's drafts: a working copy of the grids, edited under a revision, with every bad
edit refused by name and the current boundaries untouched."""

from __future__ import annotations

import pytest
import requests
from shapely.geometry import mapping

from tests.accounts_support import token_for
from tests.boundary_data import TOWN, frame, import_all, query, rect_m, staff_all
from tests.openapi_support import assert_documented

WEST = "140525108200000"
WEST_LEAF = "140525108200001"
EAST_LEAF = "140525108201003"


def lonlat(*xy) -> dict:
    """A rectangle drawn in UTM metres (tests/boundary_data.py) as a GeoJSON geometry in 4326."""
    return mapping(frame([{"code": "x", "geometry": rect_m(*xy)}]).geometry.iloc[0])


def grids_fingerprint(url) -> list[tuple]:
    return query(url, "SELECT id, code, name, version, valid_to, md5(ST_AsBinary(geom)) "
                      "FROM grids ORDER BY id")


@pytest.fixture
def town(cli, empty_db_url, tmp_path):
    import_all(cli, empty_db_url, tmp_path)
    staff_all(empty_db_url)
    return empty_db_url


@pytest.fixture
def api(town, app_server):
    server = app_server(town)

    def call(method, path, token="planner", revision=None, if_match=None, **kwargs):
        headers = {"If-Match": if_match} if if_match else {}
        if token:
            headers["Authorization"] = f"Bearer {TOKENS[token](town)}"
        if revision is not None:
            headers["If-Match"] = f'"{revision}"'
        return requests.request(method, f"{server.base}/api/v1{path}", headers=headers,
                                timeout=30, **kwargs)

    return call


_made: dict[tuple[str, str], str] = {}


def _token(name, **account):
    def get(url):
        key = (url, name)
        if key not in _made:
            _made[key] = token_for(url, name, **account)
        return _made[key]
    return get


TOKENS = {
    "planner": _token("planner", scope=TOWN),
    "planner2": _token("planner2", role="planner", scope=TOWN),
    "operator": _token("town_operator", scope=TOWN),
}


def test_a_draft_copies_the_grids_of_its_scope_with_their_people(town):
    from db.session import session_scope
    from planning.drafts import create_draft, get_draft

    with session_scope(town) as session:
        whole = get_draft(session, create_draft(session, "p", TOWN)["id"])
        village = get_draft(session, create_draft(session, "p", WEST[:12])["id"])
        before_leaves = get_draft(session, create_draft(session, "p", TOWN, from_version=2)["id"])
    assert len(whole["features"]) == 10 and whole["revision"] == 1
    assert {f["id"] for f in village["features"]} == {WEST} | {
        WEST[:12] + f"{n:03d}" for n in range(1, 5)}
    assert len(before_leaves["features"]) == 2  # version 2: the village grids alone
    leaf = next(f for f in whole["features"] if f["id"] == WEST_LEAF)["properties"]
    admin = next(f for f in whole["features"] if f["id"] == WEST)["properties"]
    # the people staffed on the grids (tests/boundary_data.py staff_all), by an independent query
    expected = dict(query(town, "SELECT grid_code, person_id FROM grid_assignments"))
    assert leaf["worker_ids"] == [expected[WEST_LEAF]] and leaf["leader_id"] is None
    assert admin["leader_id"] == expected[WEST] and admin["worker_ids"] == []
    assert leaf["area_m2"] == pytest.approx(500_000, rel=2e-3)


def test_a_second_planner_saving_on_an_old_revision_gets_409_with_what_changed(town, api):
    created = api("POST", "/drafts", json={"scope": TOWN})
    assert created.status_code == 201, created.text
    draft = created.json()["id"]
    got = api("GET", f"/drafts/{draft}")
    assert got.status_code == 200 and got.json()["revision"] == 1
    assert_documented("GET", "/api/v1/drafts/{draft_id}", got)  # the draft, its grids
    etag = got.headers["ETag"]  # "1", or "1:zstd" when compressed: sent back as it is
    assert etag.startswith('"1')
    before = grids_fingerprint(town)
    # planner 1 widens a leaf grid; planner 2, who read revision 1 too, renames another
    first = api("PUT", f"/drafts/{draft}/grids/{WEST_LEAF}", if_match=etag,
                json={"geometry": lonlat(0, 0, 520, 1000)})
    assert first.status_code == 200, first.text
    assert first.json()["revision"] == 2
    second = api("PUT", f"/drafts/{draft}/grids/{EAST_LEAF}", token="planner2", revision=1,
                 json={"name": "改名"})
    assert second.status_code == 409, second.text
    body = second.json()
    assert body["error"] == "stale_revision"
    assert body["details"]["revision"] == 2 and body["details"]["your_revision"] == 1
    assert [(c["revision"], c["op"], c["codes"], c["actor"])
            for c in body["details"]["changes"]] == [(2, "put", [WEST_LEAF], "planner")]
    # nothing of the refused edit was written; the accepted one was
    after = api("GET", f"/drafts/{draft}").json()
    props = {f["id"]: f["properties"] for f in after["features"]}
    assert props[EAST_LEAF]["name"] != "改名"
    assert props[WEST_LEAF]["area_m2"] == pytest.approx(520_000, rel=2e-3)
    assert after["revision"] == 2
    # on the new revision, planner 2's edit goes through
    again = api("PUT", f"/drafts/{draft}/grids/{EAST_LEAF}", token="planner2", revision=2,
                json={"name": "改名"})
    assert again.status_code == 200 and again.json()["revision"] == 3
    # without If-Match: 428; a revision from the future: 409
    assert api("PUT", f"/drafts/{draft}/grids/{EAST_LEAF}", json={"name": "x"}).status_code == 428
    future = api("PUT", f"/drafts/{draft}/grids/{EAST_LEAF}", revision=9, json={"name": "x"})
    assert future.status_code == 409 and "never existed" in future.json()["message"]
    # editing a draft never touches the current boundaries
    assert grids_fingerprint(town) == before


@pytest.mark.parametrize("geometry, fragment", [
    # a bow tie: its edges cross
    ({"type": "Polygon", "coordinates": [[[112.89, 35.64], [112.90, 35.65], [112.90, 35.64],
                                          [112.89, 35.65], [112.89, 35.64]]]},
     "Self-intersection"),
    # metres (UTM 49N) sent as if they were degrees
    (mapping(rect_m(0, 0, 500, 1000)), "EPSG:4326"),
    ({"type": "Point", "coordinates": [112.89, 35.64]}, "a Point"),
    ({"type": "Polygon", "coordinates": []}, "empty"),
    # Beijing: far outside Bagong
    ({"type": "Polygon", "coordinates": [[[116.39, 39.90], [116.40, 39.90], [116.40, 39.91],
                                          [116.39, 39.90]]]}, "outside the town"),
    ({"type": "Polygon", "coordinates": [[["a", 1]]]}, "cannot be read"),
])
def test_a_bad_geometry_is_refused_by_name(town, api, geometry, fragment):
    draft = api("POST", "/drafts", json={"scope": TOWN}).json()["id"]
    answer = api("PUT", f"/drafts/{draft}/grids/{WEST_LEAF}", revision=1,
                 json={"geometry": geometry})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_geometry"
    assert fragment in answer.json()["message"]
    assert api("GET", f"/drafts/{draft}").json()["revision"] == 1  # nothing written


def test_new_grids_follow_the_coding_rule_and_the_scope(town, api):
    draft = api("POST", "/drafts", json={"scope": WEST[:12]}).json()["id"]
    new = {"code": WEST[:12] + "005", "name": "新网格", "level": "service",
           "geometry": lonlat(0, 0, 250, 500)}
    people = dict(query(town, "SELECT grid_code, person_id FROM grid_assignments"))
    added = api("POST", f"/drafts/{draft}/grids", revision=1,
                json={**new, "workers": [people[WEST_LEAF]]})
    assert added.status_code == 201, added.text
    grids = {f["id"]: f["properties"] for f in api("GET", f"/drafts/{draft}").json()["features"]}
    assert grids[new["code"]]["parent_code"] == WEST
    assert grids[new["code"]]["worker_ids"] == [people[WEST_LEAF]]
    cases = [
        ({**new}, 409, "grid_exists"),
        ({**new, "code": "140525108201005"}, 422, "invalid_grid_code"),  # the other village
        ({**new, "code": WEST[:12] + "000"}, 422, "invalid_grid_code"),  # 000 is a village grid
        ({**new, "code": "14052510820000"}, 422, "invalid_body"),  # 14 digits
        ({**new, "code": WEST[:12] + "006", "workers": [999999]}, 422, "invalid_grid"),
        ({**new, "code": WEST[:12] + "006", "parent_code": "140525108201000"}, 422,
         "invalid_grid"),
        ({**new, "code": WEST[:12] + "006", "level": "ward"}, 422, "invalid_body"),
    ]
    for body, status, error in cases:
        answer = api("POST", f"/drafts/{draft}/grids", revision=2, json=body)
        assert (answer.status_code, answer.json()["error"]) == (status, error), (body, answer.text)
    assert api("GET", f"/drafts/{draft}").json()["revision"] == 2


def test_who_may_read_and_edit_and_a_discarded_draft_is_closed(town, api):
    draft = api("POST", "/drafts", json={"scope": TOWN}).json()["id"]
    # the town operator reads drafts but does not edit them; nobody without an account reads
    assert api("GET", f"/drafts/{draft}", token="operator").status_code == 200
    assert api("PUT", f"/drafts/{draft}/grids/{WEST_LEAF}", token="operator", revision=1,
               json={"name": "x"}).status_code == 403
    assert api("POST", "/drafts", token="operator", json={"scope": TOWN}).status_code == 403
    assert api("GET", "/drafts", token=None).status_code == 401
    assert api("GET", "/drafts/999999").status_code == 404
    assert api("POST", "/drafts", json={"scope": "140525199"}).json()["error"] == "invalid_scope"
    assert api("POST", "/drafts", json={"scope": TOWN, "from_version": 99}).status_code == 404
    listed = api("GET", "/drafts").json()["drafts"]
    assert [d["id"] for d in listed] == [draft] and listed[0]["grids"] == 10
    assert api("DELETE", f"/drafts/{draft}").status_code == 204
    closed = api("PUT", f"/drafts/{draft}/grids/{WEST_LEAF}", revision=2, json={"name": "x"})
    assert (closed.status_code, closed.json()["error"]) == (409, "draft_closed")
    assert api("GET", "/drafts").json()["drafts"] == []
    assert [d["state"] for d in api("GET", "/drafts?state=all").json()["drafts"]] == ["discarded"]


def test_validation_finds_each_gap_and_overlap_with_its_area_and_place(town, api):
    draft = api("POST", "/drafts", json={"scope": TOWN}).json()["id"]
    clean = api("GET", f"/drafts/{draft}/validation").json()
    assert clean["ok"] is True and clean["errors"] == [], clean
    # shrink one leaf grid by 100 m (a 100 m x 1 km gap in its village) and widen the next
    # by 50 m over its other neighbour (a 50 m x 1 km overlap)
    west_2 = WEST[:12] + "002"
    assert api("PUT", f"/drafts/{draft}/grids/{WEST_LEAF}", revision=1,
               json={"geometry": lonlat(0, 0, 400, 1000)}).status_code == 200
    assert api("PUT", f"/drafts/{draft}/grids/{west_2}", revision=2,
               json={"geometry": lonlat(500, 0, 1050, 1000), "workers": []}).status_code == 200
    answer = api("GET", f"/drafts/{draft}/validation")
    assert_documented("GET", "/api/v1/drafts/{draft_id}/validation", answer)  # counts, findings
    found = answer.json()
    assert found["ok"] is False and found["revision"] == 3
    kinds = {(e["kind"], frozenset(e["codes"])): e for e in found["errors"]}
    gap = kinds[("gap", frozenset([WEST]))]
    assert gap["area_m2"] == pytest.approx(100 * 1000, rel=0.01)
    overlap = kinds[("overlap", frozenset([west_2, WEST[:12] + "003"]))]
    assert overlap["area_m2"] == pytest.approx(50 * 1000, rel=0.01)
    # each is drawn where it is: the gap's point lies in the strip the grid gave up
    from tests.boundary_data import ORIGIN_M, UTM49N
    import geopandas as gpd
    from shapely import Point

    x, y = gpd.GeoSeries([Point(gap["lon"], gap["lat"])], crs="EPSG:4326").to_crs(UTM49N).iloc[0].xy
    assert 399 <= x[0] - ORIGIN_M[0] <= 501 and 0 <= y[0] - ORIGIN_M[1] <= 1000
    # the grid whose workers were taken away has none
    assert ("no_worker", frozenset([west_2])) in kinds
    # the current boundaries, validated, are still whole
    from db.session import session_scope
    from boundaries.validation import coverage_report

    with session_scope(town) as session:
        assert coverage_report(session).ok


def line(*points) -> dict:
    """A line through points drawn in UTM metres relative to the origin, as GeoJSON in 4326."""
    from shapely import LineString

    from tests.boundary_data import ORIGIN_M, UTM49N
    import geopandas as gpd

    ox, oy = ORIGIN_M
    drawn = LineString([(ox + x, oy + y) for x, y in points])
    return mapping(gpd.GeoSeries([drawn], crs=UTM49N).to_crs("EPSG:4326").iloc[0])


def coverage_errors(api, draft) -> list[tuple]:
    found = api("GET", f"/drafts/{draft}/validation").json()
    return [(e["kind"], sorted(e["codes"])) for e in found["errors"]
            if e["kind"] in ("gap", "overlap", "outside")]


def test_split_merge_and_move_edge_leave_no_gap_or_overlap(town, api):
    before = grids_fingerprint(town)
    draft = api("POST", "/drafts", json={"scope": TOWN}).json()["id"]
    west_2, new = WEST[:12] + "002", WEST[:12] + "005"

    def areas():
        got = api("GET", f"/drafts/{draft}").json()
        return {f["id"]: f["properties"]["area_m2"] for f in got["features"]}

    # split a 500 m x 1 km grid by a line across it at 600 m (drawn a little past both edges)
    split = api("POST", f"/drafts/{draft}/operations", revision=1, json={
        "op": "split", "code": WEST_LEAF, "line": line((-3, 600), (503, 600))})
    assert split.status_code == 200, split.text
    assert split.json() == {"draft": draft, "op": "split", "codes": [WEST_LEAF, new],
                            "revision": 2}
    got = areas()
    assert got[WEST_LEAF] == pytest.approx(300_000, rel=0.005)  # the larger piece keeps the code
    assert got[new] == pytest.approx(200_000, rel=0.005)
    assert coverage_errors(api, draft) == []
    # merge the two back
    merged = api("POST", f"/drafts/{draft}/operations", revision=2, json={
        "op": "merge", "codes": [WEST_LEAF, new]})
    assert merged.status_code == 200, merged.text
    got = areas()
    assert new not in got and got[WEST_LEAF] == pytest.approx(500_000, rel=0.005)
    assert coverage_errors(api, draft) == []
    # move the shared edge of two neighbours from 500 m to 450 m
    moved = api("POST", f"/drafts/{draft}/operations", revision=3, json={
        "op": "move_edge", "codes": [WEST_LEAF, west_2], "line": line((450, -2), (450, 1002))})
    assert moved.status_code == 200, moved.text
    got = areas()
    assert got[WEST_LEAF] == pytest.approx(450_000, rel=0.005)
    assert got[west_2] == pytest.approx(550_000, rel=0.005)
    assert coverage_errors(api, draft) == []
    assert api("GET", f"/drafts/{draft}/validation").json()["ok"] is True
    # the current boundaries are untouched by all of it
    assert grids_fingerprint(town) == before


@pytest.mark.parametrize("operation, fragment", [
    ({"op": "split", "code": WEST_LEAF, "line": line((100, 100), (200, 200))}, "from edge to edge"),
    ({"op": "split", "code": WEST, "line": line((-3, 600), (2003, 600))}, "village grid"),
    ({"op": "merge", "codes": [WEST_LEAF, EAST_LEAF]}, "different villages"),
    ({"op": "merge", "codes": [WEST_LEAF, WEST[:12] + "003"]}, "do not touch"),
    ({"op": "move_edge", "codes": [WEST_LEAF, WEST[:12] + "004"],
      "line": line((450, -2), (450, 1002))}, "share no edge"),
    ({"op": "split", "code": WEST_LEAF, "line": {"type": "Point", "coordinates": [1, 2]}},
     "LineString"),
])
def test_an_operation_that_cannot_be_made_is_refused_by_name(town, api, operation, fragment):
    draft = api("POST", "/drafts", json={"scope": TOWN}).json()["id"]
    answer = api("POST", f"/drafts/{draft}/operations", revision=1, json=operation)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_operation"
    assert fragment in answer.json()["message"]
    assert api("GET", f"/drafts/{draft}").json()["revision"] == 1
