"""The intake's tables are analyzed when they have doubled, not at every tenth more

Every VACUUM or ANALYZE of a table makes each connection plan again, at its next call, every
statement it keeps that reads the table: the intake's insert (the function insert_case,
migrations 0070, 0071) reads cases, case_events and case_deadlines, and the reference checks
(migrations 0060 to 0072) read cases. Over 17 month partitions of 13 and 6 indexes, planning
them is dear: 18 ms for the insert, 9–10 ms for each check (pg_stat_statements with
track_planning, 2026-12-03). A managed cluster's autovacuum visits every 10 s (db/cluster.py),
and at PostgreSQL's defaults it vacuums a table after a fifth more rows were inserted and
analyzes it after a tenth more changed. Under a steady intake into a young month (the first
days of a month; the benchmarks' throwaway databases) that was every visit: each 10 s, within
half a second, six vacuums and analyzes of the current month of cases and of case_events and of
case_deadlines, and the 8 connections of ``gridgov serve`` planning again after each, a second
or more of CPU at once. Seen at 300 reports/s on a fresh demo database (40 s, paced, timed per
second): every 10 s a stall of 1–4 s with answers of 150–470 ms, p99 284 and 360 ms in two
runs; 90 plans of the insert in 30 s.

Now the month partitions of cases and case_events, those made from now on
(``gridgov_make_month_partitions``) and those that exist, and case_deadlines are vacuumed for
their inserts and analyzed when the rows added or changed since the last time are as many as
the table held then (``autovacuum_vacuum_insert_scale_factor`` and
``autovacuum_analyze_scale_factor`` 1.0, for the defaults' 0.2 and 0.1): a month is analyzed at
about 100, 200, 400, … rows, a handful of times in its first day at any pace, then a few more
as it fills. Its statistics may be half its size: the plans these tables' statements take do
not change with size once a month holds more than a few dozen rows (migrations 0068, 0071),
and the 10 s visit still analyzes a month that fills fast soon after it doubles.

Measured (bench/intake_timeline.py, ``--sql`` resetting these settings for the defaults)
with PostgreSQL's defaults on these tables and with these settings, 300 reports/s paced over
8 connections on ``gridgov serve``'s defaults, a fresh demo database each run, 2026-12-03
(the same machine, one run after the other):

- while the machine was fast (``python -m timeit "sum(range(1000000))"`` 12–13 ms): p99 284
  and 360 ms (40 s, 30 s) against 171 ms (40 s); in a pair of 60 s runs 199.6 against 96.6 ms,
  p90 25.1 against 16.9 ms, two stalls in the minute instead of six; the insert planned 90
  times in 30 s with the defaults;
- later, while it was slow (14.5–18.3 ms): four pairs in alternating order, defaults against
  these settings, p99 358 / 567, 1706 / 4156, 452 / 582, 3641 / 479 ms: the server no longer
  kept up with 300 reports/s in any of them (its p50 rose to 0.4–2.9 s in some), and the
  figures say nothing either way.

Revision ID: 0073
Revises: 0072
"""

import importlib

from alembic import op

revision = "0073"
down_revision = "0072"
branch_labels = None
depends_on = None

_0060 = importlib.import_module("migrations.versions.0060_month_partitions")

# the storage parameters of a month partition and of case_deadlines (see above)
AUTOVACUUM = {"autovacuum_vacuum_insert_scale_factor": "1.0", "autovacuum_analyze_scale_factor": "1.0"}
_WITH = ", ".join(f"{k} = {v}" for k, v in AUTOVACUUM.items())
_CREATE = "EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',"
assert _0060.MAKE_PARTITIONS.count(_CREATE) == 1
MAKE_PARTITIONS = (_0060.MAKE_PARTITIONS
                   .replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
                   .replace(_CREATE, _CREATE[:-2] + f" WITH ({_WITH})',"))
ORIGINAL = _0060.MAKE_PARTITIONS.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)

# the month partitions of the partitioned tables (not their DEFAULT), and case_deadlines
_TABLES = """
    SELECT CAST(CAST(c.oid AS regclass) AS text)
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent IN (CAST('cases' AS regclass), CAST('case_events' AS regclass))
       AND c.relname ~ '_p[0-9]{4}_[0-9]{2}$'
    UNION ALL SELECT 'case_deadlines'
"""


def upgrade() -> None:
    op.execute(MAKE_PARTITIONS)
    for (table,) in op.get_bind().exec_driver_sql(_TABLES).fetchall():
        op.execute(f"ALTER TABLE {table} SET ({_WITH})")


def downgrade() -> None:
    op.execute(ORIGINAL)
    for (table,) in op.get_bind().exec_driver_sql(_TABLES).fetchall():
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(AUTOVACUUM)})")
