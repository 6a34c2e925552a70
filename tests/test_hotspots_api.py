"""Hot spots through the API (cases in the database) and the CLI (any point file)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
from shapely.geometry import Point

from cases.hotspots import MAX_CELL_PERMUTATIONS, TooManyCells, check_work, min_cell_size_m
from db.session import conninfo
from geo.hotspots import DEFAULT_PERMUTATIONS
from tests.accounts_support import operator_client
from tests.openapi_support import assert_documented

CENTRE = (112.872, 35.638)


@pytest.fixture
def client(demo_db_url):
    return operator_client({"DATABASE_URL": demo_db_url})


def test_hotspots_api_counts_every_case_and_classes_cells(client, demo_db_url):
    res = client.get("/api/v1/hotspots?cell_size=500&aggregate=routed")
    assert res.status_code == 200
    assert_documented("GET", "/api/v1/hotspots", res)  # the cells, and the tally per grid
    body = res.get_json()
    with psycopg.connect(conninfo(demo_db_url)) as conn:
        total = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    assert body["properties"]["cases"] == total
    assert sum(f["properties"]["count"] for f in body["features"]) <= total
    assert sum(f["properties"]["count"] for f in body["features"]) > total * 0.95
    for f in body["features"]:
        props = f["properties"]
        assert set(props) == {"count", "z", "p", "p_sim", "class"}
        assert 0 < props["p"] <= 1
        assert props["class"] in {"not_significant", "hot_90", "hot_95", "hot_99", "cold_90", "cold_95", "cold_99"}
        if props["class"].startswith("hot"):
            assert props["z"] > 0
    # the demo's cases cluster around homes and hotspots: something is significant
    assert body["properties"]["classes"].get("hot_99", 0) > 0


def test_hotspots_api_filters_and_is_reproducible(client, demo_db_url):
    url = "/api/v1/hotspots?category=hazard&since=2020-01-01&cell_size=400"
    a, b = client.get(url).get_json(), client.get(url).get_json()
    assert a == b
    with psycopg.connect(conninfo(demo_db_url)) as conn:
        n = conn.execute("SELECT count(*) FROM cases WHERE category_code LIKE 'hazard.%%'").fetchone()[0]
    assert a["properties"]["cases"] == n


@pytest.mark.parametrize(
    "query, error",
    [
        ("category=nonsense", "unknown_category"),
        ("cell_size=5", "invalid_query"),
        ("cell_size=abc", "invalid_query"),
        ("since=2025-13-01", "invalid_query"),
        ("since=2025-05-01&until=2025-04-01", "invalid_query"),
    ],
)
def test_hotspots_api_refuses_bad_filters(client, query, error):
    res = client.get(f"/api/v1/hotspots?{query}")
    assert res.status_code == 422
    assert res.get_json()["error"] == error


def test_hotspots_api_refuses_a_cell_too_small_for_the_town_and_names_the_smallest(client):
    """A tiny cell over the whole town once ran past 20 s: the work is counted before it is
    done, and the answer names the smallest cell size that fits."""
    res = client.get("/api/v1/hotspots?cell_size=25")
    assert res.status_code == 422
    body = res.get_json()
    assert body["error"] == "too_many_cells"
    details = body["details"]
    assert details["cells"] > details["max_cells"] == MAX_CELL_PERMUTATIONS // DEFAULT_PERMUTATIONS
    smallest = details["min_cell_size_m"]
    assert 25 < smallest <= 5000 and smallest.is_integer()
    assert f"{smallest:g} m" in body["message"]
    # the smallest is allowed and its cells fit; a metre less is not
    fits = client.get(f"/api/v1/hotspots?cell_size={smallest:g}")
    assert fits.status_code == 200, fits.get_json()
    assert fits.get_json()["properties"]["cell_size_m"] == smallest
    assert len(fits.get_json()["features"]) <= details["max_cells"]
    below = client.get(f"/api/v1/hotspots?cell_size={smallest - 1:g}")
    assert below.status_code == 422 and below.get_json()["details"]["min_cell_size_m"] == smallest


@pytest.mark.parametrize("width_m, height_m", [(15_000, 15_000), (15_000, 400), (300, 300), (40_000, 9_000)])
def test_smallest_cell_size_is_the_smallest_that_fits(width_m, height_m):
    smallest = min_cell_size_m(width_m, height_m)
    check_work(width_m, height_m, smallest)  # fits
    if smallest > 25:
        with pytest.raises(TooManyCells) as refused:
            check_work(width_m, height_m, smallest - 1)
        assert refused.value.details["min_cell_size_m"] == smallest


def _planted_points(seed: int = 1):
    rng = np.random.default_rng(seed)
    lon = rng.uniform(112.82, 112.93, 8000)
    lat = rng.uniform(35.60, 35.67, 8000)
    lon = np.r_[lon, rng.normal(CENTRE[0], 0.0015, 500)]
    lat = np.r_[lat, rng.normal(CENTRE[1], 0.0015, 500)]
    return lon, lat


def test_hotspots_cli_finds_a_planted_cluster_in_a_csv(cli, empty_db_url, tmp_path):
    lon, lat = _planted_points()
    pd.DataFrame({"lon": lon, "lat": lat, "id": range(len(lon))}).to_csv(tmp_path / "p.csv", index=False)
    out = tmp_path / "hot.geojson"
    result = cli(empty_db_url, "hotspots", str(tmp_path / "p.csv"), str(out), "--cell-size", "300")
    assert result.exit_code == 0, result.output
    cells = json.loads(out.read_text())
    hot = [f for f in cells["features"] if f["properties"]["class"] == "hot_99"]
    assert hot
    for f in hot:
        ring = np.array(f["geometry"]["coordinates"][0])
        cx, cy = ring[:4].mean(axis=0)
        assert abs(cx - CENTRE[0]) < 0.01 and abs(cy - CENTRE[1]) < 0.01


def test_hotspots_cli_reads_a_projected_geopackage_with_weights(cli, empty_db_url, tmp_path):
    lon, lat = _planted_points(2)
    frame = gpd.GeoDataFrame({"w": np.ones(len(lon)) * 2.0}, geometry=[Point(x, y) for x, y in zip(lon, lat)],
                             crs="EPSG:4326").to_crs("EPSG:4547")
    frame.to_file(tmp_path / "p.gpkg", layer="points")
    out = tmp_path / "hot.geojson"
    result = cli(empty_db_url, "hotspots", str(tmp_path / "p.gpkg"), str(out), "--weight-field", "w",
                 "--cell-size", "300")
    assert result.exit_code == 0, result.output
    cells = json.loads(out.read_text())
    assert sum(f["properties"]["count"] for f in cells["features"]) == pytest.approx(2.0 * len(lon))
    lon0, lat0 = np.array(cells["features"][0]["geometry"]["coordinates"][0][0])
    assert 112.7 < lon0 < 113.0 and 35.5 < lat0 < 35.8  # written back in EPSG:4326


def test_hotspots_cli_refuses_bad_input(cli, empty_db_url, tmp_path):
    lon, lat = _planted_points(3)
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # exactly the file we want
        gpd.GeoDataFrame(geometry=[Point(x, y) for x, y in zip(lon, lat)]).to_file(tmp_path / "nocrs.shp")
    out = tmp_path / "o.geojson"
    no_crs = cli(empty_db_url, "hotspots", str(tmp_path / "nocrs.shp"), str(out))
    assert no_crs.exit_code != 0 and "--source-crs" in no_crs.output
    missing = cli(empty_db_url, "hotspots", str(tmp_path / "nope.csv"), str(out))
    assert missing.exit_code != 0 and "no such file" in missing.output
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    no_column = cli(empty_db_url, "hotspots", str(tmp_path / "bad.csv"), str(out))
    assert no_column.exit_code != 0 and "'lon'" in no_column.output
    pd.DataFrame({"lon": lon, "lat": lat}).to_csv(tmp_path / "ok.csv", index=False)
    no_weight = cli(empty_db_url, "hotspots", str(tmp_path / "ok.csv"), str(out), "--weight-field", "w")
    assert no_weight.exit_code != 0 and "weight field" in no_weight.output
    wrong_ext = cli(empty_db_url, "hotspots", str(tmp_path / "ok.csv"), str(tmp_path / "o.csv"))
    assert wrong_ext.exit_code != 0 and ".geojson" in wrong_ext.output
    assert not out.exists()
