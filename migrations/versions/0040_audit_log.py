"""audit_log: every read of a person's full record by staff, append-only

One row per read of an unmasked record (accounts/privacy.py says which are): who read it (the
account's id, name and role, copied: an account renamed or disabled later must not change what
the log says), whose record (``subject_type`` and ``subject_id``: a case's reporter is
``case_reporter`` and the case id), when, from which address, why (the reason the reader gave)
and where (the route). The record itself is never copied here: the log must not become a
second copy of the personal data it guards.

Append-only in the database, as ``case_events`` is (migration 0002): UPDATE and DELETE are
refused by a row trigger, TRUNCATE by a statement trigger, whoever asks.

Revision ID: 0040
Revises: 0036
"""

from alembic import op
import sqlalchemy as sa

revision = "0040"
down_revision = "0036"
branch_labels = None
depends_on = None

SUBJECT_TYPES = ("case_reporter", "person", "household")

APPEND_ONLY = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("account_id", sa.Integer()),
        sa.Column("account_name", sa.String(50), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("subject_type", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("town_code", sa.String(12)),
        sa.Column("fields", sa.ARRAY(sa.String(20)), nullable=False),
        sa.Column("remote_addr", sa.String(64)),
        sa.Column("route", sa.String(200)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint("subject_type IN (" + ", ".join(f"'{t}'" for t in SUBJECT_TYPES) + ")",
                           name="ck_audit_log_subject_type"),
        sa.CheckConstraint("char_length(btrim(reason)) >= 2", name="ck_audit_log_reason"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_account", "audit_log", ["account_id", "at"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_type", "subject_id", "at"])
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TABLE audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
