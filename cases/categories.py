"""The case categories, kept as data: ``cases/data/categories.csv`` seeds the ``categories``
table, and ``categories(session)`` is the one way the code reads it (intake, the tiles' and
hot spots' category filters, ``GET /api/v1/categories``)."""

from __future__ import annotations

import csv
from importlib import resources
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from cases import repository
from cases.cache import PerDatabase


def category_rows() -> list[dict]:
    """The shipped categories, as dicts with the table's columns."""
    with resources.files("cases").joinpath("data/categories.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["parent_code"] = row["parent_code"] or None
        row["limit_value"] = int(row["limit_value"])
        row["weight"] = int(row["weight"])
    return rows


def seed_categories(conn: Connection) -> None:
    """Insert the shipped categories that the table lacks; never overwrites an administrator's edit."""
    conn.execute(
        text(
            "INSERT INTO categories (code, parent_code, checklist, name_zh, name_en, limit_value, limit_unit, weight) "
            "VALUES (:code, :parent_code, :checklist, :name_zh, :name_en, :limit_value, :limit_unit, :weight) "
            "ON CONFLICT (code) DO NOTHING"
        ),
        category_rows(),
    )


def _by_code(session: Session) -> dict[str, dict[str, Any]]:
    return {row["code"]: row for row in repository.categories(session)}


_cached = PerDatabase(_by_code)


def categories(session: Session) -> dict[str, dict[str, Any]]:
    """Every category of the session's database by code, checklists first (the table's order,
    see repository.categories); cached per process, cases/cache.py."""
    return _cached.get(session)


def clear_cache() -> None:
    """Forget the cached categories (after an administrator changed the table)."""
    _cached.clear()
