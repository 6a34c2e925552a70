"""the closed loop's foundations: a version on every case, and the case's clocks (deadlines)

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


# cases.version: a transition names the version it was decided on (If-Match); the UPDATE
# matches it, so of two people pressing "accept" at once exactly one wins (cases/workflow.py).
#
# case_deadlines: one row per running clock of a case (cases.models.CaseDeadline explains the
# clocks). Its times are computed over the business calendar when a transition starts, moves,
# stops or suspends the clock, so the supervision pass (jobs/) is one indexed query over the
# running clocks, never calendar arithmetic for every open case.
def upgrade() -> None:
    op.add_column("cases", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False))
    op.create_table(
        "case_deadlines",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("town_code", sa.String(length=12), nullable=False),
        sa.Column("clock", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("soon_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("yellow_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("red_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remaining_s", sa.Float(), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extensions", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("clock IN ('dispatch', 'accept', 'handle', 'check')", name="ck_case_deadlines_clock"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    # one running clock of a kind per case (a reopened case starts a new one)
    op.create_index("uq_case_deadlines_running", "case_deadlines", ["case_id", "clock"], unique=True,
                    postgresql_where=sa.text("met_at IS NULL"))
    # the supervision pass: running, not suspended clocks, by the earliest moment they matter
    op.create_index("ix_case_deadlines_next", "case_deadlines",
                    [sa.text("LEAST(soon_at, yellow_at, due_at, red_at)")],
                    postgresql_where=sa.text("met_at IS NULL AND suspended_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_case_deadlines_next", table_name="case_deadlines")
    op.drop_index("uq_case_deadlines_running", table_name="case_deadlines")
    op.drop_table("case_deadlines")
    op.drop_column("cases", "version")
