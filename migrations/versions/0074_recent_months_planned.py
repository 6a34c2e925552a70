"""The intake's lookups of recent cases name their months when they are planned

The intake's duplicate lookup (the function insert_case, migrations 0070, 0071) and the
reference checks' lookups of recent cases (migrations 0067, 0068, 0072) bound created_at by
the call's moment: a parameter, or ``statement_timestamp()``. Their plans are generic, made
once per connection, so the planner could not prune by those bounds: each plan covered every
month of cases (17 tables in the demo, one more each month of a town's life, each with 13
indexes), pruned only when the statement started. Planning them was dear, and it happened
often: every VACUUM or ANALYZE of a month makes every connection plan again (migration 0073).
One plan of the insert after an invalidation took 3.3–3.8 ms of a connection's time alone and
22 ms in the intake's stalls, 8 connections at once (pg_stat_statements, 2026-12-03).

Now those lookups also name the recent months as constants: ``created_at >=
gridgov_recent_from() AND created_at < ANY (ARRAY[gridgov_recent_until()])``, two functions that
each return a constant and are declared IMMUTABLE, so the planner folds them and prunes the
other months while it plans; the call's own bounds stay, and prune the window's months they do
not touch when the statement starts. The window is the previous month, this one and the next
(local months, as the partitions', migration 0060): it holds a day either side of any moment of
this month. ``gridgov_recent_months_set()`` writes the two functions anew when the month has
changed (the migration, and the background worker's daily partition job, db/partitions.py);
writing them makes every plan that folded them be made again, with the new months. The upper
bound is written as an array of one for the reason migration 0070 gives for the call's: as a
second comparison the planner would pair it with a lower bound into a narrow range and read the
day by ix_cases_created_at (seen: a plan made on a month of 20 cases did, until then it read the
box; tests/test_duplicates.py). A window the job has not moved for a month or more holds months
past; then:

- **the duplicate lookup**, a statement of its own now, before the insert, has two forms:
  within the window when the 24 h around the case lie inside it (every intake: its moment is
  now), and over every month, as before, otherwise (a stale window; a case created at a moment
  of its own, as tests do). The insert's statement then reads no table of cases, so an
  ANALYZE of a month no longer makes it planned again (it still is after one of
  case_deadlines, which it writes);
- **the reference checks** only look there first: a case they do not find within the window
  is counted across every month, as before (migration 0068).

Measured, 2026-12-04:

- planning (pg_stat_statements with track_planning, the statements reading cases or a
  reference check's rows, bench/intake_timeline.py: 300 reports/s for 60 s on a fresh demo
  database, one run after the other): 888 and 941 ms over 548 and 639 plans, against 5,282 and
  3,838 ms over 601 and 477 plans with 0073's functions (the plans of the insert were 22 ms
  each, wall time, amid a stall);
- PostgreSQL's instructions a report (bench/intake_instructions.py, one run; the counts repeat
  to 0.05 %): 3.83 M with month partitions against 3.85 M for 0072's functions in
  bench/RESULTS.md; with the window alone, without the call's bounds, 3.94 M (three months
  set up for every lookup instead of one or two);
- the intake's p99 at 300/s did not move beyond the machine's noise: on a fast machine 242 ms
  with this migration, against 242 ms before it the same hour; the stalls remain (the
  autovacuum's own work: RESULTS.md, live streams).

Revision ID: 0074
Revises: 0073
"""

import importlib
import re

from alembic import op

revision = "0074"
down_revision = "0073"
branch_labels = None
depends_on = None

_0060 = importlib.import_module("migrations.versions.0060_month_partitions")
_0062 = importlib.import_module("migrations.versions.0062_own_rows_held")
_0067 = importlib.import_module("migrations.versions.0067_recent_cases_first")
_0070 = importlib.import_module("migrations.versions.0070_insert_case_function")
_0071 = importlib.import_module("migrations.versions.0071_insert_case_by_its_index")
_0072 = importlib.import_module("migrations.versions.0072_reference_checks_without_counting")

TZ = _0060.TZ

