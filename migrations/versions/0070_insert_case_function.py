"""The intake's insert as a function run on its generic plan, without a pipeline

The intake's statement (the case, its first clocks and its created event, with the probable
duplicate found in the same statement) ran prepared by psycopg, and PostgreSQL's plan cache
planned it again for every execution when a custom plan looked cheaper than the generic one. In
a province of 1,000 towns and 10M cases it did so on every call: 6.6 ms of planning for 3.1 ms
of execution (pg_stat_statements, 2026-12-02). So the generic plan was forced, for that
statement alone, by a ``set_config`` sent before it in psycopg's pipeline (and put back after it
inside a transaction). That cost the server's Python about 120 µs of CPU a report (a
single-threaded loop: 390 against 271 µs for the insert alone), and in the pipeline each of its
statements is sent by psycopg's ``PQflush``, which its C implementation calls holding the GIL:
py-spy (--gil, 20 s at 250 reports/s) found 11.6 % of a worker's GIL-held samples there, where a
statement sent outside a pipeline is written inside ``PQsendQueryPrepared``, without the GIL.

Now the statement is the body of ``insert_case``, a PL/pgSQL function declared with ``SET
plan_cache_mode = force_generic_plan``: PostgreSQL sets it while the function runs and puts the
caller's value back when it returns, and PL/pgSQL plans its statement once per connection and
keeps that plan. The caller sends one statement (cases/queries.sql ``insert_case``, prepared by
psycopg as any other) and nothing else. ``#variable_conflict use_column``: the result columns
(``id``, ``probable_duplicate_of``) are also the names of columns the statement reads.

The statement itself is unchanged; a change to it is a new migration replacing the function.

Revision ID: 0070
Revises: 0069
"""

from alembic import op

revision = "0070"
down_revision = "0069"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION insert_case(
    p_town_code text, p_category_code text, p_description text, p_status text,
    p_channel text, p_address text, p_grid_code text, p_admin_code text,
    p_assignee_id integer, p_reporter_name text, p_reporter_phone text,
    p_occurred_at timestamptz, p_created_at timestamptz, p_due_at timestamptz,
    p_dispatch_due_at timestamptz, p_lon float8, p_lat float8, p_input_crs text,
    p_geocode_precision text, p_geocode_score float8, p_geocode_match text, p_queue text,
    p_on_boundary boolean, p_grid_version integer, p_routing_reason text,
    p_assignment_reason text, p_idempotency_key text, p_request_hash text,
    p_routed_town text, p_boundary_version integer, p_actor text, p_event_data jsonb,
    p_clock_names text[], p_clock_started timestamptz[], p_clock_due timestamptz[],
    p_clock_soon timestamptz[], p_clock_yellow timestamptz[], p_clock_red timestamptz[],
    p_clock_units text[])
