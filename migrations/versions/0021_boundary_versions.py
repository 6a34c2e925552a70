"""boundary versions: the database refuses two versions of one grid or zone code valid at the
same moment (exclusion constraints), and keeps a numbered list of the town's versions

Revision ID: 0021
Revises: 0018
"""

from alembic import op
import sqlalchemy as sa

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None

# A version of the town's boundaries is a moment at which its grids or zones changed: rows
# began (valid_from) or ended (valid_to) then. Statement triggers record each such moment in
# boundary_versions, whoever writes the rows (the importer, the demo, a publish, psql), so no
# writer can forget one; the row is numbered when first recorded and keeps its number.
RECORD_FUNCTION = """
CREATE FUNCTION gridgov_record_boundary_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- moments already recorded are skipped before the INSERT: an INSERT that ends in ON
    -- CONFLICT DO NOTHING still takes a number, and the numbers would have holes
    INSERT INTO boundary_versions (town_code, effective_at)
    SELECT town_code, moment
      FROM (SELECT DISTINCT town_code, moment
              FROM (SELECT town_code, valid_from AS moment FROM changed_rows
                    UNION ALL
                    SELECT town_code, valid_to FROM changed_rows WHERE valid_to IS NOT NULL) AS m
           ) AS m
     WHERE NOT EXISTS (SELECT 1 FROM boundary_versions v
                        WHERE v.town_code = m.town_code AND v.effective_at = m.moment)
     ORDER BY moment
    ON CONFLICT (town_code, effective_at) DO NOTHING;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    # btree_gist gives GiST an equality operator on text: "the same code" in the constraint.
    # A trusted extension: the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    for table in ("grids", "zones"):
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ex_{table}_code_validity "
            f"EXCLUDE USING gist (code WITH =, tstzrange(valid_from, valid_to, '[)') WITH &&)"
        )
    op.create_table(
        "boundary_versions",
        sa.Column("number", sa.Integer, sa.Identity(always=False), primary_key=True),
        sa.Column("town_code", sa.String(12), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("town_code", "effective_at", name="uq_boundary_versions_moment"),
    )
    # the versions there were before this migration, oldest first
    op.execute("""
        INSERT INTO boundary_versions (town_code, effective_at, recorded_at)
        SELECT town_code, moment, now()
          FROM (SELECT town_code, valid_from AS moment FROM grids
                UNION SELECT town_code, valid_to FROM grids WHERE valid_to IS NOT NULL
                UNION SELECT town_code, valid_from FROM zones
                UNION SELECT town_code, valid_to FROM zones WHERE valid_to IS NOT NULL) AS m
         ORDER BY moment, town_code
    """)
    op.execute(RECORD_FUNCTION)
    for table in ("grids", "zones"):
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER {table}_versions_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION gridgov_record_boundary_versions()"
            )


def downgrade() -> None:
    for table in ("grids", "zones"):
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_versions_{event} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS gridgov_record_boundary_versions()")
    op.drop_table("boundary_versions")
    for table in ("grids", "zones"):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS ex_{table}_code_validity")
