"""Publishing a draft: the draft's grids become the town's boundaries, in one transaction.

``POST /api/v1/drafts/{id}/publish`` (and the background worker, for a time in the future):

1. The checks: the draft is open and at the revision the planner saw; its validation has no
   errors; the town's boundaries have not changed since the draft was made (publishing it
   would undo that change unseen). Each refusal is its own error; nothing is written.
2. The plan, by grid code: the draft's grids against the current rows of its scope — added,
   changed (outline or attributes), removed, unchanged — and the grids whose workers change.
3. The first pass, while cases keep coming in: every open case located by a point on land that
   changes (and every open case of a re-staffed grid) is located again on the new grids by the
   intake's rule (boundaries/locate.sql: the leaf grid covering it, a shared edge to the
   smallest code; no leaf grid: the village grid), and, when its grid or holder changes,
   updated with a ``rerouted`` event naming both versions. Households, addresses, enterprises
   and unresolved hazards on that land take their new grid. Closed cases keep theirs: history
   is not rewritten.
4. The switch, with cases locked (SHARE ROW EXCLUSIVE: reads go on, inserts wait): the cases
   whose intake committed during the first pass were re-routed by catch-up passes before the
   lock; the few of the last moments are re-routed the same way under it; then, at one
   moment read from the clock, the old rows close and the new rows open (the exclusion
   constraint of migration 0021 checks that no code has two), the version is numbered at that
   moment, the grids' posts follow the draft (grid_assignments), and one notice tells every
   server to drop its cached tiles of the changed box (web/live.py). grid_parts, the routing
   index, follows by its triggers (migration 0002). The lock lasts as long as the stragglers
   and the row switch: a publish does not hold the intake for the length of its first pass.

A case arriving during a publish is routed to exactly one grid consistent with its time: an
intake that inserted before the lock committed before the switch and is re-routed in step 4;
one that inserts after waits for the commit and then finds the version it routed on replaced
(the function insert_case, migration 0070), so it routes again on the new one (cases/intake.py).

Reassignment follows the intake (cases/assignment.py), with one rule first: a case whose
assignee is a grid worker on duty of its new grid stays with them (moving a case between two
people who both may hold it helps nobody). Otherwise: the new grid's worker on duty with the
fewest open cases (counted as the publish assigns, so a grid's cases are spread as the intake
would have spread them one by one), then the village's grid leader, else nobody. Only cases
held at the grid level change holder; a case escalated to the village, the town or a department
keeps its holder and only learns its new grid. A case still waiting to be dispatched
(``collected``) stays unassigned: dispatching is the center's act.

A failure anywhere (the connection or the database lost mid-way) rolls the one transaction
back: the old version stays in force and the draft stays open, as it was.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from cases.deadlines import LOCAL_TZ
from db.statements import Statements
from planning.drafts import check_revision, lock_open_draft
from planning.errors import DraftInvalid, DraftOutdated, InvalidEffectiveTime
from planning.validation import draft_validation

log = logging.getLogger(__name__)

# an effective time this far in the past is taken as "now" (a clock a little behind, a form
# filled in a minute ago); farther, it is refused: cases received since were routed on the
# old boundaries, and the new version cannot begin before its own publish
PAST_TOLERANCE = timedelta(minutes=5)
SPATIAL = ("point", "door", "street")
CLOSED = ("closed", "evaluated", "voided")
# how many moved cases the answer lists (the events hold every one)
LISTED = 200
# catch-up passes before the lock on cases, until a pass finds no more than CAUGHT_UP
CATCH_UP_PASSES = 3
CAUGHT_UP = 20
# cases located, decided and sent to be written at a time (``_Context.reroute_rows``)
CHUNK = 5000

PLAN = ("plan_after", "plan_after_index", "plan_parts", "plan_parts_index", "plan_area",
        "plan_area_index", "plan_examined", "analyze_after", "analyze_parts", "analyze_area")


_SQL = Statements("planning", "publish.sql")
_run = _SQL.run


@dataclass
class Moves:
    """What the re-routing of one pass did."""

    rerouted: int = 0
    reassigned: int = 0
    listed: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Moves) -> None:
        self.rerouted += other.rerouted
        self.reassigned += other.reassigned
        self.listed = (self.listed + other.listed)[:LISTED]


def publish_draft(session: Session, draft_id: int, revision: int, actor: str,
                  effective_at: datetime | None = None,
                  now: datetime | None = None) -> dict[str, Any]:
    """Publish the draft now, or schedule it for ``effective_at`` when that is later (the
    worker applies it then: ``apply_due``). The caller commits."""
    draft = lock_open_draft(session, draft_id)
    check_revision(session, draft, revision)
    now = now or datetime.now(LOCAL_TZ)
    if effective_at is not None:
        if effective_at.tzinfo is None:
            raise InvalidEffectiveTime(
                f"effective_at {effective_at.isoformat()} has no time zone: give one, e.g. "
                "2026-12-01T00:00:00+08:00", {"field": "effective_at"})
        if effective_at < now - PAST_TOLERANCE:
            raise InvalidEffectiveTime(
                f"effective_at {effective_at.isoformat()} is in the past: cases received since "
                "were routed on the boundaries in force; publish now or at a later time",
                {"field": "effective_at", "now": now.isoformat()})
    _check_publishable(session, draft)
    if effective_at is not None and effective_at > now:
        _run(session, "schedule", {"id": draft_id, "effective_at": effective_at, "actor": actor})
        return {"draft": draft_id, "state": "scheduled",
                "effective_at": effective_at.astimezone(LOCAL_TZ).isoformat()}
    return _apply(session, draft, actor, effective_at)


def apply_due(database_url: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Apply every scheduled draft whose time has come, each in its own transaction; one that
    can no longer be published (its boundaries changed since, its validation fails) goes back
    to ``open`` with the reason in ``publish_error``. Returns what each did."""
    from db.session import session_scope

    now = now or datetime.now(LOCAL_TZ)
    with session_scope(database_url) as session:
        due = [r[0] for r in _run(session, "due", {"now": now})]
    done = []
    for draft_id in due:
        with session_scope(database_url) as session:
            row = session.execute(text(
                "SELECT id, town_code, scope_code, scope_kind, state, revision, base_version, "
                "effective_at, published_by FROM drafts WHERE id = :id FOR UPDATE"),
                {"id": draft_id}).mappings().first()
            if row is None or row["state"] != "scheduled":
                continue  # applied or cancelled by another worker meanwhile
            draft = dict(row)
            try:
                session.execute(text("SAVEPOINT publish"))
                _check_publishable(session, draft)
                result = _apply(session, draft, draft["published_by"] or "scheduled",
                                draft["effective_at"])
                session.execute(text("RELEASE SAVEPOINT publish"))
            except (DraftOutdated, DraftInvalid) as refused:
                session.execute(text("ROLLBACK TO SAVEPOINT publish"))
                _run(session, "unschedule", {"id": draft_id, "error": refused.message})
                log.warning("scheduled draft %s not published: %s", draft_id, refused.message)
                result = {"draft": draft_id, "state": "open", "error": refused.message}
            done.append(result)
    return done


