-- Statements of ogc/collections.py, each after a `-- name:` line. Values are bound.
--
-- A page and the number of features matching come from one statement: `matching` holds the
-- keys of every feature that passes the filters, `page` the keys of the page, and the outer
-- select counts the first and joins the second back to its rows (a page past the end still
-- answers one row, with the count and NULLs).
--
-- Grids and zones: each row is one version of a boundary, valid over [valid_from, valid_to)
-- (boundaries/models.py). Without a datetime, the current rows (valid_to IS NULL); with one,
-- the rows whose validity meets the closed interval [:start, :end] (an open end is NULL): for
-- an instant T that is valid_from <= T < valid_to, boundaries/versions.sql's "valid at".

-- name: grids
WITH matching AS (
    SELECT g.id, g.code, g.valid_from
      FROM grids g
     WHERE (CAST(:current AS boolean) AND g.valid_to IS NULL
            OR NOT CAST(:current AS boolean)
               AND (CAST(:end AS timestamptz) IS NULL OR g.valid_from <= :end)
               AND (CAST(:start AS timestamptz) IS NULL OR g.valid_to IS NULL
                    OR g.valid_to > :start))
       AND (CAST(:bbox AS text) IS NULL OR ST_Intersects(g.geom, ST_GeomFromText(:bbox, 4326)))
), page AS (
    SELECT id, code, valid_from FROM matching ORDER BY code, valid_from LIMIT :limit OFFSET :offset
)
SELECT n.matched, g.code, g.name, g.level, g.parent_code, g.zone_code, g.town_code, g.version,
       g.valid_from, g.valid_to, ST_AsGeoJSON(g.geom, 7) AS geometry
  FROM (SELECT count(*) AS matched FROM matching) n
  LEFT JOIN (page JOIN grids g ON g.id = page.id) ON true
 ORDER BY page.code, page.valid_from;

-- name: grid
-- One version of a grid. (code, version) names one row: a new version is the previous + 1
-- (boundaries/importer.py, planning/publish.sql); the latest row wins should two ever share it.
SELECT g.code, g.name, g.level, g.parent_code, g.zone_code, g.town_code, g.version,
       g.valid_from, g.valid_to, ST_AsGeoJSON(g.geom, 7) AS geometry
  FROM grids g
 WHERE g.code = :code AND g.version = :version
 ORDER BY g.valid_from DESC
 LIMIT 1;

-- name: grids_extent
SELECT ST_XMin(e) AS min_lon, ST_YMin(e) AS min_lat, ST_XMax(e) AS max_lon, ST_YMax(e) AS max_lat,
       (SELECT min(valid_from) FROM grids) AS first_valid_from
  FROM (SELECT ST_Extent(geom) AS e FROM grids WHERE valid_to IS NULL) x;

-- name: zones
-- As grids. The zone's leader (a person) is not boundary data and stays out.
WITH matching AS (
    SELECT z.id, z.code, z.valid_from
      FROM zones z
     WHERE (CAST(:current AS boolean) AND z.valid_to IS NULL
            OR NOT CAST(:current AS boolean)
               AND (CAST(:end AS timestamptz) IS NULL OR z.valid_from <= :end)
               AND (CAST(:start AS timestamptz) IS NULL OR z.valid_to IS NULL
                    OR z.valid_to > :start))
       AND (CAST(:bbox AS text) IS NULL OR ST_Intersects(z.geom, ST_GeomFromText(:bbox, 4326)))
), page AS (
    SELECT id, code, valid_from FROM matching ORDER BY code, valid_from LIMIT :limit OFFSET :offset
)
SELECT n.matched, z.code, z.name, z.kind, z.town_code, z.version, z.valid_from, z.valid_to,
       ST_AsGeoJSON(z.geom, 7) AS geometry
  FROM (SELECT count(*) AS matched FROM matching) n
  LEFT JOIN (page JOIN zones z ON z.id = page.id) ON true
 ORDER BY page.code, page.valid_from;

-- name: zone
SELECT z.code, z.name, z.kind, z.town_code, z.version, z.valid_from, z.valid_to,
       ST_AsGeoJSON(z.geom, 7) AS geometry
  FROM zones z
 WHERE z.code = :code AND z.version = :version
 ORDER BY z.valid_from DESC
 LIMIT 1;

-- name: zones_extent
SELECT ST_XMin(e) AS min_lon, ST_YMin(e) AS min_lat, ST_XMax(e) AS max_lon, ST_YMax(e) AS max_lat,
       (SELECT min(valid_from) FROM zones) AS first_valid_from
  FROM (SELECT ST_Extent(geom) AS e FROM zones WHERE valid_to IS NULL) x;

