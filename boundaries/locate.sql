-- Two statements, each after a `-- name:` line; boundaries/locate.py loads them by name.

-- name: locate
-- Point lookup (boundaries/locate.py): every current grid that covers the point, the leaf
-- grid chosen by the tie rule (smallest code) with its admin grid, zone, town, grid workers
-- on duty and the admin grid's leader, in one round trip. Hand-written SQL: one statement
-- keeps the lookup to a single round trip, which the intake's latency budget needs.
--
-- Candidates come from grid_parts (the grids cut by ST_Subdivide, GiST-indexed): a part's
-- small bounding box overlaps few neighbours, where a whole village's overlaps many. The
-- exact ST_Covers and the boundary test run on the full grid geometry: ST_Subdivide's cut
-- vertices are rounded, so a point exactly on an original edge could fall a hair outside the
-- part holding that edge, and a point on a cut line is not on the grid's boundary.
WITH p AS (
    SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom
),
cand AS (
    SELECT DISTINCT gp.grid_id FROM grid_parts gp, p WHERE gp.geom && p.geom
),
hit AS (
    SELECT g.code, g.name, g.level, g.parent_code, g.zone_code, g.town_code, g.version,
           g.valid_from, ST_Intersects(ST_Boundary(g.geom), p.geom) AS on_edge
    FROM cand JOIN grids g ON g.id = cand.grid_id, p
    WHERE g.valid_to IS NULL AND ST_Covers(g.geom, p.geom)
),
leaf AS (
    SELECT * FROM hit WHERE level IN ('regional', 'service') ORDER BY code LIMIT 1
),
admin AS (
    SELECT g.code, g.name, g.version, g.valid_from, g.zone_code, g.town_code,
           COALESCE((SELECT on_edge FROM hit WHERE hit.code = g.code), false) AS on_edge
    FROM grids g
    WHERE g.valid_to IS NULL AND g.level = 'admin'
      AND g.code = COALESCE(
          (SELECT parent_code FROM leaf),
          (SELECT code FROM hit WHERE level = 'admin' ORDER BY code LIMIT 1))
)
-- One JSON object, its members the parts of the answer: one value for psycopg to read and
-- json to parse per lookup, where eight columns (seven of them JSON) cost eight, 0.13 M of
-- the 4.78 M instructions the app spent on a report (bench/app_instructions.py)
SELECT json_build_object(
    'hits', (SELECT json_agg(json_build_object('code', code, 'level', level) ORDER BY code)
               FROM hit),
    'leaf', (SELECT row_to_json(leaf) FROM leaf),
    'admin', (SELECT row_to_json(admin) FROM admin),
    'zone', (SELECT json_build_object('code', z.code, 'name', z.name, 'kind', z.kind)
               FROM zones z
              WHERE z.valid_to IS NULL
                AND z.code = COALESCE((SELECT zone_code FROM leaf), (SELECT zone_code FROM admin))),
    'town', (SELECT json_build_object('code', t.code, 'name', t.name)
               FROM towns t
              WHERE t.code = COALESCE((SELECT town_code FROM admin), (SELECT town_code FROM leaf))),
    -- the town's latest boundary version this lookup saw: the intake's insert refuses a case
    -- routed on boundaries a publish has replaced since (function insert_case, migration 0070)
    'boundary_version', (SELECT max(v.number) FROM boundary_versions v
      WHERE v.town_code = COALESCE((SELECT town_code FROM admin), (SELECT town_code FROM leaf))),
    'workers', (SELECT json_agg(json_build_object('id', pe.id, 'name', pe.name, 'phone', pe.phone,
                                                  'title', pe.title) ORDER BY pe.id)
       FROM grid_assignments a JOIN people pe ON pe.id = a.person_id
      WHERE a.grid_code = (SELECT code FROM leaf) AND a.role = 'worker' AND pe.on_duty
        AND a.since <= town_today() AND (a.until IS NULL OR a.until >= town_today())),
    'leader', (SELECT json_build_object('id', pe.id, 'name', pe.name, 'phone', pe.phone)
       FROM grid_assignments a JOIN people pe ON pe.id = a.person_id
      WHERE a.grid_code = (SELECT code FROM admin) AND a.role = 'leader'
        AND a.since <= town_today() AND (a.until IS NULL OR a.until >= town_today())
      ORDER BY a.since DESC, pe.id LIMIT 1)
) AS found

-- name: nearest
-- The grid nearest to a point that no grid covers: KNN (<->) on grid_parts' GiST index for
-- the nearest few parts in degrees, then the geodesic distance (metres) to the full grids. A
-- degree of longitude is shorter than one of latitude, so the nearest in degrees need not be
-- the nearest in metres: eight candidates settle that.
WITH p AS (
    SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom
),
near AS (
    SELECT gp.grid_id FROM grid_parts gp, p
    WHERE gp.level = ANY(:levels)
    ORDER BY gp.geom <-> p.geom
    LIMIT 8
)
SELECT g.code, g.name, g.level,
       ST_Distance(g.geom::geography, p.geom::geography) AS distance_m
FROM (SELECT DISTINCT grid_id FROM near) n JOIN grids g ON g.id = n.grid_id, p
ORDER BY distance_m, g.code
LIMIT 1

-- name: current_grids
-- Every current grid with its geometry, for the bulk routing index (cases/bulk.py).
SELECT code, name, level, parent_code, town_code, version, ST_AsBinary(geom) AS wkb
FROM grids
WHERE valid_to IS NULL
ORDER BY code
