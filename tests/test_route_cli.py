"""``gridgov route``: bulk routing of CSV, GeoJSON, GeoPackage and Shapefile files, checked
against a plain PostGIS ST_Covers join on the demo."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from db.session import engine_for
from geo import gcj02
from tests.test_locate import SHARED_SEGMENTS

N_RANDOM = 20_000
LEAF = "('regional', 'service')"

# What PostGIS says, point by point: the covering leaf grid with the smallest code, its admin
# grid and whether the point is on its boundary. Read-only: the demo stays as it is.
POSTGIS_ROUTE = f"""
SELECT t.i, l.code, l.parent_code, COALESCE(l.on_edge, false) AS on_edge
FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS t(x, y, i)
LEFT JOIN LATERAL (
    SELECT g.code, g.parent_code,
           ST_Intersects(ST_Boundary(g.geom), ST_SetSRID(ST_MakePoint(t.x, t.y), 4326)) AS on_edge
    FROM grids g
    WHERE g.level IN {LEAF} AND g.valid_to IS NULL
      AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(t.x, t.y), 4326))
    ORDER BY g.code LIMIT 1
) l ON true
ORDER BY t.i
"""


def postgis_route(url: str, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    with Session(engine_for(url)) as s:
        rows = s.execute(text(POSTGIS_ROUTE), {"xs": lon.tolist(), "ys": lat.tolist()}).all()
    return pd.DataFrame(rows, columns=["i", "grid_code", "admin_code", "on_boundary"])


@pytest.fixture(scope="module")
def points(demo_db_url) -> pd.DataFrame:
    """20,000 random points over the town's extent and beyond, plus points on shared edges
    and vertices that PostGIS says are covered by (and on the boundary of) every grid there."""
    with Session(engine_for(demo_db_url)) as s:
        minx, miny, maxx, maxy = s.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom)::geometry AS e FROM towns) t")).one()
        edges = s.execute(text(f"""
            WITH c AS ({SHARED_SEGMENTS}),
            p AS (SELECT a, b, ST_LineInterpolatePoint(seg, 0.5) AS pt FROM c
                  WHERE ST_Length(seg) > 1e-5)
            SELECT ST_X(pt), ST_Y(pt) FROM p
            JOIN grids ga ON ga.code = p.a AND ga.valid_to IS NULL
            JOIN grids gb ON gb.code = p.b AND gb.valid_to IS NULL
            WHERE ST_Covers(ga.geom, pt) AND ST_Covers(gb.geom, pt)
              AND ST_Intersects(ST_Boundary(ga.geom), pt) AND ST_Intersects(ST_Boundary(gb.geom), pt)
            ORDER BY a, b LIMIT 150""")).all()
        vertices = s.execute(text(f"""
            SELECT DISTINCT ST_X(pt), ST_Y(pt) FROM (
              SELECT (ST_DumpPoints(geom)).geom AS pt FROM grids
              WHERE level IN {LEAF} AND valid_to IS NULL ORDER BY code LIMIT 3000) v
            ORDER BY 1, 2 LIMIT 300""")).all()
    assert len(edges) > 20 and len(vertices) > 100
    rng = np.random.default_rng(20)
    lon = np.concatenate([rng.uniform(minx - 0.01, maxx + 0.01, N_RANDOM),
                          [e[0] for e in edges], [v[0] for v in vertices]])
    lat = np.concatenate([rng.uniform(miny - 0.01, maxy + 0.01, N_RANDOM),
                          [e[1] for e in edges], [v[1] for v in vertices]])
    frame = pd.DataFrame({
        "id": np.arange(len(lon)),
        "note": [f"第{i}号 \"报告\", 含逗号" for i in range(len(lon))],
        "code": ["007"] * len(lon),
        "lon": lon,
        "lat": lat,
    })
    return frame


@pytest.fixture(scope="module")
def expected(demo_db_url, points) -> pd.DataFrame:
    return postgis_route(demo_db_url, points["lon"].to_numpy(), points["lat"].to_numpy())


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)  # floats as repr: exact
    return path


def write_ogr(frame: pd.DataFrame, path: Path, crs: str | None = "EPSG:4326") -> Path:
    gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]),
                           geometry=shapely.points(frame["lon"], frame["lat"]), crs=crs)
    options = {"layer_options": {"SIGNIFICANT_FIGURES": 17}} if path.suffix == ".geojson" else {}
    pyogrio.write_dataframe(gdf, path, **options)
    return path


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"code": str, "grid_code": str, "admin_code": str},
                           keep_default_na=False)
    frame = pyogrio.read_dataframe(path)
    return frame.rename(columns={"on_boundar": "on_boundary"})


def text_column(values) -> list[str]:
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]


def assert_routed_like_postgis(out: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(out) == len(expected)
    assert text_column(out["grid_code"]) == text_column(expected["grid_code"])
    assert text_column(out["admin_code"]) == text_column(expected["admin_code"])
    assert [str(v).lower() for v in out["on_boundary"]] == [
        str(v).lower() for v in expected["on_boundary"]]
    assert [str(v).lower() for v in out["outside"]] == [
        str(v).lower() for v in expected["grid_code"].isna()]


@pytest.mark.parametrize("ext", [".csv", ".geojson", ".gpkg", ".shp"])
def test_a_csv_is_routed_into_every_format_keeping_its_columns(cli, demo_db_url, tmp_path, points,
                                                               expected, ext):
    source = write_csv(points, tmp_path / "points.csv")
    result = cli(demo_db_url, "route", str(source), str(tmp_path / f"routed{ext}"))
    assert result.exit_code == 0, result.output
    out = read_output(tmp_path / f"routed{ext}")
    added = ["grid_code", "admin_code", "on_boundar" if ext == ".shp" else "on_boundary", "outside"]
    if ext != ".csv":
        fields = list(pyogrio.read_info(tmp_path / f"routed{ext}")["fields"])
        assert fields == ["id", "note", "code", "lon", "lat", *added]
    assert list(out.columns[:5]) == ["id", "note", "code", "lon", "lat"]
    assert text_column(out["note"]) == points["note"].tolist()
    assert text_column(out["code"]) == ["007"] * len(points)
    assert_routed_like_postgis(out, expected)
    assert expected["on_boundary"].sum() > 100  # the edge and vertex points are in there
    if ext != ".csv":
        xy = shapely.get_coordinates(out.geometry.array)
        assert np.array_equal(xy[:, 0], points["lon"]) and np.array_equal(xy[:, 1], points["lat"])
    assert f"{len(points)} rows" in result.output and "wrote" in result.output


@pytest.mark.parametrize("ext", [".geojson", ".gpkg", ".shp"])
def test_a_point_layer_is_routed_to_csv_keeping_its_columns(cli, demo_db_url, tmp_path, points,
                                                            expected, ext):
    source = write_ogr(points, tmp_path / f"points{ext}")
    result = cli(demo_db_url, "route", str(source), str(tmp_path / "routed.csv"))
    assert result.exit_code == 0, result.output
    out = read_output(tmp_path / "routed.csv")
    assert list(out.columns) == ["id", "note", "code", "geometry", "grid_code", "admin_code",
                                 "on_boundary", "outside"]
    assert out["id"].tolist() == points["id"].tolist()
    assert text_column(out["note"]) == points["note"].tolist()
    assert_routed_like_postgis(out, expected)
    xy = shapely.get_coordinates(shapely.from_wkt(out["geometry"].tolist()))
    assert np.array_equal(xy[:, 0], points["lon"])


def test_small_chunks_give_the_same_file_as_one_chunk(cli, demo_db_url, tmp_path, points):
    source = write_csv(points.iloc[:5000], tmp_path / "points.csv")
    assert cli(demo_db_url, "route", str(source), str(tmp_path / "one.csv")).exit_code == 0
    result = cli(demo_db_url, "route", str(source), str(tmp_path / "many.csv"), "--chunk-size", "333")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_phone_coordinates_are_converted_before_routing(cli, demo_db_url, tmp_path, points,
                                                        expected, crs):
    forward = gcj02.wgs84_to_gcj02 if crs == "gcj02" else gcj02.wgs84_to_bd09
    shifted = points.iloc[:N_RANDOM].copy()  # random points: none within a millimetre of an edge
    shifted["lon"], shifted["lat"] = forward(shifted["lon"].to_numpy(), shifted["lat"].to_numpy())
    source = write_csv(shifted, tmp_path / "phone.csv")
    unconverted = cli(demo_db_url, "route", str(source), str(tmp_path / "raw.csv"))
    result = cli(demo_db_url, "route", str(source), str(tmp_path / "converted.csv"),
                 "--source-crs", crs)
    assert unconverted.exit_code == 0 and result.exit_code == 0, result.output
    truth = text_column(expected["grid_code"].iloc[:N_RANDOM])
    raw = text_column(read_output(tmp_path / "raw.csv")["grid_code"])
    assert sum(a != b for a, b in zip(raw, truth, strict=True)) > N_RANDOM // 10
    assert text_column(read_output(tmp_path / "converted.csv")["grid_code"]) == truth


def test_a_crs_column_converts_row_by_row(cli, demo_db_url, tmp_path, points, expected):
    rows = points.iloc[:2000].copy()
    lon, lat = gcj02.wgs84_to_gcj02(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    odd = np.arange(len(rows)) % 2 == 1
    rows.loc[odd, "lon"], rows.loc[odd, "lat"] = lon[odd], lat[odd]
    rows["crs"] = np.where(odd, "gcj02", "")
    source = write_csv(rows, tmp_path / "mixed.csv")
    result = cli(demo_db_url, "route", str(source), str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.output
    out = read_output(tmp_path / "out.csv")
    assert text_column(out["grid_code"]) == text_column(expected["grid_code"].iloc[:2000])
    assert text_column(out["crs"]) == rows["crs"].tolist()


def test_rows_without_a_usable_point_are_kept_marked_outside_and_counted(cli, demo_db_url, tmp_path):
    source = tmp_path / "bad_rows.csv"
    source.write_text("id,lon,lat,crs\n1,112.87,35.64,\n2,,35.64,\n3,abc,35.64,\n4,112.87,95,\n"
                      "5,112.87,35.64,mars\n", encoding="utf-8")
    result = cli(demo_db_url, "route", str(source), str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.output
    out = read_output(tmp_path / "out.csv")
    assert out["outside"].tolist() == [False, True, True, True, True]
    assert out["grid_code"].tolist()[1:] == ["", "", "", ""]
    assert "4 rows without a usable point" in result.output
    assert "row 2: no number in lon/lat" in result.output and "unknown crs 'mars'" in result.output


def test_a_csv_with_only_a_header_gives_a_csv_with_only_a_header(cli, demo_db_url, tmp_path):
    source = tmp_path / "empty.csv"
    source.write_text("id,lon,lat\n", encoding="utf-8")
    result = cli(demo_db_url, "route", str(source), str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.csv").read_text().splitlines() == [
        "id,lon,lat,grid_code,admin_code,on_boundary,outside"]


def test_a_gbk_csv_is_read(cli, demo_db_url, tmp_path, points, expected):
    source = tmp_path / "gbk.csv"
    points.iloc[:50].to_csv(source, index=False, encoding="gbk")
    result = cli(demo_db_url, "route", str(source), str(tmp_path / "out.csv"))
    assert result.exit_code == 0, result.output
    assert "GB 18030" in result.output
    assert text_column(read_output(tmp_path / "out.csv")["note"]) == points["note"].iloc[:50].tolist()


def _shapefile_without_prj(tmp_path: Path, points: pd.DataFrame) -> Path:
    path = write_ogr(points.iloc[:10], tmp_path / "noprj.shp")
    path.with_suffix(".prj").unlink()
    return path


def _polygons(tmp_path: Path, points: pd.DataFrame) -> Path:
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.box(112.8, 35.6, 112.9, 35.7)], crs=4326)
    pyogrio.write_dataframe(gdf, tmp_path / "polygons.gpkg")
    return tmp_path / "polygons.gpkg"


def _two_layers(tmp_path: Path, points: pd.DataFrame) -> Path:
    path = write_ogr(points.iloc[:10], tmp_path / "two.gpkg")
    gdf = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.Point(112.9, 35.6)], crs=4326)
    pyogrio.write_dataframe(gdf, path, layer="other")
    return path


@pytest.mark.parametrize(
    ("make_input", "output", "extra", "message"),
    [
        (lambda d, p: d / "missing.csv", "out.csv", [], "no such file"),
        (lambda d, p: write_csv(p.iloc[:10], d / "in.csv"), "out.txt", [], "must end in"),
        (lambda d, p: write_csv(p.iloc[:10], d / "in.csv"), "out.csv", ["--lon-field", "x"],
         "no column 'x'"),
        (lambda d, p: write_csv(p.iloc[:10], d / "in.csv"), "out.csv", ["--source-crs", "mars"],
         "--source-crs"),
        (lambda d, p: write_csv(p.iloc[:10], d / "in.csv"), "in.csv", [], "is the input"),
        (lambda d, p: write_csv(p.iloc[:10], d / "in.csv"), "nodir/out.csv", [], "no such directory"),
        (_shapefile_without_prj, "out.csv", [], "--source-crs"),
        (_polygons, "out.csv", [], "takes points"),
        (_two_layers, "out.csv", [], "--layer"),
        (lambda d, p: (d / "junk.gpkg").write_bytes(b"not a geopackage") and d / "junk.gpkg",
         "out.csv", [], "cannot read"),
    ],
    ids=["missing", "extension", "no-column", "bad-crs", "same-file", "no-dir", "no-crs",
         "polygons", "two-layers", "unreadable"],
)
def test_bad_inputs_are_one_line_errors_with_exit_2(cli, demo_db_url, tmp_path, points,
                                                    make_input, output, extra, message):
    source = make_input(tmp_path, points)
    result = cli(demo_db_url, "route", str(source), str(tmp_path / output), *extra)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    if output != "in.csv":
        assert not (tmp_path / output).exists()


def test_a_shapefile_without_crs_is_read_with_source_crs(cli, demo_db_url, tmp_path, points, expected):
    source = _shapefile_without_prj(tmp_path, points)
    result = cli(demo_db_url, "route", str(source), str(tmp_path / "out.csv"), "--source-crs", "wgs84")
    assert result.exit_code == 0, result.output
    assert text_column(read_output(tmp_path / "out.csv")["grid_code"]) == \
        text_column(expected["grid_code"].iloc[:10])
