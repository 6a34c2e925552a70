"""A province of demo towns (demo/province.py): distinct valid codes, no overlap, each town's
cases routed inside it, and refusals before anything is written."""

from __future__ import annotations

import re

import psycopg
import pytest
import shapely

from boundaries.locate import locate
from db.session import session_scope
from demo import geometry, province
from demo.load import DemoError, conninfo, load_demo
from tests.conftest import DEMO_CASES


def _all(url: str, query: str, *params):
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(query, params).fetchall()


def _one(url: str, query: str, *params):
    return _all(url, query, *params)[0]


def test_town_codes_are_distinct_nine_digits_and_sort_after_bagong():
    codes = province.town_codes(province.TOWNS_MAX)
    assert codes[0] == geometry.TOWN_CODE
    assert len(set(codes)) == len(codes) == province.TOWNS_MAX
    # province 2 + city 2 + county 2 + town 3 (DOMAIN.md), a town (镇) numbered 1xx
    assert all(re.fullmatch(r"1405\d{2}1\d{2}", c) for c in codes)
    assert all(c > codes[0] for c in codes[1:])


def test_towns_are_laid_out_without_overlapping():
    offsets = province.town_offsets_lonlat(1000)
    assert offsets[0] == (0.0, 0.0)
    assert len(set(offsets)) == 1000
    # Bagong's own extent, from its outline, fits in one step of the layout
    outline = geometry.build(1).to_lonlat(geometry.build(1).town_xy)
    minx, miny, maxx, maxy = outline.bounds
    assert maxx - minx < province.TOWN_STEP_LONLAT[0]
    assert maxy - miny < province.TOWN_STEP_LONLAT[1]


@pytest.mark.parametrize("towns, cases", [(1, 7), (3, 3001), (4, 2), (1000, 10_000_000)])
def test_cases_are_spread_as_evenly_as_they_can_be(towns, cases):
    quotas = province.case_quotas(towns, cases)
    assert sum(quotas) == cases and len(quotas) == towns
    assert max(quotas) - min(quotas) <= 1 and quotas[0] == max(quotas)


def test_demo_load_makes_a_province_whose_towns_route_their_own_cases(empty_db_url, cli):
    result = cli(empty_db_url, "demo", "load", "--towns", "3", "--cases", "301",
                 "--residents", "2000")
    assert result.exit_code == 0, result.output
    codes = province.town_codes(3)
    assert [r[0] for r in _all(empty_db_url, "SELECT code FROM towns ORDER BY code")] == codes
    # each town its own hierarchy: the same counts, every code under its town's code
    per_town = _all(empty_db_url, """
        SELECT town_code, count(*) FILTER (WHERE level = 'admin'),
               count(*) FILTER (WHERE level = 'regional'), count(*) FILTER (WHERE level = 'service'),
               bool_and(code LIKE town_code || '%%' AND length(code) = 15),
               bool_and(parent_code IS NULL OR parent_code LIKE town_code || '%%'),
               bool_and(zone_code IS NULL OR zone_code LIKE town_code || '%%')
          FROM grids WHERE valid_to IS NULL GROUP BY town_code ORDER BY town_code""")
    assert per_town == [(c, 38, 167, 214, True, True, True) for c in codes]
    assert _one(empty_db_url, "SELECT count(DISTINCT code) = count(*) FROM grids")[0]
    assert _one(empty_db_url, "SELECT count(DISTINCT code) = count(*) FROM zones")[0]
    assert _one(empty_db_url, "SELECT count(*) FROM towns a JOIN towns b ON a.code < b.code "
                              "AND ST_Intersects(a.geom, b.geom)")[0] == 0
    # every leaf grid of every town has a worker of that town
    assert _one(empty_db_url, """
        SELECT count(*) FROM grids g
         WHERE g.level <> 'admin' AND NOT EXISTS (
               SELECT 1 FROM grid_assignments a JOIN people p ON p.id = a.person_id
                WHERE a.grid_code = g.code AND a.role = 'worker' AND p.town_code = g.town_code)
    """)[0] == 0
    # the cases: spread 101 / 100 / 100, each inside a grid of its own town, held by one of its
    # people, its events and clocks with it
    assert _all(empty_db_url, "SELECT town_code, count(*) FROM cases GROUP BY 1 ORDER BY 1") == [
        (codes[0], 101), (codes[1], 100), (codes[2], 100)]
    assert _one(empty_db_url, """
        SELECT count(*) FROM cases c
          JOIN grids g ON g.code = c.grid_code AND g.valid_to IS NULL
          JOIN grids a ON a.code = c.admin_code AND a.valid_to IS NULL
         WHERE g.town_code = c.town_code AND a.town_code = c.town_code
           AND ST_Covers(g.geom, c.geom) AND g.parent_code = c.admin_code
           AND (c.assignee_id IS NULL OR EXISTS (
                SELECT 1 FROM people p WHERE p.id = c.assignee_id AND p.town_code = c.town_code))
    """)[0] == 301
    assert _one(empty_db_url, """
        SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id
         WHERE e.town_code <> c.town_code
            OR (e.assignee_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM people p WHERE p.id = e.assignee_id AND p.town_code = c.town_code))
    """)[0] == 0
    assert _one(empty_db_url, "SELECT count(DISTINCT case_id) FROM case_events")[0] == 301
    # a copy's events and clocks are its original's, moved
    assert _one(empty_db_url, """
        SELECT count(*) FILTER (WHERE d.town_code <> c.town_code), count(DISTINCT c.town_code)
          FROM case_deadlines d JOIN cases c ON c.id = d.case_id""") == (0, 3)
    # and the lookup the intake routes with finds each copied case's grid
    copied = _all(empty_db_url, "SELECT ST_X(geom), ST_Y(geom), grid_code, town_code FROM cases "
                                "WHERE town_code <> %s ORDER BY id LIMIT 40", codes[0])
    with session_scope(empty_db_url) as session:
        for lon, lat, grid, town in copied:
            where = locate(session, lon, lat)
            assert (where.town["code"], where.leaf["code"]) == (town, grid)
    # the coverage check sees three whole towns
    result = cli(empty_db_url, "boundaries", "validate")
    assert result.exit_code == 0, result.output
    assert "3 town(s)" in result.output


