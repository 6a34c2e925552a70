"""The case workflow (全链闭环), defined once as data: states, actions, who may take each, from
which state, at which level, what each needs and what it does to the clocks.

**Levels.** A case sits at one level, its holder (``cases.queue``): ``grid`` (a person handles
it: a grid worker, or a grid leader or anyone a center dispatched it to, ``assignee_id``),
``village`` (the village center, 村级党群服务中心), ``town`` (the town center, 镇级指挥中心) or
``department`` (one of the town's departments, ``department_code``, cases/data/departments.csv).
``sender_level`` is the center that dispatched it to its holder: a return (回退) goes back
there and the close is taken there. ``closed_level`` is the center that closed it: a reopen goes
back there. Roles act at one level (``ROLE_LEVEL``); a grid leader (网格长, the village's
party secretary) also acts for the grids of the village.

**States** (cases.models.STATES, with their meaning unchanged): ``collected`` (reported, in a
center's queue), ``filed`` (verified; a reopened case is filed again at the center that closed
it), ``dispatched`` (sent to a person or a department; the clocks run), ``handling`` (accepted),
``escalated`` (sent up: grid → village center → town center, waiting there), ``fed_back``,
``closed``, ``evaluated``, ``returned`` (sent back to the center that dispatched it),
``parked`` (挂账: clocks suspended until resumed), ``voided`` (duplicate or invalid; a merged
duplicate links to its original). An extension request (延期) is not a state: the case keeps
handling while ``extension_days`` waits for the level above, so no other transition is blocked
by it and no state has to be doubled. Supervision (督办) is an event, not a state.

**Who.** Each action says which roles may take it and whose it is (``by``):

- ``holder``: the level the case sits at (the grid's workers, a village center for a case
  held at the village, the department's handlers);
- ``center``: the center responsible for the case — the village center for a case at a grid or
  the village, the town center for a case at the town or a department; the town center may
  act for any village center of its town;
- ``sender``: the center that dispatched it (``sender_level``);
- ``above``: a level above the holder (approving an extension, supervising); the town leader
  is above every holder, the town center included;
- ``closer``: the center that closed it, or the resident through the rating link;
- ``rater``: the resident (the web layer checks the rating token) or a center on site;
- ``keeper``: the holder or the center responsible for the case (a note, 记录: the worker on
  site or the center adds what they saw, with photos).

And in every case the actor's scope must cover the case (accounts.actor.Actor.covers: its
town, its grid, its department).

**Clocks** (cases/clocks.py): dispatch starts ``accept`` and ``handle``; accept meets
``accept``; feed_back meets ``handle`` and starts ``check``; close meets ``check``; escalate and
return meet the holder's clocks and start the center's ``dispatch`` clock, which the next
dispatch meets; park suspends every running clock and resume restarts them; an approved
extension moves ``handle``; reopen starts a new ``dispatch`` clock; void, merge and close meet
every clock.

**Versions.** Every action moves the case's version by exactly one, a note and a supervision
too: a phone that queued several actions offline knows the version each one decides on (the
first's plus one per action before it). Its queued actions carry an Idempotency-Key, kept on
the event (cases/transition_keys.py), so one sent twice is applied once.

``advance`` applies an action to a case's state (pure: transitions.py checks and writes,
demo/cases.py generates histories with it); ``rebuild`` folds a case's events back into its
state; ``diagram`` draws the machine from this data (README "Workflow").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from cases.models import CLOSED_STATES, STATES

LEVELS = ("grid", "village", "town", "department")
RANK = {"grid": 0, "village": 1, "department": 1, "town": 2}
UP = {"grid": "village", "village": "town"}
ROLE_LEVEL = {
    "grid_worker": "grid", "auxiliary": "grid",
    "village_operator": "village", "grid_leader": "village",
    "town_operator": "town", "town_leader": "town",
    "department_handler": "department",
}
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)
VOID_REASONS = ("duplicate", "invalid")
RATINGS = {"非常满意": "very_satisfied", "满意": "satisfied", "基本满意": "basically_satisfied",
           "不满意": "dissatisfied"}
REOPEN_DAYS = 7
MAX_NOTE = 2000
MAX_EXTENSION_DAYS = 30
ALL_CLOCKS = ("dispatch", "accept", "handle", "check")

CENTER = ("town_operator", "village_operator", "grid_leader")
HOLDER = ("grid_worker", "grid_leader", "village_operator", "department_handler")
ABOVE = ("town_operator", "town_leader", "village_operator", "grid_leader")
NOTE_TAKERS = HOLDER + ("town_operator",)


@dataclass(frozen=True)
class Action:
    """One action of the machine. ``target`` is the state it leads to (None: the state stays);
    ``to`` names what the caller's ``to`` must carry (None: nothing); ``meets``/``starts``
    the clocks it ends and begins; ``clock_effect`` ``suspend``, ``resume`` or ``extend``."""

    name: str
    zh: str
    sources: tuple[str, ...]
    target: str | None
    roles: tuple[str, ...]
    by: str
    needs_reason: bool = False
    to: str | None = None
    meets: tuple[str, ...] = ()
    starts: tuple[str, ...] = ()
    clock_effect: str | None = None
    summary: str = ""


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("file", "立案", ("collected",), "filed", CENTER, "center",
           summary="the center verified the report and files it"),
    Action("void", "作废", ("collected", "filed", "returned"), "voided", CENTER, "center",
           to="void_reason", meets=ALL_CLOCKS, summary="duplicate or invalid (to: the reason)"),
    Action("merge", "合并", ("collected", "filed", "returned"), "voided", CENTER, "center",
           to="original_case", meets=ALL_CLOCKS,
           summary="a duplicate voided into an open original (to: its id)"),
    Action("dispatch", "派遣", ("filed", "escalated", "returned"), "dispatched", CENTER, "center",
           to="assignee", meets=("dispatch",), starts=("accept", "handle"),
           summary="to a person, or from the town to a department (to: person_id or department)"),
    Action("accept", "受理", ("dispatched",), "handling", HOLDER, "holder", meets=("accept",)),
    Action("escalate", "上报",
           ("collected", "filed", "dispatched", "handling", "escalated", "returned"), "escalated",
           HOLDER, "up", meets=("dispatch", "accept", "handle"),
           starts=("dispatch",),
           summary="from the grid to the village center, from the village to the town center"),
    Action("return", "回退", ("dispatched", "handling"), "returned", HOLDER, "holder",
           needs_reason=True, meets=("dispatch", "accept", "handle"), starts=("dispatch",),
           summary="wrongly dispatched: back to the center that sent it"),
    Action("feed_back", "反馈", ("handling",), "fed_back", HOLDER, "holder",
           meets=("handle",), starts=("check",)),
    Action("close", "结案", ("fed_back",), "closed", CENTER, "sender", meets=ALL_CLOCKS,
           summary="after the on-site check, by the center that dispatched it"),
    Action("evaluate", "评价", ("closed",), "evaluated", ("resident",) + CENTER, "rater",
           to="rating", summary="非常满意 / 满意 / 基本满意 / 不满意 (to: the rating)"),
    Action("reopen", "重办", ("evaluated",), "filed", ("resident",) + CENTER, "closer",
           starts=("dispatch",),
           summary=f"within {REOPEN_DAYS} days of a 不满意 rating, to the center that closed it"),
    Action("request_extension", "申请延期", ("dispatched", "handling"), None, HOLDER, "holder",
           needs_reason=True, to="extension_days",
           summary="asks the level above for more working days (to: how many)"),
    Action("approve_extension", "批准延期", ("dispatched", "handling"), None, ABOVE, "above",
           clock_effect="extend", summary="the handling clock moves by the days asked"),
    Action("refuse_extension", "驳回延期", ("dispatched", "handling"), None, ABOVE, "above",
           needs_reason=True),
    Action("park", "挂账", ("filed", "dispatched", "handling", "escalated", "returned"), "parked",
           CENTER, "center", needs_reason=True, to="resume_date", clock_effect="suspend",
           summary="seasonal or engineering work (to: the resume date); clocks suspended"),
    Action("resume", "恢复", ("parked",), None, CENTER, "center", clock_effect="resume",
           summary="back to the state it was parked in; clocks restart"),
    Action("supervise", "督办", OPEN_STATES, None, ABOVE, "above", needs_reason=True,
           summary="a note to the holder from above; no change of state"),
    Action("note", "记录", OPEN_STATES, None, NOTE_TAKERS, "keeper",
           summary="the holder or the center adds a note and/or photos (one of them at least); "
                   "no change of state"),
)}


@dataclass(frozen=True)
class CaseState:
    """The workflow's view of a case: the columns a transition reads and writes."""

    status: str
    queue: str | None
    assignee_id: int | None = None
    department_code: str | None = None
    sender_level: str | None = None
    closed_level: str | None = None
    closed_by: int | None = None
    closed_at: datetime | None = None
    parked_from: str | None = None
    resume_on: date | None = None
    extension_days: int | None = None
    satisfaction: str | None = None
    evaluated_at: datetime | None = None
    merged_into: int | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> CaseState:
        """From a case row (a mapping with at least the fields above)."""
        return cls(**{f: row.get(f) for f in cls.__dataclass_fields__})

    def center_level(self) -> str:
        """The center responsible for the case: the town for a case at the town or a
        department, else the village center."""
        return "town" if self.queue in ("town", "department") else "village"

    def sender(self) -> str:
        """The center that dispatched the case to its holder (intake's own dispatches come
        from the village center)."""
        return self.sender_level or ("town" if self.queue == "department" else "village")


