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
-- The case, its first clocks and its first event in one statement (one round trip). The
-- idempotency key is claimed by the BEFORE INSERT trigger cases_claim_key (migration 0060: a
-- partitioned table has no unique index without the month): a concurrent request with the same
-- key waits for the first to commit, then inserts nothing and gets no row back (and so no event
-- either).
--
-- dup: the probable duplicate (cases.models.DUPLICATE_RADIUS_M, DUPLICATE_WINDOW_H): the
-- nearest OPEN case of the same category within 50 m and 24 h. The box test (&&) is what
-- ix_cases_open_geom answers (the open predicate written as the index writes it): a box around
-- the point 50 m wide on each side, in degrees at its latitude, with 1 % to spare (1° of
-- latitude is 110,574 m at the equator, the shortest; 1° of longitude 111,320 m × cos(lat));
-- the exact distance is then measured on the spheroid for the few cases in the box.
-- tests/test_duplicates.py shows the plan uses the index.
WITH pt AS (
    SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom
), near AS MATERIALIZED (
    -- the open cases in the box, by ix_cases_open_geom alone. MATERIALIZED keeps the planner
    -- from ANDing in ix_cases_created_at for the 24 h: that range holds every case of the day,
    -- and under a steady 300 reports/s each insert read a growing day's worth of entries
    -- (measured 2026-11-30: the intake's p99 at 300/s was 27 ms with the AND, 10 ms without).
    -- The start of the 24 h is named here, on the partition key: the months before it are
    -- pruned (EXPLAIN ANALYZE on 1M cases in 18 months, 2026-12-01: 0.42 against 0.64 ms
    -- with every month read). Only the start: the statement runs prepared, on a generic plan
    -- (forced: cases/repository.py FORCE_GENERIC) that cannot see the values, and a BETWEEN
    -- there is costed as a narrow range (0.5 % of the rows), narrow enough that the plan
    -- ANDed the day's created_at entries in again —
    -- 62,670 of them read per insert after a few minutes at 300/s, 2.8 of its 3.1 ms
    -- (auto_explain, 2026-12-01). A lone lower bound is costed as a third of the rows, which
    -- no plan reads through an index. The end of the 24 h is written as a comparison with
    -- an array of one, which the planner does not pair with the start into a range: it
    -- prunes the empty months made ahead and the DEFAULT partition (a case imported with its
    -- own, earlier created_at is not the duplicate of one reported since). Without it each
    -- insert set up scans of those four tables too (counted in instructions:
    -- bench/intake_instructions.py, migration 0068's heading).
    -- tests/test_duplicates.py checks the generic plan: one or two months read, the box by
    -- ix_cases_open_geom, ix_cases_created_at not used.
    SELECT c.id, c.geom, c.category_code, c.created_at
      FROM cases c, pt
     WHERE c.geom && ST_Expand(pt.geom, 50.5 / (111320 * cos(radians(CAST(:lat AS float8)))),
                               50.5 / 110574)
       AND c.status NOT IN ('closed', 'evaluated', 'voided')
       AND c.created_at >= CAST(:created_at AS timestamptz) - interval '24 hours'
       AND c.created_at <= ANY (ARRAY[CAST(:created_at AS timestamptz) + interval '24 hours'])
), dup AS (
    SELECT n.id
      FROM near n, pt
     WHERE n.category_code = :category_code
       AND ST_DWithin(CAST(n.geom AS geography), CAST(pt.geom AS geography), 50)
     ORDER BY ST_Distance(CAST(n.geom AS geography), CAST(pt.geom AS geography)), n.id DESC
     LIMIT 1
), new_case AS (
    INSERT INTO cases (
        town_code, category_code, description, status, channel, address, grid_code, admin_code,
        assignee_id, reporter_name, reporter_phone, occurred_at, created_at, updated_at,
        due_at, dispatch_due_at, geom, input_crs, geocode_precision, geocode_score,
        geocode_match, queue, on_boundary, grid_version, routing_reason, assignment_reason,
        idempotency_key, request_hash, probable_duplicate_of)
    SELECT
        :town_code, :category_code, :description, :status, :channel, :address, :grid_code,
        :admin_code, :assignee_id, :reporter_name, :reporter_phone, :occurred_at, :created_at,
        :created_at, :due_at, :dispatch_due_at, (SELECT geom FROM pt),
        :input_crs, :geocode_precision, :geocode_score, :geocode_match, :queue, :on_boundary,
        :grid_version, :routing_reason, :assignment_reason, :idempotency_key, :request_hash,
        (SELECT id FROM dup)
    -- routed on the town's boundary version :boundary_version: when a publish has committed a
    -- newer one since (planning/publish.py), insert nothing and the intake routes again. A
    -- publish holds cases locked while it switches versions, so this statement's snapshot,
    -- taken after that lock, sees the new version whenever it missed the publish's re-routing.
    WHERE NOT EXISTS (SELECT 1 FROM boundary_versions v
                       WHERE v.town_code = CAST(:routed_town AS text)
                         AND v.number > CAST(:boundary_version AS integer))
    RETURNING id, town_code, status, created_at, queue, assignee_id, probable_duplicate_of
), clock AS (
    -- the case's first clocks (computed by cases/clocks.py, one array element per clock)
    INSERT INTO case_deadlines (case_id, town_code, clock, started_at, due_at, soon_at,
                                yellow_at, red_at, unit)
    SELECT n.id, n.town_code, k.clock, k.started_at, k.due_at, k.soon_at, k.yellow_at,
           k.red_at, k.unit
      FROM new_case n,
           unnest(CAST(:clock_names AS text[]), CAST(:clock_started AS timestamptz[]),
                  CAST(:clock_due AS timestamptz[]), CAST(:clock_soon AS timestamptz[]),
                  CAST(:clock_yellow AS timestamptz[]), CAST(:clock_red AS timestamptz[]),
                  CAST(:clock_units AS text[]))
             AS k(clock, started_at, due_at, soon_at, yellow_at, red_at, unit)
), event AS (
    INSERT INTO case_events (case_id, town_code, at, type, from_status, to_status, actor, data,
                             queue, assignee_id)
    SELECT id, town_code, created_at, 'created', NULL, status, :actor,
           CASE WHEN probable_duplicate_of IS NULL THEN CAST(:event_data AS jsonb)
                ELSE CAST(:event_data AS jsonb)
                     || jsonb_build_object('probable_duplicate_of', probable_duplicate_of) END,
           queue, assignee_id
      FROM new_case
    RETURNING case_id
)
SELECT n.id, n.probable_duplicate_of FROM new_case n JOIN event e ON e.case_id = n.id;

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
