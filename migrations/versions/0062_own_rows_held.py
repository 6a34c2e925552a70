"""A case this transaction wrote is not locked again by the reference checks

Migration 0060 keeps the foreign keys to ``cases(id)`` with triggers: after an INSERT statement
on a table that names cases (events, clocks, photos, …), each named case is locked FOR KEY SHARE,
as a foreign key would lock it, then counted. A case whose row version this very transaction
wrote (inserted it, as the intake does in the statement that also writes its first event, or
updated it, as a publish's re-routing does in the statement that writes the ``rerouted``
events) is held already: no other transaction sees that version, so none can delete it before
this one ends. Locking it again rewrote the tuple's header, a WAL record per case: a publish
re-routing 57,000 open cases spent 2.8 s of its 9.4 s write in this check (EXPLAIN ANALYZE on
1M cases, 2026-12-01). Such a case is now counted without the lock; every other one is locked
as before. A version written under a savepoint carries the subtransaction's id and takes the
lock as before (correct, only not faster).

The same check found the named cases by ``id IN (SELECT … FROM new_rows)``: the planner, with no
statistics on a transition table, took its distinct ids for 200 and probed each month's
partition once per id, 1.3 s for those 57,000 (18 partitions × 57,000 index scans). A plain
join lets it use the table's row count, which PostgreSQL gives it: a hash join, 0.2 s. Since
PL/pgSQL plans static SQL once per session, a plan made for an intake's one row would be kept for
a publish's 57,000 (and one made for 57,000, a hash join over every case, kept for each intake):
up to ``PLANNED_ONCE`` cases the statement is static, above it is planned for its rows
(EXECUTE).


Revision ID: 0062
Revises: 0061
"""

import importlib

from alembic import op

revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None

_0060 = importlib.import_module("migrations.versions.0060_month_partitions")

# up to this many cases named by one statement, the check is static SQL planned once
PLANNED_ONCE = 1000

EXIST = """
CREATE OR REPLACE FUNCTION gridgov_{table}_{column}_exist() RETURNS trigger LANGUAGE plpgsql AS $$
-- After an INSERT statement on {table}: each case its {column} names must exist. A case whose
-- row version this transaction wrote is held already (migration 0062); every other one is
-- locked as a foreign key would lock it (FOR KEY SHARE), then counted: locked first, counted
-- after, so a case deleted by a transaction that commits while we wait for its lock is not
-- counted.
DECLARE
    me xid := CAST(pg_current_xact_id() AS xid);
    wanted bigint;
    own bigint;
    locked bigint := 0;
    missing bigint;
BEGIN
    SELECT count(DISTINCT n.{column}) INTO wanted FROM new_rows n;
    IF wanted = 0 THEN
        RETURN NULL;
    END IF;
    IF wanted <= {planned_once} THEN
        -- few rows (an intake, a transition): static SQL, planned once per session (index
        -- probes into each month's partition)
        SELECT count(DISTINCT c.id) INTO own
          FROM new_rows n JOIN cases c ON c.id = n.{column} WHERE c.xmin = me;
        IF own < wanted THEN
            SELECT count(DISTINCT l.id) INTO locked
              FROM (SELECT c.id FROM new_rows n JOIN cases c ON c.id = n.{column}
                     WHERE c.xmin <> me FOR KEY SHARE OF c) l;
        END IF;
    ELSE
        -- many (a publish re-routing a town): planned for this statement's rows, whose count
        -- the planner then knows, where a plan cached from an intake's one row would probe
        -- every partition for each of them
        EXECUTE 'SELECT count(DISTINCT c.id) FROM new_rows n JOIN cases c ON c.id = n.{column}'
                ' WHERE c.xmin = $1' INTO own USING me;
        IF own < wanted THEN
            EXECUTE 'SELECT count(DISTINCT l.id) FROM (SELECT c.id FROM new_rows n'
                    ' JOIN cases c ON c.id = n.{column} WHERE c.xmin <> $1 FOR KEY SHARE OF c) l'
                    INTO locked USING me;
        END IF;
    END IF;
    IF own + locked < wanted THEN
        SELECT n.{column} INTO missing FROM new_rows n
         WHERE n.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = n.{column})
         LIMIT 1;
        RAISE EXCEPTION '{table}.{column} refers to case %, which does not exist', missing
              USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    for table, column, _ in _0060.REFERENCES:
        op.execute(EXIST.format(table=table, column=column, planned_once=PLANNED_ONCE))


def downgrade() -> None:
    # 0060's function, the part of its text before the second function
    before, _, _ = _0060.REFERENCE_FUNCTIONS.partition(
        "CREATE FUNCTION gridgov_{table}_{column}_changed()")
    old = before.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for table, column, _ in _0060.REFERENCES:
        op.execute(old.format(table=table, column=column))
