-- Statements of boundaries/versions.py, each after a `-- name:` line.
-- The grids of a version are the rows valid at its effective_at: valid_from <= t < valid_to
-- (valid_to NULL: still valid), the same half-open range the exclusion constraint
-- ex_grids_code_validity keeps disjoint per code (migration 0021).

-- name: list
SELECT v.number, v.town_code, v.effective_at, v.recorded_at, v.note,
       (SELECT count(*) FROM grids g
         WHERE g.town_code = v.town_code AND g.valid_from <= v.effective_at
           AND (g.valid_to IS NULL OR g.valid_to > v.effective_at)) AS grids,
       (SELECT count(*) FROM grids g
         WHERE g.town_code = v.town_code
           AND (g.valid_from = v.effective_at OR g.valid_to = v.effective_at)) AS grid_rows_changed,
       v.effective_at <= now() AS in_force
  FROM boundary_versions v
 WHERE CAST(:town_code AS text) IS NULL OR v.town_code = :town_code
 ORDER BY v.effective_at, v.number;

-- name: one
SELECT number, town_code, effective_at, recorded_at, note
  FROM boundary_versions WHERE number = :number;

-- name: grids
-- Every grid of the town valid at :at, as GeoJSON geometry with its attributes.
SELECT g.code, g.name, g.level, g.parent_code, g.zone_code, g.version, g.valid_from, g.valid_to,
       ST_Area(g.geom::geography) AS area_m2, ST_AsGeoJSON(g.geom, 7) AS geometry
  FROM grids g
 WHERE g.town_code = :town_code AND g.valid_from <= :at
   AND (g.valid_to IS NULL OR g.valid_to > :at)
 ORDER BY g.code;

-- name: diff
-- Grid by grid, what differs between the town's grids at :at_a and at :at_b: added (only at b),
-- removed (only at a), changed (another row at b: its geometry, attributes or both).
-- Areas on the spheroid (geography), in m².
WITH ga AS (
    SELECT * FROM grids
     WHERE town_code = :town_code AND valid_from <= :at_a AND (valid_to IS NULL OR valid_to > :at_a)
), gb AS (
    SELECT * FROM grids
     WHERE town_code = :town_code AND valid_from <= :at_b AND (valid_to IS NULL OR valid_to > :at_b)
)
SELECT coalesce(gb.code, ga.code) AS code,
       CASE WHEN ga.id IS NULL THEN 'added' WHEN gb.id IS NULL THEN 'removed' ELSE 'changed' END
           AS change,
       ga.name AS name_a, gb.name AS name_b, ga.level AS level_a, gb.level AS level_b,
       ga.parent_code AS parent_a, gb.parent_code AS parent_b,
       ga.zone_code AS zone_a, gb.zone_code AS zone_b,
       ga.version AS row_version_a, gb.version AS row_version_b,
       ST_Area(ga.geom::geography) AS area_a_m2, ST_Area(gb.geom::geography) AS area_b_m2,
       CASE WHEN ga.id IS NOT NULL AND gb.id IS NOT NULL
            THEN NOT ST_Equals(ga.geom, gb.geom) END AS geometry_changed,
       ST_AsGeoJSON(coalesce(gb.geom, ga.geom), 7) AS geometry,
       CASE WHEN ga.id IS NOT NULL AND gb.id IS NOT NULL AND NOT ST_Equals(ga.geom, gb.geom)
            THEN ST_AsGeoJSON(ga.geom, 7) END AS geometry_a
  FROM ga FULL JOIN gb ON gb.code = ga.code
 WHERE ga.id IS DISTINCT FROM gb.id
 ORDER BY 1;
