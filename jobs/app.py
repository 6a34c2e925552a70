"""The procrastinate app on gridgov's database, and its tasks.

procrastinate keeps its jobs in tables of our database (``procrastinate_*``, created by our
migration 0012 from the pinned package's own schema, so ``gridgov db upgrade`` prepares them),
and wakes workers with LISTEN/NOTIFY: no broker, no cron. Its periodic tasks are deferred by the
running workers themselves, each tick once whatever the number of workers (a unique key per
task and tick).

Tasks:

- ``gridgov.supervision_pass``, periodic (every minute by default,
  ``GRIDGOV_SUPERVISION_CRON`` to change it: a cron line, with an optional sixth column of
  seconds): one supervision pass at the time it runs (cases/supervision.py). A pass is
  idempotent, so a tick lost while no worker ran, or a job left behind by a killed worker,
  costs nothing: the next pass issues whatever is due.
- ``gridgov.resume_parked``, periodic (every ten minutes): parked cases whose resume date has
  come are resumed (cases/resumption.py), at most 200 a run.
- ``gridgov.publish_due``, periodic (every minute by default, ``GRIDGOV_PUBLISH_CRON`` to
  change it): drafts scheduled for a time that has come are published
  (planning/publish.py ``apply_due``), each in its own transaction.
- ``gridgov.retry_stalled_jobs``, periodic (every minute by default,
  ``GRIDGOV_STALLED_CRON``): a job whose worker died under it (SIGKILL, a crash, the machine
  lost) stays ``doing`` forever, since procrastinate runs each job once. Every worker says it is
  alive every ``GRIDGOV_WORKER_HEARTBEAT_S`` seconds (10) in ``procrastinate_workers``; this task
  puts back in the queue every ``doing`` job of a worker silent for more than
  ``GRIDGOV_WORKER_STALLED_S`` (30), as procrastinate's documentation advises
  (``get_stalled_jobs``, ``retry_job``), and a worker starting prunes such workers. The job's
  own transaction died with its connection, so nothing of it was written: run again, it is
  done once. A restarted worker so picks up a killed job within a minute or so of the kill.
- ``gridgov.make_partitions``, periodic (daily at 03:17): the month partitions of cases and
  case_events for this month and the next three, when missing, and the recent months the
  intake's lookups are planned on, when the month has changed (db/partitions.py).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import procrastinate

from cases import resumption, supervision
from cases.deadlines import LOCAL_TZ
from db.partitions import make_partitions, move_recent_months
from db.session import conninfo, session_scope
from planning import publish

SUPERVISION_CRON = "* * * * *"
PUBLISH_CRON = "* * * * *"
RESUME_CRON = "*/10 * * * *"
STALLED_CRON = "* * * * *"
HEARTBEAT_S = 10.0  # procrastinate's default
STALLED_S = 30.0  # a worker silent for this long is dead (procrastinate's default)
PARTITIONS_CRON = "17 3 * * *"
QUEUE = "supervision"
log = logging.getLogger(__name__)


def supervision_cron(config: dict | None = None) -> str:
    """The supervision pass's schedule: the mapping's SUPERVISION_CRON, then
    ``GRIDGOV_SUPERVISION_CRON``, else every minute."""
    return ((config or {}).get("SUPERVISION_CRON") or os.environ.get("GRIDGOV_SUPERVISION_CRON")
            or SUPERVISION_CRON)


def publish_cron(config: dict | None = None) -> str:
    """The scheduled publishes' schedule: the mapping's PUBLISH_CRON, then
    ``GRIDGOV_PUBLISH_CRON``, else every minute (a draft takes effect within a minute of its
    time)."""
    return ((config or {}).get("PUBLISH_CRON") or os.environ.get("GRIDGOV_PUBLISH_CRON")
            or PUBLISH_CRON)


def worker_timing() -> tuple[float, float]:
    """(heartbeat, stalled) seconds: ``GRIDGOV_WORKER_HEARTBEAT_S`` and
    ``GRIDGOV_WORKER_STALLED_S``, else 10 and 30. Raises ValueError naming a bad value."""
    found = []
    for name, default in (("GRIDGOV_WORKER_HEARTBEAT_S", HEARTBEAT_S),
                          ("GRIDGOV_WORKER_STALLED_S", STALLED_S)):
        raw = os.environ.get(name)
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = -1.0
        if not value > 0:
            raise ValueError(
                f"{name} was {raw!r} but is expected to be a number of seconds above 0")
        found.append(value)
    heartbeat_s, stalled_s = found
    if stalled_s <= heartbeat_s:
        raise ValueError(
            f"GRIDGOV_WORKER_STALLED_S ({stalled_s:g}) must be longer than "
            f"GRIDGOV_WORKER_HEARTBEAT_S ({heartbeat_s:g}): else a live worker looks dead")
    return heartbeat_s, stalled_s


def make_app(database_url: str, cron: str | None = None) -> procrastinate.App:
    """The job queue on ``database_url`` (a SQLAlchemy URL) with gridgov's tasks; nothing
    connects until the app is opened (a worker, or ``app.open()`` to defer jobs)."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))

    @app.periodic(cron=cron or supervision_cron(), periodic_id="supervision")
    @app.task(name="gridgov.supervision_pass", queue=QUEUE)
    def supervision_pass(timestamp: int) -> dict:
        # the clock now, not the tick's timestamp: a late job issues what is due by now
        at = datetime.now(LOCAL_TZ)
        with session_scope(database_url) as session:
            report = supervision.supervise(session, at)
        log.info("tick %s: %s", timestamp, report.lines()[-1])
        return {"issued": len(report.issued), "notified": report.notified}

    @app.periodic(cron=RESUME_CRON, periodic_id="resume_parked")
    @app.task(name="gridgov.resume_parked", queue=QUEUE)
    def resume_parked(timestamp: int) -> dict:
        with session_scope(database_url) as session:
            done = resumption.resume_due(session, datetime.now(LOCAL_TZ))
        if done.resumed or done.failed:
            log.info("tick %s: resumed %d parked cases; %d could not be: %s", timestamp,
                     len(done.resumed), len(done.failed), done.failed)
        return {"resumed": done.resumed, "failed": {str(k): v for k, v in done.failed.items()}}

    @app.periodic(cron=publish_cron(), periodic_id="publish_due")
    @app.task(name="gridgov.publish_due", queue=QUEUE)
    def publish_due(timestamp: int) -> dict:
        done = publish.apply_due(database_url, datetime.now(LOCAL_TZ))
        for result in done:
            if result["state"] == "published":
                log.info("tick %s: draft %s published as version %s, %s open cases re-routed",
                         timestamp, result["draft"], result["version"], result["rerouted"])
            else:
                log.warning("tick %s: scheduled draft %s not published: %s", timestamp,
                            result["draft"], result.get("error"))
        return {"done": done}

    @app.periodic(cron=os.environ.get("GRIDGOV_STALLED_CRON") or STALLED_CRON,
                  periodic_id="retry_stalled_jobs")
    @app.task(name="gridgov.retry_stalled_jobs", queue=QUEUE)
    async def retry_stalled_jobs(timestamp: int) -> dict:
        _heartbeat_s, stalled_s = worker_timing()
        stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_s)
        for job in stalled:
            log.warning("tick %s: job %s (%s) was running on a worker that stopped answering: "
                        "run again", timestamp, job.id, job.task_name)
            await app.job_manager.retry_job(job)
        return {"retried": [job.id for job in stalled]}
    @app.periodic(cron=PARTITIONS_CRON, periodic_id="make_partitions")
    @app.task(name="gridgov.make_partitions", queue=QUEUE)
    def month_partitions(timestamp: int) -> dict:
        with session_scope(database_url) as session:
            made = make_partitions(session, datetime.now(LOCAL_TZ).date())
            moved = move_recent_months(session)
        if made:
            log.info("tick %s: made partitions %s", timestamp, ", ".join(made))
        if moved:
            log.info("tick %s: the recent months moved", timestamp)
        return {"made": made, "recent_months_moved": moved}

    return app
