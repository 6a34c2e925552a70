-- The statements of the scores (cases/scores.py), one per "-- name:" block; values are bound.
-- Set-based: one statement reads the window's events of the three kinds (ix_case_events_scores)
-- with their cases, whatever the number of people; the lateral lookups probe
-- ix_case_events_case (case_id, at) for the one event each needs.

-- name: facts
-- Per (person, leaf grid, village): cases handled (fed back) and handled on time, yellow and
-- red cards, ratings per level, over events in [:since, :until), in the caller's scope
-- (:scope_kind 'town' | 'villages' | 'grids' with :codes; anything else: nothing).
-- On time: the feed_back event at or before the due moment of the handle clock it met (the
-- clock row; for histories without clock rows — demo, imports — the case's due_at).
-- A card counts against the holder when it was issued (the assignee of the last event that
-- records the holder); the 不满意 card (reason dissatisfied) and a rating count for the one who
-- fed the case back (the assignee of the last feed_back event before them).
WITH scoped AS (
    SELECT e.id, e.case_id, e.at, e.type, e.assignee_id, e.data, c.grid_code, c.admin_code,
           c.due_at AS case_due_at
      FROM case_events e
      JOIN cases c ON c.id = e.case_id
     WHERE e.type IN ('feed_back', 'card', 'evaluate')
       AND e.at >= :since AND e.at < :until
       AND ((:scope_kind = 'town' AND c.town_code = ANY(CAST(:codes AS text[])))
            OR (:scope_kind = 'villages'
                AND left(coalesce(c.admin_code, c.grid_code), 12) = ANY(CAST(:codes AS text[])))
            OR (:scope_kind = 'grids' AND c.grid_code = ANY(CAST(:codes AS text[]))))
),
handled AS (
    SELECT s.assignee_id AS person_id, s.grid_code, s.admin_code, 1 AS handled,
           CASE WHEN s.at <= coalesce(d.due_at, s.case_due_at) THEN 1 ELSE 0 END AS on_time,
           0 AS yellow, 0 AS red, CAST(NULL AS text) AS rating
      FROM scoped s
      LEFT JOIN LATERAL (
            SELECT d.due_at FROM case_deadlines d
             WHERE d.case_id = s.case_id AND d.clock = 'handle' AND d.met_at = s.at
             ORDER BY d.id DESC LIMIT 1) d ON true
     WHERE s.type = 'feed_back'
),
cards AS (
    SELECT h.person_id, s.grid_code, s.admin_code, 0, 0,
           CASE WHEN s.data ->> 'signal' = 'yellow' THEN 1 ELSE 0 END,
           CASE WHEN s.data ->> 'signal' = 'red' THEN 1 ELSE 0 END, CAST(NULL AS text)
      FROM scoped s
      LEFT JOIN LATERAL (
            SELECT p.assignee_id AS person_id FROM case_events p
             WHERE p.case_id = s.case_id AND p.at <= s.at AND p.id <> s.id
               AND CASE WHEN s.data ->> 'reason' = 'dissatisfied' THEN p.type = 'feed_back'
                        ELSE p.queue IS NOT NULL END
             ORDER BY p.at DESC, p.id DESC LIMIT 1) h ON true
     WHERE s.type = 'card' AND s.data ->> 'signal' IN ('yellow', 'red')
),
ratings AS (
    SELECT h.person_id, s.grid_code, s.admin_code, 0, 0, 0, 0, s.data ->> 'to'
      FROM scoped s
      LEFT JOIN LATERAL (
            SELECT p.assignee_id AS person_id FROM case_events p
             WHERE p.case_id = s.case_id AND p.at <= s.at AND p.type = 'feed_back'
             ORDER BY p.at DESC, p.id DESC LIMIT 1) h ON true
     WHERE s.type = 'evaluate'
)
SELECT person_id, grid_code, left(coalesce(admin_code, grid_code), 12) AS village_code,
       sum(handled) AS handled, sum(on_time) AS on_time, sum(yellow) AS yellow,
       sum(red) AS red,
       count(*) FILTER (WHERE rating = 'very_satisfied') AS very_satisfied,
       count(*) FILTER (WHERE rating = 'satisfied') AS satisfied,
       count(*) FILTER (WHERE rating = 'basically_satisfied') AS basically_satisfied,
       count(*) FILTER (WHERE rating = 'dissatisfied') AS dissatisfied
  FROM (SELECT * FROM handled UNION ALL SELECT * FROM cards UNION ALL SELECT * FROM ratings) f
 GROUP BY person_id, grid_code, left(coalesce(admin_code, grid_code), 12);

-- name: people
SELECT id, name, role, title, village_code, party_member
  FROM people
 WHERE id = ANY(CAST(:ids AS integer[]));

-- name: places
-- The names of the grids and villages the facts name, and each village's secretary (网格长).
SELECT g.code, g.name, g.level,
       (SELECT min(p.name) FROM people p
         WHERE p.role = 'grid_leader' AND p.village_code = left(g.code, 12)
           AND g.level = 'admin') AS secretary
  FROM grids g
 WHERE g.valid_to IS NULL
   AND (g.code = ANY(CAST(:codes AS text[])) OR (g.level = 'admin'
        AND left(g.code, 12) = ANY(CAST(:villages AS text[]))));
