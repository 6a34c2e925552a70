"""The current grids and zones by town: what one town's operator map reads in a province

The operator page draws one town's grids and zones (web/pages.py index). With one town in the
database every current row was that town's, and a scan of them was the answer; with a
province of 1,000 towns (``gridgov demo load --towns 1000``: 420,000 grids) the page read
every town's rows to keep one town's. Partial, as the rows read are: the current ones.

Revision ID: 0061
Revises: 0060
"""

from alembic import op

revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE INDEX ix_grids_current_town ON grids (town_code) WHERE valid_to IS NULL;
        CREATE INDEX ix_zones_current_town ON zones (town_code) WHERE valid_to IS NULL;
    """)


def downgrade() -> None:
    op.execute("""
        DROP INDEX ix_zones_current_town;
        DROP INDEX ix_grids_current_town;
    """)
