"""Applying one workflow action to a case: the only way a case's status changes after intake
(cases/workflow.py is the machine). The other writers of ``cases.status``, and why: intake
writes a case's first state and the historical import the state an old system recorded, each
with its one event; the demo writes the histories ``workflow.advance`` makes; the pre-workflow
reassignment (cases/assignment.py) moves a ``collected`` case to ``dispatched`` as its endpoint
promised, with what a dispatch does to the version, the event and the clocks.

A transition is a handful of statements: read the case; check the action, the version, the
state, the actor's role, level and scope, the action's guards and fields; then one UPDATE that
names the version (``WHERE id = :id AND version = :version``, so of two concurrent transitions
exactly one wins and the other gets StaleVersion), one event, the clock rows it touches. Every
refusal is raised before anything is written; the caller owns the transaction (and rolls it
back on an error, as for every service here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from accounts import privacy
from accounts.actor import Actor
from cases import rating_links, repository
from cases import workflow_repository as store
from cases.clock_plan import plan_clocks
from cases.deadlines import LOCAL_TZ
from cases.errors import (
    CaseNotFound, CaseVoided, ExtensionPending, InvalidTarget, NoExtensionPending, NoteTooLong,
    OutsideScope, PersonOffDuty, ReasonRequired, ReopenNotDissatisfied, ReopenTooLate,
    StaleVersion, TransitionError, TransitionNotAllowed, UnknownAction,
)
from cases.departments import departments
from cases.intake import check_photo_count
from cases.transition_keys import checked_taken_at, refuse_replay
from cases.workflow import (
    ACTIONS, MAX_EXTENSION_DAYS, MAX_NOTE, RATINGS, REOPEN_DAYS, VOID_REASONS, Action, CaseState,
    actor_level, advance, level_allows, target_state,
)


def _now(at: datetime | None) -> datetime:
    return (at or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ)


def refusal(action: Action, state: CaseState, row: Mapping[str, Any], actor: Actor,
            at: datetime) -> TransitionError | None:
    """Why ``actor`` may not take ``action`` on the case now (an error to raise), or None.
    The state itself is checked by the caller."""
    if actor.role not in action.roles:
        may = ", ".join(action.roles)
        return OutsideScope(
            f"a {actor.role} may not {action.name} a case; the roles that may: {may}",
            {"action": action.name, "role": actor.role, "roles": list(action.roles)})
    why = level_allows(action, state, actor.role)
    if why is not None:
        return OutsideScope(f"{actor.name} may not {action.name} case {row['id']}: {why}",
                            {"action": action.name, "queue": state.queue})
    if not actor.is_resident and not actor.covers(
            town_code=row["town_code"], grid_code=row["grid_code"] or row["admin_code"],
            department_code=state.department_code):
        return OutsideScope(f"case {row['id']} is outside {actor.name}'s scope "
                            f"({actor.scope_kind} {actor.scope_code})",
                            {"scope_kind": actor.scope_kind, "scope_code": actor.scope_code})
    return _guard(action, state, row, at)


def _guard(action: Action, state: CaseState, row: Mapping[str, Any],
           at: datetime) -> TransitionError | None:
    name = action.name
    if name == "request_extension" and state.extension_days is not None:
        return ExtensionPending(f"case {row['id']} already waits for an extension of "
                                f"{state.extension_days} working days",
                                {"days": state.extension_days})
    if name in ("approve_extension", "refuse_extension") and state.extension_days is None:
        return NoExtensionPending(f"case {row['id']} has no extension request to decide", None)
    if name == "reopen":
        if state.satisfaction != "dissatisfied":
            return ReopenNotDissatisfied(
                f"case {row['id']} was rated {state.satisfaction!r}: only 不满意 (dissatisfied) "
                "reopens it",
                {"satisfaction": state.satisfaction})
        rated = state.evaluated_at
        if rated is not None and at - rated > timedelta(days=REOPEN_DAYS):
            day = f"{rated.astimezone(LOCAL_TZ):%Y-%m-%d}"
            return ReopenTooLate(f"case {row['id']} was rated on {day}: "
                                 f"a case reopens only within {REOPEN_DAYS} days of the rating",
                                 {"evaluated_at": rated.isoformat(), "days": REOPEN_DAYS})
    return None


def _allowed(state: CaseState, row: Mapping[str, Any], actor: Actor, at: datetime) -> list[str]:
    return [a.name for a in ACTIONS.values()
            if state.status in a.sources and refusal(a, state, row, actor, at) is None]


def allowed_actions(session: Session, case: int | Mapping[str, Any], actor: Actor,
                    at: datetime | None = None) -> list[dict[str, Any]]:
    """What ``actor`` may do with the case now: each action with its Chinese name, the state
    it leads to and what it needs (``reason``, ``to``). ``case`` is an id or a case_state row."""
    row = _case(session, case) if isinstance(case, int) else case
    state = CaseState.of(row)
    out = []
    for name in _allowed(state, row, actor, _now(at)):
        action = ACTIONS[name]
        out.append({"action": name, "name_zh": action.zh, "to_state": target_state(action, state),
                    "needs_reason": action.needs_reason, "to": action.to})
    return out


def _case(session: Session, case_id: int) -> dict[str, Any]:
    row = store.case_state(session, case_id)
    if row is None:
        raise CaseNotFound(f"there is no case with id {case_id}", {"case_id": case_id})
    return row


def _note(note: str | None) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str):
        raise InvalidTarget(f"`note` was {note!r} but must be text", {"field": "note"})
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise NoteTooLong(f"the note has {len(note)} characters; at most {MAX_NOTE} are allowed",
                          {"length": len(note), "max": MAX_NOTE})
    return note or None


def _position(position: Sequence[float] | None) -> tuple[float | None, float | None]:
    if position is None:
        return None, None
    try:
        lon, lat = (float(v) for v in position)
    except (TypeError, ValueError):
        raise InvalidTarget(f"`position` was {position!r} but must be (lon, lat)",
                            {"field": "position"}) from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidTarget(f"`position` ({lon}, {lat}) is not a WGS 84 lon/lat",
                            {"field": "position"})
    return lon, lat


def _bad(action: Action, to: Any, expected: str) -> InvalidTarget:
    return InvalidTarget(f"`to` was {to!r} but {action.name} needs {expected}",
                         {"field": "to", "action": action.name, "expected": expected})


def _target(session: Session, action: Action, row: Mapping[str, Any], to: Any, actor: Actor,
            at: datetime) -> Any:
    """The checked ``to`` of ``action`` (see workflow.advance for what each becomes)."""
    kind = action.to
    if kind is None:
        if to is not None:
            raise _bad(action, to, "no `to`")
        return None
    if kind == "void_reason":
        if to not in VOID_REASONS:
            raise _bad(action, to, f"a reason, one of {list(VOID_REASONS)}")
        return to
    if kind == "rating":
        if to in RATINGS.values():
            return to
        if to not in RATINGS:
            raise _bad(action, to, f"a rating, one of {list(RATINGS)}")
        return RATINGS[to]
    if kind == "extension_days":
        if not isinstance(to, int) or isinstance(to, bool) or not 1 <= to <= MAX_EXTENSION_DAYS:
            raise _bad(action, to, f"a number of working days from 1 to {MAX_EXTENSION_DAYS}")
        return to
    if kind == "resume_date":
        try:
            day = to if isinstance(to, date) else date.fromisoformat(str(to))
        except ValueError:
            raise _bad(action, to, "a resume date (YYYY-MM-DD)") from None
        if day <= at.date():
            raise _bad(action, to, f"a resume date after today ({at.date().isoformat()})")
        return day
    if kind == "original_case":
        return _original(session, action, row, to)
    if kind == "assignee":
        return _assignee(session, action, row, to, actor)
    raise AssertionError(f"unknown `to` kind {kind!r}")


def _original(session: Session, action: Action, row: Mapping[str, Any], to: Any) -> int:
    if not isinstance(to, int) or isinstance(to, bool) or to == row["id"]:
        raise _bad(action, to, "the id of another, open case (the original)")
    original = store.case_state(session, to)
    if original is None or original["town_code"] != row["town_code"] or original["status"] in (
            "closed", "evaluated", "voided"):
        found = "no such case" if original is None else f"case {to} is {original['status']}"
        raise InvalidTarget(f"case {row['id']} can be merged only into an open case of its "
                            f"town: {found}",
                            {"field": "to", "original": to})
    return to


def _assignee(session: Session, action: Action, row: Mapping[str, Any], to: Any,
              actor: Actor) -> tuple[int | None, str | None]:
    expected = '{"person_id": id} or, from the town center, {"department": code}'
    if not isinstance(to, Mapping) or len(to) != 1:
        raise _bad(action, to, expected)
    if "department" in to:
        code = to["department"]
        if actor_level(actor.role) != "town":
            raise InvalidTarget("only the town center dispatches to a department",
                                {"field": "to", "role": actor.role})
        known = departments()
        if code not in known:
            raise InvalidTarget(f"department {code!r} does not exist",
                                {"field": "to", "valid": sorted(known)})
        return None, code
    person_id = to.get("person_id")
    if not isinstance(person_id, int) or isinstance(person_id, bool):
        raise _bad(action, to, expected)
    person = repository.person(session, person_id)
    if person is None or person["town_code"] != row["town_code"]:
        raise InvalidTarget(f"there is no person with id {person_id} in the case's town",
                            {"field": "to", "person_id": person_id})
    village = (row["grid_code"] or row["admin_code"] or "")[:12]
    if actor_level(actor.role) == "village" and person["village_code"] != village:
        raise InvalidTarget(f"{person['name']} (id {person_id}) is not of the case's village "
                            f"{village}",
                            {"field": "to", "person_id": person_id})
    if not person["on_duty"]:
        raise PersonOffDuty(f"{person['name']} (id {person_id}) is off duty: put them on duty "
                            "first or choose someone else", {"person_id": person_id})
    return person_id, None


def _json(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, tuple):
        return {"person_id": value[0], "department": value[1]}
    return value


def apply_transition(
    session: Session, case_id: int, action: str, actor: Actor, version: int,
    note: str | None = None, to: Any = None, photos: Sequence[Any] = (),
    at: datetime | None = None, position: Sequence[float] | None = None,
    idempotency_key: str | None = None, taken_at: datetime | None = None,
    row: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Take ``action`` on case ``case_id`` as ``actor``, decided on the case's ``version``.

    ``note`` is the reason or note (at most 2,000 characters; required where the action says);
    ``to`` what the action needs (cases/workflow.py ACTIONS: a person or department, a void
    reason, a resume date, a rating, days, the original case); ``photos`` checked
    cases.intake.Photo values, stored with the case; ``position`` (lon, lat) in WGS 84;
    ``idempotency_key`` and ``taken_at`` what a phone sends with a queued action
    (cases/transition_keys.py); ``row`` the case's state (workflow.sql case_state) when the
    caller read it in this transaction already (else read here). Returns the case's new status
    and version and the event written. Raises UnknownAction, AlreadyApplied,
    TransitionKeyReused, TakenAtInFuture, TakenAtTooOld, CaseNotFound, CaseVoided,
    StaleVersion, TransitionNotAllowed, OutsideScope, the guards' errors, ReasonRequired,
    NoteTooLong, InvalidTarget, PersonOffDuty, TooManyPhotos; nothing is written then.
    """
    act = ACTIONS.get(action)
    if act is None:
        raise UnknownAction(f"there is no action {action!r}; the actions are {', '.join(ACTIONS)}",
                            {"valid": list(ACTIONS)})
    note = _note(note)
    lon, lat = _position(position)
    check_photo_count(len(photos))
    at = _now(at)
    refuse_replay(session, actor, idempotency_key, case_id, action)
    taken_at = checked_taken_at(taken_at, at)
    # read before the replay check when the caller passed it: a twin committed in between
    # moved the version, and the update below finds that and answers as a replay
    row = _case(session, case_id) if row is None else row
    state = CaseState.of(row)
    if state.status == "voided":
        raise CaseVoided(f"case {case_id} is voided: nothing more can happen to it",
                         {"status": "voided", "merged_into": state.merged_into})
    if row["version"] != version:
        # a twin of this request (the same Idempotency-Key) may have committed since the check
        refuse_replay(session, actor, idempotency_key, case_id, action)
        raise StaleVersion(f"case {case_id} is at version {row['version']}, not {version}: "
                           "it changed since you read it",
                           {"status": state.status, "version": row["version"]})
    if state.status not in act.sources:
        allowed = _allowed(state, row, actor, at)
        raise TransitionNotAllowed(
            f"{action} is not possible from {state.status}; {actor.name} may now: "
            f"{', '.join(allowed) or 'nothing'}", {"status": state.status, "allowed": allowed})
    error = refusal(act, state, row, actor, at)
    if error is not None:
        raise error
    if act.needs_reason and note is None:
        raise ReasonRequired(f"{action} needs a reason: send it as the note",
                             {"field": "note", "action": action})
    if act.name == "note" and note is None and not photos:
        raise ReasonRequired("a note needs its text or a photo: send either or both",
                             {"field": "note", "action": action})
    target = _target(session, act, row, to, actor, at)
    new = advance(state, act, role=actor.role, account_id=actor.account_id, target=target, at=at)
    plan = plan_clocks(session, act, state, row, at)
    new_version = store.update_case(session, case_id, version, asdict(new), at, plan.due_at)
    if new_version is None:
        refuse_replay(session, actor, idempotency_key, case_id, action)  # its twin came first
        current = store.case_state(session, case_id) or row
        raise StaleVersion(f"case {case_id} changed while {action} was being applied: it is now "
                           f"{current['status']} at version {current['version']}",
                           {"status": current["status"], "version": current["version"]})
    # the version moved: this transaction holds the case's row lock, the rest cannot race
    plan.write(session, row, at)
    photo_ids = store.insert_photos(session, case_id, photos)
    data: dict[str, Any] = {"version": new_version, "clocks": plan.record()}
    if target is not None:
        data["to"] = _json(target)
    if act.name == "merge":
        data["supporter"] = {"name": row["reporter_name"], "phone": row["reporter_phone"]}
    who = {"actor": actor.name, "account_id": actor.account_id, "role": actor.role, "at": at}
    event = store.insert_event(session, {
        **who, "case_id": case_id, "town_code": row["town_code"], "type": action,
        "from_status": state.status, "to_status": new.status, "data": data, "note": note,
        "lon": lon, "lat": lat, "photo_ids": photo_ids or None, "queue": new.queue,
        "assignee_id": new.assignee_id, "department_code": new.department_code,
        "idempotency_key": idempotency_key, "taken_at": taken_at})
    if event is None:  # the key's unique index: a request with it committed meanwhile
        refuse_replay(session, actor, idempotency_key, case_id, action)
        raise AssertionError(f"Idempotency-Key {idempotency_key!r} conflicted but no event has it")
    if act.name == "merge":
        _merge_into(session, target, case_id, data["supporter"], who, note)
    out = {"id": case_id, "status": new.status, "version": new_version,
           "event": {"id": event["id"], "type": action, "from_status": state.status,
                     "to_status": new.status, "at": at.isoformat(), "note": note,
                     "photo_ids": photo_ids, "data": privacy.event_data(data),
                     "taken_at": taken_at.isoformat() if taken_at else None}}
    if act.name == "close" and rating_links.reachable(row["reporter_phone"]):
        # 一事一评: the reporter's rating link, its token given out in this result only
        out["rating_link"] = rating_links.issue_link(session, case_id, row["town_code"], at)
    return out


def _merge_into(session: Session, original_id: int, duplicate_id: int, supporter: dict,
                who: dict, note: str | None) -> None:
    """The original's side of a merge: one event naming the duplicate and its reporter."""
    original = store.touch_original(session, original_id, who["at"])
    if original is None:
        raise InvalidTarget(f"case {original_id} closed while case {duplicate_id} was merged "
                            "into it",
                            {"field": "to", "original": original_id})
    store.insert_event(session, {
        **who, "case_id": original_id, "town_code": original["town_code"], "type": "merged_in",
        "from_status": original["status"], "to_status": original["status"], "note": note,
        "data": {"duplicate": duplicate_id, "supporter": supporter, "version": original["version"]},
        "lon": None, "lat": None, "photo_ids": None, "queue": original["queue"],
        "assignee_id": original["assignee_id"], "department_code": original["department_code"]})
