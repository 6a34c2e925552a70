"""What lives in the grids: people and their grid posts, streets, standard addresses,
households, enterprises and hazards.

Every row that grows carries ``town_code`` so a province can shard by town (DESIGN.md).
Point features also record the leaf grid they fell in when they were placed (``grid_code``).
"""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base

# The posts a person holds (DOMAIN.md): the village party secretary is the grid leader of the
# administrative grid; grid workers and auxiliaries work in leaf grids; village cadres sit on
# the village committee; town cadres are assigned to villages (包村干部) and zone leaders lead a
# zone (包联).
ROLES = ("grid_leader", "grid_worker", "auxiliary", "village_cadre", "town_cadre", "zone_leader")


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    village_code: Mapped[str | None] = mapped_column(String(12))
    on_duty: Mapped[bool] = mapped_column(Boolean, server_default="true")
    town_code: Mapped[str] = mapped_column(String(12))
    # migration 0015: a member of the Communist Party, whose handled cases earn points (积分,
    # cases/scores.py)
    party_member: Mapped[bool] = mapped_column(Boolean, server_default="false")

    __table_args__ = (
        CheckConstraint(
            "role IN ('grid_leader', 'grid_worker', 'auxiliary', 'village_cadre', 'town_cadre', 'zone_leader')",
            name="ck_people_role",
        ),
    )


class GridAssignment(Base):
    """A person's post in a grid (by grid code, so it survives boundary versions)."""

    __tablename__ = "grid_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    grid_code: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20))
    since: Mapped[date] = mapped_column(Date, server_default=text("town_today()"))
    until: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("role IN ('leader', 'worker', 'auxiliary', 'liaison')", name="ck_assignments_role"),
        Index("ix_grid_assignments_grid", "grid_code"),
        Index("ix_grid_assignments_person", "person_id"),
    )


class Street(Base):
    """A street or lane (街/巷) of a village, the line door numbers run along."""

    __tablename__ = "streets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    village_code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(50))
    town_code: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (Index("ix_streets_geom", "geom", postgresql_using="gist"),)


class Address(Base):
    """A standard address (标准地址): the full text, its parsed parts and its point."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_text: Mapped[str] = mapped_column(Text)
    province: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(20))
    county: Mapped[str | None] = mapped_column(String(20))
    town: Mapped[str | None] = mapped_column(String(20))
    village: Mapped[str | None] = mapped_column(String(50))
    village_code: Mapped[str | None] = mapped_column(String(12))
    group_name: Mapped[str | None] = mapped_column(String(20))
    street: Mapped[str | None] = mapped_column(String(50))
    door_number: Mapped[int | None] = mapped_column(Integer)
    building: Mapped[str | None] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(20))
    room: Mapped[str | None] = mapped_column(String(20))
    grid_code: Mapped[str | None] = mapped_column(String(20))
    town_code: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (
        Index("ix_addresses_geom", "geom", postgresql_using="gist"),
        Index("ix_addresses_village_street", "village_code", "street"),
    )


class Household(Base):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id"))
    head_name: Mapped[str] = mapped_column(String(50))
    residents: Mapped[int] = mapped_column(Integer)
    key_person: Mapped[bool] = mapped_column(Boolean, server_default="false")
    grid_code: Mapped[str] = mapped_column(String(20))
    town_code: Mapped[str] = mapped_column(String(12))

    __table_args__ = (
        CheckConstraint("residents > 0", name="ck_households_residents"),
        Index("ix_households_grid", "grid_code"),
    )


class Enterprise(Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    industry: Mapped[str] = mapped_column(String(50))
    employees: Mapped[int] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str] = mapped_column(String(20))
    zone_code: Mapped[str | None] = mapped_column(String(20))
    town_code: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (Index("ix_enterprises_geom", "geom", postgresql_using="gist"),)


class Hazard(Base):
    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(30))
    level: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str] = mapped_column(String(20))
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    town_code: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (
        CheckConstraint("level IN ('general', 'major', 'severe')", name="ck_hazards_level"),
        CheckConstraint("status IN ('open', 'remediating', 'resolved')", name="ck_hazards_status"),
        Index("ix_hazards_geom", "geom", postgresql_using="gist"),
    )
