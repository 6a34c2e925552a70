"""Import boundaries from a GIS file: read, plan what would change, then (with commit) write.

One importer core for the CLI and, later, the planner page (MapIt's lesson), in three steps:

1. `read_source` (boundaries/reader.py) reads the file, reprojects it to EPSG:4326 and repairs
   invalid polygons; it touches no database.
2. `plan_import` compares the features with the current boundaries and decides, code by
   code: added, new version (geometry, name, level, parent, zone or kind changed), or
   unchanged. Current rows of the level that are not in the file are kept, and listed.
   Parents come from `--parent-field`, else from the current polygon one level up that holds
   most of the feature's area (an admin grid's parent is its zone, kept in ``zone_code``; a
   leaf grid's is its admin grid, kept in ``parent_code``). A parent that cannot be found is
   left NULL and reported by `gridgov boundaries validate`, not refused: a planner may import
   the leaf grids of another town before its villages. A town missing from the database is
   created (from the file's town row, else the union of the features, holes filled).
3. `apply_plan` writes the plan in the caller's transaction. New versions follow the rule in
   boundaries/models.py: the old row is closed at now() and the new row starts at the same
   now() (the transaction's start) with version + 1.

Codes that do not follow DOMAIN.md's scheme are kept as given and listed as warnings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from shapely import MultiPolygon, Polygon, STRtree
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from boundaries.errors import InvalidOption
from boundaries.reader import Feature, SourceFile, read_source
from geo.coverage import polygonal_part

# DOMAIN.md "Codes": an admin grid is its village's 12-digit code + 000, a leaf grid the
# village's 12 digits + a serial 001-999. Zone codes are free-form.
ADMIN_CODE = re.compile(r"^\d{12}000$")
LEAF_CODE = re.compile(r"^\d{12}(?!000)\d{3}$")
TOWN_PREFIX = re.compile(r"^\d{9}")
UNKNOWN_TOWN = "000000000"
TOWN_CODE_MAX = 12
# Two geometries closer than this (degrees, ~0.1 mm) vertex by vertex are the same boundary:
# a file written by our export and read back differs from the database only in the last digits.
SAME_TOLERANCE_DEG = 1e-9


@dataclass
class NewTown:
    """A town the import creates because the database does not have it."""

    code: str
    name: str
    geometry: MultiPolygon
    origin: str  # for the report: "the file's town row" or "the union of N features"


@dataclass
class PlanItem:
    """What the import does with one feature."""

    action: str  # "added" | "new version" | "unchanged"
    feature: Feature
    level: str  # zone | admin | regional | service
    version: int  # the version the current row has after the import
    parent_code: str | None = None
    zone_code: str | None = None
    kind: str | None = None  # zones only
    changes: list[str] = field(default_factory=list)


@dataclass
class ImportPlan:
    """Everything an import changes, or would change in a dry run."""

    source: SourceFile
    level: str
    town_code: str
    new_town: NewTown | None
    items: list[PlanItem]
    kept: list[str]  # current codes of this level and town that the file does not have
    warnings: list[str]
    committed: bool = False

    def count(self, action: str) -> int:
        """How many features get `action` ("added", "new version", "unchanged")."""
        return sum(1 for item in self.items if item.action == action)

    def lines(self) -> list[str]:
        """The report, one line per fact, as the CLI prints it."""
        src = self.source
        out = [
            f"{'' if self.committed else 'dry run: '}{src.path.name} (layer {src.layer}, "
            f"{src.crs}): {len(src.features)} {self.level} feature(s) for town {self.town_code}"
        ]
        if self.new_town:
            t = self.new_town
            verb = "created" if self.committed else "will be created"
            out.append(f"town {t.code} ({t.name}) {verb} from {t.origin}")
        out += [f"note: {n}" for n in src.notes]
        out += src.repairs
        out += [f"warning: {w}" for w in self.warnings]
        for item in self.items:
            f = item.feature
            if item.action == "added":
                out.append(f"added: {f.code} {f.name}")
            elif item.action == "new version":
                out.append(
                    f"new version: {f.code} {f.name} v{item.version - 1} -> v{item.version} "
                    f"({', '.join(item.changes)})"
                )
        out += [f"not in file, kept: {code}" for code in self.kept]
        out.append(
            f"{self.count('added')} added, {self.count('new version')} new version(s), "
            f"{self.count('unchanged')} unchanged, {len(self.kept)} not in file (kept)"
        )
        out.append(
            "committed"
            if self.committed
            else "dry run: nothing written; run again with --commit to write"
        )
        return out


def import_boundaries(
    session: Session,
    path: str | Path,
    level: str,
    *,
    commit: bool = False,
    layer: str | None = None,
    source_crs: str | None = None,
    code_field: str = "code",
    name_field: str | None = None,
    parent_field: str | None = None,
    town_code: str | None = None,
    town_name: str | None = None,
    progress: bool = False,
) -> ImportPlan:
    """Read `path`, plan the import of its `level` features and, with `commit`, write it.

    The options are the CLI's (see `read_source`). Nothing is written without `commit`; the
    caller owns the transaction. Raises a `BoundaryError` for bad input, before any write.
    """
    source = read_source(
        path, level, layer=layer, source_crs=source_crs, code_field=code_field,
        name_field=name_field, parent_field=parent_field, progress=progress,
    )  # fmt: skip
    plan = plan_import(session, source, town_code=town_code, town_name=town_name, progress=progress)
    if commit:
        apply_plan(session, plan)
    return plan


def plan_import(
    session: Session,
    source: SourceFile,
    *,
    town_code: str | None = None,
    town_name: str | None = None,
    progress: bool = False,
) -> ImportPlan:
    """Compare `source` with the current boundaries and decide what each feature becomes."""
    level = source.level
    warnings: list[str] = []
    code, new_town = _town(session, source, town_code, town_name, warnings)
    current = _current_rows(session, "zones" if level == "zone" else "grids")
    if level == "admin":
        parents = _current_rows(session, "zones")
    else:  # leaf grids hang under admin grids; zones have no parent to find
        parents = {c: r for c, r in current.items() if level != "zone" and r["level"] == "admin"}
    finder = _Container(parents)

    items: list[PlanItem] = []
    for feature in tqdm(
        source.features, desc="planning", unit="feature", disable=None if progress else True
    ):
        item = PlanItem("added", feature, level, 1)
        if level == "zone":
            item.kind = feature.kind or _zone_kind(feature)
        elif level == "admin":
            item.zone_code = _relation(
                feature.parent_code or feature.zone_code, finder, feature, "zone", parents, warnings
            )
            _check_code(feature.code, ADMIN_CODE, "admin grids (village code + 000)", warnings)
        else:
            item.parent_code = _relation(
                feature.parent_code, finder, feature, "admin grid", parents, warnings
            )
            parent = parents.get(item.parent_code or "")
            item.zone_code = feature.zone_code or (parent["zone_code"] if parent else None)
            _check_code(
                feature.code, LEAF_CODE, f"{level} grids (village code + serial 001-999)", warnings
            )
            if (
                item.parent_code
                and ADMIN_CODE.match(item.parent_code)
                and LEAF_CODE.match(feature.code)
                and feature.code[:12] != item.parent_code[:12]
            ):
                warnings.append(
                    f"{feature.code} is not numbered under its admin grid "
                    f"{item.parent_code} (first 12 digits differ)"
                )
        old = current.get(feature.code)
        if old is not None:
            item.changes = _changes(old, item)
            item.version = old["version"] + (1 if item.changes else 0)
            item.action = "new version" if item.changes else "unchanged"
        items.append(item)

    in_file = {f.code for f in source.features}
    kept = sorted(
        c
        for c, r in current.items()
        if c not in in_file and r["town_code"] == code and (level == "zone" or r["level"] == level)
    )
    return ImportPlan(source, level, code, new_town, items, kept, warnings)


def apply_plan(session: Session, plan: ImportPlan) -> None:
    """Write `plan` in the session's transaction (the caller commits or rolls back)."""
    # one writer of a town's boundaries at a time, as a publish takes it (planning/publish.sql
    # town_lock): versions are numbered in the order they commit
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gridgov.boundaries:' || :town))"),
                    {"town": plan.town_code})
    if plan.new_town:
        t = plan.new_town
        session.execute(
            text(
                "INSERT INTO towns (code, name, geom) "
                "VALUES (:code, :name, ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"
            ),
            {"code": t.code, "name": t.name, "wkb": shapely.to_wkb(t.geometry)},
        )
    changed = [item for item in plan.items if item.action != "unchanged"]
    table = "zones" if plan.level == "zone" else "grids"
    closing = [{"code": i.feature.code} for i in changed if i.action == "new version"]
    if closing:
        # Table names come from this two-item allow-list, never from input.
        session.execute(
            text(f"UPDATE {table} SET valid_to = now() WHERE code = :code AND valid_to IS NULL"),
            closing,
        )
    rows = [
        {
            "code": i.feature.code,
            "name": i.feature.name,
            "level": i.level,
            "parent_code": i.parent_code,
            "zone_code": i.zone_code,
            "kind": i.kind,
            "town_code": plan.town_code,
            "version": i.version,
            "wkb": shapely.to_wkb(i.feature.geometry),
        }
        for i in changed
    ]
    if not rows:
        plan.committed = True
        return
    if table == "zones":
        sql = (
            "INSERT INTO zones (code, name, kind, town_code, geom, version, valid_from) "
            "VALUES (:code, :name, :kind, :town_code, ST_Multi(ST_GeomFromWKB(:wkb, 4326)), "
            ":version, now())"
        )
    else:
        sql = (
            "INSERT INTO grids (code, name, level, parent_code, zone_code, town_code, geom, "
            "version, valid_from) VALUES (:code, :name, :level, :parent_code, :zone_code, "
            ":town_code, ST_Multi(ST_GeomFromWKB(:wkb, 4326)), :version, now())"
        )
    session.execute(text(sql), rows)
    plan.committed = True


