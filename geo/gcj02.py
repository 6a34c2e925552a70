"""GCJ-02 ("Mars" coordinates) and BD-09 (Baidu), the offset systems of Chinese consumer maps.

GCJ-02 is WGS 84 plus a published non-linear offset (about 500–600 m at Bagong); BD-09 is
GCJ-02 plus a further shift. The forward formulas are the widely reproduced ones (e.g. the
eviltransform and coordtransform projects); there is no closed-form inverse, and the usual
one-step inverse (subtract the offset computed at the offset point) is off by metres, which
is enough to put a point in the neighbouring grid. So the inverses here iterate the forward
transform to a fixed point, to well under a millimetre.

Why our own code: pyproj/PROJ deliberately does not ship these (they are not geodetic
datums), and the small PyPI packages that do use the one-step inverse.

All functions take and return degrees, ``lon, lat`` order, scalars or numpy arrays.
"""

from __future__ import annotations

import numpy as np

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10  # about 0.01 mm
_MAX_ITERATIONS = 30


def _out_of_china(lon, lat):
    """GCJ-02 applies no offset outside this box (the published rule)."""
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _dlat(x, y):
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _dlon(x, y):
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon, lat):
    """WGS 84 → GCJ-02 (the forward formula); no offset outside the box of _out_of_china."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    shifted_lon, shifted_lat = _gcj02_shifted(lon, lat)
    outside = _out_of_china(lon, lat)
    return _unwrap(np.where(outside, lon, shifted_lon), np.where(outside, lat, shifted_lat))


def _gcj02_shifted(lon, lat):
    """The GCJ-02 offset applied wherever the point is (the box ignored): smooth, so the
    inverse's iteration converges near the box's edges too."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return lon + dlon, lat + dlat


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (the forward formula)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _unwrap(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006)


def wgs84_to_bd09(lon, lat):
    """WGS 84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward, lon, lat):
    """Solve forward(x) = (lon, lat) by fixed-point iteration x ← x + (target − forward(x));
    the offsets vary slowly, so this converges in a handful of steps."""
    tlon = np.asarray(lon, dtype=float)
    tlat = np.asarray(lat, dtype=float)
    xlon, xlat = tlon.copy(), tlat.copy()
    for _ in range(_MAX_ITERATIONS):
        flon, flat = forward(xlon, xlat)
        dlon, dlat = tlon - flon, tlat - flat
        xlon = xlon + dlon
        xlat = xlat + dlat
        if np.all(np.abs(dlon) < _TOLERANCE_DEG) and np.all(np.abs(dlat) < _TOLERANCE_DEG):
            break
    return _unwrap(xlon, xlat)


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 → WGS 84, iterated to well under a millimetre; unchanged outside the box.

    The iteration runs on the offset without the box (_gcj02_shifted). On the forward formula
    itself, an iterate that stepped out of the box near its edge met no offset there, and the
    iteration swung between the two sides instead of converging: a point 1 km inside the west
    edge came back 434 m away (found by test_gcj02.py's round trips over the whole box). A
    GCJ-02 point inside the box within an offset of its edge may have no WGS 84 point mapping
    to it at all; it gets the solution of the unboxed formula, just outside the box. And one
    just outside may have two (itself, and one inside the box that the offset carried out):
    it gets itself, by the rule of the box.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    out_lon, out_lat = lon.copy(), lat.copy()
    inside = ~_out_of_china(lon, lat)
    if np.any(inside):  # only those: far outside (at a pole) the unboxed formula overflows
        out_lon[inside], out_lat[inside] = _invert(_gcj02_shifted, lon[inside], lat[inside])
    return _unwrap(out_lon, out_lat)


def bd09_to_gcj02(lon, lat):
    """BD-09 → GCJ-02, iterated."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon, lat):
    """BD-09 → WGS 84, iterated."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _unwrap(lon, lat):
    """Scalars back to floats, arrays stay arrays."""
    if np.ndim(lon) == 0:
        return float(lon), float(lat)
    return lon, lat
