"""Coordinate reference systems: naming them, and deciding what counts as WGS 84.

gridgov stores every geometry in WGS 84 longitude/latitude (EPSG:4326). Official Chinese data
come in CGCS2000 (EPSG:4490, or one of its Gauss-Krüger projections such as EPSG:4547); the
two datums agree to well under a metre (DOMAIN.md, "Coordinates"), so CGCS2000 lon/lat is
relabelled as WGS 84 rather than transformed.

Points, unlike boundaries, also arrive in the consumer-map offsets GCJ-02 and BD-09 (from
phones and map apps): `to_wgs84` is the one conversion every entry point uses (the API, the
file importers, the CLI), so a point means the same thing wherever it came in.

Pure functions only: no Flask, SQLAlchemy or psycopg here (DESIGN.md).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo import gcj02

WGS84 = CRS.from_epsg(4326)
CGCS2000 = CRS.from_epsg(4490)

# Short names a user may type after --source-crs or ?crs=; anything else goes to pyproj
# ("EPSG:4547", "4547", a PROJ string, WKT).
ALIASES: dict[str, int] = {
    "wgs84": 4326,
    "wgs-84": 4326,
    "wgs 84": 4326,
    "cgcs2000": 4490,
    "cgcs-2000": 4490,
}

# The consumer-map offsets GCJ-02 ("Mars" coordinates) and BD-09 (Baidu) are not CRSs pyproj
# knows: they are a non-linear obfuscation of WGS 84 (geo/gcj02.py). `parse_crs` names and
# refuses them, so a boundary file gets a clear message instead of "unrecognized format";
# points in them are converted by `to_wgs84`.
OFFSET_SYSTEMS: dict[str, str] = {
    "gcj02": "GCJ-02",
    "gcj-02": "GCJ-02",
    "bd09": "BD-09",
    "bd-09": "BD-09",
}


def parse_crs(text: str) -> CRS:
    """The CRS named by `text`: "EPSG:4547", "4547", "wgs84", "cgcs2000", a PROJ string or WKT.

    Raises ValueError, with `text` in the message, for anything pyproj cannot read and for the
    GCJ-02 / BD-09 offsets (not supported yet).
    """
    key = text.strip().lower()
    if not key:
        raise ValueError("an empty string is not a CRS: try EPSG:4326 or EPSG:4547")
    if key in OFFSET_SYSTEMS:
        raise ValueError(
            f"{OFFSET_SYSTEMS[key]} ({text!r}) is a map-app offset, not a CRS; "
            "only points can be converted from it (crs=gcj02|bd09), not boundaries"
        )
    if key in ALIASES:
        return CRS.from_epsg(ALIASES[key])
    try:
        return CRS.from_epsg(int(key)) if key.isdigit() else CRS.from_user_input(text.strip())
    except CRSError as exc:
        raise ValueError(f"{text!r} is not a CRS pyproj knows: try EPSG:4326 or EPSG:4547") from exc


def is_wgs84_lonlat(crs: CRS) -> bool:
    """Whether coordinates in `crs` are already what we store: WGS 84 or CGCS2000 lon/lat."""
    if crs.equals(WGS84, ignore_axis_order=True) or crs.equals(CGCS2000, ignore_axis_order=True):
        return True
    return crs.to_epsg() in (4326, 4490)


def crs_label(crs: CRS | None) -> str:
    """A short name for messages: "EPSG:4547", else the CRS's own name, else "none"."""
    if crs is None:
        return "none"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


# The names a point's CRS may be given by in the API (``?crs=``) and in a file's ``crs``
# column; the first is the default. CGCS2000 equals WGS 84 for us (see above).
POINT_CRS = ("wgs84", "cgcs2000", "gcj02", "bd09")
_POINT_ALIASES = {"wgs-84": "wgs84", "wgs 84": "wgs84", "cgcs-2000": "cgcs2000",
                  "gcj-02": "gcj02", "bd-09": "bd09", "epsg:4326": "wgs84", "4326": "wgs84",
                  "epsg:4490": "cgcs2000", "4490": "cgcs2000"}


def point_crs_name(text: str) -> str:
    """The canonical name of a point CRS: one of POINT_CRS, else "EPSG:n" (or the CRS's name)
    for any other CRS pyproj knows. Raises ValueError naming `text` and the valid values."""
    key = str(text).strip().lower()
    key = _POINT_ALIASES.get(key, key)
    if key in POINT_CRS:
        return key
    try:
        crs = parse_crs(str(text))
    except ValueError as exc:
        raise ValueError(
            f"`crs` was {text!r} but is expected to be one of {', '.join(POINT_CRS)} "
            "(or, for files, a CRS pyproj knows, such as EPSG:4547)"
        ) from exc
    return crs_label(crs)


def to_wgs84(lon, lat, crs: str = "wgs84") -> tuple:
    """`lon, lat` (degrees, or the CRS's own x, y) in `crs`, as WGS 84 lon/lat.

    `crs` is one of POINT_CRS or any CRS pyproj knows ("EPSG:4547"); scalars stay scalars,
    arrays stay arrays. GCJ-02 and BD-09 use the iterated inverses of geo/gcj02.py (well under
    a millimetre; the one-step inverse is off by metres). Raises ValueError for an unknown `crs`.
    """
    name = point_crs_name(crs)
    if name in ("wgs84", "cgcs2000"):
        return _as_float(lon, lat)
    if name == "gcj02":
        return _on_the_globe(*gcj02.gcj02_to_wgs84(lon, lat))
    if name == "bd09":
        return _on_the_globe(*gcj02.bd09_to_wgs84(lon, lat))
    source = parse_crs(crs)
    if is_wgs84_lonlat(source):
        return _as_float(lon, lat)
    x, y = _transformer(source.to_wkt()).transform(lon, lat)
    return _as_float(x, y)


@lru_cache(maxsize=16)
def _transformer(wkt: str) -> Transformer:
    # always_xy: files and forms give x/lon first whatever the CRS's declared axis order
    return Transformer.from_crs(CRS.from_wkt(wkt), WGS84, always_xy=True)


def _on_the_globe(lon, lat) -> tuple:
    """A converted point back onto the globe: BD-09's shift applies everywhere, so a valid
    BD-09 point at the antimeridian or a pole came out past it (lon=-180 → -180.0067; a 500
    make fuzz found on GET /locate and POST /cases). The longitude is wrapped (the same place),
    the latitude held at the pole; either way far outside any town, which is then answered."""
    wrapped = (np.asarray(lon, dtype=float) + 180.0) % 360.0 - 180.0
    lon = np.where(np.asarray(lon) == 180.0, 180.0, wrapped)  # 180 stays 180, not -180
    return _as_float(lon, np.clip(np.asarray(lat, dtype=float), -90.0, 90.0))


def _as_float(lon, lat) -> tuple:
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(lon), float(lat)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