def _town(
    session: Session,
    source: SourceFile,
    town_code: str | None,
    town_name: str | None,
    warnings: list[str],
) -> tuple[str, NewTown | None]:
    """The town the features belong to, and the town to create when the database lacks it.

    The code is `town_code`, else the file's town row, else the 9-digit prefix all codes
    share (DOMAIN.md), else the only town in the database, else 000000000 with a warning.
    """
    existing = {r.code: r.name for r in session.execute(text("SELECT code, name FROM towns"))}
    codes = [f.code for f in source.features]
    prefixes = {c[:9] for c in codes if TOWN_PREFIX.match(c)}
    if town_code:
        code = town_code.strip()
        if not code or len(code) > TOWN_CODE_MAX:
            raise InvalidOption(
                f"--town-code {town_code!r} must be 1 to {TOWN_CODE_MAX} characters"
            )
    elif source.town is not None:
        code = source.town.code[:TOWN_CODE_MAX]
    elif len(prefixes) == 1 and all(TOWN_PREFIX.match(c) for c in codes):
        code = prefixes.pop()
    elif len(existing) == 1:
        code = next(iter(existing))
    else:
        code = UNKNOWN_TOWN
        warnings.append(
            f"cannot tell which town these features belong to: using town code "
            f"{UNKNOWN_TOWN} (say which with --town-code)"
        )
    if code in existing:
        return code, None
    if source.town is not None and source.town.code[:TOWN_CODE_MAX] == code:
        return code, NewTown(
            code, town_name or source.town.name, source.town.geometry, "the file's town row"
        )
    union = polygonal_part(shapely.union_all([f.geometry for f in source.features]))
    # Holes in the union are gaps between the imported polygons, not holes in the town: fill
    # them, so that `validate` reports them as gaps instead of the town silently having them.
    filled = polygonal_part(shapely.union_all([Polygon(p.exterior) for p in union.geoms]))
    return code, NewTown(
        code, town_name or code, filled, f"the union of {len(source.features)} imported feature(s)"
    )


