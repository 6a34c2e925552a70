-- Statements of planning/publish.py, each after a `-- name:` line. The temporary tables live
-- for the publish's transaction (ON COMMIT DROP).

-- name: town_lock
-- One publish (or import) of a town's boundaries at a time: the versions they make are
-- numbered in the order they commit, which the intake's check relies on (cases/queries.sql).
SELECT pg_advisory_xact_lock(hashtext('gridgov.boundaries:' || :town));

-- name: latest_version
SELECT max(number) FROM boundary_versions WHERE town_code = :town;

-- name: plan_grids
-- Every grid of the draft's scope, by code: the draft's (not removed) against the current
-- row. added: no current row; removed: no draft grid (removed in the draft, or a grid the
-- draft's version did not have); changed: outline or attributes differ; else unchanged.
CREATE TEMP TABLE publish_grids ON COMMIT DROP AS
WITH d AS (
    SELECT code, name, level, parent_code, zone_code, leader_id, worker_ids, geom
      FROM draft_grids WHERE draft_id = :id AND NOT removed
), c AS (
    SELECT id, code, name, level, parent_code, zone_code, version, geom
      FROM grids
     WHERE valid_to IS NULL AND town_code = :town
       AND (CAST(:village AS text) IS NULL OR code = :village OR parent_code = :village)
)
SELECT coalesce(d.code, c.code) AS code, coalesce(d.level, c.level) AS level,
       d.name, d.parent_code, d.zone_code, d.leader_id, d.worker_ids, d.geom,
       c.id AS old_id, c.version AS old_version, c.geom AS old_geom,
       CASE WHEN c.id IS NULL THEN 'added'
            WHEN d.code IS NULL THEN 'removed'
            WHEN ST_Equals(d.geom, c.geom) AND d.name = c.name AND d.level = c.level
                 AND d.parent_code IS NOT DISTINCT FROM c.parent_code
                 AND d.zone_code IS NOT DISTINCT FROM c.zone_code THEN 'unchanged'
            ELSE 'changed' END AS action,
       -- a code seen before (closed, now drawn again) goes on from its last version
       CASE WHEN c.id IS NOT NULL THEN c.version + 1
            ELSE coalesce((SELECT max(g.version) FROM grids g WHERE g.code = d.code), 0) + 1
       END AS new_version
  FROM d FULL JOIN c ON c.code = d.code;

-- name: plan_after
-- The leaf and village grids as they will be, for locating: the draft's and, for a village's
-- draft, the town's other current grids; cut by ST_Subdivide (as grid_parts is) for the
-- candidate test, with the full outline for the exact one (see boundaries/locate.sql).
CREATE TEMP TABLE publish_after ON COMMIT DROP AS
SELECT code, level, parent_code, geom,
       CASE WHEN action = 'unchanged' THEN old_version ELSE new_version END AS version
  FROM publish_grids WHERE action <> 'removed'
UNION ALL
SELECT g.code, g.level, g.parent_code, g.geom, g.version
  FROM grids g
 WHERE g.valid_to IS NULL AND g.town_code = :town
   AND NOT EXISTS (SELECT 1 FROM publish_grids p WHERE p.code = g.code);

-- name: plan_after_index
CREATE INDEX ON publish_after (code);

-- name: plan_parts
CREATE TEMP TABLE publish_parts ON COMMIT DROP AS
SELECT code, level, ST_Subdivide(geom, 32) AS geom FROM publish_after;

-- name: plan_parts_index
CREATE INDEX ON publish_parts USING gist (geom);

-- name: plan_area
-- The land whose grid may change: old and new outlines of every grid that changes.
CREATE TEMP TABLE publish_area ON COMMIT DROP AS
SELECT ST_Subdivide(g, 32) AS geom
  FROM (SELECT geom AS g FROM publish_grids WHERE action IN ('added', 'changed')
        UNION ALL
        SELECT old_geom FROM publish_grids WHERE action IN ('removed', 'changed')) AS u;

-- name: plan_area_index
CREATE INDEX ON publish_area USING gist (geom);

-- name: plan_examined
CREATE TEMP TABLE publish_examined (id bigint PRIMARY KEY) ON COMMIT DROP;

-- name: analyze_after
ANALYZE publish_after;

-- name: analyze_parts
ANALYZE publish_parts;

-- name: analyze_area
ANALYZE publish_area;

-- name: examine_area
-- The open cases that may be examined in the first pass: those located by a point (not those
-- a geocode put only in a village or the town) within the box of the land that changes, and
-- the open cases of grids whose workers change; with what the re-routing reads (as
-- examined_cases). planning/publish.py keeps those whose point lies on that land (the pieces
-- of area_pieces) and the re-staffed grids' and records them (record_examined): one pass of
-- GEOS over all the points, each piece prepared once. A join in SQL tested each point against
-- unprepared pieces: 2.1 s for a town's 56,659 open cases, where this statement takes 0.4 s.
-- The open predicate is written as ix_cases_open_geom's.
SELECT c.id, c.created_at, c.town_code, c.status, c.queue, c.grid_code, c.admin_code,
       c.grid_version, c.assignee_id, c.department_code, c.geocode_precision, c.on_boundary,
       ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
  FROM cases c
 WHERE c.status NOT IN ('closed', 'evaluated', 'voided')
   AND ((c.geom && (SELECT ST_SetSRID(CAST(ST_Extent(geom) AS geometry), 4326) FROM publish_area)
         AND coalesce(c.geocode_precision, 'point') IN ('point', 'door', 'street'))
        OR c.grid_code = ANY(:staffed));

-- name: area_pieces
SELECT ST_AsBinary(geom) AS wkb FROM publish_area;

-- name: record_examined
INSERT INTO publish_examined (id)
SELECT unnest(CAST(:ids AS bigint[]))
ON CONFLICT DO NOTHING;

-- name: examine_stragglers
-- Under the lock on cases: the open cases of the changing grids (and of their villages' and
-- the re-staffed grids) that the first pass did not see, because their intake committed
-- after it began. They were routed on the old boundaries.
INSERT INTO publish_examined (id)
SELECT c.id FROM cases c
 WHERE c.grid_code = ANY(:codes) AND c.status NOT IN ('closed', 'evaluated', 'voided')
   AND NOT EXISTS (SELECT 1 FROM publish_examined e WHERE e.id = c.id)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: examined_cases
-- The examined cases still open, with what the re-routing reads (planning/publish.py locates
-- their points on the new grids).
SELECT c.id, c.created_at, c.town_code, c.status, c.queue, c.grid_code, c.admin_code,
       c.grid_version, c.assignee_id, c.department_code, c.geocode_precision, c.on_boundary,
       ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
  FROM cases c JOIN unnest(CAST(:ids AS bigint[])) AS e(id) ON e.id = c.id
 WHERE c.status NOT IN ('closed', 'evaluated', 'voided');

-- name: after_grids
SELECT code, level, parent_code, version, ST_AsBinary(geom) AS wkb FROM publish_after;

-- name: posts_after
-- The grid workers on duty and the leader of each grid after the publish: the draft's for
-- its grids, today's assignments for the others.
SELECT a.code,
       CASE WHEN p.code IS NOT NULL THEN
            ARRAY(SELECT pe.id FROM people pe WHERE pe.id = ANY(p.worker_ids) AND pe.on_duty
                   ORDER BY pe.id)
       ELSE ARRAY(SELECT DISTINCT ga.person_id FROM grid_assignments ga
                    JOIN people pe ON pe.id = ga.person_id
                   WHERE ga.grid_code = a.code AND ga.role = 'worker' AND pe.on_duty
                     AND ga.since <= town_today()
                     AND (ga.until IS NULL OR ga.until >= town_today())
                   ORDER BY ga.person_id) END AS workers,
       CASE WHEN p.code IS NOT NULL THEN p.leader_id
       ELSE (SELECT min(ga.person_id) FROM grid_assignments ga
              WHERE ga.grid_code = a.code AND ga.role = 'leader' AND ga.since <= town_today()
                AND (ga.until IS NULL OR ga.until >= town_today())) END AS leader
  FROM publish_after a LEFT JOIN publish_grids p ON p.code = a.code AND p.action <> 'removed'
 WHERE a.code = ANY(:codes);

-- name: workers_today
SELECT grid_code, array_agg(DISTINCT person_id) AS workers FROM grid_assignments
 WHERE grid_code = ANY(:codes) AND role = 'worker'
   AND since <= town_today() AND (until IS NULL OR until >= town_today())
 GROUP BY grid_code;

-- name: open_counts
SELECT assignee_id, count(*) AS n FROM cases
 WHERE assignee_id = ANY(:ids) AND status NOT IN ('closed', 'evaluated', 'voided')
 GROUP BY assignee_id;

-- name: people
SELECT id, name, phone, title FROM people WHERE id = ANY(:ids);

-- name: reroute
-- The cases that move (a new grid or a new holder), each with its event, in one statement; a
-- case closed meanwhile is left as it is (the open test is made again on the row). The rows
-- come as one JSON array of objects, not as ten arrays: a text array's every element is quoted
-- and escaped by the client one by one (psycopg's array dumper, a regular expression per
-- element and a template per quote: about 6 s for the 57,000 JSON event records of a town's
-- publish), a JSON document is encoded once by json.dumps. Each row names its month
-- (created_at), so that each is looked up in its own month's partition only (the planner
-- cannot know how many rows the document holds, and joins them one by one).
WITH u AS (
    SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))
           AS u(id bigint, created_at timestamptz, grid_code text, admin_code text,
                queue text, assignee_id integer, on_boundary boolean, grid_version integer,
                routing_reason text, assignment_reason text, data jsonb)
), moved AS (
    UPDATE cases c
       SET grid_code = u.grid_code, admin_code = u.admin_code, queue = u.queue,
           assignee_id = u.assignee_id, on_boundary = u.on_boundary,
           grid_version = u.grid_version,
           routing_reason = coalesce(u.routing_reason, c.routing_reason),
           assignment_reason = coalesce(u.assignment_reason, c.assignment_reason),
           version = c.version + 1,
           updated_at = clock_timestamp()
      FROM u
     WHERE c.id = u.id AND c.created_at = u.created_at
       AND c.status NOT IN ('closed', 'evaluated', 'voided')
    RETURNING c.id, c.town_code, c.status, c.queue, c.assignee_id, c.department_code,
              c.updated_at, u.data
)
INSERT INTO case_events (case_id, town_code, at, type, from_status, to_status, actor, data,
                         queue, assignee_id, department_code)