def actor_level(role: str) -> str | None:
    """The level a role acts at (None: a resident)."""
    return ROLE_LEVEL.get(role)


def target_state(action: Action, state: CaseState) -> str:
    """The state ``action`` leads to from ``state``."""
    if action.name == "resume":
        return state.parked_from or "filed"
    return action.target or state.status


def level_allows(action: Action, state: CaseState, role: str) -> str | None:
    """None when a ``role`` may take ``action`` on a case in ``state`` by its level; else
    the reason why not (one sentence)."""
    level = actor_level(role)
    by = action.by
    if role == "resident":
        return None if by in ("rater", "closer") else "a resident may only rate or reopen"
    if by == "holder":
        holder = state.queue
        if level == holder or (role == "grid_leader" and holder == "grid"):
            return None
        return f"the case is held at the {holder} level, not the {level} level"
    if by == "center":
        center = state.center_level()
        return None if level in (center, "town") else f"the case is the {center} center's"
    if by == "keeper":
        holder, center = state.queue, state.center_level()
        if level in (holder, center, "town") or (role == "grid_leader" and holder == "grid"):
            return None
        return f"the case is held at the {holder} level and is the {center} center's"
    if by == "sender":
        sender = state.sender()
        return None if level == sender else f"the {sender} center dispatched the case and closes it"
    if by == "closer":
        closer = state.closed_level or "village"
        return None if level == closer else f"the {closer} center closed the case"
    if by == "rater":
        return None if level in ("village", "town") else "the resident or a center rates"
    if by == "above":
        if role == "town_leader":  # leads the town center itself: above every holder
            return None
        if level is None or RANK[level] <= RANK.get(state.queue or "village", 1):
            return f"only a level above the {state.queue} level may"
        return None
    if by == "up":
        if state.status in ("dispatched", "handling"):  # the holder sends it up
            if state.queue not in UP:
                return f"a case held at the {state.queue} level cannot be escalated"
            if level == state.queue or (role == "grid_leader" and state.queue == "grid"):
                return None
            return f"the case is held at the {state.queue} level"
        if state.center_level() != "village":  # a center holds it: only the village sends it up
            return "the town center is the top of the town: it dispatches instead"
        return None if level == "village" else "the village center sends its cases up"
    raise AssertionError(f"unknown `by` {by!r} of action {action.name!r}")


