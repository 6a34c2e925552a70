"""cases and case_events partitioned by month (issue 13): declarative RANGE partitions on the
moment a row was made (cases.created_at, case_events.at), in the town's local time, one per
month, a DEFAULT partition so an insert never fails, months made ahead by the background
worker (jobs/app.py ``gridgov.make_partitions``, calling ``gridgov_make_month_partitions``).

PostgreSQL asks of a partitioned table that every unique index holds the partition key. What
that costs, and what keeps each guarantee:

- the primary keys become (id, created_at) and (id, at). An id is still one row: ids come from
  the tables' sequences and never change (a trigger refuses an UPDATE of id);
- a foreign key may only name a unique key, so the eight foreign keys to cases(id) (events,
  clocks, photos, rating links, visits, feed events, and a case's merged_into and
  probable_duplicate_of) become triggers of the same meaning, as migration 0034 did for
  emergency tasks: after an INSERT statement one query over its new rows (a transition table)
  takes the key-share lock a foreign key takes on each case named, then refuses the statement
  (SQLSTATE 23503, the foreign key's) when one is missing; a row's case_id or a case's
  merged_into changed by an UPDATE is checked the same way, per row; a DELETE of cases still
  named is refused after the statement (NO ACTION);
- the four unique indexes that do not hold the partition key (a case's Idempotency-Key; an
  event's deadline signal, reopen card, and an account's transition key) become claims in two
  small unpartitioned tables, ``case_keys`` and ``case_event_keys``, made by a BEFORE INSERT
  trigger with INSERT … ON CONFLICT DO NOTHING: a row whose key is taken is not inserted. That
  is what each of the four writers asked of its unique index (ON CONFLICT DO NOTHING, and no
  row back), under the same concurrency (the second claim waits for the first transaction,
  then finds the key taken or free); the writers lost their ON CONFLICT clauses, which named
  the old indexes. The indexes stay, not unique, for the lookups by key. One difference: an
  INSERT without ON CONFLICT that repeats a key used to fail (23505) and now inserts nothing;
  every writer of gridgov said ON CONFLICT DO NOTHING, so none sees it. A claim is written in its
  row's transaction (a row rolled back leaves no claim); a case deleted takes its key with it;
  events are never deleted; a TRUNCATE of either table empties its claims.

Every index the map and the tiles read (tiles/mvt.py, the open-case and lon/lat covering
indexes) is built on the parent and so on every partition. What partitioning costs: a lookup
by id alone (a case page, a transition) probes each partition's index; pruning helps the
queries that bound created_at (statistics by period, the scores), and a month can be detached
and archived whole.

Revision ID: 0060
Revises: 0040
"""

import re

from alembic import op

revision = "0060"
down_revision = "0040"
branch_labels = None
depends_on = None

# The town's months: partitions end at local midnight (cases.deadlines.LOCAL_TZ).
TZ = "Asia/Shanghai"
MONTHS_AHEAD = 3

# table -> its partition key
PARTITIONED = {"cases": "created_at", "case_events": "at"}
# the foreign keys to cases(id) this migration replaces: (table, column, constraint name)
REFERENCES = (
    ("case_events", "case_id", "case_events_case_id_fkey"),
    ("case_deadlines", "case_id", "case_deadlines_case_id_fkey"),
    ("case_photos", "case_id", "case_photos_case_id_fkey"),
    ("rating_links", "case_id", "rating_links_case_id_fkey"),
    ("visits", "case_id", "visits_case_id_fkey"),
    ("feed_events", "case_id", "feed_events_case_id_fkey"),
    ("cases", "merged_into", "fk_cases_merged_into"),
    ("cases", "probable_duplicate_of", "fk_cases_probable_duplicate_of"),
)
# the unique indexes that become claims, and the plain indexes that replace them
UNIQUE_TO_PLAIN = {
    "uq_cases_idempotency_key": "ix_cases_idempotency_key",
    "uq_case_events_signal": "ix_case_events_signal",
    "uq_case_events_reopen_card": "ix_case_events_reopen_card",
    "uq_case_events_account_key": "ix_case_events_account_key",
}

