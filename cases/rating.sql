-- The statements of the rating links (cases/rating_links.py, cases/rating.py), one per
-- "-- name:" block; values are always bound. A token is looked up by its SHA-256 only.

-- name: insert_link
INSERT INTO rating_links (case_id, town_code, token_sha256, created_at, expires_at, account_id)
VALUES (:case_id, :town_code, :token_sha256, :created_at, :expires_at, :account_id)
RETURNING id, expires_at;

-- name: link_for_update
-- The link and its case, the link's row locked: of two submissions of one link, the second
-- waits for the first and then finds it used.
SELECT l.id, l.case_id, l.created_at, l.expires_at, l.used_at, l.rating
  FROM rating_links l
 WHERE l.token_sha256 = :token_sha256
   FOR UPDATE OF l;

-- name: link
SELECT l.id, l.case_id, l.created_at, l.expires_at, l.used_at, l.rating
  FROM rating_links l
 WHERE l.token_sha256 = :token_sha256;

-- name: use_link
UPDATE rating_links SET used_at = :at, rating = :rating WHERE id = :id;

-- name: case_for_rating
-- What the rating page shows: no personal data (the reporter's name only to redact the note).
SELECT c.id, c.status, c.version, c.category_code, cat.name_zh AS category_zh,
       cat.name_en AS category_en, g.name AS village_name, c.created_at, c.closed_at,
       c.satisfaction, c.evaluated_at, c.reporter_name, closing.note AS closing_note
  FROM cases c
  LEFT JOIN categories cat ON cat.code = c.category_code
  LEFT JOIN grids g ON g.code = c.admin_code AND g.level = 'admin' AND g.valid_to IS NULL
  LEFT JOIN LATERAL (
        SELECT e.note
          FROM case_events e
         WHERE e.case_id = c.id AND e.type = 'close'
         ORDER BY e.at DESC, e.id DESC
         LIMIT 1) closing ON true
 WHERE c.id = :case_id;

-- name: links_of_case
-- The case page's block: the case's links, newest first (never a token: only its hash is kept).
SELECT id, created_at, expires_at, used_at, rating, account_id
  FROM rating_links
 WHERE case_id = :case_id
 ORDER BY created_at DESC, id DESC
 LIMIT 5;

-- name: insert_reopen_card
-- The yellow card a 不满意 rating gives its reopened case: once per reopen (the trigger
-- case_events_claim_keys claims the reopen event's id, migration 0060; no row comes back when
-- the card was given).
INSERT INTO case_events (case_id, town_code, at, type, actor, data, note)
VALUES (:case_id, :town_code, :at, 'card', 'rating', CAST(:data AS jsonb), :note)
RETURNING id;

-- name: case_town
SELECT town_code FROM cases WHERE id = :case_id;

-- name: notify_reopen_card
-- Who hears of the card (as the supervision pass tells its own, cases/supervision.sql): the
-- person who handled the case, and the center that closed it (its village's, or the town's),
-- which has the reopened case back in its queue. Clock "reopen": the card is on the rating,
-- not on a deadline.
INSERT INTO notifications (town_code, case_id, event_id, signal, clock, person_id,
                           scope_kind, scope_code, created_at)
SELECT c.town_code, c.id, :event_id, 'yellow', 'reopen', r.person_id, r.scope_kind,
       r.scope_code, :at
FROM cases c
-- the reopen took the case back from its worker: who handled it is the one it sat with after
-- its last feedback (case_events.assignee_id: where the case sits after each event)
LEFT JOIN LATERAL (
    SELECT e.assignee_id FROM case_events e
     WHERE e.case_id = c.id AND e.type = 'feed_back' ORDER BY e.id DESC LIMIT 1) AS h ON true
CROSS JOIN LATERAL (VALUES
    (h.assignee_id, CAST(NULL AS varchar), CAST(NULL AS varchar)),
    (CAST(NULL AS integer),
     CASE WHEN c.closed_level = 'village' AND coalesce(c.admin_code, c.grid_code) IS NOT NULL
          THEN 'village' ELSE 'town' END,
     CASE WHEN c.closed_level = 'village' AND coalesce(c.admin_code, c.grid_code) IS NOT NULL
          THEN left(coalesce(c.admin_code, c.grid_code), 12) ELSE c.town_code END))
    AS r (person_id, scope_kind, scope_code)
WHERE c.id = :case_id AND (r.person_id IS NOT NULL OR r.scope_code IS NOT NULL)
RETURNING id;

-- name: case_for_link
SELECT id, status, town_code, reporter_phone FROM cases WHERE id = :case_id;
