"""monitoring feeds: feeds (name, secret, mapping), feed_events (the feed's own event id,
unique per feed, and the case it became) and feed_rejects (MQTT messages refused)

Revision ID: 0032
Revises: 0031
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the secret as is: an HMAC is checked with the key itself (feeds/models.py says why)
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(60), nullable=False, unique=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("mapping", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "feed_events",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id"), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("town_code", sa.String(12)),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True)),
        sa.Column("sensor_type", sa.String(60), nullable=False),
        sa.Column("sensor_id", sa.String(100)),
        sa.Column("value", sa.Float),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("case_id", sa.BigInteger, sa.ForeignKey("cases.id")),
        # a retried, replayed or redelivered event finds its first row here
        sa.UniqueConstraint("feed_id", "external_id", name="uq_feed_events_external_id"),
        sa.CheckConstraint("status IN ('opened', 'joined', 'normal')", name="ck_feed_events_status"),
        sa.CheckConstraint("via IN ('http', 'mqtt')", name="ck_feed_events_via"),
    )
    op.create_index("ix_feed_events_case", "feed_events", ["case_id"])
    op.create_table(
        "feed_rejects",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("feed_name", sa.String(200), nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(60), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_feed_rejects_received_at", "feed_rejects", ["received_at"])


def downgrade() -> None:
    op.drop_table("feed_rejects")
    op.drop_table("feed_events")
    op.drop_table("feeds")
