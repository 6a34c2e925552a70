"""live map: stored lon/lat on cases for fast binning, NOTIFY on every case change

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Every insert or update of a case notifies channel gridgov_cases (web/live.py listens in each
# server process). Bulk loaders (the demo, `gridgov cases import`) set gridgov.bulk = 'on' for
# their transaction and send one {"op": "bulk"} notification instead of one per row.
# Hand-written SQL: Alembic has no notion of triggers.
NOTIFY = """
CREATE FUNCTION cases_notify() RETURNS trigger LANGUAGE plpgsql AS $$
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
        'old_lon', CASE WHEN TG_OP = 'UPDATE' AND OLD.geom IS DISTINCT FROM NEW.geom THEN ST_X(OLD.geom) END,
        'old_lat', CASE WHEN TG_OP = 'UPDATE' AND OLD.geom IS DISTINCT FROM NEW.geom THEN ST_Y(OLD.geom) END
    )::text);
    RETURN NULL;
END $$;
CREATE TRIGGER cases_notify AFTER INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_notify();
"""


def upgrade() -> None:
    op.execute("ALTER TABLE cases ADD COLUMN lon double precision GENERATED ALWAYS AS (ST_X(geom)) STORED")
    op.execute("ALTER TABLE cases ADD COLUMN lat double precision GENERATED ALWAYS AS (ST_Y(geom)) STORED")
    op.execute(NOTIFY)


def downgrade() -> None:
    op.execute("DROP TRIGGER cases_notify ON cases")
    op.execute("DROP FUNCTION cases_notify()")
    op.execute("ALTER TABLE cases DROP COLUMN lat")
    op.execute("ALTER TABLE cases DROP COLUMN lon")
