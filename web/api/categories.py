"""``GET /api/v1/categories``: the case categories with their time limits, as a tree."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from accounts.access import PUBLIC, allow
from cases.categories import categories
from cases.models import LIMIT_UNITS
from web.api import operation
from web.database import session


class TimeLimit(BaseModel):
    value: int = Field(description="how many units")
    unit: Literal[LIMIT_UNITS] = Field(  # type: ignore[valid-type]
        description="urgent_hours: continuous hours; working_hours: inside 08–12 and 14–18 of "
                    "working days; working_days: 8 working hours each; calendar_days: 24 h each"
    )


class SubcategoryOut(BaseModel):
    code: str = Field(examples=["patrol.exposed_rubbish"])
    parent_code: str | None
    checklist: Literal["regional", "service"]
    name_zh: str
    name_en: str
    time_limit: TimeLimit


class CategoryOut(SubcategoryOut):
    subcategories: list[SubcategoryOut]


class CategoriesOut(BaseModel):
    categories: list[CategoryOut] = Field(
        description="the eight checklists (four of regional grids, four of service grids), "
                    "each with its subcategories"
    )


def _entry(row: dict) -> dict:
    return {
        "code": row["code"], "parent_code": row["parent_code"], "checklist": row["checklist"],
        "name_zh": row["name_zh"], "name_en": row["name_en"],
        "time_limit": {"value": row["limit_value"], "unit": row["limit_unit"]},
    }


def category_tree(rows: list[dict]) -> list[dict]:
    """Top-level categories (the checklists) with their subcategories, in table order."""
    top = [dict(_entry(r), subcategories=[]) for r in rows if r["parent_code"] is None]
    by_code = {t["code"]: t for t in top}
    for r in rows:
        if r["parent_code"] is not None and r["parent_code"] in by_code:
            by_code[r["parent_code"]]["subcategories"].append(_entry(r))
    return top


@allow(PUBLIC)
@operation(
    "/categories", summary="List the case categories and their time limits", tags=["cases"],
    responses={200: ("the categories as a tree", CategoriesOut)},
)
def list_categories():
    """The regional-grid and service-grid checklists (DOMAIN.md) as the top level, their
    subcategories below; each with its time limit (a value and a unit). Any code listed may
    be sent as a case's ``category``. The table is data an administrator can extend."""
    rows = list(categories(session()).values())
    return {"categories": category_tree(rows)}
