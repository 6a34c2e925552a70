"""town_today(): the town's date (Asia/Shanghai), whatever the database session's time zone

Who is on duty (grid_assignments.since/until) was compared with ``current_date``, the date in
the session's TimeZone: on a server in UTC, from 00:00 to 08:00 Beijing time an assignment
ending yesterday still routed cases and one starting today did not yet (found by a test run at
01:00 Beijing time: the public board's 90 days, counted by the test with ``current_date``,
were a day behind the board's). Every such comparison now uses town_today(); a new
assignment's ``since`` defaults to it. China keeps one time zone, so the function names it
(as cases/board.py and cases/deadlines.py do).

Revision ID: 0036
Revises: 0035
"""

from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION town_today() RETURNS date LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date $$;
        ALTER TABLE grid_assignments ALTER COLUMN since SET DEFAULT town_today();
    """)


def downgrade() -> None:
    op.execute("""
        ALTER TABLE grid_assignments ALTER COLUMN since SET DEFAULT CURRENT_DATE;
        DROP FUNCTION town_today();
    """)