def advance(state: CaseState, action: Action, *, role: str, account_id: int | None,
            target: Any, at: datetime) -> CaseState:
    """The case's state after ``action`` (already checked), taken by ``role`` at ``at``.
    ``target`` is the checked ``to``: a (person_id, department_code) pair for dispatch, the
    reason for void, the original's id for merge, the rating, the resume date, the days."""
    new = replace(state, status=target_state(action, state))
    name = action.name
    if name == "dispatch":
        person_id, department = target
        new = replace(new, queue="department" if department else "grid", assignee_id=person_id,
                      department_code=department, sender_level=actor_level(role))
    elif name == "escalate":  # a pending extension goes with the holder who asked for it
        up = UP[state.queue] if state.status in ("dispatched", "handling") else "town"
        new = replace(new, queue=up, assignee_id=None, department_code=None, sender_level=None,
                      extension_days=None)
    elif name == "return":
        new = replace(new, queue=state.sender(), assignee_id=None, department_code=None,
                      sender_level=None, extension_days=None)
    elif name == "feed_back":
        new = replace(new, extension_days=None)
    elif name in ("void", "merge"):
        new = replace(new, closed_at=at, merged_into=target if name == "merge" else None)
    elif name == "close":
        new = replace(new, closed_level=state.sender(), closed_by=account_id, closed_at=at)
    elif name == "evaluate":
        new = replace(new, satisfaction=target, evaluated_at=at)
    elif name == "reopen":
        new = replace(new, queue=state.closed_level or "village", assignee_id=None,
                      department_code=None, sender_level=None, closed_at=None)
    elif name == "park":
        new = replace(new, parked_from=state.status, resume_on=target)
    elif name == "resume":
        new = replace(new, parked_from=None, resume_on=None)
    elif name == "request_extension":
        new = replace(new, extension_days=target)
    elif name in ("approve_extension", "refuse_extension"):
        new = replace(new, extension_days=None)
    return new