def _current_rows(session: Session, table: str) -> dict[str, dict]:
    """The current rows of `table` ("zones" or "grids", an allow-list) by code."""
    level = (
        "'zone' AS level, NULL AS parent_code, NULL AS zone_code, kind"
        if table == "zones"
        else "level, parent_code, zone_code, NULL AS kind"
    )
    sql = (
        f"SELECT code, name, {level}, town_code, version, ST_AsBinary(geom) AS wkb "
        f"FROM {table} WHERE valid_to IS NULL"
    )
    rows = {}
    for r in session.execute(text(sql)).mappings():
        row = dict(r)
        row["geometry"] = shapely.from_wkb(bytes(row.pop("wkb")))
        rows[row["code"]] = row
    return rows


class _Container:
    """Finds the candidate polygon that holds most of a feature's area (an STRtree query)."""

    def __init__(self, candidates: dict[str, dict]):
        self.codes = list(candidates)
        self.tree = STRtree([candidates[c]["geometry"] for c in self.codes])
        self.geoms = [candidates[c]["geometry"] for c in self.codes]

    def most_of(self, geometry: BaseGeometry) -> str | None:
        """The code of the candidate sharing the largest area with `geometry`, or None."""
        best, best_area = None, 0.0
        for i in self.tree.query(geometry, predicate="intersects").tolist():
            # Planar area in degrees only ranks candidates around one feature: fine for that.
            shared = polygonal_part(self.geoms[i].intersection(geometry)).area
            if shared > best_area:
                best, best_area = self.codes[i], shared
        return best


