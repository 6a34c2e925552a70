-- The statements of feeds/repository.py, one per "-- name:" block; values are always bound.

-- name: feed_by_name
SELECT id, name, secret, mapping FROM feeds WHERE name = :name;

-- name: insert_feed
INSERT INTO feeds (name, secret, mapping)
VALUES (:name, :secret, CAST(:mapping AS jsonb))
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: replace_feed
UPDATE feeds SET secret = :secret, mapping = CAST(:mapping AS jsonb), updated_at = now()
 WHERE name = :name
RETURNING id;

-- name: list_feeds
SELECT f.name, f.mapping, f.created_at,
       (SELECT count(*) FROM feed_events e WHERE e.feed_id = f.id) AS events,
       (SELECT count(DISTINCT e.case_id) FROM feed_events e WHERE e.feed_id = f.id) AS cases,
       (SELECT max(e.received_at) FROM feed_events e WHERE e.feed_id = f.id) AS last_event_at,
       (SELECT count(*) FROM feed_rejects r WHERE r.feed_name = f.name) AS rejected
  FROM feeds f
 ORDER BY f.name;

-- name: claim_event
-- The feed's own event id, claimed first: a concurrent copy of the same event (a retry, an
-- MQTT redelivery) waits here for this transaction and then inserts nothing; the caller
-- answers it with the first one's row (event_by_external_id).
INSERT INTO feed_events (feed_id, external_id, via, received_at, occurred_at, sensor_type,
                         sensor_id, value, lon, lat, request_hash, status)
VALUES (:feed_id, :external_id, :via, :received_at, :occurred_at, :sensor_type, :sensor_id,
        :value, :lon, :lat, :request_hash, 'normal')
ON CONFLICT (feed_id, external_id) DO NOTHING
RETURNING id;

-- name: settle_event
UPDATE feed_events SET status = :status, case_id = :case_id, town_code = :town_code
 WHERE id = :id;

-- name: event_by_external_id
SELECT id, external_id, status, case_id, request_hash, received_at
  FROM feed_events
 WHERE feed_id = :feed_id AND external_id = :external_id;

-- name: serialise_sensor
-- Two alarms of one sensor at once must not both find no open case and open two: they take
-- this lock in turn (until commit), so the second sees the first's case.
SELECT pg_advisory_xact_lock(hashtext(:key));

-- name: open_duplicate
-- The closed-loop issue's rule (function insert_case, migration 0070, `dup`): the nearest OPEN case
-- of the same category within 50 m and 24 h, found through ix_cases_open_geom's box first.
WITH pt AS (
    SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom
), near AS MATERIALIZED (
    SELECT c.id, c.geom, c.category_code, c.created_at
      FROM cases c, pt
     WHERE c.geom && ST_Expand(pt.geom, 50.5 / (111320 * cos(radians(CAST(:lat AS float8)))),
                               50.5 / 110574)
       AND c.status NOT IN ('closed', 'evaluated', 'voided')
)
SELECT n.id
  FROM near n, pt
 WHERE n.category_code = :category_code
   AND n.created_at BETWEEN CAST(:at AS timestamptz) - interval '24 hours'
                        AND CAST(:at AS timestamptz) + interval '24 hours'
   AND ST_DWithin(CAST(n.geom AS geography), CAST(pt.geom AS geography), 50)
 ORDER BY ST_Distance(CAST(n.geom AS geography), CAST(pt.geom AS geography)), n.id
 LIMIT 1;

-- name: add_supporter
-- One more report of the same matter ("+N"). The case's version is left alone: it counts
-- the workflow's changes, and a sensor repeating every minute must not make a worker's queued
-- action stale (cases/transition_keys.py).
UPDATE cases SET supporters = supporters + 1
 WHERE id = :id AND status NOT IN ('closed', 'evaluated', 'voided')
RETURNING id;

-- name: insert_reject
INSERT INTO feed_rejects (feed_name, topic, received_at, error, message, payload)
VALUES (:feed_name, :topic, :received_at, :error, :message, :payload);

-- The batch path (feeds/batch.py): the statements above for many events at once, one round
-- trip each. Lists are bound as arrays and read back with unnest, in step.

-- name: feeds_by_name
SELECT id, name, secret, mapping FROM feeds WHERE name = ANY(CAST(:names AS text[]));

