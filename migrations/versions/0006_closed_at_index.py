"""an index on cases.closed_at for the day's numbers (closed today, recent satisfaction)

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_cases_closed_at ON cases (closed_at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_cases_closed_at")
