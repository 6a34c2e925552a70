"""The reference checks look up the recent cases by key, in the months of those days only

Migration 0067 has each check look first among the cases created since a day before the
statement began. A lower bound alone prunes the older months but keeps every month made ahead
(three, by the background worker) and the DEFAULT partition: each check of a report set up a
scan of five tables where one holds the case. Now the recent cases are those created within a
day either side of the statement's start, and the months made ahead and the DEFAULT partition
are pruned too. The upper bound is written ``<= ANY (ARRAY[…])``: as a second comparison of
created_at the planner would take the two for a narrow range (0.5 % of the rows) and might
read the day's cases by ix_cases_created_at rather than each named case by its key (the
duplicate check of cases/queries.sql's insert is written the same way, for the same reason). A
case created outside the two days (an import's, a clock far off) is found by the full check,
as before.

The functions also run with ``enable_seqscan = off`` (their many rows' branch turns it back
on): a few named cases are always found by their key. A month's partition is nearly empty at
its start, and so is the demo's current month as loaded; a check planned then read the whole
month with a sequential scan, a longer read with every report, until an ANALYZE of the month
made new plans.

Counted in instructions (bench/intake_instructions.py: PostgreSQL under callgrind, 400 reports
through cases.intake after a day of steady intake, 2026-12-02), this migration with
cases/queries.sql's bound and migration 0069 against the commit before them: 4.26 → 3.90 M a
report with month partitions, 3.92 → 3.75 M with every case in the DEFAULT partition (the
partitions' extra cost 0.33 → 0.14 M); setting up the statements' plans 1.04 → 0.90 M with the
partitions. The setting costs each of a report's four check calls a few thousand instructions
(0.52 → 0.58 M for the AFTER triggers without partitions); on the demo as loaded, without the
day of intake and without ANALYZE, the checks cost 1.67 M a report without it and 1.40 M with
it, 620 reports in.

Revision ID: 0068
Revises: 0067
"""

import importlib

from alembic import op

revision = "0068"
down_revision = "0067"
branch_labels = None
depends_on = None

_0060 = importlib.import_module("migrations.versions.0060_month_partitions")
_0062 = importlib.import_module("migrations.versions.0062_own_rows_held")
_0067 = importlib.import_module("migrations.versions.0067_recent_cases_first")

_LOWER = "c.created_at >= statement_timestamp() - interval '{recent}'"


def _bounded(indent: int) -> str:
    """The recent days, bounded below and above, the upper bound on a line of its own."""
    return (_LOWER + "\n" + " " * indent
            + "AND c.created_at <= ANY (ARRAY[statement_timestamp() + interval '{recent}'])")


# 0067's function with both recent lookups bounded above as well as below, and its few rows'
# statements probing cases by key whatever the statistics say (the heading says why)
EXIST = (_0067.EXIST
         .replace("         WHERE c.xmin = me AND " + _LOWER + ";",
                  "         WHERE c.xmin = me AND " + _bounded(11) + ";", 1)
         .replace("                       AND " + _LOWER + "\n",
                  "                       AND " + _bounded(23) + "\n", 1)
         .replace("-- months before the recent ones are pruned when the statement starts",
                  "-- months other than the recent ones are pruned when the statement starts", 1)
         .replace("-- counted. The recent months first (migration 0067)",
                  "-- counted. The recent months first (migrations 0067, 0068)", 1)
         .replace("RETURNS trigger LANGUAGE plpgsql AS $$",
                  "RETURNS trigger LANGUAGE plpgsql SET enable_seqscan = off AS $$", 1)
         .replace("        -- every partition for each of them\n",
                  "        -- every partition for each of them; here scanning months is allowed\n"
                  "        SET LOCAL enable_seqscan = on;\n", 1))
assert EXIST.count("<= ANY (ARRAY[statement_timestamp()") == 2, "0067's text changed"
assert EXIST.count("enable_seqscan") == 2, "0067's text changed"


def upgrade() -> None:
    for table, column, _ in _0060.REFERENCES:
        op.execute(EXIST.format(table=table, column=column, planned_once=_0062.PLANNED_ONCE,
                                recent=_0067.RECENT))


def downgrade() -> None:
    for table, column, _ in _0060.REFERENCES:
        op.execute(_0067.EXIST.format(table=table, column=column,
                                      planned_once=_0062.PLANNED_ONCE, recent=_0067.RECENT))
