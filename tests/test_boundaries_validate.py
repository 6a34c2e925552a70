"""`gridgov boundaries validate` and `coverage_report`: gaps, overlaps, parents, people."""

from __future__ import annotations

import json

import pytest
from shapely import Point

from boundaries.importer import import_boundaries
from boundaries.validation import coverage_report
from db.session import session_scope
from tests.boundary_data import (
    VILLAGES,
    admin_grids,
    frame,
    import_all,
    leaf_grids,
    lonlat,
    query,
    rect_m,
    staff_all,
    write,
    zones,
)

ADMIN_CODES = sorted(VILLAGES)
HOLE = rect_m(700, 450, 800, 550)  # 100 m x 100 m inside regional grid 140525108200002


def validate(cli, url, *args):
    return cli(url, "boundaries", "validate", *args)


def findings(url, kind=None) -> list[dict]:
    with session_scope(url) as session:
        report = coverage_report(session).to_dict()
    return [f for f in report["errors"] if kind is None or f["kind"] == kind]


def import_rows(cli, url, tmp_path, level, rows, *args):
    path = write(frame(rows), tmp_path / f"{level}-{len(list(tmp_path.iterdir()))}.geojson")
    result = cli(url, "boundaries", "import", str(path), "--level", level, "--commit", *args)
    assert result.exit_code == 0, result.output
    return result


def test_validate_exits_0_on_a_clean_hierarchy(cli, empty_db_url, tmp_path):
    import_all(cli, empty_db_url, tmp_path)
    staff_all(empty_db_url)
    result = validate(cli, empty_db_url)
    assert result.exit_code == 0, result.output
    assert "coverage ok: 0 error(s)" in result.output
    assert "1 town(s), 1 zone(s), 2 admin, 4 regional, 4 service grid(s)" in result.output


