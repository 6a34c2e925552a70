"""Drafts: the planner's working copies of the grid boundaries (planning/models.py).

Create one from the current boundaries or from a version, of the whole town or of one village;
read it as GeoJSON with its revision; change a grid or add one under ``If-Match: <revision>``;
discard it. Every edit takes the draft's row lock, checks that the revision it was made on is
still the draft's, writes, logs itself in ``draft_changes`` and moves the revision by one: of
two planners saving on one revision, the second gets StaleRevision naming the changes made
since (never a silent overwrite).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import shapely
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.importer import ADMIN_CODE, LEAF_CODE
from boundaries.models import LEVELS
from boundaries.versions import get_version
from db.statements import Statements
from planning.errors import (
    DraftClosed,
    DraftNotFound,
    GridExists,
    GridNotInDraft,
    InvalidDraftScope,
    InvalidGridAttributes,
    InvalidGridCode,
    InvalidGridGeometry,
    StaleRevision,
)

TOWN_CODE = re.compile(r"^\d{9}$")
VILLAGE_CODE = re.compile(r"^\d{12}$")
NAME_MAX = 100
# a grid drawn farther than this from the town's outline is a mistake (another place, another
# CRS), not a redrawn boundary
MAX_OUTSIDE_M = 1_000.0
# metres per degree of latitude (and of longitude at the equator): the distance above, and the
# tolerances of planning/operations.py
M_PER_DEG = 111_320.0
MAX_WORKERS = 20


_SQL = Statements("planning", "drafts.sql")
_run = _SQL.run


# -- drafts ------------------------------------------------------------------------------------


def create_draft(session: Session, actor: str, scope: str,
                 from_version: int | None = None) -> dict[str, Any]:
    """A new draft of ``scope`` (a town code, or a village's 12-digit code or its administrative
    grid's 15-digit code), copied from version ``from_version`` or from the current boundaries."""
    scope = scope.strip()
    at = None
    version = None
    if from_version is not None:
        version = get_version(session, from_version)
        at = version["effective_at"]
    if TOWN_CODE.fullmatch(scope):
        if _run(session, "town", {"code": scope}).first() is None:
            raise InvalidDraftScope(f"there is no town {scope}", {"scope": scope})
        kind, town, village = "town", scope, None
    elif VILLAGE_CODE.fullmatch(scope) or ADMIN_CODE.fullmatch(scope):
        village = scope[:12] + "000"
        found = _run(session, "admin_grid", {"code": village, "at": at}).first()
        if found is None:
            raise InvalidDraftScope(
                f"there is no village grid {village}"
                + (f" in version {from_version}" if from_version is not None else ""),
                {"scope": scope})
        kind, town = "village", found.town_code
    else:
        raise InvalidDraftScope(
            f"scope {scope!r} must be a town's 9-digit code or a village's 12-digit code",
            {"scope": scope})
    if version is not None and version["town_code"] != town:
        raise InvalidDraftScope(f"version {from_version} is of town {version['town_code']}, "
                                f"not of {town}", {"scope": scope, "from_version": from_version})
    draft_id = session.execute(text(
        "INSERT INTO drafts (town_code, scope_code, scope_kind, from_version, created_by, "
        "base_version) VALUES (CAST(:town AS text), :scope, :kind, :version, :actor, "
        "(SELECT max(number) FROM boundary_versions WHERE town_code = CAST(:town AS text))) "
        "RETURNING id"),
        {"town": town, "scope": village or town, "kind": kind, "version": from_version,
         "actor": actor}).scalar_one()
    _run(session, "copy_grids", {"draft_id": draft_id, "town_code": town, "at": at,
                                 "village": village})
    _run(session, "log", {"id": draft_id, "revision": 1, "op": "create", "codes": [],
                          "actor": actor})
    return draft_summary(session, draft_id)


def draft_summary(session: Session, draft_id: int) -> dict[str, Any]:
    """The draft's row (no grids); DraftNotFound when there is none."""
    row = _run(session, "draft", {"id": draft_id}).mappings().first()
    if row is None:
        raise DraftNotFound(f"there is no draft {draft_id}", {"draft": draft_id})
    return _public(dict(row))


def list_drafts(session: Session, town_code: str | None = None,
                state: str | None = "open") -> list[dict[str, Any]]:
    """The drafts of a town (or of all), in one state (None: every state), oldest first."""
    rows = _run(session, "drafts", {"town_code": town_code, "state": state}).mappings()
    return [_public(dict(r)) for r in rows]


def get_draft(session: Session, draft_id: int) -> dict[str, Any]:
    """The draft with its grids (not those removed) as a GeoJSON FeatureCollection."""
    summary = draft_summary(session, draft_id)
    features = []
    for r in _run(session, "grids", {"id": draft_id}).mappings():
        props = {k: r[k] for k in ("code", "name", "level", "parent_code", "zone_code",
                                   "leader_id", "worker_ids", "revision")}
        props["area_m2"] = round(r["area_m2"], 1)
        props["from_grid"] = r["base_grid_id"]
        features.append({"type": "Feature", "id": r["code"], "properties": props,
                         "geometry": json.loads(r["geometry"])})
    return {"type": "FeatureCollection", "draft": summary, "revision": summary["revision"],
            "features": features}


def discard_draft(session: Session, draft_id: int, revision: int | None, actor: str) -> None:
    """Discard an open draft (it stays readable, state ``discarded``). With ``revision``, only
    if the draft is still at it."""
    draft = lock_open_draft(session, draft_id, also=("scheduled",))
    if revision is not None:
        check_revision(session, draft, revision)
    _run(session, "discard", {"id": draft_id})
    bump_revision(session, draft, "discard", [], actor)


# -- grids -------------------------------------------------------------------------------------


def put_grid(session: Session, draft_id: int, code: str, revision: int, fields: dict[str, Any],
             actor: str) -> dict[str, Any]:
    """Change grid ``code`` of the draft: its geometry (GeoJSON in EPSG:4326) and attributes
    (name, level, parent_code, zone_code, leader, workers); a field absent keeps its value.
    Made on ``revision``: StaleRevision when the draft has moved on."""
    draft = lock_open_draft(session, draft_id)
    check_revision(session, draft, revision)
    row = _run(session, "grid", {"id": draft_id, "code": code}).mappings().first()
    if row is None or row["removed"]:
        raise GridNotInDraft(f"draft {draft_id} has no grid {code}", {"code": code})
    values = {k: row[k] for k in ("name", "level", "parent_code", "zone_code", "leader_id",
                                  "worker_ids")}
    values.update(_attributes(fields))
    geometry = fields.get("geometry")
    if geometry is None:
        wkb = session.execute(text("SELECT ST_AsBinary(geom) FROM draft_grids "
                                   "WHERE draft_id = :id AND code = :code"),
                              {"id": draft_id, "code": code}).scalar_one()
        geom = shapely.from_wkb(bytes(wkb))
    else:
        geom = checked_geometry(session, draft["town_code"], geometry, code)
    check_grid(session, draft, code, values)
    new = bump_revision(session, draft, "put", [code], actor)
    _run(session, "update_grid", {**values, "id": draft_id, "code": code, "revision": new,
                                  "wkb": shapely.to_wkb(geom)})
    return {"draft": draft_id, "code": code, "revision": new}


def add_grid(session: Session, draft_id: int, revision: int, fields: dict[str, Any],
             actor: str) -> dict[str, Any]:
    """Add a grid to the draft: ``code``, ``name``, ``level``, ``geometry`` and optionally
    parent_code (a leaf grid's village grid: taken from the code when absent), zone_code, leader,
    workers. Made on ``revision``."""
    draft = lock_open_draft(session, draft_id)
    check_revision(session, draft, revision)
    code = str(fields.get("code") or "").strip()
    values = {"name": None, "level": None, "parent_code": None, "zone_code": None,
              "leader_id": None, "worker_ids": []}
    values.update(_attributes(fields))
    if values["level"] in ("regional", "service") and values["parent_code"] is None:
        values["parent_code"] = code[:12] + "000"
    missing = [k for k in ("name", "level") if not values[k]]
    if missing or fields.get("geometry") is None:
        raise InvalidGridAttributes(
            "a new grid needs " + ", ".join(missing + (["geometry"] if fields.get("geometry")
                                                       is None else [])),
            {"missing": missing + (["geometry"] if fields.get("geometry") is None else [])})
    check_grid(session, draft, code, values)
    if _run(session, "grid", {"id": draft_id, "code": code}).first() is not None:
        raise GridExists(f"draft {draft_id} has a grid {code} already", {"code": code})
    geom = checked_geometry(session, draft["town_code"], fields["geometry"], code)
    new = bump_revision(session, draft, "add", [code], actor)
    _run(session, "insert_grid", {**values, "id": draft_id, "code": code, "revision": new,
                                  "wkb": shapely.to_wkb(geom)})
    return {"draft": draft_id, "code": code, "revision": new}


def checked_geometry(session: Session, town_code: str, geometry: Any, code: str):
    """``geometry`` (a GeoJSON geometry in EPSG:4326) as a shapely (Multi)Polygon, or
    InvalidGridGeometry saying what is wrong and where."""
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise InvalidGridGeometry(f"the geometry of {code} is not a GeoJSON geometry",
                                  {"code": code})
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidGridGeometry(f"the geometry of {code} cannot be read: {exc}",
                                  {"code": code}) from exc
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidGridGeometry(
            f"the geometry of {code} is a {geom.geom_type}; a grid is a Polygon or MultiPolygon",
            {"code": code, "type": geom.geom_type})
    if geom.is_empty:
        raise InvalidGridGeometry(f"the geometry of {code} is empty", {"code": code})
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in geom.bounds) or not (
            -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidGridGeometry(
            f"the coordinates of {code} are not longitude and latitude: send the geometry in "
            "EPSG:4326 (WGS 84), as GeoJSON says", {"code": code, "bounds": list(geom.bounds)})
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise InvalidGridGeometry(f"the geometry of {code} is not valid: {reason}",
                                  {"code": code, "reason": reason})
    wkb = _run(session, "town_geometry", {"code": town_code}).scalar_one_or_none()
    if wkb is not None:
        town = shapely.from_wkb(bytes(wkb))
        if not geom.intersects(town):
            away = shapely.distance(town, geom) * M_PER_DEG  # degrees to metres, roughly
            if away > MAX_OUTSIDE_M:
                raise InvalidGridGeometry(
                    f"the geometry of {code} lies about {away / 1000:.1f} km outside the town",
                    {"code": code, "distance_m": round(away)})
    return geom


# -- the rules of an edit ----------------------------------------------------------------------


def _attributes(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in fields:
        name = str(fields["name"] or "").strip()
        if not name or len(name) > NAME_MAX:
            raise InvalidGridAttributes(f"a grid's name must be 1 to {NAME_MAX} characters",
                                        {"field": "name"})
        out["name"] = name
    if "level" in fields:
        if fields["level"] not in LEVELS:
            raise InvalidGridAttributes(
                f"level {fields['level']!r} is not one of {', '.join(LEVELS)}",
                {"field": "level", "valid": list(LEVELS)})
        out["level"] = fields["level"]
    for key in ("parent_code", "zone_code"):
        if key in fields:
            out[key] = fields[key] or None
    if "leader" in fields:
        out["leader_id"] = fields["leader"]
    if "workers" in fields:
        workers = list(fields["workers"] or [])
        if len(workers) > MAX_WORKERS or len(set(workers)) != len(workers):
            raise InvalidGridAttributes(
                f"workers must be at most {MAX_WORKERS} different people's ids",
                {"field": "workers"})
        out["worker_ids"] = sorted(workers)
    return out


def check_grid(session: Session, draft: dict[str, Any], code: str,
                values: dict[str, Any]) -> None:
    """The coding rule (DOMAIN.md), the draft's scope, the parent, and the people."""
    level = values["level"]
    pattern, what = (ADMIN_CODE, "a village grid's code is the village's 12 digits and 000") \
        if level == "admin" else (LEAF_CODE, "a leaf grid's code is its village's 12 digits and "
                                             "a 3-digit serial other than 000")
    if not pattern.fullmatch(code):
        raise InvalidGridCode(f"code {code!r} breaks the coding rule: {what}",
                              {"code": code, "level": level})
    if not code.startswith(draft["town_code"]):
        raise InvalidGridCode(f"code {code} is not of town {draft['town_code']}",
                              {"code": code, "town_code": draft["town_code"]})
    if draft["scope_kind"] == "village" and code[:12] != draft["scope_code"][:12]:
        raise InvalidGridCode(f"code {code} is not of village {draft['scope_code'][:12]}, the "
                              "draft's scope", {"code": code, "scope": draft["scope_code"]})
    if level == "admin":
        values["parent_code"] = None
    else:
        parent = values["parent_code"]
        if parent != code[:12] + "000":
            raise InvalidGridAttributes(
                f"the parent of {code} must be its village grid {code[:12]}000, not {parent}",
                {"field": "parent_code", "value": parent})
    people = [p for p in [values["leader_id"], *values["worker_ids"]] if p is not None]
    if people:
        known = {r[0] for r in _run(session, "people", {"ids": people})}
        unknown = sorted(set(people) - known)
        if unknown:
            raise InvalidGridAttributes(f"there is no person with id {unknown[0]}",
                                        {"field": "workers", "unknown": unknown})


def lock_open_draft(session: Session, draft_id: int, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """The draft's row, locked for this transaction; DraftClosed unless it is open (or in one
    of the states ``also``: a scheduled draft may still be discarded, which cancels it)."""
    row = _run(session, "lock_draft", {"id": draft_id}).mappings().first()
    if row is None:
        raise DraftNotFound(f"there is no draft {draft_id}", {"draft": draft_id})
    if row["state"] != "open" and row["state"] not in also:
        raise DraftClosed(f"draft {draft_id} is {row['state']}: it can no longer be edited",
                          {"draft": draft_id, "state": row["state"]})
    return dict(row)


def check_revision(session: Session, draft: dict[str, Any], revision: int) -> None:
    if revision == draft["revision"]:
        return
    changes = [{"revision": r["revision"], "op": r["op"], "codes": list(r["codes"]),
                "actor": r["actor"], "at": r["at"].isoformat()}
               for r in _run(session, "changes_since",
                             {"id": draft["id"], "revision": revision}).mappings()]
    raise StaleRevision(
        f"draft {draft['id']} is at revision {draft['revision']}, not {revision}: "
        + (f"{len(changes)} change(s) since, to " + ", ".join(
            sorted({c for ch in changes for c in ch["codes"]}) or ["the draft"])
           if revision < draft["revision"] else "that revision never existed")
        + "; reload it and make your change again",
        {"revision": draft["revision"], "your_revision": revision, "changes": changes})


def bump_revision(session: Session, draft: dict[str, Any], op: str, codes: list[str],
          actor: str) -> int:
    new = draft["revision"] + 1
    _run(session, "bump", {"id": draft["id"], "revision": new})
    _run(session, "log", {"id": draft["id"], "revision": new, "op": op, "codes": codes,
                          "actor": actor})
    draft["revision"] = new
    return new


def _public(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("created_at", "updated_at", "effective_at", "published_at"):
        if row.get(key) is not None:
            row[key] = row[key].isoformat()
    return row
