"""login lockout: an account's failed sign-ins in a row, and until when it is locked

Revision ID: 0033
Revises: 0032
"""

from alembic import op
import sqlalchemy as sa

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("failed_logins", sa.Integer, nullable=False,
                                        server_default="0"))
    op.add_column("accounts", sa.Column("locked_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("accounts", "locked_until")
    op.drop_column("accounts", "failed_logins")