def test_validate_finds_a_planted_100_m_gap_with_its_area_and_location(cli, empty_db_url, tmp_path):
    leaves = leaf_grids()
    victim = next(r for r in leaves if r["geometry"].contains(HOLE))
    victim["geometry"] = victim["geometry"].difference(HOLE)
    for level, rows in (
        ("zone", zones()),
        ("admin", admin_grids()),
        ("regional", [r for r in leaves if r["level"] == "regional"]),
        ("service", [r for r in leaves if r["level"] == "service"]),
    ):
        import_rows(cli, empty_db_url, tmp_path, level, rows)
    staff_all(empty_db_url)
    result = validate(cli, empty_db_url, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    (gap,) = report["errors"]
    assert gap["kind"] == "gap" and gap["codes"] == [victim["parent_code"]]
    assert gap["area_m2"] == pytest.approx(10_000, rel=0.01)
    assert lonlat(HOLE).contains(Point(gap["lon"], gap["lat"]))


def test_validate_finds_a_gap_between_admin_grids(cli, empty_db_url, tmp_path):
    rows = admin_grids()
    rows[0]["geometry"] = rows[0]["geometry"].difference(HOLE)  # the town fills the hole
    import_rows(cli, empty_db_url, tmp_path, "admin", rows)
    (gap,) = [f for f in findings(empty_db_url, "gap") if f["codes"] == ["140525108"]]
    assert gap["area_m2"] == pytest.approx(10_000, rel=0.01)
    assert "not covered by any admin grid" in gap["message"]


def test_validate_finds_overlapping_leaf_grids_with_the_shared_area(cli, empty_db_url, tmp_path):
    leaves = leaf_grids()
    first = leaves[0]  # regional ...001, x 0..500; stretch it 50 m into ...002
    first["geometry"] = rect_m(0, 0, 550, 1000)
    import_rows(cli, empty_db_url, tmp_path, "admin", admin_grids())
    import_rows(
        cli, empty_db_url, tmp_path, "regional", [r for r in leaves if r["level"] == "regional"]
    )
    (overlap,) = findings(empty_db_url, "overlap")
    assert set(overlap["codes"]) == {leaves[0]["code"], leaves[1]["code"]}
    assert overlap["area_m2"] == pytest.approx(50 * 1000, rel=0.01)


def test_validate_reports_leaf_grid_outside_its_village(cli, empty_db_url, tmp_path):
    leaves = [r for r in leaf_grids() if r["level"] == "service"]
    leaves[-1]["geometry"] = rect_m(3500, 0, 4100, 1000)  # 100 m beyond the village and town
    import_rows(cli, empty_db_url, tmp_path, "admin", admin_grids())
    import_rows(cli, empty_db_url, tmp_path, "service", leaves, "--parent-field", "parent_code")
    (outside,) = findings(empty_db_url, "outside")
    assert outside["codes"] == [leaves[-1]["parent_code"], leaves[-1]["code"]]
    assert outside["area_m2"] == pytest.approx(100 * 1000, rel=0.01)


def test_validate_reports_overlapping_zones(cli, empty_db_url, tmp_path):
    rows = zones() + [
        {"code": "140525108E01", "name": "园区", "geometry": rect_m(3000, 0, 5000, 1000)}
    ]
    import_rows(cli, empty_db_url, tmp_path, "zone", rows)
    (overlap,) = findings(empty_db_url, "overlap")
    assert overlap["message"].startswith("zones 140525108E01 and 140525108V01 overlap") or overlap[
        "message"
    ].startswith("zones 140525108V01 and 140525108E01 overlap")
    assert overlap["area_m2"] == pytest.approx(1000 * 1000, rel=0.01)


def test_validate_reports_grids_without_a_grid_worker(cli, empty_db_url, tmp_path):
    import_all(cli, empty_db_url, tmp_path)
    result = validate(cli, empty_db_url)
    assert result.exit_code == 1
    for leaf in leaf_grids():
        assert f"error: {leaf['level']} grid {leaf['code']} has no grid worker" in result.output
    for code in ADMIN_CODES:
        assert f"error: admin grid {code} has no grid leader" in result.output
    staff_all(empty_db_url)
    query(
        empty_db_url,
        "UPDATE grid_assignments SET until = CURRENT_DATE - 1 WHERE grid_code = %s RETURNING id",
        (leaf_grids()[0]["code"],),
    )
    (gone,) = findings(empty_db_url, "no_worker")
    assert gone["codes"] == [leaf_grids()[0]["code"]]


def test_validate_reports_leaf_grids_with_missing_parents(cli, empty_db_url, tmp_path):
    leaves = [r for r in leaf_grids() if r["level"] == "regional"]
    import_rows(cli, empty_db_url, tmp_path, "regional", leaves[:2])  # no admin grid at all
    import_rows(
        cli, empty_db_url, tmp_path, "regional", leaves[2:], "--parent-field", "parent_code"
    )
    missing = findings(empty_db_url, "missing_parent")
    messages = sorted(f["message"] for f in missing)
    assert f"regional grid {leaves[0]['code']}: it has no admin grid" in messages
    assert (
        f"regional grid {leaves[2]['code']}: its admin grid {ADMIN_CODES[1]} does not exist"
        in messages
    )


def test_validate_json_parses_and_lists_errors_and_warnings(cli, empty_db_url, tmp_path):
    rows = admin_grids()
    rows[1]["code"] = "village-B"
    import_rows(cli, empty_db_url, tmp_path, "admin", rows)
    result = validate(cli, empty_db_url, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert set(report) == {"ok", "counts", "errors", "warnings"}
    assert report["counts"]["admin"] == 2
    assert {"kind", "message", "codes", "area_m2", "lon", "lat"} <= set(report["errors"][0])
    assert any(
        w["kind"] == "off_scheme" and w["codes"] == ["village-B"] for w in report["warnings"]
    )


def test_validate_on_an_empty_database_exits_0_with_a_warning(cli, empty_db_url):
    result = validate(cli, empty_db_url)
    assert result.exit_code == 0
    assert "warning: there are no current grids" in result.output


def test_coverage_report_checks_a_town_of_the_demos_size(empty_db_url, tmp_path):
    """The demo's size, about 420 grids: 38 villages of 10 leaf grids; the demo loader calls
    coverage_report. Its speed is not asserted: no test asserts a time (tests/waits.py)."""
    admins, leaves = [], []
    for v in range(38):
        x0, y0 = (v % 8) * 1000, (v // 8) * 1000
        code = f"140525108{200 + v:03d}000"
        admins.append(
            {"code": code, "name": f"村{v}", "geometry": rect_m(x0, y0, x0 + 1000, y0 + 1000)}
        )
        for s in range(10):
            leaves.append(
                {
                    "code": code[:12] + f"{s + 1:03d}",
                    "name": f"格{s}",
                    "parent_code": code,
                    "geometry": rect_m(x0 + s * 100, y0, x0 + s * 100 + 100, y0 + 1000),
                }
            )
    write(frame(admins), tmp_path / "a.gpkg")
    write(frame(leaves), tmp_path / "s.gpkg")
    with session_scope(empty_db_url) as session:
        import_boundaries(session, tmp_path / "a.gpkg", "admin", commit=True)
        import_boundaries(
            session, tmp_path / "s.gpkg", "service", commit=True, parent_field="parent_code"
        )
    with session_scope(empty_db_url) as session:
        report = coverage_report(session)
    assert report.counts["service"] == 380 and report.counts["admin"] == 38
    assert {f.kind for f in report.errors} == {"no_worker", "no_leader"}
