"""Versions of a town's boundaries: list them, show one, compare two.

A version is a moment at which the town's grids or zones changed (a committed import, a
published draft): the grids of version N are the rows valid at its ``effective_at``. The
database records each moment itself (statement triggers on grids and zones, migration 0021)
and refuses two rows of one code valid at the same moment (exclusion constraints), so a
version's grids are well defined whoever wrote them. Numbers are given in the order versions
are recorded and never reused.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from boundaries.errors import VersionNotFound, VersionsOfDifferentTowns
from db.statements import Statements

# which attributes a changed grid is compared on (the geometry apart)
ATTRIBUTES = ("name", "level", "parent", "zone")


_SQL = Statements("boundaries", "versions.sql")
_run = _SQL.rows


def list_versions(session: Session, town_code: str | None = None) -> list[dict[str, Any]]:
    """Every version (of one town, or of all), oldest first: number, town, effective and
    recorded times, note, how many grids it has, how many grid rows began or ended at it, and
    whether it is in force yet (a publish may take effect later)."""
    return [dict(r) for r in _run(session, "list", {"town_code": town_code})]


def get_version(session: Session, number: int) -> dict[str, Any]:
    """Version ``number``; VersionNotFound when there is none."""
    row = _run(session, "one", {"number": number}).first()
    if row is None:
        raise VersionNotFound(f"there is no boundary version {number}",
                              {"version": number})
    return dict(row)


def version_at(session: Session, number: int) -> datetime:
    """The moment version ``number`` took (or takes) effect."""
    return get_version(session, number)["effective_at"]


def version_grids(session: Session, number: int) -> dict[str, Any]:
    """Version ``number`` with its grids as a GeoJSON FeatureCollection."""
    version = get_version(session, number)
    rows = _run(session, "grids", {"town_code": version["town_code"],
                                   "at": version["effective_at"]})
    features = []
    for r in rows:
        props = {k: r[k] for k in ("code", "name", "level", "parent_code", "zone_code", "version")}
        props["area_m2"] = round(r["area_m2"], 1)
        props["valid_from"] = r["valid_from"].isoformat()
        props["valid_to"] = r["valid_to"].isoformat() if r["valid_to"] else None
        features.append({"type": "Feature", "id": r["code"], "properties": props,
                         "geometry": json.loads(r["geometry"])})
    return {"type": "FeatureCollection", "version": _public(version), "features": features}


def diff(session: Session, a: int, b: int) -> dict[str, Any]:
    """What changed from version ``a`` to version ``b``, grid by grid: added, removed and
    changed grids (geometry, attributes or both), each with its area at both versions in m²
    and the change in m² and %. ``b`` may be older than ``a``: the diff then reads backwards."""
    va, vb = get_version(session, a), get_version(session, b)
    if va["town_code"] != vb["town_code"]:
        raise VersionsOfDifferentTowns(
            f"version {a} is of town {va['town_code']} and version {b} of town "
            f"{vb['town_code']}: compare versions of one town",
            {"a": {"version": a, "town_code": va["town_code"]},
             "b": {"version": b, "town_code": vb["town_code"]}})
    rows = _run(session, "diff", {"town_code": va["town_code"], "at_a": va["effective_at"],
                                  "at_b": vb["effective_at"]})
    grids = [_difference(r) for r in rows]
    grids = [g for g in grids if g["change"] != "unchanged"]
    counts = {kind: sum(1 for g in grids if g["change"] == kind)
              for kind in ("added", "removed", "changed")}
    return {"a": _public(va), "b": _public(vb), "counts": counts, "grids": grids}


def _difference(r: Any) -> dict[str, Any]:
    area_a, area_b = r["area_a_m2"], r["area_b_m2"]
    change = r["change"]
    changed: list[str] = []
    if change == "changed":
        changed = [name for name in ATTRIBUTES if r[f"{name}_a"] != r[f"{name}_b"]]
        if r["geometry_changed"]:
            changed.insert(0, "geometry")
        if not changed:  # a new row with the same outline and attributes: nothing to show
            change = "unchanged"
    delta = None if area_a is None or area_b is None else area_b - area_a
    return {
        "code": r["code"],
        "change": change,
        "changed": changed,
        "name": r["name_b"] if r["name_b"] is not None else r["name_a"],
        "level": r["level_b"] if r["level_b"] is not None else r["level_a"],
        "a": None if r["name_a"] is None else _side(r, "a"),
        "b": None if r["name_b"] is None else _side(r, "b"),
        "area_change_m2": None if delta is None else round(delta, 1),
        "area_change_pct": None if delta is None or not area_a else round(100 * delta / area_a, 2),
        "geometry": json.loads(r["geometry"]),
        "geometry_a": json.loads(r["geometry_a"]) if r["geometry_a"] else None,
    }


def _side(r: Any, side: str) -> dict[str, Any]:
    return {"name": r[f"name_{side}"], "level": r[f"level_{side}"],
            "parent_code": r[f"parent_{side}"], "zone_code": r[f"zone_{side}"],
            "row_version": r[f"row_version_{side}"],
            "area_m2": round(r[f"area_{side}_m2"], 1)}


def _public(version: dict[str, Any]) -> dict[str, Any]:
    return {"number": version["number"], "town_code": version["town_code"],
            "effective_at": version["effective_at"].isoformat(),
            "recorded_at": version["recorded_at"].isoformat(), "note": version["note"]}
