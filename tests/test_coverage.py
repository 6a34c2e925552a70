"""geo.coverage and geo.crs: pure functions, no database."""

from __future__ import annotations

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS
from shapely import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box

from geo.coverage import (
    area_m2,
    coverage_gaps,
    coverage_overlaps,
    outside_parent,
    polygonal_part,
    repaired_polygon,
)
from geo.crs import is_wgs84_lonlat, parse_crs
from tests.boundary_data import lonlat, rect_m


def dense_lonlat(geom):
    """A UTM geometry in lon/lat, densified first so its straight edges stay put."""
    return lonlat(shapely.segmentize(geom, 10.0))


# A 2 km x 1 km village near Bagong, in lon/lat.
VILLAGE = dense_lonlat(rect_m(0, 0, 2000, 1000))


def strips(cuts: list[float]) -> list[Polygon]:
    """The village cut at the given x offsets (metres) into vertical strips, in lon/lat."""
    xs = [0.0, *sorted(cuts), 2000.0]
    return [dense_lonlat(rect_m(a, 0, b, 1000)) for a, b in zip(xs, xs[1:], strict=False) if b > a]


def test_area_of_a_100_m_square_is_10000_m2():
    assert area_m2(lonlat(rect_m(0, 0, 100, 100))) == pytest.approx(10_000, rel=1e-3)


def test_area_takes_edges_as_straight_in_lonlat_not_geodesic():
    # A 4 km x 1 cm strip along a parallel: a geodesic edge would bow 0.2 m north of it.
    lon0, lat = 112.9, 35.65
    strip = box(lon0, lat, lon0 + 0.044, lat + 1e-7)
    assert area_m2(strip) == pytest.approx(4000 * 0.0111, rel=0.02)


def test_area_ignores_ring_orientation_of_multipolygon_parts():
    a, b = lonlat(rect_m(0, 0, 100, 100)), lonlat(rect_m(200, 0, 300, 100))
    mixed = MultiPolygon([shapely.orient_polygons(a), shapely.orient_polygons(b, exterior_cw=True)])
    assert area_m2(mixed) == pytest.approx(20_000, rel=1e-3)


def test_area_subtracts_holes():
    holed = lonlat(rect_m(0, 0, 1000, 1000).difference(rect_m(100, 100, 200, 200)))
    assert area_m2(holed) == pytest.approx(990_000, rel=1e-3)


def test_gap_of_a_planted_square_is_found_with_its_area_and_location():
    hole = rect_m(900, 450, 1000, 550)
    children = [
        lonlat(rect_m(0, 0, 1000, 1000).difference(hole)),
        lonlat(rect_m(1000, 0, 2000, 1000)),
    ]
    (gap,) = coverage_gaps(VILLAGE, children)
    assert gap.area_m2 == pytest.approx(10_000, rel=0.01)
    assert lonlat(hole).contains(Point(gap.lonlat))


def test_no_children_is_one_gap_the_size_of_the_parent():
    (gap,) = coverage_gaps(VILLAGE, [])
    assert gap.area_m2 == pytest.approx(2_000_000, rel=1e-3)


def test_shared_edges_are_not_overlaps():
    assert coverage_overlaps(strips([500, 1000, 1500])) == []


def test_overlap_names_the_pair_and_its_area():
    children = [lonlat(rect_m(0, 0, 1050, 1000)), lonlat(rect_m(1000, 0, 2000, 1000))]
    (overlap,) = coverage_overlaps(children)
    assert (overlap.i, overlap.j) == (0, 1)
    assert overlap.area_m2 == pytest.approx(50_000, rel=0.01)


def test_contained_child_overlaps_its_container():
    (overlap,) = coverage_overlaps([VILLAGE, lonlat(rect_m(10, 10, 110, 110))])
    assert overlap.area_m2 == pytest.approx(10_000, rel=0.01)


def test_outside_parent_measures_the_part_outside():
    piece = outside_parent(VILLAGE, lonlat(rect_m(1900, 0, 2100, 1000)))
    assert piece is not None and piece.area_m2 == pytest.approx(100_000, rel=0.01)
    assert outside_parent(VILLAGE, lonlat(rect_m(0, 0, 100, 100))) is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=1, max_value=1999), min_size=1, max_size=12, unique=True))