SET_WINDOW = f"""
CREATE OR REPLACE FUNCTION gridgov_recent_months_set() RETURNS boolean LANGUAGE plpgsql AS $fn$
-- The recent months (migration 0074): from the first of the previous month to the first of
-- the month after next, local time ({TZ}), written into gridgov_recent_from() and
-- gridgov_recent_until() when they hold other months or do not exist yet. Returns whether it
-- wrote them: writing them makes every plan that folded them be made again.
DECLARE
    month date := CAST(date_trunc('month', now() AT TIME ZONE '{TZ}') AS date);
    from_at timestamptz := CAST(month - interval '1 month' AS timestamp) AT TIME ZONE '{TZ}';
    until_at timestamptz := CAST(month + interval '2 months' AS timestamp) AT TIME ZONE '{TZ}';
    bound record;
BEGIN
    IF to_regprocedure('gridgov_recent_until()') IS NOT NULL THEN
        -- (PL/pgSQL prepares this only once the functions exist)
        IF gridgov_recent_from() = from_at AND gridgov_recent_until() = until_at THEN
            RETURN false;
        END IF;
    END IF;
    FOR bound IN SELECT * FROM (VALUES ('from', from_at), ('until', until_at)) v (which, at) LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION gridgov_recent_%s() RETURNS timestamptz'
                       ' LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L', bound.which,
                       format('SELECT to_timestamp(%s)', extract(epoch FROM bound.at)));
    END LOOP;
    RETURN true;
END $fn$
"""

# --- the intake's insert -------------------------------------------------------------------

_SIGNATURE = _0071.FUNCTION[_0071.FUNCTION.index("CREATE OR REPLACE FUNCTION insert_case("):
                            _0071.FUNCTION.index("AS $fn$")]
assert "SET enable_bitmapscan = off\n" in _SIGNATURE, "0071's text changed"

_BOX = """c.geom && ST_Expand(ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326),
                                       50.5 / (111320 * cos(radians(p_lat))), 50.5 / 110574)"""

# the open cases in the box (ix_cases_open_geom), MATERIALIZED so that the 24 h tested on them
# after are not pushed down to the scan (migration 0070 says why); then the nearest of the
# category within 50 m and the 24 h. {months}: how the months are bounded.
_LOOKUP = """
        WITH near AS MATERIALIZED (
            SELECT c.id, c.geom, c.category_code, c.created_at
              FROM cases c
             WHERE """ + _BOX + """
               AND c.status NOT IN ('closed', 'evaluated', 'voided')
               {months}
        )
        SELECT n.id INTO v_duplicate
          FROM near n
         WHERE n.category_code = p_category_code
           AND n.created_at >= p_created_at - interval '24 hours'
           AND n.created_at <= p_created_at + interval '24 hours'
           AND ST_DWithin(CAST(n.geom AS geography),
                          CAST(ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326) AS geography), 50)
         ORDER BY ST_Distance(CAST(n.geom AS geography),
                              CAST(ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326) AS geography)),
                  n.id DESC
         LIMIT 1;"""


def _window(indent: str) -> str:
    """The recent months, the upper bound on a line of its own after ``indent``."""
    return ("AND c.created_at >= gridgov_recent_from()\n"
            + indent + "AND c.created_at < ANY (ARRAY[gridgov_recent_until()])")


_WINDOW = _window(" " * 15)
# 0071's bounds: the start of the 24 h prunes the months before it when the statement starts;
# the end, written as an array of one, the months after (0070 says why that form)
_DAY = ("AND c.created_at >= p_created_at - interval '24 hours'\n"
        "               AND c.created_at <= ANY (ARRAY[p_created_at + interval '24 hours'])")

_NEW_CASE = _0070.FUNCTION[_0070.FUNCTION.index("    ), new_case AS (\n") + len("    ), "):
                           _0070.FUNCTION.index("    ;\nEND\n")]
_POINT = "ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326)\n           "
for _old, _new in (("(SELECT geom FROM pt)", _POINT),
                   ("(SELECT id FROM dup)", "v_duplicate")):
    assert _NEW_CASE.count(_old) == 1, "0070's text changed"
    _NEW_CASE = _NEW_CASE.replace(_old, _new)