SELECT id, town_code, updated_at, 'rerouted', status, status, :actor, data, queue,
       assignee_id, department_code
  FROM moved
RETURNING case_id;

-- name: relocate_things
-- Households (by their address), addresses, enterprises and unresolved hazards on land that
-- changes take the leaf grid that will hold them (on no leaf grid: they keep theirs).
WITH moved AS (
    SELECT t.kind, t.id, (SELECT a.code FROM publish_after a
                           WHERE a.level IN ('regional', 'service')
                             AND a.code IN (SELECT p.code FROM publish_parts p
                                             WHERE p.geom && t.geom
                                               AND p.level IN ('regional', 'service'))
                             AND ST_Covers(a.geom, t.geom)
                           ORDER BY a.code LIMIT 1) AS code, t.old_code
      FROM (SELECT DISTINCT ON (kind, id) * FROM (
              SELECT 'address' AS kind, x.id::bigint AS id, x.geom, x.grid_code AS old_code
                FROM addresses x JOIN publish_area a ON x.geom && a.geom
               WHERE x.town_code = :town
              UNION ALL
              SELECT 'enterprise', x.id, x.geom, x.grid_code
                FROM enterprises x JOIN publish_area a ON x.geom && a.geom
              UNION ALL
              SELECT 'hazard', x.id, x.geom, x.grid_code
                FROM hazards x JOIN publish_area a ON x.geom && a.geom
               WHERE x.status <> 'resolved') AS all_things) AS t
), addresses_moved AS (
    UPDATE addresses x SET grid_code = m.code FROM moved m
     WHERE m.kind = 'address' AND x.id = m.id AND m.code IS NOT NULL
       AND m.code IS DISTINCT FROM m.old_code
    RETURNING x.id
), households_moved AS (
    UPDATE households h SET grid_code = m.code FROM moved m
     WHERE m.kind = 'address' AND h.address_id = m.id AND m.code IS NOT NULL
       AND h.grid_code IS DISTINCT FROM m.code
    RETURNING h.id
), enterprises_moved AS (
    UPDATE enterprises x SET grid_code = m.code FROM moved m
     WHERE m.kind = 'enterprise' AND x.id = m.id AND m.code IS NOT NULL
       AND m.code IS DISTINCT FROM m.old_code
    RETURNING x.id
), hazards_moved AS (
    UPDATE hazards x SET grid_code = m.code FROM moved m
     WHERE m.kind = 'hazard' AND x.id = m.id AND m.code IS NOT NULL
       AND m.code IS DISTINCT FROM m.old_code
    RETURNING x.id
)
SELECT (SELECT count(*) FROM addresses_moved) AS addresses,
       (SELECT count(*) FROM households_moved) AS households,
       (SELECT count(*) FROM enterprises_moved) AS enterprises,
       (SELECT count(*) FROM hazards_moved) AS hazards;

