-- (psycopg parameters: %% is a literal percent sign.)
-- Every object in the current database that role old owns, as the statement handing it to
-- role new: schemas, tables, views, sequences, functions, enum and domain types. Not the
-- system catalogs, and not what an extension owns (PostGIS's spatial_ref_sys and functions stay
-- with the superuser that created the extension). A sequence that belongs to a column follows
-- its table, as indexes and TOAST tables do. Used once per database when a cluster made before
-- passwords is upgraded (db/cluster.py): REASSIGN OWNED would do this in one statement, but
-- PostgreSQL refuses it for the bootstrap superuser, who owns those databases.
WITH ours AS (
    SELECT oid FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\_%%' AND nspname <> 'information_schema'
),
extension_member AS (
    SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
)
SELECT format('ALTER SCHEMA %%I OWNER TO %%I', n.nspname, %(new)s::text)
FROM pg_namespace n
WHERE n.nspowner = %(old)s::regrole AND n.oid IN (SELECT oid FROM ours)
  AND (n.oid, 'pg_namespace'::regclass) NOT IN (SELECT objid, classid FROM extension_member)
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
              c.oid::regclass, %(new)s::text)
FROM pg_class c
WHERE c.relowner = %(old)s::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND c.relnamespace IN (SELECT oid FROM ours)
  AND (c.oid, 'pg_class'::regclass) NOT IN (SELECT objid, classid FROM extension_member)
  AND NOT (c.relkind = 'S' AND EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I',
              CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, p.oid::regprocedure, %(new)s::text)
FROM pg_proc p
WHERE p.proowner = %(old)s::regrole AND p.pronamespace IN (SELECT oid FROM ours)
  AND (p.oid, 'pg_proc'::regclass) NOT IN (SELECT objid, classid FROM extension_member)
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I',
              CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, %(new)s::text)
FROM pg_type t
WHERE t.typowner = %(old)s::regrole AND t.typtype IN ('e', 'd') AND t.typnamespace IN (SELECT oid FROM ours)
  AND (t.oid, 'pg_type'::regclass) NOT IN (SELECT objid, classid FROM extension_member)
