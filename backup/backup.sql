-- Statements of backups and restores (backup/archive.py, backup/service.py), each after a
-- `-- name:` line. Hand-written: they read the catalogue, which has no models.

-- name: tables
-- gridgov's tables: every table of the public schema that is not an extension's own (PostGIS's
-- spatial_ref_sys is PostGIS's, restored by CREATE EXTENSION, not by us), with its primary key
-- columns in key order (empty when it has none), by name.
SELECT c.relname AS name,
       coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
                   FROM pg_index i
                   CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                  WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS primary_key
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname;

-- name: extension_tables
-- Tables of extensions whose rows pg_dump dumps (their "config tables", as
-- spatial_ref_sys): only a superuser may write them, so the dump leaves their rows out and
-- CREATE EXTENSION brings the extension's own.
SELECT format('%I.%I', n.nspname, c.relname) AS name
FROM pg_extension e
CROSS JOIN LATERAL unnest(e.extconfig) AS t (oid)
JOIN pg_class c ON c.oid = t.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY 1;

-- name: export_snapshot
-- The transaction's snapshot, for pg_dump --snapshot: the counts in the manifest and the
-- dump see the same rows, whatever commits meanwhile.
SELECT pg_export_snapshot();

-- name: revision
SELECT version_num FROM alembic_version;

-- name: has_alembic_version
SELECT to_regclass('public.alembic_version') IS NOT NULL;

-- name: has_postgis
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis');

-- name: server_version
SELECT current_setting('server_version_num')::int;

-- name: drop_app_objects
-- Everything of gridgov's in the database, before a restore --replace, in the restore's own
-- transaction: tables, views, sequences, routines and types of the public schema that belong
-- to no extension, and every other schema the role owns. The extensions stay (PostGIS is the
-- superuser's and cannot be made again by the application's role); the dump's CREATE
-- EXTENSION IF NOT EXISTS finds them. Names go through format('%s') of regclass, regprocedure
-- and regtype, which quote them.
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT c.oid::regclass::text AS name,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                              ELSE 'TABLE' END AS kind
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                      AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY c.relkind DESC  -- views before the tables they read
    LOOP
        -- IF EXISTS: a CASCADE before may have taken it (a view, an owned sequence)
        EXECUTE format('DROP %s IF EXISTS %s CASCADE', item.kind, item.name);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure::text AS name
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                                      AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', item.name);
    END LOOP;
    FOR item IN
        SELECT t.oid::regtype::text AS name, t.typtype = 'd' AS is_domain
        FROM pg_type t
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'r', 'm', 'c')
          AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                                                      AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE',
                       CASE WHEN item.is_domain THEN 'DOMAIN' ELSE 'TYPE' END, item.name);
    END LOOP;
    FOR item IN
        SELECT format('%I', nspname) AS name FROM pg_namespace
        WHERE nspowner = current_user::regrole AND nspname <> 'public'
          AND nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
          AND oid NOT IN (SELECT extnamespace FROM pg_extension)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                                                      AND d.objid = pg_namespace.oid
                                                      AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP SCHEMA IF EXISTS %s CASCADE', item.name);
    END LOOP;
END
$$;

-- name: check_counts
-- The last statement of a restore, in its transaction: every table the archive counted has
-- that many rows now, else the whole restore rolls back. The counts come in the setting
-- gridgov.restore_counts (JSON {table: rows}), set just before. Names are qualified: the
-- dump's script empties search_path.
DO $check$
DECLARE
    item record;
    found bigint;
BEGIN
    FOR item IN
        SELECT key AS name, value::bigint AS expected
        FROM pg_catalog.jsonb_each_text(
            pg_catalog.current_setting('gridgov.restore_counts')::pg_catalog.jsonb)
    LOOP
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM public.%I', item.name)
            INTO found;
        IF found IS DISTINCT FROM item.expected THEN
            RAISE EXCEPTION 'table % has % rows after the restore where the archive counted %',
                item.name, found, item.expected;
        END IF;
    END LOOP;
END
$check$;