-- name: lock_cases
-- Cases held still while the versions switch: waits for the intakes under way (they routed
-- on the old boundaries and are re-routed next), holds new ones until the commit (their
-- insert then sees the new version and routes again). Reads and the first pass ran before.
LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE;

-- name: reserve_version
-- The new version's number, taken now (its cases' events name it); its moment is set when
-- the versions switch. 'infinity' is unique per town while the town lock is held.
INSERT INTO boundary_versions (town_code, effective_at, note)
VALUES (:town, 'infinity', :note) RETURNING number;

-- name: switch
-- The moment of the switch: every row closed and opened at it, the version numbered at it.
WITH m AS MATERIALIZED (SELECT clock_timestamp() AS at)
UPDATE boundary_versions v SET effective_at = m.at FROM m WHERE v.number = :number
RETURNING v.effective_at;

-- name: close_rows
UPDATE grids g SET valid_to = :at
  FROM publish_grids p
 WHERE g.id = p.old_id AND p.action IN ('removed', 'changed');

-- name: open_rows
INSERT INTO grids (code, name, level, parent_code, zone_code, town_code, geom, version,
                   valid_from)
SELECT code, name, level, parent_code, zone_code, :town, geom, new_version, :at
  FROM publish_grids WHERE action IN ('added', 'changed');

