"""The closed cases of one town, newest closed first: what one town's public board reads

The public board (cases/board.sql) shows a town's cases closed in the last 90 days, newest
first, a page at a time, and counts them. ix_cases_closed_at finds the window but not the
town: in a province of 1,000 towns it read every town's closed cases of 90 days to keep one
town's. Partial, as the board's rows are: the state list is written literally, as board.sql
writes it, so the planner matches the predicate; ``id`` last, so a backward scan gives the
board's order (closed_at DESC, id DESC) with no sort. Built on the parent, so on every month's
partition (migration 0060).

Revision ID: 0063
Revises: 0062
"""

from alembic import op

revision = "0063"
down_revision = "0062"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_cases_board ON cases (town_code, closed_at, id) "
               "WHERE status IN ('closed', 'evaluated')")


def downgrade() -> None:
    op.execute("DROP INDEX ix_cases_board")
