"""the workflow: where a case sits (department, who sent it, who closed it, parking, a pending
extension, a merge), who did each event and what they saw, and each clock's unit

Revision ID: 0011
Revises: 0014
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0014"
branch_labels = None
depends_on = None

LEVELS = "'grid', 'village', 'town', 'department'"


# cases/workflow.py explains every column: the case's holder is ``queue`` (now also
# 'department', with ``department_code``), the level that sent it there ``sender_level`` (a
# return goes back to it, a close is taken by it), the level and account that closed it (a
# reopen goes back to that level). Parking keeps the state to resume and the resume date; an
# extension request waits in ``extension_days`` until the level above decides.
#
# case_events gain the columns of issue 9 point 4 (who, role, note, position, photos) and the
# holder after the event, so a case's current state can be rebuilt from its events alone.
# The append-only trigger of migration 0002 is untouched: it covers the new columns too.
def upgrade() -> None:
    op.add_column("cases", sa.Column("department_code", sa.String(length=20), nullable=True))
    op.add_column("cases", sa.Column("sender_level", sa.String(length=10), nullable=True))
    op.add_column("cases", sa.Column("closed_level", sa.String(length=10), nullable=True))
    op.add_column("cases", sa.Column("closed_by", sa.Integer(), nullable=True))
    op.add_column("cases", sa.Column("parked_from", sa.String(length=20), nullable=True))
    op.add_column("cases", sa.Column("resume_on", sa.Date(), nullable=True))
    op.add_column("cases", sa.Column("extension_days", sa.Integer(), nullable=True))
    op.add_column("cases", sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("merged_into", sa.BigInteger(), nullable=True))
    op.create_foreign_key("fk_cases_merged_into", "cases", "cases", ["merged_into"], ["id"])
    op.drop_constraint("ck_cases_queue", "cases")
    op.create_check_constraint("ck_cases_queue", "cases", f"queue IS NULL OR queue IN ({LEVELS})")
    op.create_check_constraint("ck_cases_sender_level", "cases",
                               f"sender_level IS NULL OR sender_level IN ({LEVELS})")
    op.create_check_constraint("ck_cases_closed_level", "cases",
                               f"closed_level IS NULL OR closed_level IN ({LEVELS})")
    op.create_index("ix_cases_department", "cases", ["department_code"],
                    postgresql_where=sa.text("department_code IS NOT NULL"))

    op.add_column("case_events", sa.Column("account_id", sa.Integer(), nullable=True))
    op.add_column("case_events", sa.Column("role", sa.String(length=30), nullable=True))
    op.add_column("case_events", sa.Column("note", sa.Text(), nullable=True))
    op.add_column("case_events", sa.Column("lon", sa.Float(precision=53), nullable=True))
    op.add_column("case_events", sa.Column("lat", sa.Float(precision=53), nullable=True))
    op.add_column("case_events",
                  sa.Column("photo_ids", postgresql.ARRAY(sa.BigInteger()), nullable=True))
    op.add_column("case_events", sa.Column("queue", sa.String(length=10), nullable=True))
    op.add_column("case_events", sa.Column("assignee_id", sa.Integer(), nullable=True))
    op.add_column("case_events", sa.Column("department_code", sa.String(length=20), nullable=True))

    op.add_column("case_deadlines", sa.Column("unit", sa.String(length=20), nullable=True))


def downgrade() -> None:
    op.drop_column("case_deadlines", "unit")
    for column in ("department_code", "assignee_id", "queue", "photo_ids", "lat", "lon", "note",
                   "role", "account_id"):
        op.drop_column("case_events", column)
    op.drop_index("ix_cases_department", table_name="cases")
    op.drop_constraint("ck_cases_closed_level", "cases")
    op.drop_constraint("ck_cases_sender_level", "cases")
    op.drop_constraint("ck_cases_queue", "cases")
    op.execute("UPDATE cases SET queue = 'town' WHERE queue = 'department'")
    op.create_check_constraint("ck_cases_queue", "cases",
                               "queue IS NULL OR queue IN ('grid', 'village', 'town')")
    op.drop_constraint("fk_cases_merged_into", "cases")
    for column in ("merged_into", "evaluated_at", "extension_days", "resume_on", "parked_from",
                   "closed_by", "closed_level", "sender_level", "department_code"):
        op.drop_column("cases", column)
