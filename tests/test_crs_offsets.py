"""geo.crs.to_wgs84: the one conversion every point goes through (API, import, CLI)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geo import gcj02
from geo.crs import POINT_CRS, point_crs_name, to_wgs84

GEOD = Geod(ellps="WGS84")
BAGONG = (112.872, 35.638)
# the demo town and a margin around it, in degrees
LONS = st.floats(112.70, 113.05, allow_nan=False)
LATS = st.floats(35.52, 35.76, allow_nan=False)


def metres(lon1, lat1, lon2, lat2) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def test_point_crs_names_the_four_systems_in_order():
    assert POINT_CRS == ("wgs84", "cgcs2000", "gcj02", "bd09")


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "WGS84", " CGCS2000 ", "EPSG:4326", "4490"])
def test_wgs84_and_cgcs2000_are_taken_as_they_are(crs):
    assert to_wgs84(*BAGONG, crs) == BAGONG


def test_gcj02_and_bd09_offsets_at_bagong_are_the_published_size():
    # DOMAIN.md: GCJ-02 is 500-600 m off WGS 84 at Bagong, BD-09 about 1.3 km
    g_lon, g_lat = gcj02.wgs84_to_gcj02(*BAGONG)
    b_lon, b_lat = gcj02.wgs84_to_bd09(*BAGONG)
    assert 400 < metres(*BAGONG, g_lon, g_lat) < 700
    assert 1000 < metres(*BAGONG, b_lon, b_lat) < 1600


@settings(max_examples=300, deadline=None)
@given(LONS, LATS)
def test_gcj02_round_trip_lands_within_a_metre(lon, lat):
    back = to_wgs84(*gcj02.wgs84_to_gcj02(lon, lat), "gcj02")
    assert metres(lon, lat, *back) < 1.0


@settings(max_examples=300, deadline=None)
@given(LONS, LATS)
def test_bd09_round_trip_lands_within_a_metre(lon, lat):
    back = to_wgs84(*gcj02.wgs84_to_bd09(lon, lat), "bd09")
    assert metres(lon, lat, *back) < 1.0


def test_the_one_step_inverse_is_off_by_metres_and_ours_is_not():
    # why we iterate: subtracting the offset computed at the offset point misses by metres
    lon, lat = BAGONG
    g_lon, g_lat = gcj02.wgs84_to_gcj02(lon, lat)
    f_lon, f_lat = gcj02.wgs84_to_gcj02(g_lon, g_lat)
    one_step = (2 * g_lon - f_lon, 2 * g_lat - f_lat)
    assert metres(lon, lat, *one_step) > 0.5
    assert metres(lon, lat, *to_wgs84(g_lon, g_lat, "gcj02")) < 0.001


def test_arrays_stay_arrays_and_scalars_stay_scalars():
    lon = np.array([112.80, 112.90, 113.00])
    lat = np.array([35.60, 35.65, 35.70])
    out_lon, out_lat = to_wgs84(lon, lat, "gcj02")
    assert isinstance(out_lon, np.ndarray) and out_lon.shape == (3,)
    single = to_wgs84(112.9, 35.65, "gcj02")
    assert isinstance(single[0], float)
    assert single == pytest.approx((out_lon[1], out_lat[1]), abs=1e-12)


def test_a_projected_crs_is_transformed_with_lon_first():
    # CGCS2000 / 3-degree Gauss-Kruger CM 114E: x is easting whatever the CRS's axis order says
    lon, lat = to_wgs84(500000.0, 3_940_000.0, "EPSG:4547")
    assert lon == pytest.approx(114.0, abs=1e-9)
    assert 35.5 < lat < 35.7
    assert point_crs_name("EPSG:4547") == "EPSG:4547"


@pytest.mark.parametrize("bad", ["foo", "", "EPSG:999999", "gcj03"])
def test_an_unknown_crs_is_refused_naming_it_and_the_valid_ones(bad):
    with pytest.raises(ValueError) as info:
        to_wgs84(112.9, 35.6, bad)
    message = str(info.value)
    assert repr(bad) in message
    assert all(name in message for name in POINT_CRS)
