"""Visit rules and compliance: the periods against the calendar, the due list (monthly and
weekly, overdue, nearest first), and the compliance figures against an independent count on
the demo — plain SQL over the base tables and Python's own ISO calendar, not field/ — with the
CSV export and who may read it."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

import pytest
from pyproj import Geod

from cases.deadlines import LOCAL_TZ
from field.rules import month_periods, period, rules
from tests.openapi_support import assert_documented
from tests.visit_support import (  # noqa: F401  (visits_url is a fixture)
    body, client_for, execute, query, target_in, visits_url, worker_grids,
)

WGS84 = Geod(ellps="WGS84")
# every target, from the base tables (the view of migration 0018 is code under test)
TARGETS_SQL = """
SELECT 'household' AS type, h.id, h.grid_code, a.geom FROM households h JOIN addresses a ON a.id = h.address_id
UNION ALL SELECT 'shop', id, grid_code, geom FROM shops
UNION ALL SELECT 'enterprise', id, grid_code, geom FROM enterprises
UNION ALL SELECT 'key_person', k.id, k.grid_code, a.geom FROM key_persons k JOIN addresses a ON a.id = k.address_id
UNION ALL SELECT 'key_place', id, grid_code, geom FROM key_places
UNION ALL SELECT 'hazard', id, grid_code, geom FROM hazards WHERE status <> 'resolved'
"""
WEEKLY = {"key_person", "key_place", "hazard"}  # DOMAIN.md: key persons, places, hazards weekly


def test_rules_are_the_towns():
    every = {t: r.every for t, r in rules().items()}
    assert every == {"household": "month", "shop": "month", "enterprise": "month",
                     "key_person": "week", "key_place": "week", "hazard": "week"}


@pytest.mark.parametrize("month", [date(2026, 11, 1), date(2026, 2, 1), date(2027, 1, 1),
                                   date(2024, 12, 1)])
def test_a_month_counts_the_iso_weeks_whose_sunday_is_in_it(month):
    periods = month_periods(month)
    assert periods[0].every == "month" and periods[0].starts_on == month
    days = [month + timedelta(days=i) for i in range(31) if (month + timedelta(days=i)).month == month.month]
    assert periods[0].due_by == days[-1]
    sundays = [d for d in days if d.isocalendar().weekday == 7]
    weeks = periods[1:]
    assert [w.due_by for w in weeks] == sundays
    for w in weeks:
        assert w.starts_on.isocalendar().weekday == 1
        assert w.starts_on.isocalendar()[:2] == w.due_by.isocalendar()[:2]


def test_periods_hold_their_day():
    day = date(2026, 11, 30)  # a Monday
    assert period("week", day).starts_on == day
    assert period("week", day - timedelta(days=1)).starts_on == date(2026, 11, 23)
    assert period("month", day).ends_before == date(2026, 12, 1)


# -- the due list ---------------------------------------------------------------------------


@pytest.fixture
def worker(visits_url, demo_tokens):
    return client_for(visits_url, demo_tokens["grid_worker_1"])


def _visited(url: str, type_: str, id_: int) -> list[datetime]:
    return [r["visited_at"] for r in query(
        url, "SELECT visited_at FROM visits WHERE target_type = :t AND target_id = :i",
        t=type_, i=id_)]


def test_the_due_list_is_what_an_independent_count_says(worker, visits_url):
    grids = worker_grids(visits_url)
    today = datetime.now(LOCAL_TZ).date()
    expected = {}
    for t in query(visits_url, f"SELECT type, id FROM ({TARGETS_SQL}) t WHERE grid_code = ANY(:g)",
                   g=sorted(grids)):
        weekly = t["type"] in WEEKLY
        if weekly:
            start = today - timedelta(days=today.isocalendar().weekday - 1)
            prev = start - timedelta(days=7)
        else:
            start = today.replace(day=1)
            prev = (start - timedelta(days=1)).replace(day=1)
        days = [v.astimezone(LOCAL_TZ).date() for v in _visited(visits_url, t["type"], t["id"])]
        if any(d >= start for d in days):
            continue
        expected[f"{t['type']}:{t['id']}"] = not any(prev <= d < start for d in days)
    answer = worker.get("/api/v1/visits/due").get_json()["targets"]
    assert {t["key"]: t["overdue"] for t in answer} == expected
    assert any(expected.values()) and not all(expected.values())  # the demo has both
    # without a position: overdue first
    flags = [t["overdue"] for t in answer]
    assert flags == sorted(flags, reverse=True)


def test_the_due_list_is_nearest_first_by_geodesic_distance(worker):
    here = (112.8765, 35.6405)
    answer = worker.get(f"/api/v1/visits/due?lon={here[0]}&lat={here[1]}").get_json()["targets"]
    distances = [t["distance_m"] for t in answer]
    assert distances == sorted(distances)
    for t in answer[:5]:
        az, _, dist = WGS84.inv(here[0], here[1], t["lon"], t["lat"])
        assert t["distance_m"] == pytest.approx(dist, abs=0.1)
        assert t["bearing_deg"] == pytest.approx(az % 360, abs=0.1)


def test_a_check_in_takes_the_target_off_the_list_and_overdue_follows_the_last_period(
        worker, visits_url):
    grids = worker_grids(visits_url)
    for type_ in ("key_person", "household"):
        target = target_in(visits_url, grids, type_, offset=2)
        key = f"{type_}:{target['id']}"
        execute(visits_url, "DELETE FROM visits WHERE target_type = :t AND target_id = :i",
              t=type_, i=target["id"])

        def listed():
            found = {t["key"]: t for t in worker.get("/api/v1/visits/due").get_json()["targets"]}
            return found.get(key)

        assert listed()["overdue"] is True
        every = "week" if type_ in WEEKLY else "month"
        assert listed()["every"] == every
        # a visit in the previous period (written directly: it is the test's setup)
        last_period_end = period(every, datetime.now(LOCAL_TZ).date()).starts_at
        execute(visits_url, "INSERT INTO visits (id, town_code, target_type, target_id, grid_code, "
                          "visited_at, lon, lat, input_crs, distance_m, far, outcome, request_hash) "
                          "VALUES (gen_random_uuid(), '140525108', :t, :i, :g, :at, 0, 0, 'wgs84', "
                          "0, false, 'ok', 'x')", t=type_, i=target["id"], g=target["grid_code"],
              at=last_period_end - timedelta(hours=2))
        assert listed()["overdue"] is False
        assert worker.post("/api/v1/visits", json=body(target)).status_code == 201
        assert listed() is None


def test_a_worker_sees_only_their_grids_targets(worker, visits_url, demo_tokens):
    grids = worker_grids(visits_url)
    answer = worker.get("/api/v1/visits/due").get_json()["targets"]
    assert answer and {t["grid_code"] for t in answer} <= grids
    leader = client_for(visits_url, demo_tokens["grid_leader"]).get("/api/v1/visits/due")
    village = {t["grid_code"][:12] for t in leader.get_json()["targets"]}
    assert len(village) == 1 and len({t["grid_code"] for t in leader.get_json()["targets"]}) > len(grids)


def test_the_due_list_refuses_half_a_position_and_other_roles(visits_url, demo_tokens, worker):
    r = worker.get("/api/v1/visits/due?lon=112.87")
    assert r.status_code == 422 and r.get_json()["error"] == "invalid_query"
    r = client_for(visits_url, demo_tokens["town_operator"]).get("/api/v1/visits/due")
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"


# -- compliance ----------------------------------------------------------------------------


def independent_compliance(url: str, month: date, today: date) -> tuple[dict, set]:
    """Per grid [targets, on time, overdue] and the overdue keys, counted here: each monthly
    target once, each weekly target once per ISO week whose Sunday is in the month."""
    days = [month + timedelta(days=i) for i in range(31)]
    days = [d for d in days if d.month == month.month]
    sundays = [d for d in days if d.isocalendar().weekday == 7]
    visits = defaultdict(set)
    for v in query(url, "SELECT target_type, target_id, visited_at FROM visits"):
        visits[(v["target_type"], v["target_id"])].add(v["visited_at"].astimezone(LOCAL_TZ).date())
    per_grid: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    overdue = set()
    for t in query(url, f"SELECT type, id, grid_code FROM ({TARGETS_SQL}) t"):
        spans = ([(s - timedelta(days=6), s) for s in sundays] if t["type"] in WEEKLY
                 else [(days[0], days[-1])])
        seen = visits[(t["type"], t["id"])]
        for first, last in spans:
            tally = per_grid[t["grid_code"]]
            tally[0] += 1
            if any(first <= d <= last for d in seen):
                tally[1] += 1
            elif last < today:
                tally[2] += 1
                overdue.add((f"{t['type']}:{t['id']}", last.isoformat()))
    return dict(per_grid), overdue


@pytest.fixture
def operator(visits_url, demo_tokens):
    return client_for(visits_url, demo_tokens["town_operator"])


@pytest.mark.parametrize("months_back", [0, 1])
def test_grid_compliance_matches_an_independent_count(operator, visits_url, months_back):
    today = datetime.now(LOCAL_TZ).date()
    month = today.replace(day=1)
    for _ in range(months_back):
        month = (month - timedelta(days=1)).replace(day=1)
    expected, overdue = independent_compliance(visits_url, month, today)
    answer = operator.get(f"/api/v1/compliance?level=grid&period={month:%Y-%m}").get_json()
    assert answer["period"] == f"{month:%Y-%m}" and answer["level"] == "grid"
    got = {r["code"]: [r["targets"], r["visited_on_time"], r["overdue"]] for r in answer["rows"]}
    assert got == expected
    assert {(o["key"], o["due_by"]) for o in answer["overdue"]} == overdue
    for r in answer["rows"]:
        assert r["share"] == pytest.approx(r["visited_on_time"] / r["targets"], abs=1e-4)
    shares = [r["share"] for r in answer["rows"]]
    assert max(shares) > 0.85 and min(shares) < 0.5  # some grids good, some poor


def test_village_and_worker_compliance_add_up_their_grids(operator, visits_url):
    grid_rows = operator.get("/api/v1/compliance?level=grid").get_json()["rows"]
    by_grid = {r["code"]: r for r in grid_rows}
    villages = operator.get("/api/v1/compliance?level=village").get_json()["rows"]
    sums: dict[str, Counter] = defaultdict(Counter)
    for r in grid_rows:
        sums[r["code"][:12]].update({k: r[k] for k in ("targets", "visited_on_time", "overdue")})
    assert {v["code"]: Counter({k: v[k] for k in ("targets", "visited_on_time", "overdue")})
            for v in villages} == sums
    names = {r["code"]: r["name"] for r in query(
        visits_url, "SELECT left(code, 12) AS code, name FROM grids WHERE level = 'admin'")}
    assert all(v["name"] == names[v["code"]] for v in villages)
    workers = operator.get("/api/v1/compliance?level=worker").get_json()["rows"]
    posts = defaultdict(list)
    for a in query(visits_url, "SELECT person_id, grid_code FROM grid_assignments WHERE role = 'worker'"):
        posts[str(a["person_id"])].append(a["grid_code"])
    for w in workers:
        mine = [by_grid[g] for g in posts[w["code"]] if g in by_grid]
        assert w["targets"] == sum(g["targets"] for g in mine)
        assert w["visited_on_time"] == sum(g["visited_on_time"] for g in mine)


def test_compliance_in_csv_has_the_same_rows(operator):
    json_rows = operator.get("/api/v1/compliance?level=village").get_json()["rows"]
    r = operator.get("/api/v1/compliance?level=village&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert_documented("GET", "/api/v1/compliance", r)  # the fuzzer found it undocumented
    assert "attachment" in r.headers["Content-Disposition"]
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert list(rows[0]) == ["code", "name", "targets", "visited_on_time", "share", "overdue"]
    assert [(x["code"], x["name"], int(x["targets"]), int(x["overdue"])) for x in rows] == [
        (x["code"], x["name"], x["targets"], x["overdue"]) for x in json_rows]


def test_a_grid_leader_sees_their_village_and_a_worker_none(visits_url, demo_tokens):
    leader = client_for(visits_url, demo_tokens["grid_leader"])
    rows = leader.get("/api/v1/compliance?level=grid").get_json()["rows"]
    assert rows and len({r["code"][:12] for r in rows}) == 1
    r = client_for(visits_url, demo_tokens["grid_worker_1"]).get("/api/v1/compliance")
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"


@pytest.mark.parametrize(("qs", "code"), [
    ("period=2026-13", "invalid_period"), ("period=1999-01", "invalid_period"),
    ("period=november", "invalid_query"), ("level=town", "invalid_query"),
    ("format=xlsx", "invalid_query"),
])
def test_a_bad_compliance_query_is_422(operator, qs, code):
    r = operator.get(f"/api/v1/compliance?{qs}")
    assert r.status_code == 422 and r.get_json()["error"] == code
