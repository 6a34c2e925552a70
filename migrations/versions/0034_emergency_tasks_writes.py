"""emergency_tasks written in bulk: fewer index entries per task, and the emergency's
existence checked once per statement instead of once per task

A mobilisation of the whole town inserts 31,000 tasks in one statement (issue 12: ≤ 1 s).
Each task used to cost six index entries and one foreign-key check (a query with a row lock,
per row: 0.15 s of the 0.7 s insert on an idle machine, more under load). Now:

- ``confirm_id`` (unique) and ``(emergency_id, received_at)`` are partial, on the rows that
  have them: a new task is open, with neither, and is not entered in them;
- ``(emergency_id, status)`` is dropped: ``uq_emergency_tasks_target`` starts with
  ``emergency_id`` and serves the board's and the list's lookups by emergency;
- the foreign key to ``emergencies`` is kept as triggers of the same meaning (RESTRICT): after
  an INSERT statement, one query over its new rows (a transition table) refuses a task of an
  emergency that does not exist and takes the key-share lock the foreign key would take, once
  per emergency; an emergency's id does not change, a task's ``emergency_id`` does not change,
  and an emergency with tasks is not deleted. Errors keep the foreign key's SQLSTATE (23503).

Revision ID: 0034
Revises: 0033
"""

from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

TRIGGERS = """
CREATE FUNCTION emergency_tasks_check_emergency() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing integer;
BEGIN
    SELECT n.emergency_id INTO missing
      FROM (SELECT DISTINCT emergency_id FROM new_tasks) n
     WHERE NOT EXISTS (SELECT 1 FROM emergencies e WHERE e.id = n.emergency_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'emergency_tasks refers to emergency %, which does not exist', missing
              USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- as a foreign key does: the emergency cannot be deleted until this transaction ends
    PERFORM 1 FROM emergencies e
     WHERE e.id IN (SELECT DISTINCT emergency_id FROM new_tasks)
       FOR KEY SHARE;
    RETURN NULL;
END $$;

CREATE TRIGGER emergency_tasks_check_emergency AFTER INSERT ON emergency_tasks
    REFERENCING NEW TABLE AS new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION emergency_tasks_check_emergency();

CREATE FUNCTION emergency_tasks_keep_emergency() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.emergency_id IS DISTINCT FROM OLD.emergency_id THEN
        RAISE EXCEPTION 'a task stays with its emergency (task %)', OLD.id
              USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER emergency_tasks_keep_emergency BEFORE UPDATE OF emergency_id ON emergency_tasks
    FOR EACH ROW EXECUTE FUNCTION emergency_tasks_keep_emergency();

CREATE FUNCTION emergencies_restrict_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM emergency_tasks t WHERE t.emergency_id = OLD.id) THEN
        RAISE EXCEPTION 'emergency % still has tasks', OLD.id
              USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE TRIGGER emergencies_restrict_tasks BEFORE DELETE OR UPDATE OF id ON emergencies
    FOR EACH ROW EXECUTE FUNCTION emergencies_restrict_tasks();
"""


def upgrade() -> None:
    op.drop_constraint("emergency_tasks_confirm_id_key", "emergency_tasks", type_="unique")
    op.create_index("uq_emergency_tasks_confirm_id", "emergency_tasks", ["confirm_id"],
                    unique=True, postgresql_where="confirm_id IS NOT NULL")
    op.drop_index("ix_emergency_tasks_received", "emergency_tasks")
    op.create_index("ix_emergency_tasks_received", "emergency_tasks",
                    ["emergency_id", "received_at"], postgresql_where="received_at IS NOT NULL")
    op.drop_index("ix_emergency_tasks_emergency", "emergency_tasks")
    op.drop_constraint("emergency_tasks_emergency_id_fkey", "emergency_tasks", type_="foreignkey")
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute("DROP TRIGGER emergencies_restrict_tasks ON emergencies")
    op.execute("DROP TRIGGER emergency_tasks_keep_emergency ON emergency_tasks")
    op.execute("DROP TRIGGER emergency_tasks_check_emergency ON emergency_tasks")
    op.execute("DROP FUNCTION emergencies_restrict_tasks()")
    op.execute("DROP FUNCTION emergency_tasks_keep_emergency()")
    op.execute("DROP FUNCTION emergency_tasks_check_emergency()")
    op.create_foreign_key("emergency_tasks_emergency_id_fkey", "emergency_tasks", "emergencies",
                          ["emergency_id"], ["id"])
    op.create_index("ix_emergency_tasks_emergency", "emergency_tasks", ["emergency_id", "status"])
    op.drop_index("ix_emergency_tasks_received", "emergency_tasks")
    op.create_index("ix_emergency_tasks_received", "emergency_tasks",
                    ["emergency_id", "received_at"])
    op.drop_index("uq_emergency_tasks_confirm_id", "emergency_tasks")
    op.create_unique_constraint("emergency_tasks_confirm_id_key", "emergency_tasks",
                                ["confirm_id"])
