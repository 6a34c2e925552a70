"""a covering index on cases (lon, lat) for the map's bucket tiles of all cases

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


# A bucket tile that may hold closed cases (tiles/cases_buckets.sql with open=0) counts up to
# every case in the town: through the GiST index on geom it fetched each row from the heap,
# 2.1 s for a z12 tile over 1M cases. This index holds what such a tile reads (the position,
# and the columns of the overdue test and of the filters), so the scan never leaves the index:
# 0.27 s (EXPLAIN ANALYZE, 2026-11-26). lon/lat are the stored columns of migration 0003.
def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_cases_lonlat ON cases (lon, lat) "
        "INCLUDE (status, due_at, created_at, category_code, channel)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_cases_lonlat")
