"""The Bagong demo: exact counts, perfect coverage, determinism, placement, cases."""

from __future__ import annotations

import hashlib

import psycopg
import pytest
import shapely


from db.session import session_scope
from demo import geometry
from demo.load import TABLES, DemoError, conninfo, load_demo
from tests.conftest import DEMO_CASES


def _one(url: str, sql: str, *params):
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(sql, params).fetchone()


def _all(url: str, sql: str, *params):
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(sql, params).fetchall()


def test_demo_has_the_towns_exact_counts(demo_db_url):
    levels = dict(_all(demo_db_url, "SELECT level, count(*) FROM grids WHERE valid_to IS NULL GROUP BY level"))
    assert levels == {"admin": 38, "regional": 167, "service": 214}
    zones = dict(_all(demo_db_url, "SELECT kind, count(*) FROM zones GROUP BY kind"))
    assert zones == {"village": 5, "enterprise": 3}
    roles = dict(_all(demo_db_url, "SELECT role, count(*) FROM people GROUP BY role"))
    assert roles["grid_worker"] == 316
    assert roles["auxiliary"] == 1263
    assert roles["grid_leader"] == 38
    assert _one(demo_db_url, "SELECT count(*) FROM enterprises")[0] == 1520
    assert _one(demo_db_url, "SELECT count(*) FROM hazards")[0] == 258
    assert _one(demo_db_url, "SELECT count(*) FROM cases")[0] == DEMO_CASES
    residents = _one(demo_db_url, "SELECT sum(residents) FROM households")[0]
    assert 19_000 <= residents <= 21_000


def test_demo_villages_are_the_real_ones(demo_db_url):
    rows = _all(demo_db_url, "SELECT code, name FROM grids WHERE level = 'admin'")
    names = {code[:12]: name for code, name in rows}
    expected = {v.code: v.name for v in geometry.village_rows()}
    assert names == expected
    assert names["140525108227"] == "渠头村"
    assert all(code.endswith("000") for code, _ in rows)


def test_demo_is_a_perfect_coverage(demo_db_url):
    from boundaries.validation import coverage_report

    with session_scope(demo_db_url) as session:
        report = coverage_report(session)
    assert report.ok, report.to_dict()
    # and checked independently in PostGIS: villages tile the town, leaves tile the villages
    town_vs_villages = _one(
        demo_db_url,
        "SELECT ST_Area(ST_SymDifference((SELECT geom FROM towns), "
        "(SELECT ST_Union(geom) FROM grids WHERE level = 'admin'))::geography)",
    )[0]
    assert town_vs_villages == pytest.approx(0, abs=1e-3)
    overlaps = _one(
        demo_db_url,
        "SELECT count(*) FROM grids a JOIN grids b ON a.id < b.id AND a.level <> 'admin' AND b.level <> 'admin' "
        "AND ST_Relate(a.geom, b.geom, '2********')",
    )[0]
    assert overlaps == 0
    outside = _one(
        demo_db_url,
        "SELECT count(*) FROM grids l JOIN grids a ON a.code = l.parent_code "
        "WHERE NOT ST_Covers(a.geom, l.geom)",
    )[0]
    assert outside == 0
    inside_county = _one(demo_db_url, "SELECT ST_Y(ST_Centroid(geom)), ST_X(ST_Centroid(geom)) FROM towns")
    assert 35.6 <= inside_county[0] <= 35.7 and 112.8 <= inside_county[1] <= 113.0


def test_town_lies_inside_the_repaired_county_outline():
    county = geometry.county_outline_lonlat()
    assert county.is_valid
    demo = geometry.build(7)
    assert county.covers(demo.to_lonlat(demo.town_xy))


def _fingerprint(seed: int) -> str:
    demo = geometry.build(seed)
    h = hashlib.sha256()
    for leaf in demo.leaves:
        h.update(leaf.code.encode() + leaf.name.encode() + shapely.to_wkb(leaf.geom_xy))
    return h.hexdigest()


