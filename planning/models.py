"""The planner's drafts (migrations 0022, 0023).

A draft is a working copy of the grids of the town, or of one village (its administrative grid
and its leaf grids), taken from the current boundaries or from a version. Editing it never
touches ``grids``: publishing does (a later step). Every edit moves the draft's ``revision`` by
one and is logged in ``draft_changes``, so a planner who saves over a revision that is no
longer the draft's learns what changed since (optimistic locking, planning/drafts.py).
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base

DRAFT_STATES = ("open", "scheduled", "published", "discarded")


class Draft(Base):
    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(Integer, Identity(always=False), primary_key=True)
    town_code: Mapped[str] = mapped_column(String(12))
    scope_code: Mapped[str] = mapped_column(String(20))
    scope_kind: Mapped[str] = mapped_column(String(10))
    from_version: Mapped[int | None] = mapped_column(ForeignKey("boundary_versions.number"))
    state: Mapped[str] = mapped_column(String(12), server_default="open")
    revision: Mapped[int] = mapped_column(Integer, server_default="1")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    base_version: Mapped[int | None] = mapped_column(Integer)
    effective_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_version: Mapped[int | None] = mapped_column(ForeignKey("boundary_versions.number"))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str | None] = mapped_column(String(100))
    rerouted: Mapped[int | None] = mapped_column(Integer)
    publish_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("state IN ('open', 'scheduled', 'published', 'discarded')",
                        name="ck_drafts_state"),
        Index("ix_drafts_scheduled", "effective_at", postgresql_where=text("state = 'scheduled'")),
        CheckConstraint("scope_kind IN ('town', 'village')", name="ck_drafts_scope_kind"),
    )


class DraftGrid(Base):
    __tablename__ = "draft_grids"

    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"),
                                          primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    zone_code: Mapped[str | None] = mapped_column(String(20))
    leader_id: Mapped[int | None] = mapped_column(Integer)
    worker_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)
    base_grid_id: Mapped[int | None] = mapped_column(Integer)
    removed: Mapped[bool] = mapped_column(Boolean, server_default="false")
    revision: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (
        CheckConstraint("level IN ('admin', 'regional', 'service')", name="ck_draft_grids_level"),
        Index("ix_draft_grids_geom", "geom", postgresql_using="gist"),
    )


class DraftChange(Base):
    __tablename__ = "draft_changes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(20))
    codes: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_draft_changes_draft", "draft_id", "revision"),)
