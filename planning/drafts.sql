-- Statements of planning/drafts.py, each after a `-- name:` line.

-- name: town
SELECT code, name FROM towns WHERE code = :code;

-- name: admin_grid
-- A village's administrative grid valid at :at (NULL: the current one).
SELECT code, name, town_code FROM grids
 WHERE code = :code AND level = 'admin'
   AND (CASE WHEN CAST(:at AS timestamptz) IS NULL THEN valid_to IS NULL
             ELSE valid_from <= :at AND (valid_to IS NULL OR valid_to > :at) END);

-- name: copy_grids
-- The grids of the scope valid at :at (NULL: current), with their leader and on-duty workers
-- today (grid_assignments, by grid code), into the new draft.
INSERT INTO draft_grids (draft_id, code, name, level, parent_code, zone_code, leader_id,
                         worker_ids, geom, base_grid_id, revision)
SELECT :draft_id, g.code, g.name, g.level, g.parent_code, g.zone_code,
       (SELECT min(a.person_id) FROM grid_assignments a
         WHERE a.grid_code = g.code AND a.role = 'leader'
           AND a.since <= town_today() AND (a.until IS NULL OR a.until >= town_today())),
       coalesce((SELECT array_agg(a.person_id ORDER BY a.person_id) FROM grid_assignments a
                  WHERE a.grid_code = g.code AND a.role = 'worker'
                    AND a.since <= town_today()
                    AND (a.until IS NULL OR a.until >= town_today())), '{}'),
       g.geom, g.id, 1
  FROM grids g
 WHERE g.town_code = :town_code
   AND (CASE WHEN CAST(:at AS timestamptz) IS NULL THEN g.valid_to IS NULL
             ELSE g.valid_from <= :at AND (g.valid_to IS NULL OR g.valid_to > :at) END)
   AND (CAST(:village AS text) IS NULL OR g.code = :village OR g.parent_code = :village);

-- name: draft
SELECT id, town_code, scope_code, scope_kind, from_version, base_version, state, revision,
       created_by, created_at, updated_at, effective_at, published_version, published_at,
       published_by, rerouted, publish_error,
       (SELECT count(*) FROM draft_grids dg WHERE dg.draft_id = d.id AND NOT dg.removed) AS grids
  FROM drafts d WHERE id = :id;

-- name: lock_draft
SELECT id, town_code, scope_code, scope_kind, state, revision, base_version, effective_at
  FROM drafts WHERE id = :id
   FOR UPDATE;

-- name: drafts
SELECT id, town_code, scope_code, scope_kind, from_version, base_version, state, revision,
       created_by, created_at, updated_at, effective_at, published_version, published_at,
       published_by, rerouted, publish_error,
       (SELECT count(*) FROM draft_grids dg WHERE dg.draft_id = d.id AND NOT dg.removed) AS grids
  FROM drafts d
 WHERE (CAST(:town_code AS text) IS NULL OR town_code = :town_code)
   AND (CAST(:state AS text) IS NULL OR state = :state)
 ORDER BY id;

-- name: grids
SELECT code, name, level, parent_code, zone_code, leader_id, worker_ids, base_grid_id,
       revision, ST_Area(geom::geography) AS area_m2, ST_AsGeoJSON(geom, 7) AS geometry
  FROM draft_grids WHERE draft_id = :id AND NOT removed ORDER BY code;

-- name: grid
SELECT code, name, level, parent_code, zone_code, leader_id, worker_ids, removed
  FROM draft_grids WHERE draft_id = :id AND code = :code;

-- name: changes_since
SELECT revision, op, codes, actor, at FROM draft_changes
 WHERE draft_id = :id AND revision > :revision ORDER BY revision;

-- name: log
INSERT INTO draft_changes (draft_id, revision, op, codes, actor)
VALUES (:id, :revision, :op, :codes, :actor);

-- name: bump
UPDATE drafts SET revision = :revision, updated_at = now() WHERE id = :id;

-- name: update_grid
UPDATE draft_grids
   SET name = :name, level = :level, parent_code = :parent_code, zone_code = :zone_code,
       leader_id = :leader_id, worker_ids = :worker_ids,
       geom = ST_Multi(ST_GeomFromWKB(:wkb, 4326)), revision = :revision
 WHERE draft_id = :id AND code = :code;

-- name: insert_grid
INSERT INTO draft_grids (draft_id, code, name, level, parent_code, zone_code, leader_id,
                         worker_ids, geom, revision)
VALUES (:id, :code, :name, :level, :parent_code, :zone_code, :leader_id, :worker_ids,
        ST_Multi(ST_GeomFromWKB(:wkb, 4326)), :revision);

-- name: discard
UPDATE drafts SET state = 'discarded', updated_at = now() WHERE id = :id;

-- name: town_geometry
-- The town's outline, for the "far outside the town" check.
SELECT ST_AsBinary(geom) FROM towns WHERE code = :code;

-- name: people
SELECT id FROM people WHERE id = ANY(:ids);