def test_strips_tile_their_village_without_gaps_or_overlaps(cuts):
    tiles = strips(cuts)
    assert coverage_gaps(VILLAGE, tiles) == []
    assert coverage_overlaps(tiles) == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=1999), min_size=2, max_size=12, unique=True),
    st.integers(min_value=0),
)
def test_a_missing_strip_is_a_gap_of_its_own_area(cuts, which):
    tiles = strips([float(c) for c in cuts])  # strips at least 1 m wide
    missing = tiles.pop(which % len(tiles))
    gaps = coverage_gaps(VILLAGE, tiles)
    assert sum(g.area_m2 for g in gaps) == pytest.approx(area_m2(missing), rel=1e-4)


def test_bow_tie_is_repaired_into_its_two_triangles_with_a_reason():
    fixed, reason = repaired_polygon(Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]))
    assert fixed.is_valid and len(fixed.geoms) == 2 and fixed.area == pytest.approx(0.5)
    assert reason is not None and reason.startswith("Self-intersection")


def test_repair_keeps_polygonal_parts_and_drops_z():
    fixed, reason = repaired_polygon(
        GeometryCollection([box(0, 0, 1, 1), LineString([(0, 0), (3, 3)])])
    )
    assert fixed.geom_type == "MultiPolygon" and fixed.area == 1 and "dropped" in reason
    flat, reason = repaired_polygon(Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5), (0, 0, 5)]))
    assert not flat.has_z and reason is None


@pytest.mark.parametrize(
    "geom",
    [
        None,
        Polygon(),
        Point(0, 0),
        LineString([(0, 0), (1, 1)]),
        Polygon([(0, 0), (1, 1), (1, 1), (0, 0)]),
    ],
)
def test_nothing_polygonal_repairs_to_empty(geom):
    assert repaired_polygon(geom)[0].is_empty


def test_polygonal_part_of_nested_collection():
    nested = GeometryCollection([Point(0, 0), GeometryCollection([box(0, 0, 1, 1)])])
    assert polygonal_part(nested).equals(MultiPolygon([box(0, 0, 1, 1)]))


@pytest.mark.parametrize(
    ("text", "epsg"),
    [
        ("EPSG:4547", 4547),
        ("4547", 4547),
        ("epsg:32649", 32649),
        ("wgs84", 4326),
        ("WGS84", 4326),
        ("cgcs2000", 4490),
        (" EPSG:4326 ", 4326),
    ],
)
def test_parse_crs_accepts_codes_and_names(text, epsg):
    assert parse_crs(text).to_epsg() == epsg


@pytest.mark.parametrize("text", ["", "not-a-crs", "EPSG:999999", "gcj02", "BD09"])
def test_parse_crs_refuses_with_the_value_in_the_message(text):
    with pytest.raises(ValueError) as info:
        parse_crs(text)
    if text:
        assert repr(text) in str(info.value) or text in str(info.value)


def test_cgcs2000_counts_as_wgs84_and_projections_do_not():
    assert is_wgs84_lonlat(CRS.from_epsg(4490)) and is_wgs84_lonlat(CRS.from_epsg(4326))
    assert not is_wgs84_lonlat(CRS.from_epsg(4547))


def test_t_junction_slivers_from_reprojected_straight_edges_are_not_findings():
    # Strips drawn in UTM and reprojected vertex by vertex: their corners sit mid-edge on the
    # 4 km village, whose edges are straight in lon/lat, not in UTM: slivers up to 0.2 m
    # thick and hundreds of m².
    village = lonlat(rect_m(0, 0, 4000, 1000))
    tiles = [lonlat(rect_m(x, 0, x + 500, 1000)) for x in range(0, 4000, 500)]
    noise = village.symmetric_difference(shapely.union_all(tiles))
    assert area_m2(noise) > 500  # the slivers are there...
    assert coverage_gaps(village, tiles) == []  # ...and are not reported
    assert all(outside_parent(village, t) is None for t in tiles)


def test_a_thin_but_real_gap_is_found():
    tiles = [lonlat(rect_m(0, 0, 1000, 1000)), lonlat(rect_m(1001, 0, 2000, 1000))]
    (gap,) = coverage_gaps(VILLAGE, tiles)
    assert gap.area_m2 == pytest.approx(1000, rel=0.01)
