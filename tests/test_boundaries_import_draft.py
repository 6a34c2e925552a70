"""`gridgov boundaries import … --draft`: a file's grids become a draft for the planner, with
exactly the file's changes in it, and the current boundaries untouched; what a draft cannot
hold is refused with one line and writes nothing."""

from __future__ import annotations

import json

import pytest
import shapely

from tests.boundary_data import (
    TOWN,
    admin_grids,
    dense_lonlat,
    frame,
    import_all,
    leaf_grids,
    query,
    rect_m,
    staff_all,
    write,
    zones,
)

VILLAGE = "140525108200000"  # x 0..2000 m: leaves 001, 002 (regional), 003, 004 (service)
CHANGED = "140525108200004"
NEW = "140525108200005"
SAME = "140525108200003"


@pytest.fixture
def town(cli, empty_db_url, tmp_path):
    import_all(cli, empty_db_url, tmp_path)
    staff_all(empty_db_url)
    return empty_db_url


def boundaries_fingerprint(url) -> tuple:
    """Every row of grids and zones, and the versions: an import --draft must change none."""
    return (
        query(url, "SELECT id, code, name, level, parent_code, zone_code, version, valid_from, "
                   "valid_to, md5(ST_AsBinary(geom)) FROM grids ORDER BY id"),
        query(url, "SELECT id, code, version, valid_to, md5(ST_AsBinary(geom)) FROM zones "
                   "ORDER BY id"),
        query(url, "SELECT number, effective_at FROM boundary_versions ORDER BY number"),
    )


def village_service_file(tmp_path, name="service.geojson"):
    """The village's service grids as a planner redrew them: 003 as it is, 004 narrowed to
    1500..1800 m and a new 005 on the 200 m freed (1800..2000 m)."""
    rows = [r for r in leaf_grids() if r["code"] in (SAME, CHANGED)]
    for r in rows:
        if r["code"] == CHANGED:
            r["geometry"] = rect_m(1500, 0, 1800, 1000)
    rows.append({"code": NEW, "name": "200-5", "level": "service", "parent_code": VILLAGE,
                 "geometry": rect_m(1800, 0, 2000, 1000)})
    return write(frame(rows), tmp_path / name)


def run(cli, url, path, level, *args):
    return cli(url, "boundaries", "import", str(path), "--level", level, *args)


def drafts(url) -> list[tuple]:
    return query(url, "SELECT id, scope_kind, scope_code, revision, state FROM drafts ORDER BY id")


def test_a_village_file_becomes_a_village_draft_with_exactly_its_changes(cli, town, tmp_path):
    before = boundaries_fingerprint(town)
    result = run(cli, town, village_service_file(tmp_path), "service", "--draft")
    assert result.exit_code == 0, result.output
    assert boundaries_fingerprint(town) == before  # grids, zones and versions untouched

    ((draft, kind, scope, revision, state),) = drafts(town)
    assert (kind, scope, revision, state) == ("village", VILLAGE, 2, "open")
    out = result.output
    assert f"draft {draft} of village {VILLAGE[:12]}, revision 2: 1 added, 1 changed, " \
           "1 unchanged" in out
    assert f"added: {NEW} 200-5" in out
    assert f"changed: {CHANGED} " in out and "(geometry)" in out
    assert SAME not in out  # in the file as it is: neither added nor changed
    assert "not in file" not in out  # the other village's service grids are not the draft's

    # the draft: the village's five grids as they were, but 004's outline, and 005 added
    rows = query(town, "SELECT code, level, parent_code, worker_ids, removed, "
                       "ST_AsBinary(geom) FROM draft_grids WHERE draft_id = %s", (draft,))
    grids = {r[0]: r for r in rows}
    current = dict(query(town, "SELECT code, ST_AsBinary(geom) FROM grids "
                               "WHERE valid_to IS NULL AND (code = %s OR parent_code = %s)",
                         (VILLAGE, VILLAGE)))
    assert set(grids) == set(current) | {NEW}
    for code, wkb in current.items():
        if code != CHANGED:
            assert bytes(grids[code][5]) == bytes(wkb), code  # the copy, byte for byte
    changed = shapely.from_wkb(bytes(grids[CHANGED][5]))
    assert shapely.hausdorff_distance(changed, dense_lonlat(rect_m(1500, 0, 1800, 1000))) < 1e-7
    new = shapely.from_wkb(bytes(grids[NEW][5]))
    assert shapely.hausdorff_distance(new, dense_lonlat(rect_m(1800, 0, 2000, 1000))) < 1e-7
    assert grids[NEW][1:5] == ("service", VILLAGE, [], False)
    # 004 keeps its grid worker (staff_all), by an independent query
    worker = query(town, "SELECT person_id FROM grid_assignments WHERE grid_code = %s",
                   (CHANGED,))
    assert grids[CHANGED][3] == [worker[0][0]]

    # one revision for the whole file, naming the grids it brought
    assert query(town, "SELECT revision, op, codes FROM draft_changes WHERE draft_id = %s "
                       "ORDER BY revision", (draft,)) == [
        (1, "create", []), (2, "import", sorted([CHANGED, NEW]))]

    # the validation summary: the new grid has no grid worker yet, nothing else is wrong
    assert f"validation error: service grid {NEW} has no grid worker" in out
    assert out.count("validation error:") == 1
    assert "it cannot be published until the errors are fixed (1 error(s), 0 warning(s))" in out


