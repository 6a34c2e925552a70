"""Assignment: from the routed grid to a person, and an operator's reassignment.

The rules (the intake issue, after DOMAIN.md's grid posts):

- a case routed to a leaf grid goes to that grid's grid worker on duty;
- with several on duty, to the one with the fewest open cases (ties: the lower person id, so
  the choice is reproducible);
- with none on duty, to the grid leader of the village (the party secretary, first
  responsible for the village's grids);
- a case routed to a village at village precision goes to that village's grid leader, who
  triages it for the village center;
- a case in the town center's queue waits there unassigned until the town center dispatches.

Every choice comes with a sentence saying why. Operators may reassign a case; the change is
recorded as a ``reassigned`` event (the log is append-only). A reassignment is not a workflow
action: it changes who holds the case, not its state — except that a case waiting unassigned
in a queue (``collected``) becomes ``dispatched``, as the pre-workflow endpoint
``POST /api/v1/cases/{id}/assignee`` promised; it then does what the workflow's dispatch does
(one more version, the holder on the event, the dispatch clock met, accept and handle
started). Once accounts are wired, that endpoint should become the ``dispatch`` transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cases import clocks, repository, workflow_repository
from cases.categories import categories
from cases.deadlines import LOCAL_TZ
from cases.errors import (
    AlreadyAssigned, CaseClosed, CaseNotFound, PersonNotFound, PersonOffDuty,
)
from cases.models import CLOSED_STATES
from cases.routing import RoutingDecision

PUBLIC_PERSON = ("id", "name", "phone", "title")


@dataclass
class Assignment:
    """The person a new case goes to (None: it waits in a queue) and why."""

    person: dict[str, Any] | None
    reason: str
    open_cases: dict[int, int] | None = None  # the counts compared, when there were several

    def record(self) -> dict[str, Any]:
        """JSON-ready, for the case's ``created`` event."""
        out: dict[str, Any] = {"assignee": self.person, "reason": self.reason}
        if self.open_cases is not None:
            out["open_cases"] = {str(k): v for k, v in self.open_cases.items()}
        return out


def _public(person: dict[str, Any]) -> dict[str, Any]:
    return {k: person.get(k) for k in PUBLIC_PERSON}


def choose_assignee(session: Session, decision: RoutingDecision) -> Assignment:
    """Who gets a newly routed case (one query, only when several workers are on duty)."""
    if decision.queue == "town":
        return Assignment(None, f"waits in the town center's queue of {decision.town['name']} "
                                "to be filed and dispatched")
    village = decision.admin["name"] if decision.admin else "the village"
    leader = decision.leader
    if decision.queue == "village":
        if leader:
            return Assignment(_public(leader), f"village-precision case: given to {village}'s grid "
                                               f"leader {leader['name']}, who triages for the village center")
        return Assignment(None, f"{village} has no grid leader on record: waits in the village center's queue")
    leaf = decision.leaf or {}
    workers = decision.workers_on_duty
    if len(workers) == 1:
        w = workers[0]
        return Assignment(_public(w), f"{w['name']} is the grid worker on duty in {leaf.get('code')}")
    if len(workers) > 1:
        counts = repository.open_case_counts(session, [w["id"] for w in workers])
        counts = {w["id"]: counts.get(w["id"], 0) for w in workers}
        chosen = min(workers, key=lambda w: (counts[w["id"]], w["id"]))
        others = ", ".join(f"{w['name']} {counts[w['id']]}" for w in workers if w is not chosen)
        return Assignment(
            _public(chosen),
            f"{len(workers)} grid workers on duty in {leaf.get('code')}: {chosen['name']} has the "
            f"fewest open cases ({counts[chosen['id']]}, against {others})",
            counts,
        )
    if leader:
        return Assignment(_public(leader), f"no grid worker on duty in {leaf.get('code')}: given to "
                                           f"{village}'s grid leader {leader['name']}")
    return Assignment(None, f"no grid worker on duty in {leaf.get('code')} and no grid leader in "
                            f"{village}: waits in the village center's queue")


def _dispatch_clocks(session: Session, case: dict[str, Any], at: datetime) -> None:
    """What the workflow's dispatch does to the clocks (cases/workflow.py): the dispatch clock
    met, accept and handle started."""
    from cases.intake import business_calendar  # intake imports this module

    category = categories(session)[case["category_code"]]
    cal = business_calendar(session)
    workflow_repository.meet_clocks(session, case["id"], ("dispatch",), at)
    started = [clocks.started(c, at, category, cal) for c in ("accept", "handle")]
    workflow_repository.insert_clocks(session, case["id"], case["town_code"], started)


def set_on_duty(session: Session, person_id: int, on_duty: bool) -> dict[str, Any]:
    """Mark a person on or off duty; raises PersonNotFound."""
    person = repository.set_on_duty(session, person_id, on_duty)
    if person is None:
        raise PersonNotFound(f"there is no person with id {person_id}", {"person_id": person_id})
    return person


def reassign_case(
    session: Session, case_id: int, person_id: int, reason: str, actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Give a case to another person, as an operator, and record a ``reassigned`` event.

    A case waiting unassigned in a queue (``collected``) becomes ``dispatched``. Raises
    CaseNotFound, CaseClosed, PersonNotFound, PersonOffDuty or AlreadyAssigned. Returns the
    event as recorded.
    """
    now = now or datetime.now(LOCAL_TZ)
    case = repository.lock_case(session, case_id)
    if case is None:
        raise CaseNotFound(f"there is no case with id {case_id}", {"case_id": case_id})
    if case["status"] in CLOSED_STATES:
        raise CaseClosed(f"case {case_id} is {case['status']}: a closed case cannot be reassigned",
                         {"status": case["status"]})
    person = repository.person(session, person_id)
    if person is None:
        raise PersonNotFound(f"there is no person with id {person_id}", {"person_id": person_id})
    if not person["on_duty"]:
        raise PersonOffDuty(f"{person['name']} (id {person_id}) is off duty: put them on duty "
                            "first or choose someone else", {"person_id": person_id})
    if case["assignee_id"] == person_id:
        raise AlreadyAssigned(f"case {case_id} is already assigned to {person['name']} (id {person_id})",
                              {"person_id": person_id})
    previous = repository.person(session, case["assignee_id"]) if case["assignee_id"] else None
    to_status = "dispatched" if case["status"] == "collected" else case["status"]
    assignment_reason = f"reassigned by {actor}: {reason}"
    repository.set_assignee(session, case_id, person_id, to_status, now, assignment_reason)
    if to_status != case["status"]:  # dispatched from a queue: the clocks of a dispatch
        _dispatch_clocks(session, case, now)
    data = {
        "from": _public(previous) if previous else None,
        "to": _public(person),
        "reason": reason,
    }
    holder = {"queue": "grid", "assignee_id": person_id, "department_code": None}
    event = repository.insert_event(session, case_id, case["town_code"], now, "reassigned",
                                    case["status"], to_status, actor, data, holder)
    return {"id": event["id"], "at": event["at"], "type": "reassigned", "from_status": case["status"],
            "to_status": to_status, "actor": actor, "data": data}
