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
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import procrastinate

from cases import resumption, supervision
from cases.deadlines import LOCAL_TZ
from db.session import conninfo, session_scope

SUPERVISION_CRON = "* * * * *"
RESUME_CRON = "*/10 * * * *"
QUEUE = "supervision"
log = logging.getLogger(__name__)


def supervision_cron(config: dict | None = None) -> str:
    """The supervision pass's schedule: the mapping's SUPERVISION_CRON, then
    ``GRIDGOV_SUPERVISION_CRON``, else every minute."""
    return ((config or {}).get("SUPERVISION_CRON") or os.environ.get("GRIDGOV_SUPERVISION_CRON")
            or SUPERVISION_CRON)


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

    return app
