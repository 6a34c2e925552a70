"""`gridgov boundaries import`: every format, CRS handling, repairs, refusals, versions."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely import MultiPolygon, Polygon

from tests.boundary_data import (
    TOWN,
    VILLAGES,
    admin_grids,
    current_grids,
    dense_lonlat,
    frame,
    leaf_grids,
    query,
    rect_m,
    write,
    zones,
)

ADMIN_CODES = sorted(VILLAGES)


def run_import(cli, url, path, level="admin", *args):
    return cli(url, "boundaries", "import", str(path), "--level", level, *args)


def counts(url) -> tuple[int, int, int]:
    return (
        query(url, "SELECT count(*) FROM towns")[0][0],
        query(url, "SELECT count(*) FROM zones")[0][0],
        query(url, "SELECT count(*) FROM grids")[0][0],
    )


def _geojson(tmp_path):
    return write(frame(admin_grids()), tmp_path / "villages.geojson")


def _shapefile(tmp_path):
    return write(frame(admin_grids()), tmp_path / "villages.shp")


def _zipped_shapefile(tmp_path):
    _shapefile(tmp_path)
    archive = tmp_path / "villages.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("villages.*"):
            if part != archive:
                zf.write(part, part.name)
    return archive


def _geopackage(tmp_path):
    path = tmp_path / "bagong.gpkg"
    write(frame(zones()), path, layer="zones")
    write(frame(admin_grids()), path, layer="villages")
    return path


def _kml(tmp_path):
    return write(frame(admin_grids()), tmp_path / "villages.kml", driver="LIBKML")


FORMATS = {
    "geojson": (_geojson, []),
    "shapefile": (_shapefile, []),
    "zipped_shapefile": (_zipped_shapefile, []),
    "geopackage_layer": (_geopackage, ["--layer", "villages"]),
    "kml": (_kml, []),
}


@pytest.mark.parametrize("form", FORMATS)
def test_import_reads_each_format(cli, empty_db_url, tmp_path, form):
    make, extra = FORMATS[form]
    result = run_import(cli, empty_db_url, make(tmp_path), "admin", *extra, "--commit")
    assert result.exit_code == 0, result.output
    grids = current_grids(empty_db_url)
    assert sorted(grids) == ADMIN_CODES
    for code, (name, xy) in VILLAGES.items():
        assert grids[code]["name"] == name
        assert grids[code]["level"] == "admin"
        assert grids[code]["version"] == 1
        assert grids[code]["geometry"].geom_type == "MultiPolygon"
        assert shapely.hausdorff_distance(grids[code]["geometry"], dense_lonlat(rect_m(*xy))) < 1e-7
    assert f"town {TOWN}" in result.output
    assert query(empty_db_url, "SELECT code FROM towns") == [(TOWN,)]


@pytest.mark.parametrize("crs", ["EPSG:4547", "EPSG:32649"])
def test_import_reprojects_projected_file(cli, empty_db_url, tmp_path, crs):
    path = write(frame(admin_grids(), crs=crs), tmp_path / "projected.gpkg")
    result = run_import(cli, empty_db_url, path, "admin", "--commit")
    assert result.exit_code == 0, result.output
    assert crs in result.output
    grids = current_grids(empty_db_url)
    for code, (_, xy) in VILLAGES.items():
        # 1e-7 degrees is about a centimetre.
        assert shapely.hausdorff_distance(grids[code]["geometry"], dense_lonlat(rect_m(*xy))) < 1e-7


def test_cgcs2000_lonlat_is_taken_as_wgs84(cli, empty_db_url, tmp_path):
    gdf = frame(admin_grids())
    path = write(gdf.set_crs("EPSG:4490", allow_override=True), tmp_path / "cgcs2000.gpkg")
    result = run_import(cli, empty_db_url, path, "admin", "--commit")
    assert result.exit_code == 0, result.output
    assert "EPSG:4490" in result.output
    grids = current_grids(empty_db_url)
    for code, geom in zip(gdf["code"], gdf.geometry, strict=True):
        assert grids[code]["geometry"].equals_exact(MultiPolygon([geom]), 0)  # not moved


def test_import_refuses_file_without_crs(cli, empty_db_url, tmp_path):
    path = write(frame(admin_grids(), crs=None), tmp_path / "noprj.shp")
    assert not (tmp_path / "noprj.prj").exists()
    result = run_import(cli, empty_db_url, path, "admin", "--commit")
    assert result.exit_code == 2
    assert "--source-crs" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert counts(empty_db_url) == (0, 0, 0)


def test_import_reads_file_without_crs_given_source_crs(cli, empty_db_url, tmp_path):
    path = write(frame(admin_grids(), crs=None), tmp_path / "noprj.shp")
    result = run_import(cli, empty_db_url, path, "admin", "--source-crs", "wgs84", "--commit")
    assert result.exit_code == 0, result.output
    assert sorted(current_grids(empty_db_url)) == ADMIN_CODES


def test_source_crs_overrides_a_wrong_declared_crs(cli, empty_db_url, tmp_path):
    utm = frame(admin_grids(), crs="EPSG:32649")
    path = write(utm.set_crs("EPSG:4547", allow_override=True), tmp_path / "wrong.gpkg")
    result = run_import(cli, empty_db_url, path, "admin", "--source-crs", "32649", "--commit")
    assert result.exit_code == 0, result.output
    assert "declares EPSG:4547" in result.output
    geom = current_grids(empty_db_url)[ADMIN_CODES[0]]["geometry"]
    assert (
        shapely.hausdorff_distance(geom, dense_lonlat(rect_m(*VILLAGES[ADMIN_CODES[0]][1]))) < 1e-7
    )


@pytest.mark.parametrize("bad", ["EPSG:999999", "not-a-crs", "gcj02"])
def test_import_refuses_unknown_source_crs(cli, empty_db_url, tmp_path, bad):
    result = run_import(cli, empty_db_url, _geojson(tmp_path), "admin", "--source-crs", bad)
    assert result.exit_code == 2
    assert "--source-crs" in result.output and bad in result.output


def test_import_refuses_projected_coordinates_declared_as_lonlat(cli, empty_db_url, tmp_path):
    utm = frame(admin_grids(), crs="EPSG:32649").set_crs(4326, allow_override=True)
    path = write(utm, tmp_path / "mislabelled.gpkg")
    result = run_import(cli, empty_db_url, path, "admin", "--commit")
    assert result.exit_code == 2
    assert "not lon/lat" in result.output and "--source-crs" in result.output
    assert counts(empty_db_url) == (0, 0, 0)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32649"])
def test_import_repairs_bow_tie_and_reports_it(cli, empty_db_url, tmp_path, crs):
    gdf = frame(admin_grids(), crs=crs)
    x0, y0, x1, y1 = gdf.geometry.iloc[0].bounds
    gdf.loc[0, "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # a bow-tie
    path = write(gdf, tmp_path / "bowtie.gpkg")
    result = run_import(cli, empty_db_url, path, "admin", "--commit")
    assert result.exit_code == 0, result.output
    code = gdf.loc[0, "code"]
    assert f"feature {code}: repaired (Self-intersection" in result.output
    geom = current_grids(empty_db_url)[code]["geometry"]
    assert geom.is_valid and geom.geom_type == "MultiPolygon" and len(geom.geoms) == 2
    assert query(empty_db_url, "SELECT bool_and(ST_IsValid(geom)) FROM grids") == [(True,)]


def test_import_refuses_empty_geometries_by_feature(cli, empty_db_url, tmp_path):
    gdf = frame(admin_grids())
    features = json.loads(gdf.to_json())
    features["features"][0]["geometry"] = None
    features["features"][1]["geometry"] = {"type": "Polygon", "coordinates": []}
    path = tmp_path / "empty.geojson"
    path.write_text(json.dumps(features), encoding="utf-8")
    result = run_import(cli, empty_db_url, path, "admin", "--commit")
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    for code in ADMIN_CODES:
        assert f"feature {code}" in result.output
    assert "empty geometry" in result.output and "nothing imported" in result.output
    assert counts(empty_db_url) == (0, 0, 0)


def test_import_refuses_unrepairable_and_non_polygon_features(cli, empty_db_url, tmp_path):
    gdf = frame(admin_grids())
    x0, y0, *_ = gdf.geometry.iloc[0].bounds
    # A ring that collapses to a line.
    gdf.loc[0, "geometry"] = Polygon(
        [(x0, y0), (x0 + 1e-4, y0 + 1e-4), (x0 + 1e-4, y0 + 1e-4), (x0, y0)]
    )
    gdf.loc[1, "geometry"] = gdf.geometry.iloc[1].centroid
    path = write(gdf, tmp_path / "bad.gpkg")
    result = run_import(cli, empty_db_url, path, "admin", "--commit")
    assert result.exit_code == 2
    assert f"feature {gdf.loc[0, 'code']} (row 1): invalid" in result.output
    assert f"feature {gdf.loc[1, 'code']} (row 2): not a polygon (Point)" in result.output
    assert counts(empty_db_url) == (0, 0, 0)


def test_dry_run_writes_nothing(cli, empty_db_url, tmp_path):
    result = run_import(cli, empty_db_url, _geojson(tmp_path), "admin")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("dry run")
    assert f"town {TOWN} ({TOWN}) will be created" in result.output
    for code in ADMIN_CODES:
        assert f"added: {code}" in result.output
    assert "nothing written" in result.output
    assert counts(empty_db_url) == (0, 0, 0)


def test_import_creates_missing_town_from_union_with_holes_filled(cli, empty_db_url, tmp_path):
    rows = admin_grids()
    rows[0]["geometry"] = rows[0]["geometry"].difference(rect_m(900, 450, 1000, 550))
    path = write(frame(rows), tmp_path / "holed.geojson")
    result = run_import(cli, empty_db_url, path, "admin", "--commit", "--town-name", "巴公镇")
    assert result.exit_code == 0, result.output
    ((name, area, holes),) = query(
        empty_db_url,
        "SELECT name, ST_Area(geom::geography), ST_NumInteriorRings(ST_GeometryN(geom, 1)) "
        "FROM towns",
    )
    assert name == "巴公镇" and holes == 0
    assert area == pytest.approx(4000 * 1000, rel=0.01)


def test_import_into_empty_database_uses_town_code_option_for_free_codes(
    cli, empty_db_url, tmp_path
):
    rows = [dict(r, code=f"V{i}") for i, r in enumerate(admin_grids())]
    path = write(frame(rows), tmp_path / "free.geojson")
    result = run_import(cli, empty_db_url, path, "admin", "--town-code", "140525999", "--commit")
    assert result.exit_code == 0, result.output
    assert query(empty_db_url, "SELECT DISTINCT town_code FROM grids") == [("140525999",)]


def test_off_scheme_codes_are_kept_with_warnings(cli, empty_db_url, tmp_path):
    rows = admin_grids()
    rows[0]["code"] = "village-A"
    leaves = [dict(leaf_grids()[0], code="1405251082010001")]  # 16 digits
    write(frame(rows), tmp_path / "a.geojson")
    write(frame(leaves), tmp_path / "r.geojson")
    result = run_import(cli, empty_db_url, tmp_path / "a.geojson", "admin", "--commit")
    assert result.exit_code == 0, result.output
    assert "warning: code village-A does not follow the scheme for admin grids" in result.output
    result = run_import(cli, empty_db_url, tmp_path / "r.geojson", "regional", "--commit")
    assert result.exit_code == 0, result.output
    assert "warning: code 1405251082010001 does not follow the scheme" in result.output
    assert {"village-A", "1405251082010001"} <= set(current_grids(empty_db_url))


def test_leaf_parents_come_from_the_containing_admin_grid(cli, empty_db_url, tmp_path):
    write(frame(zones()), tmp_path / "z.geojson")
    write(frame(admin_grids()), tmp_path / "a.geojson")
    leaves = [dict(r, parent_code=None) for r in leaf_grids() if r["level"] == "service"]
    write(frame(leaves), tmp_path / "s.geojson")
    for name, level in (("z", "zone"), ("a", "admin"), ("s", "service")):
        result = run_import(cli, empty_db_url, tmp_path / f"{name}.geojson", level, "--commit")
        assert result.exit_code == 0, result.output
    grids = current_grids(empty_db_url)
    for leaf in leaves:
        assert grids[leaf["code"]]["parent_code"] == leaf["code"][:12] + "000"
        assert grids[leaf["code"]]["zone_code"] == "140525108V01"
    assert grids[ADMIN_CODES[0]]["zone_code"] == "140525108V01"


def test_parent_field_names_the_admin_grid(cli, empty_db_url, tmp_path):
    leaves = [dict(r, village=r["parent_code"]) for r in leaf_grids() if r["level"] == "regional"]
    write(frame(leaves), tmp_path / "r.geojson")
    result = run_import(
        cli,
        empty_db_url,
        tmp_path / "r.geojson",
        "regional",
        "--parent-field",
        "village",
        "--commit",
    )
    assert result.exit_code == 0, result.output
    # The admin grids are not imported yet: kept as given, validate reports them.
    assert "is not in the database; kept as given" in result.output
    grids = current_grids(empty_db_url)
    assert {g["parent_code"] for g in grids.values()} == set(ADMIN_CODES)


def test_reimport_versions_changed_grids_and_keeps_missing_ones(cli, empty_db_url, tmp_path):
    rows = admin_grids()
    write(frame(rows), tmp_path / "v1.geojson")
    assert (
        run_import(cli, empty_db_url, tmp_path / "v1.geojson", "admin", "--commit").exit_code == 0
    )
    changed = [
        dict(rows[0], geometry=rect_m(0, 0, 1900, 1000)),
        {"code": "140525108202000", "name": "新村", "geometry": rect_m(0, 1000, 500, 1500)},
    ]
    write(frame(changed), tmp_path / "v2.geojson")
    result = run_import(cli, empty_db_url, tmp_path / "v2.geojson", "admin", "--commit")
    assert result.exit_code == 0, result.output
    assert f"new version: {ADMIN_CODES[0]} 巴公二村 v1 -> v2 (geometry)" in result.output
    assert "added: 140525108202000" in result.output
    assert f"not in file, kept: {ADMIN_CODES[1]}" in result.output
    versions = query(
        empty_db_url,
        "SELECT version, valid_from, valid_to FROM grids WHERE code = %s ORDER BY version",
        (ADMIN_CODES[0],),
    )
    assert [v[0] for v in versions] == [1, 2]
    assert versions[0][2] == versions[1][1] and versions[1][2] is None
    assert sorted(current_grids(empty_db_url)) == sorted([*ADMIN_CODES, "140525108202000"])
    # The same file again changes nothing.
    again = run_import(cli, empty_db_url, tmp_path / "v2.geojson", "admin", "--commit")
    assert "0 added, 0 new version(s), 2 unchanged" in again.output


def test_level_column_selects_rows_of_the_level(cli, empty_db_url, tmp_path):
    mixed = frame(zones() + admin_grids() + leaf_grids())
    write(mixed, tmp_path / "mixed.geojson")
    result = run_import(cli, empty_db_url, tmp_path / "mixed.geojson", "admin", "--commit")
    assert result.exit_code == 0, result.output
    assert sorted(current_grids(empty_db_url)) == ADMIN_CODES


def _two_layers(tmp_path):
    return _geopackage(tmp_path)


@pytest.mark.parametrize(
    ("make", "args", "expected"),
    [
        (lambda p: p / "missing.geojson", [], "no such file"),
        (
            lambda p: (p / "junk.geojson").write_text("not json") and p / "junk.geojson",
            [],
            "cannot read",
        ),
        (_two_layers, [], "choose one with --layer"),
        (_two_layers, ["--layer", "nope"], "has no layer 'nope'"),
        (_geojson, ["--code-field", "village_code"], "no field 'village_code'"),
        (_geojson, ["--name-field", "title"], "no field 'title'"),
        (_geojson, ["--parent-field", "up"], "no field 'up'"),
        (_geojson, ["--town-code", "1234567890123"], "--town-code"),
    ],
)
def test_import_refuses_bad_input_with_one_line(cli, empty_db_url, tmp_path, make, args, expected):
    result = run_import(cli, empty_db_url, make(tmp_path), "admin", *args, "--commit")
    assert result.exit_code == 2
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert counts(empty_db_url) == (0, 0, 0)


def test_many_refusals_are_each_listed_and_summed_up_in_one_line(cli, empty_db_url, tmp_path):
    rows = [dict(admin_grids()[0], code=f"140525108{200 + i:03d}000") for i in range(8)]
    gdf = frame(rows)
    gdf["geometry"] = None
    path = write(gdf, tmp_path / "empty.geojson")
    result = run_import(cli, empty_db_url, path, "admin")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert sum(line.startswith("refused: ") for line in lines) == 8
    assert (
        lines[-1].startswith("Error: 8 feature(s) of empty.geojson refused")
        and "and 3 more" in lines[-1]
    )


def test_import_refuses_duplicate_codes_and_missing_codes(cli, empty_db_url, tmp_path):
    rows = admin_grids() + [dict(admin_grids()[0])] + [dict(admin_grids()[1], code=None)]
    write(frame(rows), tmp_path / "dup.geojson")
    result = run_import(cli, empty_db_url, tmp_path / "dup.geojson", "admin", "--commit")
    assert result.exit_code == 2
    assert "code repeats row 1" in result.output and "row 4: no code" in result.output
    assert counts(empty_db_url) == (0, 0, 0)


def test_import_refuses_unknown_level(cli, empty_db_url, tmp_path):
    result = run_import(cli, empty_db_url, _geojson(tmp_path), "village")
    assert result.exit_code == 2
    assert "village" in result.output


def test_import_refuses_level_absent_from_level_column(cli, empty_db_url, tmp_path):
    write(frame(admin_grids()), tmp_path / "a.geojson")
    gdf = gpd.read_file(tmp_path / "a.geojson")
    write(gdf, tmp_path / "a2.geojson")
    result = run_import(cli, empty_db_url, tmp_path / "a2.geojson", "service")
    assert result.exit_code == 2
    assert "no 'service' rows" in result.output


def test_zone_kind_follows_the_code(cli, empty_db_url, tmp_path):
    rows = zones() + [
        {
            "code": "140525108E01",
            "name": "装备制造园区",
            "level": "zone",
            "geometry": rect_m(5000, 0, 6000, 1000),
        }
    ]
    write(frame(rows), tmp_path / "z.geojson")
    result = run_import(cli, empty_db_url, tmp_path / "z.geojson", "zone", "--commit")
    assert result.exit_code == 0, result.output
    kinds = dict(query(empty_db_url, "SELECT code, kind FROM zones"))
    assert kinds == {"140525108V01": "village", "140525108E01": "enterprise"}


def test_import_repairs_a_real_invalid_outline(cli, empty_db_url):
    """The county outline shipped with the demo data is invalid as published (DOMAIN.md)."""
    outline = Path(__file__).resolve().parents[1] / "demo" / "data" / "zezhou_county.geojson"
    result = run_import(
        cli, empty_db_url, outline, "zone", "--code-field", "adcode", "--town-code", "140525",
        "--commit",
    )
    assert result.exit_code == 0, result.output
    assert "feature 140525: repaired (Ring Self-intersection" in result.output
    assert query(empty_db_url, "SELECT code, ST_IsValid(geom) FROM zones") == [("140525", True)]
