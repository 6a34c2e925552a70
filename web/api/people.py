"""People on duty, and an operator giving a case to another person.

``PATCH /api/v1/people/{id}`` sets a person's on-duty flag (intake assigns only workers on
duty); ``POST /api/v1/cases/{id}/assignee`` reassigns a case and records a ``reassigned``
event. Authentication comes later: the operator names themself in ``actor``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cases import assignment, intake
from web.api import operation
from web.api.case_schemas import CaseDetailOut
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
    actor: str = Field(min_length=1, max_length=100, description="the operator", examples=["operator:张三"])


@operation(
    "/people/<int:person_id>", "PATCH", summary="Put a person on or off duty", tags=["people"],
    body=PersonPatch, responses={200: ("the person", PersonOut)},
    errors={400: "malformed JSON", 404: "person_not_found", 422: "invalid_body"},
)
def patch_person(person_id: int, body: PersonPatch):
    """Intake gives new cases only to grid workers on duty; with none on duty in a grid, to
    the village's grid leader."""
    db = session()
    person = assignment.set_on_duty(db, person_id, body.on_duty)
    db.commit()
    return {k: person[k] for k in ("id", "name", "role", "title", "phone", "village_code", "on_duty")}


@operation(
    "/cases/<int:case_id>/assignee", "POST", summary="Reassign a case to another person",
    tags=["cases", "people"], body=AssigneeIn,
    responses={200: ("the case, with the reassigned event in its history", CaseDetailOut)},
    errors={400: "malformed JSON", 404: "case_not_found or person_not_found",
            409: "case_closed or already_assigned", 422: "invalid_body or person_off_duty"},
)
def reassign(case_id: int, body: AssigneeIn):
    """An operator gives the case to another person (on duty), with a reason. The change is
    recorded as a `reassigned` event (from, to, reason, actor); a case waiting unassigned in a
    queue becomes `dispatched`."""
    db = session()
    assignment.reassign_case(db, case_id, body.person_id, body.reason, body.actor)
    view = intake.case_view(db, case_id)
    db.commit()
    return view
