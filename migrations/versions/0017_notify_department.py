"""live notifications name the case's department, queue and version

Revision ID: 0017
Revises: 0010
"""

from alembic import op

revision = "0017"
down_revision = "0010"
branch_labels = None
depends_on = None

# A department handler's live stream carries its department's cases (web/streams.py
# scope_filter): the notification must say which department holds a case. The queue and the
# version let an open page tell a change of holder, and a stale copy, without a refetch.
# Hand-written SQL: Alembic has no notion of triggers (migration 0003 made the function).
NOTIFY = """
CREATE OR REPLACE FUNCTION cases_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('gridgov.bulk', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('gridgov_cases', json_build_object(
        'op', lower(TG_OP), 'id', NEW.id, 'status', NEW.status,
        'category_code', NEW.category_code, 'channel', NEW.channel,
        'lon', ST_X(NEW.geom), 'lat', ST_Y(NEW.geom),
        'grid_code', NEW.grid_code, 'admin_code', NEW.admin_code,
        'assignee_id', NEW.assignee_id, 'due_at', NEW.due_at,
        'created_at', NEW.created_at, 'updated_at', NEW.updated_at,
        'queue', NEW.queue, 'department_code', NEW.department_code, 'version', NEW.version,
        'old_lon', CASE WHEN TG_OP = 'UPDATE' AND OLD.geom IS DISTINCT FROM NEW.geom THEN ST_X(OLD.geom) END,
        'old_lat', CASE WHEN TG_OP = 'UPDATE' AND OLD.geom IS DISTINCT FROM NEW.geom THEN ST_Y(OLD.geom) END
    )::text);
    RETURN NULL;
END $$;
"""

PREVIOUS = NOTIFY.replace(
    "        'queue', NEW.queue, 'department_code', NEW.department_code, 'version', NEW.version,\n", "")


def upgrade() -> None:
    op.execute(NOTIFY)


def downgrade() -> None:
    op.execute(PREVIOUS)
