"""``GET /api/v1/drafts/{id}/validation``: the checks of ``gridgov boundaries validate``
(boundaries/validation.py) run on a draft as if it were published.

The hierarchy checked is the draft's grids, and, for a village's draft, the town's other
current grids beside them (a village redrawn must still fit its neighbours); its people are
the draft's leaders and workers (for the grids outside the draft, today's). Errors block
publishing: gaps and overlaps above the tolerance and grids outside their parent, each with
its area in m² and a point on the map; grids without a parent, a leaf grid without a grid
worker, a village grid without a leader. Warnings do not block: codes off the scheme, a
village grid in no zone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.validation import ASSIGNMENTS_SQL, hierarchy_report, rows_with_geometry
from planning.drafts import draft_summary

DRAFT_GRIDS_SQL = """
SELECT code, name, level, parent_code, zone_code, :town AS town_code, leader_id, worker_ids,
       ST_AsBinary(geom) AS wkb
  FROM draft_grids WHERE draft_id = :id AND NOT removed ORDER BY code
"""
# the town's current grids that a village's draft does not hold
OTHER_GRIDS_SQL = """
SELECT code, name, level, parent_code, zone_code, town_code, ST_AsBinary(geom) AS wkb
  FROM grids
 WHERE valid_to IS NULL AND town_code = :town
   AND code <> :village AND coalesce(parent_code, '') <> :village
"""


def draft_validation(session: Session, draft_id: int) -> dict[str, Any]:
    """The draft's findings: ``ok`` (no errors: it may be published), ``errors``,
    ``warnings`` (each kind, message, codes, area_m2, lon, lat) and the counts of units."""
    draft = draft_summary(session, draft_id)
    town = draft["town_code"]
    towns = rows_with_geometry(
        session, "SELECT code, name, ST_AsBinary(geom) AS wkb FROM towns WHERE code = :town",
        {"town": town})
    zones = rows_with_geometry(
        session, "SELECT code, name, town_code, ST_AsBinary(geom) AS wkb FROM zones "
                 "WHERE valid_to IS NULL AND town_code = :town", {"town": town})
    grids = rows_with_geometry(session, DRAFT_GRIDS_SQL, {"id": draft_id, "town": town})
    posts: set[tuple[str, str]] = set()
    for g in grids:
        if g.pop("leader_id") is not None:
            posts.add((g["code"], "leader"))
        if g.pop("worker_ids"):
            posts.add((g["code"], "worker"))
    if draft["scope_kind"] == "village":
        others = rows_with_geometry(session, OTHER_GRIDS_SQL,
                                    {"town": town, "village": draft["scope_code"]})
        grids += others
        held = {g["code"] for g in others}
        posts |= {(r.grid_code, r.role) for r in session.execute(text(ASSIGNMENTS_SQL))
                  if r.grid_code in held}
    report = hierarchy_report(towns, zones, grids, posts)
    return {"draft": draft_id, "revision": draft["revision"], **report.to_dict()}
