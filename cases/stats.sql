-- The statements of cases/stats.py, one per "-- name:" block; values are always bound.
-- Open states are written out as a literal IN list (cases.models.STATES minus CLOSED_STATES),
-- so PostgreSQL can use ix_cases_status for them; cases/stats.py checks at import that the
-- list here matches the model. A case is overdue when it is open, not parked (挂账 suspends
-- its deadline) and its due_at has passed.

-- name: case_counts_by_grid
-- Per (leaf grid, village): open and overdue cases now, and cases created in [since, until).
SELECT grid_code, admin_code,
       count(*) FILTER (WHERE status IN ('collected', 'filed', 'dispatched', 'handling',
                                         'escalated', 'fed_back', 'returned', 'parked')) AS open,
       count(*) FILTER (WHERE status IN ('collected', 'filed', 'dispatched', 'handling',
                                         'escalated', 'fed_back', 'returned')
                          AND due_at < :now) AS overdue,
       count(*) FILTER (WHERE created_at >= :since AND created_at < :until) AS cases
  FROM cases
 WHERE (status IN ('collected', 'filed', 'dispatched', 'handling', 'escalated', 'fed_back',
                   'returned', 'parked')
        OR (created_at >= :since AND created_at < :until))
   AND (CAST(:town_code AS text) IS NULL OR town_code = :town_code)
   AND (CAST(:grid_codes AS text[]) IS NULL OR grid_code = ANY(CAST(:grid_codes AS text[])))
 GROUP BY grid_code, admin_code;

-- name: current_grid_joins
-- Not a statement: two joins that place a case `c` in today's grids by its point, for
-- ?aggregate=current (history across boundary changes, cases/stats.py); cases/stats.py splices
-- them wherever a statement says /* current_grid_joins */, here and in cases/hotspots.sql. They
-- give `now_leaf` (code, parent_code) and `now_admin` (code), by the intake's rule
-- (cases/routing.py): a point given as coordinates, or an address matched to a door or a
-- street, goes to the current leaf grid that covers it (the smallest code on a shared edge, as
-- boundaries/locate.sql), else to the current village grid that covers it; an address matched
-- only to a village goes to the village grid covering its point, never guessed down to a leaf
-- grid; one matched only to the town, a case without a point, or a point outside today's grids
-- goes to no grid (both NULL). Candidates come from grid_parts (current grids only, GiST-
-- indexed); ST_Covers runs on the whole grid, as in locate.sql, which says why.
LEFT JOIN LATERAL (
    SELECT g.code, g.parent_code
      FROM grid_parts gp JOIN grids g ON g.id = gp.grid_id
     WHERE c.geocode_precision IS DISTINCT FROM 'village'
       AND c.geocode_precision IS DISTINCT FROM 'town'
       AND gp.level IN ('regional', 'service') AND gp.geom && c.geom
       AND g.valid_to IS NULL AND ST_Covers(g.geom, c.geom)
     ORDER BY g.code
     LIMIT 1
) now_leaf ON true
LEFT JOIN LATERAL (
    SELECT g.code
      FROM grid_parts gp JOIN grids g ON g.id = gp.grid_id
     WHERE now_leaf.code IS NULL
       AND c.geocode_precision IS DISTINCT FROM 'town'
       AND gp.level = 'admin' AND gp.geom && c.geom
       AND g.valid_to IS NULL AND ST_Covers(g.geom, c.geom)
     ORDER BY g.code
     LIMIT 1
) now_admin ON true

