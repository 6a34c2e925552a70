"""Proposals: a village's residential land split into service grids of the size a planner asks
for, as a new draft to accept, edit or discard (``POST /api/v1/drafts/{id}/proposals``); and
the balance of any draft beside today's grids (``GET /api/v1/drafts/{id}/balance``).

**The land** is the village's service grids as the draft holds them: its residential part
(DOMAIN.md). The village grid and the regional grids stay as they are, so the new service grids
tile exactly the land the old ones did and the village stays tiled. The households split are
those whose address lies on that land; how they are split (street sides, max-p-regions, the
upper bound, compactness, the polygons) is planning/regions.py's.

**The new draft** is of the village, made from the source draft's rows of it (so edits made
there are kept) with the old service grids replaced: the proposal never changes the draft it was
asked of. Codes (DOMAIN.md): numbered west→east, north→south, the new service grids take the
serials of the village's old service grids first, then its next free serials; regional grids
keep theirs. Each new grid starts with the workers and zone of the old service grid that held
most of its households: a starting point the planner edits.

**Balance** is counted by position for both sides, the draft's grids and today's: a household
is in the grid its address lies in (on a shared edge, the one of the smaller code).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from typing import Any

import numpy as np
import shapely
from sqlalchemy.orm import Session

from boundaries.importer import ADMIN_CODE
from db.statements import Statements
from geo.coverage import polygonal_part
from planning.drafts import (
    M_PER_DEG,
    VILLAGE_CODE,
    bump_revision,
    create_draft,
    draft_summary,
    lock_open_draft,
)
from planning.errors import (
    InvalidDraftScope,
    InvalidProposal,
    ProposalImpossible,
    VillageNotFound,
)
from planning.regions import check_bounds, regions

METHOD = ("max-p-regions (spopt MaxPHeuristic) over street sides, compact by their "
          "centroids, then by Polsby-Popper")
# rows (metres) in which grids are numbered west to east, rows north to south
BAND_M = 600.0
MAX_SERIAL = 999
# the most grids one proposal may make: a bound on the work a request asks for (a village of
# 3,000 households in grids of 30 already makes 100)
MAX_GRIDS = 100


_SQL = Statements("planning", "proposals.sql")
_run = _SQL.run


# -- the proposal ------------------------------------------------------------------------------


def propose(session: Session, draft_id: int, village: str, min_households: int,
            max_households: int, actor: str) -> dict[str, Any]:
    """Split ``village``'s residential land in draft ``draft_id`` into service grids of
    ``min_households`` to ``max_households`` households each, as a new draft of that village;
    the new draft's id and revision with its balance beside today's (see ``balance``)."""
    if min_households < 1 or max_households < 1:
        raise InvalidProposal("min_households and max_households must be at least 1",
                              {"min_households": min_households,
                               "max_households": max_households})
    if min_households > max_households:
        raise InvalidProposal(f"min_households ({min_households}) is above max_households "
                              f"({max_households})", {"min_households": min_households,
                                                      "max_households": max_households})
    source = draft_summary(session, draft_id)
    admin = _admin_code(village, source)
    grids = {r["code"]: r for r in _village_grids(session, draft_id, admin)}
    if admin not in grids:
        raise VillageNotFound(f"draft {draft_id} holds no village {admin[:12]}",
                              {"village": village, "draft": draft_id})
    service = [g for g in grids.values() if g["level"] == "service"]
    if not service:
        raise InvalidProposal(f"village {admin[:12]} has no residential land (no service grid) "
                              f"in draft {draft_id}", {"village": admin[:12]})
    land = polygonal_part(shapely.union_all([g["geometry"] for g in service]))
    households = [dict(r) for r in _run(session, "households", {
        "town": source["town_code"], "land": shapely.to_wkb(land)}).mappings()]
    check_bounds(len(households), min_households, max_households, f"village {admin[:12]}")
    if len(households) // min_households > MAX_GRIDS:
        raise ProposalImpossible(
            f"village {admin[:12]} has {len(households)} households: grids of "
            f"{min_households} would make up to {len(households) // min_households}, and a "
            f"proposal makes at most {MAX_GRIDS}; raise min_households",
            {"households": len(households), "min_households": min_households})
    streets = [(r["name"], shapely.from_wkb(bytes(r["wkb"])))
               for r in _run(session, "streets", {"village": admin[:12]}).mappings()]
    seed = zlib.crc32(f"{admin}:{min_households}:{max_households}".encode())
    found = regions(land, households, streets, min_households, max_households, seed)
    new_id = _write(session, source, admin, grids, service, found, households, actor)
    return {**balance(session, new_id), "source_draft": draft_id, "method": METHOD,
            "min_households": min_households, "max_households": max_households}


def _admin_code(village: str, draft: dict[str, Any]) -> str:
    village = str(village).strip()
    if not (VILLAGE_CODE.fullmatch(village) or ADMIN_CODE.fullmatch(village)):
        raise InvalidDraftScope(f"village {village!r} must be a village's 12-digit code",
                                {"village": village})
    admin = village[:12] + "000"
    if not admin.startswith(draft["town_code"]):
        raise InvalidDraftScope(f"village {village[:12]} is not in town {draft['town_code']}, "
                                f"draft {draft['id']}'s", {"village": village,
                                                           "town_code": draft["town_code"]})
    if draft["scope_kind"] == "village" and draft["scope_code"] != admin:
        raise InvalidDraftScope(f"draft {draft['id']} holds village {draft['scope_code'][:12]} "
                                f"only, not {village[:12]}", {"village": village,
                                                               "scope": draft["scope_code"]})
    return admin


def _village_grids(session: Session, draft_id: int, admin: str) -> list[dict[str, Any]]:
    out = []
    for r in _run(session, "village_grids", {"id": draft_id, "admin": admin}).mappings():
        row = dict(r)
        row["geometry"] = shapely.from_wkb(bytes(row.pop("wkb")))
        row["worker_ids"] = list(row["worker_ids"] or [])
        out.append(row)
    return out


# -- the new draft -----------------------------------------------------------------------------


def _write(session: Session, source, admin: str, grids, service, found, households,
           actor: str) -> int:
    """The proposal as a new draft of the village: the source draft's rows of the village,
    then the old service grids replaced by the regions (module docstring: codes, people)."""
    new_id = create_draft(session, actor, admin, source["from_version"])["id"]
    _run(session, "clear_grids", {"id": new_id})
    _run(session, "copy_village", {"new_id": new_id, "source_id": source["id"], "admin": admin})
    _run(session, "inherit_base", {"id": new_id, "base_version": source["base_version"]})
    draft = lock_open_draft(session, new_id)
    order = _serial_order([r["geometry"] for r in found])
    old_codes = sorted(g["code"] for g in service)
    taken = {r[0] for r in _run(session, "draft_codes", {"id": new_id})}
    free = (f"{admin[:12]}{s:03d}" for s in range(1, MAX_SERIAL + 1)
            if f"{admin[:12]}{s:03d}" not in taken)
    codes = [old_codes[k] if k < len(old_codes) else next(free, None) for k in range(len(order))]
    if None in codes:
        raise ProposalImpossible(f"village {admin[:12]} has no serials left for "
                                 f"{len(order)} grids", {"grids": len(order)})
    point = {h["id"]: shapely.Point(h["lon"], h["lat"]) for h in households}
    revision = bump_revision(session, draft, "propose", sorted(set(codes) | set(old_codes)),
                             actor)
    village_name = grids[admin]["name"]
    for n, (k, code) in enumerate(zip(order, codes), start=1):
        region = found[k]
        old = _predecessor(region, service, point)
        values = {"id": new_id, "code": code, "name": f"{village_name}第{n}服务网格"[:100],
                  "zone_code": old["zone_code"], "worker_ids": old["worker_ids"],
                  "wkb": shapely.to_wkb(region["geometry"]), "revision": revision,
                  "parent_code": admin}
        _run(session, "update_grid" if code in old_codes else "insert_grid", values)
    for code in old_codes[len(order):]:
        _run(session, "remove_grid", {"id": new_id, "code": code, "revision": revision})
    return new_id


def _serial_order(geoms: list) -> list[int]:
    """Indexes of ``geoms`` numbered west→east in rows of BAND_M, rows north→south."""
    points = [g.representative_point() for g in geoms]
    top = max(p.y for p in points)
    return sorted(range(len(geoms)), key=lambda i: (
        int((top - points[i].y) * M_PER_DEG // BAND_M), points[i].x))


def _predecessor(region, service, point) -> dict[str, Any]:
    """The old service grid holding most of the region's households (else most of its land)."""
    held: Counter[str] = Counter()
    for h in region["households"]:
        for g in service:
            if g["geometry"].covers(point[h]):
                held[g["code"]] += 1
                break
    if held:
        code = held.most_common(1)[0][0]
        return next(g for g in service if g["code"] == code)
    return max(service, key=lambda g: g["geometry"].intersection(region["geometry"]).area)