def _check_publishable(session: Session, draft: dict[str, Any]) -> None:
    _check_current(session, draft)
    report = draft_validation(session, draft["id"])
    if not report["ok"]:
        errors = report["errors"]
        raise DraftInvalid(
            f"draft {draft['id']} has {len(errors)} validation error(s), the first: "
            f"{errors[0]['message']}; fix them (GET /api/v1/drafts/{draft['id']}/validation)",
            {"errors": errors, "warnings": report["warnings"]})


def _check_current(session: Session, draft: dict[str, Any]) -> int | None:
    """The town's latest version; DraftOutdated when it is newer than the one the draft was
    made on (publishing the draft would undo that change unseen)."""
    latest = _run(session, "latest_version", {"town": draft["town_code"]}).scalar()
    base = draft.get("base_version")
    if base is not None and latest is not None and latest > base:
        raise DraftOutdated(
            f"draft {draft['id']} was made on version {base} of the town's boundaries and "
            f"version {latest} has been published since: publishing it would undo that change; "
            "start a new draft from the current boundaries",
            {"draft": draft["id"], "base_version": base, "latest_version": latest})
    return latest


def _apply(session: Session, draft: dict[str, Any], actor: str,
           asked_at: datetime | None) -> dict[str, Any]:
    """Steps 2 to 4 of the module's docstring, in the caller's transaction."""
    town, draft_id = draft["town_code"], draft["id"]
    clock = _Stopwatch()
    _run(session, "town_lock", {"town": town})
    # checked again under the town's lock: another publish may have committed meanwhile
    latest = _check_current(session, draft)
    village = draft["scope_code"] if draft["scope_kind"] == "village" else None
    _run(session, "plan_grids", {"id": draft_id, "town": town, "village": village})
    for name in PLAN:
        _run(session, name, {"town": town})
    plan = [dict(r) for r in session.execute(text(
        "SELECT code, level, parent_code, action, worker_ids, old_version, new_version "
        "FROM publish_grids")).mappings()]
    changing = [p for p in plan if p["action"] != "unchanged"]
    staffed = _restaffed(session, plan)
    clock.lap("plan")
    # one notice for the whole publish instead of one per case (migration 0017's trigger)
    session.execute(text("SET LOCAL gridgov.bulk = 'on'"))
    number = None
    if changing:
        number = _run(session, "reserve_version", {
            "town": town, "note": f"draft {draft_id} published by {actor}"}).scalar_one()
    context = _Context(session, draft_id, actor, latest, number)

    # step 3: the first pass, while the intake goes on
    moves = context.reroute_rows(context.examine_area(sorted(staffed)), clock)
    relocated = dict(_run(session, "relocate_things", {"town": town}).mappings().one())
    clock.lap("relocate")
    codes = {p["code"] for p in changing} | staffed
    codes |= {p["parent_code"] for p in changing if p["parent_code"]}
    if village:
        codes.add(village)
    # catching up, still beside the intake: the reports that committed during the first pass
    # (as many as it lasted seconds times the intake's rate), then those of the catch-up
    # itself, until few are left for the lock to wait on
    for _ in range(CATCH_UP_PASSES):
        found = [r[0] for r in _run(session, "examine_stragglers", {"codes": sorted(codes)})]
        moves.add(context.reroute(found))
        if len(found) <= CAUGHT_UP:
            break
    clock.lap("catch_up")

    # step 4: the switch
    _run(session, "lock_cases")
    clock.lap("lock_wait")
    moves.add(context.reroute(
        [r[0] for r in _run(session, "examine_stragglers", {"codes": sorted(codes)})]))
    clock.lap("stragglers")
    if number is not None:
        at = _run(session, "switch", {"number": number}).scalar_one()
        _run(session, "close_rows", {"at": at})
        _run(session, "open_rows", {"at": at, "town": town})
    else:
        at = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    posts_ended = _run(session, "end_posts").scalar_one()
    posts_started = _run(session, "start_posts").rowcount
    _run(session, "mark_published", {
        "id": draft_id, "number": number, "at": at, "actor": actor,
        "rerouted": moves.rerouted, "effective_at": asked_at or at})
    box = _run(session, "bbox").one()
    if box[0] is not None:
        _run(session, "notify", {"town": town, "number": number, "minlon": box[0],
                                 "minlat": box[1], "maxlon": box[2], "maxlat": box[3]})
    clock.lap("switch")
    counts = {kind: sum(1 for p in plan if p["action"] == kind)
              for kind in ("added", "changed", "removed", "unchanged")}
    return {
        "draft": draft_id, "state": "published", "version": number, "previous_version": latest,
        "effective_at": at.astimezone(LOCAL_TZ).isoformat(),
        "asked_effective_at": asked_at.astimezone(LOCAL_TZ).isoformat() if asked_at else None,
        "grids": counts, "restaffed": sorted(staffed),
        "posts": {"ended": posts_ended, "started": posts_started},
        "rerouted": moves.rerouted, "reassigned": moves.reassigned,
        "relocated": relocated, "cases": moves.listed,
        # seconds per step, for the benchmark and the log: "locked" is how long reports
        # waited (the straggler pass and the switch), the rest ran beside the intake
        "timings": clock.laps,
    }


