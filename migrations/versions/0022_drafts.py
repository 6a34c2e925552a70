"""the planner's drafts: a working copy of the town's or a village's grids, edited under a
revision number, with a log of what each revision changed

Revision ID: 0022
Revises: 0021
"""

from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True),
        sa.Column("town_code", sa.String(12), nullable=False),
        sa.Column("scope_code", sa.String(20), nullable=False),
        sa.Column("scope_kind", sa.String(10), nullable=False),
        sa.Column("from_version", sa.Integer,
                  sa.ForeignKey("boundary_versions.number"), nullable=True),
        sa.Column("state", sa.String(12), nullable=False, server_default="open"),
        sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("state IN ('open', 'published', 'discarded')", name="ck_drafts_state"),
        sa.CheckConstraint("scope_kind IN ('town', 'village')", name="ck_drafts_scope_kind"),
    )
    op.create_table(
        "draft_grids",
        sa.Column("draft_id", sa.Integer, sa.ForeignKey("drafts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("parent_code", sa.String(20)),
        sa.Column("zone_code", sa.String(20)),
        sa.Column("leader_id", sa.Integer),
        sa.Column("worker_ids", postgresql.ARRAY(sa.Integer), nullable=False,
                  server_default="{}"),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
                  nullable=False),
        # the grids row it was copied from (NULL: drawn in the draft)
        sa.Column("base_grid_id", sa.Integer),
        sa.Column("removed", sa.Boolean, nullable=False, server_default="false"),
        # the draft's revision at which this grid last changed
        sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("level IN ('admin', 'regional', 'service')",
                           name="ck_draft_grids_level"),
    )
    op.create_index("ix_draft_grids_geom", "draft_grids", ["geom"], postgresql_using="gist")
    op.create_table(
        "draft_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
        sa.Column("draft_id", sa.Integer, sa.ForeignKey("drafts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("op", sa.String(20), nullable=False),
        sa.Column("codes", postgresql.ARRAY(sa.String(20)), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_draft_changes_draft", "draft_changes", ["draft_id", "revision"])


def downgrade() -> None:
    op.drop_index("ix_draft_changes_draft", table_name="draft_changes")
    op.drop_table("draft_changes")
    op.drop_index("ix_draft_grids_geom", table_name="draft_grids")
    op.drop_table("draft_grids")
    op.drop_table("drafts")
