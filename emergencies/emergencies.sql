-- The statements of the emergencies package, one per "-- name:" block; values always bound.
-- `targets` is the start of a statement, not one: the preview and the mobilisation append
-- their own ends to it (emergencies/service.py), so both count exactly the same things.

-- name: area_from_geojson
-- The checked geometry (emergencies/area.py), buffered by :buffer_m metres on the spheroid
-- when given, as one MultiPolygon; overlapping parts of an uploaded file are unioned.
-- A buffer's round ends are polygons of 32 segments a quarter; a polygon drawn through points
-- at the radius cuts inside the circle (by 1 m at 200 m with PostGIS's default 8), and a
-- household 199.5 m from the point would be left out of a 200 m evacuation. So the radius is
-- widened by 1/cos(half a segment's angle): the sides touch the circle, everything within
-- buffer_m is in, and at most 0.03 % of the radius beyond it.
WITH given AS (
    SELECT ST_SetSRID(ST_GeomFromGeoJSON(:geojson), 4326) AS geom
), area AS (
    SELECT CASE WHEN CAST(:buffer_m AS float8) IS NULL THEN geom
                ELSE CAST(ST_Buffer(CAST(geom AS geography),
                                    CAST(:buffer_m AS float8) / cos(pi() / 128),
                                    'quad_segs=32') AS geometry)
           END AS geom
      FROM given
), merged AS (
    SELECT ST_Multi(ST_CollectionExtract(ST_UnaryUnion(geom), 3)) AS geom FROM area
)
SELECT CASE WHEN ST_IsEmpty(geom) THEN NULL ELSE ST_AsGeoJSON(geom, 7) END AS geojson,
       ST_Area(CAST(geom AS geography)) / 1e6 AS area_km2
  FROM merged;

-- name: area_from_grid
SELECT ST_AsGeoJSON(ST_Multi(g.geom), 7) AS geojson,
       ST_Area(CAST(g.geom AS geography)) / 1e6 AS area_km2
  FROM grids g
 WHERE g.code = :code AND g.valid_to IS NULL;

-- name: targets
-- What an emergency reaches inside :area (GeoJSON, EPSG:4326): households at their standard
-- address, enterprises, and hazards not yet resolved (ST_Covers: a point on the edge is in,
-- DESIGN.md). `workers`: the grid worker answering for each grid now (one on duty first).
WITH area AS (
    SELECT ST_SetSRID(ST_GeomFromGeoJSON(:area), 4326) AS g
), targets AS (
    SELECT 'household'::text AS type, CAST(h.id AS bigint) AS id, h.head_name || '户' AS name,
           a.full_text AS address, h.grid_code, h.town_code, h.residents, CAST(h.vulnerable AS int) AS vulnerable,
           CAST(h.elderly_alone AS int) AS elderly_alone, CAST(h.disabled AS int) AS disabled,
           CAST(h.bedridden AS int) AS bedridden,
           CAST(h.children_unattended AS int) AS children_unattended, 0 AS employees, a.geom
      FROM area, households h JOIN addresses a ON a.id = h.address_id
     WHERE ST_Covers(area.g, a.geom)
       AND (CAST(:town_code AS text) IS NULL OR h.town_code = :town_code)
    UNION ALL
    SELECT 'enterprise', e.id, e.name, e.address, e.grid_code, e.town_code, 0, 0, 0, 0, 0, 0,
           coalesce(e.employees, 0), e.geom
      FROM area, enterprises e
     WHERE ST_Covers(area.g, e.geom)
       AND (CAST(:town_code AS text) IS NULL OR e.town_code = :town_code)
    UNION ALL
    SELECT 'hazard', z.id, z.description, NULL, z.grid_code, z.town_code, 0, 0, 0, 0, 0, 0, 0,
           z.geom
      FROM area, hazards z
     WHERE z.status <> 'resolved' AND ST_Covers(area.g, z.geom)
       AND (CAST(:town_code AS text) IS NULL OR z.town_code = :town_code)
), workers AS (
    SELECT DISTINCT ON (ga.grid_code) ga.grid_code, p.id AS person_id, p.name, p.phone
      FROM grid_assignments ga JOIN people p ON p.id = ga.person_id
     WHERE ga.role = 'worker' AND ga.grid_code IN (SELECT DISTINCT grid_code FROM targets)
       AND ga.since <= town_today() AND (ga.until IS NULL OR ga.until >= town_today())
     ORDER BY ga.grid_code, p.on_duty DESC, p.id
)

-- name: preview
-- (after `targets`) what the area holds, per grid (with the grid's worker and auxiliaries) as
-- `grids`, and the households with vulnerable residents, most first, for the map, as
-- `vulnerable`: one statement, so the targets are found once (they are most of its time). The
-- targets are added up per grid before the grid, its village and its worker are named.
, per_grid AS (
    SELECT t.grid_code,
           count(*) FILTER (WHERE t.type = 'household') AS households,
           coalesce(sum(t.residents), 0) AS residents,
           coalesce(sum(t.vulnerable), 0) AS vulnerable,
           coalesce(sum(t.elderly_alone), 0) AS elderly_alone,
           coalesce(sum(t.disabled), 0) AS disabled,
           coalesce(sum(t.bedridden), 0) AS bedridden,
           coalesce(sum(t.children_unattended), 0) AS children_unattended,
           count(*) FILTER (WHERE t.type = 'enterprise') AS enterprises,
           coalesce(sum(t.employees), 0) AS employees,
           count(*) FILTER (WHERE t.type = 'hazard') AS hazards
      FROM targets t
     GROUP BY t.grid_code
), grid_rows AS (
    SELECT s.grid_code, g.name AS grid_name, v.name AS village_name, w.person_id,
           w.name AS worker_name, w.phone AS worker_phone,
           (SELECT count(*) FROM grid_assignments ga
             WHERE ga.grid_code = s.grid_code AND ga.role = 'auxiliary'
               AND ga.since <= town_today() AND (ga.until IS NULL OR ga.until >= town_today()))
               AS auxiliaries,
           s.households, s.residents, s.vulnerable, s.elderly_alone, s.disabled, s.bedridden,
           s.children_unattended, s.enterprises, s.employees, s.hazards
      FROM per_grid s
      LEFT JOIN workers w ON w.grid_code = s.grid_code
      LEFT JOIN grids g ON g.code = s.grid_code AND g.valid_to IS NULL
      LEFT JOIN grids v ON v.code = left(s.grid_code, 12) || '000' AND v.valid_to IS NULL
), vulnerable_rows AS (
    SELECT t.id, t.name, t.address, t.grid_code, t.residents, t.vulnerable, t.elderly_alone,
           t.disabled, t.bedridden, t.children_unattended, ST_X(t.geom) AS lon,
           ST_Y(t.geom) AS lat
      FROM targets t
     WHERE t.type = 'household' AND t.vulnerable > 0
     ORDER BY t.vulnerable DESC, t.id
     LIMIT :limit
)
SELECT (SELECT coalesce(json_agg(r ORDER BY r.grid_code), '[]') FROM grid_rows r) AS grids,
       (SELECT coalesce(json_agg(r ORDER BY r.vulnerable DESC, r.id), '[]')
          FROM vulnerable_rows r) AS vulnerable;

-- name: insert_tasks
-- (after `targets`) one task per target, for its grid's worker; then, from the rows just
-- written, the board's figures per grid and worker (as `progress_groups` gives them: every
-- task open) and one note per grid on the live channel (as `notify_grids`). One statement:
-- the tasks are not read again, and the planner, which knows nothing of them yet, has no
-- plan to get wrong.
, inserted AS (
    INSERT INTO emergency_tasks (emergency_id, town_code, target_type, target_id, grid_code,
                                 person_id, name, address, residents, vulnerable, geom)
    SELECT :emergency_id, t.town_code, t.type, t.id, t.grid_code, w.person_id, t.name,
           t.address, t.residents, t.vulnerable, t.geom
      FROM targets t LEFT JOIN workers w ON w.grid_code = t.grid_code
    RETURNING grid_code, person_id, target_type, residents, vulnerable
), s AS (
    SELECT i.grid_code, i.person_id, count(*) AS targets,
           count(*) FILTER (WHERE i.target_type = 'household') AS households,
           coalesce(sum(i.residents), 0) AS residents,
           coalesce(sum(i.vulnerable), 0) AS vulnerable
      FROM inserted i
     GROUP BY i.grid_code, i.person_id
), notified AS (
    SELECT count(pg_notify('gridgov_cases', json_build_object(
               'op', 'emergency', 'event', 'mobilised',
               'emergency_id', CAST(:emergency_id AS int), 'grid_code', n.grid_code,
               'tasks', n.tasks)::text)) AS notes
      FROM (SELECT grid_code, sum(targets) AS tasks FROM s GROUP BY grid_code) n
)
SELECT s.grid_code, g.name AS grid_name, s.person_id, p.name AS worker_name, s.targets,
       0 AS confirmed, s.households, 0 AS households_confirmed, 0 AS households_relocated,
       s.residents, 0 AS people_relocated, 0 AS people_safe, 0 AS unreachable, s.vulnerable,
       s.vulnerable AS vulnerable_not_reached, (SELECT notes FROM notified) AS notes
  FROM s
  LEFT JOIN people p ON p.id = s.person_id
  LEFT JOIN grids g ON g.code = s.grid_code AND g.valid_to IS NULL
 ORDER BY s.grid_code, s.person_id;

-- name: insert_emergency
INSERT INTO emergencies (town_code, name, kind, instructions, area_spec, area, created_by,
                         created_by_name)
VALUES (:town_code, :name, :kind, :instructions, CAST(:area_spec AS json),
        ST_SetSRID(ST_GeomFromGeoJSON(:area), 4326), :account_id, :account_name)
RETURNING id, created_at;

-- name: notify_grids
-- One note per grid of the emergency on the live channel (web/live.py): each worker's phone
-- hears its own grids' (web/streams.py scope_filter), the command center all.
SELECT count(pg_notify('gridgov_cases', json_build_object(
           'op', 'emergency', 'event', CAST(:event AS text),
           'emergency_id', CAST(:emergency_id AS int), 'grid_code', s.grid_code,
           'tasks', s.n)::text))
  FROM (SELECT grid_code, count(*) AS n FROM emergency_tasks
         WHERE emergency_id = :emergency_id GROUP BY grid_code) s;

-- name: first_town
SELECT code FROM towns ORDER BY code LIMIT 1;

-- name: emergency
SELECT e.id, e.town_code, e.name, e.kind, e.instructions, e.area_spec,
       ST_AsGeoJSON(e.area, 7) AS area, ST_Area(CAST(e.area AS geography)) / 1e6 AS area_km2,
       e.created_at, e.created_by_name, e.closed_at, e.closed_by_name, e.summary,
       e.final_figures
  FROM emergencies e
 WHERE e.id = :id;

-- name: emergencies
SELECT e.id, e.name, e.kind, e.created_at, e.closed_at,
       (SELECT count(*) FROM emergency_tasks t WHERE t.emergency_id = e.id) AS tasks,
       (SELECT count(*) FROM emergency_tasks t
         WHERE t.emergency_id = e.id AND t.status <> 'open') AS confirmed
  FROM emergencies e
 WHERE (CAST(:town_code AS text) IS NULL OR e.town_code = :town_code)
 ORDER BY e.closed_at IS NOT NULL, e.created_at DESC
 LIMIT :limit;

-- name: progress_groups
-- The board's figures per grid and worker; totals and per-worker sums are added up from these.
-- Not reached: a task still open, or confirmed not reachable.
-- The tasks are added up first and the few groups named after: right after a mobilisation
-- the planner has no statistics of the new tasks, guesses one row, and a join before the
-- grouping looked up the grid and the person once per task (0.75 s for 31,000 tasks).
WITH s AS (
    SELECT t.grid_code, t.person_id,
           count(*) AS targets,
           count(*) FILTER (WHERE t.status <> 'open') AS confirmed,
           count(*) FILTER (WHERE t.target_type = 'household') AS households,
           count(*) FILTER (WHERE t.target_type = 'household' AND t.status <> 'open')
               AS households_confirmed,
           count(*) FILTER (WHERE t.target_type = 'household' AND t.status = 'relocated')
               AS households_relocated,
           coalesce(sum(t.residents), 0) AS residents,
           coalesce(sum(t.people) FILTER (WHERE t.status = 'relocated'), 0) AS people_relocated,
           coalesce(sum(t.people) FILTER (WHERE t.status = 'safe'), 0) AS people_safe,
           count(*) FILTER (WHERE t.status = 'unreachable') AS unreachable,
           coalesce(sum(t.vulnerable), 0) AS vulnerable,
           coalesce(sum(t.vulnerable) FILTER (WHERE t.status IN ('open', 'unreachable')), 0)
               AS vulnerable_not_reached
      FROM emergency_tasks t
     WHERE t.emergency_id = :id
     GROUP BY t.grid_code, t.person_id
)
SELECT s.grid_code, g.name AS grid_name, s.person_id, p.name AS worker_name, s.targets,
       s.confirmed, s.households, s.households_confirmed, s.households_relocated, s.residents,
       s.people_relocated, s.people_safe, s.unreachable, s.vulnerable, s.vulnerable_not_reached
  FROM s
  LEFT JOIN people p ON p.id = s.person_id
  LEFT JOIN grids g ON g.code = s.grid_code AND g.valid_to IS NULL
 ORDER BY s.grid_code, s.person_id;

-- name: timeline
-- Confirmations per minute (as received), for the board's timeline.
SELECT date_trunc('minute', t.received_at) AS minute, count(*) AS confirmed,
       count(*) FILTER (WHERE t.status = 'relocated') AS relocated,
       coalesce(sum(t.people) FILTER (WHERE t.status = 'relocated'), 0) AS people_relocated
  FROM emergency_tasks t
 WHERE t.emergency_id = :id AND t.received_at IS NOT NULL
 GROUP BY 1
 ORDER BY 1;

-- name: recent
SELECT t.id, t.target_type, t.name, t.grid_code, t.status, t.people, t.relocated_to,
       t.confirmed_at, t.received_at, t.confirmed_by_name
  FROM emergency_tasks t
 WHERE t.emergency_id = :id AND t.received_at IS NOT NULL
 ORDER BY t.received_at DESC, t.id DESC
 LIMIT :limit;

-- name: task_points
SELECT t.id, t.target_type, t.status, t.vulnerable, t.grid_code,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat
  FROM emergency_tasks t
 WHERE t.emergency_id = :id
 ORDER BY t.id;

-- name: export
SELECT t.id, t.target_type, t.target_id, t.name, t.address, t.grid_code, g.name AS grid_name,
       p.name AS worker_name, t.residents, t.vulnerable, t.status, t.people, t.relocated_to,
       t.note, t.confirmed_at, t.received_at, t.confirmed_by_name,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat
  FROM emergency_tasks t
  LEFT JOIN people p ON p.id = t.person_id
  LEFT JOIN grids g ON g.code = t.grid_code AND g.valid_to IS NULL
 WHERE t.emergency_id = :id
 ORDER BY t.grid_code, t.vulnerable DESC, t.id;

-- name: close
UPDATE emergencies
   SET closed_at = now(), closed_by_name = :account_name, summary = :summary,
       final_figures = CAST(:figures AS json)
 WHERE id = :id AND closed_at IS NULL
RETURNING closed_at;

-- name: worker_tasks
-- The tasks of open emergencies in a scope (accounts.access.case_scope: 'town', 'villages',
-- 'grids'), the most vulnerable first, then the nearest (geodesic metres from the phone, when
-- it has a position), with the account's own before its grid's others among equals.
WITH here AS (
    SELECT CAST(ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326)
                AS geography) AS g
)
SELECT t.id, t.emergency_id, e.name AS emergency_name, e.kind, e.instructions, t.target_type,
       t.target_id, t.name, t.address, t.grid_code, t.person_id, t.residents, t.vulnerable,
       t.status, t.people, t.relocated_to, t.confirmed_at, ST_X(t.geom) AS lon,
       ST_Y(t.geom) AS lat,
       CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
            ELSE ST_Distance(CAST(t.geom AS geography), here.g) END AS distance_m
  FROM here, emergency_tasks t JOIN emergencies e ON e.id = t.emergency_id
 WHERE e.closed_at IS NULL
   AND (CAST(:status AS text) IS NULL OR t.status = :status)
   AND ((:scope_kind = 'town' AND t.town_code = ANY(:scope_codes))
     OR (:scope_kind = 'villages' AND left(t.grid_code, 12) = ANY(:scope_codes))
     OR (:scope_kind = 'grids' AND t.grid_code = ANY(:scope_codes)))
 ORDER BY t.vulnerable DESC, distance_m NULLS LAST, (t.person_id = CAST(:person_id AS int)) DESC NULLS LAST, t.id
 LIMIT :limit;

-- name: task_for_update
-- The task and its emergency, the task locked: two confirmations of one task are serialised;
-- and the other task that used the phone's confirmation id already, if one did (one round
-- trip: 50 workers confirming at once queue on the server's two cores).
SELECT t.id, t.emergency_id, t.town_code, t.grid_code, t.target_type, t.status, t.confirm_id,
       t.request_hash, t.vulnerable, e.closed_at,
       (SELECT o.id FROM emergency_tasks o
         WHERE o.confirm_id = :confirm_id AND o.id <> t.id) AS confirm_id_task
  FROM emergency_tasks t JOIN emergencies e ON e.id = t.emergency_id
 WHERE t.id = :task_id AND t.emergency_id = :emergency_id
   FOR UPDATE OF t;

-- name: confirm_task
-- The confirmation written, the board and the phones told (NOTIFY, sent at commit, web/live.py)
-- and the task as stored answered, in one statement.
WITH confirmed AS (
    UPDATE emergency_tasks
       SET status = :status, people = :people, relocated_to = :relocated_to, note = :note,
           confirm_id = :confirm_id, request_hash = :request_hash,
           confirmed_at = :confirmed_at, received_at = clock_timestamp(),
           confirmed_by = :account_id, confirmed_by_name = :account_name,
           confirmed_person_id = :person_id
     WHERE id = :task_id AND status = 'open'
    RETURNING *
)
SELECT t.id, t.emergency_id, t.target_type, t.target_id, t.name, t.address, t.grid_code,
       t.person_id, t.residents, t.vulnerable, t.status, t.people, t.relocated_to, t.note,
       t.confirmed_at, t.received_at, t.confirmed_by_name, ST_X(t.geom) AS lon,
       ST_Y(t.geom) AS lat,
       pg_notify('gridgov_cases', json_build_object(
           'op', 'emergency', 'event', 'confirmed', 'emergency_id', t.emergency_id,
           'task_id', t.id, 'grid_code', t.grid_code, 'target_type', t.target_type,
           'status', t.status, 'people', t.people, 'vulnerable', t.vulnerable)::text) AS notified
  FROM confirmed t;

-- name: task
SELECT t.id, t.emergency_id, t.target_type, t.target_id, t.name, t.address, t.grid_code,
       t.person_id, t.residents, t.vulnerable, t.status, t.people, t.relocated_to, t.note,
       t.confirmed_at, t.received_at, t.confirmed_by_name, ST_X(t.geom) AS lon,
       ST_Y(t.geom) AS lat
  FROM emergency_tasks t
 WHERE t.id = :task_id;
