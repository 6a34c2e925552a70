"""Geocoding against the database's standard address table, with the index cached per process.

The index (geo.geocoder.AddressIndex) is built from the addresses, streets, current
administrative grids and the town, and kept per database URL together with a fingerprint of
those tables. Every call checks the fingerprint (one cheap query) and rebuilds the index when
it changed, so an address added, a street removed or a village redrawn is seen by the next
geocode in every worker. What the fingerprint does not see: an UPDATE that changes a row in
place without changing counts or ids; call ``invalidate()`` after one.
"""

from __future__ import annotations

import threading

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.geocoder import AddressIndex, GeocodeResult

# Farther than this from every standard address, the nearest one says nothing useful about
# where a point is (fields, hills, or outside the town, which is ~12 km across): no answer.
REVERSE_MAX_DISTANCE_M = 2000.0

# Counts and max ids catch inserts and deletes; the relation's file node changes on TRUNCATE,
# so a demo reloaded with the same number of rows and restarted ids is seen too.
FINGERPRINT_SQL = text("""
SELECT (SELECT count(*) FROM addresses), (SELECT max(id) FROM addresses),
       (SELECT count(*) FROM streets), (SELECT max(id) FROM streets),
       (SELECT count(*) FROM grids WHERE level = 'admin' AND valid_to IS NULL),
       (SELECT max(id) FROM grids WHERE level = 'admin' AND valid_to IS NULL),
       (SELECT count(*) FROM towns),
       pg_relation_filenode('addresses'), pg_relation_filenode('streets'),
       pg_relation_filenode('grids'), pg_relation_filenode('towns')
""")

ADDRESSES_SQL = text("""
SELECT id, full_text, village, village_code, group_name, street, door_number, building, unit,
       room, grid_code, ST_X(geom) AS lon, ST_Y(geom) AS lat
FROM addresses ORDER BY id
""")

STREETS_SQL = text("SELECT village_code, name, ST_AsBinary(geom) AS wkb FROM streets ORDER BY id")

# A village-level result's point: the centroid of the village's standard addresses when it
# lies inside the village (it is where people live, in the residential core), else the
# administrative grid's ST_PointOnSurface (always inside, but may fall in the fields).
VILLAGES_SQL = text("""
WITH homes AS (
    SELECT village_code, ST_Centroid(ST_Collect(geom)) AS c FROM addresses GROUP BY village_code
), v AS (
    SELECT left(g.code, 12) AS code, g.name,
           CASE WHEN h.c IS NOT NULL AND ST_Covers(g.geom, h.c) THEN h.c ELSE ST_PointOnSurface(g.geom) END AS p
    FROM grids g LEFT JOIN homes h ON h.village_code = left(g.code, 12)
    WHERE g.level = 'admin' AND g.valid_to IS NULL
)
SELECT code, name, ST_X(p) AS lon, ST_Y(p) AS lat FROM v ORDER BY code
""")

TOWN_SQL = text("""
SELECT code, name, county, city, province, ST_X(p) AS lon, ST_Y(p) AS lat
FROM (SELECT *, ST_PointOnSurface(geom) AS p FROM towns) t ORDER BY code LIMIT 1
""")

# database URL (password hidden) -> (fingerprint, index or None when there is no town yet)
_cache: dict[str, tuple[tuple, AddressIndex | None]] = {}
_lock = threading.Lock()


def _url(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def index_rows(session: Session) -> dict | None:
    """The rows an AddressIndex is built from (its keyword arguments), or None when the
    database has no town yet."""
    town = session.execute(TOWN_SQL).mappings().first()
    if town is None:
        return None
    rows = session.execute(STREETS_SQL).all()
    lines = shapely.from_wkb([bytes(r.wkb) for r in rows]) if rows else []
    return {
        "addresses": [dict(r) for r in session.execute(ADDRESSES_SQL).mappings()],
        "streets": [{"village_code": r.village_code, "name": r.name, "coords": shapely.get_coordinates(g)}
                    for r, g in zip(rows, lines)],
        "villages": [dict(r) for r in session.execute(VILLAGES_SQL).mappings()],
        "town": dict(town),
    }


def build_index(session: Session) -> AddressIndex | None:
    """A fresh index from the database, or None when it has no town yet."""
    rows = index_rows(session)
    return AddressIndex(**rows) if rows is not None else None


def address_index(session: Session) -> AddressIndex | None:
    """The cached index for this session's database, rebuilt when its tables changed."""
    url = _url(session)
    fingerprint = tuple(session.execute(FINGERPRINT_SQL).one())
    cached = _cache.get(url)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    with _lock:  # one build per process at a time; the others wait and reuse it
        cached = _cache.get(url)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        index = build_index(session)
        _cache[url] = (fingerprint, index)
        return index


def invalidate(url: str | None = None) -> None:
    """Forget the cached index of one database (by its URL as the session renders it), or all."""
    with _lock:
        if url is None:
            _cache.clear()
        else:
            _cache.pop(url, None)


def geocode(session: Session, text: str) -> GeocodeResult | None:
    """Geocode a free-text address against this database's standard addresses."""
    index = address_index(session)
    return index.geocode(text) if index is not None else None


def reverse(session: Session, lon: float, lat: float,
            max_distance_m: float = REVERSE_MAX_DISTANCE_M) -> dict | None:
    """The standard address nearest a WGS 84 point: ``{"address": row, "distance_m": d}``, or
    None when none lies within ``max_distance_m``."""
    index = address_index(session)
    found = index.reverse(lon, lat, max_distance_m) if index is not None else None
    if found is None:
        return None
    row, distance_m = found
    return {"address": row, "distance_m": distance_m}