def _restaffed(session: Session, plan: list[dict[str, Any]]) -> set[str]:
    """The leaf grids kept by the draft whose set of workers differs from today's."""
    kept = [p for p in plan if p["action"] != "removed" and p["level"] != "admin"]
    today = {r[0]: set(r[1]) for r in _run(session, "workers_today",
                                           {"codes": [p["code"] for p in kept]})}
    return {p["code"] for p in kept
            if p["action"] != "added" and set(p["worker_ids"] or ()) != today.get(p["code"], set())}


class _NewGrids:
    """The leaf and village grids as they will be, to locate the examined cases' points by the
    intake's rule (boundaries/locate.sql): the leaf grids covering the point, a shared edge to
    the smallest code, the point on its boundary flagged; no leaf grid: the village grid
    covering it. Done here with shapely, all points at once, rather than a lateral lookup per
    case in SQL: the same GEOS predicate on the same coordinates (WKB both ways), with each
    grid prepared once instead of once per case."""

    def __init__(self, rows: list[dict[str, Any]]):
        leaves = [r for r in rows if r["level"] != "admin"]
        admins = [r for r in rows if r["level"] == "admin"]
        self.leaves, self.admins = leaves, admins
        self.versions = {r["code"]: r["version"] for r in rows}
        self.leaf_geoms = shapely.from_wkb([bytes(r["wkb"]) for r in leaves])
        self.admin_geoms = shapely.from_wkb([bytes(r["wkb"]) for r in admins])
        # prepared once for every call of locate (a publish locates its cases in chunks)
        shapely.prepare(self.leaf_geoms)
        shapely.prepare(self.admin_geoms)

    def _covering(self, geoms, records, points) -> dict[int, int]:
        """For each point (by index), the index of the record with the smallest code among
        those whose geometry covers it. The grids query a tree of the points: STRtree prepares
        the query's geometries, and a prepared polygon tests thousands of points quickly (a
        tree of polygons queried by points would test each point against unprepared polygons,
        a hundred times slower here)."""
        found: dict[int, int] = {}
        if not len(points) or not len(geoms):
            return found
        grid, at = shapely.STRtree(points).query(geoms, predicate="covers")
        for i, g in zip(at.tolist(), grid.tolist(), strict=True):
            best = found.get(i)
            if best is None or records[g]["code"] < records[best]["code"]:
                found[i] = g
        return found

    def locate(self, rows: list[dict[str, Any]]) -> None:
        """Adds to each case row ``leaf_code``, ``leaf_parent``, ``leaf_version``, ``on_edge``,
        ``admin_after`` and ``admin_version``."""
        spatial = [r for r in rows if (r["geocode_precision"] or "point") in SPATIAL
                   and r["lon"] is not None]
        points = shapely.points([r["lon"] for r in spatial], [r["lat"] for r in spatial])
        leaf = self._covering(self.leaf_geoms, self.leaves, points)
        lone = [i for i in range(len(spatial)) if i not in leaf]
        admin = self._covering(self.admin_geoms, self.admins, points[lone])
        admin = {lone[k]: g for k, g in admin.items()}
        if leaf:
            at = list(leaf)
            edges = shapely.intersects(
                shapely.boundary(self.leaf_geoms[[leaf[i] for i in at]]), points[at])
            edge_of = dict(zip(at, edges.tolist(), strict=True))
        else:
            edge_of = {}
        for r in rows:
            r.update(leaf_code=None, leaf_parent=None, leaf_version=None, on_edge=False,
                     admin_after=None, admin_version=None)
        for i, r in enumerate(spatial):
            if i in leaf:
                hit = self.leaves[leaf[i]]
                r.update(leaf_code=hit["code"], leaf_parent=hit["parent_code"],
                         leaf_version=hit["version"], on_edge=edge_of[i])
                parent = hit["parent_code"]
                if parent in self.versions:
                    r.update(admin_after=parent, admin_version=self.versions[parent])
            elif i in admin:
                hit = self.admins[admin[i]]
                r.update(admin_after=hit["code"], admin_version=hit["version"])
        located = {r["id"] for r in spatial}
        for r in rows:
            if r["id"] not in located and r["admin_code"] in self.versions:
                r.update(admin_after=r["admin_code"], admin_version=self.versions[r["admin_code"]])


