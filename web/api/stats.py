"""``GET /api/v1/stats/today``: the day's numbers of the operator map's side panel."""

from __future__ import annotations

from accounts.access import ANY_ACCOUNT, allow
from cases import stats
from cases.models import SATISFACTION
from web.api import operation
from web.database import replica_reads, session

TODAY_OUT = {
    "type": "object",
    "properties": {
        "day": {"type": "string", "description": "the local day, YYYY-MM-DD"},
        "timezone": {"type": "string", "examples": ["Asia/Shanghai"]},
        "as_of": {"type": "string"},
        "new": {"type": "integer", "description": "cases created today"},
        "open": {"type": "integer", "description": "cases not closed, evaluated or voided"},
        "overdue": {"type": "integer", "description": "open, not parked, past due_at"},
        "closed": {"type": "integer", "description": "closed today (closed or evaluated)"},
        "satisfaction": {
            "type": "object",
            "properties": {
                "days": {"type": "integer"}, "since": {"type": "string"},
                "evaluated": {"type": "integer", "description": "ratings of the cases closed in the window"},
                "levels": {"type": "object", "description": "ratings by level (DOMAIN.md)",
                           "required": list(SATISFACTION),
                           "properties": {level: {"type": "integer"} for level in SATISFACTION}},
                "satisfied_share": {"type": ["number", "null"],
                                    "description": "(very satisfied + satisfied + basically "
                                                   "satisfied) / evaluated; null without ratings"},
            },
        },
    },
}


@replica_reads
@allow(ANY_ACCOUNT)
@operation(
    "/stats/today", summary="The day's numbers: new, open, overdue, closed today, satisfaction",
    tags=["map"], responses={200: ("the numbers", TODAY_OUT)},
)
def stats_today():
    """Counted in the town's days (Asia/Shanghai). Satisfaction covers the ratings of the
    cases closed in the last 30 days, on the four levels of DOMAIN.md."""
    return stats.today(session())