MAKE_PARTITIONS = f"""
CREATE FUNCTION gridgov_make_month_partitions(parent regclass, first_month date, months integer)
RETURNS SETOF text LANGUAGE plpgsql AS $$
-- The partitions of ``months`` months from ``first_month`` on that do not exist yet, named
-- <parent>_pYYYY_MM, bounded at local midnight ({TZ}); returns the names made. A month some
-- rows of which already wait in the DEFAULT partition is left there (creating it would
-- fail): a WARNING says so, and those rows stay readable where they are.
DECLARE
    key text;
    month date;
    name text;
    lower_at timestamptz;
    upper_at timestamptz;
    waiting boolean;
BEGIN
    SELECT a.attname INTO key
      FROM pg_partitioned_table p
      JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
     WHERE p.partrelid = parent;
    IF key IS NULL THEN
        RAISE EXCEPTION '% is not a partitioned table', parent;
    END IF;
    FOR i IN 0 .. months - 1 LOOP
        month := CAST(date_trunc('month', first_month) + make_interval(months => i) AS date);
        name := format('%s_p%s', parent::text, to_char(month, 'YYYY_MM'));
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        lower_at := CAST(month AS timestamp) AT TIME ZONE '{TZ}';
        upper_at := CAST(month + interval '1 month' AS timestamp) AT TIME ZONE '{TZ}';
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= %L AND %I < %L)',
                       parent::text || '_default', key, lower_at, key, upper_at) INTO waiting;
        IF waiting THEN
            RAISE WARNING '% has rows of % in its default partition: month left there',
                          parent, to_char(month, 'YYYY-MM');
            CONTINUE;
        END IF;
        EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       name, parent, lower_at, upper_at);
        RETURN NEXT name;
    END LOOP;
END $$;
"""

# The foreign keys' meaning, kept by triggers (see the module docstring): two functions per
# reference, its table and column written in (static SQL: PL/pgSQL keeps the plans, where
# EXECUTE would plan every statement anew, on every intake).
REFERENCE_FUNCTIONS = """
CREATE FUNCTION gridgov_{table}_{column}_exist() RETURNS trigger LANGUAGE plpgsql AS $$
-- After an INSERT statement on {table}: lock each case its {column} names as a foreign key
-- would (FOR KEY SHARE), then refuse the statement if one is missing. Locked first, counted
-- after: a case deleted by a transaction that commits while we wait for its lock is not
-- counted.
DECLARE
    wanted bigint;
    locked bigint;
    missing bigint;
BEGIN
    SELECT count(DISTINCT n.{column}) INTO wanted FROM new_rows n;
    IF wanted = 0 THEN
        RETURN NULL;
    END IF;
    SELECT count(DISTINCT l.id) INTO locked
      FROM (SELECT c.id FROM cases c WHERE c.id IN (SELECT n.{column} FROM new_rows n)
               FOR KEY SHARE OF c) l;
    IF locked < wanted THEN
        SELECT n.{column} INTO missing FROM new_rows n
         WHERE n.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = n.{column})
         LIMIT 1;
        RAISE EXCEPTION '{table}.{column} refers to case %, which does not exist', missing
              USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION gridgov_{table}_{column}_changed() RETURNS trigger LANGUAGE plpgsql AS $$
-- Before an UPDATE that changes {table}.{column} of one row: the case it now names.
BEGIN
    IF NEW.{column} IS NOT NULL THEN
        PERFORM 1 FROM cases c WHERE c.id = NEW.{column} FOR KEY SHARE OF c;
        IF NOT FOUND THEN
            RAISE EXCEPTION '{table}.{column} refers to case %, which does not exist', NEW.{column}
                  USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER {table}_{column}_exists AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION gridgov_{table}_{column}_exist();
CREATE TRIGGER {table}_{column}_changed BEFORE UPDATE OF {column} ON {table}
    FOR EACH ROW WHEN (NEW.{column} IS DISTINCT FROM OLD.{column})
    EXECUTE FUNCTION gridgov_{table}_{column}_changed();
"""