def test_demo_geometry_is_deterministic_for_a_seed():
    assert _fingerprint(11) == _fingerprint(11)
    assert _fingerprint(11) != _fingerprint(12)


def test_every_leaf_grid_has_a_worker_and_every_village_a_leader(demo_db_url):
    without = _one(
        demo_db_url,
        "SELECT count(*) FROM grids g WHERE g.level <> 'admin' AND NOT EXISTS "
        "(SELECT 1 FROM grid_assignments a WHERE a.grid_code = g.code AND a.role = 'worker')",
    )[0]
    assert without == 0
    leaders = _one(demo_db_url, "SELECT count(DISTINCT grid_code) FROM grid_assignments WHERE role = 'leader'")[0]
    assert leaders == 38


def test_households_sit_in_service_grids_at_their_address(demo_db_url):
    rows = _all(
        demo_db_url,
        "SELECT g.level, count(*), bool_and(ST_Covers(g.geom, a.geom)) FROM households h "
        "JOIN addresses a ON a.id = h.address_id JOIN grids g ON g.code = h.grid_code GROUP BY g.level",
    )
    assert [(level, ok) for level, _, ok in rows] == [("service", True)]
    text = _one(demo_db_url, "SELECT full_text FROM addresses WHERE village = '渠头村' AND street = '东大街' LIMIT 1")[0]
    assert text.startswith("山西省晋城市泽州县巴公镇渠头村") and "东大街" in text and text.endswith("号")


def test_enterprises_mostly_in_the_park_and_hazards_mostly_regional(demo_db_url):
    in_park = _one(demo_db_url, "SELECT avg((zone_code LIKE '%%E0%%')::int) FROM enterprises")[0]
    assert in_park > 0.6
    regional = _one(
        demo_db_url,
        "SELECT avg((g.level = 'regional')::int) FROM hazards h JOIN grids g ON g.code = h.grid_code",
    )[0]
    assert regional > 0.6
    misplaced = _one(
        demo_db_url,
        "SELECT count(*) FROM enterprises e JOIN grids g ON g.code = e.grid_code WHERE NOT ST_Covers(g.geom, e.geom)",
    )[0]
    assert misplaced == 0


def test_demo_cases_are_routed_spread_over_a_year_and_mixed(demo_db_url):
    wrong_grid = _one(
        demo_db_url,
        "SELECT count(*) FROM cases c JOIN grids g ON g.code = c.grid_code WHERE NOT ST_Covers(g.geom, c.geom)",
    )[0]
    assert wrong_grid == 0
    span_days = _one(demo_db_url, "SELECT extract(epoch FROM max(created_at) - min(created_at)) / 86400 FROM cases")[0]
    assert 300 < span_days <= 366
    statuses = dict(_all(demo_db_url, "SELECT status, count(*) FROM cases GROUP BY status"))
    assert statuses.get("evaluated", 0) > DEMO_CASES * 0.3
    assert sum(v for k, v in statuses.items() if k not in ("closed", "evaluated", "voided")) > 0
    categories = _one(demo_db_url, "SELECT count(DISTINCT category_code) FROM cases")[0]
    assert categories >= 20
    channels = _one(demo_db_url, "SELECT count(DISTINCT channel) FROM cases")[0]
    assert channels == 6


def test_demo_has_an_account_of_every_role_in_one_village(demo_db_url):
    from accounts.actor import ROLES

    rows = _all(demo_db_url, "SELECT a.name, a.role, a.scope_kind, a.scope_code, a.person_id, "
                              "p.role AS post, p.village_code FROM accounts a "
                              "LEFT JOIN people p ON p.id = a.person_id ORDER BY a.id")
    assert {r[1] for r in rows} == set(ROLES)
    village = next(r[3] for r in rows if r[1] == "village_operator")
    workers = [r for r in rows if r[1] == "grid_worker"]
    in_village = _one(demo_db_url, "SELECT count(*) FROM people WHERE role = 'grid_worker' "
                                   "AND village_code = %s", village)[0]
    # every grid worker of the village, linked to their person
    assert len(workers) == in_village > 0
    assert all(r[5] == "grid_worker" and r[6] == village for r in workers)
    leader = next(r for r in rows if r[1] == "grid_leader")
    assert leader[5] == "grid_leader" and leader[3] == village
    assert next(r for r in rows if r[1] == "department_handler")[3] == "chengguan"


