-- The statements of accounts/audit.py, one per "-- name:" block. Values are bound.

-- name: record
INSERT INTO audit_log (account_id, account_name, role, subject_type, subject_id, town_code,
                       fields, remote_addr, route, reason)
VALUES (:account_id, :account_name, :role, :subject_type, :subject_id, :town_code,
        CAST(:fields AS varchar(20)[]), :remote_addr, :route, :reason)
RETURNING id, at;

-- name: entries
-- A page of the log, newest first, keyset on id (ix_audit_log_at / _account / _subject serve
-- the filters; the id order is the order of writing). Each filter is off when its value is NULL.
SELECT id, at, account_id, account_name, role, subject_type, subject_id, town_code, fields,
       remote_addr, route, reason
  FROM audit_log
 WHERE (CAST(:town_code AS text) IS NULL OR town_code = :town_code)
   AND (CAST(:account_id AS integer) IS NULL OR account_id = :account_id)
   AND (CAST(:account_name AS text) IS NULL OR account_name = :account_name)
   AND (CAST(:subject_type AS text) IS NULL OR subject_type = :subject_type)
   AND (CAST(:subject_id AS bigint) IS NULL OR subject_id = :subject_id)
   AND (CAST(:since AS timestamptz) IS NULL OR at >= :since)
   AND (CAST(:until AS timestamptz) IS NULL OR at < :until)
   AND (CAST(:cursor AS bigint) IS NULL OR id < :cursor)
 ORDER BY id DESC
 LIMIT :limit;
