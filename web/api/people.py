"""People on duty, and an operator giving a case to another person.

``PATCH /api/v1/people/{id}`` sets a person's on-duty flag (intake assigns only workers on
duty); ``POST /api/v1/cases/{id}/assignee`` reassigns a case and records a ``reassigned``
event. Both only for operators, in their scope (a village operator: the village's people and
cases). The event records the signed-in account; ``actor`` in the body is kept for old clients
and ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from accounts import access, privacy
from accounts.access import OPERATOR_ROLES, allow
from accounts.actor import Actor
from accounts.errors import OutOfScope
from cases import assignment, intake, repository
from web.api import operation
from web.api.case_schemas import CaseDetailOut
from web.auth import current_actor
from web.database import session


class PersonPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_duty: bool = Field(strict=True, description="false: intake stops assigning new cases to them")


class PersonOut(BaseModel):
    id: int
    name: str
    role: str
    title: str | None
    phone: str | None
    village_code: str | None
    on_duty: bool


class AssigneeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_id: int = Field(strict=True, ge=1)
    reason: str = Field(min_length=1, max_length=500, examples=["the worker is on leave"])
    actor: str | None = Field(default=None, max_length=100,
                              description="ignored: the event names the signed-in account")


def _check_person(db, actor: Actor, person_id: int) -> None:
    """OutOfScope when the person (if there is one) works outside the actor's scope."""
    found = repository.person(db, person_id)
    if found is not None and not actor.covers(town_code=found["town_code"],
                                              grid_code=found["village_code"]):
        raise OutOfScope(f"person {person_id} is outside the scope of account {actor.name!r}",
                         {"person_id": person_id})


@allow(*OPERATOR_ROLES)
@operation(
    "/people/<int:person_id>", "PATCH", summary="Put a person on or off duty", tags=["people"],
    body=PersonPatch, responses={200: ("the person", PersonOut)},
    errors={400: "malformed JSON", 403: "forbidden or out_of_scope", 404: "person_not_found",
            422: "invalid_body"},
)
def patch_person(person_id: int, body: PersonPatch):
    """Intake gives new cases only to grid workers on duty; with none on duty in a grid, to
    the village's grid leader."""
    db = session()
    _check_person(db, current_actor(), person_id)
    person = assignment.set_on_duty(db, person_id, body.on_duty)
    db.commit()
    return {k: person[k] for k in ("id", "name", "role", "title", "phone", "village_code", "on_duty")}


@allow(*OPERATOR_ROLES)
@operation(
    "/cases/<int:case_id>/assignee", "POST", summary="Reassign a case to another person",
    tags=["cases", "people"], body=AssigneeIn,
    responses={200: ("the case, with the reassigned event in its history", CaseDetailOut)},
    errors={400: "malformed JSON", 403: "forbidden or out_of_scope",
            404: "case_not_found or person_not_found",
            409: "case_closed or already_assigned", 422: "invalid_body or person_off_duty"},
)
def reassign(case_id: int, body: AssigneeIn):
    """An operator gives the case to another person (on duty), with a reason. The change is
    recorded as a `reassigned` event (from, to, reason, actor); a case waiting unassigned in a
    queue becomes `dispatched`."""
    db = session()
    actor = current_actor()
    access.check_case(db, actor, case_id)
    _check_person(db, actor, body.person_id)  # and to someone of the account's scope
    assignment.reassign_case(db, case_id, body.person_id, body.reason, f"{actor.role}:{actor.name}")
    view = intake.case_view(db, case_id)
    db.commit()
    # as GET /cases/{id} without a reason: the reporter masked (accounts/privacy.py)
    return {**privacy.case_answer(view, reader_in_scope=True), "personal_data": "masked",
            "audit_id": None}
