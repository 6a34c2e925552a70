"""Read the current grid hierarchy as GeoJSON, for maps and the API.

"Current" is ``valid_to IS NULL`` (boundary versions are explained in boundaries/models.py).
Every function takes a Session, runs one statement per layer and never commits.

The SQL is written by hand: the geometry goes out as GeoJSON straight from PostGIS
(``ST_AsGeoJSON``, coordinates rounded to 1e-6 degrees, about 0.1 m, which keeps a page
small), and the people and household counts are aggregated in the same statement, so a layer
costs one round trip however many grids it has.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.models import LEVELS

FeatureCollection = dict[str, Any]

# Digits after the decimal point in the GeoJSON coordinates (degrees, EPSG:4326).
GEOJSON_DIGITS = 6

_TOWNS_SQL = text(
    """
    SELECT code, name, county, city, province,
           ST_AsGeoJSON(geom, :digits)::json AS geometry
    FROM towns
    WHERE (CAST(:town_code AS text) IS NULL OR code = :town_code)
    ORDER BY code
    """
)

_ZONES_SQL = text(
    """
    SELECT z.code, z.name, z.kind, z.town_code, z.version, p.name AS leader,
           ST_AsGeoJSON(z.geom, :digits)::json AS geometry
    FROM zones z
    LEFT JOIN people p ON p.id = z.leader_id
    WHERE z.valid_to IS NULL
      AND (CAST(:town_code AS text) IS NULL OR z.town_code = :town_code)
    ORDER BY z.code
    """
)

# Households are recorded against the leaf grid they fall in; an administrative grid counts
# those of its leaf grids (plus any recorded against the village itself). A post counts while
# its ``until`` has not passed.
_GRIDS_SQL = text(
    """
    WITH current_grids AS (
        SELECT code, name, level, parent_code, zone_code, town_code, version, geom
        FROM grids
        WHERE valid_to IS NULL
          AND (CAST(:town_code AS text) IS NULL OR town_code = :town_code)
    ),
    households_by_grid AS (
        SELECT grid_code, count(*) AS n FROM households GROUP BY grid_code
    ),
    households_by_village AS (
        SELECT g.parent_code AS code, sum(h.n) AS n
        FROM current_grids g JOIN households_by_grid h ON h.grid_code = g.code
        WHERE g.parent_code IS NOT NULL
        GROUP BY g.parent_code
    ),
    posts AS (
        SELECT a.grid_code,
               array_agg(p.name ORDER BY p.name) FILTER (WHERE a.role = 'leader') AS leaders,
               array_agg(p.name ORDER BY p.name) FILTER (WHERE a.role = 'worker') AS workers
        FROM grid_assignments a JOIN people p ON p.id = a.person_id
        WHERE a.until IS NULL OR a.until >= current_date
        GROUP BY a.grid_code
    )
    SELECT g.code, g.name, g.level, g.parent_code, g.zone_code, g.version,
           coalesce(posts.leaders, '{}') AS leaders,
           coalesce(posts.workers, '{}') AS workers,
           coalesce(own.n, 0) + coalesce(village.n, 0) AS households,
           ST_AsGeoJSON(g.geom, :digits)::json AS geometry
    FROM current_grids g
    LEFT JOIN posts ON posts.grid_code = g.code
    LEFT JOIN households_by_grid own ON own.grid_code = g.code
    LEFT JOIN households_by_village village ON village.code = g.code
    WHERE CAST(:level AS text) IS NULL OR g.level = :level
    ORDER BY array_position(ARRAY['admin', 'regional', 'service'], g.level::text), g.code
    """
)

_COUNTS_SQL = text(
    """
    SELECT level, count(*) AS n FROM grids
    WHERE valid_to IS NULL AND (CAST(:town_code AS text) IS NULL OR town_code = :town_code)
    GROUP BY level
    """
)

_SUMMARY_SQL = text(
    """
    SELECT t.code, t.name,
           (SELECT count(*) FROM zones z
            WHERE z.valid_to IS NULL AND z.town_code = t.code) AS zones,
           (SELECT count(*) FROM people p WHERE p.town_code = t.code) AS people,
           (SELECT count(*) FROM households h WHERE h.town_code = t.code) AS households
    FROM towns t
    WHERE (CAST(:town_code AS text) IS NULL OR t.code = :town_code)
    ORDER BY t.code
    LIMIT 1
    """
)


def _feature(row: Any, properties: dict[str, Any]) -> dict[str, Any]:
    feature_id = properties["code"]
    return {"type": "Feature", "id": feature_id, "geometry": row.geometry, "properties": properties}


def _collection(features: list[dict[str, Any]]) -> FeatureCollection:
    return {"type": "FeatureCollection", "features": features}


def check_level(level: str | None) -> str | None:
    """Return ``level`` if it is None or a grid level, else raise ValueError naming it."""
    if level is not None and level not in LEVELS:
        raise ValueError(f"`level` was {level!r} but is expected to be one of {list(LEVELS)}")
    return level


def town_geojson(session: Session, town_code: str | None = None) -> FeatureCollection:
    """The towns (normally one) as a FeatureCollection: code, name, county, city, province."""
    rows = session.execute(_TOWNS_SQL, {"digits": GEOJSON_DIGITS, "town_code": town_code})
    return _collection([
        _feature(row, {
            "code": row.code, "name": row.name, "county": row.county, "city": row.city,
            "province": row.province,
        })
        for row in rows
    ])


def zones_geojson(session: Session, town_code: str | None = None) -> FeatureCollection:
    """The current zones: code, name, kind (village|enterprise), town_code, version, leader."""
    rows = session.execute(_ZONES_SQL, {"digits": GEOJSON_DIGITS, "town_code": town_code})
    return _collection([
        _feature(row, {
            "code": row.code, "name": row.name, "kind": row.kind, "town_code": row.town_code,
            "version": row.version, "leader": row.leader,
        })
        for row in rows
    ])


def grids_geojson(
    session: Session, level: str | None = None, town_code: str | None = None
) -> FeatureCollection:
    """The current grids of one level (all when None), by level then code.

    Properties: code, name, level, parent_code, zone_code, version, leaders and workers
    (lists of names), worker_count, households (for an administrative grid, its leaf grids'
    households too). Raises ValueError for a level that is not admin, regional or service.
    """
    check_level(level)
    params = {"digits": GEOJSON_DIGITS, "level": level, "town_code": town_code}
    return _collection([
        _feature(row, {
            "code": row.code, "name": row.name, "level": row.level, "parent_code": row.parent_code,
            "zone_code": row.zone_code, "version": row.version, "leaders": list(row.leaders),
            "workers": list(row.workers), "worker_count": len(row.workers),
            "households": int(row.households),
        })
        for row in session.execute(_GRIDS_SQL, params)
    ])


def grid_counts(session: Session, town_code: str | None = None) -> dict[str, int]:
    """How many current grids each level has, every level present (0 when none)."""
    rows = session.execute(_COUNTS_SQL, {"town_code": town_code})
    found = {row.level: row.n for row in rows}
    return {level: int(found.get(level, 0)) for level in LEVELS}


def town_summary(session: Session, town_code: str | None = None) -> dict[str, Any] | None:
    """The first town's code, name and counts of zones, grids by level, people, households."""
    row = session.execute(_SUMMARY_SQL, {"town_code": town_code}).first()
    if row is None:
        return None
    return {
        "code": row.code,
        "name": row.name,
        "zones": int(row.zones),
        "grids": grid_counts(session, row.code),
        "people": int(row.people),
        "households": int(row.households),
    }
