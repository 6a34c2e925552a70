-- Statements of planning/proposals.py, each after a `-- name:` line.

-- name: village_grids
-- The village's grids as the draft holds them (its village grid and leaf grids), with their
-- people: the land a proposal splits and the grids it keeps.
SELECT code, name, level, zone_code, worker_ids, ST_AsBinary(geom) AS wkb
  FROM draft_grids
 WHERE draft_id = :id AND NOT removed AND (code = :admin OR parent_code = :admin)
 ORDER BY code;

-- name: draft_codes
-- Every code the draft holds a row for, removed ones too (a row keeps its code taken).
SELECT code FROM draft_grids WHERE draft_id = :id;

-- name: households
-- The households whose address lies on the land, with their street (to tell the side of it
-- they live on) and position.
SELECT h.id, a.street, ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat
  FROM households h JOIN addresses a ON a.id = h.address_id
 WHERE a.town_code = :town AND ST_Intersects(a.geom, ST_GeomFromWKB(:land, 4326))
 ORDER BY h.id;

-- name: streets
SELECT name, ST_AsBinary(geom) AS wkb FROM streets WHERE village_code = :village ORDER BY id;

-- name: clear_grids
DELETE FROM draft_grids WHERE draft_id = :id;

-- name: copy_village
-- The source draft's rows of the village (removed ones too, so that the new draft's impact
-- sees what the source draft changed) into the new draft.
INSERT INTO draft_grids (draft_id, code, name, level, parent_code, zone_code, leader_id,
                         worker_ids, geom, base_grid_id, removed, revision)
SELECT :new_id, code, name, level, parent_code, zone_code, leader_id, worker_ids, geom,
       base_grid_id, removed, 1
  FROM draft_grids WHERE draft_id = :source_id AND (code = :admin OR parent_code = :admin);

-- name: inherit_base
-- The new draft stands on what the source draft stood on: publishing it over boundaries that
-- changed since the source draft was made is refused as that draft's publish would be.
UPDATE drafts SET base_version = :base_version WHERE id = :id;

-- name: update_grid
UPDATE draft_grids
   SET name = :name, zone_code = :zone_code, worker_ids = :worker_ids,
       geom = ST_Multi(ST_GeomFromWKB(:wkb, 4326)), revision = :revision
 WHERE draft_id = :id AND code = :code;

-- name: remove_grid
UPDATE draft_grids SET removed = true, revision = :revision WHERE draft_id = :id AND code = :code;

-- name: insert_grid
INSERT INTO draft_grids (draft_id, code, name, level, parent_code, zone_code, worker_ids, geom,
                         revision)
VALUES (:id, :code, :name, 'service', :parent_code, :zone_code, :worker_ids,
        ST_Multi(ST_GeomFromWKB(:wkb, 4326)), :revision);

-- name: draft_balance
-- The draft's service grids (of one village, or all when :village is NULL), each with its
-- households counted by position (a household on a shared edge counts once, in the grid of
-- the smaller code), its area and perimeter in metres on the spheroid.
WITH g AS (
    SELECT code, name, geom FROM draft_grids
     WHERE draft_id = :id AND NOT removed AND level = 'service'
       AND (CAST(:village AS text) IS NULL OR parent_code = :village)
), located AS (
    SELECT DISTINCT ON (h.id) h.id, g.code
      FROM households h JOIN addresses a ON a.id = h.address_id
      JOIN g ON ST_Intersects(g.geom, a.geom)
     ORDER BY h.id, g.code
)
SELECT g.code, g.name, count(located.id) AS households,
       ST_Area(g.geom::geography) AS area_m2, ST_Perimeter(g.geom::geography) AS perimeter_m
  FROM g LEFT JOIN located ON located.code = g.code
 GROUP BY g.code, g.name, g.geom ORDER BY g.code;

-- name: today_balance
-- The same figures for today's service grids of the town (of one village, or all when
-- :village is NULL).
WITH g AS (
    SELECT code, name, geom FROM grids
     WHERE valid_to IS NULL AND town_code = :town AND level = 'service'
       AND (CAST(:village AS text) IS NULL OR parent_code = :village)
), located AS (
    SELECT DISTINCT ON (h.id) h.id, g.code
      FROM households h JOIN addresses a ON a.id = h.address_id
      JOIN g ON ST_Intersects(g.geom, a.geom)
     ORDER BY h.id, g.code
)
SELECT g.code, g.name, count(located.id) AS households,
       ST_Area(g.geom::geography) AS area_m2, ST_Perimeter(g.geom::geography) AS perimeter_m
  FROM g LEFT JOIN located ON located.code = g.code
 GROUP BY g.code, g.name, g.geom ORDER BY g.code;
