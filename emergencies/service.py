"""Preview, mobilise, follow and close an emergency (see emergencies/__init__.py).

Every function takes a Session and never commits: the caller owns the transaction, so a
mobilisation (the emergency, its tasks, the notes to the phones) is written whole or not at
all. The preview and the mobilisation run the same ``targets`` statement, so what the operator
saw is what is mobilised.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from accounts.privacy import masked_text
from accounts.actor import Actor
from cases.deadlines import LOCAL_TZ
from db.statements import named_statements
from emergencies.area import Area
from emergencies.errors import AreaCoversNothing, EmergencyClosed, EmergencyNotFound

KINDS = {"evacuate": "疏散转移", "confirm_safe": "确认安全", "count": "人员清点",
         "notify": "通知到户"}
VULNERABLE_ON_MAP = 2000  # the preview's vulnerable households drawn on the map, most first
_SUM_FIELDS = ("households", "residents", "vulnerable", "elderly_alone", "disabled",
               "bedridden", "children_unattended", "enterprises", "employees", "hazards")
_PROGRESS_FIELDS = ("targets", "confirmed", "households", "households_confirmed",
                    "households_relocated", "residents", "people_relocated", "people_safe",
                    "unreachable", "vulnerable", "vulnerable_not_reached")


def _statements() -> dict[str, str]:
    return named_statements("emergencies", "emergencies.sql")


def _rows(session: Session, name: str, params: dict, prefix: str | None = None
          ) -> list[dict[str, Any]]:
    sql = _statements()[name]
    if prefix is not None:
        sql = _statements()[prefix] + "\n" + sql
    return [dict(r) for r in session.connection().execute(text(sql), params).mappings()]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(LOCAL_TZ).isoformat() if moment is not None else None


def _add_up(rows: list[dict], fields: tuple[str, ...]) -> dict[str, int]:
    return {f: int(sum(r[f] or 0 for r in rows)) for f in fields}


def preview(session: Session, area: Area, town_code: str | None) -> dict[str, Any]:
    """What ``area`` holds: totals, per grid (with its worker and auxiliaries), per worker,
    and the vulnerable households to draw. AreaCoversNothing when it holds nothing."""
    found = _rows(session, "preview", {"area": area.geojson, "town_code": town_code,
                                        "limit": VULNERABLE_ON_MAP}, prefix="targets")[0]
    grids, vulnerable = found["grids"], found["vulnerable"]
    if not grids:
        raise AreaCoversNothing(
            f"no household, enterprise or hazard lies inside the area ({area.area_km2:.3f} km²)",
            {"field": "area", "area_km2": round(area.area_km2, 4)})
    totals = _add_up(grids, _SUM_FIELDS)
    totals["targets"] = totals["households"] + totals["enterprises"] + totals["hazards"]
    totals["grids"] = len(grids)
    workers: dict[Any, dict[str, Any]] = {}
    for g in grids:
        for f in _SUM_FIELDS:
            g[f] = int(g[f] or 0)
        g["targets"] = g["households"] + g["enterprises"] + g["hazards"]
        w = workers.setdefault(g["person_id"], {
            "person_id": g["person_id"], "name": g["worker_name"], "phone": g["worker_phone"],
            "grids": [], **{f: 0 for f in _SUM_FIELDS + ("targets",)}})
        w["grids"].append(g["grid_code"])
        for f in _SUM_FIELDS + ("targets",):
            w[f] += g[f]
    totals["workers"] = sum(1 for k in workers if k is not None)
    return {
        "area": json.loads(area.geojson), "area_km2": round(area.area_km2, 4),
        "totals": totals, "grids": grids,
        "workers": sorted(workers.values(), key=lambda w: (-w["targets"], w["name"] or "")),
        "vulnerable": vulnerable,
    }


@dataclass(frozen=True)
class EmergencyRequest:
    name: str
    kind: str
    instructions: str | None
    area: Area


def mobilise(session: Session, actor: Actor, req: EmergencyRequest,
             town_code: str | None) -> dict[str, Any]:
    """Create the emergency and one task per target inside its area, for each grid's worker,
    and tell the phones (NOTIFY, sent when the caller commits). AreaCoversNothing when the
    area holds nothing (then nothing is written: the caller rolls back)."""
    conn = session.connection()
    town = town_code or conn.execute(text(_statements()["first_town"])).scalar()
    created = conn.execute(text(_statements()["insert_emergency"]), {
        "town_code": town, "name": req.name, "kind": req.kind,
        "instructions": req.instructions, "area_spec": json.dumps(req.area.spec.as_json()),
        "area": req.area.geojson, "account_id": actor.account_id,
        "account_name": actor.name}).mappings().one()
    emergency_id = created["id"]
    groups = [dict(r) for r in conn.execute(
        text(_statements()["targets"] + "\n" + _statements()["insert_tasks"]),
        {"area": req.area.geojson, "town_code": town_code, "emergency_id": emergency_id}
    ).mappings()]
    if not groups:
        raise AreaCoversNothing(
            f"no household, enterprise or hazard lies inside the area "
            f"({req.area.area_km2:.3f} km²): nothing to mobilise",
            {"field": "area", "area_km2": round(req.area.area_km2, 4)})
    # the board as it stands: every task open, nothing in the timeline yet
    return _board(_emergency(session, emergency_id), groups, timeline=[], latest=[])


def _emergency(session: Session, emergency_id: int, town_code: str | None = None
               ) -> dict[str, Any]:
    found = _rows(session, "emergency", {"id": emergency_id})
    if not found or (town_code is not None and found[0]["town_code"] != town_code):
        raise EmergencyNotFound(f"there is no emergency {emergency_id}",
                                {"emergency_id": emergency_id})
    return found[0]


def _emergency_out(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": e["id"], "name": e["name"], "kind": e["kind"], "kind_zh": KINDS.get(e["kind"]),
        "instructions": e["instructions"], "area_spec": e["area_spec"],
        "area": json.loads(e["area"]), "area_km2": round(float(e["area_km2"]), 4),
        "created_at": _iso(e["created_at"]), "created_by": e["created_by_name"],
        "closed_at": _iso(e["closed_at"]), "closed_by": e["closed_by_name"],
        "summary": e["summary"], "final_figures": e["final_figures"],
    }


def progress(session: Session, emergency_id: int, town_code: str | None = None,
             with_tasks: bool = False, recent: int = 20) -> dict[str, Any]:
    """The board: the emergency, its totals (households confirmed and to go, people relocated,
    vulnerable people not reached, …), per grid and per worker, a timeline of confirmations
    per minute and the latest ones; with ``with_tasks`` every task's point and status."""
    e = _emergency(session, emergency_id, town_code)
    groups = _rows(session, "progress_groups", {"id": emergency_id})
    timeline = [{"minute": _iso(r["minute"]), "confirmed": int(r["confirmed"]),
                 "relocated": int(r["relocated"]), "people_relocated": int(r["people_relocated"])}
                for r in _rows(session, "timeline", {"id": emergency_id})]
    latest = [{**r, "confirmed_at": _iso(r["confirmed_at"]), "received_at": _iso(r["received_at"])}
              for r in _rows(session, "recent", {"id": emergency_id, "limit": recent})]
    out = _board(e, groups, timeline, latest)
    if with_tasks:
        out["tasks"] = _rows(session, "task_points", {"id": emergency_id})
    return out


