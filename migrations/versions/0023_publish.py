"""publishing a draft: when it takes effect, which version it became, and who published it

Revision ID: 0023
Revises: 0022
"""

from alembic import op
import sqlalchemy as sa

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the town's latest version when the draft was made: a draft published over boundaries
    # that changed since would undo the other change without anyone seeing it
    op.add_column("drafts", sa.Column("base_version", sa.Integer))
    op.execute("""
        UPDATE drafts d SET base_version = (SELECT max(v.number) FROM boundary_versions v
                                             WHERE v.town_code = d.town_code)
    """)
    # asked for: the time the planner gave (scheduled drafts wait for it); published_at: the
    # moment the new version began (the publish's own clock, never before effective_at)
    op.add_column("drafts", sa.Column("effective_at", sa.DateTime(timezone=True)))
    op.add_column("drafts", sa.Column("published_version", sa.Integer,
                                      sa.ForeignKey("boundary_versions.number")))
    op.add_column("drafts", sa.Column("published_at", sa.DateTime(timezone=True)))
    op.add_column("drafts", sa.Column("published_by", sa.String(100)))
    op.add_column("drafts", sa.Column("rerouted", sa.Integer))
    # why a scheduled draft could not be applied when its time came (it is open again)
    op.add_column("drafts", sa.Column("publish_error", sa.Text))
    op.drop_constraint("ck_drafts_state", "drafts")
    op.create_check_constraint(
        "ck_drafts_state", "drafts", "state IN ('open', 'scheduled', 'published', 'discarded')")
    op.create_index("ix_drafts_scheduled", "drafts", ["effective_at"],
                    postgresql_where=sa.text("state = 'scheduled'"))


def downgrade() -> None:
    op.drop_index("ix_drafts_scheduled", table_name="drafts")
    op.execute("UPDATE drafts SET state = 'open' WHERE state = 'scheduled'")
    op.drop_constraint("ck_drafts_state", "drafts")
    op.create_check_constraint("ck_drafts_state", "drafts",
                               "state IN ('open', 'published', 'discarded')")
    for column in ("publish_error", "rerouted", "published_by", "published_at",
                   "published_version", "effective_at", "base_version"):
        op.drop_column("drafts", column)