-- name: end_posts
-- Assignments the draft no longer has: a worker or leader taken off a grid, every post of a
-- grid removed. They end yesterday (an assignment counts through its `until` day); one that
-- began today never was in force and goes.
WITH gone AS (
    SELECT a.id, a.since FROM grid_assignments a JOIN publish_grids p ON p.code = a.grid_code
     WHERE a.role IN ('worker', 'leader')
       AND (a.until IS NULL OR a.until >= town_today())
       AND (p.action = 'removed'
            OR (a.role = 'worker' AND NOT a.person_id = ANY(p.worker_ids))
            OR (a.role = 'leader' AND a.person_id IS DISTINCT FROM p.leader_id))
), ended AS (
    UPDATE grid_assignments a SET until = town_today() - 1 FROM gone
     WHERE a.id = gone.id AND gone.since < town_today() RETURNING a.id
), dropped AS (
    DELETE FROM grid_assignments a USING gone
     WHERE a.id = gone.id AND gone.since >= town_today() RETURNING a.id
)
SELECT (SELECT count(*) FROM ended) + (SELECT count(*) FROM dropped);

-- name: start_posts
INSERT INTO grid_assignments (person_id, grid_code, role, since)
SELECT x.person_id, x.code, x.role, town_today()
  FROM (SELECT p.code, unnest(p.worker_ids) AS person_id, 'worker' AS role
          FROM publish_grids p WHERE p.action <> 'removed'
        UNION
        SELECT p.code, p.leader_id, 'leader' FROM publish_grids p
         WHERE p.action <> 'removed' AND p.leader_id IS NOT NULL) AS x
 WHERE NOT EXISTS (SELECT 1 FROM grid_assignments a
                    WHERE a.grid_code = x.code AND a.person_id = x.person_id
                      AND a.role = x.role AND a.since <= town_today()
                      AND (a.until IS NULL OR a.until >= town_today()));

-- name: mark_published
UPDATE drafts SET state = 'published', published_version = :number, published_at = :at,
                  published_by = :actor, rerouted = :rerouted, effective_at = :effective_at,
                  publish_error = NULL, updated_at = now()
 WHERE id = :id;

-- name: schedule
UPDATE drafts SET state = 'scheduled', effective_at = :effective_at, published_by = :actor,
                  publish_error = NULL, updated_at = now()
 WHERE id = :id;

-- name: unschedule
UPDATE drafts SET state = 'open', publish_error = :error, updated_at = now() WHERE id = :id;

-- name: due
-- Scheduled drafts whose time has come, oldest time first.
SELECT id FROM drafts WHERE state = 'scheduled' AND effective_at <= :now
 ORDER BY effective_at, id;

-- name: bbox
SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)
  FROM (SELECT ST_Extent(g) AS b FROM (
          SELECT geom AS g FROM publish_grids WHERE action <> 'unchanged' AND geom IS NOT NULL
          UNION ALL
          SELECT old_geom FROM publish_grids WHERE action <> 'unchanged'
                                                AND old_geom IS NOT NULL) AS u) AS e;

-- name: notify
-- One notice for the whole publish (the cases' own were silenced: gridgov.bulk): every
-- server drops its cached tiles of that box and every open map refetches (web/live.py).
SELECT pg_notify('gridgov_cases', json_build_object(
    'op', 'boundaries', 'town_code', CAST(:town AS text), 'version', CAST(:number AS integer),
    'bbox', json_build_array(CAST(:minlon AS float8), CAST(:minlat AS float8),
                             CAST(:maxlon AS float8), CAST(:maxlat AS float8)))::text);
