"""rating links (一事一评: a resident's single-use link, kept as its SHA-256), the party flag of
people (积分 for party members), the index the scores read events by, and the unique key of the
supervision card a 不满意 rating gives

Revision ID: 0015
Revises: 0017
"""

from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0017"
branch_labels = None
depends_on = None

SATISFACTION = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied")


def upgrade() -> None:
    op.create_table(
        "rating_links",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("town_code", sa.String(length=12), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.String(length=20), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("rating IS NULL OR rating IN ("
                           + ", ".join(f"'{s}'" for s in SATISFACTION) + ")",
                           name="ck_rating_links_rating"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_rating_links_token", "rating_links", ["token_sha256"], unique=True)
    op.create_index("ix_rating_links_case", "rating_links", ["case_id"])
    op.add_column("people", sa.Column("party_member", sa.Boolean(),
                                      server_default=sa.text("false"), nullable=False))
    # the scores read the events of one kind in a time window (cases/scores.sql)
    op.create_index("ix_case_events_scores", "case_events", ["at"],
                    postgresql_where=sa.text("type IN ('feed_back', 'card', 'evaluate')"))
    # the card a 不满意 rating gives, once per reopen (cases/rating.py)
    op.create_index("uq_case_events_reopen_card", "case_events",
                    ["case_id", sa.text("(data ->> 'reopen_event_id')")], unique=True,
                    postgresql_where=sa.text("type = 'card' AND data ? 'reopen_event_id'"))


def downgrade() -> None:
    op.drop_index("uq_case_events_reopen_card", table_name="case_events")
    op.drop_index("ix_case_events_scores", table_name="case_events")
    op.drop_column("people", "party_member")
    op.drop_index("ix_rating_links_case", table_name="rating_links")
    op.drop_index("uq_rating_links_token", table_name="rating_links")
    op.drop_table("rating_links")
