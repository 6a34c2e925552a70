"""``gridgov worker`` (the background worker) and ``gridgov supervise`` (one pass by hand)."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import click

from cases import supervision
from cases.deadlines import LOCAL_TZ
from db.cli_support import BadInput, cli_session
from db.session import database_url

# `gridgov supervise` lists the signals it issued up to this many (catching up after a long
# downtime issues thousands), then says how many more
MAX_LISTED = 100


@click.command("worker")
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 16),
              help="Jobs run at once.")
def worker_command(concurrency: int) -> None:
    """Run the background worker until stopped (Ctrl-C or SIGTERM let a running job finish).

    It runs the periodic supervision pass (every minute; GRIDGOV_SUPERVISION_CRON changes
    it), makes the coming months' partitions of cases and case_events (daily), and any job
    deferred to it. A job whose worker was killed is run again once that worker has been
    silent for GRIDGOV_WORKER_STALLED_S seconds (30). Several workers may run at once, on one
    machine or many: each periodic tick runs once.

    \b
    Example:
      gridgov worker
    """
    from jobs.app import QUEUE, make_app, supervision_cron, worker_timing

    with cli_session(write=False):  # an unreachable database or an old schema: one line, exit 2
        url = database_url()
    try:
        heartbeat_s, stalled_s = worker_timing()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = make_app(url)
    click.echo(f"worker: queue {QUEUE}, supervision pass on {supervision_cron()!r}", err=True)
    # the heartbeat and when a silent worker counts as dead: its jobs are run again
    # (jobs/app.py, gridgov.retry_stalled_jobs)
    app.run_worker(queues=[QUEUE], concurrency=concurrency, delete_jobs="successful",
                   name="gridgov-worker", update_heartbeat_interval=heartbeat_s,
                   stalled_worker_timeout=stalled_s)


def _moment(value: str | None) -> datetime:
    if value is None:
        return datetime.now(LOCAL_TZ)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"--at {value!r} is not an ISO 8601 date and time "
                       "(e.g. 2026-12-01T09:30 or 2026-12-01T09:30+08:00)") from None
    return moment.replace(tzinfo=LOCAL_TZ) if moment.tzinfo is None else moment


@click.command("supervise")
@click.option("--at", "at_text", metavar="ISO-TIME",
              help="Run as if the clock read this (local time unless it has an offset).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def supervise_command(at_text: str | None, as_json: bool) -> None:
    """Run one supervision pass now: issue every due-soon, overdue, yellow and red signal
    due by then that was not issued before, and notify. Running it twice issues nothing twice.

    \b
    Example:
      gridgov supervise --at 2026-12-01T09:30
    """
    at = _moment(at_text)
    with cli_session(write=True) as session:
        report = supervision.supervise(session, at)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        lines = report.lines()
        *signals, summary = lines
        for line in signals[:MAX_LISTED]:
            click.echo(line)
        if len(signals) > MAX_LISTED:
            click.echo(f"… and {len(signals) - MAX_LISTED} more")
        click.echo(summary)
