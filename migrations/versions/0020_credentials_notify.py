"""notify channel gridgov_accounts on every change to credentials, accounts and scopes, so
each server process's cache of who a token or cookie belongs to forgets at once
(accounts/cache.py)

Revision ID: 0020
Revises: 0016
"""

from alembic import op

revision = "0020"
down_revision = "0016"
branch_labels = None
depends_on = None

# what an Actor is made of (accounts/repository.py _ACTOR_COLUMNS): the account, its token or
# session, a worker's grid assignments, a zone's grids. A new token or session changes no
# cached answer (unknown credentials are never cached), so inserts there need no note.
TRIGGERS = {
    "accounts": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "api_tokens": "UPDATE OR DELETE OR TRUNCATE",
    "web_sessions": "UPDATE OR DELETE OR TRUNCATE",
    "grid_assignments": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "grids": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
}


def upgrade() -> None:
    # one note per statement, not per row; NOTIFY is sent when the transaction commits and
    # folds identical notes of one transaction into one
    op.execute("""
CREATE FUNCTION notify_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridgov_accounts', TG_TABLE_NAME);
    RETURN NULL;
END $$""")
    for table, events in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {table}_notify_credentials AFTER {events} ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed()")


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_notify_credentials ON {table}")
    op.execute("DROP FUNCTION notify_credentials_changed()")