-- name: public_cases
-- The public board's cases (cases/board.sql: closed or evaluated, closed within the board's
-- window [:since, :until)), whose time from report to closing meets [:start, :end] and whose
-- *published* position (snapped as cases/publication.py public_lonlat does: round(lon / step)
-- steps, half to even as Python's round and float8 round both do) lies in the box: a box on
-- the true position would tell, by narrowing it, what the snapping hides. The columns are
-- those of board.sql's page, which cases/publication.py redacts; tests/test_ogc.py checks
-- the records against the board's, one by one.
WITH matching AS (
    SELECT c.id, c.closed_at
      FROM cases c
      CROSS JOIN LATERAL (
            SELECT (round(c.lon / CAST(:step AS float8))::numeric
                    * CAST(:step_exact AS numeric))::float8 AS lon,
                   (round(c.lat / CAST(:step AS float8))::numeric
                    * CAST(:step_exact AS numeric))::float8 AS lat) p
     WHERE c.status IN ('closed', 'evaluated')
       AND c.closed_at >= :since AND c.closed_at < :until
       AND (CAST(:start AS timestamptz) IS NULL OR c.closed_at >= :start)
       AND (CAST(:end AS timestamptz) IS NULL OR c.created_at <= :end)
       AND (CAST(:min_lon AS float8) IS NULL
            OR p.lat >= :min_lat AND p.lat <= :max_lat
               AND CASE WHEN CAST(:min_lon AS float8) <= CAST(:max_lon AS float8)
                        THEN p.lon >= :min_lon AND p.lon <= :max_lon
                        ELSE p.lon >= :min_lon OR p.lon <= :max_lon END)
), page AS (
    SELECT id, closed_at FROM matching ORDER BY closed_at DESC, id DESC
     LIMIT :limit OFFSET :offset
)
SELECT n.matched, c.id, c.category_code, cat.name_zh AS category_zh, cat.name_en AS category_en,
       c.admin_code, g.name AS village_name, c.address, c.created_at, c.closed_at,
       c.satisfaction, c.supporters, c.reporter_name, c.reporter_phone, c.lon, c.lat,
       closing.note AS closing_note,
       ARRAY(SELECT ph.id FROM case_photos ph WHERE ph.case_id = c.id AND ph.publishable
              ORDER BY ph.id) AS photo_ids
  FROM (SELECT count(*) AS matched FROM matching) n
  LEFT JOIN (page JOIN cases c ON c.id = page.id
                  JOIN categories cat ON cat.code = c.category_code) ON true
  LEFT JOIN grids g ON g.code = c.admin_code AND g.level = 'admin' AND g.valid_to IS NULL
  LEFT JOIN LATERAL (
        SELECT coalesce(e.data ->> 'note', e.data ->> 'closing_note') AS note
          FROM case_events e
         WHERE e.case_id = c.id AND (e.type = 'closed' OR e.to_status = 'closed')
         ORDER BY e.at DESC, e.id DESC
         LIMIT 1) closing ON true
 ORDER BY page.closed_at DESC, page.id DESC;

-- name: public_case
-- One case of the board, as public_cases reads it; none when the board does not show it.
SELECT c.id, c.category_code, cat.name_zh AS category_zh, cat.name_en AS category_en,
       c.admin_code, g.name AS village_name, c.address, c.created_at, c.closed_at,
       c.satisfaction, c.supporters, c.reporter_name, c.reporter_phone, c.lon, c.lat,
       closing.note AS closing_note,
       ARRAY(SELECT ph.id FROM case_photos ph WHERE ph.case_id = c.id AND ph.publishable
              ORDER BY ph.id) AS photo_ids
  FROM cases c
  JOIN categories cat ON cat.code = c.category_code
  LEFT JOIN grids g ON g.code = c.admin_code AND g.level = 'admin' AND g.valid_to IS NULL
  LEFT JOIN LATERAL (
        SELECT coalesce(e.data ->> 'note', e.data ->> 'closing_note') AS note
          FROM case_events e
         WHERE e.case_id = c.id AND (e.type = 'closed' OR e.to_status = 'closed')
         ORDER BY e.at DESC, e.id DESC
         LIMIT 1) closing ON true
 WHERE c.id = :id AND c.status IN ('closed', 'evaluated')
   AND c.closed_at >= :since AND c.closed_at < :until;

-- name: public_cases_extent
-- The town's outline holds every case the board shows.
SELECT ST_XMin(e) AS min_lon, ST_YMin(e) AS min_lat, ST_XMax(e) AS max_lon, ST_YMax(e) AS max_lat
  FROM (SELECT ST_Extent(geom) AS e FROM towns) x;
