"""The reference checks answer the common case without counting

Each reference check (migrations 0060, 0062, 0067, 0068) began by counting the distinct cases
its statement's rows name, then counted those this transaction wrote: two aggregates with
DISTINCT, each set up again for every statement (a DISTINCT aggregate prepares its own sort).
An intake fires four of these checks (its event's and its clocks' case, and the case's
``merged_into`` and ``probable_duplicate_of``), a transition one; on an intake, setting up
those aggregates cost 0.27 M of the 3.95 M instructions PostgreSQL spent on a report
(callgrind, bench/intake_instructions.py, 2026-12-03).

Now, before counting:

- rows that name no case (``merged_into`` and, on most reports, ``probable_duplicate_of``):
  one look for a row that names one, and done;
- a few rows (no more than ``PLANNED_ONCE``, known without counting: the row after them is
  looked for): one look for a named case that is not a recent row version of this
  transaction's own; none, and done. That is the intake's event and clocks: their case was
  written by the same statement.

Anything else goes on to the counting of migration 0068, unchanged: the same rows pass and
fail as before (tests/test_partitions.py checks both).

Counted the same way, against 0071 on the same machine: 3.95 → 3.85 M a report with month
partitions, 3.80 → 3.71 M with every case in the DEFAULT partition; the AFTER triggers 0.63 →
0.54 M (the lookups cost part of what the aggregates did).

Revision ID: 0072
Revises: 0071
"""

import importlib

from alembic import op

revision = "0072"
down_revision = "0071"
branch_labels = None
depends_on = None

_0060 = importlib.import_module("migrations.versions.0060_month_partitions")
_0062 = importlib.import_module("migrations.versions.0062_own_rows_held")
_0067 = importlib.import_module("migrations.versions.0067_recent_cases_first")
_0068 = importlib.import_module("migrations.versions.0068_recent_cases_bounded")

# PERFORM sets FOUND; a lookup without an aggregate sets up a scan of the statement's rows and,
# for the second, index probes into the recent months (0068's bounds: pruned when it starts)
FIRST = ("""BEGIN
    -- the common cases first, without counting (migration 0072)
    PERFORM 1 FROM new_rows n WHERE n.{column} IS NOT NULL LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM new_rows n OFFSET {planned_once} LIMIT 1;
    IF NOT FOUND THEN
        PERFORM 1 FROM new_rows n
         WHERE n.{column} IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM cases c
                            WHERE c.id = n.{column} AND c.xmin = me
                              AND """ + _0068._bounded(30) + """)
         LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;  -- every case named is one this transaction wrote, recently
        END IF;
    END IF;
""")
assert _0068.EXIST.count("\nBEGIN\n") == 1, "0068's text changed"
EXIST = (_0068.EXIST
         .replace("\nBEGIN\n", "\n" + FIRST, 1)
         .replace("-- counted. The recent months first (migrations 0067, 0068)",
                  "-- counted. Rows naming no case, or only cases of its own, need no count "
                  "(migration 0072).\n-- The recent months first (migrations 0067, 0068)", 1))


def _each(text: str) -> None:
    for table, column, _ in _0060.REFERENCES:
        op.execute(text.format(table=table, column=column, planned_once=_0062.PLANNED_ONCE,
                               recent=_0067.RECENT))


def upgrade() -> None:
    _each(EXIST)


def downgrade() -> None:
    _each(_0068.EXIST)
