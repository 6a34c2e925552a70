-- The statements of field/repository.py, one per "-- name:" block. Values are always bound.
-- A scope is (:scope_kind, :scope_codes) as accounts.access.case_scope gives it: 'town'
-- (town codes), 'villages' (12-digit village codes), 'grids' (leaf grid codes); any other
-- kind matches nothing ('all', every row, is for the service's own reads by id).

-- name: target
-- One target by type and id, with its point.
SELECT t.type, t.id, t.name, t.address, t.grid_code, t.town_code,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat
  FROM visit_targets t
 WHERE t.type = :type AND t.id = :id;

-- name: position_check
-- Is the point inside the town, and how far (geodesic metres, on the WGS 84 spheroid) from
-- the target's point.
SELECT ST_Covers(tw.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) AS inside,
       ST_Distance(CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography),
                   CAST(ST_SetSRID(ST_MakePoint(:target_lon, :target_lat), 4326) AS geography))
           AS distance_m
  FROM towns tw
 WHERE tw.code = :town_code;

-- name: visit_by_id
SELECT v.id, v.request_hash, v.account_id FROM visits v WHERE v.id = :id;

-- name: insert_visit
-- ON CONFLICT: a concurrent check-in with the same client id waits for the first to commit,
-- then inserts nothing and gets no row back (the caller replays the first).
INSERT INTO visits (id, town_code, target_type, target_id, grid_code, account_id, person_id,
                    visited_at, received_at, lon, lat, input_crs, accuracy_m, distance_m, far,
                    note, outcome, request_hash)
VALUES (:id, :town_code, :target_type, :target_id, :grid_code, :account_id, :person_id,
        :visited_at, now(), :lon, :lat, :input_crs, :accuracy_m, :distance_m, :far,
        :note, :outcome, :request_hash)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: set_visit_case
UPDATE visits SET case_id = :case_id WHERE id = :id;

-- name: insert_visit_photo
INSERT INTO visit_photos (visit_id, town_code, filename, content_type, size_bytes, sha256, data)
VALUES (:visit_id, :town_code, :filename, :content_type, :size_bytes, :sha256, :data)
RETURNING id;

-- name: visits
-- Visits in a scope, newest first, with their targets' names (a resolved hazard's is gone:
-- NULL) and photo ids. Every filter is optional (NULL: not filtered).
SELECT v.id, v.target_type, v.target_id, v.grid_code, v.visited_at, v.received_at, v.lon, v.lat,
       v.accuracy_m, v.distance_m, v.far, v.outcome, v.note, v.case_id, v.account_id,
       v.person_id, t.name AS target_name, t.address AS target_address,
       ARRAY(SELECT p.id FROM visit_photos p WHERE p.visit_id = v.id ORDER BY p.id) AS photo_ids
  FROM visits v
  LEFT JOIN visit_targets t ON t.type = v.target_type AND t.id = v.target_id
 WHERE (:scope_kind = 'all'
     OR (:scope_kind = 'town' AND v.town_code = ANY(:scope_codes))
     OR (:scope_kind = 'villages' AND left(v.grid_code, 12) = ANY(:scope_codes))
     OR (:scope_kind = 'grids' AND v.grid_code = ANY(:scope_codes)))
   AND (CAST(:ids AS uuid[]) IS NULL OR v.id = ANY(CAST(:ids AS uuid[])))
   AND (CAST(:grid AS text) IS NULL OR v.grid_code = :grid OR left(v.grid_code, 12) || '000' = :grid)
   AND (CAST(:target_type AS text) IS NULL OR (v.target_type = :target_type AND v.target_id = :target_id))
   AND (CAST(:since AS timestamptz) IS NULL OR v.visited_at >= :since)
   AND (CAST(:until AS timestamptz) IS NULL OR v.visited_at < :until)
 ORDER BY v.visited_at DESC, v.id
 LIMIT :limit;