-- name: claim_events
-- claim_event for a batch, its status and town already known (a normal reading is settled
-- here; an alarm is settled by settle_events once it has its case). The ids claimed come
-- back; an id not returned was claimed before (events_by_external_id tells by whom).
INSERT INTO feed_events (feed_id, external_id, via, received_at, occurred_at, sensor_type,
                         sensor_id, value, lon, lat, request_hash, status, town_code)
SELECT u.feed_id, u.external_id, :via, :received_at, u.occurred_at, u.sensor_type, u.sensor_id,
       u.value, u.lon, u.lat, u.request_hash, 'normal', u.town_code
  FROM unnest(CAST(:feed_id AS int[]), CAST(:external_id AS text[]),
              CAST(:occurred_at AS timestamptz[]), CAST(:sensor_type AS text[]),
              CAST(:sensor_id AS text[]), CAST(:value AS float8[]), CAST(:lon AS float8[]),
              CAST(:lat AS float8[]), CAST(:request_hash AS text[]), CAST(:town_code AS text[]))
       AS u(feed_id, external_id, occurred_at, sensor_type, sensor_id, value, lon, lat,
            request_hash, town_code)
ON CONFLICT (feed_id, external_id) DO NOTHING
RETURNING id, feed_id, external_id;

-- name: events_by_external_id
SELECT e.feed_id, e.external_id, e.status, e.case_id, e.request_hash
  FROM feed_events e
  JOIN unnest(CAST(:feed_id AS int[]), CAST(:external_id AS text[])) AS k(feed_id, external_id)
    ON e.feed_id = k.feed_id AND e.external_id = k.external_id;

-- name: serialise_sensors
-- serialise_sensor for every sensor of a batch, taken in the order given (sorted by the
-- caller): two batches at once wait for each other instead of deadlocking.
SELECT count(pg_advisory_xact_lock(hashtext(k.key)))
  FROM (SELECT key FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS u(key, n)
         ORDER BY n) AS k;

-- name: open_duplicates
-- open_duplicate (above) for many points at once: for the point at place i of the lists
-- (from 1), the nearest open case of its category within 50 m and 24 h, or none.
WITH k AS (
    SELECT u.i, u.lat, u.category_code, ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326) AS geom
      FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[]), CAST(:category_code AS text[]))
           WITH ORDINALITY AS u(lon, lat, category_code, i)
)
SELECT k.i, d.id
  FROM k
  LEFT JOIN LATERAL (
    SELECT c.id
      FROM cases c
     WHERE c.geom && ST_Expand(k.geom, 50.5 / (111320 * cos(radians(k.lat))), 50.5 / 110574)
       AND c.status NOT IN ('closed', 'evaluated', 'voided')
       AND c.category_code = k.category_code
       AND c.created_at BETWEEN CAST(:at AS timestamptz) - interval '24 hours'
                            AND CAST(:at AS timestamptz) + interval '24 hours'
       AND ST_DWithin(CAST(c.geom AS geography), CAST(k.geom AS geography), 50)
     ORDER BY ST_Distance(CAST(c.geom AS geography), CAST(k.geom AS geography)), c.id
     LIMIT 1
  ) AS d ON true
 ORDER BY k.i;

-- name: add_supporters
-- add_supporter, n more reports at once on each case (ids distinct); the ids returned are
-- the cases still open.
UPDATE cases c SET supporters = c.supporters + k.n
  FROM unnest(CAST(:ids AS bigint[]), CAST(:ns AS int[])) AS k(id, n)
 WHERE c.id = k.id AND c.status NOT IN ('closed', 'evaluated', 'voided')
RETURNING c.id;

-- name: settle_events
UPDATE feed_events e SET status = k.status, case_id = k.case_id
  FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:case_ids AS bigint[]))
       AS k(id, status, case_id)
 WHERE e.id = k.id;

-- name: insert_rejects
INSERT INTO feed_rejects (feed_name, topic, received_at, error, message, payload)
SELECT u.feed_name, u.topic, :received_at, u.error, u.message, u.payload
  FROM unnest(CAST(:feed_name AS text[]), CAST(:topic AS text[]), CAST(:error AS text[]),
              CAST(:message AS text[]), CAST(:payload AS bytea[]))
       AS u(feed_name, topic, error, message, payload);
