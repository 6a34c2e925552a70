-- Statements of cases/hotspots.py, each after a `-- name:` line. Binning in SQL: one row per
-- non-empty cell (and grid), never a row per case. The cell of a case is the floor of its
-- position in the town's local metric frame (cases/hotspots.py, LocalFrame) over :cell metres.

-- name: bin
-- The cells alone: what a request without `aggregate` reads (the covering ix_cases_lonlat
-- holds every column it needs).
SELECT floor(((lon - :lon0) * :kx - :minx) / :cell)::int AS col,
       floor(((lat - :lat0) * :ky - :miny) / :cell)::int AS row,
       NULL AS grid_code,
       count(*) AS n
  FROM cases
 WHERE lon IS NOT NULL
   AND (CAST(:category AS text) IS NULL OR category_code = :category
        OR category_code LIKE :category_prefix)
   AND (CAST(:since AS timestamptz) IS NULL OR created_at >= :since)
   AND (CAST(:until AS timestamptz) IS NULL OR created_at < :until)
 GROUP BY 1, 2;

-- name: bin_by_grid
-- The cells, each split by the grid the cases were routed to (?aggregate=routed): a leaf
-- grid, a village grid (a case of the village's queue), or NULL (the town's queue).
SELECT floor(((lon - :lon0) * :kx - :minx) / :cell)::int AS col,
       floor(((lat - :lat0) * :ky - :miny) / :cell)::int AS row,
       grid_code,
       count(*) AS n
  FROM cases
 WHERE lon IS NOT NULL
   AND (CAST(:category AS text) IS NULL OR category_code = :category
        OR category_code LIKE :category_prefix)
   AND (CAST(:since AS timestamptz) IS NULL OR created_at >= :since)
   AND (CAST(:until AS timestamptz) IS NULL OR created_at < :until)
 GROUP BY 1, 2, 3;

-- name: bin_by_current_grid
-- The cells, each split by today's grid holding the cases' points (?aggregate=current; the
-- joins and their rule are cases/stats.sql's current_grid_joins): NULL when there is none.
SELECT floor(((c.lon - :lon0) * :kx - :minx) / :cell)::int AS col,
       floor(((c.lat - :lat0) * :ky - :miny) / :cell)::int AS row,
       coalesce(now_leaf.code, now_admin.code) AS grid_code,
       count(*) AS n
  FROM cases c
  /* current_grid_joins */
 WHERE c.lon IS NOT NULL
   AND (CAST(:category AS text) IS NULL OR c.category_code = :category
        OR c.category_code LIKE :category_prefix)
   AND (CAST(:since AS timestamptz) IS NULL OR c.created_at >= :since)
   AND (CAST(:until AS timestamptz) IS NULL OR c.created_at < :until)
 GROUP BY 1, 2, 3;