@pytest.mark.parametrize("value", ["0", "-3", str(province.TOWNS_MAX + 1), "many"])
def test_demo_load_refuses_a_province_it_cannot_make(empty_db_url, cli, value):
    result = cli(empty_db_url, "demo", "load", "--towns", value, "--cases", "10")
    assert result.exit_code == 2, result.output
    assert "--towns" in result.output or "'--towns'" in result.output
    if value != "many":  # click's own refusal of a word says so in its words
        assert f"between 1 and {province.TOWNS_MAX:,}" in result.output
    assert _one(empty_db_url, "SELECT (SELECT count(*) FROM towns) + (SELECT count(*) FROM people)"
                              " + (SELECT count(*) FROM cases)")[0] == 0


def test_load_demo_refuses_a_province_before_replacing_anything(demo_copy_url):
    with pytest.raises(DemoError, match="between 1 and 2,000"):
        load_demo(demo_copy_url, seed=2, cases=0, progress=False, replace=True, towns=0)
    assert _one(demo_copy_url, "SELECT count(*) FROM cases")[0] == DEMO_CASES


def test_the_operator_page_shows_the_signed_in_accounts_own_town(empty_db_url):
    # a province's operator sees their town, not the first one by code; an account without a
    # town (a department's) sees the first town
    from tests.accounts_support import bearer, token_for
    from web import create_app

    load_demo(empty_db_url, seed=1, cases=20, progress=False, towns=2, residents=2000)
    first, second = province.town_codes(2)
    own = token_for(empty_db_url, "second_town_operator", "town_operator", scope=second)
    from accounts.service import departments

    department = token_for(empty_db_url, "water_department", "department_handler",
                           scope=min(departments()))
    grid_of = {town: _one(empty_db_url, "SELECT min(code) FROM grids WHERE town_code = %s "
                                        "AND level = 'service'", town)[0] for town in (first, second)}
    client = create_app({"DATABASE_URL": empty_db_url, "TESTING": True}).test_client()
    for token, shown, hidden in ((own, second, first), (department, first, second)):
        html = bearer(client, token).get("/").get_data(as_text=True)
        assert grid_of[shown] in html and grid_of[hidden] not in html
