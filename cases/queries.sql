-- The statements of cases/repository.py, one per "-- name:" block. Values are always bound
-- parameters. The closed states ('closed', 'evaluated', 'voided' = cases.models.CLOSED_STATES)
-- are written out as literals where they filter: a literal predicate lets PostgreSQL use a
-- partial index on open cases, and keeps the plan the same under prepared statements.

-- name: categories
SELECT code, parent_code, checklist, name_zh, name_en, limit_value, limit_unit, weight
  FROM categories
 ORDER BY checklist, (parent_code IS NOT NULL), coalesce(parent_code, code), code;

-- name: open_case_counts
-- How many open cases each candidate holds (the fewest wins the next one).
SELECT assignee_id, count(*) AS n
  FROM cases
 WHERE assignee_id = ANY(:ids)
   AND status NOT IN ('closed', 'evaluated', 'voided')
 GROUP BY assignee_id;

-- name: insert_case
-- The case, its first clocks and its created event, flagged as the probable duplicate of the
-- nearest open case of its category within 50 m and 24 h: one statement, the body of the
-- function insert_case (migrations/versions/0070_insert_case_function.py, which says how),
-- run on its generic plan. No row when a case with the same idempotency key exists, or when a
-- publish replaced the boundaries it was routed on (boundary_version) since. Each value cast
-- to the parameter's type: psycopg sends a str or a None untyped, an int as the smallest
-- integer type it fits in.
SELECT id, probable_duplicate_of FROM insert_case(
    p_town_code => CAST(:town_code AS text),
    p_category_code => CAST(:category_code AS text),
    p_description => CAST(:description AS text),
    p_status => CAST(:status AS text),
    p_channel => CAST(:channel AS text),
    p_address => CAST(:address AS text),
    p_grid_code => CAST(:grid_code AS text),
    p_admin_code => CAST(:admin_code AS text),
    p_assignee_id => CAST(:assignee_id AS integer),
    p_reporter_name => CAST(:reporter_name AS text),
    p_reporter_phone => CAST(:reporter_phone AS text),
    p_occurred_at => CAST(:occurred_at AS timestamptz),
    p_created_at => CAST(:created_at AS timestamptz),
    p_due_at => CAST(:due_at AS timestamptz),
    p_dispatch_due_at => CAST(:dispatch_due_at AS timestamptz),
    p_lon => CAST(:lon AS float8),
    p_lat => CAST(:lat AS float8),
    p_input_crs => CAST(:input_crs AS text),
    p_geocode_precision => CAST(:geocode_precision AS text),
    p_geocode_score => CAST(:geocode_score AS float8),
    p_geocode_match => CAST(:geocode_match AS text),
    p_queue => CAST(:queue AS text),
    p_on_boundary => CAST(:on_boundary AS boolean),
    p_grid_version => CAST(:grid_version AS integer),
    p_routing_reason => CAST(:routing_reason AS text),
    p_assignment_reason => CAST(:assignment_reason AS text),
    p_idempotency_key => CAST(:idempotency_key AS text),
    p_request_hash => CAST(:request_hash AS text),
    p_routed_town => CAST(:routed_town AS text),
    p_boundary_version => CAST(:boundary_version AS integer),
    p_actor => CAST(:actor AS text),
    p_event_data => CAST(:event_data AS jsonb),
    p_clock_names => CAST(:clock_names AS text[]),
    p_clock_started => CAST(:clock_started AS timestamptz[]),
    p_clock_due => CAST(:clock_due AS timestamptz[]),
    p_clock_soon => CAST(:clock_soon AS timestamptz[]),
    p_clock_yellow => CAST(:clock_yellow AS timestamptz[]),
    p_clock_red => CAST(:clock_red AS timestamptz[]),
    p_clock_units => CAST(:clock_units AS text[]));

-- name: insert_photo
INSERT INTO case_photos (case_id, filename, content_type, size_bytes, sha256, data)
VALUES (:case_id, :filename, :content_type, :size_bytes, :sha256, :data);

-- name: case_by_idempotency_key
-- The key is claimed in case_keys (migration 0060) and found there (cases has no index on it).
SELECT c.id, c.request_hash
  FROM case_keys k JOIN cases c ON c.id = k.case_id
 WHERE k.idempotency_key = :key;

-- name: case_detail
-- One case with its position, its assignee and the first event's record of the routing.
SELECT c.id, c.town_code, c.category_code, c.description, c.status, c.channel, c.address,
       c.grid_code, c.admin_code, c.assignee_id, c.reporter_name, c.reporter_phone,
       c.occurred_at, c.created_at, c.updated_at, c.due_at, c.dispatch_due_at, c.closed_at,
       c.satisfaction, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.input_crs,
       c.geocode_precision, c.geocode_score, c.geocode_match, c.queue, c.on_boundary,
       c.grid_version, c.routing_reason, c.assignment_reason, c.probable_duplicate_of,
       c.supporters, p.name AS assignee_name, p.phone AS assignee_phone, p.title AS assignee_title,
       e.data AS created_event, e.to_status AS created_status
  FROM cases c
  LEFT JOIN people p ON p.id = c.assignee_id
  LEFT JOIN LATERAL (
        SELECT data, to_status FROM case_events
         WHERE case_id = c.id AND type = 'created'
         ORDER BY id LIMIT 1) e ON true
 WHERE c.id = :id;

