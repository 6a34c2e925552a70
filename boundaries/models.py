"""The grid hierarchy: town, zones and grids, with boundary versions.

Boundary versions. Every zone and grid row is one version of that unit's boundary, valid
from ``valid_from`` until ``valid_to`` (NULL: still valid). Redrawing a grid never updates a
row in place: it closes the current row (sets ``valid_to``) and inserts a new one with
``version`` + 1, so a case keeps the grid it was routed to and history can be computed against
the boundaries valid at the time. "Current" everywhere means ``valid_to IS NULL``; at most
one current row per code is enforced by a partial unique index.

Relations between levels go by code, not by row id, so they survive a new version of either
side: a leaf grid (regional or service) names its administrative grid in ``parent_code``;
every grid names its zone in ``zone_code``.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base

LEVELS = ("admin", "regional", "service")
LEAF_LEVELS = ("regional", "service")
ZONE_KINDS = ("village", "enterprise")


class Town(Base):
    __tablename__ = "towns"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    county: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    province: Mapped[str | None] = mapped_column(String(100))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_towns_geom", "geom", postgresql_using="gist"),)


class Zone(Base):
    """A zone (片区): a group of villages led by one town leader, or an enterprise zone."""

    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    town_code: Mapped[str] = mapped_column(String(12))
    leader_id: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("kind IN ('village', 'enterprise')", name="ck_zones_kind"),
        Index("ix_zones_geom", "geom", postgresql_using="gist"),
        Index("uq_zones_current_code", "code", unique=True, postgresql_where=text("valid_to IS NULL")),
    )


class Grid(Base):
    """An administrative grid (one per village or community) or a leaf grid inside one."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    zone_code: Mapped[str | None] = mapped_column(String(20))
    town_code: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("level IN ('admin', 'regional', 'service')", name="ck_grids_level"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_grids_validity"),
        Index("ix_grids_geom", "geom", postgresql_using="gist"),
        Index("uq_grids_current_code", "code", unique=True, postgresql_where=text("valid_to IS NULL")),
        Index("ix_grids_parent_code", "parent_code"),
    )


class GridPart(Base):
    """The current grids cut into small pieces (ST_Subdivide) so a point lookup tests a few
    dozen vertices instead of a whole village outline. Kept in step with ``grids`` by a
    trigger (migration 0002): never written by the application."""

    __tablename__ = "grid_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    geom = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (
        Index("ix_grid_parts_geom", "geom", postgresql_using="gist"),
        Index("ix_grid_parts_grid_id", "grid_id"),
    )


class BoundaryVersion(Base):
    """A version of a town's boundaries: a moment at which its grids or zones changed. The
    grids of version N are the rows valid at its ``effective_at`` (boundaries/versions.py).
    Recorded by statement triggers on grids and zones (migration 0021), whoever writes them;
    numbered in the order recorded. The database also refuses two rows of one code valid at
    the same moment (exclusion constraints ``ex_grids_code_validity``, ``ex_zones_...``)."""

    __tablename__ = "boundary_versions"

    number: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    town_code: Mapped[str] = mapped_column(String(12))
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("town_code", "effective_at", name="uq_boundary_versions_moment"),
    )


class DataVersion(Base):
    """A counter of changes to the tables a derived data set is built from, one row per data
    set, bumped by triggers in the writing transaction (migration 0007). The row 'geocoder'
    counts statements on addresses, streets, grids and towns; cases/geocoding.py keys its
    cached index on it. Never written by the application. (Nothing to do with boundary
    versions, described at the top of this module.)"""

    __tablename__ = "data_versions"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
