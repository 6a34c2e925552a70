"""geo.gcj02 checked against what is not geo.gcj02: published coordinate pairs, and another
implementation.

The round trips in test_crs_offsets.py show that each inverse undoes our forward formula; they
cannot show that the forward formula is GCJ-02's or BD-09's. Two oracles can:

- published pairs, copied with their source below: full-precision outputs that other
  projects' test suites pin, and gcoord's GCJ-02/BD-09 pairs for a city in every province
  (tests/data/gcoord_china_cities.csv, its source in its header);
- geocoordinates-rs (PyPI ``geocoordinates-rs``, imported as ``geocoordinates_ffi``): a
  separate implementation, in Rust, with its own tests against published vectors, installed
  for the tests only. Compared point by point across China and over Bagong, with Hypothesis
  and on a regular grid.

Distances are geodesic on WGS 84 (pyproj.Geod), in metres.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import geocoordinates_ffi as rs
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geo import gcj02

GEOD = Geod(ellps="WGS84")
# The same formula evaluated in double precision by other code agrees to nanometres; a
# millimetre apart would already be another formula (or another constant: 6378137 for
# Krasovsky's 6378245 moves GCJ-02 by about a centimetre, X_PI = pi moves BD-09 by tens of
# metres: test_a_known_wrong_constant_is_caught).
FORMULA_M = 0.001
# gcoord gives 7 decimals: rounding input and output to 1e-7 degree moves each by up to 8 mm.
ROUNDED_M = 0.02
CITIES = Path(__file__).resolve().parent / "data" / "gcoord_china_cities.csv"

LonLat = tuple[float, float]

# (conversion, input, published output), all (lon, lat) in degrees.
PUBLISHED: list[tuple[str, LonLat, LonLat, str]] = [
    # googollee/eviltransform python/test.py TESTS (the same in go/transform_test.go):
    # Shanghai, Shenzhen, Beijing
    ("wgs84_to_gcj02", (121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), "eviltransform"),
    ("wgs84_to_gcj02", (113.912316, 22.543847), (113.9171764808363, 22.540796131694766), "eviltransform"),
    ("wgs84_to_gcj02", (116.377817, 39.911954), (116.38404722455657, 39.91334545536069), "eviltransform"),
    # wandergis/coordtransform's example point (116.404, 39.915), its outputs as pinned by
    # dromara/hutool hutool-core/src/test/java/cn/hutool/core/util/CoordinateUtilTest.java and by
    # justin13888/geocoordinates-rs src/test_support.rs (from coordtransform-rs's tests)
    ("wgs84_to_gcj02", (116.404, 39.915), (116.41024449916938, 39.91640428150164), "coordtransform"),
    ("wgs84_to_bd09", (116.404, 39.915), (116.41662724378733, 39.922699552216216), "coordtransform"),
    ("gcj02_to_bd09", (116.404, 39.915), (116.41036949371029, 39.92133699351021), "coordtransform"),
    # hutool's CoordinateUtilTest.wgs84toBd09Test2, a pair it took from an online converter
    ("wgs84_to_bd09", (122.99395597, 44.99804071), (123.00636516028885, 45.0063690918959), "hutool"),
]
INVERSE_OF = {"wgs84_to_gcj02": "gcj02_to_wgs84", "wgs84_to_bd09": "bd09_to_wgs84", "gcj02_to_bd09": "bd09_to_gcj02"}


def _oracle(convert: Callable, record: type) -> Callable[[float, float], LonLat]:
    """geocoordinates_ffi takes and returns (lat, lon) records; give it lon, lat like ours."""

    def call(lon: float, lat: float) -> LonLat:
        out = convert(record(lat=lat, lon=lon))
        return out.lon, out.lat

    return call


ORACLE: dict[str, Callable[[float, float], LonLat]] = {
    "wgs84_to_gcj02": _oracle(rs.wgs84_to_gcj02, rs.Wgs84),
    "gcj02_to_bd09": _oracle(rs.gcj02_to_bd09, rs.Gcj02),
    "wgs84_to_bd09": _oracle(rs.wgs84_to_bd09, rs.Wgs84),
    # the inverses: fixed-point iterations like ours, to 1e-9 degree
    "gcj02_to_wgs84": _oracle(rs.gcj02_to_wgs84_refined, rs.Gcj02),
    "bd09_to_gcj02": _oracle(rs.bd09_to_gcj02_refined, rs.Bd09),
    "bd09_to_wgs84": _oracle(rs.bd09_to_wgs84_refined, rs.Bd09),
}
FORWARD = ["wgs84_to_gcj02", "gcj02_to_bd09", "wgs84_to_bd09"]
INVERSE = ["gcj02_to_wgs84", "bd09_to_gcj02", "bd09_to_wgs84"]

# the box in which GCJ-02 applies its offset (geo/gcj02.py), a little inside its edges
CHINA = st.tuples(st.floats(72.1, 137.7), st.floats(0.9, 55.7))
BAGONG = st.tuples(st.floats(112.80, 112.94), st.floats(35.60, 35.68))


def metres(a: LonLat, b: LonLat) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def ours(conversion: str, lon: float, lat: float) -> LonLat:
    return getattr(gcj02, conversion)(lon, lat)


def _apart(conversion: str, point: LonLat, got: LonLat, expected: LonLat, what: str) -> str:
    return (f"{conversion}{point}: ours {got} is {metres(got, expected):.3g} m from {what} "
            f"{expected}")


@pytest.mark.parametrize(("conversion", "given_", "published", "source"), PUBLISHED,
                         ids=[f"{c}-{s}-{g}" for c, g, _, s in PUBLISHED])
def test_forward_conversion_gives_the_published_coordinates(conversion, given_, published, source):
    got = ours(conversion, *given_)
    assert metres(got, published) <= FORMULA_M, _apart(conversion, given_, got, published, source)


@pytest.mark.parametrize(("conversion", "given_", "published", "source"), PUBLISHED,
                         ids=[f"{INVERSE_OF[c]}-{s}-{g}" for c, g, _, s in PUBLISHED])
def test_inverse_conversion_recovers_the_published_input(conversion, given_, published, source):
    inverse = INVERSE_OF[conversion]
    got = ours(inverse, *published)
    assert metres(got, given_) <= FORMULA_M, _apart(inverse, published, got, given_, source)


@pytest.mark.parametrize(("constant", "wrong", "conversion"), [
    ("_A", 6378137.0, "wgs84_to_gcj02"),  # WGS 84's semi-major axis for Krasovsky's
    ("_X_PI", np.pi, "gcj02_to_bd09"),  # pi for pi * 3000 / 180
], ids=["wgs84-axis", "plain-pi"])
def test_a_known_wrong_constant_is_caught(monkeypatch, constant, wrong, conversion):
    """Ports have shipped both mistakes; the published pairs and FORMULA_M tell them apart."""
    monkeypatch.setattr(gcj02, constant, wrong)
    misses = [metres(ours(c, *g), p) for c, g, p, _ in PUBLISHED if c == conversion]
    assert min(misses) > FORMULA_M


def _cities() -> list[dict[str, str]]:
    with CITIES.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


@pytest.mark.parametrize("city", _cities(), ids=lambda c: c["name"])
def test_gcj02_and_bd09_of_a_city_in_every_province_are_gcoords(city):
    gcj = (float(city["gcj02_lon"]), float(city["gcj02_lat"]))
    bd = (float(city["bd09_lon"]), float(city["bd09_lat"]))
    got = gcj02.gcj02_to_bd09(*gcj)
    assert metres(got, bd) <= ROUNDED_M, _apart("gcj02_to_bd09", gcj, got, bd, "gcoord")
    back = gcj02.bd09_to_gcj02(*bd)
    assert metres(back, gcj) <= ROUNDED_M, _apart("bd09_to_gcj02", bd, back, gcj, "gcoord")


@pytest.mark.parametrize("conversion", FORWARD + INVERSE)
@settings(max_examples=300, deadline=None)
@given(point=st.one_of(CHINA, BAGONG))
def test_every_conversion_agrees_with_geocoordinates_rs(conversion, point):
    got, expected = ours(conversion, *point), ORACLE[conversion](*point)
    assert metres(got, expected) <= FORMULA_M, _apart(conversion, point, got, expected, "geocoordinates-rs")


@pytest.mark.parametrize("conversion", FORWARD + INVERSE)
@pytest.mark.parametrize(("step", "west", "east", "south", "north"), [
    (1.0, 72.5, 137.5, 1.0, 55.5),  # all of the box, every degree
    (0.01, 112.80, 112.94, 35.60, 35.68),  # Bagong, about every kilometre
], ids=["china", "bagong"])
def test_arrays_agree_with_geocoordinates_rs_on_a_grid(conversion, step, west, east, south, north):
    lon, lat = np.meshgrid(np.arange(west, east + step / 2, step), np.arange(south, north + step / 2, step))
    got_lon, got_lat = ours(conversion, lon.ravel(), lat.ravel())
    expected = np.array([ORACLE[conversion](x, y) for x, y in zip(lon.ravel(), lat.ravel(), strict=True)])
    apart = GEOD.inv(got_lon, got_lat, expected[:, 0], expected[:, 1])[2]
    worst = int(np.argmax(apart))
    assert apart[worst] <= FORMULA_M, _apart(
        conversion, (float(lon.ravel()[worst]), float(lat.ravel()[worst])),
        (float(got_lon[worst]), float(got_lat[worst])), tuple(expected[worst]), "geocoordinates-rs")


OUTSIDE = {
    "London": (-0.1278, 51.5074), "Tokyo": (139.6917, 35.6895), "Sydney": (151.2093, -33.8688),
    "west of the box": (72.0, 40.0), "east of the box": (137.84, 40.0),
    "south of the box": (110.0, 0.82), "north of the box": (110.0, 55.83),
}
INSIDE_EDGES = {
    "west edge": (72.01, 40.0), "east edge": (137.83, 40.0),
    "south edge": (110.0, 0.83), "north edge": (110.0, 55.82),
}


@pytest.mark.parametrize("point", OUTSIDE.values(), ids=OUTSIDE.keys())
def test_outside_china_gcj02_adds_no_offset_in_either_implementation(point):
    assert ours("wgs84_to_gcj02", *point) == point == ORACLE["wgs84_to_gcj02"](*point)
    assert ours("gcj02_to_wgs84", *point) == point == ORACLE["gcj02_to_wgs84"](*point)
    # BD-09 is GCJ-02 shifted again; that shift applies everywhere, in both
    got, expected = ours("wgs84_to_bd09", *point), ORACLE["wgs84_to_bd09"](*point)
    assert got == ours("gcj02_to_bd09", *point)
    assert metres(got, expected) <= FORMULA_M, _apart("wgs84_to_bd09", point, got, expected, "geocoordinates-rs")


@pytest.mark.parametrize("point", INSIDE_EDGES.values(), ids=INSIDE_EDGES.keys())
def test_just_inside_the_box_both_apply_the_same_offset(point):
    got, expected = ours("wgs84_to_gcj02", *point), ORACLE["wgs84_to_gcj02"](*point)
    assert metres(point, got) > 1.0  # offset, not passed through
    assert metres(got, expected) <= FORMULA_M, _apart("wgs84_to_gcj02", point, got, expected, "geocoordinates-rs")


# -- round trips over the whole of China, and the rule outside it --------------------------------
# The box of the published rule (geo/gcj02.py _out_of_china), written out again, and what a
# round trip may lose: the inverses iterate to 1e-10 degree (about 0.01 mm).
WEST, EAST, SOUTH, NORTH = 72.004, 137.8347, 0.8293, 55.8271
ROUND_TRIP_M = 0.001
IN_BOX = st.tuples(st.floats(WEST, EAST), st.floats(SOUTH, NORTH))
OUTSIDE_BOX = st.one_of(
    st.tuples(st.floats(-180, WEST, exclude_max=True), st.floats(-90, 90)),
    st.tuples(st.floats(EAST, 180, exclude_min=True), st.floats(-90, 90)),
    st.tuples(st.floats(-180, 180), st.floats(-90, SOUTH, exclude_max=True)),
    st.tuples(st.floats(-180, 180), st.floats(NORTH, 90, exclude_min=True)),
)


def _in_box(lon: float, lat: float) -> bool:
    return WEST <= lon <= EAST and SOUTH <= lat <= NORTH


ROUND_TRIPS = [("wgs84_to_gcj02", "gcj02_to_wgs84"), ("wgs84_to_bd09", "bd09_to_wgs84"),
               ("gcj02_to_bd09", "bd09_to_gcj02")]


@pytest.mark.parametrize(("forward", "inverse"), ROUND_TRIPS, ids=[f for f, _ in ROUND_TRIPS])
@settings(max_examples=100, deadline=None)
@given(point=IN_BOX)
def test_there_and_back_lands_within_a_millimetre_anywhere_in_the_box(forward, inverse, point):
    there = ours(forward, *point)
    # a point within an offset of the box's edge may be carried out of it, where the rule of
    # the box reads it as a WGS 84 point (two points map there): GCJ-02 cannot be undone there
    assume(forward.startswith("gcj02") or _in_box(*ours("wgs84_to_gcj02", *point)))
    back = ours(inverse, *there)
    assert metres(point, back) <= ROUND_TRIP_M, _apart(inverse, point, back, point, "the start")


@pytest.mark.parametrize(("forward", "inverse"), ROUND_TRIPS, ids=[f for f, _ in ROUND_TRIPS])
@settings(max_examples=100, deadline=None)
@given(point=IN_BOX)
def test_back_and_there_lands_within_a_millimetre_anywhere_in_the_box(forward, inverse, point):
    back = ours(inverse, *point)
    # within an offset of the box's edge, a GCJ-02 point may have no WGS 84 point mapping to it
    # (the offset stops at the edge): its inverse lies outside the box, where nothing is offset
    assume(inverse.endswith("_gcj02") or _in_box(*back))
    there = ours(forward, *back)
    assert metres(point, there) <= ROUND_TRIP_M, _apart(forward, point, there, point, "the start")


@settings(max_examples=100, deadline=None)
@given(point=OUTSIDE_BOX)
def test_outside_the_box_gcj02_is_wgs84_in_both_directions(point):
    assert ours("wgs84_to_gcj02", *point) == point
    assert ours("gcj02_to_wgs84", *point) == point
