"""initial schema: town, zones, grids, people, addresses, registry, categories, cases

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 22:44:49.267570
"""

from alembic import op
import sqlalchemy as sa
import geoalchemy2

from cases.categories import seed_categories


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('full_text', sa.Text(), nullable=False),
    sa.Column('province', sa.String(length=20), nullable=True),
    sa.Column('city', sa.String(length=20), nullable=True),
    sa.Column('county', sa.String(length=20), nullable=True),
    sa.Column('town', sa.String(length=20), nullable=True),
    sa.Column('village', sa.String(length=50), nullable=True),
    sa.Column('village_code', sa.String(length=12), nullable=True),
    sa.Column('group_name', sa.String(length=20), nullable=True),
    sa.Column('street', sa.String(length=50), nullable=True),
    sa.Column('door_number', sa.Integer(), nullable=True),
    sa.Column('building', sa.String(length=20), nullable=True),
    sa.Column('unit', sa.String(length=20), nullable=True),
    sa.Column('room', sa.String(length=20), nullable=True),
    sa.Column('grid_code', sa.String(length=20), nullable=True),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_addresses_geom', 'addresses', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_addresses_village_street', 'addresses', ['village_code', 'street'], unique=False)
    op.create_table('cases',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.Column('category_code', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('grid_code', sa.String(length=20), nullable=True),
    sa.Column('admin_code', sa.String(length=20), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('reporter_name', sa.String(length=50), nullable=True),
    sa.Column('reporter_phone', sa.String(length=30), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('satisfaction', sa.String(length=20), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.CheckConstraint("channel IN ('patrol', 'resident', 'hotline', 'app', 'sensor', 'referral')", name='ck_cases_channel'),
    sa.CheckConstraint("satisfaction IS NULL OR satisfaction IN ('very_satisfied', 'satisfied', 'basically_satisfied', 'dissatisfied')", name='ck_cases_satisfaction'),
    sa.CheckConstraint("status IN ('collected', 'filed', 'dispatched', 'handling', 'escalated', 'fed_back', 'closed', 'evaluated', 'returned', 'parked', 'voided')", name='ck_cases_status'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_cases_category', 'cases', ['category_code'], unique=False)
    op.create_index('ix_cases_created_at', 'cases', ['created_at'], unique=False)
    op.create_index('ix_cases_geom', 'cases', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_cases_grid_code', 'cases', ['grid_code'], unique=False)
    op.create_index('ix_cases_status', 'cases', ['status'], unique=False)
    op.create_table('categories',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('parent_code', sa.String(length=40), nullable=True),
    sa.Column('checklist', sa.String(length=10), nullable=False),
    sa.Column('name_zh', sa.String(length=50), nullable=False),
    sa.Column('name_en', sa.String(length=80), nullable=False),
    sa.Column('limit_value', sa.Integer(), nullable=False),
    sa.Column('limit_unit', sa.String(length=20), nullable=False),
    sa.Column('weight', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("checklist IN ('regional', 'service')", name='ck_categories_checklist'),
    sa.CheckConstraint("limit_unit IN ('urgent_hours', 'working_hours', 'working_days', 'calendar_days')", name='ck_categories_limit_unit'),
    sa.CheckConstraint('limit_value > 0', name='ck_categories_limit_value'),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('enterprises',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('industry', sa.String(length=50), nullable=False),
    sa.Column('employees', sa.Integer(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('grid_code', sa.String(length=20), nullable=False),
    sa.Column('zone_code', sa.String(length=20), nullable=True),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_enterprises_geom', 'enterprises', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('grids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('parent_code', sa.String(length=20), nullable=True),
    sa.Column('zone_code', sa.String(length=20), nullable=True),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("level IN ('admin', 'regional', 'service')", name='ck_grids_level'),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name='ck_grids_validity'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_grids_geom', 'grids', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_grids_parent_code', 'grids', ['parent_code'], unique=False)
    op.create_index('uq_grids_current_code', 'grids', ['code'], unique=True, postgresql_where=sa.text('valid_to IS NULL'))
    op.create_table('hazards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('grid_code', sa.String(length=20), nullable=False),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("level IN ('general', 'major', 'severe')", name='ck_hazards_level'),
    sa.CheckConstraint("status IN ('open', 'remediating', 'resolved')", name='ck_hazards_status'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_hazards_geom', 'hazards', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('people',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('village_code', sa.String(length=12), nullable=True),
    sa.Column('on_duty', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.CheckConstraint("role IN ('grid_leader', 'grid_worker', 'auxiliary', 'village_cadre', 'town_cadre', 'zone_leader')", name='ck_people_role'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('streets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='LINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_streets_geom', 'streets', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('towns',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('county', sa.String(length=100), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('province', sa.String(length=100), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_index('ix_towns_geom', 'towns', ['geom'], unique=False, postgresql_using='gist')
    op.create_table('zones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('village', 'enterprise')", name='ck_zones_kind'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_zones_geom', 'zones', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('uq_zones_current_code', 'zones', ['code'], unique=True, postgresql_where=sa.text('valid_to IS NULL'))
    op.create_table('grid_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('grid_code', sa.String(length=20), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('since', sa.Date(), server_default=sa.text('CURRENT_DATE'), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.CheckConstraint("role IN ('leader', 'worker', 'auxiliary', 'liaison')", name='ck_assignments_role'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_grid_assignments_grid', 'grid_assignments', ['grid_code'], unique=False)
    op.create_index('ix_grid_assignments_person', 'grid_assignments', ['person_id'], unique=False)
    op.create_table('households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address_id', sa.Integer(), nullable=False),
    sa.Column('head_name', sa.String(length=50), nullable=False),
    sa.Column('residents', sa.Integer(), nullable=False),
    sa.Column('key_person', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('grid_code', sa.String(length=20), nullable=False),
    sa.Column('town_code', sa.String(length=12), nullable=False),
    sa.CheckConstraint('residents > 0', name='ck_households_residents'),
    sa.ForeignKeyConstraint(['address_id'], ['addresses.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_households_grid', 'households', ['grid_code'], unique=False)
    seed_categories(op.get_bind())


def downgrade() -> None:
    op.drop_index('ix_households_grid', table_name='households')
    op.drop_table('households')
    op.drop_index('ix_grid_assignments_person', table_name='grid_assignments')
    op.drop_index('ix_grid_assignments_grid', table_name='grid_assignments')
    op.drop_table('grid_assignments')
    op.drop_index('uq_zones_current_code', table_name='zones', postgresql_where=sa.text('valid_to IS NULL'))
    op.drop_index('ix_zones_geom', table_name='zones', postgresql_using='gist')
    op.drop_table('zones')
    op.drop_index('ix_towns_geom', table_name='towns', postgresql_using='gist')
    op.drop_table('towns')
    op.drop_index('ix_streets_geom', table_name='streets', postgresql_using='gist')
    op.drop_table('streets')
    op.drop_table('people')
    op.drop_index('ix_hazards_geom', table_name='hazards', postgresql_using='gist')
    op.drop_table('hazards')
    op.drop_index('uq_grids_current_code', table_name='grids', postgresql_where=sa.text('valid_to IS NULL'))
    op.drop_index('ix_grids_parent_code', table_name='grids')
    op.drop_index('ix_grids_geom', table_name='grids', postgresql_using='gist')
    op.drop_table('grids')
    op.drop_index('ix_enterprises_geom', table_name='enterprises', postgresql_using='gist')
    op.drop_table('enterprises')
    op.drop_table('categories')
    op.drop_index('ix_cases_status', table_name='cases')
    op.drop_index('ix_cases_grid_code', table_name='cases')
    op.drop_index('ix_cases_geom', table_name='cases', postgresql_using='gist')
    op.drop_index('ix_cases_created_at', table_name='cases')
    op.drop_index('ix_cases_category', table_name='cases')
    op.drop_table('cases')
    op.drop_index('ix_addresses_village_street', table_name='addresses')
    op.drop_index('ix_addresses_geom', table_name='addresses', postgresql_using='gist')
    op.drop_table('addresses')
