-- Statements of the notification list (cases/notifications.py), each after a `-- name:` line.

-- name: for_actor
-- An account's notifications, newest first: those to its person, and those to a scope its
-- scope covers (cases/notifications.py says which). Each branch is false unless the actor has
-- that kind of scope; the planner folds the others away for the bound values.
SELECT n.id, n.case_id, n.event_id, n.signal, n.clock, n.person_id, n.scope_kind,
       n.scope_code, n.created_at, n.read_at, c.category_code, c.status,
       e.data ->> 'moment' AS moment
FROM notifications n
JOIN cases c ON c.id = n.case_id
JOIN case_events e ON e.id = n.event_id
WHERE ((CAST(:person_id AS integer) IS NOT NULL AND n.person_id = :person_id)
       OR (:kind = 'town' AND n.scope_kind IS NOT NULL AND n.town_code = :code)
       OR (:kind = 'zone' AND n.scope_kind = 'village' AND n.scope_code = ANY(CAST(:villages AS text[])))
       OR (:kind IN ('village', 'department') AND n.scope_kind = :kind AND n.scope_code = :code))
  AND (NOT :unread_only OR n.read_at IS NULL)
  AND (CAST(:before_id AS bigint) IS NULL OR n.id < :before_id)
ORDER BY n.id DESC
LIMIT :limit;

-- name: mark_read
-- Mark some of an account's notifications read (the same reach as for_actor); the ids marked.
UPDATE notifications n SET read_at = :at
WHERE n.id = ANY(CAST(:ids AS bigint[])) AND n.read_at IS NULL
  AND ((CAST(:person_id AS integer) IS NOT NULL AND n.person_id = :person_id)
       OR (:kind = 'town' AND n.scope_kind IS NOT NULL AND n.town_code = :code)
       OR (:kind = 'zone' AND n.scope_kind = 'village' AND n.scope_code = ANY(CAST(:villages AS text[])))
       OR (:kind IN ('village', 'department') AND n.scope_kind = :kind AND n.scope_code = :code))
RETURNING n.id;

-- name: unread_count
-- How many of an account's notifications are unread (the same reach as for_actor).
SELECT count(*)
FROM notifications n
WHERE n.read_at IS NULL
  AND ((CAST(:person_id AS integer) IS NOT NULL AND n.person_id = :person_id)
       OR (:kind = 'town' AND n.scope_kind IS NOT NULL AND n.town_code = :code)
       OR (:kind = 'zone' AND n.scope_kind = 'village' AND n.scope_code = ANY(CAST(:villages AS text[])))
       OR (:kind IN ('village', 'department') AND n.scope_kind = :kind AND n.scope_code = :code));
