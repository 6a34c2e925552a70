"""transitions taken on a phone: the Idempotency-Key of a queued action and the time the worker
took it (case_events.idempotency_key, case_events.taken_at)

Revision ID: 0019
Revises: 0020
"""

from alembic import op
import sqlalchemy as sa

revision = "0019"
down_revision = "0020"
branch_labels = None
depends_on = None


# A grid worker's phone queues actions while offline and sends each with its own UUID as the
# Idempotency-Key (cases/transition_keys.py): the key is kept on the event it wrote, unique per
# account, so a replay finds the first event instead of applying the action twice, and two
# replays racing each other are settled by the index. taken_at is when the worker acted on the
# phone; the event's `at` stays the moment the server applied it. case_events is append-only
# (migration 0002's trigger): new columns are fine, the trigger covers them too.
def upgrade() -> None:
    op.add_column("case_events", sa.Column("idempotency_key", sa.String(length=100),
                                           nullable=True))
    op.add_column("case_events", sa.Column("taken_at", sa.DateTime(timezone=True),
                                           nullable=True))
    op.create_index("uq_case_events_account_key", "case_events",
                    ["account_id", "idempotency_key"], unique=True,
                    postgresql_where=sa.text("idempotency_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_case_events_account_key", table_name="case_events")
    op.drop_column("case_events", "taken_at")
    op.drop_column("case_events", "idempotency_key")
