"""The case categories, kept as data: ``cases/data/categories.csv`` seeds the ``categories`` table."""

from __future__ import annotations

import csv
from importlib import resources

from sqlalchemy import Connection, text


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