REFERENCE_TRIGGERS = """
CREATE FUNCTION gridgov_cases_keep_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a case keeps its id (case %)', OLD.id
          USING ERRCODE = 'foreign_key_violation';
END $$;

CREATE FUNCTION gridgov_cases_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
-- After a DELETE statement on cases: refuse it while a row elsewhere still names a deleted
-- case (NO ACTION), else let their Idempotency-Keys go with them.
DECLARE
    ref record;
    named bigint;
BEGIN
    FOR ref IN SELECT * FROM (VALUES ('case_events', 'case_id'), ('case_deadlines', 'case_id'),
                                     ('case_photos', 'case_id'), ('rating_links', 'case_id'),
                                     ('visits', 'case_id'), ('feed_events', 'case_id'),
                                     ('cases', 'merged_into'), ('cases', 'probable_duplicate_of'))
                             AS r (tab, col) LOOP
        EXECUTE format('SELECT t.%2$I FROM %1$I t WHERE t.%2$I IN (SELECT id FROM old_cases) '
                       'LIMIT 1', ref.tab, ref.col) INTO named;
        IF named IS NOT NULL THEN
            RAISE EXCEPTION 'case % is still named by %.%', named, ref.tab, ref.col
                  USING ERRCODE = 'foreign_key_violation';
        END IF;
    END LOOP;
    DELETE FROM case_keys k USING old_cases o WHERE k.case_id = o.id;
    RETURN NULL;
END $$;

CREATE TRIGGER cases_keep_id BEFORE UPDATE OF id ON cases
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION gridgov_cases_keep_id();
CREATE TRIGGER cases_deleted AFTER DELETE ON cases REFERENCING OLD TABLE AS old_cases
    FOR EACH STATEMENT EXECUTE FUNCTION gridgov_cases_deleted();
"""

KEY_TRIGGERS = """
CREATE FUNCTION gridgov_cases_claim_key() RETURNS trigger LANGUAGE plpgsql AS $$
-- A case's Idempotency-Key, once: the row is not inserted when its key is taken.
BEGIN
    INSERT INTO case_keys (idempotency_key, case_id) VALUES (NEW.idempotency_key, NEW.id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION gridgov_cases_keep_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a case keeps its Idempotency-Key (case %)', OLD.id
          USING ERRCODE = 'unique_violation';
END $$;

CREATE FUNCTION gridgov_case_events_claim_keys() RETURNS trigger LANGUAGE plpgsql AS $$
-- An event's keys, each once (the unique indexes of migrations 0012, 0015 and 0019): a
-- deadline signal per clock row, a reopen card per reopen, a transition key per account. The
-- row is not inserted when one of its keys is taken (and claims none of them).
DECLARE
    claims text[][] := ARRAY[]::text[][];
    claim text[];
BEGIN
    IF NEW.type IN ('card', 'deadline') AND NEW.data ->> 'deadline_id' IS NOT NULL
       AND NEW.data ->> 'signal' IS NOT NULL THEN
        claims := claims || ARRAY[['signal', CAST(NEW.case_id AS text),
                                   (NEW.data ->> 'deadline_id') || ':' || (NEW.data ->> 'signal')]];
    END IF;
    IF NEW.type = 'card' AND NEW.data ->> 'reopen_event_id' IS NOT NULL THEN
        claims := claims || ARRAY[['reopen', CAST(NEW.case_id AS text),
                                   NEW.data ->> 'reopen_event_id']];
    END IF;
    IF NEW.idempotency_key IS NOT NULL AND NEW.account_id IS NOT NULL THEN
        claims := claims || ARRAY[['account', CAST(NEW.account_id AS text), NEW.idempotency_key]];
    END IF;
    FOREACH claim SLICE 1 IN ARRAY claims LOOP
        INSERT INTO case_event_keys (kind, scope, key, event_id)
        VALUES (claim[1], CAST(claim[2] AS bigint), claim[3], NEW.id)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            DELETE FROM case_event_keys WHERE event_id = NEW.id;
            RETURN NULL;
        END IF;
    END LOOP;
    RETURN NEW;
END $$;

CREATE FUNCTION gridgov_truncate_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('TRUNCATE %I', TG_ARGV[0]);
    RETURN NULL;
END $$;

CREATE TRIGGER cases_claim_key BEFORE INSERT ON cases
    FOR EACH ROW WHEN (NEW.idempotency_key IS NOT NULL)
    EXECUTE FUNCTION gridgov_cases_claim_key();
CREATE TRIGGER cases_keep_key BEFORE UPDATE OF idempotency_key ON cases
    FOR EACH ROW WHEN (NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key)
    EXECUTE FUNCTION gridgov_cases_keep_key();
CREATE TRIGGER case_events_claim_keys BEFORE INSERT ON case_events
    FOR EACH ROW WHEN (NEW.type IN ('card', 'deadline') OR NEW.idempotency_key IS NOT NULL)
    EXECUTE FUNCTION gridgov_case_events_claim_keys();
CREATE TRIGGER cases_truncate_keys AFTER TRUNCATE ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION gridgov_truncate_keys('case_keys');
CREATE TRIGGER case_events_truncate_keys AFTER TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION gridgov_truncate_keys('case_event_keys');
"""

