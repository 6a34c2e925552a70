"""Geocoding against the database's standard address table, with the index cached per process.

The index (geo.geocoder.AddressIndex) is built from the addresses, streets, current
administrative grids and the town, and kept per database URL together with the version of
those tables (the row 'geocoder' of data_versions, bumped by a trigger on every statement that
writes them, migration 0007). Every call reads the version (one primary-key lookup) and
rebuilds the index when it moved, so any committed change is seen by the next geocode in every
worker: an address added or removed, a door number or point corrected in place, a street
renamed, a village redrawn, a demo reloaded. ``invalidate()`` remains for tests and tools that
want a cold cache.
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

# What a cached index is kept under; a different answer means "build it again".
# - version: moves with every committed statement on the four tables (migration 0007).
# - xmin, the transaction that wrote this version of the row: a session that geocodes inside
#   its own transaction after changing an address sees its uncommitted bump and caches what it
#   saw under that number; if it rolls back, the next committed change reaches the same number
#   but is written by another transaction. Transaction ids are also unique across the cluster,
#   so a database dropped and made again behind the same URL starts back at version 0 with a
#   new xmin (a copy of a template carries the template's row and, with it, the same data).
# - pg_postmaster_start_time(): transaction ids start over in a new cluster (initdb) behind the
#   same host and port, which has to be started to be used. A restart of the same cluster
#   costs one rebuild per process.
# The database's oid would cover a dropped database but not the rolled-back transaction, nor a
# new cluster; the relations' file nodes no longer matter (TRUNCATE fires the trigger too).
FINGERPRINT_SQL = text("""
SELECT version, xmin::text AS xmin, pg_postmaster_start_time() AS started_at
FROM data_versions WHERE name = 'geocoder'
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
    # Read before the rows (each statement sees the latest commits): the index is then at least
    # as new as the version it is kept under, and at worst built once more than needed.
    row = session.execute(FINGERPRINT_SQL).one_or_none()
    if row is None:  # the 'geocoder' row was deleted by hand: nothing to tell changes by
        return build_index(session)
    fingerprint = tuple(row)
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
