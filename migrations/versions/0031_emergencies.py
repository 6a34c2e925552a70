"""emergency mobilisation (应急动员): the vulnerable people of each household, emergencies and
their tasks

Revision ID: 0031
Revises: 0023
"""

from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = "0031"
down_revision = "0023"
branch_labels = None
depends_on = None

# The vulnerable of a household (DOMAIN.md has no register of persons: a household is its head,
# its address and a number of residents). Each column counts residents of one kind, and a
# person is counted once, so `vulnerable` never exceeds `residents`:
# - elderly_alone: the household is one person over 70 living alone (独居老人);
# - disabled (残疾人), bedridden (卧床不起, counted here rather than as disabled);
# - children_unattended: children at home without a guardian (留守儿童: parents working away).
# An emergency reaches them first (emergencies/tasks.sql orders a worker's tasks by them).
VULNERABLE = ("CASE WHEN elderly_alone THEN 1 ELSE 0 END + disabled + bedridden "
              "+ children_unattended")


def upgrade() -> None:
    op.add_column("households", sa.Column("elderly_alone", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    for name in ("disabled", "bedridden", "children_unattended"):
        op.add_column("households", sa.Column(name, sa.SmallInteger(), nullable=False,
                                              server_default="0"))
    op.add_column("households", sa.Column("vulnerable", sa.SmallInteger(),
                                          sa.Computed(VULNERABLE, persisted=True),
                                          nullable=False))
    op.create_check_constraint(
        "ck_households_vulnerable", "households",
        f"disabled >= 0 AND bedridden >= 0 AND children_unattended >= 0 "
        f"AND ({VULNERABLE}) <= residents AND (NOT elderly_alone OR residents = 1)")
    # An emergency (emergencies/mobilise.py): its area as given (area_spec, JSON) and as a
    # polygon, and, once closed, the operator's summary and the final figures.
    op.create_table(
        "emergencies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("town_code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("instructions", sa.Text()),
        sa.Column("area_spec", sa.JSON(), nullable=False),
        sa.Column("area", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
                  nullable=False),
        sa.Column("created_by", sa.Integer()),
        sa.Column("created_by_name", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by_name", sa.String(100)),
        sa.Column("summary", sa.Text()),
        sa.Column("final_figures", sa.JSON()),
        sa.CheckConstraint("kind IN ('evacuate', 'confirm_safe', 'count', 'notify')",
                           name="ck_emergencies_kind"),
    )
    # One task per household, enterprise or hazard inside the area, for the grid worker of its
    # grid (person_id; NULL when the grid has none at mobilisation). What the target was at
    # mobilisation is copied (name, address, residents, vulnerable, point): the board and its
    # export must not change when the registry does. A confirmation carries the phone's own id
    # (confirm_id) and the hash of its request, for replays (emergencies/confirm.py).
    op.create_table(
        "emergency_tasks",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("emergency_id", sa.Integer(), sa.ForeignKey("emergencies.id"), nullable=False),
        sa.Column("town_code", sa.String(12), nullable=False),
        sa.Column("target_type", sa.String(20), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_code", sa.String(20), nullable=False),
        sa.Column("person_id", sa.Integer()),
        sa.Column("name", sa.Text()),
        sa.Column("address", sa.Text()),
        sa.Column("residents", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("vulnerable", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        sa.Column("people", sa.Integer()),
        sa.Column("relocated_to", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.Column("confirm_id", sa.Uuid(), unique=True),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True)),
        sa.Column("confirmed_by", sa.Integer()),
        sa.Column("confirmed_by_name", sa.String(100)),
        sa.Column("confirmed_person_id", sa.Integer()),
        sa.CheckConstraint("status IN ('open', 'safe', 'relocated', 'unreachable')",
                           name="ck_emergency_tasks_status"),
        sa.CheckConstraint("target_type IN ('household', 'enterprise', 'hazard')",
                           name="ck_emergency_tasks_target"),
        sa.UniqueConstraint("emergency_id", "target_type", "target_id",
                            name="uq_emergency_tasks_target"),
    )
    op.create_index("ix_emergency_tasks_emergency", "emergency_tasks",
                    ["emergency_id", "status"])
    op.create_index("ix_emergency_tasks_grid", "emergency_tasks", ["grid_code", "status"])
    op.create_index("ix_emergency_tasks_received", "emergency_tasks",
                    ["emergency_id", "received_at"])


def downgrade() -> None:
    op.drop_table("emergency_tasks")
    op.drop_table("emergencies")
    op.drop_constraint("ck_households_vulnerable", "households")
    for name in ("vulnerable", "children_unattended", "bedridden", "disabled", "elderly_alone"):
        op.drop_column("households", name)