# the keys already held, as the triggers would have claimed them
BACKFILL_KEYS = """
INSERT INTO case_keys (idempotency_key, case_id)
SELECT idempotency_key, id FROM cases WHERE idempotency_key IS NOT NULL;
INSERT INTO case_event_keys (kind, scope, key, event_id)
SELECT 'signal', case_id, (data ->> 'deadline_id') || ':' || (data ->> 'signal'), id
  FROM case_events
 WHERE type IN ('card', 'deadline') AND data ->> 'deadline_id' IS NOT NULL
   AND data ->> 'signal' IS NOT NULL
UNION ALL
SELECT 'reopen', case_id, data ->> 'reopen_event_id', id
  FROM case_events WHERE type = 'card' AND data ->> 'reopen_event_id' IS NOT NULL
UNION ALL
SELECT 'account', account_id, idempotency_key, id
  FROM case_events WHERE idempotency_key IS NOT NULL AND account_id IS NOT NULL;
"""

# the triggers the tables had (migrations 0002, 0003 and 0035), put back on the new tables
OWN_TRIGGERS = {
    "cases": "CREATE TRIGGER cases_notify AFTER INSERT ON cases "
             "FOR EACH ROW EXECUTE FUNCTION cases_notify(); "
             "CREATE TRIGGER cases_notify_change AFTER UPDATE ON cases FOR EACH ROW "
             "WHEN (OLD.supporters IS NOT DISTINCT FROM NEW.supporters "
             "OR to_jsonb(OLD) - 'supporters' IS DISTINCT FROM to_jsonb(NEW) - 'supporters') "
             "EXECUTE FUNCTION cases_notify()",
    "case_events": "CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events "
                   "FOR EACH ROW EXECUTE FUNCTION case_events_append_only()",
}


def _rows(sql: str, **params) -> list:
    from sqlalchemy import text

    return op.get_bind().execute(text(sql), params).fetchall()


# pg_get_indexdef spells ``type IN ('a', 'b')`` as ``((type)::text = ANY ((ARRAY['a'::character
# varying, 'b'::character varying])::text[]))``, which PostgreSQL parses back into another
# spelling (each element cast): the index would no longer read as the model declares it
# (tests/test_migrations.py). Spelled back as the IN list it was written as.
_IN_LIST = re.compile(r"\(\((\w+)\)::text (= ANY|<> ALL) \(\(ARRAY\[([^\]]*)\]\)::text\[\]\)\)")


def _in_list(match: re.Match) -> str:
    values = match.group(3).replace("::character varying", "")
    return f"({match.group(1)} {'IN' if match.group(2) == '= ANY' else 'NOT IN'} ({values}))"


def _index_defs(table: str) -> dict[str, str]:
    """The table's indexes but its primary key, as CREATE INDEX statements on the plain table."""
    rows = _rows("""
        SELECT i.relname, pg_get_indexdef(i.oid)
          FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         WHERE x.indrelid = CAST(:t AS regclass) AND NOT x.indisprimary""", t=table)
    return {name: _IN_LIST.sub(_in_list, ddl.replace(" ON ONLY ", " ON ")) for name, ddl in rows}


def _columns(table: str) -> str:
    rows = _rows("""
        SELECT column_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = :t AND is_generated = 'NEVER'
         ORDER BY ordinal_position""", t=table)
    return ", ".join(f'"{r[0]}"' for r in rows)


