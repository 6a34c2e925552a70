-- Statements of the historical case import (cases/history.py), each after a `-- name:` line.
-- Hand-written: the import writes with COPY, so it needs the ids before the rows.

-- name: reserve_ids
-- Ids for a batch of cases, taken from the table's own sequence (COPY cannot RETURNING).
SELECT nextval(pg_get_serial_sequence('cases', 'id')) AS id FROM generate_series(1, :n);

-- name: imported_before
-- Cases already imported from a file with these contents (the key starts with its hash).
-- (case_keys holds every case's key: migration 0060)
SELECT count(*) AS n FROM case_keys WHERE idempotency_key LIKE :prefix;
