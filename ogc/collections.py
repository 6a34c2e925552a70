"""The three collections of the OGC API and their features: ``grids``, ``zones`` (boundary
versions) and ``public_cases`` (the public board's records).

Features are GeoJSON with flat properties, which is what QGIS and GDAL make columns of.

- ``grids`` and ``zones``: one feature per *version* of a boundary (boundaries/models.py
  explains versions), id ``{code}.v{version}``: an id names one outline for good, so
  ``/items/{id}`` answers the same feature whatever the date asked in the list. Without
  ``datetime`` the current versions; with it, the versions valid then (an instant: one per
  code; an interval: every version valid at some moment of it).
- ``public_cases``: the cases the public board (公示栏) shows, each the board's own record
  (cases/publication.py redacts it; nothing is added here), the point its snapped position.
  A case's time is from its report to its closing; ``datetime`` keeps those that meet it.

Reads only; SQL in ``features.sql`` (named statements).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cases import board, publication
from cases.deadlines import LOCAL_TZ
from db.statements import Statements
from ogc.errors import CollectionNotFound, FeatureNotFound
from ogc.query import ItemsQuery

_VERSION_ID = re.compile(r"^([0-9A-Za-z_-]{1,20})\.v(\d{1,9})$")


@dataclass(frozen=True)
class Collection:
    """What a collection is: its id, words for a catalogue, and its feature properties."""

    id: str
    title: str
    description: str
    properties: dict[str, str]  # name -> JSON type, in the order served


BOUNDARY_VERSION = {"version": "integer", "valid_from": "string", "valid_to": "string"}
COLLECTIONS = {c.id: c for c in (
    Collection(
        "grids", "Grids (网格)",
        "The town's administrative (village), regional and service grids. Each feature is one "
        "version of a grid's boundary, id {code}.v{version}: without `datetime` the current "
        "ones; with an instant, the versions valid then; with an interval, every version valid "
        "at some moment of it.",
        {"code": "string", "name": "string", "level": "string", "parent_code": "string",
         "zone_code": "string", "town_code": "string", **BOUNDARY_VERSION}),
    Collection(
        "zones", "Zones (片区)",
        "The town's village and enterprise zones, versioned as the grids are.",
        {"code": "string", "name": "string", "kind": "string", "town_code": "string",
         **BOUNDARY_VERSION}),
    Collection(
        "public_cases", "Public board (公示栏)",
        f"Cases closed in the last {board.WINDOW_DAYS} days, as the public board shows them: "
        "no personal data (names as 张*, phones as 138****5678, addresses cut to the street, "
        "positions snapped to about 50 m). A case's time runs from its report to its closing.",
        {"id": "integer", "category_code": "string", "category_zh": "string",
         "category_en": "string", "village_code": "string", "village_name": "string",
         "address": "string", "reported_at": "string", "closed_at": "string",
         "time_taken_h": "number", "what_was_done": "string", "satisfaction": "string",
         "supporters": "integer", "reporter_name": "string", "reporter_phone": "string",
         "photos": "array"}),
)}


_SQL = Statements("ogc", "features.sql")
_run = _SQL.rows


def collection(collection_id: str) -> Collection:
    """The collection of that id; CollectionNotFound, naming the ones there are."""
    found = COLLECTIONS.get(collection_id)
    if found is None:
        raise CollectionNotFound(
            f"there is no collection {collection_id!r}: the collections are "
            f"{', '.join(COLLECTIONS)}", {"collection": collection_id, "valid": list(COLLECTIONS)})
    return found


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def board_window() -> tuple[datetime, datetime]:
    """The moments the public board covers now: [since, until), as cases/board.py counts
    its days (the town's local days, the last WINDOW_DAYS up to today)."""
    since_day, until_day = board.window(None, None)
    return (datetime.combine(since_day, time(), LOCAL_TZ),
            datetime.combine(until_day + timedelta(days=1), time(), LOCAL_TZ))


def extent(session: Session, collection_id: str) -> dict[str, Any]:
    """The collection's extent: ``spatial`` (a CRS84 bbox of what it holds now) and
    ``temporal`` (from its first moment, open at the end)."""
    if collection_id == "public_cases":
        row = _run(session, "public_cases_extent", {}).one()
        first: datetime | None = board_window()[0]
    else:
        row = _run(session, f"{collection_id}_extent", {}).one()
        first = row["first_valid_from"]
    bbox = [row["min_lon"], row["min_lat"], row["max_lon"], row["max_lat"]]
    spatial = {"bbox": [bbox] if None not in bbox else [[-180.0, -90.0, 180.0, 90.0]],
               "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
    temporal = {"interval": [[_iso(first), None]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return {"spatial": spatial, "temporal": temporal}


def _version_feature(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    props = {name: row[name] for name in names}
    props["valid_from"], props["valid_to"] = _iso(row["valid_from"]), _iso(row["valid_to"])
    return {"type": "Feature", "id": f"{row['code']}.v{row['version']}",
            "geometry": json.loads(row["geometry"]), "properties": props}


_GRID_COLUMNS = ("code", "name", "level", "parent_code", "zone_code", "town_code", "version")
_ZONE_COLUMNS = ("code", "name", "kind", "town_code", "version")


def _public_feature(row: Any) -> dict[str, Any]:
    """The board's record of the case (cases/publication.py), its fields flattened into
    columns and its snapped position as the point."""
    record = publication.public_case(dict(row), list(row["photo_ids"] or []))
    category, village, reporter = record["category"], record["village"], record["reporter"]
    location = record["location"]
    props = {
        "id": record["id"],
        "category_code": category["code"], "category_zh": category["name_zh"],
        "category_en": category["name_en"],
        "village_code": village["code"] if village else None,
        "village_name": village["name"] if village else None,
        "address": record["address"], "reported_at": record["reported_at"],
        "closed_at": record["closed_at"], "time_taken_h": record["time_taken_h"],
        "what_was_done": record["what_was_done"], "satisfaction": record["satisfaction"],
        "supporters": record["supporters"],
        "reporter_name": reporter["name"] if reporter else None,
        "reporter_phone": reporter["phone"] if reporter else None,
        "photos": record["photos"],
    }
    geometry = ({"type": "Point", "coordinates": [location["lon"], location["lat"]]}
                if location else None)
    return {"type": "Feature", "id": record["id"], "geometry": geometry, "properties": props}


def _time_params(query: ItemsQuery) -> dict[str, Any]:
    interval = query.datetime
    return {"current": interval is None,
            "start": interval.start if interval else None,
            "end": interval.end if interval else None}


def items(session: Session, collection_id: str, query: ItemsQuery) -> tuple[list[dict], int]:
    """A page of the collection's features matching ``query``, and how many match in all."""
    collection(collection_id)
    params: dict[str, Any] = {"limit": query.limit, "offset": query.offset, **_time_params(query)}
    if collection_id == "public_cases":
        since, until = board_window()
        b = query.bbox
        params.update(
            since=since, until=until, step=publication.POSITION_STEP_DEG,
            step_exact=str(publication.POSITION_STEP_DEG),
            min_lon=b.min_lon if b else None, min_lat=b.min_lat if b else None,
            max_lon=b.max_lon if b else None, max_lat=b.max_lat if b else None)
        rows = list(_run(session, "public_cases", params))
        features = [_public_feature(r) for r in rows if r["id"] is not None]
    else:
        params["bbox"] = query.bbox.wkt() if query.bbox else None
        rows = list(_run(session, collection_id, params))
        columns = _GRID_COLUMNS if collection_id == "grids" else _ZONE_COLUMNS
        features = [_version_feature(r, columns) for r in rows if r["code"] is not None]
    return features, rows[0]["matched"]


def item(session: Session, collection_id: str, feature_id: str) -> dict[str, Any]:
    """One feature by its id; FeatureNotFound when the collection has none of that id."""
    collection(collection_id)
    missing = FeatureNotFound(f"collection {collection_id!r} has no feature {feature_id!r}",
                              {"collection": collection_id, "feature": feature_id})
    if collection_id == "public_cases":
        if not feature_id.isascii() or not feature_id.isdigit() or len(feature_id) > 18:
            raise missing
        since, until = board_window()
        row = _run(session, "public_case",
                   {"id": int(feature_id), "since": since, "until": until}).first()
        if row is None:
            raise missing
        return _public_feature(row)
    match = _VERSION_ID.match(feature_id)
    if match is None:
        raise missing
    statement = "grid" if collection_id == "grids" else "zone"
    row = _run(session, statement, {"code": match[1], "version": int(match[2])}).first()
    if row is None:
        raise missing
    return _version_feature(row, _GRID_COLUMNS if collection_id == "grids" else _ZONE_COLUMNS)
