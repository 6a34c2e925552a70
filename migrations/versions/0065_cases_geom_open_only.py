"""the cases' points indexed by GiST for the open cases only

ix_cases_geom indexed every case's point; the statements that search open cases by place (the
duplicate check, the feeds', the publish's and the impact's) use ix_cases_open_geom, the tiles
and the hot spots the covering lon/lat indexes, and the statistics place each case from its
own row. The one reader left, the case list's ``bbox`` filter, now compares ``lon`` and
``lat`` (cases/repository.py: exact, where ``&&`` compared float4 boxes), which
ix_cases_lonlat answers. A GiST insert is the dearest of an intake's and of an update's index
entries: one fewer for every report, and for every case a publish re-routes (issue 11).

Revision ID: 0065
Revises: 0064
"""

from alembic import op

revision = "0065"
down_revision = "0064"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_cases_geom")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_cases_geom ON cases USING gist (geom)")