# -- balance -----------------------------------------------------------------------------------


def balance(session: Session, draft_id: int, village: str | None = None) -> dict[str, Any]:
    """The households and Polsby–Popper compactness (4πA/P², 1 for a disc) of each service
    grid of the draft, of one village (default: the draft's village, or the whole town for a
    town's draft), and the same for today's service grids there, each with a summary: count,
    households, min, max, standard deviation (population) of households, mean Polsby–Popper."""
    draft = draft_summary(session, draft_id)
    admin = None
    if village is not None:
        admin = _admin_code(village, draft)
    elif draft["scope_kind"] == "village":
        admin = draft["scope_code"]
    proposed = _figures(_run(session, "draft_balance", {"id": draft_id, "village": admin}))
    today = _figures(_run(session, "today_balance", {"town": draft["town_code"],
                                                     "village": admin}))
    return {"draft": draft_id, "revision": draft["revision"],
            "village": admin[:12] if admin else None,
            "grids": proposed, "summary": _summary(proposed),
            "today": {"grids": today, "summary": _summary(today)}}


def _figures(rows) -> list[dict[str, Any]]:
    out = []
    for r in rows.mappings():
        perimeter = float(r["perimeter_m"] or 0.0)
        area = float(r["area_m2"] or 0.0)
        out.append({"code": r["code"], "name": r["name"], "households": int(r["households"]),
                    "area_m2": round(area, 1),
                    "polsby_popper": round(4 * math.pi * area / perimeter ** 2, 4)
                    if perimeter else None})
    return out


def _summary(grids: list[dict[str, Any]]) -> dict[str, Any]:
    counts = np.array([g["households"] for g in grids], dtype=float)
    pp = [g["polsby_popper"] for g in grids if g["polsby_popper"] is not None]
    if not len(counts):
        return {"grids": 0, "households": 0, "min": None, "max": None, "std": None,
                "mean_polsby_popper": None}
    return {"grids": len(grids), "households": int(counts.sum()), "min": int(counts.min()),
            "max": int(counts.max()), "std": round(float(counts.std()), 2),
            "mean_polsby_popper": round(float(np.mean(pp)), 4) if pp else None}