def test_the_draft_is_what_the_api_reads(cli, town, tmp_path):
    result = run(cli, town, village_service_file(tmp_path), "service", "--draft")
    assert result.exit_code == 0, result.output
    from db.session import session_scope
    from planning.drafts import get_draft
    from planning.validation import draft_validation

    ((draft, *_),) = drafts(town)
    with session_scope(town) as session:
        got = get_draft(session, draft)
        validation = draft_validation(session, draft)
    assert got["revision"] == 2
    assert {f["id"] for f in got["features"]} >= {NEW, CHANGED, SAME}
    assert [e["codes"] for e in validation["errors"]] == [[NEW]]


def test_admin_grids_make_a_town_draft(cli, town, tmp_path):
    rows = admin_grids()
    rows[0]["name"] = "巴公二村（新）"
    path = write(frame(rows), tmp_path / "admin.geojson")
    before = boundaries_fingerprint(town)
    result = run(cli, town, path, "admin", "--draft")
    assert result.exit_code == 0, result.output
    assert boundaries_fingerprint(town) == before
    ((draft, kind, scope, revision, _),) = drafts(town)
    assert (kind, scope, revision) == ("town", TOWN, 2)
    assert "1 added" not in result.output and "0 added, 1 changed, 1 unchanged" in result.output
    assert query(town, "SELECT name FROM draft_grids WHERE draft_id = %s AND code = %s",
                 (draft, rows[0]["code"])) == [("巴公二村（新）",)]
    assert query(town, "SELECT count(*) FROM draft_grids WHERE draft_id = %s", (draft,)) == [(10,)]


def test_leaf_grids_of_two_villages_make_a_town_draft(cli, town, tmp_path):
    rows = [dict(r, name=r["name"] + "*") for r in leaf_grids() if r["level"] == "service"]
    result = run(cli, town, write(frame(rows), tmp_path / "s.geojson"), "service", "--draft")
    assert result.exit_code == 0, result.output
    assert [d[1:4] for d in drafts(town)] == [("town", TOWN, 2)]
    assert "0 added, 4 changed, 0 unchanged" in result.output
    assert "validation ok: it could be published" in result.output


def test_a_file_the_same_as_the_boundaries_makes_a_draft_without_changes(cli, town, tmp_path):
    rows = [r for r in leaf_grids() if r["level"] == "service" and r["parent_code"] == VILLAGE]
    result = run(cli, town, write(frame(rows), tmp_path / "s.geojson"), "service", "--draft")
    assert result.exit_code == 0, result.output
    assert [d[1:4] for d in drafts(town)] == [("village", VILLAGE, 1)]
    assert "0 added, 0 changed, 2 unchanged" in result.output


def _no_crs(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "parent_code"}  # a Shapefile's names: 10 chars
            for r in leaf_grids() if r["level"] == "service"]
    return write(frame(rows, crs=None), tmp_path / "noprj.shp")


def _a_point(tmp_path):
    gdf = frame([r for r in leaf_grids() if r["level"] == "service"])
    gdf.loc[0, "geometry"] = gdf.geometry.iloc[0].centroid
    return write(gdf, tmp_path / "point.gpkg")


def _bow_tie_unrepairable(tmp_path):
    gdf = frame([r for r in leaf_grids() if r["level"] == "service"])
    features = json.loads(gdf.to_json())
    features["features"][0]["geometry"] = {"type": "Polygon", "coordinates": []}
    path = tmp_path / "empty.geojson"
    path.write_text(json.dumps(features), encoding="utf-8")
    return path


def _off_scheme_code(tmp_path):
    rows = [dict(r) for r in leaf_grids() if r["level"] == "service"]
    rows[0]["code"] = "1405251082000031"  # 16 digits: the importer warns, a draft refuses
    return write(frame(rows), tmp_path / "off.geojson")


def _far_away(tmp_path):
    rows = [dict(r) for r in leaf_grids() if r["level"] == "service"][:1]
    rows[0]["geometry"] = rect_m(50_000, 0, 50_500, 1000)  # 50 km east of the town
    return write(frame(rows), tmp_path / "far.geojson")


@pytest.mark.parametrize(
    ("make", "args", "expected"),
    [
        (village_service_file, ["--draft", "--commit"],
         "--draft and --commit cannot be used together"),
        (lambda p: write(frame(zones()), p / "z.geojson"), ["--level", "zone", "--draft"],
         "--draft cannot import zones: drafts hold grids only"),
        (_no_crs, ["--draft"], "--source-crs"),
        (_a_point, ["--draft"], "not a polygon (Point)"),
        (_bow_tie_unrepairable, ["--draft"], "empty geometry"),
        (_off_scheme_code, ["--draft"], "code '1405251082000031' breaks the coding rule"),
        (_far_away, ["--draft"], "km outside the town"),
        (lambda p: p / "missing.geojson", ["--draft"], "no such file"),
    ],
    ids=["with_commit", "zones", "no_crs", "not_polygon", "empty_geometry", "off_scheme_code",
         "far_outside", "no_file"],
)
def test_import_draft_refuses_with_one_line_and_writes_nothing(cli, town, tmp_path, make, args,
                                                               expected):
    before = boundaries_fingerprint(town)
    level = [] if "--level" in args else ["--level", "service"]
    result = cli(town, "boundaries", "import", str(make(tmp_path)), *level, *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert drafts(town) == []
    assert query(town, "SELECT count(*) FROM draft_grids") == [(0,)]
    assert boundaries_fingerprint(town) == before


def test_import_draft_refuses_a_town_not_in_the_database(cli, empty_db_url, tmp_path):
    rows = [r for r in leaf_grids() if r["level"] == "service"]
    path = write(frame(rows), tmp_path / "s.geojson")
    result = run(cli, empty_db_url, path, "service", "--draft")
    assert result.exit_code == 2, result.output
    assert f"town {TOWN} is not in the database" in result.output
    assert query(empty_db_url, "SELECT count(*) FROM towns") == [(0,)]
    assert drafts(empty_db_url) == []
