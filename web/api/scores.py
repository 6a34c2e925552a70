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
from web.api import operation
from web.auth import current_actor
from web.database import session

# who may read the scores: the leaders, the centers' operators, the administrator
SCORE_ROLES = ("town_leader", "town_operator", "village_operator", "grid_leader", "admin")


class ScoresQueryIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: date | None = Field(None, alias="from",
                               description="first day, YYYY-MM-DD (default: 30 days ago)")
    until: date | None = Field(None, description="last day, YYYY-MM-DD (default: today)")
    format: Literal["json", "csv"] = Field("json", description="json, or csv (UTF-8 with BOM)")


SCORES_OUT = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": list(scores.KINDS)},
        "from": {"type": "string"}, "until": {"type": "string"},
        "formulas": {"type": "string", "description": "the formulas, as README \"Scores\""},
        "items": {"type": "array", "items": {"type": "object"}},
    },
}


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
           422: "`until` before `from`"}


@allow(*SCORE_ROLES)
@operation("/stats/workers", summary="Grid workers' scores and party members' points",
           tags=["scores"], query=ScoresQueryIn, responses={200: ("the scores", SCORES_OUT)},
           errors=_ERRORS)
def stats_workers(query: ScoresQueryIn):
    """Per person who handled a case in the window: on time, cards, ratings, the score and,
    for a party member, the points (README "Scores")."""
    return answer("workers", query)


@allow(*SCORE_ROLES)
@operation("/stats/villages", summary="Villages' star ratings (the secretary's 星级评定)",
           tags=["scores"], query=ScoresQueryIn, responses={200: ("the scores", SCORES_OUT)},
           errors=_ERRORS)
def stats_villages(query: ScoresQueryIn):
    """Per village: on-time rate, satisfaction, cards, the index and 1–5 stars."""
    return answer("villages", query)


@allow(*SCORE_ROLES)
@operation("/stats/grids", summary="Leaf grids' figures and scores", tags=["scores"],
           query=ScoresQueryIn, responses={200: ("the scores", SCORES_OUT)}, errors=_ERRORS)
def stats_grids(query: ScoresQueryIn):
    """Per leaf grid: the village's figures for the grid's cases, and the summed score."""
    return answer("grids", query)
