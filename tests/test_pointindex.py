"""geo.pointindex: the bulk routing engine, against brute-force GEOS on the demo geometry and
on small shapes where every edge case is exact. No database."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from demo import geometry
from geo import gcj02
from geo.crs import to_wgs84
from geo.pointindex import PointIndex

SEED = 7


@pytest.fixture(scope="module")
def demo_grids():
    """The demo's leaf grids in lon/lat: codes, admin codes, polygons."""
    geo = geometry.build(SEED)
    leaves = sorted(geo.leaves, key=lambda leaf: leaf.code)
    return (
        [leaf.code for leaf in leaves],
        [leaf.village.code + "000" for leaf in leaves],
        [geo.to_lonlat(leaf.geom_xy) for leaf in leaves],
    )


@pytest.fixture(scope="module")
def demo_index(demo_grids):
    return PointIndex(*demo_grids)


def brute_force(codes, polygons, lon, lat):
    """The expected answer the slow way: every covering polygon, smallest code wins."""
    leaf = np.full(len(lon), -1)
    on_boundary = np.zeros(len(lon), dtype=bool)
    for j, (x, y) in enumerate(zip(lon, lat, strict=True)):
        p = shapely.Point(x, y)
        covering = [i for i, g in enumerate(polygons) if g.covers(p)]
        if covering:
            best = min(covering, key=lambda i: codes[i])
            leaf[j] = best
            on_boundary[j] = polygons[best].boundary.intersects(p)
    return leaf, on_boundary


def test_random_points_route_as_brute_force_covers(demo_grids, demo_index):
    codes, _, polygons = demo_grids
    minx, miny, maxx, maxy = shapely.total_bounds(np.array(polygons))
    rng = np.random.default_rng(1)
    lon = rng.uniform(minx - 0.01, maxx + 0.01, 3000)
    lat = rng.uniform(miny - 0.01, maxy + 0.01, 3000)
    result = demo_index.route(lon, lat)
    leaf, on_boundary = brute_force(codes, polygons, lon, lat)
    assert (result.leaf_index == leaf).all()
    assert (result.on_boundary == on_boundary).all()
    assert (result.outside == (leaf < 0)).all()
    assert result.outside.any() and not result.outside.all()


def test_every_vertex_is_on_a_boundary_and_goes_to_the_smallest_code(demo_grids, demo_index):
    codes, _, polygons = demo_grids
    xy = np.unique(np.vstack([shapely.get_coordinates(g) for g in polygons]), axis=0)
    result = demo_index.route(xy[:, 0], xy[:, 1])
    assert result.on_boundary.all() and not result.outside.any()
    tree = shapely.STRtree(polygons)
    pts, hits = tree.query(shapely.points(xy), predicate="intersects")
    smallest = {}
    for p, g in zip(pts, hits, strict=True):
        if p not in smallest or codes[g] < codes[smallest[p]]:
            smallest[p] = g
    assert [smallest[i] for i in range(len(xy))] == result.leaf_index.tolist()
    assert (result.leaf_index >= 0).all()


def test_codes_and_admin_codes_follow_the_routed_grid(demo_grids, demo_index):
    codes, admins, polygons = demo_grids
    inside = shapely.get_coordinates(polygons[10].representative_point())
    result = demo_index.route(inside[:, 0], inside[:, 1])
    assert demo_index.codes_of(result).tolist() == [codes[10]]
    assert demo_index.admin_codes_of(result).tolist() == [admins[10]]
    outside = demo_index.route(np.array([100.0]), np.array([20.0]))
    assert demo_index.codes_of(outside).tolist() == [None]


SQUARES = (["B", "A"], ["b0", "a0"], [box(0, 0, 1, 1), box(1, 0, 2, 1)])


