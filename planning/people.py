"""The people a planner may put on a draft's grids (the attribute form of ``/planner``).

A draft's grid carries a leader and grid workers by person id (planning/drafts.py); the page
offers them by name. For a village's draft: the people of that village and whoever the draft
already names; for the town's draft: the town's people. Names and roles only: the form needs
nothing else of anyone (no phone).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from planning.drafts import draft_summary

PEOPLE_SQL = """
SELECT p.id, p.name, p.role, p.village_code, p.on_duty
  FROM people p
 WHERE p.town_code = :town
   AND (CAST(:village AS text) IS NULL OR p.village_code = :village
        OR p.id IN (SELECT unnest(dg.worker_ids) FROM draft_grids dg WHERE dg.draft_id = :id
                    UNION SELECT dg.leader_id FROM draft_grids dg WHERE dg.draft_id = :id))
 ORDER BY p.village_code NULLS LAST, p.role, p.id
"""


def draft_people(session: Session, draft_id: int) -> list[dict[str, Any]]:
    """id, name, role, village_code and on_duty of the people who may staff the draft's grids
    (see the module's docstring); DraftNotFound when there is no such draft."""
    draft = draft_summary(session, draft_id)
    village = draft["scope_code"][:12] if draft["scope_kind"] == "village" else None
    rows = session.execute(text(PEOPLE_SQL),
                           {"town": draft["town_code"], "village": village, "id": draft_id})
    return [dict(r) for r in rows.mappings()]
