"""a GiST index of the open cases only, for the map's case tiles

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The operator map shows open cases; with a year of history most rows are closed, and a
    # full GiST scan returned ~18 entries for each open case wanted. The state list is written
    # literally, as tiles/cases_*.sql write it, so the planner can match the predicate.
    op.execute(
        "CREATE INDEX ix_cases_open_geom ON cases USING gist (geom) "
        "WHERE status NOT IN ('closed', 'evaluated', 'voided')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_cases_open_geom")
