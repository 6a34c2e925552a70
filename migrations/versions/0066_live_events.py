"""a case's live notice is a row of live_events, read by each server's hub, not a NOTIFY

Every report and every transition notified channel gridgov_cases from the cases' trigger. A
transaction that notifies takes one lock for the whole cluster before its commit and holds it
until its commit record is on disk (PostgreSQL's async.c: so that notices queue in commit
order), so every report's commit waited for the one before it to be flushed; a backend
preempted while holding it held up all the others (sampled under saturated reports: 153 of
963 active-backend samples waited on that lock, 107 on the WAL flush). Each commit then
signalled every listening backend (two per server worker: its own and its stream process's).
bench/notices_bench.py compares the two ways on one server and database (bench/RESULTS.md).

Now the trigger appends the notice to ``live_events``, a table like any other for the
writer's transaction, and each hub reads what was appended since it last looked (cases/notices.py
says how it finds the rows of transactions that commit out of order). Rarer notices keep
NOTIFY: a publish's, the supervision pass's cards, emergencies', bulk loads', and the
accounts' channel.

Unlogged: a notice is for the pages open now; it writes no WAL and is gone after a crash,
when every page reconnects and fetches what it shows anyway. Its sequence stays logged, so
ids keep growing across a crash (an unlogged one would start again at 1, below what the hubs
have read). Each hub deletes notices older than a minute (cases/notices.py RETAIN_S).

Revision ID: 0066
Revises: 0065
"""

from alembic import op

revision = "0066"
down_revision = "0065"
branch_labels = None
depends_on = None

FIELDS = """json_build_object(
        'op', lower(TG_OP), 'id', NEW.id, 'status', NEW.status,
        'category_code', NEW.category_code, 'channel', NEW.channel,
        'lon', ST_X(NEW.geom), 'lat', ST_Y(NEW.geom),
        'grid_code', NEW.grid_code, 'admin_code', NEW.admin_code,
        'assignee_id', NEW.assignee_id, 'due_at', NEW.due_at,
        'created_at', NEW.created_at, 'updated_at', NEW.updated_at,
        'queue', NEW.queue, 'department_code', NEW.department_code, 'version', NEW.version,
        'old_lon', CASE WHEN TG_OP = 'UPDATE' AND OLD.geom IS DISTINCT FROM NEW.geom
                        THEN ST_X(OLD.geom) END,
        'old_lat', CASE WHEN TG_OP = 'UPDATE' AND OLD.geom IS DISTINCT FROM NEW.geom
                        THEN ST_Y(OLD.geom) END
    )::text"""

FUNCTION = """
CREATE OR REPLACE FUNCTION cases_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('gridgov.bulk', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    %s;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE live_events_id_seq")
    op.execute("""
CREATE UNLOGGED TABLE live_events (
    id bigint PRIMARY KEY DEFAULT nextval('live_events_id_seq'),
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload text NOT NULL
)""")
    op.execute("ALTER SEQUENCE live_events_id_seq OWNED BY live_events.id")
    op.execute(FUNCTION % f"INSERT INTO live_events (payload) VALUES ({FIELDS})")


def downgrade() -> None:
    op.execute(FUNCTION % f"PERFORM pg_notify('gridgov_cases', {FIELDS})")
    op.execute("DROP TABLE live_events")
