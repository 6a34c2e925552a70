"""Historical cases from a file (``gridgov cases import``): a town's past matters, from the
spreadsheets and exports of whatever it used before, loaded with the same routing and the
same deadlines as new cases.

The file is a CSV with ``lon``/``lat`` columns or any OGR point layer (cases/bulk.py reads
both, streamed, with the same CRS rules as ``gridgov route``). Columns:

- ``category`` (required): a category code, or its Chinese name where that is unambiguous;
- ``created_at`` (required): ISO 8601; without an offset it is local time (Asia/Shanghai);
- ``description`` (default: the category's name), ``status`` (one of cases.models.STATES,
  default ``closed``), ``channel`` (cases.models.CHANNELS, default ``patrol``), ``closed_at``
  (ISO 8601), ``satisfaction`` (the four levels, in English codes or 满意-style words),
  ``address``; ``crs`` per row, as for routing.

Each row is routed by the bulk engine (geo/pointindex.py, the point lookup's rules); its
deadline is cases.deadlines.deadline_at over the business calendar. A row that cannot be
loaded (outside coverage, an unknown category, a bad date, ...) is refused and reported with
its row number; the others load. Loading is a dry run unless ``commit``; with it, cases and
one ``imported`` event each are written with COPY, in batches, in the caller's transaction.

A file is imported once: each case's idempotency key is ``import:<sha256 of the file>:<row>``,
and a file whose hash is already there is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from cases import repository
from cases.bulk import BulkError, PointBatch, Routed, load_router, open_points
from cases.calendar import load_calendar
from cases.deadlines import LOCAL_TZ, BusinessCalendar, deadline_at
from cases.models import CHANNELS, SATISFACTION, STATES
from db import partitions
from db.statements import named_statements

REQUIRED = ("category", "created_at")
SATISFACTION_WORDS = {"非常满意": "very_satisfied", "满意": "satisfied",
                      "基本满意": "basically_satisfied", "不满意": "dissatisfied"}
MAX_LISTED = 5
CASE_COLUMNS = (
    "id", "town_code", "category_code", "description", "status", "channel", "address",
    "grid_code", "admin_code", "occurred_at", "created_at", "updated_at", "due_at", "closed_at",
    "satisfaction", "geom", "input_crs", "geocode_precision", "queue", "on_boundary",
    "grid_version", "routing_reason", "idempotency_key",
)
# the event records where the case sits (queue), so its state rebuilds from its events alone
EVENT_COLUMNS = ("case_id", "town_code", "type", "to_status", "actor", "data", "queue")


@dataclass
class ImportReport:
    """What an import did, or would do in a dry run."""

    path: str
    committed: bool
    rows: int = 0
    loaded: int = 0
    by_status: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)  # reason -> rows
    refused_listed: list[str] = field(default_factory=list)
    unknown_categories: Counter = field(default_factory=Counter)
    valid_categories: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def refuse(self, row: int, reason: str, key: str | None = None) -> None:
        self.refused[key or reason] += 1
        if len(self.refused_listed) < MAX_LISTED:
            self.refused_listed.append(f"row {row}: {reason}")

    def lines(self) -> list[str]:
        verb = "imported" if self.committed else "would import"
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(self.by_status.items()))
        out = [*self.notes, f"{self.path}: {self.rows} rows; {verb} {self.loaded} cases"
               + (f" ({statuses})" if statuses else "")]
        n_refused = sum(self.refused.values())
        if n_refused:
            reasons = ", ".join(f"{r} {n}" for r, n in self.refused.most_common())
            out.append(f"refused {n_refused} rows ({reasons}): " + "; ".join(self.refused_listed)
                       + (f"; and {n_refused - MAX_LISTED} more" if n_refused > MAX_LISTED else ""))
        if self.unknown_categories:
            unknown = ", ".join(repr(c) for c, _ in self.unknown_categories.most_common(10))
            out.append(f"unknown categories {unknown}; valid: {', '.join(self.valid_categories)}")
        if not self.committed:
            out.append("dry run: nothing written (add --commit to load)")
        return out

    def to_dict(self) -> dict:
        """The report as JSON-ready data (``--json``)."""
        return {"path": self.path, "committed": self.committed, "rows": self.rows,
                "loaded": self.loaded, "by_status": dict(self.by_status),
                "refused": dict(self.refused), "refused_rows": self.refused_listed,
                "unknown_categories": dict(self.unknown_categories), "notes": self.notes}


def _statements() -> dict[str, str]:
    return named_statements("cases", "history.sql")


def import_cases(
    session: Session,
    path: str | Path,
    *,
    source_crs: str | None = None,
    lon_field: str = "lon",
    lat_field: str = "lat",
    layer: str | None = None,
    commit: bool = False,
    chunk_size: int = 10_000,
    progress: bool = False,
) -> ImportReport:
    """Import the historical cases of `path` (a dry run unless `commit`). Raises BulkError for
    a file that cannot be imported at all; refused rows are in the report."""
    source = open_points(path, source_crs=source_crs, lon_field=lon_field, lat_field=lat_field,
                         layer=layer)
    missing = [c for c in REQUIRED if c not in source.columns]
    if missing:
        raise BulkError(f"{source.path.name} has no column {missing[0]!r} (columns: "
                        f"{', '.join(source.columns)}): historical cases need "
                        f"{' and '.join(REQUIRED)}")
    digest = _sha256(source.path)
    prefix = f"import:{digest}:"
    before = session.execute(text(_statements()["imported_before"]),
                             {"prefix": prefix + "%"}).scalar_one()
    if before:
        raise BulkError(f"{source.path.name} was imported before ({before} cases carry its hash "
                        f"{digest[:12]}…): nothing to do")
    categories = repository.categories(session)
    report = ImportReport(str(source.path), committed=commit, notes=list(source.notes),
                          valid_categories=[c["code"] for c in categories])
    rows = _Rows(categories, load_calendar(session), source.path.name, prefix, datetime.now(LOCAL_TZ))
    router = load_router(session)
    conn = session.connection().connection.driver_connection if commit else None
    if conn is not None:
        # one "bulk" notification for the whole import instead of one per case (web/live.py)
        session.execute(text("SET LOCAL gridgov.bulk = 'on'"))
    for batch in source.batches(chunk_size, progress):
        routed = router.route(batch.lon, batch.lat)
        cases, events = rows.build(batch, routed, router.town, report)
        report.rows += len(batch.frame)
        report.loaded += len(cases)
        if conn is not None and cases:
            ids = session.execute(text(_statements()["reserve_ids"]), {"n": len(cases)}).scalars()
            for case, event, case_id in zip(cases, events, ids, strict=True):
                case[0] = event[0] = case_id
            # the months these cases fill, made first so they land in theirs (db/partitions.py)
            created = [case[CASE_COLUMNS.index("created_at")] for case in cases]
            partitions.cover(conn, min(created).astimezone(LOCAL_TZ).date(),
                             max(created).astimezone(LOCAL_TZ).date())
            with conn.cursor() as cur:
                with cur.copy(f"COPY cases ({', '.join(CASE_COLUMNS)}) FROM STDIN") as copy:
                    for case in cases:
                        copy.write_row(case)
                with cur.copy(f"COPY case_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                    for event in events:
                        copy.write_row(event)
    if conn is not None and report.loaded:
        session.execute(text("SELECT pg_notify('gridgov_cases', json_build_object('op', 'bulk', 'count', "
                             "CAST(:n AS int))::text)"), {"n": report.loaded})
    return report


class _Rows:
    """Turns a batch of file rows into case and event rows, refusing the ones it must."""

    def __init__(self, categories: list[dict], calendar: BusinessCalendar, filename: str,
                 key_prefix: str, now: datetime):
        self.limits = {c["code"]: (c["limit_value"], c["limit_unit"], c["name_zh"]) for c in categories}
        names = Counter(c["name_zh"] for c in categories)
        self.by_name = {c["name_zh"]: c["code"] for c in categories if names[c["name_zh"]] == 1}
        self.calendar, self.filename, self.prefix, self.now = calendar, filename, key_prefix, now

    def build(self, batch: PointBatch, routed: Routed, towns: dict, report: ImportReport):
        frame = batch.frame
        cells = {c: _texts(frame[c]) if c in frame.columns else [""] * len(frame)
                 for c in ("category", "created_at", "description", "status", "channel",
                           "closed_at", "satisfaction", "address")}
        cases, events = [], []
        for i in range(len(frame)):
            row = batch.start + i + 1
            values = {c: cells[c][i] for c in cells}
            reason = batch.problems.get(i)
            if reason:
                report.refuse(row, reason, "no usable point")
                continue
            if routed.outside[i]:
                report.refuse(row, f"outside coverage ({batch.lon[i]:.6f}, {batch.lat[i]:.6f})",
                              "outside coverage")
                continue
            try:
                case = self._case(values, routed, i, batch, towns)
            except _Refused as exc:
                if exc.key == "unknown category":
                    report.unknown_categories[values["category"]] += 1
                report.refuse(row, str(exc), exc.key)
                continue
            case[-1] = f"{self.prefix}{row}"
            cases.append(case)
            report.by_status[case[4]] += 1
            events.append([None, case[1], "imported", case[4], "import",
                           json.dumps({"file": self.filename, "row": row,
                                       "created_at": case[10].isoformat()}, ensure_ascii=False),
                           case[18]])
        return cases, events

    def _case(self, v: dict, routed: Routed, i: int, batch: PointBatch, towns: dict) -> list:
        code = v["category"] if v["category"] in self.limits else self.by_name.get(v["category"])
        if code is None:
            raise _Refused(f"unknown category {v['category']!r}", "unknown category")
        value, unit, name_zh = self.limits[code]
        created = _when(v["created_at"], "created_at", required=True)
        assert created is not None
        if created > self.now:
            raise _Refused(f"created_at {v['created_at']!r} is in the future", "bad created_at")
        closed = _when(v["closed_at"], "closed_at", required=False)
        if closed is not None and closed < created:
            raise _Refused(f"closed_at {v['closed_at']!r} is before created_at", "bad closed_at")
        status = v["status"] or "closed"
        if status not in STATES:
            raise _Refused(f"status {status!r} is not one of {', '.join(STATES)}", "bad status")
        channel = v["channel"] or "patrol"
        if channel not in CHANNELS:
            raise _Refused(f"channel {channel!r} is not one of {', '.join(CHANNELS)}", "bad channel")
        satisfaction = SATISFACTION_WORDS.get(v["satisfaction"], v["satisfaction"]) or None
        if satisfaction is not None and satisfaction not in SATISFACTION:
            raise _Refused(f"satisfaction {v['satisfaction']!r} is not one of "
                           f"{', '.join(SATISFACTION)} or {', '.join(SATISFACTION_WORDS)}",
                           "bad satisfaction")
        grid, admin = routed.grid_code[i], routed.admin_code[i]
        lon, lat = float(batch.lon[i]), float(batch.lat[i])
        reason = f"imported from {self.filename}: point ({lon:.6f}, {lat:.6f}) in " + (
            f"leaf grid {grid}" if grid is not None else f"admin grid {admin}, in no leaf grid")
        if routed.on_boundary[i]:
            reason += "; on a shared boundary, the smallest code wins"
        return [
            None, towns.get(admin) or towns.get(grid), code, v["description"] or name_zh, status,
            channel, v["address"] or None, grid, admin, created, created, closed or created,
            deadline_at(created, value, unit, self.calendar), closed, satisfaction,
            f"SRID=4326;POINT({lon!r} {lat!r})", str(batch.crs[i]), "point",
            "grid" if grid is not None else "village", bool(routed.on_boundary[i]),
            routed.grid_version[i], reason, None,
        ]


class _Refused(Exception):
    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def _texts(column: pd.Series) -> list[str]:
    """A column as stripped strings, '' for nulls (CSV cells are text already; OGR's are not)."""
    values = column.astype(object).where(column.notna(), "")
    return [v.isoformat() if isinstance(v, datetime) else str(v).strip() for v in values]


def _when(value: str, name: str, *, required: bool) -> datetime | None:
    """An ISO 8601 timestamp; naive ones are local time (Asia/Shanghai)."""
    if not value:
        if required:
            raise _Refused(f"no {name}", f"bad {name}")
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Refused(f"{name} {value!r} is not an ISO 8601 date and time", f"bad {name}") from None
    return moment.replace(tzinfo=LOCAL_TZ) if moment.tzinfo is None else moment


def _sha256(path: Path) -> str:
    """The file's contents' hash (a Shapefile's attributes are in its .dbf: that too)."""
    h = hashlib.sha256()
    parts = [path] + ([path.with_suffix(".dbf")] if path.suffix.lower() == ".shp" else [])
    for part in parts:
        if part.exists():
            with open(part, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()

