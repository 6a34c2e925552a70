-- The Open311 interface's statements (open311/repository.py), one per "-- name:" block.
-- Values are bound; {where} is filled by repository.py from its fixed set of conditions.
-- What a row carries is what open311/georeport.py request_record may publish, plus the
-- reporter's name, read only to redact it out of the closing note (as cases/board.sql).

-- name: towns
SELECT code, name FROM towns ORDER BY code;

-- name: requests
-- The page's cases first (newest reported first, ix_cases_created_at), then what each shows:
-- the names of its grid, village and town, its holder, the note of its latest closing and
-- its first photo an operator marked publishable (served by the board once it is closed).
SELECT c.id, c.town_code, c.category_code, c.status, c.address, c.created_at, c.updated_at,
       c.closed_at, c.due_at, c.lon, c.lat, c.queue, c.department_code, c.merged_into,
       c.reporter_name, grid.name AS grid_name, village.name AS village_name,
       t.name AS town_name, p.name AS assignee_name, p.title AS assignee_title,
       closing.note AS closing_note, photo.id AS photo_id
  FROM (SELECT c.*
          FROM cases c
         WHERE {where}
         ORDER BY c.created_at DESC, c.id DESC
         LIMIT :limit OFFSET :offset) c
  JOIN towns t ON t.code = c.town_code
  LEFT JOIN people p ON p.id = c.assignee_id
  -- the grid's row of today, or its last one when a publish retired the code
  LEFT JOIN LATERAL (
        SELECT g.name FROM grids g WHERE g.code = c.grid_code
         ORDER BY g.valid_to IS NULL DESC, g.valid_from DESC LIMIT 1) grid ON true
  LEFT JOIN LATERAL (
        SELECT g.name FROM grids g WHERE g.code = c.admin_code AND g.level = 'admin'
         ORDER BY g.valid_to IS NULL DESC, g.valid_from DESC LIMIT 1) village ON true
  LEFT JOIN LATERAL (
        SELECT coalesce(e.note, e.data ->> 'note', e.data ->> 'closing_note') AS note
          FROM case_events e
         WHERE e.case_id = c.id AND (e.type = 'closed' OR e.to_status = 'closed')
         ORDER BY e.at DESC, e.id DESC
         LIMIT 1) closing ON c.status IN ('closed', 'evaluated')
  LEFT JOIN LATERAL (
        SELECT ph.id FROM case_photos ph
         WHERE ph.case_id = c.id AND ph.publishable
         ORDER BY ph.id LIMIT 1) photo ON c.status IN ('closed', 'evaluated')
 ORDER BY c.created_at DESC, c.id DESC;
