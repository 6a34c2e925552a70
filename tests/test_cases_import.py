"""``gridgov cases import``: historical cases from a file, routed and given deadlines."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from cases.calendar import load_calendar
from cases.deadlines import LOCAL_TZ, deadline_at
from db.session import engine_for
from geo import gcj02


def counts(url: str) -> tuple[int, int]:
    with Session(engine_for(url)) as s:
        return (s.execute(text("SELECT count(*) FROM cases")).scalar_one(),
                s.execute(text("SELECT count(*) FROM case_events")).scalar_one())


@pytest.fixture(scope="module")
def homes(demo_db_url) -> list[tuple[float, float, str]]:
    """Address points of the demo and the leaf grid each lies in."""
    with Session(engine_for(demo_db_url)) as s:
        return [tuple(r) for r in s.execute(text(
            "SELECT DISTINCT ON (grid_code) ST_X(geom), ST_Y(geom), grid_code FROM addresses "
            "ORDER BY grid_code, id LIMIT 40"))]


def history(homes, n: int = 30) -> pd.DataFrame:
    rows = []
    for i in range(n):
        lon, lat, _ = homes[i]
        rows.append({
            "category": ["patrol.street_light", "dispute.neighbours", "巡检巡查"][i % 3],
            "description": f"历史案件 {i}" if i % 4 else "",
            "created_at": f"2025-03-{1 + i % 28:02d}T{8 + i % 10:02d}:15:00",
            "status": ["closed", "evaluated", ""][i % 3],
            "channel": ["patrol", "hotline", ""][i % 3],
            "closed_at": f"2025-04-{1 + i % 28:02d}T10:00:00+08:00" if i % 3 != 2 else "",
            "satisfaction": ["满意", "very_satisfied", ""][i % 3],
            "address": f"渠头村东大街{i}号",
            "lon": lon,
            "lat": lat,
        })
    return pd.DataFrame(rows)


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_a_dry_run_reports_and_writes_nothing(cli, demo_copy_url, tmp_path, homes):
    before = counts(demo_copy_url)
    result = cli(demo_copy_url, "cases", "import", str(write(history(homes), tmp_path / "h.csv")))
    assert result.exit_code == 0, result.output
    assert "would import 30 cases" in result.output and "dry run" in result.output
    assert counts(demo_copy_url) == before


def test_commit_loads_every_row_routed_with_deadlines_and_an_event(cli, demo_copy_url, tmp_path, homes):
    frame = history(homes)
    before = counts(demo_copy_url)
    result = cli(demo_copy_url, "cases", "import", str(write(frame, tmp_path / "h.csv")), "--commit")
    assert result.exit_code == 0, result.output
    assert "imported 30 cases" in result.output
    assert counts(demo_copy_url) == (before[0] + 30, before[1] + 30)
    with Session(engine_for(demo_copy_url)) as s:
        rows = s.execute(text(
            "SELECT c.*, ST_X(c.geom) AS x, ST_Y(c.geom) AS y, l.limit_value, l.limit_unit, "
            "e.type AS event, e.to_status AS event_status, e.data AS event_data "
            "FROM cases c JOIN categories l ON l.code = c.category_code "
            "JOIN case_events e ON e.case_id = c.id "
            "WHERE c.idempotency_key LIKE 'import:%' ORDER BY c.id")).mappings().all()
        calendar = load_calendar(s)
    assert len(rows) == 30
    for i, row in enumerate(rows):
        lon, lat, grid = homes[i]
        assert (row["x"], row["y"]) == (lon, lat)
        assert row["grid_code"] == grid and row["admin_code"] == grid[:12] + "000"
        assert row["town_code"] == "140525108" and row["queue"] == "grid"
        assert row["grid_version"] == 1 and row["on_boundary"] is False
        assert row["input_crs"] == "wgs84" and row["geocode_precision"] == "point"
        assert row["status"] == ["closed", "evaluated", "closed"][i % 3]
        assert row["channel"] == ["patrol", "hotline", "patrol"][i % 3]
        assert row["satisfaction"] == ["satisfied", "very_satisfied", None][i % 3]
        assert row["category_code"] == ["patrol.street_light", "dispute.neighbours", "patrol"][i % 3]
        names = {"patrol.street_light": "路灯不亮", "dispute.neighbours": "邻里纠纷", "patrol": "巡检巡查"}
        assert row["description"] == (f"历史案件 {i}" if i % 4 else names[row["category_code"]])
        created = datetime.fromisoformat(frame["created_at"][i]).replace(tzinfo=LOCAL_TZ)
        assert row["created_at"] == created
        assert row["due_at"] == deadline_at(created, row["limit_value"], row["limit_unit"], calendar)
        assert (row["closed_at"] is None) == (i % 3 == 2)
        assert row["event"] == "imported" and row["event_status"] == row["status"]
        assert row["event_data"]["row"] == i + 1 and row["event_data"]["file"] == "h.csv"
        assert row["idempotency_key"].endswith(f":{i + 1}")


def test_the_same_file_is_not_imported_twice(cli, demo_copy_url, tmp_path, homes):
    path = write(history(homes, 5), tmp_path / "h.csv")
    assert cli(demo_copy_url, "cases", "import", str(path), "--commit").exit_code == 0
    before = counts(demo_copy_url)
    again = cli(demo_copy_url, "cases", "import", str(path), "--commit")
    assert again.exit_code == 2 and "imported before" in again.output
    assert counts(demo_copy_url) == before


def test_bad_rows_are_refused_and_reported_and_the_others_load(cli, demo_copy_url, tmp_path, homes):
    frame = history(homes, 8)
    frame.loc[0, "category"] = "no_such_category"
    frame.loc[1, ["lon", "lat"]] = (112.6, 35.6)  # outside the town
    frame.loc[2, "created_at"] = "yesterday"
    frame.loc[3, "status"] = "finished"
    frame.loc[4, "channel"] = "pigeon"
    frame.loc[5, "closed_at"] = "2020-01-01T00:00:00"  # before created_at
    path = write(frame, tmp_path / "h.csv")
    dry = cli(demo_copy_url, "cases", "import", str(path))
    assert dry.exit_code == 1
    assert "unknown categories 'no_such_category'; valid: " in dry.output
    assert "patrol.street_light" in dry.output and "row 1: unknown category" in dry.output
    before = counts(demo_copy_url)
    result = cli(demo_copy_url, "cases", "import", str(path), "--commit", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["loaded"] == 2 and report["rows"] == 8
    assert report["refused"] == {"unknown category": 1, "outside coverage": 1, "bad created_at": 1,
                                 "bad status": 1, "bad channel": 1, "bad closed_at": 1}
    assert report["unknown_categories"] == {"no_such_category": 1}
    assert counts(demo_copy_url) == (before[0] + 2, before[1] + 2)


def test_gcj02_points_are_converted_before_routing(cli, demo_copy_url, tmp_path, homes):
    frame = history(homes, 10)
    frame["lon"], frame["lat"] = gcj02.wgs84_to_gcj02(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    result = cli(demo_copy_url, "cases", "import", str(write(frame, tmp_path / "h.csv")),
                 "--source-crs", "gcj02", "--commit")
    assert result.exit_code == 0, result.output
    with Session(engine_for(demo_copy_url)) as s:
        got = s.execute(text("SELECT grid_code, input_crs FROM cases "
                             "WHERE idempotency_key LIKE 'import:%' ORDER BY id")).all()
    assert [g for g, _ in got] == [grid for _, _, grid in homes[:10]]
    assert {c for _, c in got} == {"gcj02"}


def test_a_geopackage_of_cases_is_imported(cli, demo_copy_url, tmp_path, homes):
    frame = history(homes, 6)
    gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]),
                           geometry=shapely.points(frame["lon"], frame["lat"]), crs=4326)
    pyogrio.write_dataframe(gdf, tmp_path / "h.gpkg")
    result = cli(demo_copy_url, "cases", "import", str(tmp_path / "h.gpkg"), "--commit")
    assert result.exit_code == 0, result.output
    assert "imported 6 cases" in result.output


@pytest.mark.parametrize(
    ("columns", "message"),
    [(["description", "lon", "lat", "created_at"], "no column 'category'"),
     (["category", "lon", "lat"], "no column 'created_at'"),
     (["category", "created_at", "x", "lat"], "no column 'lon'")],
)
def test_a_file_without_required_columns_is_refused(cli, demo_copy_url, tmp_path, homes, columns,
                                                    message):
    frame = history(homes, 3).rename(columns={"lon": "x"} if "x" in columns else {})
    path = write(frame[columns], tmp_path / "h.csv")
    result = cli(demo_copy_url, "cases", "import", str(path))
    assert result.exit_code == 2 and message in result.output


def test_a_missing_file_is_refused(cli, demo_copy_url, tmp_path):
    result = cli(demo_copy_url, "cases", "import", str(tmp_path / "none.csv"))
    assert result.exit_code == 2 and "no such file" in result.output
