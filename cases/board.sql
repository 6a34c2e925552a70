-- The public board's statements (cases/board.py), one per "-- name:" block. Values are bound;
-- {where} is filled by board.py from a fixed set of conditions; the town is always one. Closed cases
-- are 'closed' and 'evaluated' (a voided case was never handled: nothing to publish). A town's
-- window is read from ix_cases_board (town_code, closed_at, id), whose predicate is the state
-- list below word for word (migration 0063).

-- name: count
SELECT count(*) AS n
  FROM cases c
  JOIN categories cat ON cat.code = c.category_code
 WHERE c.status IN ('closed', 'evaluated')
   AND c.town_code = :town AND c.closed_at >= :since AND c.closed_at < :until
   AND {where};

-- name: page
-- The page's cases first (newest closed first), then their village names and closing notes,
-- so the closing event is looked up for this page's rows only.
SELECT c.id, c.category_code, cat.name_zh AS category_zh, cat.name_en AS category_en,
       c.admin_code, g.name AS village_name, c.address, c.created_at, c.closed_at,
       c.satisfaction, c.supporters, c.reporter_name, c.reporter_phone, c.lon, c.lat,
       closing.note AS closing_note
  FROM (SELECT c.*
          FROM cases c
          JOIN categories cat ON cat.code = c.category_code
         WHERE c.status IN ('closed', 'evaluated')
           AND c.town_code = :town AND c.closed_at >= :since AND c.closed_at < :until
           AND {where}
         ORDER BY c.closed_at DESC, c.id DESC
         LIMIT :limit OFFSET :offset) c
  JOIN categories cat ON cat.code = c.category_code
  LEFT JOIN grids g ON g.code = c.admin_code AND g.level = 'admin' AND g.valid_to IS NULL
  -- what was done: the note of the case's latest closing event (a transition to closed)
  LEFT JOIN LATERAL (
        SELECT coalesce(e.data ->> 'note', e.data ->> 'closing_note') AS note
          FROM case_events e
         WHERE e.case_id = c.id AND (e.type = 'closed' OR e.to_status = 'closed')
         ORDER BY e.at DESC, e.id DESC
         LIMIT 1) closing ON true
 ORDER BY c.closed_at DESC, c.id DESC;

-- name: publishable_photos
SELECT id, case_id
  FROM case_photos
 WHERE case_id = ANY(:ids) AND publishable
 ORDER BY case_id, id;

-- name: public_photo
-- A photo the board may serve: marked publishable, of a case that is closed.
SELECT p.content_type, p.data
  FROM case_photos p
  JOIN cases c ON c.id = p.case_id
 WHERE p.id = :id AND p.publishable AND c.status IN ('closed', 'evaluated');

-- name: villages
-- The town's villages (administrative grids) of the board's filter, by name
-- (ix_grids_current_town).
SELECT code, name
  FROM grids
 WHERE town_code = :town AND level = 'admin' AND valid_to IS NULL
 ORDER BY name, code;
