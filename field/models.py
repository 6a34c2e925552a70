"""The field package's tables: the shops, key persons and key places a grid worker visits
(households, enterprises and hazards are boundaries/inventory.py's), the visits and their
photos. Migration 0018 builds them, and the ``visit_targets`` view over all six kinds.

Key persons are personal data (a name and why they are watched: 独居老人, 社区矫正, …): they
leave the database only to an account whose scope covers their grid.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer,
    LargeBinary, String, Text, Uuid, func,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class Shop(Base):
    """A shop (商铺): a small business at a street address, visited monthly."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    owner_name: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str] = mapped_column(String(20))
    town_code: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (
        Index("ix_shops_geom", "geom", postgresql_using="gist"),
        Index("ix_shops_grid", "grid_code"),
    )


class KeyPerson(Base):
    """A key person (重点人员), visited weekly, at their household's address."""

    __tablename__ = "key_persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    category: Mapped[str] = mapped_column(String(30))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id"))
    grid_code: Mapped[str] = mapped_column(String(20))
    town_code: Mapped[str] = mapped_column(String(12))

    __table_args__ = (Index("ix_key_persons_grid", "grid_code"),)


class KeyPlace(Base):
    """A key place (重点场所: a school, a petrol station, an old people's home, a market),
    visited weekly."""

    __tablename__ = "key_places"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    address: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str] = mapped_column(String(20))
    town_code: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)

    __table_args__ = (
        Index("ix_key_places_geom", "geom", postgresql_using="gist"),
        Index("ix_key_places_grid", "grid_code"),
    )


class Visit(Base):
    """A check-in at a target. ``id`` is the phone's own UUID, so a check-in queued offline
    and sent twice is stored once (``request_hash`` tells a replay from a reuse).
    ``visited_at`` is the phone's time, ``received_at`` the server's; ``distance_m`` the
    geodesic distance from the target, ``far`` when over GRIDGOV_VISIT_MAX_DISTANCE_M."""

    __tablename__ = "visits"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    town_code: Mapped[str] = mapped_column(String(12))
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(BigInteger)
    grid_code: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[int | None] = mapped_column(Integer)  # NULL: imported (the demo's)
    person_id: Mapped[int | None] = mapped_column(Integer)
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    lon: Mapped[float] = mapped_column(Float(53))
    lat: Mapped[float] = mapped_column(Float(53))
    input_crs: Mapped[str] = mapped_column(String(20))
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)
    far: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(10))
    # no foreign key: cases are partitioned by month (migration 0060's triggers keep it)
    case_id: Mapped[int | None] = mapped_column(BigInteger)
    request_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("outcome IN ('ok', 'problem')", name="ck_visits_outcome"),
        # the due list's and compliance's question: was this target visited in this period
        Index("ix_visits_target", "target_type", "target_id", "visited_at"),
        Index("ix_visits_grid", "grid_code", "visited_at"),
        Index("ix_visits_town_visited", "town_code", "visited_at"),
    )


class VisitPhoto(Base):
    """A photo of a visit, checked as a case's photos are (cases/intake.py ``photo``)."""

    __tablename__ = "visit_photos"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    town_code: Mapped[str] = mapped_column(String(12))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_visit_photos_visit", "visit_id"),)
