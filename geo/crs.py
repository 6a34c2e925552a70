"""Coordinate reference systems: naming them, and deciding what counts as WGS 84.

gridgov stores every geometry in WGS 84 longitude/latitude (EPSG:4326). Official Chinese data
come in CGCS2000 (EPSG:4490, or one of its Gauss-Krüger projections such as EPSG:4547); the
two datums agree to well under a metre (DOMAIN.md, "Coordinates"), so CGCS2000 lon/lat is
relabelled as WGS 84 rather than transformed.

Pure functions only: no Flask, SQLAlchemy or psycopg here (DESIGN.md).
"""

from __future__ import annotations

from pyproj import CRS
from pyproj.exceptions import CRSError

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
# knows: they are a non-linear obfuscation of WGS 84. Their conversion functions belong in this
# module, next to `parse_crs` (a later issue); until then they are named and refused, so a
# user gets a clear message instead of "unrecognized format".
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
            "converting from it is not supported yet"
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
