"""``GET /api/v1/compliance``: visit compliance (巡访合规) per grid, grid worker or village for
a month, in JSON or CSV (field/compliance.py says how it is counted)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Response
from pydantic import BaseModel, Field

from accounts.access import allow
from cases.deadlines import LOCAL_TZ
from field import compliance
from field.rules import parse_month
from web.api import CSV, Media, operation
from web.auth import current_actor
from web.database import session

# the centers' operators, the leaders (a grid leader: its village) and the administrator
COMPLIANCE_ROLES = ("town_operator", "town_leader", "village_operator", "grid_leader", "admin")


class ComplianceQuery(BaseModel):
    level: Literal["grid", "worker", "village"] = Field(
        "grid", description="grid (leaf grids), worker (grid workers) or village")
    period: str | None = Field(None, pattern=r"^\d{4}-\d{2}$",
                               description="a month, YYYY-MM (default: the current month)")
    format: Literal["json", "csv"] = Field("json", description="json, or csv (UTF-8 with BOM)")


class ComplianceRow(BaseModel):
    code: str = Field(description="grid code, the person's id, or the 12-digit village code")
    name: str
    targets: int = Field(description="visits due in the month")
    visited_on_time: int
    share: float | None = Field(description="visited_on_time / targets")
    overdue: int = Field(description="visits due whose period ended without one")


class OverdueVisit(BaseModel):
    key: str
    grid_code: str
    every: Literal["month", "week"]
    due_by: str


class ComplianceOut(BaseModel):
    period: str
    level: str
    rows: list[ComplianceRow]
    overdue: list[OverdueVisit]


@allow(*COMPLIANCE_ROLES)
@operation(
    "/compliance", summary="Visit compliance (巡访合规) for a month, with the overdue visits",
    tags=["visits"], query=ComplianceQuery,
    responses={200: ("the figures (or with `format=csv`, the `rows` as CSV)",
                     Media({"application/json": ComplianceOut, "text/csv": CSV}))},
    errors={422: "invalid_query or invalid_period"},
)
def get_compliance(query: ComplianceQuery):
    """Per leaf grid, grid worker or village of the account's scope: the visits due in the
    month (each monthly target once, each weekly target once per ISO week ending in the
    month), those made on time, the share, and those overdue (period ended without a visit);
    `overdue` lists each overdue visit. A grid worker answers for the targets of the grids
    assigned to them; a visit by anyone of the grid counts."""
    month = parse_month(query.period, datetime.now(LOCAL_TZ).date())
    result = compliance.compliance(session(), current_actor(), query.level, month)
    if query.format == "csv":
        name = f"compliance-{query.level}-{result['period']}.csv"
        return Response(compliance.to_csv(result["rows"]),
                        headers={"Content-Disposition": f'attachment; filename="{name}"'},
                        content_type="text/csv; charset=utf-8")
    return result
