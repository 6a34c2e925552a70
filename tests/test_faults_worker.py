"""The background worker (``gridgov worker``) killed with SIGKILL in the middle of a job, then
started again (issue 13, item 5; README, "Faults"): nothing of the job is written (its
transaction dies with its connection), the job stays ``doing`` — procrastinate runs each job
once — until the restarted worker finds its worker silent and runs it again
(jobs/app.py, ``gridgov.retry_stalled_jobs``): done once.

The job is a scheduled publish (``gridgov.publish_due``): a new boundary version, the grids
switched, open cases re-routed, all in one transaction. It is held mid-way by the test, not by
a sleep in the code: a transaction of the test writing cases makes the publish wait for its
lock on ``cases`` (planning/publish.sql ``lock_cases``) after it has reserved its version
number and re-routed the first pass.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta

import psycopg
import pytest
from shapely.geometry import mapping

from cases.deadlines import LOCAL_TZ
from db.session import conninfo, session_scope
from jobs.app import make_app
from tests.boundary_data import frame, import_all, rect_m, staff_all
from tests.fault_support import kill, query
from tests.waits import HANG_S, wait_for

A, B = "140525108200001", "140525108200002"
VILLAGE = "140525108200"
NEVER = "0 0 1 1 *"  # the periodic ticks of these tasks stay out of the way: the test defers
# the worker says it is alive every second, and is dead after three of silence; its stalled
# jobs are looked for every second
QUICK = {"GRIDGOV_WORKER_HEARTBEAT_S": "1", "GRIDGOV_WORKER_STALLED_S": "3",
         "GRIDGOV_STALLED_CRON": "* * * * * *", "GRIDGOV_PUBLISH_CRON": NEVER,
         "GRIDGOV_SUPERVISION_CRON": NEVER}


def _lonlat(*xy) -> dict:
    return mapping(frame([{"code": "x", "geometry": rect_m(*xy)}]).geometry.iloc[0])


def _scheduled_draft(url: str) -> int:
    """A draft widening grid A by 20 m into B, scheduled for a moment that has now passed."""
    from planning.drafts import create_draft, put_grid
    from planning.publish import publish_draft

    with session_scope(url) as session:
        draft = create_draft(session, "planner", VILLAGE)["id"]
        put_grid(session, draft, A, 1, {"geometry": _lonlat(0, 0, 520, 1000)}, "planner")
        put_grid(session, draft, B, 2, {"geometry": _lonlat(520, 0, 1000, 1000)}, "planner")
        effective_at = datetime.now(LOCAL_TZ) + timedelta(seconds=1)
        assert publish_draft(session, draft, 3, "planner", effective_at)["state"] == "scheduled"
    wait_for(lambda: datetime.now(LOCAL_TZ) > effective_at, "the draft's moment")
    return draft


def _job_status(url: str, job: int) -> list:
    return query(url, "SELECT status FROM procrastinate_jobs WHERE id = %s", (job,))


def _state(url: str) -> list:
    return (query(url, "SELECT id, code, version, valid_from, valid_to FROM grids ORDER BY id")
            + query(url, "SELECT number, effective_at FROM boundary_versions ORDER BY number")
            + query(url, "SELECT id, grid_code, assignee_id FROM cases ORDER BY id"))


def test_a_worker_killed_mid_job_writes_nothing_and_its_restart_does_the_job_once(
        empty_db_url, cli, tmp_path, gridgov_worker):
    url = empty_db_url
    import_all(cli, url, tmp_path)
    staff_all(url)
    draft = _scheduled_draft(url)
    before = _state(url)
    versions = query(url, "SELECT count(*) FROM boundary_versions")[0][0]
    # a transaction writing cases holds the publish at its lock on cases
    holder = psycopg.connect(conninfo(url))
    holder.execute("LOCK TABLE cases IN ROW EXCLUSIVE MODE")
    jobs = make_app(url)
    with jobs.open():
        job = jobs.configure_task("gridgov.publish_due").defer(timestamp=int(time.time()))
    worker = gridgov_worker(url, env=QUICK)
    try:
        with psycopg.connect(conninfo(url), autocommit=True) as watch:
            def publishing() -> int | None:
                row = watch.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%%LOCK TABLE cases IN SHARE%%'").fetchone()
                return row[0] if row else None

            wait_for(lambda: publishing() is not None,
                     "the publish job waiting for its lock on cases")
            backend = publishing()
            assert _job_status(url, job) == [("doing",)]
            kill(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait(timeout=HANG_S)
            holder.rollback()
            # the job's backend gets its lock, finds its client gone, and rolls back
            wait_for(lambda: watch.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                           (backend,)).fetchone()[0] == 0,
                     "the killed job's connection gone")
    finally:
        holder.close()

    # nothing half-written: the old version in force, the draft still scheduled, the job stuck
    assert _state(url) == before
    assert query(url, "SELECT state FROM drafts WHERE id = %s", (draft,)) == [("scheduled",)]
    assert _job_status(url, job) == [("doing",)]

    again = gridgov_worker(url, env=QUICK)
    wait_for(lambda: query(url, "SELECT state FROM drafts WHERE id = %s", (draft,))
             == [("published",)], "the draft published by the job run again")
    # done once: one new version; the job itself succeeded (and was deleted, as every
    # successful job is) rather than a new one doing its work
    wait_for(lambda: _job_status(url, job) == [], "the job finished")
    assert query(url, "SELECT count(*) FROM boundary_versions") == [(versions + 1,)]
    assert f"job {job} (gridgov.publish_due) was running on a worker that stopped answering" \
        in again.log_tail(10**6)
    assert query(url, "SELECT count(*) FROM procrastinate_jobs "
                      "WHERE task_name = 'gridgov.publish_due'") == [(0,)]


@pytest.mark.parametrize("env, message", [
    ({"GRIDGOV_WORKER_STALLED_S": "soon"},
     "GRIDGOV_WORKER_STALLED_S was 'soon' but is expected to be a number of seconds above 0"),
    ({"GRIDGOV_WORKER_HEARTBEAT_S": "0"}, "GRIDGOV_WORKER_HEARTBEAT_S was '0' but is expected"),
    ({"GRIDGOV_WORKER_HEARTBEAT_S": "30", "GRIDGOV_WORKER_STALLED_S": "10"},
     "GRIDGOV_WORKER_STALLED_S (10) must be longer than GRIDGOV_WORKER_HEARTBEAT_S (30)"),
])
def test_the_worker_refuses_timings_that_would_lose_or_rerun_jobs(empty_db_url, env, message):
    from click.testing import CliRunner

    from web.cli import main

    result = CliRunner().invoke(main, ["worker"], env={"GRIDGOV_DATABASE_URL": empty_db_url, **env})
    assert result.exit_code == 1 and message in result.output, result.output
