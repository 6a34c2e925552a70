"""patrol visits (定期巡访): shops, key persons, key places, visits and their photos, and the
visit_targets view over everything a grid worker visits

Revision ID: 0018
Revises: 0019
"""

from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = "0018"
down_revision = "0019"
branch_labels = None
depends_on = None

# Everything a grid worker visits, one row per target: its type (field/data/visit_rules.csv),
# id, display name, address, leaf grid, town and point. Households and key persons stand at
# their standard address; a resolved hazard is no longer visited. Hand-written SQL: Alembic has
# no notion of views. Each branch's constant `type` lets PostgreSQL skip the other branches
# when a query names the type.
TARGETS_VIEW = """
CREATE VIEW visit_targets AS
SELECT 'household'::text AS type, h.id::bigint AS id, h.head_name || '户' AS name,
       a.full_text AS address, h.grid_code, h.town_code, a.geom
  FROM households h JOIN addresses a ON a.id = h.address_id
UNION ALL
SELECT 'shop', s.id, s.name, s.address, s.grid_code, s.town_code, s.geom FROM shops s
UNION ALL
SELECT 'enterprise', e.id, e.name, e.address, e.grid_code, e.town_code, e.geom FROM enterprises e
UNION ALL
SELECT 'key_person', k.id, k.name, a.full_text, k.grid_code, k.town_code, a.geom
  FROM key_persons k JOIN addresses a ON a.id = k.address_id
UNION ALL
SELECT 'key_place', p.id, p.name, p.address, p.grid_code, p.town_code, p.geom FROM key_places p
UNION ALL
SELECT 'hazard', z.id, z.description, NULL, z.grid_code, z.town_code, z.geom
  FROM hazards z WHERE z.status <> 'resolved'
"""


def upgrade() -> None:
    op.create_table(
        "shops",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("owner_name", sa.String(50)),
        sa.Column("address", sa.Text()),
        sa.Column("grid_code", sa.String(20), nullable=False),
        sa.Column("town_code", sa.String(12), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("ix_shops_geom", "shops", ["geom"], postgresql_using="gist")
    op.create_index("ix_shops_grid", "shops", ["grid_code"])
    op.create_table(
        "key_persons",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("household_id", sa.Integer(), sa.ForeignKey("households.id")),
        sa.Column("address_id", sa.Integer(), sa.ForeignKey("addresses.id"), nullable=False),
        sa.Column("grid_code", sa.String(20), nullable=False),
        sa.Column("town_code", sa.String(12), nullable=False),
    )
    op.create_index("ix_key_persons_grid", "key_persons", ["grid_code"])
    op.create_table(
        "key_places",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("address", sa.Text()),
        sa.Column("grid_code", sa.String(20), nullable=False),
        sa.Column("town_code", sa.String(12), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("ix_key_places_geom", "key_places", ["geom"], postgresql_using="gist")
    op.create_index("ix_key_places_grid", "key_places", ["grid_code"])
    op.create_table(
        "visits",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("town_code", sa.String(12), nullable=False),
        sa.Column("target_type", sa.String(20), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_code", sa.String(20), nullable=False),
        sa.Column("account_id", sa.Integer()),  # NULL: a visit imported (the demo's history)
        sa.Column("person_id", sa.Integer()),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("lon", sa.Float(53), nullable=False),
        sa.Column("lat", sa.Float(53), nullable=False),
        sa.Column("input_crs", sa.String(20), nullable=False),
        sa.Column("accuracy_m", sa.Float()),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("far", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("case_id", sa.BigInteger(), sa.ForeignKey("cases.id")),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("outcome IN ('ok', 'problem')", name="ck_visits_outcome"),
    )
    op.create_index("ix_visits_target", "visits", ["target_type", "target_id", "visited_at"])
    op.create_index("ix_visits_grid", "visits", ["grid_code", "visited_at"])
    op.create_index("ix_visits_town_visited", "visits", ["town_code", "visited_at"])
    op.create_table(
        "visit_photos",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("visit_id", sa.Uuid(), sa.ForeignKey("visits.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("town_code", sa.String(12), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(50), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_index("ix_visit_photos_visit", "visit_photos", ["visit_id"])
    op.execute(TARGETS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW visit_targets")
    op.drop_table("visit_photos")
    op.drop_table("visits")
    op.drop_table("key_places")
    op.drop_table("key_persons")
    op.drop_table("shops")
