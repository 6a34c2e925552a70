"""The checked columns of cases and their clocks as domains, not CHECK constraints

PostgreSQL reads a table's CHECK constraints back from their stored text for every INSERT or
UPDATE statement (once per statement, not per row) and prepares them again; migration 0069
made each one constant array, and they still cost 0.26 M of the 3.83 M instructions
PostgreSQL spends on a report (callgrind, bench/intake_instructions.py --keep-counts,
2026-12-04: ``stringToNode`` called by ``ExecConstraints``), and every transition pays those of
cases again. A domain's CHECK is kept prepared in the connection's type cache instead: read
once per connection, and tested only where a statement writes the column.

The same rules, the same SQLSTATE for a value outside them (23514, check_violation), now named
by the domain: ``gridgov_case_status``, ``gridgov_case_channel``, ``gridgov_satisfaction``,
``gridgov_geocode_precision``, ``gridgov_queue`` (queue, sender_level and closed_level) and
``gridgov_clock``, each over the column's own varchar, so the columns' values are unchanged.
PostgreSQL rebuilds the indexes that name them; the partial ones whose predicates name them are
dropped before and made again after from their own definitions instead, so that their
predicates read as a new index's on the domain does (the models', tests/test_migrations.py).
cases/models.py declares the domains.

Measured (bench/intake_instructions.py, one run each, this migration written as a trial on
top of 0075): 3.58 M instructions a report with month partitions against 3.83 M; 3.48 M flat
against 3.74 M.

Revision ID: 0076
Revises: 0075
"""

import importlib
import re

import sqlalchemy as sa
from alembic import op

revision = "0076"
down_revision = "0075"
branch_labels = None
depends_on = None

_0069 = importlib.import_module("migrations.versions.0069_checks_as_constants")

# (CHECK constraint of 0069, domain, varchar length)
DOMAINS = {
    "ck_cases_status": ("gridgov_case_status", 20),
    "ck_cases_channel": ("gridgov_case_channel", 20),
    "ck_cases_satisfaction": ("gridgov_satisfaction", 20),
    "ck_cases_precision": ("gridgov_geocode_precision", 10),
    "ck_cases_queue": ("gridgov_queue", 10),
    "ck_cases_sender_level": ("gridgov_queue", 10),
    "ck_cases_closed_level": ("gridgov_queue", 10),
    "ck_case_deadlines_clock": ("gridgov_clock", 20),
}
TABLES = ("cases", "case_deadlines")


def _indexes_naming(table: str, columns: list[str]) -> list[tuple[str, str]]:
    """(name, definition) of ``table``'s indexes whose predicate or expressions name one of
    ``columns``: made again after the type changes, so PostgreSQL spells them for the new one."""
    rows = op.get_bind().execute(sa.text(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = CAST(:t AS regclass)"
        " AND (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL)"), {"t": table}).all()
    named = re.compile(r"\b(" + "|".join(columns) + r")\b")
    # a partitioned table's index reads "ON ONLY": made again on the table, with its partitions'
    return [(name, _as_written(ddl.replace(" ON ONLY ", " ON ", 1))) for name, ddl in rows
            if named.search(ddl.split(" USING ", 1)[1])]


# PostgreSQL's spellings of ``status NOT IN ('closed', …)`` (by the column's type and the
# parse that wrote it), which it would parse again as they read, casts and all; written back as
# the models write it, each is parsed on the new type as a new index's predicate is
_LIST = re.compile(r"\(\((\w+)\)::text (<> ALL|= ANY) \((\(?ARRAY\[[^\]]*\]\)?(?:::text\[\])?)\)\)")


def _as_written(ddl: str) -> str:
    def written(m: re.Match) -> str:
        values = ", ".join(f"'{v}'" for v in re.findall(r"'([^']*)'::character varying", m[3]))
        return f"({m[1]} {'NOT IN' if m[2] == '<> ALL' else 'IN'} ({values}))"
    return _LIST.sub(written, ddl)


def _altered(table: str, steps: list[str], columns: list[str]) -> None:
    # one ALTER TABLE a table: its rows are checked and its other indexes rebuilt once
    again = _indexes_naming(table, columns)
    for name, _ in again:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER TABLE {table} " + ", ".join(steps))
    for _, ddl in again:
        op.execute(ddl)


def upgrade() -> None:
    made = set()
    for table in TABLES:
        steps, columns = [], []
        for t, name, column, values, _nullable in _0069.CHECKS:
            if t != table:
                continue
            domain, length = DOMAINS[name]
            if domain not in made:
                # NULL passes a domain's check, as it passed the column's
                check = _0069._constant("VALUE", values, False)
                op.execute(f"CREATE DOMAIN {domain} AS varchar({length}) CHECK ({check})")
                made.add(domain)
            steps += [f"DROP CONSTRAINT {name}", f"ALTER COLUMN {column} TYPE {domain}"]
            columns.append(column)
        _altered(table, steps, columns)


def downgrade() -> None:
    for table in TABLES:
        steps, columns = [], []
        for t, name, column, values, nullable in _0069.CHECKS:
            if t == table:
                constant = _0069._constant(column, values, nullable)
                steps += [f"ALTER COLUMN {column} TYPE varchar({DOMAINS[name][1]})",
                          f"ADD CONSTRAINT {name} CHECK ({constant})"]
                columns.append(column)
        _altered(table, steps, columns)
    for domain in sorted({d for d, _ in DOMAINS.values()}):
        op.execute(f"DROP DOMAIN {domain}")
