"""an open case's update writes fewer index entries; a bulk write queues no notifications

A publish re-routes every open case on land that changes in one UPDATE (planning/publish.sql
reroute): 57,000 rows for a town whose every leaf grid is redrawn. The columns it changes are
indexed, so no row is updated in place (HOT): each row's new version is written into every
index of cases, 14 of them, and that was most of the publish's time (issue 11: ≤ 10 s). Three
of those entries are written for nothing:

- ``ix_cases_idempotency_key``: the key is claimed, and found, in case_keys (migration 0060);
  cases/queries.sql case_by_idempotency_key and cases/history.sql imported_before read it there
  now. An update wrote an entry for the key (NULL for most cases) into it every time.
- ``ix_cases_assignee``: every statement that looks for a person's cases looks for their open
  ones (ix_cases_open_assignee: the inbox, the open counts of assignment and publish).
- ``ix_cases_closed_at`` held a NULL for every open case; every statement that reads it bounds
  ``closed_at`` by a range (the board, OGC features, statistics), which implies NOT NULL, so
  the index keeps the closed cases only and an open case's update skips it.

And the live notification triggers (migrations 0003, 0035) are skipped by their WHEN clause
when the transaction says ``gridgov.bulk`` (a publish, the demo, the history import): the
function returned at once for such a write, but each row's call was queued first and made at
the end of the statement, 57,000 calls for one publish. The function keeps its own check.

Revision ID: 0064
Revises: 0063
"""

from alembic import op

revision = "0064"
down_revision = "0063"
branch_labels = None
depends_on = None

BULK_OFF = "current_setting('gridgov.bulk', true) IS DISTINCT FROM 'on'"
CHANGED = ("(OLD.supporters IS NOT DISTINCT FROM NEW.supporters "
           "OR to_jsonb(OLD) - 'supporters' IS DISTINCT FROM to_jsonb(NEW) - 'supporters')")


def _triggers(insert_when: str, update_when: str) -> None:
    op.execute("DROP TRIGGER cases_notify ON cases")
    op.execute("DROP TRIGGER cases_notify_change ON cases")
    op.execute("CREATE TRIGGER cases_notify AFTER INSERT ON cases FOR EACH ROW "
               f"{insert_when} EXECUTE FUNCTION cases_notify()")
    op.execute("CREATE TRIGGER cases_notify_change AFTER UPDATE ON cases FOR EACH ROW "
               f"WHEN ({update_when}) EXECUTE FUNCTION cases_notify()")


def upgrade() -> None:
    op.execute("DROP INDEX ix_cases_idempotency_key")
    op.execute("DROP INDEX ix_cases_assignee")
    op.execute("DROP INDEX ix_cases_closed_at")
    op.execute("CREATE INDEX ix_cases_closed_at ON cases (closed_at) WHERE closed_at IS NOT NULL")
    _triggers(f"WHEN ({BULK_OFF})", f"{BULK_OFF} AND {CHANGED}")


def downgrade() -> None:
    _triggers("", CHANGED)
    op.execute("DROP INDEX ix_cases_closed_at")
    op.execute("CREATE INDEX ix_cases_closed_at ON cases (closed_at)")
    op.execute("CREATE INDEX ix_cases_assignee ON cases (assignee_id)")
    op.execute("CREATE INDEX ix_cases_idempotency_key ON cases (idempotency_key)")