-- name: case_place
-- Where a case is, for the scope check of whoever asks for it (accounts/access.py).
SELECT id, town_code, grid_code, admin_code, department_code FROM cases WHERE id = :id;

-- name: case_events
SELECT id, at, type, from_status, to_status, actor, data, role, note, lon, lat, photo_ids
  FROM case_events
 WHERE case_id = :id
 ORDER BY at, id;

-- name: case_photos
SELECT id, filename, content_type, size_bytes, sha256, created_at, publishable
  FROM case_photos
 WHERE case_id = :id
 ORDER BY id;

-- name: photo
-- A photo with its case's place (the scope check, accounts/access.py) and whether the public
-- board may show it (publishable, the case closed: cases/board.sql public_photo).
SELECT p.id, p.filename, p.content_type, p.data, p.publishable, c.status, c.town_code,
       c.grid_code, c.admin_code, c.department_code
  FROM case_photos p
  JOIN cases c ON c.id = p.case_id
 WHERE p.case_id = :case_id AND p.id = :photo_id;

-- name: set_photo_publishable
UPDATE case_photos SET publishable = :publishable
 WHERE case_id = :case_id AND id = :photo_id
RETURNING id, filename, content_type, size_bytes, sha256, created_at, publishable;

-- name: list_cases
-- Keyset pagination on id, newest first. {where} is filled by repository.list_cases from a
-- fixed set of conditions (one per filter given, values bound), so each combination is a
-- plain statement the planner can use its indexes for.
SELECT c.id, c.category_code, c.status, c.channel, c.grid_code, c.admin_code, c.queue,
       c.assignee_id, p.name AS assignee_name, c.geocode_precision, c.created_at,
       c.dispatch_due_at, c.due_at, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
  FROM cases c
  LEFT JOIN people p ON p.id = c.assignee_id
 WHERE {where}
 ORDER BY c.id DESC
 LIMIT :limit;

-- name: admin_grid
-- An administrative grid (current version) with its zone, town and grid leader: where a
-- village-precision case goes.
SELECT g.code, g.name, g.version, g.valid_from, g.town_code, t.name AS town_name,
       z.code AS zone_code, z.name AS zone_name, z.kind AS zone_kind,
       leader.id AS leader_id, leader.name AS leader_name, leader.phone AS leader_phone,
       leader.title AS leader_title,
       (SELECT max(v.number) FROM boundary_versions v WHERE v.town_code = g.town_code)
           AS boundary_version
  FROM grids g
  JOIN towns t ON t.code = g.town_code
  LEFT JOIN zones z ON z.code = g.zone_code AND z.valid_to IS NULL
  LEFT JOIN LATERAL (
        SELECT p.id, p.name, p.phone, p.title
          FROM grid_assignments a JOIN people p ON p.id = a.person_id
         WHERE a.grid_code = g.code AND a.role = 'leader'
           AND (a.until IS NULL OR a.until >= town_today())
         ORDER BY p.id LIMIT 1) leader ON true
 WHERE g.code = :code AND g.level = 'admin' AND g.valid_to IS NULL;

-- name: town_at
-- The town containing a point, else the nearest one (a town-precision geocode may fall just
-- outside a drawn outline).
SELECT code, name
  FROM towns
 ORDER BY NOT ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)),
          geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), code
 LIMIT 1;

-- name: person
SELECT id, name, role, title, phone, village_code, on_duty, town_code
  FROM people
 WHERE id = :id;

-- name: people_on_duty
-- A village's people on duty, for the case page's dispatch form (grid workers first).
SELECT id, name, role, title
  FROM people
 WHERE village_code = :village AND on_duty
 ORDER BY role = 'grid_worker' DESC, role, name, id;

-- name: set_on_duty
UPDATE people SET on_duty = :on_duty WHERE id = :id
RETURNING id, name, role, title, phone, village_code, on_duty, town_code;

-- name: lock_case
SELECT id, town_code, status, assignee_id, queue, department_code, category_code
  FROM cases WHERE id = :id FOR UPDATE;

-- name: set_assignee
-- A reassignment is one more event, so one more version (cases/workflow.py): the person
-- handles it at the grid level.
UPDATE cases SET assignee_id = :assignee_id, status = :status, updated_at = :at,
       assignment_reason = :reason, queue = 'grid', department_code = NULL,
       version = version + 1
 WHERE id = :id;

-- name: insert_event
INSERT INTO case_events (case_id, town_code, at, type, from_status, to_status, actor, data,
                         queue, assignee_id, department_code)
VALUES (:case_id, :town_code, :at, :type, :from_status, :to_status, :actor,
        CAST(:data AS jsonb), :queue, :assignee_id, :department_code)
RETURNING id, at;
