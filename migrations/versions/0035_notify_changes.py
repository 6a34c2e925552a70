"""a case's live notification only when something it carries changed: not for one more
supporter

A monitoring feed repeating an alarm adds a supporter to the open case it raised ("+N",
feeds/feeds.sql add_supporters), hundreds of times a second at 500 events/s. Each such update
notified every server process's listener, which parsed it, dropped the cached tiles around
the case and handed it to every open stream: work for nothing, since the notification
carries nothing a supporter changes (no page shows the count live; the pages that show it,
the case page and the public board, are rendered on request). It competed with the
residents' reports for the two cores (issue 12: the intake's p99 beside a 500/s feed).

The trigger is split: every INSERT notifies as before; an UPDATE notifies unless the only
column it changed is ``supporters`` (the WHEN clause compares the rows without it; an update
that leaves ``supporters`` alone skips that comparison). The function is unchanged.

Revision ID: 0035
Revises: 0034
"""

from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

SPLIT = """
DROP TRIGGER cases_notify ON cases;
CREATE TRIGGER cases_notify AFTER INSERT ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_notify();
CREATE TRIGGER cases_notify_change AFTER UPDATE ON cases
    FOR EACH ROW
    WHEN (OLD.supporters IS NOT DISTINCT FROM NEW.supporters
          OR to_jsonb(OLD) - 'supporters' IS DISTINCT FROM to_jsonb(NEW) - 'supporters')
    EXECUTE FUNCTION cases_notify();
"""

JOINED = """
DROP TRIGGER cases_notify_change ON cases;
DROP TRIGGER cases_notify ON cases;
CREATE TRIGGER cases_notify AFTER INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_notify();
"""


def upgrade() -> None:
    op.execute(SPLIT)


def downgrade() -> None:
    op.execute(JOINED)