def _relation(
    given: str | None,
    finder: _Container,
    feature: Feature,
    what: str,
    parents: dict[str, dict],
    warnings: list[str],
) -> str | None:
    """The parent code from the file, else by containment; warn when it is missing."""
    if given:
        if given not in parents:
            warnings.append(
                f"{feature.code}: its {what} {given} is not in the database; "
                "kept as given (validate reports it)"
            )
        return given
    found = finder.most_of(feature.geometry)
    if found is None and (what != "zone" or parents):
        warnings.append(
            f"{feature.code}: no current {what} contains it; imported without one "
            "(validate reports it)"
        )
    return found


def _zone_kind(feature: Feature) -> str:
    """Enterprise zones (企业片区/园区片区) say so in their name, or end in E + digits (E01)."""
    if "企业" in feature.name or "园区" in feature.name or re.search(r"E\d+$", feature.code):
        return "enterprise"
    return "village"


def _check_code(code: str, pattern: re.Pattern[str], scheme: str, warnings: list[str]) -> None:
    if not pattern.match(code):
        warnings.append(f"code {code} does not follow the scheme for {scheme}: kept as given")


def _changes(old: dict, item: PlanItem) -> list[str]:
    """What differs between the current row `old` and the planned row, in the report's words."""
    changes = []
    new, before = item.feature.geometry, old["geometry"]
    try:
        same = new.equals_exact(before, SAME_TOLERANCE_DEG, normalize=True) or new.equals(before)
    except shapely.errors.GEOSException:  # an invalid geometry already in the database
        same = False
    if not same:
        changes.append("geometry")
    pairs = [
        ("name", item.feature.name),
        ("level", item.level),
        ("parent", item.parent_code),
        ("zone", item.zone_code),
        ("kind", item.kind),
    ]
    keys = {"parent": "parent_code", "zone": "zone_code"}
    for label, value in pairs:
        if label == "kind" and item.level != "zone":
            continue
        if old[keys.get(label, label)] != value:
            changes.append(
                label
                if label in ("name", "kind")
                else f"{label} {old[keys.get(label, label)]} -> {value}"
            )
    return changes
