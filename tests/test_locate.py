"""boundaries.locate: the grid hierarchy at a point, against the real demo in PostGIS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.locate import OutsideCoverage, current_grids, locate, locate_many, nearest_grid
from db.session import engine_for

LEAF = "('regional', 'service')"

# Two neighbouring leaf grids and the segments of the boundary they share.
SHARED_SEGMENTS = f"""
SELECT a.code AS a, b.code AS b, s.geom AS seg
FROM grids a
JOIN grids b ON a.code < b.code AND a.geom && b.geom AND ST_Touches(a.geom, b.geom)
CROSS JOIN LATERAL ST_DumpSegments(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) s
WHERE a.level IN {LEAF} AND b.level IN {LEAF} AND a.valid_to IS NULL AND b.valid_to IS NULL
"""


@pytest.fixture
def session(demo_db_url) -> Iterator[Session]:
    """A session on the demo, rolled back at the end."""
    s = Session(engine_for(demo_db_url))
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def covering_leaves(session: Session, lon: float, lat: float) -> list[str]:
    """What PostGIS itself says covers the point (the full, unsubdivided grids)."""
    return list(session.execute(text(
        f"SELECT code FROM grids WHERE level IN {LEAF} AND valid_to IS NULL "
        "AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY code"
    ), {"x": lon, "y": lat}).scalars())


def shared_edge_point(session: Session) -> tuple[float, float, str, str]:
    """A point inside a shared segment (not at its ends) that PostGIS says both grids cover
    and that lies on both boundaries; the midpoint of a segment is rarely exact, so we look."""
    row = session.execute(text(f"""
        WITH c AS ({SHARED_SEGMENTS}),
        p AS (SELECT a, b, ST_LineInterpolatePoint(seg, f) AS pt
              FROM c, (VALUES (0.5), (0.25), (0.75)) AS t(f) WHERE ST_Length(seg) > 1e-5)
        SELECT a, b, ST_X(pt) AS x, ST_Y(pt) AS y FROM p
        JOIN grids ga ON ga.code = p.a AND ga.valid_to IS NULL
        JOIN grids gb ON gb.code = p.b AND gb.valid_to IS NULL
        WHERE ST_Covers(ga.geom, pt) AND ST_Covers(gb.geom, pt)
          AND ST_Intersects(ST_Boundary(ga.geom), pt) AND ST_Intersects(ST_Boundary(gb.geom), pt)
        ORDER BY a, b LIMIT 1
    """)).one()
    return row.x, row.y, row.a, row.b


def shared_vertex(session: Session, grids: int) -> tuple[float, float]:
    """A vertex of the leaf partition where at least `grids` leaf grids meet."""
    row = session.execute(text(f"""
        WITH v AS (
            SELECT DISTINCT (ST_DumpPoints(geom)).geom AS pt FROM grids
            WHERE level IN {LEAF} AND valid_to IS NULL
        )
        SELECT ST_X(pt) AS x, ST_Y(pt) AS y FROM v
        WHERE (SELECT count(*) FROM grids g WHERE g.level IN {LEAF} AND g.valid_to IS NULL
               AND ST_Covers(g.geom, v.pt)) >= :n
        ORDER BY ST_X(pt), ST_Y(pt) LIMIT 1
    """), {"n": grids}).one()
    return row.x, row.y


def test_a_household_address_gets_its_whole_hierarchy(session):
    addr = session.execute(text(
        "SELECT a.grid_code, ST_X(a.geom) AS x, ST_Y(a.geom) AS y FROM households h "
        "JOIN addresses a ON a.id = h.address_id ORDER BY h.id LIMIT 1")).one()
    loc = locate(session, addr.x, addr.y)
    assert loc.leaf["code"] == addr.grid_code
    assert loc.leaf["level"] == "service" and loc.leaf["version"] == 1
    assert loc.admin["code"] == addr.grid_code[:12] + "000"
    assert loc.town == {"code": "140525108", "name": "巴公镇"}
    assert loc.zone is not None and loc.zone["kind"] in ("village", "enterprise")
    assert loc.on_boundary is False and loc.candidates == [addr.grid_code]
    expected_workers = list(session.execute(text(
        "SELECT p.id FROM grid_assignments a JOIN people p ON p.id = a.person_id "
        "WHERE a.grid_code = :g AND a.role = 'worker' AND p.on_duty ORDER BY p.id"),
        {"g": addr.grid_code}).scalars())
    assert [w["id"] for w in loc.workers_on_duty] == expected_workers
    assert all(set(w) == {"id", "name", "phone", "title"} for w in loc.workers_on_duty)
    leader = session.execute(text(
        "SELECT person_id FROM grid_assignments WHERE grid_code = :g AND role = 'leader'"),
        {"g": loc.admin["code"]}).scalar_one()
    assert loc.leader["id"] == leader and set(loc.leader) == {"id", "name", "phone"}
    body = loc.to_dict()
    assert isinstance(body["leaf"]["valid_from"], str) and body["lon"] == addr.x


def test_a_point_on_a_shared_edge_goes_to_the_smaller_code_and_says_so(session):
    x, y, a, b = shared_edge_point(session)
    assert covering_leaves(session, x, y) == [a, b]  # PostGIS: both cover it
    loc = locate(session, x, y)
    assert loc.leaf["code"] == min(a, b)
    assert loc.on_boundary is True
    assert loc.candidates == [a, b]


@pytest.mark.parametrize("meeting", [2, 3])
def test_a_shared_vertex_goes_to_the_smallest_code_among_all_that_meet(session, meeting):
    x, y = shared_vertex(session, meeting)
    covering = covering_leaves(session, x, y)
    assert len(covering) >= meeting
    loc = locate(session, x, y)
    assert loc.leaf["code"] == covering[0]
    assert loc.candidates == covering and loc.on_boundary is True


def test_a_point_on_an_internal_subdivide_cut_is_not_on_a_boundary(session):
    # grid_parts cut the grids (ST_Subdivide); a cut line inside a grid is no boundary
    row = session.execute(text("""
        SELECT g.code, ST_X(pt) AS x, ST_Y(pt) AS y
        FROM grid_parts p1
        JOIN grid_parts p2 ON p1.grid_id = p2.grid_id AND p1.id < p2.id AND p1.geom && p2.geom
        JOIN grids g ON g.id = p1.grid_id,
        LATERAL ST_DumpSegments(ST_Intersection(p1.geom, p2.geom)) s,
        LATERAL ST_LineInterpolatePoint(s.geom, 0.5) pt
        WHERE g.level IN ('regional', 'service') AND ST_Length(s.geom) > 1e-5
          AND NOT ST_Intersects(ST_Boundary(g.geom), ST_Buffer(pt, 1e-6))
        ORDER BY g.code LIMIT 1
    """)).one()
    loc = locate(session, row.x, row.y)
    assert loc.leaf["code"] == row.code
    assert loc.on_boundary is False and loc.candidates == [row.code]


def test_a_point_2_km_outside_the_town_names_the_nearest_grid_and_distance(session):
    # 2 km due east of the town's easternmost vertex
    row = session.execute(text("""
        WITH e AS (SELECT pt FROM (SELECT (ST_DumpPoints(geom)).geom AS pt FROM towns) v
                   ORDER BY ST_X(pt) DESC LIMIT 1)
        SELECT ST_X(q) AS x, ST_Y(q) AS y FROM e,
               LATERAL (SELECT ST_Project(e.pt::geography, 2000, radians(90))::geometry AS q) p
    """)).one()
    with pytest.raises(OutsideCoverage) as info:
        locate(session, row.x, row.y)
    exc = info.value
    assert exc.nearest_level in ("regional", "service")
    assert 1500 < exc.distance_m <= 2000.5
    truth = session.execute(text(
        f"SELECT code, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography) AS d "
        f"FROM grids WHERE level IN {LEAF} AND valid_to IS NULL ORDER BY d LIMIT 1"),
        {"x": row.x, "y": row.y}).one()
    assert exc.nearest_code == truth.code
    assert exc.distance_m == pytest.approx(truth.d, abs=0.1)
    assert exc.nearest_code in str(exc) and "m away" in str(exc)


def test_locate_many_answers_each_point_as_locate_does_and_none_outside(session):
    x, y, _, _ = shared_edge_point(session)
    vx, vy = shared_vertex(session, 3)
    inside = session.execute(text(
        f"SELECT ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y FROM grids "
        f"WHERE level IN {LEAF} AND valid_to IS NULL ORDER BY code LIMIT 3")).all()
    points = [(x, y), (116.39, 39.91), *[(r.x, r.y) for r in inside], (vx, vy), (x, y)]
    many = locate_many(session, points)
    assert many[1] is None
    assert [m for i, m in enumerate(many) if i != 1] == [locate(session, px, py)
                                                         for i, (px, py) in enumerate(points) if i != 1]
    assert locate_many(session, []) == []


def test_nearest_grid_of_a_point_far_away(session):
    near = nearest_grid(session, 112.0, 35.0)
    assert near["level"] in ("regional", "service") and near["distance_m"] > 50_000


@pytest.mark.parametrize(("lon", "lat"), [(181.0, 35.0), (112.0, -91.0), (float("nan"), 35.0)])
def test_impossible_coordinates_are_refused(session, lon, lat):
    with pytest.raises(ValueError, match="lon|lat"):
        locate(session, lon, lat)


def test_current_grids_lists_every_current_grid_with_geometry(session):
    grids = current_grids(session)
    assert len(grids) == 38 + 167 + 214
    assert {g["level"] for g in grids} == {"admin", "regional", "service"}
    assert all(g["geometry"].geom_type == "MultiPolygon" for g in grids)


def test_a_gap_between_leaf_grids_is_answered_by_the_admin_grid(demo_copy_url):
    with Session(engine_for(demo_copy_url)) as s:
        row = s.execute(text(
            "SELECT code, parent_code, ST_X(ST_PointOnSurface(geom)) AS x, "
            "ST_Y(ST_PointOnSurface(geom)) AS y FROM grids WHERE level = 'service' "
            "ORDER BY code LIMIT 1")).one()
        s.execute(text("DELETE FROM grids WHERE code = :c"), {"c": row.code})  # a gap
        loc = locate(s, row.x, row.y)
        s.rollback()
    assert loc.leaf is None and loc.workers_on_duty == []
    assert loc.admin["code"] == row.parent_code and loc.candidates == [row.parent_code]
    assert loc.leader is not None and loc.on_boundary is False


def test_a_redrawn_grid_answers_with_its_new_version(demo_copy_url):
    with Session(engine_for(demo_copy_url)) as s:
        row = s.execute(text(
            "SELECT id, code, ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y "
            "FROM grids WHERE level = 'regional' ORDER BY code LIMIT 1")).one()
        s.execute(text("UPDATE grids SET valid_to = now(), valid_from = now() - interval '1 day' "
                       "WHERE id = :id"), {"id": row.id})
        s.execute(text(
            "INSERT INTO grids (code, name, level, parent_code, zone_code, town_code, geom, version, valid_from) "
            "SELECT code, name || '（新）', level, parent_code, zone_code, town_code, geom, version + 1, now() "
            "FROM grids WHERE id = :id"), {"id": row.id})
        loc = locate(s, row.x, row.y)
        s.rollback()
    assert loc.leaf["code"] == row.code and loc.leaf["version"] == 2
    assert loc.leaf["name"].endswith("（新）")
