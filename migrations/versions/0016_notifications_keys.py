"""notifications without foreign keys: the supervision pass writes each with its event in one
statement (cases/models.py Notification says why)

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("notifications_case_id_fkey", "notifications", type_="foreignkey")
    op.drop_constraint("notifications_event_id_fkey", "notifications", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key("notifications_case_id_fkey", "notifications", "cases",
                          ["case_id"], ["id"])
    op.create_foreign_key("notifications_event_id_fkey", "notifications", "case_events",
                          ["event_id"], ["id"])
