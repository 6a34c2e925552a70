-- Statements of planning/impact.py, each after a `-- name:` line.

-- name: moves
-- Everything with a position whose leaf grid the draft would change: households (with their
-- residents), enterprises, unresolved hazards and open cases, each with the grid it is in
-- today (its stored grid_code, as routed) and the grid it would be in (the leaf grid of the
-- draft, or for land the draft does not hold the town's current leaf grid, containing it).
-- Only what lies in the changed grids' land, old or new, is located again: an edit of one
-- village reads that village's things, not the town's.
WITH d AS (
    SELECT dg.code, dg.geom, dg.removed, dg.base_grid_id, g.geom AS old_geom
      FROM draft_grids dg LEFT JOIN grids g ON g.id = dg.base_grid_id
     WHERE dg.draft_id = :id AND dg.level <> 'admin'
), changed AS (
    SELECT code, CASE WHEN NOT removed THEN geom END AS geom, old_geom FROM d
     WHERE base_grid_id IS NULL OR removed OR NOT ST_Equals(geom, old_geom)
), area AS MATERIALIZED (
    SELECT ST_Union(u.g) AS geom FROM (
        SELECT geom AS g FROM changed WHERE geom IS NOT NULL
        UNION ALL SELECT old_geom FROM changed WHERE old_geom IS NOT NULL) AS u
), leaves AS MATERIALIZED (
    SELECT code, geom FROM d WHERE NOT removed
    UNION ALL
    SELECT g.code, g.geom FROM grids g
     WHERE g.valid_to IS NULL AND g.town_code = :town AND g.level <> 'admin'
       AND NOT EXISTS (SELECT 1 FROM draft_grids x WHERE x.draft_id = :id AND x.code = g.code)
), things AS (
    SELECT 'household' AS kind, h.id::bigint AS id, h.residents AS residents,
           h.grid_code AS old_code, a.geom, NULL::integer AS assignee_id, NULL::boolean AS held
      FROM households h JOIN addresses a ON a.id = h.address_id, area
     WHERE ST_Intersects(a.geom, area.geom)
    UNION ALL
    SELECT 'enterprise', e.id, 0, e.grid_code, e.geom, NULL, NULL FROM enterprises e, area
     WHERE ST_Intersects(e.geom, area.geom)
    UNION ALL
    SELECT 'hazard', z.id, 0, z.grid_code, z.geom, NULL, NULL FROM hazards z, area
     WHERE z.status <> 'resolved' AND ST_Intersects(z.geom, area.geom)
    UNION ALL
    -- open cases located by a point (a geocode to a village or the town is not moved by a
    -- redrawn leaf grid); held: held at the grid level, so a publish may give it to another
    -- person (planning/publish.py says which cases keep their holder)
    SELECT 'case', c.id, 0, c.grid_code, c.geom, c.assignee_id,
           c.queue = 'grid' AND c.department_code IS NULL AND c.status <> 'collected'
      FROM cases c, area
     WHERE c.status NOT IN ('closed', 'evaluated', 'voided') AND c.geom IS NOT NULL
       AND coalesce(c.geocode_precision, 'point') IN ('point', 'door', 'street')
       AND ST_Intersects(c.geom, area.geom)
)
SELECT t.kind, t.id, t.residents, t.old_code, t.assignee_id, t.held,
       (SELECT l.code FROM leaves l WHERE ST_Intersects(l.geom, t.geom)
         ORDER BY l.code LIMIT 1) AS new_code
  FROM things t;

-- name: changed
SELECT dg.code, dg.removed, dg.base_grid_id IS NULL AS added, dg.worker_ids
  FROM draft_grids dg LEFT JOIN grids g ON g.id = dg.base_grid_id
 WHERE dg.draft_id = :id AND dg.level <> 'admin'
   AND (dg.base_grid_id IS NULL OR dg.removed OR NOT ST_Equals(dg.geom, g.geom));

-- name: households
SELECT grid_code, count(*) AS households, sum(residents) AS residents
  FROM households WHERE grid_code = ANY(:codes) GROUP BY grid_code;

-- name: workers_today
SELECT grid_code, count(DISTINCT person_id) AS workers FROM grid_assignments
 WHERE grid_code = ANY(:codes) AND role = 'worker'
   AND since <= town_today() AND (until IS NULL OR until >= town_today())
 GROUP BY grid_code;

-- name: draft_workers
SELECT code, worker_ids FROM draft_grids WHERE draft_id = :id AND NOT removed AND code = ANY(:codes);

-- name: restaffed_cases
-- Open cases held at the grid level by a grid worker of their grid today whom the draft no
-- longer has there: a publish gives them to another person even if they do not move.
SELECT c.id, c.grid_code, c.assignee_id, dg.worker_ids
  FROM cases c
  JOIN draft_grids dg ON dg.draft_id = :id AND dg.code = c.grid_code AND NOT dg.removed
 WHERE c.status NOT IN ('closed', 'evaluated', 'voided') AND c.status <> 'collected'
   AND c.queue = 'grid' AND c.department_code IS NULL AND c.assignee_id IS NOT NULL
   AND NOT c.assignee_id = ANY(dg.worker_ids)
   AND EXISTS (SELECT 1 FROM grid_assignments a
                WHERE a.grid_code = c.grid_code AND a.person_id = c.assignee_id
                  AND a.role = 'worker' AND a.since <= town_today()
                  AND (a.until IS NULL OR a.until >= town_today()));
