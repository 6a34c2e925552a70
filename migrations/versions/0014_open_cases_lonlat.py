"""a covering index on the open cases' lon/lat for the map's case tiles

Revision ID: 0014
Revises: 0009
"""

from alembic import op

revision = "0014"
down_revision = "0009"
branch_labels = None
depends_on = None

# The operator map's default view shows open cases. A tile of them found its cases through the
# GiST index on open cases' geom, then read each row from the heap: open cases are scattered
# over the table (one in 17 rows), so a z14 tile of the town centre with 7,171 of them read
# 6,573 heap pages, 11.6 of its 26 ms. This index holds everything a tile of open cases reads
# (tiles/cases_points.sql, tiles/cases_buckets.sql), so the scan never leaves it: 1.6 ms
# (EXPLAIN ANALYZE on 1M cases, 2026-11-30); a z13 bucket tile went from 29 to 8 ms. The
# predicate is the literal list of closed states, as the tile queries state it (cases.models
# OPEN_PREDICATE).
def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_cases_open_lonlat ON cases (lon, lat) "
        "INCLUDE (id, status, category_code, channel, created_at, due_at, grid_code) "
        "WHERE status NOT IN ('closed', 'evaluated', 'voided')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_cases_open_lonlat")
