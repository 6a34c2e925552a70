"""JSON schemas of the GeoJSON (RFC 7946) our answers are: a geometry, a Feature with the
properties a view documents, a FeatureCollection of them. For the OpenAPI document: the map
layers' answers described as exactly as the JSON ones, so the fuzzer (tests/test_fuzz_api.py)
checks them too.

Written here rather than taken from geojson-pydantic: our features are built as plain dicts by
the repositories (boundaries/repository.py, cases/hotspots.py), and what needs describing is
each layer's properties, which a generic Feature model leaves open.
"""

from __future__ import annotations

from typing import Any

POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
_COORDINATES = {
    "Point": POSITION,
    "LineString": {"type": "array", "items": POSITION},
    "Polygon": {"type": "array", "items": {"type": "array", "items": POSITION}},
    "MultiPolygon": {"type": "array",
                     "items": {"type": "array", "items": {"type": "array", "items": POSITION}}},
}


def geometry(*kinds: str) -> dict[str, Any]:
    """A geometry of one of ``kinds`` (Point, LineString, Polygon, MultiPolygon), lon/lat in
    EPSG:4326."""
    one_of = [{"type": "object", "required": ["type", "coordinates"],
               "properties": {"type": {"const": kind}, "coordinates": _COORDINATES[kind]}}
              for kind in kinds]
    return one_of[0] if len(one_of) == 1 else {"oneOf": one_of}


def feature(properties: dict[str, Any], geom: dict[str, Any], *, with_id: bool = True,
            description: str = "") -> dict[str, Any]:
    """A Feature whose ``properties`` are the object schema ``properties`` (every property
    named there is required: our features always carry them, null where the schema allows)."""
    schema: dict[str, Any] = {
        "type": "object", "required": ["type", "geometry", "properties"],
        "properties": {"type": {"const": "Feature"}, "geometry": geom,
                       "properties": _every_one_required(properties)},
    }
    if with_id:
        schema["required"].append("id")
        schema["properties"]["id"] = {"type": ["string", "integer"]}
    if description:
        schema["description"] = description
    return schema


def feature_collection(one: dict[str, Any], *, properties: dict[str, Any] | None = None,
                       description: str = "") -> dict[str, Any]:
    """A FeatureCollection of ``one`` (a :func:`feature` schema), with the collection's own
    ``properties`` object when given (not in RFC 7946, which allows foreign members)."""
    schema: dict[str, Any] = {
        "type": "object", "required": ["type", "features"],
        "properties": {"type": {"const": "FeatureCollection"},
                       "features": {"type": "array", "items": one}},
    }
    if properties is not None:
        schema["required"].append("properties")
        schema["properties"]["properties"] = properties
    if description:
        schema["description"] = description
    return schema


def _every_one_required(properties: dict[str, Any]) -> dict[str, Any]:
    return {**properties, "required": sorted(properties.get("properties", {}))}