class _Stopwatch:
    """Seconds per named step, in order."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._t, 3)
        self._t = now


class _Context:
    """One publish's re-routing: the versions it names and the open-case counts it keeps as
    it assigns."""

    def __init__(self, session: Session, draft_id: int, actor: str, old: int | None,
                 new: int | None):
        self.session, self.draft_id, self.actor = session, draft_id, actor
        self.old, self.new = old, new
        self.counts: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self._grids: _NewGrids | None = None
        self._posts: dict[str, tuple[list[int], int | None]] | None = None

    def grids(self) -> _NewGrids:
        if self._grids is None:
            self._grids = _NewGrids([dict(r) for r in _run(self.session, "after_grids")
                                     .mappings()])
        return self._grids

    def posts(self) -> dict[str, tuple[list[int], int | None]]:
        """The workers on duty and the leader of every grid after the publish, read once (the
        first pass and each catch-up pass decide on the same)."""
        if self._posts is None:
            self._posts = {r["code"]: (list(r["workers"] or ()), r["leader"])
                           for r in _run(self.session, "posts_after",
                                         {"codes": sorted(self.grids().versions)}).mappings()}
        return self._posts

    def examine_area(self, staffed: list[str]) -> list[dict[str, Any]]:
        """The first pass's cases (publish.sql examine_area): the open cases located by a point
        on the land that changes (a point on a piece's edge is on it, as ST_Intersects has
        it) and those of the re-staffed grids, recorded as examined."""
        s = self.session
        rows = [dict(r) for r in _run(s, "examine_area", {"staffed": staffed}).mappings()]
        pieces = shapely.from_wkb([bytes(r[0]) for r in _run(s, "area_pieces")])
        placed = [i for i, r in enumerate(rows) if r["lon"] is not None]
        on_land: set[int] = set()
        if placed and len(pieces):
            points = shapely.points([rows[i]["lon"] for i in placed],
                                    [rows[i]["lat"] for i in placed])
            # the pieces query a tree of the points, as _NewGrids._covering does
            _, hit = shapely.STRtree(points).query(pieces, predicate="intersects")
            on_land = {placed[k] for k in hit.tolist()}
        wanted = set(staffed)
        rows = [r for i, r in enumerate(rows) if i in on_land or r["grid_code"] in wanted]
        _run(s, "record_examined", {"ids": [r["id"] for r in rows]})
        return rows

    def reroute(self, ids: list[int]) -> Moves:
        """``reroute_rows`` for the cases ``ids`` (those of a catch-up pass), still open."""
        if not ids:
            return Moves()
        return self.reroute_rows(
            [dict(r) for r in _run(self.session, "examined_cases", {"ids": ids}).mappings()])

    def reroute_rows(self, rows: list[dict[str, Any]], clock: _Stopwatch | None = None) -> Moves:
        """Locate the cases ``rows`` (examined_cases' columns) on the new grids, decide each
        one's grid and holder, and write those that change (``reroute``, one statement)."""
        moves = Moves()
        if not rows:
            return moves
        s = self.session
        if clock:
            clock.lap("examine")
        rows.sort(key=lambda r: r["id"])
        grids = self.grids()
        # what deciding reads, for every case at once, before the writes begin: the posts of
        # every grid after the publish, today's workers of the cases' grids, the open counts
        # and names of the people who may hold them
        posts = self.posts()
        before = {r[0]: set(r[1]) for r in _run(s, "workers_today", {"codes": sorted(
            {r["grid_code"] for r in rows if r["grid_code"]})})}
        people = {p for w, leader in posts.values() for p in (*w, leader) if p}
        people |= {r["assignee_id"] for r in rows if r["assignee_id"]}
        missing = sorted(people - set(self.counts))
        if missing:
            found = {r[0]: r[1] for r in _run(s, "open_counts", {"ids": missing})}
            self.counts.update({p: found.get(p, 0) for p in missing})
            self.names.update({r[0]: r[1] for r in _run(s, "people", {"ids": missing})})
        if clock:
            clock.lap("read")
        # Then chunk by chunk: locate, decide, and send the chunk's reroute without waiting
        # for it (psycopg's pipeline mode): PostgreSQL writes one chunk while this process
        # locates and decides the next, the two cores at work together instead of in turn.
        # The decisions are the same as in one pass (the counts carry from chunk to chunk).
        raw = s.connection().connection.driver_connection
        statement = str(text(_SQL["reroute"]).compile(dialect=s.get_bind().dialect))
        sent = []
        with raw.pipeline():
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start:start + CHUNK]
                grids.locate(chunk)
                out: list[dict[str, Any]] = []
                for r in chunk:
                    decided = self._decide(r, posts, before)
                    if decided is None:
                        continue
                    out.append(decided)
                    if decided["assignee_id"] != r["assignee_id"]:
                        moves.reassigned += 1
                    if len(moves.listed) < LISTED:
                        moves.listed.append({
                            "id": r["id"], "from_grid": r["grid_code"],
                            "to_grid": decided["grid_code"], "from_assignee": r["assignee_id"],
                            "to_assignee": decided["assignee_id"]})
                if out:
                    cursor = raw.cursor()
                    cursor.execute(statement, {"rows": json.dumps(out, ensure_ascii=False),
                                               "actor": f"publish:{self.actor}"})
                    sent.append(cursor)
            if clock:
                clock.lap("decide")
        # leaving the pipeline waited for the last chunk (an error in any raised there)
        moves.rerouted = sum(len(cursor.fetchall()) for cursor in sent)
        if clock:
            clock.lap("write")
        return moves

    def _decide(self, r: dict[str, Any], posts: dict[str, tuple[list[int], int | None]],
                before: dict[str, set[int]]) -> dict[str, Any] | None:
        """The case's grid and holder on the new grids; None when nothing changes."""
        # a case loaded from history has no geocode: its stored point located it
        spatial = (r["geocode_precision"] or "point") in SPATIAL
        if spatial and r["leaf_code"]:
            queue, code, admin, version = "grid", r["leaf_code"], r["leaf_parent"], r["leaf_version"]
            on_boundary = bool(r["on_edge"])
        elif r["admin_after"]:
            queue, code, admin, version = "village", r["admin_after"], r["admin_after"], r["admin_version"]
            on_boundary = bool(r["on_boundary"]) if not spatial else False
        else:  # on no grid any more: the town center's queue
            queue, code, admin, version, on_boundary = "town", None, None, None, False
        moved = code != r["grid_code"]
        held_at_grid = r["queue"] == "grid" and r["department_code"] is None
        assignee = r["assignee_id"]
        reason = None
        if held_at_grid and r["status"] != "collected":
            workers, _ = posts.get(code, ([], None)) if queue == "grid" else ([], None)
            leader = posts.get(admin, ([], None))[1] if admin else None
            was_worker = assignee in before.get(r["grid_code"], set())
            if assignee in workers:
                reason = None
            elif moved or was_worker:
                assignee, reason = self._choose(queue, code, workers, leader)
        if not held_at_grid:
            queue = r["queue"]  # escalated: the holder stays; the grid is news to it
        if not moved and assignee == r["assignee_id"]:
            return None
        if assignee != r["assignee_id"]:
            if r["assignee_id"] is not None:
                self.counts[r["assignee_id"]] = self.counts.get(r["assignee_id"], 1) - 1
            if assignee is not None:
                self.counts[assignee] = self.counts.get(assignee, 0) + 1
        where = (f"grid {code} v{version}" if code else "no grid (the town center's queue)")
        routing = (f"re-routed by boundary version {self.new} (draft {self.draft_id}): "
                   f"{'its point lies in' if spatial else 'its village is'} {where}"
                   if moved else None)
        data = {
            "boundary_version": {"from": self.old, "to": self.new},
            "grid": {"from": {"code": r["grid_code"], "version": r["grid_version"]},
                     "to": {"code": code, "version": version}},
            "assignee": {"from": r["assignee_id"], "to": assignee},
            "draft": self.draft_id,
            "reason": routing or f"the workers of grid {code} changed (draft {self.draft_id})",
        }
        if reason:
            data["assignment"] = reason
        # a row of publish.sql's reroute (its JSON array's objects)
        return {
            "id": r["id"], "created_at": r["created_at"].isoformat(),
            "grid_code": code if moved else r["grid_code"],
            "admin_code": admin if moved else r["admin_code"],
            "queue": queue if moved else r["queue"], "assignee_id": assignee,
            "on_boundary": on_boundary if moved else r["on_boundary"],
            "grid_version": version if moved else r["grid_version"],
            "routing_reason": routing, "assignment_reason": reason, "data": data,
        }

    def _choose(self, queue: str, code: str | None, workers: list[int],
                leader: int | None) -> tuple[int | None, str]:
        """The intake's rule (cases/assignment.py) on the new grid."""
        if queue == "grid" and workers:
            chosen = min(workers, key=lambda w: (self.counts.get(w, 0), w))
            if len(workers) == 1:
                return chosen, f"{self.names.get(chosen, chosen)} is the grid worker on duty in {code}"
            return chosen, (f"{len(workers)} grid workers on duty in {code}: "
                            f"{self.names.get(chosen, chosen)} has the fewest open cases "
                            f"({self.counts.get(chosen, 0)})")
        if leader is not None:
            return leader, (f"no grid worker on duty in {code}: given to the village's grid "
                            f"leader {self.names.get(leader, leader)}")
        return None, f"no grid worker on duty in {code} and no grid leader: waits in the queue"

