"""Historical demo cases: spread over the past year, with a realistic mix of categories,
channels and statuses and spatial clustering (around homes, enterprises, hazards and a few
hotspots), generated in chunks so a million cases fit in memory and time.

Deadlines here are approximate (a working day taken as 1.4 calendar days); the business
calendar of the intake issue computes the real ones for new cases.

Each case's history is made by the state machine (cases/workflow.py): from its first
(``imported``) event, the actions of ``PATHS`` lead to its status, each checked against the
machine's data and applied with ``workflow.advance``, each one event; the case's row is the
state they lead to, so the state rebuilds from the events alone (tests/test_workflow.py). An
open case's running clocks are the ones its events leave (``open_clocks``, cases/clocks.py over
the calendar), so the supervision pass has work on the demo; closed cases keep no clock rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import json

import numpy as np
import shapely

from cases import clocks as clock_rules
from cases.deadlines import BusinessCalendar
from cases.workflow import ACTIONS, CLOSED_STATES, CaseState, advance

CHANNELS = ("patrol", "resident", "hotline", "app", "sensor", "referral")
CHANNEL_P = (0.45, 0.2, 0.15, 0.12, 0.03, 0.05)
SATISFACTION = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied")
SATISFACTION_P = (0.6, 0.28, 0.09, 0.03)
# status mix by the age of the case: fresh cases are still moving, old ones closed
STATUS_BY_AGE = (
    (3, {"collected": 0.1, "filed": 0.1, "dispatched": 0.3, "handling": 0.32, "escalated": 0.05, "fed_back": 0.13}),
    (30, {"dispatched": 0.05, "handling": 0.14, "escalated": 0.04, "fed_back": 0.15, "closed": 0.3,
          "evaluated": 0.28, "parked": 0.01, "returned": 0.01, "voided": 0.02}),
    (10_000, {"handling": 0.01, "parked": 0.01, "closed": 0.2, "evaluated": 0.74, "voided": 0.04}),
)
HOURS_PER_UNIT = {"urgent_hours": 1.0, "working_hours": 3.0, "working_days": 24 * 1.4, "calendar_days": 24.0}


@dataclass
class CaseSources:
    """Where cases happen, all in lon/lat: home points, enterprise points, hazard points,
    the leaf grids (for the routing) and their admin grid codes and workers."""

    homes: np.ndarray
    home_text: list[str]
    enterprises: np.ndarray
    hazards: np.ndarray
    leaf_geoms: list
    leaf_codes: list[str]
    leaf_admin: list[str]
    leaf_names: list[str]
    workers: dict[str, list[int]]
    # leaf categories: code, parent_code, checklist, name_zh, limit_value, limit_unit, weight
    categories: list[dict]
    calendar: BusinessCalendar | None = None  # for the open cases' clocks; None: no clocks


def generate(sources: CaseSources, n: int, seed: int, now: datetime, chunk: int = 100_000) -> Iterator[list[tuple]]:
    """Yield chunks of cases until ``n`` are made: each a (row in ``COLUMNS`` order, its events
    in ``EVENT_COLUMNS`` order, its running clocks) triple."""
    rng = np.random.default_rng(seed + 2000)
    tree = shapely.STRtree(sources.leaf_geoms)
    cats = sources.categories
    cat_w = np.array([c["weight"] for c in cats], float)
    cat_p = cat_w / cat_w.sum()
    service_cat = np.array([c["checklist"] == "service" for c in cats])
    # a handful of hotspots: around the town centre's market, the park, a few villages
    hot_centres = sources.homes[rng.choice(len(sources.homes), 6, replace=False)]
    hot_centres = np.vstack([hot_centres, sources.enterprises[rng.choice(len(sources.enterprises), 3, replace=False)]])
    hot_sigma = rng.uniform(0.0015, 0.004, len(hot_centres))  # degrees, ~150-400 m
    made = 0
    while made < n:
        m = min(chunk, n - made)
        cat_idx = rng.choice(len(cats), m, p=cat_p)
        lonlat = np.empty((m, 2))
        text_idx = np.full(m, -1)
        is_service = service_cat[cat_idx]
        src = rng.random(m)
        # service-checklist matters happen at homes; regional ones at enterprises, hazards,
        # hotspots or anywhere
        home = is_service | (src < 0.15)
        ent = ~home & (src < 0.5)
        haz = ~home & ~ent & (src < 0.62)
        hot = ~home & ~ent & ~haz & (src < 0.85)
        anywhere = ~(home | ent | haz | hot)
        hi = rng.integers(0, len(sources.homes), m)
        lonlat[home] = sources.homes[hi[home]] + rng.normal(0, 0.00025, (int(home.sum()), 2))
        text_idx[home] = hi[home]
        lonlat[ent] = sources.enterprises[rng.integers(0, len(sources.enterprises), int(ent.sum()))] + rng.normal(0, 0.0006, (int(ent.sum()), 2))
        lonlat[haz] = sources.hazards[rng.integers(0, len(sources.hazards), int(haz.sum()))] + rng.normal(0, 0.0008, (int(haz.sum()), 2))
        hc = rng.integers(0, len(hot_centres), int(hot.sum()))
        lonlat[hot] = hot_centres[hc] + rng.normal(0, 1, (int(hot.sum()), 2)) * hot_sigma[hc, None]
        # "anywhere": a home point moved far, so it stays in the town's populated spread
        lonlat[anywhere] = sources.homes[rng.integers(0, len(sources.homes), int(anywhere.sum()))] + rng.normal(0, 0.01, (int(anywhere.sum()), 2))
        leaf = _locate(tree, lonlat)
        outside = leaf < 0
        while outside.any():  # jitter left the town: fall back to a home point
            k = int(outside.sum())
            hi2 = rng.integers(0, len(sources.homes), k)
            lonlat[outside] = sources.homes[hi2] + rng.normal(0, 0.0001, (k, 2))
            text_idx[outside] = hi2
            leaf[outside] = _locate(tree, lonlat[outside])
            outside = leaf < 0
        age_days = rng.uniform(0, 365, m) ** 1.0
        hour = rng.choice(24, m, p=_hour_profile())
        created = [now - timedelta(days=float(a)) for a in age_days]
        created = [c.replace(hour=int(h), minute=int(mi)) for c, h, mi in zip(created, hour, rng.integers(0, 60, m))]
        created = [min(c, now) for c in created]
        channel = rng.choice(len(CHANNELS), m, p=CHANNEL_P)
        rows = []
        u = rng.random(m)
        durations_h = rng.lognormal(np.log(30), 1.0, m)
        sat = rng.choice(len(SATISFACTION), m, p=SATISFACTION_P)
        for i in range(m):
            cat = cats[cat_idx[i]]
            age = (now - created[i]).total_seconds() / 86400
            status = _status(age, u[i])
            li = int(leaf[i])
            grid = sources.leaf_codes[li]
            due = created[i] + timedelta(hours=cat["limit_value"] * HOURS_PER_UNIT[cat["limit_unit"]])
            closed_at = None
            if status in ("closed", "evaluated", "voided"):
                closed_at = min(now, created[i] + timedelta(hours=float(durations_h[i])))
            place = sources.home_text[text_idx[i]] if text_idx[i] >= 0 else sources.leaf_names[li]
            workers = sources.workers.get(grid) or [None]
            end = closed_at or min(now, created[i] + timedelta(hours=float(durations_h[i])))
            state, events = history(status, created[i], end, workers[i % len(workers)],
                                    SATISFACTION[sat[i]], i)
            running = []
            if sources.calendar is not None and state.status not in CLOSED_STATES:
                running = open_clocks(events, cat, sources.calendar)
            rows.append(((
                cat["code"], f"{place}附近：{cat['name_zh']}", state.status, CHANNELS[channel[i]], place,
                grid, sources.leaf_admin[li], state.assignee_id, created[i], created[i],
                events[-1][0], due, state.closed_at, state.satisfaction,
                f"SRID=4326;POINT({lonlat[i, 0]:.7f} {lonlat[i, 1]:.7f})", state.queue,
                state.department_code, state.sender_level, state.closed_level, state.parked_from,
                state.resume_on, state.evaluated_at, len(events),
            ), events, running))
        made += m
        yield rows


COLUMNS = (
    "category_code", "description", "status", "channel", "address", "grid_code", "admin_code",
    "assignee_id", "occurred_at", "created_at", "updated_at", "due_at", "closed_at", "satisfaction", "geom",
    "queue", "department_code", "sender_level", "closed_level", "parked_from", "resume_on",
    "evaluated_at", "version",
)
# an event row: these columns of case_events, after case_id and town_code
EVENT_COLUMNS = ("at", "type", "from_status", "to_status", "actor", "data", "role", "note",
                 "queue", "assignee_id", "department_code")

# The actions that lead from a new case to each status (cases/workflow.py checks each step).
# A case in a center's queue starts ``collected``; the others were dispatched by intake.
PATHS = {
    "collected": (), "filed": ("file",), "dispatched": (), "handling": ("accept",),
    "escalated": ("accept", "escalate"), "fed_back": ("accept", "feed_back"),
    "closed": ("accept", "feed_back", "close"),
    "evaluated": ("accept", "feed_back", "close", "evaluate"),
    "returned": ("return",), "parked": ("accept", "park"), "voided": ("return", "void"),
}
ROLE = {"accept": "grid_worker", "escalate": "grid_worker", "feed_back": "grid_worker",
        "return": "grid_worker", "file": "village_operator", "void": "village_operator",
        "close": "village_operator", "park": "village_operator", "evaluate": "resident"}
NOTES = {"return": "不属于本网格，退回村中心", "park": "需工程施工，挂账待办",
         "escalate": "网格内无法解决，上报村中心", "feed_back": "已处理完毕"}


def open_clocks(events: list[tuple], category: dict,
                cal: BusinessCalendar) -> list[clock_rules.Clock]:
    """The clocks still running after ``events`` (an open case's), as the transitions would
    have left them (cases/transitions.py): intake's first clocks, then each action's meets,
    starts and suspensions. Met clocks are not kept: nothing reads them in a demo."""
    first_at, first_status = events[0][0], events[0][3]
    running = {c: clock_rules.started(c, first_at, category, cal)
               for c in (("accept", "handle") if first_status == "dispatched" else ("dispatch",))}
    for at, name, *_ in events[1:]:
        action = ACTIONS[name]
        for c in action.meets:
            running.pop(c, None)
        for c in action.starts:
            running[c] = clock_rules.started(c, at, category, cal)
        if action.clock_effect == "suspend":
            running = {c: clock_rules.suspended(k, at, cal) for c, k in running.items()}
    return list(running.values())


def history(status: str, created: datetime, end: datetime, worker: int | None,
            satisfaction: str, i: int) -> tuple[CaseState, list[tuple]]:
    """The case's state and events (``EVENT_COLUMNS`` tuples): created, then the ``PATHS``
    actions of its status through the machine, spread evenly from ``created`` to ``end``."""
    path = PATHS[status]
    if worker is None or status in ("collected", "filed"):  # waits in the village center's queue
        state = CaseState("collected", "village")
        path = ("file",) if status == "filed" else ()
    else:
        state = CaseState("dispatched", "grid", assignee_id=worker)
    actor = f"person:{worker}" if worker else "demo"
    # "imported", as for a town's historical cases (cases/history.py): "created" is intake's,
    # whose record of the routing a demo case does not have
    events = [(created, "imported", None, state.status, "demo", '{"demo": true}', None, None,
               state.queue, state.assignee_id, None)]
    span = end - created
    for k, name in enumerate(path, start=1):
        action = ACTIONS[name]
        if state.status not in action.sources:
            raise AssertionError(f"demo path {path} of {status}: {name} from {state.status}")
        at = created + span * k / len(path)
        target = {"void": "duplicate" if i % 3 == 0 else "invalid", "evaluate": satisfaction,
                  "park": (at + timedelta(days=30)).date()}.get(name)
        new = advance(state, action, role=ROLE[name], account_id=None, target=target, at=at)
        data = {"demo": True} if target is None else {"demo": True, "to": str(target)}
        events.append((at, name, state.status, new.status,
                       actor if ROLE[name] == "grid_worker" else f"demo:{ROLE[name]}",
                       json.dumps(data, ensure_ascii=False), ROLE[name], NOTES.get(name),
                       new.queue, new.assignee_id, new.department_code))
        state = new
    return state, events


def _locate(tree: shapely.STRtree, lonlat: np.ndarray) -> np.ndarray:
    """Index of the leaf grid containing each point, -1 outside (first hit wins)."""
    pts = shapely.points(lonlat)
    hits = tree.query(pts, predicate="within")
    out = np.full(len(lonlat), -1)
    out[hits[0][::-1]] = hits[1][::-1]
    return out


def _hour_profile() -> np.ndarray:
    p = np.array([1, 1, 1, 1, 1, 2, 4, 8, 12, 12, 11, 9, 6, 7, 10, 11, 10, 9, 7, 5, 4, 3, 2, 1], float)
    return p / p.sum()


def _status(age_days: float, u: float) -> str:
    for limit, mix in STATUS_BY_AGE:
        if age_days < limit:
            acc = 0.0
            for status, p in mix.items():
                acc += p
                if u < acc:
                    return status
            return status
    return "evaluated"
