"""supervision: the background worker's job queue (procrastinate), each deadline signal issued
once, and the notifications it sends

Revision ID: 0012
Revises: 0011
"""

from pathlib import Path

from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The same words as cases.models: a signal is the clock's due_soon / overdue moment or a card.
SIGNAL_TYPES = "'card', 'deadline'"
SCOPE_KINDS = "'village', 'town', 'department'"


# procrastinate's own schema at the pinned version (pyproject.toml), applied here so that
# `gridgov db upgrade` stays the one command that makes a database ready. It is a frozen copy,
# not read from the installed package: a revision must build the same schema forever. A later
# procrastinate release ships its changes as SQL files (procrastinate/sql/migrations/); moving
# the pin means a new revision of ours that applies those.
PROCRASTINATE_SCHEMA = Path(__file__).with_name("0012_procrastinate_3.10.0.sql")


def upgrade() -> None:
    # on the driver's connection, without parameters: the schema is many statements with
    # `%` and `:` of its own, which neither psycopg nor SQLAlchemy must read as placeholders
    op.get_bind().connection.driver_connection.execute(
        PROCRASTINATE_SCHEMA.read_text(encoding="utf-8"))

    # A signal is issued once: the pass inserts with ON CONFLICT DO NOTHING on this key, so two
    # passes at once, two workers, or a worker killed mid-pass never issue one twice.
    op.create_index(
        "uq_case_events_signal", "case_events",
        ["case_id", sa.text("(data ->> 'deadline_id')"), sa.text("(data ->> 'signal')")],
        unique=True, postgresql_where=sa.text(f"type IN ({SIGNAL_TYPES})"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("town_code", sa.String(length=12), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("signal", sa.String(length=20), nullable=False),
        sa.Column("clock", sa.String(length=20), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("scope_kind", sa.String(length=20), nullable=True),
        sa.Column("scope_code", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            f"(person_id IS NOT NULL AND scope_kind IS NULL AND scope_code IS NULL) OR "
            f"(person_id IS NULL AND scope_kind IN ({SCOPE_KINDS}) AND scope_code IS NOT NULL)",
            name="ck_notifications_recipient"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["case_events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notifications_person", "notifications", ["person_id", "id"],
                    postgresql_where=sa.text("person_id IS NOT NULL"))
    op.create_index("ix_notifications_scope", "notifications", ["scope_kind", "scope_code", "id"],
                    postgresql_where=sa.text("scope_kind IS NOT NULL"))
    op.create_index("ix_notifications_town", "notifications", ["town_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_town", table_name="notifications")
    op.drop_index("ix_notifications_scope", table_name="notifications")
    op.drop_index("ix_notifications_person", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("uq_case_events_signal", table_name="case_events")
    # procrastinate's objects all carry its prefix: its tables (their triggers go with them),
    # then its functions and types
    op.execute("""
DO $$
DECLARE obj record;
BEGIN
    FOR obj IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = current_schema() AND c.relkind = 'r'
                 AND c.relname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', obj.relname);
    END LOOP;
    FOR obj IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', obj.sig);
    END LOOP;
    FOR obj IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
               WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
                 AND t.typtype IN ('e', 'c') LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', obj.typname);
    END LOOP;
END $$;
""")
