"""data_versions: a counter bumped by every statement that writes the geocoder's tables

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The tables the geocoder's index is built from (cases/geocoding.py).
GEOCODER_TABLES = ("addresses", "streets", "grids", "towns")

# Every statement that writes one of those tables, an UPDATE in place included, bumps the row
# 'geocoder' of data_versions; each process compares it with the version its cached index was
# built at (cases/geocoding.py). A table row, not a sequence: the bump is part of the writing
# transaction, so it becomes visible when the data does, atomically at commit, and vanishes
# if the transaction rolls back. A sequence moves at nextval(), before the commit, and a
# reader could cache the old data under the new number.
# Once per statement, not per row: a COPY of 7,000 addresses bumps once. The demo load makes
# ~690 statements (one per grid and street): +10 ms. Each bump leaves a version of the row that
# the next bump in the same transaction steps over, so the cost grows with the square of the
# statements: 20,000 single-row statements in one transaction pay +3 s; a bulk importer should
# COPY or insert many rows per statement. The row stays locked until the writer commits, so
# writers of these four tables wait for each other; they are importers and admin edits, never
# the intake path.
# Hand-written SQL: Alembic has no notion of triggers.
BUMP = """
CREATE FUNCTION data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE data_versions SET version = version + 1, changed_at = now() WHERE name = TG_ARGV[0];
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "data_versions",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute("INSERT INTO data_versions (name, version) VALUES ('geocoder', 0)")
    op.execute(BUMP)
    for table in GEOCODER_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_geocoder_version "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION data_version_bump('geocoder')"
        )


def downgrade() -> None:
    for table in GEOCODER_TABLES:
        op.execute(f"DROP TRIGGER {table}_geocoder_version ON {table}")
    op.execute("DROP FUNCTION data_version_bump()")
    op.drop_table("data_versions")