def _rebuild(table: str, partition_key: str | None, indexes: dict[str, str]) -> None:
    """Make ``table`` again, partitioned by ``partition_key`` by month (None: a plain table),
    with its columns, defaults, checks and rows, then ``indexes`` (name -> CREATE INDEX)."""
    old = f"{table}_before_0060"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    partition = f" PARTITION BY RANGE ({partition_key})" if partition_key else ""
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING GENERATED "
               f"INCLUDING CONSTRAINTS INCLUDING STORAGE){partition}")
    if partition_key:
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        # from the month of the oldest row to MONTHS_AHEAD months after this one
        first, now = _rows(f"""
            SELECT CAST(date_trunc('month', coalesce(min({partition_key}), now())
                                   AT TIME ZONE '{TZ}') AS date),
                   CAST(date_trunc('month', now() AT TIME ZONE '{TZ}') AS date)
              FROM {old}""")[0]
        months = (now.year - first.year) * 12 + now.month - first.month + 1 + MONTHS_AHEAD
        op.execute(f"SELECT gridgov_make_month_partitions('{table}', '{first.isoformat()}', "
                   f"{months})")
    columns = _columns(old)
    op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {old}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute(f"DROP TABLE {old}")
    keys = f"id, {partition_key}" if partition_key else "id"
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({keys})")
    for ddl in indexes.values():
        op.execute(ddl)
    op.execute(OWN_TRIGGERS[table])


def upgrade() -> None:
    op.execute(MAKE_PARTITIONS)
    for table, _, name in REFERENCES:
        op.drop_constraint(name, table, type_="foreignkey")
    for table, key in PARTITIONED.items():
        indexes = {}
        for name, ddl in _index_defs(table).items():
            if name in UNIQUE_TO_PLAIN:
                ddl = ddl.replace("CREATE UNIQUE INDEX", "CREATE INDEX").replace(
                    name, UNIQUE_TO_PLAIN[name], 1)
            indexes[name] = ddl
        _rebuild(table, key, indexes)
    op.execute("""
        CREATE TABLE case_keys (
            idempotency_key varchar(200) PRIMARY KEY,
            case_id bigint NOT NULL
        );
        CREATE INDEX ix_case_keys_case ON case_keys (case_id);
        CREATE TABLE case_event_keys (
            kind varchar(10) NOT NULL,
            scope bigint NOT NULL,
            key text NOT NULL,
            event_id bigint NOT NULL,
            PRIMARY KEY (kind, scope, key)
        );
        CREATE INDEX ix_case_event_keys_event ON case_event_keys (event_id);
    """)
    op.execute(BACKFILL_KEYS)
    op.execute(KEY_TRIGGERS)
    op.execute(REFERENCE_TRIGGERS)
    for table, column, _ in REFERENCES:
        op.execute(REFERENCE_FUNCTIONS.format(table=table, column=column))
    op.execute("ANALYZE cases")
    op.execute("ANALYZE case_events")


def downgrade() -> None:
    for table, column, _ in REFERENCES:
        op.execute(f"DROP TRIGGER {table}_{column}_exists ON {table}")
        op.execute(f"DROP TRIGGER {table}_{column}_changed ON {table}")
        op.execute(f"DROP FUNCTION gridgov_{table}_{column}_exist()")
        op.execute(f"DROP FUNCTION gridgov_{table}_{column}_changed()")
    op.execute("DROP TRIGGER cases_keep_id ON cases")
    op.execute("DROP TRIGGER cases_deleted ON cases")
    op.execute("DROP TRIGGER cases_claim_key ON cases")
    op.execute("DROP TRIGGER cases_keep_key ON cases")
    op.execute("DROP TRIGGER case_events_claim_keys ON case_events")
    op.execute("DROP TRIGGER cases_truncate_keys ON cases")
    op.execute("DROP TRIGGER case_events_truncate_keys ON case_events")
    for fn in ("gridgov_cases_keep_id",
               "gridgov_cases_deleted", "gridgov_cases_claim_key", "gridgov_cases_keep_key",
               "gridgov_case_events_claim_keys", "gridgov_truncate_keys"):
        op.execute(f"DROP FUNCTION {fn}()")
    op.execute("DROP TABLE case_keys")
    op.execute("DROP TABLE case_event_keys")
    plain_to_unique = {v: k for k, v in UNIQUE_TO_PLAIN.items()}
    for table in PARTITIONED:
        indexes = {}
        for name, ddl in _index_defs(table).items():
            if name in plain_to_unique:
                ddl = ddl.replace("CREATE INDEX", "CREATE UNIQUE INDEX").replace(
                    name, plain_to_unique[name], 1)
            indexes[name] = ddl
        # LIKE copies the partitions' NOT NULL on created_at / at, which the plain tables had too
        _rebuild(table, None, indexes)
    op.execute("DROP FUNCTION gridgov_make_month_partitions(regclass, date, integer)")
    for table, column, name in REFERENCES:
        op.create_foreign_key(name, table, "cases", [column], ["id"])
