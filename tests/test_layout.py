"""The shape of the code (DESIGN.md): geo/ is the pure spatial core, and web/ holds no SQL."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"flask", "sqlalchemy", "geoalchemy2", "psycopg", "web", "cases", "boundaries", "tiles", "db", "demo"}


def test_geo_imports_no_framework_driver_or_outer_package():
    offenders = []
    for path in (ROOT / "geo").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


# -- no SQL in web/ (DESIGN.md: SQL lives in repositories or .sql files next to them) ------------

WEB = ROOT / "web"
# SQLAlchemy's statement builders, and psycopg's: what a module writes SQL with
SQL_BUILDERS = {"text", "select", "insert", "update", "delete", "literal_column", "table", "column",
                "sql", "func"}
SQL_MODULES = {"sqlalchemy", "sqlalchemy.sql", "sqlalchemy.sql.expression", "psycopg", "psycopg.sql"}
# a statement in a string: upper-case keywords, as every statement of ours is written
SQL_STATEMENT = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE FROM\b"
    r"|\b(CREATE|ALTER|DROP) (TABLE|INDEX|VIEW|FUNCTION)\b"
)
# The one statement web/ may run itself: the live hub's LISTEN on its own connection, which
# reads no data (web/live.py).
EXECUTE_ALLOWED = {"web/live.py"}


def sql_in(path: Path) -> list[str]:
    """Where the module at ``path`` builds, reads or runs SQL: imports of statement builders,
    SQL statements in string literals, .sql file names, and .execute() calls."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in SQL_MODULES:
            found += [f"{name}:{node.lineno}: imports {node.module}.{a.name}"
                      for a in node.names if a.name in SQL_BUILDERS]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL_STATEMENT.search(node.value):
                found.append(f"{name}:{node.lineno}: SQL in a string")
            elif node.value.endswith(".sql"):
                found.append(f"{name}:{node.lineno}: names a .sql file")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("execute", "executemany", "exec_driver_sql")
              and name not in EXECUTE_ALLOWED):
            found.append(f"{name}:{node.lineno}: runs a statement (.{node.func.attr})")
    return found


def test_no_module_in_web_builds_reads_or_runs_sql():
    assert [hit for path in sorted(WEB.rglob("*.py")) for hit in sql_in(path)] == []


@pytest.mark.parametrize(
    "source",
    [
        "from sqlalchemy import text\n",
        "from psycopg import sql\n",
        'Q = "SELECT code FROM categories ORDER BY code"\n',
        'Q = """\n    UPDATE cases\n       SET status = :s\n"""\n',
        'NAME = "grids.sql"\n',
        "def view(session):\n    return session.execute(QUERY)\n",
    ],
)
def test_the_sql_check_finds_sql_added_to_a_view(tmp_path, source):
    path = tmp_path / "view.py"
    path.write_text(source, encoding="utf-8")
    assert sql_in(path) != []


def test_the_sql_check_lets_words_that_are_not_sql_pass(tmp_path):
    path = tmp_path / "view.py"
    path.write_text('WORDS = {"select": "Select a category from the list", "update": "Updated"}\n'
                    "from sqlalchemy.orm import Session\n", encoding="utf-8")
    assert sql_in(path) == []
