"""The JSON documents of the OGC API, built from plain values and the API's base URL (e.g.
``http://127.0.0.1:8000/ogc``): no Flask, no database.

Links are absolute: GDAL and QGIS follow ``next`` as given.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

from ogc.collections import COLLECTIONS, Collection
from ogc.query import LIMIT_DEFAULT, LIMIT_MAX, ItemsQuery

JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
_REL = "http://www.opengis.net/def/rel/ogc/1.0/"


def _link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media_type}
    if title:
        link["title"] = title
    return link


def landing(base: str, title: str) -> dict[str, Any]:
    """The landing page: what this is and where the rest is."""
    return {
        "title": title,
        "description": "Grid boundaries (current and past versions), zones and the public "
                       "board's closed cases, as OGC API – Features (GeoJSON, CRS84).",
        "links": [
            _link(f"{base}/", "self", JSON, "this document"),
            _link(f"{base}/api", "service-desc", OPENAPI, "the API definition (OpenAPI 3.0)"),
            _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            _link(f"{base}/conformance", f"{_REL}conformance", JSON, "conformance classes"),
            _link(f"{base}/collections", "data", JSON, "the collections"),
            _link(f"{base}/collections", f"{_REL}data", JSON, "the collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    """The conformance classes this API implements."""
    return {"conformsTo": CONFORMANCE}


def collection_document(base: str, found: Collection, extent: dict[str, Any]) -> dict[str, Any]:
    """One collection's description, with its extent (ogc.collections.extent)."""
    href = f"{base}/collections/{quote(found.id)}"
    return {
        "id": found.id,
        "title": found.title,
        "description": found.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            _link(href, "self", JSON, found.title),
            _link(f"{href}/items", "items", GEOJSON, f"{found.title}: features"),
        ],
    }


def collections_document(base: str, described: list[dict[str, Any]]) -> dict[str, Any]:
    """The list of collections (each a collection_document)."""
    return {
        "links": [_link(f"{base}/collections", "self", JSON, "the collections")],
        "collections": described,
    }


def feature_collection(base: str, collection_id: str, query: ItemsQuery,
                       features: list[dict[str, Any]], matched: int) -> dict[str, Any]:
    """A page of features with numberMatched, numberReturned and links to this page, the
    next and previous ones, and the collection."""
    href = f"{base}/collections/{quote(collection_id)}/items"
    links = [_link(f"{href}?{urlencode(query.parameters())}", "self", GEOJSON, "this page")]
    if query.offset + len(features) < matched:
        following = urlencode(query.parameters(offset=query.offset + len(features)))
        links.append(_link(f"{href}?{following}", "next", GEOJSON, "the next page"))
    if query.offset > 0:
        preceding = urlencode(query.parameters(offset=max(0, query.offset - query.limit)))
        links.append(_link(f"{href}?{preceding}", "prev", GEOJSON, "the previous page"))
    links.append(_link(f"{base}/collections/{quote(collection_id)}", "collection", JSON,
                       "the collection"))
    return {
        "type": "FeatureCollection",
        "timeStamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
        "links": links,
    }


def feature_document(base: str, collection_id: str, feature: dict[str, Any]) -> dict[str, Any]:
    """One feature with its links (itself, its collection)."""
    href = f"{base}/collections/{quote(collection_id)}"
    return {**feature, "links": [
        _link(f"{href}/items/{quote(str(feature['id']))}", "self", GEOJSON, "this feature"),
        _link(href, "collection", JSON, "the collection"),
    ]}


# -- the API definition (OpenAPI 3.0, the oas30 conformance class) --------------------------------

_EXCEPTION = {
    "type": "object", "required": ["code"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
}


def _responses(ok: str, media_type: str, errors: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok,
                                   "content": {media_type: {"schema": {"type": "object"}}}}}
    for status, description in errors.items():
        out[status] = {"description": description,
                       "content": {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}}
    return out


def _parameter(name: str, where: str, schema: dict[str, Any], description: str,
               required: bool = False, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema,
            "description": description, **extra}


def openapi(base: str, title: str) -> dict[str, Any]:
    """This API described in OpenAPI 3.0, as the landing page's ``service-desc``."""
    f = _parameter("f", "query", {"type": "string", "enum": ["json"]},
                   "the format; JSON only (GeoJSON for features)")
    # what GDAL appends to every request when its OAPIF: URL has a query (ogc/query.py)
    ignored = [_parameter(name, "query", {"type": "string"},
                          "taken and ignored here: it filters the items")
               for name in ("bbox", "datetime", "limit", "offset")]
    collection_id = _parameter("collectionId", "path", {"type": "string",
                                                        "enum": list(COLLECTIONS)},
                               "a collection's id", required=True)
    bad = {"400": "a query parameter that is unknown, repeated or malformed",
           "406": "an Accept header that allows no JSON"}
    items_parameters = [
        collection_id,
        _parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX,
                                      "default": LIMIT_DEFAULT},
                   f"features per page; a larger value is taken as {LIMIT_MAX}",
                   style="form", explode=False),
        _parameter("offset", "query", {"type": "integer", "minimum": 0, "default": 0},
                   "how many matching features to skip (the `next` links carry it)"),
        _parameter("bbox", "query", {"type": "array", "minItems": 4, "maxItems": 4,
                                     "items": {"type": "number"}},
                   "minx,miny,maxx,maxy in CRS84 degrees (longitude first); features that "
                   "intersect it (public_cases: by their published, snapped position)",
                   style="form", explode=False),
        _parameter("datetime", "query", {"type": "string"},
                   "an RFC 3339 instant, a date (the town's local day) or an interval "
                   "(open ends `..`); grids and zones: the versions valid then; public_cases: "
                   "the cases whose report-to-closing time meets it", style="form",
                   explode=False),
        f,
    ]
    operations = {
        "/": ("landing", "The landing page", [f, *ignored], JSON, {}),
        "/conformance": ("conformance", "The conformance classes", [f, *ignored], JSON, {}),
        "/api": ("api", "This API definition", [f, *ignored], OPENAPI, {}),
        "/collections": ("collections", "The collections", [f, *ignored], JSON, {}),
        "/collections/{collectionId}": ("collection", "One collection",
                                        [collection_id, f, *ignored], JSON,
                                        {"404": "no such collection"}),
        "/collections/{collectionId}/items": (
            "items", "A page of a collection's features", items_parameters, GEOJSON,
            {"404": "no such collection"}),
        "/collections/{collectionId}/items/{featureId}": (
            "item", "One feature",
            [collection_id, _parameter("featureId", "path", {"type": "string"},
                                       "grids, zones: {code}.v{version}; public_cases: the "
                                       "case's number", required=True), f, *ignored],
            GEOJSON, {"404": "no such collection or feature"}),
    }
    paths = {
        path: {"get": {"operationId": op_id, "summary": summary, "parameters": parameters,
                       "responses": _responses(summary, media_type, {**bad, **errors})}}
        for path, (op_id, summary, parameters, media_type, errors) in operations.items()
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0",
                 "description": "OGC API – Features – Part 1: Core, GeoJSON"},
        "servers": [{"url": base}],
        "paths": paths,
        "components": {"schemas": {"exception": _EXCEPTION}},
    }