def _board(e: dict[str, Any], groups: list[dict[str, Any]], timeline: list[dict],
           latest: list[dict]) -> dict[str, Any]:
    """The board from its figures per grid and worker (``progress_groups``' rows)."""
    for g in groups:
        for f in _PROGRESS_FIELDS:
            g[f] = int(g[f] or 0)
    totals = _add_up(groups, _PROGRESS_FIELDS)
    totals["households_to_go"] = totals["households"] - totals["households_confirmed"]
    totals["to_go"] = totals["targets"] - totals["confirmed"]
    by_grid: dict[str, dict] = {}
    by_worker: dict[Any, dict] = {}
    for g in groups:
        grid = by_grid.setdefault(g["grid_code"], {
            "grid_code": g["grid_code"], "grid_name": g["grid_name"], "workers": [],
            **{f: 0 for f in _PROGRESS_FIELDS}})
        grid["workers"].append(g["worker_name"])
        worker = by_worker.setdefault(g["person_id"], {
            "person_id": g["person_id"], "name": g["worker_name"], "grids": [],
            **{f: 0 for f in _PROGRESS_FIELDS}})
        worker["grids"].append(g["grid_code"])
        for f in _PROGRESS_FIELDS:
            grid[f] += g[f]
            worker[f] += g[f]
    for row in list(by_grid.values()) + list(by_worker.values()):
        row["to_go"] = row["targets"] - row["confirmed"]
    return {"emergency": _emergency_out(e), "totals": totals,
            "grids": list(by_grid.values()),
            "workers": sorted(by_worker.values(), key=lambda w: (-w["to_go"], w["name"] or "")),
            "timeline": timeline, "recent": latest}


