"""``GET /api/v1/stats/workers|villages|grids``: the scores (cases/scores.py, formulas in
README "Scores"), in JSON or CSV, for the cases in the caller's scope (a village operator sees
its village)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from accounts import access
from accounts.access import allow
from cases import scores
from web.api import CSV, Media, operation
from web.auth import current_actor
from web.database import replica_reads, session

# who may read the scores: the leaders, the centers' operators, the administrator
SCORE_ROLES = ("town_leader", "town_operator", "village_operator", "grid_leader", "admin")


class ScoresQueryIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: date | None = Field(None, alias="from",
                               description="first day, YYYY-MM-DD (default: 30 days ago)")
    until: date | None = Field(None, description="last day, YYYY-MM-DD (default: today)")
    format: Literal["json", "csv"] = Field("json", description="json, or csv (UTF-8 with BOM)")


_FIELDS = {
    **{name: {"type": "integer"} for name in scores.COUNTS},
    "person_id": {"type": "integer"}, "party_member": {"type": "boolean"},
    "code": {"type": "string"}, "village_code": {"type": ["string", "null"]},
    "name": {"type": ["string", "null"]}, "role": {"type": ["string", "null"]},
    "secretary": {"type": ["string", "null"]}, "village_name": {"type": ["string", "null"]},
    "rated": {"type": "integer"},
    "on_time_rate": {"type": ["number", "null"], "description": "null without a case handled"},
    "satisfied_share": {"type": ["number", "null"], "description": "null without a rating"},
    "score": {"type": "integer"},
    "party_points": {"type": ["integer", "null"], "description": "null for a non-member"},
    "index": {"type": ["number", "null"]}, "stars": {"type": ["integer", "null"]},
}


def _scores_out(kind: str) -> Media:
    """JSON, or with `format=csv` the items as CSV (the columns of cases/scores.py COLUMNS)."""
    item = {"type": "object", "required": list(scores.COLUMNS[kind]),
            "properties": {name: _FIELDS[name] for name in (*scores.COLUMNS[kind], "rated")}}
    return Media({"application/json": {
        "type": "object", "required": ["kind", "from", "until", "formulas", "items"],
        "properties": {
            "kind": {"const": kind},
            "from": {"type": "string"}, "until": {"type": "string"},
            "formulas": {"type": "string", "description": "the formulas, as README \"Scores\""},
            "items": {"type": "array", "items": item},
        },
    }, "text/csv": CSV})


def scope_of_caller() -> scores.Scope:
    """The caller's scope as the scores count it."""
    kind, codes = access.case_scope(current_actor())
    return scores.Scope(kind, codes)


def answer(kind: str, query: ScoresQueryIn):
    win = scores.window(query.from_, query.until)
    rows = scores.scores(session(), kind, scope_of_caller(), win)
    if query.format == "csv":
        name = f"scores-{kind}-{win.since.date()}-{win.until.date()}.csv"
        return Response(scores.to_csv(kind, rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'},
                        content_type="text/csv; charset=utf-8")
    return {"kind": kind, "from": win.since.isoformat(), "until": win.until.isoformat(),
            "formulas": scores.formulas(), "items": rows}


_ERRORS = {401: "no credentials", 403: "a role that may not read scores",
           422: "`until` before `from`, or a day outside 1900-01-01 .. 2999-12-31"}


@replica_reads
@allow(*SCORE_ROLES)
@operation("/stats/workers", summary="Grid workers' scores and party members' points",
           tags=["scores"], query=ScoresQueryIn,
           responses={200: ("the scores", _scores_out("workers"))},
           errors=_ERRORS)
def stats_workers(query: ScoresQueryIn):
    """Per person who handled a case in the window: on time, cards, ratings, the score and,
    for a party member, the points (README "Scores")."""
    return answer("workers", query)


@replica_reads
@allow(*SCORE_ROLES)
@operation("/stats/villages", summary="Villages' star ratings (the secretary's 星级评定)",
           tags=["scores"], query=ScoresQueryIn,
           responses={200: ("the scores", _scores_out("villages"))},
           errors=_ERRORS)
def stats_villages(query: ScoresQueryIn):
    """Per village: on-time rate, satisfaction, cards, the index and 1–5 stars."""
    return answer("villages", query)


@replica_reads
@allow(*SCORE_ROLES)
@operation("/stats/grids", summary="Leaf grids' figures and scores", tags=["scores"],
           query=ScoresQueryIn, responses={200: ("the scores", _scores_out("grids"))},
           errors=_ERRORS)
def stats_grids(query: ScoresQueryIn):
    """Per leaf grid: the village's figures for the grid's cases, and the summed score."""
    return answer("grids", query)
