"""The feeds package's tables (migration 0032): the feeds, every event they sent, and the
messages refused on the MQTT path.

**The secret is stored as it is.** Unlike an account's API token (kept as a digest), a feed's
secret must be *used* to check a signature: HMAC needs the key itself, so a digest would make
it useless. Encrypting it with a key kept beside the database would protect nothing on this
single-machine deployment (whoever reads var/ reads both) and would lose every feed on a
restore elsewhere. The table is readable only by the ``gridgov`` role; treat a backup as a
secret, and rotate a leaked feed's secret (``gridgov feeds add NAME --replace``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
    String, Text, UniqueConstraint, func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base

# what became of an event: a new case, counted as a supporter of the open case it repeats
# (the closed-loop rule: same category, 50 m, 24 h), or a reading on the safe side of its
# threshold (recorded; it closes nothing by itself)
EVENT_STATUSES = ("opened", "joined", "normal")
VIA = ("http", "mqtt")


class Feed(Base):
    """A monitoring feed: its name (URL segment and MQTT topic level), its secret and its
    mapping (feeds/mapping.py, kept as data)."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    secret: Mapped[str] = mapped_column(String(100))  # as is: see the module's docstring
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FeedEvent(Base):
    """One event of a feed, by the feed's own id (unique per feed): a retry, a replay inside
    the signature's window or an MQTT redelivery finds it here and changes nothing."""

    __tablename__ = "feed_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    town_code: Mapped[str | None] = mapped_column(String(12))
    via: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sensor_type: Mapped[str] = mapped_column(String(60))
    sensor_id: Mapped[str | None] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    # no foreign key: cases are partitioned by month (migration 0060's triggers keep it)
    case_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("feed_id", "external_id", name="uq_feed_events_external_id"),
        CheckConstraint("status IN ('opened', 'joined', 'normal')", name="ck_feed_events_status"),
        CheckConstraint("via IN ('http', 'mqtt')", name="ck_feed_events_via"),
        Index("ix_feed_events_case", "case_id"),
    )


class FeedReject(Base):
    """A message the MQTT subscriber could not take (not JSON, an unknown feed or sensor
    type, a position outside the town, …): kept here for the operator, acknowledged to the
    broker, and nothing else written. HTTP senders get the refusal as the answer instead."""

    __tablename__ = "feed_rejects"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    feed_name: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    error: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # at most REJECTED_PAYLOAD_BYTES

    __table_args__ = (Index("ix_feed_rejects_received_at", "received_at"),)