RETURNS TABLE (id bigint, probable_duplicate_of bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
BEGIN
    -- The case, its first clocks and its first event in one statement. The idempotency key
    -- is claimed by the BEFORE INSERT trigger cases_claim_key (migration 0060: a partitioned
    -- table has no unique index without the month): a concurrent request with the same key
    -- waits for the first to commit, then inserts nothing and returns no row (and so writes
    -- no event either).
    --
    -- dup: the probable duplicate (cases.models.DUPLICATE_RADIUS_M, DUPLICATE_WINDOW_H): the
    -- nearest OPEN case of the same category within 50 m and 24 h. The box test (&&) is what
    -- ix_cases_open_geom answers (the open predicate written as the index writes it): a box
    -- around the point 50 m wide on each side, in degrees at its latitude, with 1 % to spare
    -- (1 degree of latitude is 110,574 m at the equator, the shortest; 1 degree of longitude
    -- 111,320 m x cos(lat)); the exact distance is then measured on the spheroid for the few
    -- cases in the box.
    RETURN QUERY
    WITH pt AS (
        SELECT ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326) AS geom
    ), near AS MATERIALIZED (
        -- the open cases in the box, by ix_cases_open_geom alone. MATERIALIZED keeps the planner
        -- from ANDing in ix_cases_created_at for the 24 h: that range holds every case of the day,
        -- and under a steady 300 reports/s each insert read a growing day's worth of entries
        -- (measured 2026-11-30: the intake's p99 at 300/s was 27 ms with the AND, 10 ms without).
        -- The start of the 24 h is named here, on the partition key: the months before it are
        -- pruned (EXPLAIN ANALYZE on 1M cases in 18 months, 2026-12-01: 0.42 against 0.64 ms
        -- with every month read). Only the start: the statement runs on a generic plan (forced:
        -- the function's SET plan_cache_mode) that cannot see the values, and a BETWEEN there
        -- is costed as a narrow range (0.5 % of the rows), narrow enough that the plan
        -- ANDed the day's created_at entries in again —
        -- 62,670 of them read per insert after a few minutes at 300/s, 2.8 of its 3.1 ms
        -- (auto_explain, 2026-12-01). A lone lower bound is costed as a third of the rows, which
        -- no plan reads through an index. The end of the 24 h is written as a comparison with
        -- an array of one, which the planner does not pair with the start into a range: it
        -- prunes the empty months made ahead and the DEFAULT partition (a case imported with its
        -- own, earlier created_at is not the duplicate of one reported since). Without it each
        -- insert set up scans of those four tables too (counted in instructions:
        -- bench/intake_instructions.py, migration 0068's heading).
        -- tests/test_duplicates.py checks the plan it runs on: generic, one or two months read,
        -- the box by ix_cases_open_geom, ix_cases_created_at not used.
        SELECT c.id, c.geom, c.category_code, c.created_at
          FROM cases c, pt
         WHERE c.geom && ST_Expand(pt.geom, 50.5 / (111320 * cos(radians(CAST(p_lat AS float8)))),
                                   50.5 / 110574)
           AND c.status NOT IN ('closed', 'evaluated', 'voided')
           AND c.created_at >= CAST(p_created_at AS timestamptz) - interval '24 hours'
           AND c.created_at <= ANY (ARRAY[CAST(p_created_at AS timestamptz) + interval '24 hours'])
    ), dup AS (
        SELECT n.id
          FROM near n, pt
         WHERE n.category_code = p_category_code
           AND ST_DWithin(CAST(n.geom AS geography), CAST(pt.geom AS geography), 50)
         ORDER BY ST_Distance(CAST(n.geom AS geography), CAST(pt.geom AS geography)), n.id DESC
         LIMIT 1
    ), new_case AS (
        INSERT INTO cases (
            town_code, category_code, description, status, channel, address, grid_code,
            admin_code, assignee_id, reporter_name, reporter_phone, occurred_at, created_at,
            updated_at, due_at, dispatch_due_at, geom, input_crs, geocode_precision,
            geocode_score, geocode_match, queue, on_boundary, grid_version, routing_reason,
            assignment_reason, idempotency_key, request_hash, probable_duplicate_of)
        SELECT
            p_town_code, p_category_code, p_description, p_status, p_channel, p_address,
            p_grid_code, p_admin_code, p_assignee_id, p_reporter_name, p_reporter_phone,
            p_occurred_at, p_created_at, p_created_at, p_due_at, p_dispatch_due_at,
            (SELECT geom FROM pt), p_input_crs, p_geocode_precision, p_geocode_score,
            p_geocode_match, p_queue, p_on_boundary, p_grid_version, p_routing_reason,
            p_assignment_reason, p_idempotency_key, p_request_hash, (SELECT id FROM dup)
        -- routed on the town's boundary version p_boundary_version: when a publish has
        -- committed a newer one since (planning/publish.py), insert nothing and the intake
        -- routes again. A publish holds cases locked while it switches versions, so this
        -- statement's snapshot, taken after that lock, sees the new version whenever it missed
        -- the publish's re-routing.
        WHERE NOT EXISTS (SELECT 1 FROM boundary_versions v
                           WHERE v.town_code = CAST(p_routed_town AS text)
                             AND v.number > CAST(p_boundary_version AS integer))
        RETURNING id, town_code, status, created_at, queue, assignee_id, probable_duplicate_of
    ), clock AS (
        -- the case's first clocks (computed by cases/clocks.py, one array element per clock)
        INSERT INTO case_deadlines (case_id, town_code, clock, started_at, due_at, soon_at,
                                    yellow_at, red_at, unit)
        SELECT n.id, n.town_code, k.clock, k.started_at, k.due_at, k.soon_at, k.yellow_at,
               k.red_at, k.unit
          FROM new_case n,
               unnest(CAST(p_clock_names AS text[]), CAST(p_clock_started AS timestamptz[]),
                      CAST(p_clock_due AS timestamptz[]), CAST(p_clock_soon AS timestamptz[]),
                      CAST(p_clock_yellow AS timestamptz[]), CAST(p_clock_red AS timestamptz[]),
                      CAST(p_clock_units AS text[]))
                 AS k(clock, started_at, due_at, soon_at, yellow_at, red_at, unit)
    ), event AS (
        INSERT INTO case_events (case_id, town_code, at, type, from_status, to_status, actor, data,
                                 queue, assignee_id)
        SELECT id, town_code, created_at, 'created', NULL, status, p_actor,
               CASE WHEN probable_duplicate_of IS NULL THEN CAST(p_event_data AS jsonb)
                    ELSE CAST(p_event_data AS jsonb)
                         || jsonb_build_object('probable_duplicate_of', probable_duplicate_of) END,
               queue, assignee_id
          FROM new_case
        RETURNING case_id
    )
    SELECT n.id, n.probable_duplicate_of FROM new_case n JOIN event e ON e.case_id = n.id
    ;
END
$fn$
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION insert_case")
