"""Is the current grid hierarchy complete? Coverage, parents and people, town by town.

`coverage_report(session)` checks, for the current boundaries (valid_to IS NULL):

- admin grids tile their town: gaps inside the town, overlaps between admin grids, admin
  grids reaching outside the town;
- zones do not overlap each other; an admin grid's zone exists;
- each village's leaf grids (regional + service together) tile it: gaps inside the admin
  grid, overlaps between leaf grids, leaf grids reaching outside their village;
- every leaf grid has an admin grid (parent_code names a current admin grid);
- people: each leaf grid has a grid worker, each admin grid a grid leader (a current
  grid_assignments row with role 'worker' / 'leader');
- warnings only: codes off DOMAIN.md's scheme, admin grids in no zone.

The geometry is done in shapely (geo/coverage.py), not PostGIS: a town is a few hundred
polygons, fetched in one query per table in milliseconds, and keeping the checks pure lets
them be tested, and property-tested, without a database. Areas are geodesic m².
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.importer import ADMIN_CODE, LEAF_CODE
from geo.coverage import (
    MIN_AREA_M2,
    MIN_WIDTH_M,
    Piece,
    coverage_gaps,
    coverage_overlaps,
    outside_parent,
    repaired_polygon,
)

LEAF_LEVELS = ("regional", "service")

# A post counts while it has begun and not ended: `until` is the last day on duty.
ASSIGNMENTS_SQL = """
SELECT DISTINCT grid_code, role FROM grid_assignments
WHERE role IN ('worker', 'leader')
  AND since <= town_today() AND (until IS NULL OR until >= town_today())
"""


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth a look) in the hierarchy."""

    kind: str  # gap | overlap | outside | missing_parent | missing_town | no_worker | no_leader
    #            | off_scheme | no_zone | empty
    message: str  # one line, for people
    codes: tuple[str, ...] = ()  # the units involved, parent first
    area_m2: float | None = None
    lonlat: tuple[float, float] | None = None  # a point inside the piece, for the map

    def to_dict(self) -> dict:
        """A JSON-ready dict: lon and lat as separate keys, area rounded to 0.01 m²."""
        d = asdict(self)
        d["codes"] = list(self.codes)
        lonlat = d.pop("lonlat")
        d["lon"], d["lat"] = lonlat if lonlat else (None, None)
        d["area_m2"] = round(self.area_m2, 2) if self.area_m2 is not None else None
        return d


@dataclass
class CoverageReport:
    """The findings of `coverage_report`: errors make `gridgov boundaries validate` exit 1."""

    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # towns, zones, admin, regional, service

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def to_dict(self) -> dict:
        """A JSON-ready dict: ok, counts, errors, warnings."""
        return {
            "ok": self.ok,
            "counts": self.counts,
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }

    def lines(self) -> list[str]:
        """The report as the CLI prints it, errors first, a summary last."""
        out = [f"error: {f.message}" for f in self.errors]
        out += [f"warning: {f.message}" for f in self.warnings]
        c = self.counts
        scope = (
            f"{c.get('towns', 0)} town(s), {c.get('zones', 0)} zone(s), "
            f"{c.get('admin', 0)} admin, {c.get('regional', 0)} regional, "
            f"{c.get('service', 0)} service grid(s)"
        )
        verdict = "coverage ok" if self.ok else "coverage has errors"
        out.append(
            f"{verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s) in {scope}"
        )
        return out


def coverage_report(
    session: Session, *, min_area_m2: float = MIN_AREA_M2, min_width_m: float = MIN_WIDTH_M
) -> CoverageReport:
    """Check every town's current hierarchy and return what is wrong with it.

    Pieces under `min_area_m2` or thinner on average than `min_width_m` are slivers, not
    findings (geo/coverage.py explains why).
    """
    towns = rows_with_geometry(session, "SELECT code, name, ST_AsBinary(geom) AS wkb FROM towns")
    zones = rows_with_geometry(
        session,
        "SELECT code, name, town_code, ST_AsBinary(geom) AS wkb FROM zones WHERE valid_to IS NULL",
    )
    grids = rows_with_geometry(
        session,
        "SELECT code, name, level, parent_code, zone_code, town_code, "
        "ST_AsBinary(geom) AS wkb FROM grids WHERE valid_to IS NULL",
    )
    posts = {(r.grid_code, r.role) for r in session.execute(text(ASSIGNMENTS_SQL))}
    return hierarchy_report(towns, zones, grids, posts, min_area_m2=min_area_m2,
                            min_width_m=min_width_m)


def hierarchy_report(
    towns: list[dict],
    zones: list[dict],
    grids: list[dict],
    posts: set[tuple[str, str]],
    *,
    min_area_m2: float = MIN_AREA_M2,
    min_width_m: float = MIN_WIDTH_M,
) -> CoverageReport:
    """The checks of `coverage_report` on given rows (each a dict with code, name, a shapely
    ``geometry`` and, for grids, level, parent_code, zone_code, town_code; ``posts`` the
    (grid_code, 'worker' | 'leader') pairs staffed): for a planner's draft as for the
    current boundaries."""
    report = CoverageReport()
    report.counts = {"towns": len(towns), "zones": len(zones)}
    for level in ("admin", *LEAF_LEVELS):
        report.counts[level] = sum(1 for g in grids if g["level"] == level)
    if not grids:
        report.warnings.append(Finding("empty", "there are no current grids"))
        if not zones and not towns:
            return report
    check = _Checker(report, (min_area_m2, min_width_m))
    town_codes = sorted(
        {t["code"] for t in towns}
        | {g["town_code"] for g in grids}
        | {z["town_code"] for z in zones}
    )
    by_town = {t["code"]: t for t in towns}
    for code in town_codes:
        check.town(
            code,
            by_town.get(code),
            [z for z in zones if z["town_code"] == code],
            [g for g in grids if g["town_code"] == code and g["level"] == "admin"],
            [g for g in grids if g["town_code"] == code and g["level"] in LEAF_LEVELS],
        )
    check.people(grids, posts)
    return report


