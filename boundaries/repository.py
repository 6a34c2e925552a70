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

# The households and posts are those of the grids asked for (a town's, in a province of many:
# ix_grids_current_town, ix_households_grid and ix_grid_assignments_grid find them), not every
# grid's aggregated and then mostly thrown away.
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
        SELECT h.grid_code, count(*) AS n
        FROM current_grids g JOIN households h ON h.grid_code = g.code
        GROUP BY h.grid_code
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
               array_agg(p.name ORDER BY p.name) FILTER (WHERE a.role = 'worker') AS workers,
               count(*) FILTER (WHERE a.role = 'worker' AND p.on_duty) AS workers_on_duty
        FROM current_grids g
        JOIN grid_assignments a ON a.grid_code = g.code
        JOIN people p ON p.id = a.person_id
        WHERE a.until IS NULL OR a.until >= town_today()
        GROUP BY a.grid_code
    )
    SELECT g.code, g.name, g.level, g.parent_code, g.zone_code, g.version,
           coalesce(posts.leaders, '{}') AS leaders,
           coalesce(posts.workers, '{}') AS workers,
           coalesce(posts.workers_on_duty, 0) AS workers_on_duty,
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

# An account's grids for its phone (web/api/worker.py): the grids named, and the leaf grids of
# the administrative grids named (a grid leader's village), outlines only.
_GRIDS_OF_SQL = text(
    """
    SELECT code, name, level, parent_code, ST_AsGeoJSON(geom, :digits)::json AS geometry
    FROM grids
    WHERE valid_to IS NULL
      AND (code = ANY(CAST(:codes AS text[])) OR parent_code = ANY(CAST(:parents AS text[])))
    ORDER BY array_position(ARRAY['admin', 'regional', 'service'], level::text), code
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


def first_town_code(session: Session) -> str | None:
    """The code of the first town by code; None without a town."""
    return session.execute(text("SELECT min(code) FROM towns")).scalar_one()


def town_names(session: Session) -> list[dict[str, str | None]]:
    """Every town's code, name and county, by code (a province's town chooser); no outline."""
    rows = session.execute(text("SELECT code, name, county FROM towns ORDER BY code"))
    return [dict(r) for r in rows.mappings()]


def town_name(session: Session, town_code: str) -> str | None:
    """The name of the town ``town_code``; None when no town has that code."""
    sql = text("SELECT name FROM towns WHERE code = :code")
    return session.execute(sql, {"code": town_code}).scalar_one_or_none()


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
    (lists of names), worker_count, workers_on_duty, households (for an administrative grid,
    its leaf grids' households too). Raises ValueError for a level that is not admin, regional or service.
    """
    check_level(level)
    params = {"digits": GEOJSON_DIGITS, "level": level, "town_code": town_code}
    return _collection([
        _feature(row, {
            "code": row.code, "name": row.name, "level": row.level, "parent_code": row.parent_code,
            "zone_code": row.zone_code, "version": row.version, "leaders": list(row.leaders),
            "workers": list(row.workers), "worker_count": len(row.workers),
            "workers_on_duty": int(row.workers_on_duty),
            "households": int(row.households),
        })
        for row in session.execute(_GRIDS_SQL, params)
    ])