def list_emergencies(session: Session, town_code: str | None, limit: int = 50
                     ) -> list[dict[str, Any]]:
    """The town's emergencies, open first, newest first."""
    return [{**r, "kind_zh": KINDS.get(r["kind"]), "created_at": _iso(r["created_at"]),
             "closed_at": _iso(r["closed_at"])}
            for r in _rows(session, "emergencies", {"town_code": town_code, "limit": limit})]


EXPORT_COLUMNS = ("id", "target_type", "target_id", "name", "address", "grid_code",
                  "grid_name", "worker_name", "residents", "vulnerable", "status", "people",
                  "relocated_to", "note", "confirmed_at", "received_at", "confirmed_by_name",
                  "lon", "lat")
FREE_TEXT_COLUMNS = ("note", "relocated_to")  # what a worker typed on the phone


def export_csv(session: Session, emergency_id: int, town_code: str | None = None) -> str:
    """Every task of the emergency as CSV (UTF-8 with a BOM, so spreadsheet programs on the
    town's computers read the Chinese text), by grid, most vulnerable first. Phone and ID
    numbers a worker typed into a note or a destination are masked (accounts/privacy.py): a
    file leaves the system and is copied on; the board keeps them for its readers."""
    _emergency(session, emergency_id, town_code)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for r in _rows(session, "export", {"id": emergency_id}):
        r["confirmed_at"], r["received_at"] = _iso(r["confirmed_at"]), _iso(r["received_at"])
        for column in FREE_TEXT_COLUMNS:
            r[column] = masked_text(r[column])
        writer.writerow(["" if r[c] is None else _cell(r[c]) for c in EXPORT_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> Any:
    # a cell starting with = + - @ is a formula to a spreadsheet: a name typed by a resident
    # or an operator must stay text (CSV injection)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def close(session: Session, actor: Actor, emergency_id: int, summary: str,
          town_code: str | None = None) -> dict[str, Any]:
    """Close the emergency with the operator's summary and its final figures
    (EmergencyClosed when it was closed before); the phones drop its tasks."""
    _emergency(session, emergency_id, town_code)
    figures = progress(session, emergency_id)["totals"]
    closed = _rows(session, "close", {"id": emergency_id, "account_name": actor.name,
                                      "summary": summary, "figures": json.dumps(figures)})
    if not closed:
        raise EmergencyClosed(f"emergency {emergency_id} is closed already",
                              {"emergency_id": emergency_id})
    session.connection().execute(text(_statements()["notify_grids"]),
                                 {"event": "closed", "emergency_id": emergency_id})
    return progress(session, emergency_id)
