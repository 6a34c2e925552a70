"""The intake's insert finds its probable duplicate by the open cases' GiST index, also when it
planned on a month that was nearly empty

The insert (the function insert_case, migration 0070) runs on a generic plan, made by each
connection at its first call and kept until an ANALYZE of a table it reads. When the current
month's partition held a few dozen cases at that first call, the plan read the month whole (a
sequential scan) or looked up the 24 h in its created_at index (a bitmap scan), instead of the
point's box in ix_cases_open_geom: a handful of rows either way, then. Under a steady intake the
month grows by thousands of cases before autovacuum analyzes it and the plan is made again, and
until then every insert read all of the month's new cases. Seen in the live-streams benchmark
right after the demo's load (2026-12-03, 36 cases in December): for the first minute and a half
at 300 reports/s the server's connections took 1.2–1.3 cores, 7 ms of CPU a report against 1.8
ms once the month had been analyzed, and the intake's p99 was 78–500 ms (perf on the backends:
heap_hot_search_buffer and the visibility checks of the day's rows).

Now the statement's box is written on the function's parameters (``p_lon``, ``p_lat``) rather
than on the CTE ``pt``, so that the box is an index condition of its own and not the inner side
of a join with ``pt``, and the function runs with ``enable_seqscan`` and ``enable_bitmapscan``
off (the reference checks run with the first, migration 0068, for the same reason). On a fresh
benchmark database (36 cases in December at the first call; auto_explain, 2026-12-03) the plan
read the day by created_at with 0070's function, and with enable_seqscan off alone too; with
both settings it reads the box in the month's copy of ix_cases_open_geom (an index scan: with a
handful of cases in the box a bitmap saves nothing). tests/test_duplicates.py makes the plan on
a month of 20 cases, fills the month and reads the plan of the next insert, with the settings
and without them. With 10 cases at the first call the plan still read the day by created_at
(every path is costed at one row then, and the planner chooses by small fixed costs): a
managed cluster's autovacuum now visits every 10 s (db/cluster.py), and a month analyzed
again makes every connection plan again.

Once the month is large nothing changes: instructions a report (bench/intake_instructions.py,
PostgreSQL under callgrind after a day of steady intake, 2026-12-03) 3.93 → 3.95 M with month
partitions, 3.78 → 3.80 M without.

The rest of the statement is migration 0070's, unchanged.

Revision ID: 0071
Revises: 0070
"""

import importlib

from alembic import op

revision = "0071"
down_revision = "0070"
branch_labels = None
depends_on = None

_0070 = importlib.import_module("migrations.versions.0070_insert_case_function")

_SETTING = "SET plan_cache_mode = force_generic_plan\n"
assert _0070.FUNCTION.count(_SETTING) == 1
_BOX = """\
          FROM cases c, pt
         WHERE c.geom && ST_Expand(pt.geom, 50.5 / (111320 * cos(radians(CAST(p_lat AS float8)))),
                                   50.5 / 110574)
"""
_BOX_OF_PARAMETERS = """\
          FROM cases c
         WHERE c.geom && ST_Expand(ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326),
                                   50.5 / (111320 * cos(radians(p_lat))), 50.5 / 110574)
"""
assert _0070.FUNCTION.count(_BOX) == 1
FUNCTION = (_0070.FUNCTION
            .replace(_SETTING, _SETTING + "SET enable_seqscan = off\nSET enable_bitmapscan = off\n")
            .replace(_BOX, _BOX_OF_PARAMETERS))


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(_0070.FUNCTION)  # CREATE OR REPLACE: the function's settings are the text's