@pytest.mark.parametrize("cells", [1, 16, 10_000])
@pytest.mark.parametrize(
    ("x", "y", "code", "on_boundary"),
    [
        (0.5, 0.5, "B", False),  # inside the left square
        (1.5, 0.25, "A", False),  # inside the right one
        (1.0, 0.5, "A", True),  # on the shared edge: the smallest code wins
        (1.0, 1.0, "A", True),  # on a shared vertex
        (0.0, 0.5, "B", True),  # on the outer edge: covered, on the boundary
        (2.5, 0.5, None, False),  # outside
        (1.0, 1.0 + 1e-12, None, False),  # a hair above the shared vertex
    ],
)
def test_edges_vertices_and_outside_are_exact_at_any_raster_size(cells, x, y, code, on_boundary):
    index = PointIndex(*SQUARES, cells=cells)
    result = index.route(np.array([x]), np.array([y]))
    assert index.codes_of(result).tolist() == [code]
    assert result.on_boundary.tolist() == [on_boundary]
    assert result.outside.tolist() == [code is None]


def test_a_hole_is_outside_and_an_island_in_it_is_routed():
    donut = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (3, 1), (3, 3), (1, 3)]])
    island = box(1.5, 1.5, 2.5, 2.5)
    index = PointIndex(["D", "I"], ["x", "x"], [donut, island], cells=400)
    result = index.route(np.array([0.5, 1.2, 2.0, 1.0, 1.5]), np.array([0.5, 1.2, 2.0, 2.0, 2.0]))
    assert index.codes_of(result).tolist() == ["D", None, "I", "D", "I"]
    assert result.on_boundary.tolist() == [False, False, False, True, True]


def test_overlapping_grids_give_the_smallest_code_inside_both():
    index = PointIndex(["Z", "M"], ["x", "x"], [box(0, 0, 2, 2), box(1, 1, 3, 3)], cells=900)
    result = index.route(np.array([1.5, 0.5, 2.5]), np.array([1.5, 0.5, 2.5]))
    assert index.codes_of(result).tolist() == ["M", "Z", "M"]
    assert not result.on_boundary.any()


def test_nan_and_out_of_range_points_are_outside(demo_index):
    result = demo_index.route(np.array([np.nan, 112.9, 500.0]), np.array([35.6, np.nan, 35.6]))
    assert result.outside.all() and (result.leaf_index == -1).all()


def test_no_grids_routes_everything_outside():
    index = PointIndex([], [], [])
    assert index.route(np.array([1.0]), np.array([2.0])).outside.tolist() == [True]


@pytest.mark.parametrize(
    ("args", "message"),
    [((["A"], [], [box(0, 0, 1, 1)]), "lengths"),
     ((["A"], ["a"], [shapely.LineString([(0, 0), (1, 1)])]), "Polygons")],
)
def test_bad_arguments_are_refused_with_the_reason(args, message):
    with pytest.raises(ValueError, match=message):
        PointIndex(*args)


# -- the property of the issue: a point converted to GCJ-02 and back lands in the same grid --

LONS = st.floats(112.78, 112.97, allow_nan=False)
LATS = st.floats(35.58, 35.70, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(LONS, LATS, st.sampled_from(["gcj02", "bd09"]))
def test_a_point_through_an_offset_and_back_lands_in_the_same_grid(demo_grids, demo_index, lon, lat, crs):
    _, _, polygons = demo_grids
    forward = gcj02.wgs84_to_gcj02 if crs == "gcj02" else gcj02.wgs84_to_bd09
    back_lon, back_lat = to_wgs84(*forward(lon, lat), crs)
    before = demo_index.route(np.array([lon]), np.array([lat]))
    # A point within a millimetre of a boundary may honestly cross it: the inverse is exact to
    # well under that, not to zero.
    if not before.outside[0]:
        edge = polygons[before.leaf_index[0]].boundary
        assume(edge.distance(shapely.Point(lon, lat)) > 1e-8)
    after = demo_index.route(np.array([back_lon]), np.array([back_lat]))
    assert after.leaf_index.tolist() == before.leaf_index.tolist()