def test_demo_load_refuses_a_database_with_data(demo_copy_url):
    with pytest.raises(DemoError, match="--replace"):
        load_demo(demo_copy_url, seed=2, cases=0, progress=False)


def test_demo_load_if_empty_leaves_a_loaded_town_alone(demo_copy_url, cli):
    before = _one(demo_copy_url, "SELECT count(*) FROM cases")[0]
    result = cli(demo_copy_url, "demo", "load", "--if-empty", "--cases", "10")
    assert result.exit_code == 0
    assert "already loaded" in result.output
    assert _one(demo_copy_url, "SELECT count(*) FROM cases")[0] == before


def test_demo_load_replace_reloads_with_another_seed(demo_copy_url, cli):
    result = cli(demo_copy_url, "demo", "load", "--replace", "--seed", "5", "--cases", "100")
    assert result.exit_code == 0, result.output
    assert _one(demo_copy_url, "SELECT count(*) FROM cases")[0] == 100
    assert _one(demo_copy_url, "SELECT count(*) FROM grids")[0] == 38 + 167 + 214
    # the accounts are made again, and the command says how to sign in
    assert "bagong-demo" in result.output and "/login" in result.output
    assert _one(demo_copy_url, "SELECT count(DISTINCT role) FROM accounts")[0] == 9


# -- a demo at another population (`--residents`, demo/registry.py) -------------------------

def _registry_fingerprint(seed: int, **kwargs) -> str:
    """Every household (address, point, head, size, vulnerable), person, enterprise and hazard
    the registry draws."""
    from demo import registry

    reg = registry.build(geometry.build(seed), seed, **kwargs)
    h = hashlib.sha256()
    for a, hh in zip(reg.addresses, reg.households):
        h.update(repr((a["full_text"], a["grid_code"], round(a["geom_xy"].x, 3),
                       round(a["geom_xy"].y, 3), hh["head_name"], hh["residents"],
                       hh["key_person"], hh["elderly_alone"], hh["disabled"], hh["bedridden"],
                       hh["children_unattended"])).encode())
    for p in reg.people:
        h.update(repr(sorted(p.items())).encode())
    for e in reg.enterprises + reg.hazards:
        h.update(repr(sorted((k, v) for k, v in e.items() if k != "geom_xy")).encode())
    return h.hexdigest()


def test_the_default_registry_is_the_one_it_always_was():
    # drawn by the registry before `residents` existed; the other tests' demo depends on it
    assert _registry_fingerprint(7) == (
        "04ba8d41504c7efcdb3e3a169a5562ff689e996baa4da260cf662dfed4fd6462")
    assert _registry_fingerprint(7, residents=20_000) == _registry_fingerprint(7)