FUNCTION = _SIGNATURE + """AS $fn$
#variable_conflict use_column
DECLARE
    -- the probable duplicate (cases.models.DUPLICATE_RADIUS_M, DUPLICATE_WINDOW_H)
    v_duplicate bigint;
BEGIN
    -- The probable duplicate: the nearest OPEN case of the same category within 50 m and
    -- 24 h, found by the box around the point in ix_cases_open_geom (a box 50 m wide on each
    -- side, in degrees at its latitude, with 1 % to spare: 1 degree of latitude is 110,574 m
    -- at the equator, the shortest; 1 degree of longitude 111,320 m x cos(lat)); the exact
    -- distance is then measured on the spheroid for the few cases in the box. Looked up
    -- within the recent months, pruned while the statement is planned, when the 24 h lie in
    -- them (an intake: its moment is now); over every month otherwise (migration 0074).
    IF p_created_at - interval '24 hours' >= gridgov_recent_from()
       AND p_created_at + interval '24 hours' < gridgov_recent_until() THEN""" + \
    _LOOKUP.replace("{months}", _WINDOW + "\n               " + _DAY) + """
    ELSE""" + _LOOKUP.replace("{months}", _DAY) + """
    END IF;
    -- The case, its first clocks and its first event in one statement. The idempotency key
    -- is claimed by the BEFORE INSERT trigger cases_claim_key (migration 0060: a partitioned
    -- table has no unique index without the month): a concurrent request with the same key
    -- waits for the first to commit, then inserts nothing and returns no row (and so writes
    -- no event either). It reads no table of cases: an ANALYZE of a month does not make it
    -- planned again.
    RETURN QUERY
    WITH """ + _NEW_CASE + """    ;
END
$fn$
"""

# --- the reference checks ------------------------------------------------------------------

# 0068's recent days, as 0072's function writes them (three times, indented each its own way)
_RECENT = re.compile(r"c\.created_at >= statement_timestamp\(\) - interval '\{recent\}'\n"
                     r"( +)AND c\.created_at <= ANY \(ARRAY\[statement_timestamp\(\) "
                     r"\+ interval '\{recent\}'\]\)")
assert len(_RECENT.findall(_0072.EXIST)) == 3, "0072's text changed"
_PLANNED = ("-- few rows (an intake, a transition): static SQL, planned once per session; the\n"
            "        -- months other than the recent ones are pruned when the statement starts\n")
assert _0072.EXIST.count(_PLANNED) == 1, "0072's text changed"
EXIST = (_RECENT.sub(lambda m: m[0] + "\n" + m[1] + _window(m[1]), _0072.EXIST)
         .replace(_PLANNED,
                  "-- few rows (an intake, a transition): static SQL, planned once per session;\n"
                  "        -- the recent months named, pruned while it is planned (migration\n"
                  "        -- 0074), and the recent days, pruned when it starts\n")
         .replace("RETURN NULL;  -- every case named is one this transaction wrote, recently",
                  "RETURN NULL;  -- every case named is one this transaction wrote, recent")
         .replace("-- The recent months first (migrations 0067, 0068)",
                  "-- The recent months first (migrations 0067, 0068, 0074)", 1))
assert EXIST.count("gridgov_recent_until()") == 3


def _each(text: str) -> None:
    for table, column, _ in _0060.REFERENCES:
        op.execute(text.format(table=table, column=column, planned_once=_0062.PLANNED_ONCE,
                               recent=_0067.RECENT))


def upgrade() -> None:
    op.execute(SET_WINDOW)
    op.execute("SELECT gridgov_recent_months_set()")
    op.execute(FUNCTION)
    _each(EXIST)


def downgrade() -> None:
    _each(_0072.EXIST)
    op.execute(_0071.FUNCTION)
    op.execute("DROP FUNCTION gridgov_recent_months_set()")
    op.execute("DROP FUNCTION gridgov_recent_from()")
    op.execute("DROP FUNCTION gridgov_recent_until()")
