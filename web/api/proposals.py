"""``POST /api/v1/drafts/{id}/proposals``: a village's residential land split into service
grids of a given size, as a new draft; ``GET /api/v1/drafts/{id}/balance``: any draft's
households and compactness per service grid beside today's (planning/proposals.py)."""

from __future__ import annotations

from flask import jsonify
from pydantic import BaseModel, Field

from accounts.access import allow
from planning import proposals
from web.api import operation
from web.api.drafts import READERS, WRITERS, _visible
from web.auth import current_actor
from web.database import session

VILLAGE = Field(min_length=12, max_length=15, pattern=r"^\d+$",
                description="the village's 12-digit code (or its village grid's 15-digit code)")


class ProposalIn(BaseModel):
    village: str = VILLAGE
    min_households: int = Field(ge=1, le=1_000_000,
                                description="the fewest households a service grid may hold")
    max_households: int = Field(ge=1, le=1_000_000,
                                description="the most households a service grid may hold")


class BalanceQuery(BaseModel):
    village: str | None = Field(None, min_length=12, max_length=15, pattern=r"^\d+$",
                                description="one village; default the draft's village, or the "
                                            "whole town for a town's draft")


class GridBalance(BaseModel):
    code: str
    name: str
    households: int = Field(description="households whose address lies in the grid")
    area_m2: float
    polsby_popper: float | None = Field(
        description="compactness 4πA/P², 1 for a disc, near 0 for a thin strip")


class BalanceSummary(BaseModel):
    grids: int
    households: int
    min: int | None
    max: int | None
    std: float | None = Field(description="standard deviation of households per grid "
                                          "(population: divided by the number of grids)")
    mean_polsby_popper: float | None


class Today(BaseModel):
    grids: list[GridBalance]
    summary: BalanceSummary


class BalanceOut(BaseModel):
    draft: int
    revision: int
    village: str | None
    grids: list[GridBalance] = Field(description="the draft's service grids")
    summary: BalanceSummary
    today: Today = Field(description="the same for today's service grids")


class ProposalOut(BalanceOut):
    source_draft: int
    method: str
    min_households: int
    max_households: int


@allow(*WRITERS)
@operation(
    "/drafts/<int:draft_id>/proposals", "POST",
    summary="Propose service grids of a given size for a village, as a new draft",
    tags=["planning"], body=ProposalIn,
    responses={201: ("the new draft of the village, with each proposed grid's households and "
                     "compactness beside today's", ProposalOut)},
    errors={404: "draft_not_found, village_not_found",
            422: "invalid_body, invalid_scope (a village outside the draft's town or scope), "
                 "invalid_proposal (min above max, no residential land), proposal_impossible "
                 "(no whole number of grids in the bounds can hold the village's households, "
                 "too many grids, or none found)"},
)
def post_proposal(draft_id: int, body: ProposalIn):
    """The village's residential land (its service grids in this draft) split into contiguous,
    compact service grids of `min_households` to `max_households` households each, following
    the streets: max-p-regions (spopt) over street sides. The proposal is a new draft of the
    village (this one is unchanged) that the planner edits, publishes or discards; its
    grids take the serials of the old service grids, then free ones, and the workers of the
    old grid that held most of their households."""
    db = session()
    result = proposals.propose(db, _visible(draft_id), body.village, body.min_households,
                               body.max_households, current_actor().name)
    db.commit()
    response = jsonify(result)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/drafts/{result['draft']}"
    return response


@allow(*READERS)
@operation(
    "/drafts/<int:draft_id>/balance", summary="Households and compactness per service grid",
    tags=["planning"], query=BalanceQuery,
    responses={200: ("the draft's service grids and today's, each with a summary", BalanceOut)},
    errors={404: "draft_not_found", 422: "invalid_scope: a village outside the draft"},
)
def get_balance(draft_id: int, query: BalanceQuery):
    """For each service grid of the draft (of one village, or all of a town's draft): its
    households (by the position of their address) and its Polsby–Popper compactness; a
    summary (count, households, min, max, standard deviation, mean compactness); and the
    same for today's service grids there."""
    return proposals.balance(session(), _visible(draft_id), query.village)