def rebuild(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A case's status, holder and version from its events alone, oldest first.

    An event that records the holder (``queue`` set: creation, import, every transition, a
    reassignment, a merge into the case) is a change of the case and counts one version, so
    the version is the number of those (1 at creation); the status is the last ``to_status``
    and the holder (queue, assignee, department) the last one recorded. An event that leaves
    the case as it was (``queue`` NULL: a deadline signal or card of the supervision pass) does
    not move the version, so it never makes an operator's If-Match stale. Every action, a
    ``note`` included, records the holder and counts.
    """
    out: dict[str, Any] = {"status": None, "queue": None, "assignee_id": None,
                           "department_code": None, "version": 0}
    for event in events:
        if event["to_status"] is not None:
            out["status"] = event["to_status"]
        if event["queue"] is not None:
            out["version"] += 1
            out.update(queue=event["queue"], assignee_id=event["assignee_id"],
                       department_code=event["department_code"])
    return out


def diagram() -> str:
    """The machine as a Mermaid ``stateDiagram-v2``, drawn from ``ACTIONS``: one arrow per
    (from, to) pair, labelled with the actions that take it; actions that keep the state are
    listed as a note."""
    arrows: dict[tuple[str, str], list[str]] = {}
    for action in ACTIONS.values():
        if action.target is None and action.name != "resume":
            continue
        for source in action.sources:
            if action.name == "resume":
                for back in ACTIONS["park"].sources:
                    arrows.setdefault((source, back), []).append(action.name)
                continue
            arrows.setdefault((source, action.target), []).append(action.name)
    lines = ["stateDiagram-v2", "    [*] --> collected: created (in a center's queue)",
             "    [*] --> dispatched: created (routed to a grid worker)"]
    for (source, target), names in arrows.items():
        lines.append(f"    {source} --> {target}: {', '.join(names)}")
    for state in ("closed", "evaluated", "voided"):
        lines.append(f"    {state} --> [*]")
    staying = [a.name for a in ACTIONS.values() if a.target is None and a.name != "resume"]
    lines.append(f"    note right of handling: also {', '.join(staying)} (no change of state)")
    return "\n".join(lines) + "\n"


def readme_block() -> str:
    """README's Workflow block: the diagram and a table of the actions, from ``ACTIONS``
    (scripts/workflow_readme.py pastes it; tests/test_workflow.py checks it is current)."""
    lines = ["```mermaid", diagram().rstrip("\n"), "```", "",
             "| action | | from | to | who (roles) | whose | needs |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for a in ACTIONS.values():
        needs = ", ".join((["reason"] if a.needs_reason else [])
                          + ([f"to: {a.to}"] if a.to else []))
        target = a.target or ("the state it was parked in" if a.name == "resume" else "(stays)")
        sources = "every open state" if a.sources == OPEN_STATES else ", ".join(a.sources)
        lines.append(f"| `{a.name}` | {a.zh} | {sources} | {target} | {', '.join(a.roles)} "
                     f"| {a.by} | {needs or '—'} |")
    return "\n".join(lines) + "\n"