-- name: due
-- The targets of a scope with their rule's current period (the rule_* arrays, one entry per
-- target type), when each was last visited, whether it was visited in the previous period,
-- and the geodesic distance and bearing (degrees clockwise from north) from the phone when
-- there is a position.
WITH rules AS (
    SELECT * FROM unnest(CAST(:rule_type AS text[]), CAST(:rule_every AS text[]),
                         CAST(:rule_start AS timestamptz[]), CAST(:rule_prev AS timestamptz[]),
                         CAST(:rule_due AS date[]))
        AS r(type, every, starts_at, prev_starts_at, due_by)
), here AS (
    SELECT CAST(ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326) AS geography) AS g
)
SELECT t.type, t.id, t.name, t.address, t.grid_code, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat,
       r.every, r.starts_at, r.due_by, last.at AS last_visit_at,
       EXISTS (SELECT 1 FROM visits v
                WHERE v.target_type = t.type AND v.target_id = t.id
                  AND v.visited_at >= r.prev_starts_at AND v.visited_at < r.starts_at)
           AS visited_previous,
       ST_Distance(here.g, CAST(t.geom AS geography)) AS distance_m,
       degrees(ST_Azimuth(here.g, CAST(t.geom AS geography))) AS bearing_deg
  FROM visit_targets t
  JOIN rules r ON r.type = t.type
  CROSS JOIN here
  LEFT JOIN LATERAL (
      SELECT max(v.visited_at) AS at FROM visits v
       WHERE v.target_type = t.type AND v.target_id = t.id
  ) last ON true
 WHERE ((:scope_kind = 'town' AND t.town_code = ANY(:scope_codes))
     OR (:scope_kind = 'villages' AND left(t.grid_code, 12) = ANY(:scope_codes))
     OR (:scope_kind = 'grids' AND t.grid_code = ANY(:scope_codes)))
   AND (last.at IS NULL OR last.at < r.starts_at);

-- name: obligations
-- A month's visit obligations in a scope (field/rules.py: each monthly target once, each
-- weekly target once per ISO week ending in the month; the period_* arrays, one entry per
-- period), whether a visit met each (one probe of ix_visits_target per obligation), counted
-- per leaf grid here rather than shipped row by row: with the overdue ones' keys, rules and
-- last days, in the order the answer lists them. Overdue: not met, and the period's last day
-- is before :today.
WITH rules AS (
    SELECT * FROM unnest(CAST(:rule_type AS text[]), CAST(:rule_every AS text[])) AS r(type, every)
), periods AS (
    SELECT * FROM unnest(CAST(:period_every AS text[]), CAST(:period_start AS timestamptz[]),
                         CAST(:period_end AS timestamptz[]), CAST(:period_due AS date[]))
        AS p(every, starts_at, ends_at, due_by)
), obligations AS MATERIALIZED (
    SELECT t.type || ':' || t.id AS key, t.grid_code, p.every, p.due_by,
           EXISTS (SELECT 1 FROM visits v
                    WHERE v.target_type = t.type AND v.target_id = t.id
                      AND v.visited_at >= p.starts_at AND v.visited_at < p.ends_at) AS met
      FROM visit_targets t
      JOIN rules r ON r.type = t.type
      JOIN periods p ON p.every = r.every
     WHERE ((:scope_kind = 'town' AND t.town_code = ANY(:scope_codes))
         OR (:scope_kind = 'villages' AND left(t.grid_code, 12) = ANY(:scope_codes))
         OR (:scope_kind = 'grids' AND t.grid_code = ANY(:scope_codes)))
)
SELECT grid_code, count(*) AS targets, count(*) FILTER (WHERE met) AS on_time,
       count(*) FILTER (WHERE NOT met AND due_by < :today) AS overdue,
       array_agg(key ORDER BY due_by, key) FILTER (WHERE NOT met AND due_by < :today)
           AS overdue_keys,
       array_agg(every ORDER BY due_by, key) FILTER (WHERE NOT met AND due_by < :today)
           AS overdue_every,
       array_agg(due_by ORDER BY due_by, key) FILTER (WHERE NOT met AND due_by < :today)
           AS overdue_due
  FROM obligations
 GROUP BY grid_code
 ORDER BY grid_code;

-- name: grid_names
SELECT g.code, g.name FROM grids g WHERE g.valid_to IS NULL AND g.code = ANY(:codes);

-- name: grid_workers
-- The grid workers answering for each leaf grid now (grid_assignments, role worker).
SELECT ga.grid_code, p.id AS person_id, p.name
  FROM grid_assignments ga JOIN people p ON p.id = ga.person_id
 WHERE ga.role = 'worker' AND ga.grid_code = ANY(:codes)
   AND ga.since <= town_today() AND (ga.until IS NULL OR ga.until >= town_today());

-- name: first_town
SELECT code FROM towns ORDER BY code LIMIT 1;
