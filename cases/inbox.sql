-- The statement of cases/inbox.py: a grid worker's open cases with what the phone shows and
-- what the workflow needs to list the actions (cases/transitions.py allowed_actions takes the
-- row itself, so there is no query per case). One statement; `{mine}` is one of the
-- predicates below, chosen by the account's role from inbox.py's allow-list (never text from
-- a request). Values are bound.
--
-- distance_m and bearing_deg are geodesic, on the WGS 84 spheroid (geography: PostGIS solves
-- the inverse geodesic problem, as pyproj.Geod does), from the phone's position to the case.
-- clocks: the case's running, unsuspended clocks (uq_case_deadlines_running), whether a
-- moment of each kind has passed at :at; card_rank: the worst card issued on the case so far
-- (the supervision pass's, a 不满意 rating's), 2 red, 1 yellow.

-- name: inbox
WITH pt AS (
    SELECT CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                ELSE CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) END AS g
)
SELECT c.id, c.town_code, c.category_code, c.grid_code, c.admin_code, c.status, c.version,
       c.queue, c.assignee_id, c.department_code, c.sender_level, c.closed_level, c.closed_by,
       c.closed_at, c.parked_from, c.resume_on, c.extension_days, c.satisfaction,
       c.evaluated_at, c.merged_into, c.due_at, c.description, c.address, c.lon, c.lat,
       c.created_at, cat.name_zh AS category_name_zh,
       ST_Distance(pt.g, CAST(c.geom AS geography)) AS distance_m,
       degrees(ST_Azimuth(pt.g, CAST(c.geom AS geography))) AS bearing_deg,
       coalesce(k.overdue, false) AS overdue, coalesce(k.soon, false) AS soon,
       coalesce(k.red, false) AS red_due, coalesce(k.yellow, false) AS yellow_due,
       coalesce(ev.card_rank, 0) AS card_rank
  FROM cases c
 CROSS JOIN pt
  LEFT JOIN categories cat ON cat.code = c.category_code
  LEFT JOIN LATERAL (
        SELECT bool_or(d.due_at <= :at) AS overdue, bool_or(d.soon_at <= :at) AS soon,
               bool_or(d.red_at <= :at) AS red, bool_or(d.yellow_at <= :at) AS yellow
          FROM case_deadlines d
         WHERE d.case_id = c.id AND d.met_at IS NULL AND d.suspended_at IS NULL) k ON true
  LEFT JOIN LATERAL (
        SELECT max(CASE e.data ->> 'signal' WHEN 'red' THEN 2 WHEN 'yellow' THEN 1 ELSE 0 END)
               AS card_rank
          FROM case_events e
         WHERE e.case_id = c.id AND e.type = 'card') ev ON true
 WHERE c.status NOT IN ('closed', 'evaluated', 'voided')
   AND {mine}
 ORDER BY ST_Distance(pt.g, CAST(c.geom AS geography)) NULLS LAST, c.due_at NULLS LAST, c.id;

-- name: mine_assigned
-- a grid worker: the cases assigned to its person (ix_cases_open_assignee), in its grids
c.assignee_id = :person_id AND c.grid_code = ANY(CAST(:grid_codes AS text[]))

-- name: mine_grids
-- an auxiliary: the cases held by a person of its grids (it helps their grid workers)
c.queue = 'grid' AND c.grid_code = ANY(CAST(:grid_codes AS text[]))

-- name: mine_villages
-- a grid leader: its village's cases (ix_cases_admin_code: a village's administrative grid is
-- its 12 digits and 000)
c.admin_code = ANY(CAST(:admin_codes AS text[]))