class _Checker:
    """Adds the findings of each check to one report."""

    def __init__(self, report: CoverageReport, tolerance: tuple[float, float]):
        self.report = report
        self.tol = tolerance  # (min_area_m2, min_width_m)

    def error(self, kind: str, message: str, codes: tuple[str, ...], piece: Piece | None = None):
        self.report.errors.append(
            Finding(
                kind,
                message,
                codes,
                piece.area_m2 if piece else None,
                piece.lonlat if piece else None,
            )
        )

    def warn(self, kind: str, message: str, codes: tuple[str, ...]):
        self.report.warnings.append(Finding(kind, message, codes))

    def town(
        self,
        code: str,
        town: dict | None,
        zones: list[dict],
        admins: list[dict],
        leaves: list[dict],
    ) -> None:
        """All coverage and parent checks of one town."""
        if town is None:
            self.error(
                "missing_town", f"town {code} does not exist but grids or zones name it", (code,)
            )
        else:
            for gap in coverage_gaps(town["geometry"], [a["geometry"] for a in admins], *self.tol):
                self.error(
                    "gap", f"town {code}: {_where(gap)} not covered by any admin grid", (code,), gap
                )
            for a in admins:
                out = outside_parent(town["geometry"], a["geometry"], *self.tol)
                if out:
                    self.error(
                        "outside",
                        f"admin grid {a['code']}: {_where(out)} outside town {code}",
                        (code, a["code"]),
                        out,
                    )
        self.overlaps("zones", zones)
        self.overlaps("admin grids", admins)
        self.overlaps("leaf grids", leaves)

        zone_codes = {z["code"] for z in zones}
        for a in admins:
            _scheme(self, a, ADMIN_CODE, "village code + 000")
            if a["zone_code"] and a["zone_code"] not in zone_codes:
                self.error(
                    "missing_parent",
                    f"admin grid {a['code']}: its zone {a['zone_code']} does not exist",
                    (a["zone_code"], a["code"]),
                )
            elif not a["zone_code"] and zones:
                self.warn("no_zone", f"admin grid {a['code']} is in no zone", (a["code"],))

        villages = {a["code"]: a for a in admins}
        children: dict[str, list[dict]] = defaultdict(list)
        for leaf in leaves:
            _scheme(self, leaf, LEAF_CODE, "village code + serial 001-999")
            parent = villages.get(leaf["parent_code"] or "")
            if parent is None:
                what = (
                    f"its admin grid {leaf['parent_code']} does not exist"
                    if leaf["parent_code"]
                    else "it has no admin grid"
                )
                self.error(
                    "missing_parent",
                    f"{leaf['level']} grid {leaf['code']}: {what}",
                    (leaf["parent_code"] or "", leaf["code"]),
                )
                continue
            children[parent["code"]].append(leaf)
            out = outside_parent(parent["geometry"], leaf["geometry"], *self.tol)
            if out:
                self.error(
                    "outside",
                    f"{leaf['level']} grid {leaf['code']}: {_where(out)} "
                    f"outside its village {parent['code']}",
                    (parent["code"], leaf["code"]),
                    out,
                )
        for a in admins:
            kids = children.get(a["code"], [])
            for gap in coverage_gaps(a["geometry"], [k["geometry"] for k in kids], *self.tol):
                tail = "not covered by its leaf grids" if kids else "and no leaf grid at all"
                self.error(
                    "gap", f"admin grid {a['code']}: {_where(gap)} {tail}", (a["code"],), gap
                )

    def overlaps(self, what: str, units: list[dict]) -> None:
        for o in coverage_overlaps([u["geometry"] for u in units], *self.tol):
            a, b = units[o.i]["code"], units[o.j]["code"]
            self.error("overlap", f"{what} {a} and {b} overlap: {_where(o)}", (a, b), o)

    def people(self, grids: list[dict], posts: set[tuple[str, str]]) -> None:
        """Leaf grids without a grid worker, admin grids without a grid leader."""
        for g in grids:
            if g["level"] == "admin" and (g["code"], "leader") not in posts:
                self.error("no_leader", f"admin grid {g['code']} has no grid leader", (g["code"],))
            elif g["level"] in LEAF_LEVELS and (g["code"], "worker") not in posts:
                self.error(
                    "no_worker", f"{g['level']} grid {g['code']} has no grid worker", (g["code"],)
                )


def _scheme(check: _Checker, grid: dict, pattern, scheme: str) -> None:
    if not pattern.match(grid["code"]):
        check.warn(
            "off_scheme",
            f"{grid['level']} grid code {grid['code']} does not follow the scheme ({scheme})",
            (grid["code"],),
        )


def _where(piece: Piece) -> str:
    lon, lat = piece.lonlat
    return f"{piece.area_m2:.1f} m² near {lon:.6f}, {lat:.6f}"


def rows_with_geometry(session: Session, sql: str, params: dict | None = None) -> list[dict]:
    """Rows as dicts with a shapely `geometry` decoded from the `wkb` column (fixed SQL only)."""
    rows = []
    for r in session.execute(text(sql), params or {}).mappings():
        row = dict(r)
        geom = shapely.from_wkb(bytes(row.pop("wkb")))
        # Our importer stores only valid polygons, but rows written by other means may not be;
        # an invalid one would make the overlay operations fail rather than be checked.
        row["geometry"] = geom if geom.is_valid else repaired_polygon(geom)[0]
        rows.append(row)
    return rows