-- name: case_counts_by_current_grid
-- As case_counts_by_grid, but each case counted where its point lies in today's grids
-- (current_grid_joins above) instead of the grid it was routed to: ?aggregate=current. A case
-- placed in no grid has both codes NULL (the "none" of cases/stats.py unplaced).
SELECT coalesce(now_leaf.code, now_admin.code) AS grid_code,
       coalesce(now_leaf.parent_code, now_admin.code) AS admin_code,
       count(*) FILTER (WHERE c.status IN ('collected', 'filed', 'dispatched', 'handling',
                                           'escalated', 'fed_back', 'returned', 'parked')) AS open,
       count(*) FILTER (WHERE c.status IN ('collected', 'filed', 'dispatched', 'handling',
                                           'escalated', 'fed_back', 'returned')
                          AND c.due_at < :now) AS overdue,
       count(*) FILTER (WHERE c.created_at >= :since AND c.created_at < :until) AS cases
  FROM cases c
  /* current_grid_joins */
 WHERE (c.status IN ('collected', 'filed', 'dispatched', 'handling', 'escalated', 'fed_back',
                     'returned', 'parked')
        OR (c.created_at >= :since AND c.created_at < :until))
   AND (CAST(:town_code AS text) IS NULL OR c.town_code = :town_code)
   AND (CAST(:grid_codes AS text[]) IS NULL
        OR coalesce(now_leaf.code, now_admin.code) = ANY(CAST(:grid_codes AS text[])))
 GROUP BY 1, 2;

-- name: new_cases
SELECT count(*) AS n
  FROM cases
 WHERE created_at >= :day_start AND created_at < :day_end
   AND (CAST(:town_code AS text) IS NULL OR town_code = :town_code);

-- name: open_cases
SELECT count(*) AS open,
       count(*) FILTER (WHERE status <> 'parked' AND due_at < :now) AS overdue
  FROM cases
 WHERE status IN ('collected', 'filed', 'dispatched', 'handling', 'escalated', 'fed_back',
                  'returned', 'parked')
   AND (CAST(:town_code AS text) IS NULL OR town_code = :town_code);

-- name: closed_and_rated
-- Closed today: checked and closed (closed, or closed and since evaluated); voided cases were
-- never handled, so they do not count. Ratings: those of the cases closed in [:since, :now)
-- (no separate evaluation time is kept, so a rating counts with its case's closing time).
-- One scan for both: neither has an index to use (closed_at is not indexed).
SELECT count(*) FILTER (WHERE status IN ('closed', 'evaluated')
                          AND closed_at >= :day_start AND closed_at < :day_end) AS closed,
       count(*) FILTER (WHERE satisfaction = 'very_satisfied' AND closed_at < :now) AS very_satisfied,
       count(*) FILTER (WHERE satisfaction = 'satisfied' AND closed_at < :now) AS satisfied,
       count(*) FILTER (WHERE satisfaction = 'basically_satisfied' AND closed_at < :now) AS basically_satisfied,
       count(*) FILTER (WHERE satisfaction = 'dissatisfied' AND closed_at < :now) AS dissatisfied
  FROM cases
 WHERE closed_at >= least(CAST(:since AS timestamptz), CAST(:day_start AS timestamptz))
   AND (CAST(:town_code AS text) IS NULL OR town_code = :town_code);

-- name: grid_cases
-- The cases of one grid (leaf or village) for the /cases?grid= page, newest first.
SELECT c.id, c.category_code, cat.name_zh, cat.name_en, c.description, c.status, c.channel,
       c.address, c.created_at, c.due_at, c.closed_at, p.name AS assignee_name,
       (c.status IN ('collected', 'filed', 'dispatched', 'handling', 'escalated', 'fed_back',
                     'returned')
        AND c.due_at < :now) AS overdue
  FROM cases c
  LEFT JOIN categories cat ON cat.code = c.category_code
  LEFT JOIN people p ON p.id = c.assignee_id
 WHERE (c.grid_code = :grid OR c.admin_code = :grid)
   AND (CAST(:open_only AS boolean) IS NOT TRUE
        OR c.status IN ('collected', 'filed', 'dispatched', 'handling', 'escalated',
                        'fed_back', 'returned', 'parked'))
   AND (CAST(:before_id AS bigint) IS NULL OR c.id < :before_id)
 ORDER BY c.id DESC
 LIMIT :limit;
