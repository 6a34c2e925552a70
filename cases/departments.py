"""The town's departments a case can be dispatched to (职能部门; DOMAIN.md: the town center
holds the approval items of 11 county departments and the special functions 综治, 安全, 环保,
民生): data in ``cases/data/departments.csv``, read once per process. A department's code is
what an account of role ``department_handler`` has as its scope (accounts/actor.py)."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


@cache
def departments() -> dict[str, dict[str, str]]:
    """code -> {code, name_zh, name_en, note}, in the file's order."""
    with resources.files("cases").joinpath("data/departments.csv").open(encoding="utf-8") as fh:
        return {row["code"]: row for row in csv.DictReader(fh)}
