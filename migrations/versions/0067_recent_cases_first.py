"""The reference checks look among the recent months first

Migration 0060 keeps the foreign keys to ``cases(id)`` with statement triggers, and 0062 counts
a case this transaction wrote without locking it again. Both find the named cases by id alone,
which no month partition can be pruned by: each check opened and probed the id index of every
month (17 in the demo town), three times for each report (its events, its clocks, its probable
duplicate). Measured on 2026-12-02, the demo town at 300 reports/s (wrk paced, 4 alternating
rounds of 30 s, same machine, same hour): with the four checks switched off PostgreSQL spent
1.6 ms of CPU per report against 2.1 ms with them, and the intake's p99 was 21.6 ms against
34.5 ms; the same town with every row in one partition: 13.0 ms against 27.4 ms.

A report's events and clocks name the case the same statement inserted, and its probable
duplicate was reported within the last 24 hours: all in the newest month or two. So each check
now looks first among the cases created since a day before the statement began
(``created_at >= statement_timestamp() - RECENT``, which prunes the older months when the
statement starts, generic plan or not), and only when that leaves some named case unfound does
it look in every month, as before. The rules are those of 0062: a case this transaction wrote
is counted without a lock, every other one is locked FOR KEY SHARE first (a row this transaction
locked already is not written again), and the statement fails if one is missing.

Measured after the change (2026-12-02, the same way, 4 rounds alternating with 0062's checks):
each check of a report reads 6 buffers, not 34, with 12 of the 17 months pruned (auto_explain);
PostgreSQL's CPU per report 1.90–2.00 ms against 2.02–2.16 ms (rounds 2–4; the first, with the
machine busy elsewhere, 3.1 against 2.7); the intake's p99 in those rounds was too noisy to
tell the two apart (25.7–39.1 against 17.1–37.0 ms). What remains of the month partitions' cost
is not in these checks alone.


Revision ID: 0067
Revises: 0066
"""

import importlib

from alembic import op

revision = "0067"
down_revision = "0066"
branch_labels = None
depends_on = None

_0060 = importlib.import_module("migrations.versions.0060_month_partitions")
_0062 = importlib.import_module("migrations.versions.0062_own_rows_held")

# how far back "recent" reaches: a case created (by its created_at) since this long before the
# statement began. An import's cases may carry an older created_at: they are found by the full
# check, only slower.
RECENT = "1 day"

# 0062's function with its branch for few rows replaced (the lines from ``IF wanted <=`` to the
# ``ELSE`` of the many), and a line more in its heading comment
FEW_ROWS = """    IF wanted <= {planned_once} THEN
        -- few rows (an intake, a transition): static SQL, planned once per session; the
        -- months before the recent ones are pruned when the statement starts
        SELECT count(DISTINCT c.id) INTO own
          FROM new_rows n JOIN cases c ON c.id = n.{column}
         WHERE c.xmin = me AND c.created_at >= statement_timestamp() - interval '{recent}';
        IF own < wanted THEN
            SELECT count(DISTINCT l.id) INTO locked
              FROM (SELECT c.id FROM new_rows n JOIN cases c ON c.id = n.{column}
                     WHERE c.xmin <> me
                       AND c.created_at >= statement_timestamp() - interval '{recent}'
                       FOR KEY SHARE OF c) l;
        END IF;
        IF own + locked < wanted THEN
            -- an older case among them: every month, as before
            SELECT count(DISTINCT c.id) INTO own
              FROM new_rows n JOIN cases c ON c.id = n.{column} WHERE c.xmin = me;
            SELECT count(DISTINCT l.id) INTO locked
              FROM (SELECT c.id FROM new_rows n JOIN cases c ON c.id = n.{column}
                     WHERE c.xmin <> me FOR KEY SHARE OF c) l;
        END IF;
"""
_HEAD, _REST = _0062.EXIST.split("    IF wanted <= {planned_once} THEN\n", 1)
_MANY = _REST[_REST.index("    ELSE\n"):]
_HEADING_MORE = ("-- counted. The recent months first (migration 0067), every month only for "
                 "what they lack.\n")
EXIST = _HEAD.replace("-- counted.\n", _HEADING_MORE, 1) + FEW_ROWS + _MANY


def upgrade() -> None:
    for table, column, _ in _0060.REFERENCES:
        op.execute(EXIST.format(table=table, column=column, planned_once=_0062.PLANNED_ONCE,
                                recent=RECENT))


def downgrade() -> None:
    for table, column, _ in _0060.REFERENCES:
        op.execute(_0062.EXIST.format(table=table, column=column,
                                      planned_once=_0062.PLANNED_ONCE))
