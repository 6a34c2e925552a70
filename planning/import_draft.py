"""``gridgov boundaries import PATH … --draft``: a file's grids become a new draft for the
planner instead of new versions of the current boundaries.

The file is read and planned exactly as for a commit (boundaries/importer.py: the same CRS
rules, repairs and refusals, the same comparison with the current grids). Then, instead of
``apply_plan``, a draft is made (planning/drafts.py) of the scope the file covers — the village
when every feature is a leaf grid of one village whose administrative grid is current, else the
town — and each feature the plan adds or changes is put into it under the rules of ``PUT`` and
``POST /api/v1/drafts/{id}/grids``: the coding rule and the draft's scope, the parent a leaf
grid's code names, a valid geometry near the town. A grid the file changes keeps its leader and
workers in the draft; a new one has none (validation says so). ``grids`` and ``zones`` are not
touched; the whole import is one revision of the draft (op ``import``), so a planner who opened
the draft before sees one change naming every grid the file brought.

Zones cannot be imported as a draft: drafts hold grids only (planning/models.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.importer import ImportPlan, PlanItem
from db.statements import named_statements
from planning.drafts import (
    LEAF_CODE,
    bump_revision,
    check_grid,
    checked_geometry,
    create_draft,
    draft_summary,
    lock_open_draft,
)
from planning.errors import InvalidDraftScope
from planning.validation import draft_validation

OP = "import"


@dataclass
class DraftImport:
    """What ``import_as_draft`` made: the draft and what the file changed in it."""

    plan: ImportPlan
    draft: dict[str, Any]  # planning.drafts.draft_summary after the import
    added: list[PlanItem] = field(default_factory=list)
    changed: list[PlanItem] = field(default_factory=list)
    unchanged: list[PlanItem] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)  # planning.validation's answer
    kept: list[str] = field(default_factory=list)  # the draft's grids of the level not in the file

    def lines(self) -> list[str]:
        """The report, one line per fact, as the CLI prints it."""
        src, d = self.plan.source, self.draft
        scope = (f"village {d['scope_code'][:12]}" if d["scope_kind"] == "village"
                 else f"town {d['town_code']}")
        out = [f"draft from {src.path.name} (layer {src.layer}, {src.crs}): "
               f"{len(src.features)} {self.plan.level} feature(s) for {scope}"]
        out += [f"note: {n}" for n in src.notes]
        out += src.repairs
        out += [f"warning: {w}" for w in self.plan.warnings]
        out += [f"added: {i.feature.code} {i.feature.name}" for i in self.added]
        out += [f"changed: {i.feature.code} {i.feature.name} ({', '.join(i.changes)})"
                for i in self.changed]
        out += [f"not in file, kept in the draft: {code}" for code in self.kept]
        out.append(
            f"draft {d['id']} of {scope}, revision {d['revision']}: {len(self.added)} added, "
            f"{len(self.changed)} changed, {len(self.unchanged)} unchanged; "
            "the current boundaries are untouched")
        v = self.validation
        out += [f"validation error: {f['message']}" for f in v["errors"]]
        out += [f"validation warning: {f['message']}" for f in v["warnings"]]
        verdict = ("validation ok: it could be published" if v["ok"]
                   else "validation: it cannot be published until the errors are fixed")
        out.append(f"{verdict} ({len(v['errors'])} error(s), {len(v['warnings'])} warning(s))")
        return out


def import_as_draft(session: Session, plan: ImportPlan, actor: str) -> DraftImport:
    """Make a draft holding ``plan``'s grids (see the module docstring), in the caller's
    transaction. Raises a PlanningError, before the transaction is committed, for a plan a
    draft cannot hold: zones, a town not in the database, a code off the rule."""
    if plan.level == "zone":
        raise InvalidDraftScope("drafts hold grids only: zones cannot be imported as a draft "
                                "(import them with --commit)", {"level": plan.level})
    if plan.new_town is not None:
        raise InvalidDraftScope(
            f"town {plan.town_code} is not in the database: a draft is a copy of a town's "
            "current grids; import its grids with --commit first", {"town": plan.town_code})
    summary = create_draft(session, actor, _scope(session, plan))
    draft = lock_open_draft(session, summary["id"])
    held = {r.code: r for r in session.execute(text(
        "SELECT code, parent_code, leader_id, worker_ids FROM draft_grids "
        "WHERE draft_id = :id AND NOT removed"), {"id": draft["id"]})}
    result = DraftImport(plan, summary, kept=[c for c in plan.kept if c in held])
    writes: list[tuple[str, dict[str, Any]]] = []
    for item in plan.items:
        if item.action == "unchanged":
            result.unchanged.append(item)
            continue
        code = item.feature.code
        values = _values(item, held.get(code))
        if code in held:
            item.changes = _changes(item, held[code].parent_code, values["parent_code"])
            if not item.changes:
                result.unchanged.append(item)
                continue
        check_grid(session, draft, code, values)
        geom = checked_geometry(session, draft["town_code"], mapping(item.feature.geometry), code)
        writes.append(("update_grid" if code in held else "insert_grid",
                       {**values, "id": draft["id"], "code": code, "wkb": shapely.to_wkb(geom)}))
        (result.changed if code in held else result.added).append(item)
    if writes:
        revision = bump_revision(session, draft, OP, [w[1]["code"] for w in writes], actor)
        statements = named_statements("planning", "drafts.sql")
        for name, params in writes:
            session.execute(text(statements[name]), {**params, "revision": revision})
    result.draft = draft_summary(session, draft["id"])
    result.validation = draft_validation(session, draft["id"])
    return result


def _scope(session: Session, plan: ImportPlan) -> str:
    """The village when every feature is a leaf grid of one village whose administrative grid
    is current, else the town."""
    villages = {i.feature.code[:12] for i in plan.items}
    if (plan.level in ("regional", "service") and len(villages) == 1
            and all(LEAF_CODE.fullmatch(i.feature.code) for i in plan.items)):
        village = villages.pop()
        current = session.execute(text(
            "SELECT 1 FROM grids WHERE code = :code AND level = 'admin' AND valid_to IS NULL"),
            {"code": village + "000"}).first()
        if current is not None:
            return village
    return plan.town_code


def _changes(item: PlanItem, old_parent: str | None, new_parent: str | None) -> list[str]:
    """The plan's changes with the parent the draft gets (``_values``), not the importer's."""
    changes = [c for c in item.changes if not c.startswith("parent ")]
    if old_parent != new_parent:
        changes.append(f"parent {old_parent} -> {new_parent}")
    return changes


def _values(item: PlanItem, held: Any) -> dict[str, Any]:
    """The draft row's attributes for ``item``: the file's name, level and zone; a leaf grid's
    parent as the file gives it, else its village grid by its code (add_grid's rule), since the
    draft's rule is the code's and not the containment the importer guesses; the people of the
    grid it replaces."""
    f = item.feature
    parent = None if item.level == "admin" else (f.parent_code or f.code[:12] + "000")
    return {"name": f.name, "level": item.level, "parent_code": parent,
            "zone_code": item.zone_code,
            "leader_id": held.leader_id if held is not None else None,
            "worker_ids": list(held.worker_ids) if held is not None else []}
