"""The checks of cases and their clocks as constant arrays

PostgreSQL reads a table's CHECK constraints from their stored text again for every INSERT or
UPDATE statement (once per statement, not per row), and prepares them again. ``status IN
('collected', …)`` on a varchar column is stored as an array of eleven varchar constants cast
to text[]; preparing it folds that cast again, each time. The seven checks of cases and the
one of case_deadlines cost 0.54 M of the 3.9–4.3 M instructions PostgreSQL spends on a report
(bench/intake_instructions.py, 2026-12-02: 67,000 a check), the same with month partitions and
without, and every transition pays those of cases again.

The same rules, written as one text[] constant each (``status::text = ANY ('{…}'::text[])``,
cases/models.py ``_one_of``): nothing to fold, and one constant to read: 0.31 M a report,
counted the same way.

Revision ID: 0069
Revises: 0068
"""

from alembic import op

revision = "0069"
down_revision = "0068"
branch_labels = None
depends_on = None

STATES = ("collected", "filed", "dispatched", "handling", "escalated", "fed_back", "closed",
          "evaluated", "returned", "parked", "voided")
CHANNELS = ("patrol", "resident", "hotline", "app", "sensor", "referral")
SATISFACTION = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied")
PRECISIONS = ("point", "door", "street", "village", "town")
QUEUES = ("grid", "village", "town", "department")
CLOCKS = ("dispatch", "accept", "handle", "check")

# (table, constraint, column, values, NULL allowed)
CHECKS = (
    ("cases", "ck_cases_status", "status", STATES, False),
    ("cases", "ck_cases_channel", "channel", CHANNELS, False),
    ("cases", "ck_cases_satisfaction", "satisfaction", SATISFACTION, True),
    ("cases", "ck_cases_precision", "geocode_precision", PRECISIONS, True),
    ("cases", "ck_cases_queue", "queue", QUEUES, True),
    ("cases", "ck_cases_sender_level", "sender_level", QUEUES, True),
    ("cases", "ck_cases_closed_level", "closed_level", QUEUES, True),
    ("case_deadlines", "ck_case_deadlines_clock", "clock", CLOCKS, False),
)


def _constant(column: str, values: tuple[str, ...], nullable: bool) -> str:
    check = f"{column}::text = ANY ('{{{','.join(values)}}}'::text[])"
    return f"{column} IS NULL OR {check}" if nullable else check


def _in(column: str, values: tuple[str, ...], nullable: bool) -> str:
    check = f"{column} IN ({', '.join(repr(v) for v in values)})"
    return f"{column} IS NULL OR {check}" if nullable else check


def _replace(write) -> None:
    # one ALTER TABLE a table: the new checks are validated in one pass over its rows
    for table in ("cases", "case_deadlines"):
        steps = []
        for t, name, column, values, nullable in CHECKS:
            if t == table:
                steps += [f"DROP CONSTRAINT {name}",
                          f"ADD CONSTRAINT {name} CHECK ({write(column, values, nullable)})"]
        op.execute(f"ALTER TABLE {table} " + ", ".join(steps))


def upgrade() -> None:
    _replace(_constant)


def downgrade() -> None:
    _replace(_in)
