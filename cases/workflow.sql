-- The statements of cases/workflow_repository.py, one per "-- name:" block; values are always
-- bound. A transition is a handful of them: read the case, one UPDATE that names the version
-- it was decided on, one event INSERT, the clock rows it touches.

-- name: case_state
SELECT id, town_code, category_code, grid_code, admin_code, status, version, queue,
       assignee_id, department_code, sender_level, closed_level, closed_by, closed_at,
       parked_from, resume_on, extension_days, satisfaction, evaluated_at, merged_into,
       reporter_name, reporter_phone, due_at
  FROM cases
 WHERE id = :id;

-- name: update_case
-- Exactly one of two concurrent transitions named this version: the second waits for the
-- first's row lock, then finds the version moved and updates nothing.
UPDATE cases
   SET status = :status, queue = :queue, assignee_id = :assignee_id,
       department_code = :department_code, sender_level = :sender_level,
       closed_level = :closed_level, closed_by = :closed_by, closed_at = :closed_at,
       parked_from = :parked_from, resume_on = :resume_on, extension_days = :extension_days,
       satisfaction = :satisfaction, evaluated_at = :evaluated_at, merged_into = :merged_into,
       due_at = coalesce(CAST(:due_at AS timestamptz), due_at), updated_at = :at,
       version = version + 1
 WHERE id = :id AND version = :version
RETURNING version;

-- name: touch_original
-- The original of a merge: one more event, so one more version, and one more supporter
-- ("+N": the duplicate's reporter); only while it is open.
UPDATE cases SET version = version + 1, updated_at = :at, supporters = supporters + 1
 WHERE id = :id AND status NOT IN ('closed', 'evaluated', 'voided')
RETURNING version, town_code, status, queue, assignee_id, department_code;

-- name: insert_event
-- The account's Idempotency-Key is claimed by the BEFORE INSERT trigger case_events_claim_keys
-- (migration 0060, once per account and key): when a concurrent request of the same account
-- with the same key committed first, nothing is inserted and no row comes back
-- (cases/transition_keys.py then answers with that request's event).
INSERT INTO case_events (case_id, town_code, at, type, from_status, to_status, actor, data,
                         account_id, role, note, lon, lat, photo_ids, queue, assignee_id,
                         department_code, idempotency_key, taken_at)
VALUES (:case_id, :town_code, :at, :type, :from_status, :to_status, :actor,
        CAST(:data AS jsonb), :account_id, :role, :note, :lon, :lat,
        CAST(:photo_ids AS bigint[]), :queue, :assignee_id, :department_code,
        :idempotency_key, :taken_at)
RETURNING id, at;

-- name: event_by_key
-- ix_case_events_account_key
SELECT id, case_id, type, from_status, to_status, at, note, photo_ids, data, taken_at
  FROM case_events
 WHERE account_id = :account_id AND idempotency_key = :key;

-- name: insert_photo
INSERT INTO case_photos (case_id, filename, content_type, size_bytes, sha256, data)
VALUES (:case_id, :filename, :content_type, :size_bytes, :sha256, :data)
RETURNING id;

-- name: running_clocks
SELECT id, clock, started_at, due_at, unit, soon_at, yellow_at, red_at, suspended_at,
       remaining_s, extensions
  FROM case_deadlines
 WHERE case_id = :id AND met_at IS NULL
 ORDER BY id;

-- name: meet_clocks
UPDATE case_deadlines SET met_at = :at
 WHERE case_id = :id AND met_at IS NULL AND clock = ANY(CAST(:clocks AS text[]));

-- name: insert_clock
INSERT INTO case_deadlines (case_id, town_code, clock, started_at, due_at, soon_at, yellow_at,
                            red_at, unit)
VALUES (:case_id, :town_code, :clock, :started_at, :due_at, :soon_at, :yellow_at, :red_at,
        :unit);

-- name: update_clock
UPDATE case_deadlines
   SET due_at = :due_at, soon_at = :soon_at, yellow_at = :yellow_at, red_at = :red_at,
       suspended_at = :suspended_at, remaining_s = :remaining_s, extensions = :extensions
 WHERE id = :id;

-- name: clocks_of
SELECT id, clock, started_at, due_at, unit, soon_at, yellow_at, red_at, suspended_at,
       remaining_s, met_at, extensions
  FROM case_deadlines
 WHERE case_id = :id
 ORDER BY id;
