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
