"""Point lookup: the whole grid hierarchy at a WGS 84 point — town, zone, administrative
grid, leaf grid (regional or service), the leaf grid's workers on duty, the admin grid's
leader, and the boundary versions used.

Semantics (DESIGN.md, "Storage"): ST_Covers against the boundaries valid now, so a point on a
boundary is inside.

The tie rule. A point on an edge or vertex shared by several leaf grids is covered by all of
them; it goes to the one with the **smallest code**, the answer says ``on_boundary: true``
and ``candidates`` lists every covering grid of that level. The rule needs no geometry and
no state, so the same point always goes to the same grid, whether it is looked up here, in
bulk (geo/pointindex.py) or by the PostGIS join of bench/route_bench.py. ``TIE_RULE`` says it
in one sentence for the API.

``on_boundary`` means the point lies on the boundary of the grid it was given: a shared edge
or vertex, or the outer edge of the town. A point on an internal ST_Subdivide cut is not on a
boundary: the test runs on the full grid geometry (see locate.sql).

Gaps: a point covered by an admin grid but by no leaf grid (imported data with gaps) gets
``leaf = None`` with its admin grid (and the admin grid's leader; no workers). A point that
no admin grid and no leaf grid covers raises `OutsideCoverage`, naming the nearest grid (a
leaf grid when there are any) and its geodesic distance in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cache

import shapely
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

from boundaries.errors import OutsideCoverage
from boundaries.models import LEAF_LEVELS
from db.driver import driver_connection, driver_sql
from db.statements import named_statements

TIE_RULE = (
    "A point on a boundary shared by several grids goes to the grid with the smallest code; "
    "every grid that covers it is listed in candidates."
)


@dataclass
class Location:
    """What covers a WGS 84 point; see the module docstring for the fields' rules."""

    lon: float
    lat: float
    town: dict  # code, name
    zone: dict | None  # code, name, kind
    admin: dict  # code, name, version, valid_from
    leaf: dict | None  # code, name, level, version, valid_from
    workers_on_duty: list[dict] = field(default_factory=list)  # id, name, phone, title
    leader: dict | None = None  # id, name, phone
    on_boundary: bool = False
    candidates: list[str] = field(default_factory=list)
    # the town's latest boundary version the lookup saw (the intake's insert checks it; not
    # part of the API's answer)
    boundary_version: int | None = None

    def to_dict(self) -> dict:
        """The JSON the API answers (datetimes as ISO 8601)."""
        # shallow: dataclasses.asdict deep-copies every nested dict, 10 % of a lookup's CPU
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "boundary_version"}
        for key in ("admin", "leaf"):
            if out[key] and isinstance(out[key].get("valid_from"), datetime):
                out[key] = {**out[key], "valid_from": out[key]["valid_from"].isoformat()}
        return out


@cache
def _statements() -> dict[str, TextClause]:
    """The named statements of locate.sql (each after a ``-- name:`` line), parsed once per
    process: building the TextClause on every call cost 16 % of a lookup's Python time."""
    return {name: text(body)
            for name, body in named_statements("boundaries", "locate.sql").items()}


def locate(session: Session, lon: float, lat: float) -> Location:
    """The grid hierarchy at WGS 84 ``lon, lat``; raises OutsideCoverage when no grid covers it."""
    lon, lat = _checked(lon, lat)
    # on the driver's connection: every intake runs it (db/driver.py says why)
    cursor = driver_connection(session).cursor()
    (row,) = cursor.execute(driver_sql(_statements()["locate"].text), {"lon": lon, "lat": lat}).fetchone()
    if row["leaf"] is None and row["admin"] is None:
        raise _outside(session, lon, lat)
    return _location(row, lon, lat)


