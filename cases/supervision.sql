-- Statements of the supervision pass (cases/supervision.py), each after a `-- name:` line.
-- Hand-written: one statement per pass, set-based, whatever the number of open cases.

-- name: issue
-- Every signal whose moment has passed at :at, on every running, unsuspended clock, issued
-- once: an event on the case, its claim in case_event_keys, and its notifications (the
-- assignee, and the level above), in one statement, so a killed pass leaves nothing.
-- ix_case_deadlines_next finds the clocks (the earliest moment of a clock that matters); the
-- NOT EXISTS probes the claims (one index, where the events' own index is one per month) and
-- skips what earlier passes issued without attempting the claim.
-- The pass claims its signals itself, all in one INSERT (migration 0075: the trigger
-- case_events_claim_keys, one call per event, was a third of a catch-up pass), with the ids
-- its events will have, taken from their sequence in the order of case and moment; it inserts
-- the events of the claims it won. The claim settles two passes racing each other: the loser
-- waits on the winner's claims in the unique index, then claims, inserts and returns none of
-- those signals.
-- A due-soon reminder is not issued for a clock already past its due moment: 即将超期 after
-- 已超期 would tell the holder something false (a pass after downtime, or two moments between
-- two passes); the overdue signal says it. Cards are always issued: each counts in the scores.
WITH due AS (
    SELECT d.id AS deadline_id, d.case_id, d.town_code, d.clock, s.signal, s.moment
    FROM case_deadlines d
    CROSS JOIN LATERAL (VALUES ('due_soon', d.soon_at), ('overdue', d.due_at),
                               ('yellow', d.yellow_at), ('red', d.red_at)) AS s (signal, moment)
    WHERE d.met_at IS NULL AND d.suspended_at IS NULL
      AND LEAST(d.soon_at, d.yellow_at, d.due_at, d.red_at) <= :at
      AND s.moment <= :at
      AND NOT (s.signal = 'due_soon' AND d.due_at <= :at)
),
fresh AS MATERIALIZED (
    SELECT nextval('case_events_id_seq') AS event_id, o.*
    FROM (
        SELECT due.deadline_id, due.case_id, due.town_code, due.clock, due.signal, due.moment,
               c.assignee_id, c.status, c.category_code, c.lon, c.lat, c.grid_code,
               c.admin_code,
               -- the level above the case's holder: a grid's case goes to its village center,
               -- anything held higher (village, town, a department) to the town center
               CASE WHEN c.queue = 'grid' OR (c.queue IS NULL AND c.grid_code IS NOT NULL)
                    THEN 'village' ELSE 'town' END AS above_kind,
               CASE WHEN c.queue = 'grid' OR (c.queue IS NULL AND c.grid_code IS NOT NULL)
                    THEN left(coalesce(c.admin_code, c.grid_code), 12)
                    ELSE c.town_code END AS above_code
        FROM due
        JOIN cases c ON c.id = due.case_id
        WHERE c.status NOT IN ('closed', 'evaluated', 'voided')
          AND NOT EXISTS (
              SELECT 1 FROM case_event_keys k
              WHERE k.kind = 'signal' AND k.scope = due.case_id
                AND k.key = due.deadline_id::text || ':' || due.signal)
        ORDER BY due.case_id, due.moment
    ) o
),
claimed AS (
    INSERT INTO case_event_keys (kind, scope, key, event_id)
    SELECT 'signal', case_id, deadline_id::text || ':' || signal, event_id
    FROM fresh
    ON CONFLICT DO NOTHING
    RETURNING event_id
),
written AS MATERIALIZED (
    SELECT f.*
    FROM fresh f
    JOIN claimed USING (event_id)
),
issued AS (
    INSERT INTO case_events (id, case_id, town_code, at, type, actor, data)
    SELECT event_id, case_id, town_code, :at,
           CASE WHEN signal IN ('yellow', 'red') THEN 'card' ELSE 'deadline' END,
           'supervision',
           jsonb_build_object('signal', signal, 'clock', clock, 'deadline_id', deadline_id,
                              'moment', moment)
    FROM written
),
told AS (
    INSERT INTO notifications (town_code, case_id, event_id, signal, clock, person_id,
                               scope_kind, scope_code, created_at)
    SELECT w.town_code, w.case_id, w.event_id, w.signal, w.clock, r.person_id, r.scope_kind,
           r.scope_code, :at
    FROM written w
    CROSS JOIN LATERAL (VALUES (w.assignee_id, CAST(NULL AS varchar), CAST(NULL AS varchar)),
                               (CAST(NULL AS integer), w.above_kind, w.above_code))
        AS r (person_id, scope_kind, scope_code)
    WHERE r.person_id IS NOT NULL OR r.scope_code IS NOT NULL
    RETURNING id
)
SELECT w.event_id, w.case_id, w.deadline_id, w.clock, w.signal, w.moment, w.status,
       w.category_code, w.lon, w.lat, w.grid_code, w.admin_code,
       (SELECT count(*) FROM told) AS notified
FROM written w
ORDER BY w.event_id;

-- name: announce
-- The issued signals to every server's live hub (web/live.py), sent when the pass commits.
SELECT pg_notify('gridgov_cases', payload) FROM unnest(CAST(:payloads AS text[])) AS payload;