def grids_of(session: Session, codes: list[str], parents: list[str] = ()) -> FeatureCollection:
    """The current grids of ``codes`` and the current children of ``parents`` (administrative
    grid codes): code, name, level, parent_code; administrative grids first, then by code."""
    params = {"digits": GEOJSON_DIGITS, "codes": list(codes), "parents": list(parents)}
    return _collection([
        _feature(row, {"code": row.code, "name": row.name, "level": row.level,
                       "parent_code": row.parent_code})
        for row in session.execute(_GRIDS_OF_SQL, params)
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


# -- one grid, and the facts the operator map's numbers are made of ---------------------

_GRID_SQL = text(
    """
    SELECT g.code, g.name, g.level, g.parent_code, parent.name AS parent_name, g.zone_code,
           z.name AS zone_name, g.town_code, t.name AS town_name, g.version, g.valid_from,
           g.valid_to, ST_AsGeoJSON(g.geom, :digits)::json AS geometry
    FROM grids g
    JOIN towns t ON t.code = g.town_code
    LEFT JOIN grids parent ON parent.code = g.parent_code AND parent.valid_to IS NULL
    LEFT JOIN zones z ON z.code = g.zone_code AND z.valid_to IS NULL
    WHERE g.code = :code
      AND (CASE WHEN CAST(:version AS integer) IS NULL THEN g.valid_to IS NULL
                ELSE g.version = :version END)
    ORDER BY g.version DESC
    LIMIT 1
    """
)

# The current posts of a grid, of its leaf grids when it is an administrative grid, and the
# grid leader of its village when it is a leaf grid (the village party secretary leads them all).
_GRID_PEOPLE_SQL = text(
    """
    SELECT a.grid_code, a.role AS post, p.id, p.name, p.title, p.phone, p.on_duty
    FROM grid_assignments a JOIN people p ON p.id = a.person_id
    WHERE (a.until IS NULL OR a.until >= town_today())
      AND (a.grid_code IN (
              SELECT CAST(:code AS text) UNION ALL
              SELECT code FROM grids WHERE parent_code = CAST(:code AS text) AND valid_to IS NULL)
           OR (a.role = 'leader' AND a.grid_code = (
              SELECT parent_code FROM grids WHERE code = CAST(:code AS text) AND valid_to IS NULL)))
    ORDER BY array_position(ARRAY['leader', 'worker', 'liaison', 'auxiliary'], a.role::text),
             a.grid_code, p.name, p.id
    """
)

_HOUSEHOLDS_SQL = text(
    """
    SELECT h.grid_code, count(*) AS households, coalesce(sum(h.residents), 0) AS residents
    FROM households h
    WHERE CAST(:town_code AS text) IS NULL OR h.town_code = :town_code
    GROUP BY h.grid_code
    """
)

_WORKER_POSTS_SQL = text(
    """
    SELECT a.grid_code, p.id AS person_id, p.on_duty
    FROM grid_assignments a JOIN people p ON p.id = a.person_id
    WHERE a.role = 'worker' AND (a.until IS NULL OR a.until >= town_today())
      AND (CAST(:town_code AS text) IS NULL OR p.town_code = :town_code)
    ORDER BY a.grid_code, p.id
    """
)

_GRID_LIST_SQL = text(
    """
    SELECT code, name, level, parent_code FROM grids
    WHERE valid_to IS NULL AND (CAST(:town_code AS text) IS NULL OR town_code = :town_code)
    ORDER BY array_position(ARRAY['admin', 'regional', 'service'], level::text), code
    """
)


def grid_feature(session: Session, code: str, version: int | None = None) -> dict[str, Any] | None:
    """One grid as a GeoJSON Feature: the current version, or ``version`` when given.

    Properties: code, name, level, parent_code, parent_name, zone_code, zone_name, town_code,
    town_name, version, valid_from and valid_to (ISO 8601). None when there is no such grid.
    """
    row = session.execute(
        _GRID_SQL, {"code": code, "version": version, "digits": GEOJSON_DIGITS}
    ).first()
    if row is None:
        return None
    return _feature(row, {
        "code": row.code, "name": row.name, "level": row.level, "parent_code": row.parent_code,
        "parent_name": row.parent_name, "zone_code": row.zone_code, "zone_name": row.zone_name,
        "town_code": row.town_code, "town_name": row.town_name, "version": row.version,
        "valid_from": row.valid_from.isoformat() if row.valid_from else None,
        "valid_to": row.valid_to.isoformat() if row.valid_to else None,
    })


def grid_people(session: Session, code: str) -> list[dict[str, Any]]:
    """The current posts of a grid, of its leaf grids (a village) or its village's grid leader
    (a leaf grid): grid_code, post (leader, worker, liaison, auxiliary), person id, name,
    title, phone, on_duty; leaders first."""
    return [dict(row._mapping) for row in session.execute(_GRID_PEOPLE_SQL, {"code": code})]


def current_grids(session: Session, town_code: str | None = None) -> list[dict[str, Any]]:
    """Every current grid's code, name, level and parent_code, by level then code."""
    return [dict(r._mapping) for r in session.execute(_GRID_LIST_SQL, {"town_code": town_code})]


def households_by_grid(session: Session, town_code: str | None = None) -> dict[str, tuple[int, int]]:
    """Grid code -> (households, residents) recorded against that grid itself."""
    rows = session.execute(_HOUSEHOLDS_SQL, {"town_code": town_code})
    return {r.grid_code: (int(r.households), int(r.residents)) for r in rows}


def worker_posts(session: Session, town_code: str | None = None) -> list[tuple[str, int, bool]]:
    """Every current grid-worker post as (grid_code, person_id, on_duty)."""
    rows = session.execute(_WORKER_POSTS_SQL, {"town_code": town_code})
    return [(r.grid_code, int(r.person_id), bool(r.on_duty)) for r in rows]