@pytest.mark.parametrize("residents", [2_000, 86_000])
def test_the_registry_draws_the_residents_asked_on_the_same_town(residents):
    from demo import registry

    geo = geometry.build(7)
    reg = registry.build(geo, 7, residents=residents)
    default = registry.build(geo, 7)
    assert sum(h["residents"] for h in reg.households) == residents
    # the same people (drawn before the households), as many enterprises and hazards (drawn
    # after them, so elsewhere); households in every service grid, and only there
    assert reg.people == default.people and reg.assignments == default.assignments
    assert (len(reg.enterprises), len(reg.hazards)) == (registry.ENTERPRISES, registry.HAZARDS)
    service = {leaf.code for leaf in geo.leaves if leaf.level == "service"}
    per_grid: dict[str, int] = {}
    for h in reg.households:
        per_grid[h["grid_code"]] = per_grid.get(h["grid_code"], 0) + 1
    assert set(per_grid) == service and min(per_grid.values()) >= 8
    # households of 2.9 people on average where there is room for it; the vulnerable flagged
    # at the same rates, never more than live in the household
    vulnerable = sum(int(h["elderly_alone"]) + h["disabled"] + h["bedridden"]
                     + h["children_unattended"] for h in reg.households)
    assert all(int(h["elderly_alone"]) + h["disabled"] + h["bedridden"] + h["children_unattended"]
               <= h["residents"] for h in reg.households)
    if residents == 86_000:
        assert 2.8 <= residents / len(reg.households) <= 3.0
        assert 0.04 <= vulnerable / residents <= 0.07
    # every household on a street has its own standard address (at 2,000 a few service grids
    # are too small for a street line, as the rules allow: their households have none)
    on_streets = [a["full_text"] for a in reg.addresses if a["street"] is not None]
    assert len(set(on_streets)) == len(on_streets)
    assert len(on_streets) == len(reg.addresses) or residents < registry.RESIDENTS


def test_demo_load_with_a_small_population(empty_db_url, cli):
    result = cli(empty_db_url, "demo", "load", "--residents", "3000", "--cases", "0")
    assert result.exit_code == 0, result.output
    assert _one(empty_db_url, "SELECT sum(residents) FROM households")[0] == 3000
    assert _one(empty_db_url, "SELECT count(*) FROM grids")[0] == 38 + 167 + 214
    assert _one(empty_db_url, "SELECT count(*) FROM people WHERE role = 'grid_worker'")[0] == 316
    assert "bagong-demo" in result.output


@pytest.mark.parametrize("value", ["0", "-5", "1999", "500001", "86000000000", "lots"])
def test_demo_load_refuses_a_population_it_cannot_draw(empty_db_url, cli, value):
    result = cli(empty_db_url, "demo", "load", "--residents", value, "--cases", "0")
    assert result.exit_code == 2, result.output
    assert "--residents" in result.output or "'--residents'" in result.output
    if value != "lots":  # click's own refusal of a word says so in its words
        assert "2,000 and 500,000" in result.output
    assert _one(empty_db_url, "SELECT count(*) FROM towns")[0] == 0
    assert _one(empty_db_url, "SELECT count(*) FROM people")[0] == 0


def test_load_demo_refuses_a_population_before_writing(demo_copy_url):
    with pytest.raises(DemoError, match="between 2,000 and 500,000"):
        load_demo(demo_copy_url, seed=2, cases=0, progress=False, replace=True, residents=0)
    # --replace did not empty anything
    assert _one(demo_copy_url, "SELECT count(*) FROM cases")[0] == DEMO_CASES


def test_a_load_vacuums_what_it_wrote_so_autovacuum_need_not(empty_db_url):
    """A bulk load leaves autovacuum's insert threshold (a fifth of a table) passed on every
    table it filled, and autovacuum would go through them all later, while the service runs
    (demo/load.py). The load vacuums them itself: every table it wrote, each month partition
    of the cases and their events included, has been vacuumed by hand when it returns."""
    load_demo(empty_db_url, seed=1, cases=300, progress=False, residents=2000)
    rows = _all(empty_db_url, """
        SELECT c.relname, s.last_vacuum IS NOT NULL
          FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
         WHERE c.relkind = 'r' AND c.relpages > 0
           AND (c.relname = ANY(%s) OR c.relispartition)
    """, list(TABLES))
    names = {name for name, _ in rows}
    assert {"households", "people", "grids", "visits", "case_deadlines"} <= names
    assert any(n.startswith("cases_p") for n in names) and any(n.startswith("case_events_p") for n in names)
    assert sorted(name for name, vacuumed in rows if not vacuumed) == []