def locate_many(session: Session, points: list[tuple[float, float]]) -> list[Location | None]:
    """The grid hierarchy at each WGS 84 ``(lon, lat)`` of ``points``, in order: as
    :func:`locate` answers, but None for a point no grid covers (:func:`locate` on it raises
    OutsideCoverage naming the nearest grid).

    One network round trip for all of them (psycopg sends the statements in a pipeline): the
    feeds' subscriber locates a batch of sensors' positions at once (feeds/batch.py)."""
    checked = [_checked(lon, lat) for lon, lat in points]
    if not checked:
        return []
    cursor = driver_connection(session).cursor()
    cursor.executemany(driver_sql(_statements()["locate"].text),
                       [{"lon": lon, "lat": lat} for lon, lat in checked], returning=True)
    out: list[Location | None] = []
    for (lon, lat), _ in zip(checked, cursor.results(), strict=True):
        (row,) = cursor.fetchone()
        out.append(None if row["leaf"] is None and row["admin"] is None
                   else _location(row, lon, lat))
    return out


def _location(row: dict, lon: float, lat: float) -> Location:
    """A Location from the object the ``locate`` statement answered, which found a leaf or
    admin grid."""
    hits = row["hits"] or []
    leaf = row["leaf"]
    admin = row["admin"] or {}
    level_hits = [h["code"] for h in hits if (h["level"] in LEAF_LEVELS) == (leaf is not None)]
    town = row["town"] or {"code": (leaf or admin).get("town_code"), "name": None}
    return Location(
        lon=lon,
        lat=lat,
        town=town,
        zone=row["zone"],
        admin={
            "code": admin.get("code") or (leaf or {}).get("parent_code"),
            "name": admin.get("name"),
            "version": admin.get("version"),
            "valid_from": _when(admin.get("valid_from")),
        },
        leaf=None
        if leaf is None
        else {
            "code": leaf["code"],
            "name": leaf["name"],
            "level": leaf["level"],
            "version": leaf["version"],
            "valid_from": _when(leaf["valid_from"]),
        },
        workers_on_duty=row["workers"] or [],
        leader=row["leader"],
        on_boundary=bool((leaf or admin).get("on_edge")),
        candidates=sorted(level_hits),
        boundary_version=row["boundary_version"],
    )


def nearest_grid(session: Session, lon: float, lat: float) -> dict | None:
    """The leaf grid nearest to ``lon, lat`` (an admin grid when there are no leaf grids), as
    code, name, level and distance_m (geodesic metres); None when there are no grids."""
    lon, lat = _checked(lon, lat)
    for levels in (list(LEAF_LEVELS), ["admin"]):
        row = session.execute(
            _statements()["nearest"], {"lon": lon, "lat": lat, "levels": levels}
        ).one_or_none()
        if row is not None:
            return {"code": row.code, "name": row.name, "level": row.level,
                    "distance_m": float(row.distance_m)}
    return None


def current_grids(session: Session) -> list[dict]:
    """Every current grid: code, name, level, parent_code, town_code, version and its
    geometry (shapely, WGS 84), for building a bulk routing index (geo/pointindex.py)."""
    rows = session.execute(_statements()["current_grids"]).mappings().all()
    geoms = shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else []
    return [
        {k: r[k] for k in ("code", "name", "level", "parent_code", "town_code", "version")}
        | {"geometry": g}
        for r, g in zip(rows, geoms, strict=True)
    ]


def _outside(session: Session, lon: float, lat: float) -> OutsideCoverage:
    near = nearest_grid(session, lon, lat)
    if near is None:
        return OutsideCoverage(lon, lat, None, None, None, None)
    return OutsideCoverage(
        lon, lat, near["code"], near["name"], near["level"], round(near["distance_m"], 1)
    )


def _checked(lon: float, lat: float) -> tuple[float, float]:
    lon, lat = float(lon), float(lat)
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise ValueError(f"`lon` was {lon} but must be a longitude in [-180, 180]")
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise ValueError(f"`lat` was {lat} but must be a latitude in [-90, 90]")
    return lon, lat


def _when(value: str | datetime | None) -> datetime | None:
    """A timestamp from the statement's JSON (ISO 8601) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)
