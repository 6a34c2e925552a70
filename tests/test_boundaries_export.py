"""`gridgov boundaries export`: every level in one file, read back by `import`."""

from __future__ import annotations

import os
from itertools import count

import geopandas as gpd
import pyogrio
import pytest
import shapely

from tests.boundary_data import (
    TOWN,
    VILLAGES,
    current_grids,
    import_all,
    leaf_grids,
    query,
    staff_all,
)

_names = count()
LEVELS = ("zone", "admin", "regional", "service")


@pytest.fixture
def other_db_url(pg_server, template_db):
    """A second fresh database, to import an export into."""
    name = f"gridgov_test_other_{os.getpid()}_{next(_names)}"
    url = pg_server.create_database(name, template=template_db)
    yield url
    pg_server.drop_database(name)


def zones_of(url) -> dict[str, tuple]:
    rows = query(
        url,
        "SELECT code, name, kind, town_code, version, ST_AsBinary(geom) FROM zones "
        "WHERE valid_to IS NULL",
    )
    return {r[0]: (r[1], r[2], r[3], r[4], shapely.from_wkb(bytes(r[5]))) for r in rows}


def assert_same_hierarchy(a_url, b_url):
    a, b = current_grids(a_url), current_grids(b_url)
    assert sorted(a) == sorted(b)
    for code, grid in a.items():
        other = b[code]
        for key in ("level", "name", "parent_code", "zone_code"):
            assert grid[key] == other[key], (code, key)
        assert shapely.hausdorff_distance(grid["geometry"], other["geometry"]) < 1e-9
    za, zb = zones_of(a_url), zones_of(b_url)
    assert sorted(za) == sorted(zb)
    for code in za:
        assert za[code][:3] == zb[code][:3]
        assert shapely.hausdorff_distance(za[code][4], zb[code][4]) < 1e-9
    assert query(a_url, "SELECT code, name FROM towns") == query(
        b_url, "SELECT code, name FROM towns"
    )
    town_a, town_b = (query(u, "SELECT ST_AsBinary(geom) FROM towns")[0][0] for u in (a_url, b_url))
    assert (
        shapely.hausdorff_distance(shapely.from_wkb(bytes(town_a)), shapely.from_wkb(bytes(town_b)))
        < 1e-9
    )


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
@pytest.mark.parametrize("parents", ["parent_field", "containment"])
def test_export_then_import_round_trips_the_hierarchy(
    cli, empty_db_url, other_db_url, tmp_path, suffix, parents
):
    import_all(cli, empty_db_url, tmp_path)
    exported = tmp_path / f"bagong{suffix}"
    result = cli(empty_db_url, "boundaries", "export", str(exported))
    assert result.exit_code == 0, result.output
    assert "1 town, 1 zone, 2 admin, 4 regional, 4 service" in result.output
    for level in LEVELS:
        extra = ["--parent-field", "parent_code"] if parents == "parent_field" else []
        result = cli(
            other_db_url,
            "boundaries",
            "import",
            str(exported),
            "--level",
            level,
            "--commit",
            *extra,
        )
        assert result.exit_code == 0, result.output
        assert "warning" not in result.output
    assert_same_hierarchy(empty_db_url, other_db_url)
    # Importing the export back into its source changes nothing.
    for level in LEVELS:
        again = cli(empty_db_url, "boundaries", "import", str(exported), "--level", level)
        assert "0 added, 0 new version(s)" in again.output, again.output


def test_export_writes_the_design_columns_and_every_level(cli, empty_db_url, tmp_path):
    import_all(cli, empty_db_url, tmp_path)
    path = tmp_path / "out.gpkg"
    assert cli(empty_db_url, "boundaries", "export", str(path)).exit_code == 0
    assert [name for name, _ in pyogrio.list_layers(path)] == ["boundaries"]
    gdf = pyogrio.read_dataframe(path)
    assert list(gdf.columns) == [
        "code",
        "name",
        "level",
        "parent_code",
        "zone_code",
        "version",
        "geometry",
    ]
    assert gdf.crs.to_epsg() == 4326
    by_code = gdf.set_index("code")
    assert by_code.loc[TOWN, "level"] == "town"
    assert by_code.loc["140525108V01", ["level", "parent_code"]].tolist() == ["zone", TOWN]
    for code in VILLAGES:
        assert by_code.loc[code, ["level", "parent_code", "zone_code"]].tolist() == [
            "admin",
            "140525108V01",
            "140525108V01",
        ]
    for leaf in leaf_grids():
        row = by_code.loc[leaf["code"]]
        assert (row["level"], row["parent_code"], row["version"]) == (
            leaf["level"],
            leaf["parent_code"],
            1,
        )
    assert set(gdf.geometry.geom_type) == {"MultiPolygon"}


def test_export_versions_are_the_current_ones(cli, empty_db_url, tmp_path):
    import_all(cli, empty_db_url, tmp_path)
    path = tmp_path / "out.geojson"
    cli(empty_db_url, "boundaries", "export", str(path))
    edited = gpd.read_file(path)
    edited = edited[edited["level"] == "service"].copy()
    edited.loc[edited.index[0], "name"] = "改名"
    edited.to_file(tmp_path / "renamed.geojson")
    result = cli(
        empty_db_url,
        "boundaries",
        "import",
        str(tmp_path / "renamed.geojson"),
        "--level",
        "service",
        "--commit",
    )
    assert "1 new version(s), 3 unchanged" in result.output, result.output
    cli(empty_db_url, "boundaries", "export", str(path))
    versions = dict(zip(*[gpd.read_file(path)[c] for c in ("code", "version")], strict=True))
    assert versions[edited.iloc[0]["code"]] == 2
    assert sum(1 for v in versions.values() if v == 2) == 1


@pytest.mark.parametrize("suffix", [".shp", ".shp.zip", ".kml", ".fgb"])
def test_other_export_formats_are_read_back(cli, empty_db_url, other_db_url, tmp_path, suffix):
    import_all(cli, empty_db_url, tmp_path)
    staff_all(empty_db_url)
    path = tmp_path / f"out{suffix}"
    result = cli(empty_db_url, "boundaries", "export", str(path))
    assert result.exit_code == 0, result.output
    for level in LEVELS:
        result = cli(
            other_db_url,
            "boundaries",
            "import",
            str(path),
            "--level",
            level,
            "--parent-field",
            "parent_code",
            "--commit",
        )
        assert result.exit_code == 0, result.output
    a, b = current_grids(empty_db_url), current_grids(other_db_url)
    assert {c: (g["level"], g["parent_code"]) for c, g in a.items()} == {
        c: (g["level"], g["parent_code"]) for c, g in b.items()
    }
    for code in a:
        assert shapely.hausdorff_distance(a[code]["geometry"], b[code]["geometry"]) < 1e-7


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("out.txt", "cannot tell the format"),
        ("missing-dir/out.gpkg", "no directory"),
    ],
)
def test_export_refuses_bad_paths_with_one_line(cli, empty_db_url, tmp_path, name, expected):
    import_all(cli, empty_db_url, tmp_path)
    result = cli(empty_db_url, "boundaries", "export", str(tmp_path / name))
    assert result.exit_code == 2
    assert expected in result.output and len(result.output.strip().splitlines()) == 1


def test_export_of_an_empty_database_is_refused(cli, empty_db_url, tmp_path):
    result = cli(empty_db_url, "boundaries", "export", str(tmp_path / "out.gpkg"))
    assert result.exit_code == 2
    assert "nothing to export" in result.output
    assert not (tmp_path / "out.gpkg").exists()
