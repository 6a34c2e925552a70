"""An emergency's area as the operator gives it, checked and made one (multi)polygon in
EPSG:4326.

The forms (``AreaSpec``; exactly one of ``geojson``, ``grid``, ``village``):

- ``geojson``: a Polygon or MultiPolygon drawn on the map or read from an uploaded file (a
  Feature or FeatureCollection of them too: their union), lon/lat in WGS 84;
- ``geojson`` a Point or (Multi)LineString — a place, a river line — with ``buffer_m``: the
  area within that many metres of it (geodesic: PostGIS ``geography`` buffers in metres on
  the spheroid); a polygon may be buffered too;
- ``grid``: a leaf or administrative grid code (15 digits), as the grid is now;
- ``village``: a village code (12 digits), its administrative grid.

A polygon that is not valid (self-intersecting, an unclosed or too-short ring) is AreaInvalid
with shapely's reason; one of no extent is AreaEmpty. Neither is repaired: an operator who drew
a bow-tie should see it, not a guess of what was meant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.validation import explain_validity
from sqlalchemy import text
from sqlalchemy.orm import Session

from db.statements import named_statements
from emergencies.errors import AreaEmpty, AreaInvalid, AreaNotFound

MAX_BUFFER_M = 20_000.0  # the town is about 15 km across
POLYGONS = ("Polygon", "MultiPolygon")
LINES_POINTS = ("Point", "MultiPoint", "LineString", "MultiLineString")


@dataclass(frozen=True)
class AreaSpec:
    geojson: dict[str, Any] | None = None
    grid: str | None = None
    village: str | None = None
    buffer_m: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("geojson", self.geojson), ("grid", self.grid),
                                  ("village", self.village), ("buffer_m", self.buffer_m))
                if v is not None}


@dataclass(frozen=True)
class Area:
    """The resolved area: a MultiPolygon as GeoJSON text (EPSG:4326), and its size."""

    geojson: str
    area_km2: float
    spec: AreaSpec


def _sql(name: str):
    return text(named_statements("emergencies", "emergencies.sql")[name])


def _geometries(obj: Any) -> list[dict]:
    """The geometries of a GeoJSON geometry, Feature or FeatureCollection."""
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise AreaInvalid("the area's geojson must be a GeoJSON object with a `type`",
                          {"field": "area.geojson"})
    kind = obj["type"]
    if kind == "Feature":
        return _geometries(obj.get("geometry"))
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list):
            raise AreaInvalid("a FeatureCollection needs a `features` list",
                              {"field": "area.geojson.features"})
        return [g for f in features for g in _geometries(f)]
    if kind == "GeometryCollection":
        return [g for sub in obj.get("geometries") or [] for g in _geometries(sub)]
    if kind not in POLYGONS + LINES_POINTS:
        raise AreaInvalid(f"{kind!r} is not a geometry an area can be made of: a Polygon or "
                          "MultiPolygon, or a Point or LineString with buffer_m",
                          {"field": "area.geojson.type", "value": kind})
    return [obj]


def _shape(geometry: dict) -> shapely.Geometry:
    try:
        geom = shape(geometry)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError,
            shapely.errors.GEOSException) as exc:
        raise AreaInvalid(f"the area's {geometry.get('type')} has malformed coordinates: {exc}",
                          {"field": "area.geojson.coordinates"}) from exc
    if geom.is_empty:
        return geom
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise AreaInvalid("the area's coordinates are not [lon, lat] in WGS 84 degrees",
                          {"field": "area.geojson.coordinates",
                           "bbox": [minx, miny, maxx, maxy]})
    return geom


def checked_geometry(spec: AreaSpec) -> shapely.Geometry:
    """The spec's geometry, checked (AreaInvalid, AreaEmpty): polygons valid and of some
    extent; points and lines only with a positive ``buffer_m``."""
    parts = [_shape(g) for g in _geometries(spec.geojson)]
    parts = [p for p in parts if not p.is_empty]
    if not parts:
        raise AreaEmpty("the area has no coordinates: draw a polygon, or give a point or line "
                        "with buffer_m", {"field": "area.geojson"})
    polygons = [p for p in parts if p.geom_type in POLYGONS]
    for p in polygons:
        if not p.is_valid:
            raise AreaInvalid(f"the area is not a valid polygon: {explain_validity(p)}",
                              {"field": "area.geojson", "reason": explain_validity(p)})
    if len(polygons) < len(parts) and not spec.buffer_m:
        raise AreaInvalid("a point or a line is an area only with a buffer: give buffer_m "
                          "(metres)", {"field": "area.buffer_m"})
    if not spec.buffer_m and all(p.area == 0 for p in polygons):
        raise AreaEmpty("the area's polygon has no extent (zero area)",
                        {"field": "area.geojson"})
    return shapely.GeometryCollection(parts) if len(parts) > 1 else parts[0]


def check_spec(spec: AreaSpec) -> None:
    """Exactly one form, and a buffer in range (AreaInvalid)."""
    given = [k for k in ("geojson", "grid", "village") if getattr(spec, k) is not None]
    if len(given) != 1:
        raise AreaInvalid("give the area as exactly one of geojson, grid or village, not "
                          f"{' and '.join(given) or 'none'}", {"field": "area"})
    if spec.buffer_m is not None:
        if not (0 < spec.buffer_m <= MAX_BUFFER_M):
            raise AreaInvalid(f"buffer_m {spec.buffer_m} is not within (0, {MAX_BUFFER_M:.0f}] "
                              "metres", {"field": "area.buffer_m", "value": spec.buffer_m})
        if spec.geojson is None:
            raise AreaInvalid("buffer_m goes with a geojson point, line or polygon",
                              {"field": "area.buffer_m"})


def resolve(session: Session, spec: AreaSpec) -> Area:
    """The area as one MultiPolygon (AreaInvalid, AreaEmpty, AreaNotFound)."""
    check_spec(spec)
    conn = session.connection()
    if spec.geojson is not None:
        geom = checked_geometry(spec)
        row = conn.execute(_sql("area_from_geojson"), {
            "geojson": json.dumps(mapping(geom)), "buffer_m": spec.buffer_m}).mappings().one()
    else:
        code = spec.grid if spec.grid is not None else f"{spec.village}000"
        row = conn.execute(_sql("area_from_grid"), {"code": code}).mappings().first()
        if row is None:
            what = "grid" if spec.grid is not None else "village"
            raise AreaNotFound(f"there is no {what} {spec.grid or spec.village} now",
                               {"field": f"area.{what}", "value": spec.grid or spec.village})
    if row["geojson"] is None or not row["area_km2"]:
        raise AreaEmpty("the area has no extent", {"field": "area"})
    return Area(geojson=row["geojson"], area_km2=float(row["area_km2"]), spec=spec)
