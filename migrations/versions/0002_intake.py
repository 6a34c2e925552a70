"""intake: grid parts, case routing fields, events, photos, calendar

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 23:19:21.830532
"""

from alembic import op
import sqlalchemy as sa
import geoalchemy2
from sqlalchemy.dialects import postgresql

from cases.calendar import seed_calendar

# Grid parts follow the grids table: a current grid's parts are (re)made on insert and update,
# and dropped when it is closed (valid_to set) or deleted. Hand-written SQL: Alembic has no
# notion of triggers.
GRID_PARTS_SYNC = """
CREATE FUNCTION grid_parts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM grid_parts WHERE grid_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.valid_to IS NULL THEN
        INSERT INTO grid_parts (grid_id, code, level, parent_code, geom)
        SELECT NEW.id, NEW.code, NEW.level, NEW.parent_code, ST_Subdivide(NEW.geom, 32);
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION grid_parts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE grid_parts;
    RETURN NULL;
END $$;
CREATE TRIGGER grids_parts_sync AFTER INSERT OR UPDATE OR DELETE ON grids
    FOR EACH ROW EXECUTE FUNCTION grid_parts_sync();
CREATE TRIGGER grids_parts_truncate AFTER TRUNCATE ON grids
    FOR EACH STATEMENT EXECUTE FUNCTION grid_parts_truncate();
INSERT INTO grid_parts (grid_id, code, level, parent_code, geom)
    SELECT id, code, level, parent_code, ST_Subdivide(geom, 32) FROM grids WHERE valid_to IS NULL;
"""

# The event log is append-only (DESIGN.md): history is added to, never rewritten.
APPEND_ONLY = """
CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_append_only();
"""

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_workday', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=True),
    sa.Column('source', sa.String(length=20), server_default='admin', nullable=False),
    sa.PrimaryKeyConstraint('day')
    )
    op.create_table('grid_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('parent_code', sa.String(length=20), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_grid_parts_geom', 'grid_parts', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_grid_parts_grid_id', 'grid_parts', ['grid_id'], unique=False)
    op.create_table('case_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_case_events_case', 'case_events', ['case_id', 'at'], unique=False)
    op.create_table('case_photos',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_case_photos_case', 'case_photos', ['case_id'], unique=False)
    op.add_column('cases', sa.Column('input_crs', sa.String(length=20), nullable=True))
    op.add_column('cases', sa.Column('geocode_precision', sa.String(length=10), nullable=True))
    op.add_column('cases', sa.Column('geocode_score', sa.Float(), nullable=True))
    op.add_column('cases', sa.Column('geocode_match', sa.Text(), nullable=True))
    op.add_column('cases', sa.Column('queue', sa.String(length=10), nullable=True))
    op.add_column('cases', sa.Column('on_boundary', sa.Boolean(), nullable=True))
    op.add_column('cases', sa.Column('grid_version', sa.Integer(), nullable=True))
    op.add_column('cases', sa.Column('routing_reason', sa.Text(), nullable=True))
    op.add_column('cases', sa.Column('assignment_reason', sa.Text(), nullable=True))
    op.add_column('cases', sa.Column('dispatch_due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('cases', sa.Column('idempotency_key', sa.String(length=200), nullable=True))
    op.add_column('cases', sa.Column('request_hash', sa.String(length=64), nullable=True))
    op.create_index('ix_cases_assignee', 'cases', ['assignee_id'], unique=False)
    op.create_index('uq_cases_idempotency_key', 'cases', ['idempotency_key'], unique=True)
    op.create_check_constraint(
        "ck_cases_precision", "cases",
        "geocode_precision IS NULL OR geocode_precision IN ('point', 'door', 'street', 'village', 'town')",
    )
    op.create_check_constraint("ck_cases_queue", "cases", "queue IS NULL OR queue IN ('grid', 'village', 'town')")
    op.execute(GRID_PARTS_SYNC)
    op.execute(APPEND_ONLY)
    seed_calendar(op.get_bind())


def downgrade() -> None:
    op.execute("DROP TRIGGER case_events_append_only ON case_events")
    op.execute("DROP FUNCTION case_events_append_only()")
    op.execute("DROP TRIGGER grids_parts_truncate ON grids")
    op.execute("DROP TRIGGER grids_parts_sync ON grids")
    op.execute("DROP FUNCTION grid_parts_truncate()")
    op.execute("DROP FUNCTION grid_parts_sync()")
    op.drop_constraint("ck_cases_queue", "cases")
    op.drop_constraint("ck_cases_precision", "cases")
    op.drop_index('uq_cases_idempotency_key', table_name='cases')
    op.drop_index('ix_cases_assignee', table_name='cases')
    op.drop_column('cases', 'request_hash')
    op.drop_column('cases', 'idempotency_key')
    op.drop_column('cases', 'dispatch_due_at')
    op.drop_column('cases', 'assignment_reason')
    op.drop_column('cases', 'routing_reason')
    op.drop_column('cases', 'grid_version')
    op.drop_column('cases', 'on_boundary')
    op.drop_column('cases', 'queue')
    op.drop_column('cases', 'geocode_match')
    op.drop_column('cases', 'geocode_score')
    op.drop_column('cases', 'geocode_precision')
    op.drop_column('cases', 'input_crs')
    op.drop_index('ix_case_photos_case', table_name='case_photos')
    op.drop_table('case_photos')
    op.drop_index('ix_case_events_case', table_name='case_events')
    op.drop_table('case_events')
    op.drop_index('ix_grid_parts_grid_id', table_name='grid_parts')
    op.drop_index('ix_grid_parts_geom', table_name='grid_parts', postgresql_using='gist')
    op.drop_table('grid_parts')
    op.drop_table('calendar_days')
