"""intake: indexes for assignment by open cases and for listing a village's cases

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Assignment compares the open cases of a grid's workers on duty on every new case
# (cases/assignment.py); a partial index holds only open cases, so the count reads a few
# dozen index entries per worker instead of every case the worker ever had. The predicate is
# the literal list of closed states (cases.models.CLOSED_STATES): the query in
# cases/queries.sql repeats it word for word, which is what lets the planner use the index.
OPEN_PREDICATE = "status NOT IN ('closed', 'evaluated', 'voided')"


def upgrade() -> None:
    op.create_index("ix_cases_open_assignee", "cases", ["assignee_id"], unique=False,
                    postgresql_where=sa.text(OPEN_PREDICATE))
    # GET /api/v1/cases?grid=<administrative grid> matches admin_code
    op.create_index("ix_cases_admin_code", "cases", ["admin_code"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_admin_code", table_name="cases")
    op.drop_index("ix_cases_open_assignee", table_name="cases")
