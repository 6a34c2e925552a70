"""Parked cases (挂账) come back on their resume date by themselves.

Parking takes a resume date (cases/workflow.py ``park``: seasonal or engineering work that
cannot go on before then). On that day the case is resumed as the town center would resume it
by hand — the same ``resume`` transition (cases/transitions.py), so its clocks restart over
the business calendar and its event says who: ``supervision`` at the town level. The
background worker runs :func:`resume_due` every ten minutes (jobs/app.py); a case resumed by
hand before then is simply no longer parked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from accounts.actor import Actor
from cases.deadlines import LOCAL_TZ
from cases.errors import CaseError

NOTE = "挂账期满，自动恢复办理 (resume date reached)"
# cases resumed per run: a backlog (a worker down for weeks) is worked off run by run
BATCH = 200

_DUE = text("""
SELECT id, town_code, version FROM cases
 WHERE status = 'parked' AND resume_on <= :today
 ORDER BY resume_on, id
 LIMIT :limit""")


@dataclass
class Resumed:
    """What one run did: the cases resumed, and those it could not resume with the reason."""

    resumed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def resume_due(session: Session, at: datetime, limit: int = BATCH) -> Resumed:
    """Resume every parked case whose resume date (a local day) is ``at``'s day or earlier, up
    to ``limit``, each in its own savepoint (one that fails leaves the others resumed). The
    caller commits."""
    from cases.transitions import apply_transition  # transitions imports much of cases

    if at.tzinfo is None:
        raise ValueError(f"`at` was {at!r} but must be timezone-aware")
    today = at.astimezone(LOCAL_TZ).date()
    out = Resumed()
    for row in session.execute(_DUE, {"today": today, "limit": limit}).mappings().all():
        center = Actor(role="town_operator", name="supervision", scope_kind="town",
                       scope_code=row["town_code"])
        try:
            with session.begin_nested():
                apply_transition(session, row["id"], "resume", center, row["version"],
                                 note=NOTE, at=at)
        except CaseError as exc:  # e.g. resumed by hand meanwhile: stale version
            out.failed[row["id"]] = str(exc)
        else:
            out.resumed.append(row["id"])
    return out
