"""``gridgov db``: the managed local PostGIS cluster and schema migrations."""

from __future__ import annotations

import json
import os

import click
from sqlalchemy.engine import make_url

from db import migrate
from db.cluster import ClusterError
from db.session import (
    conninfo, database_url, engine_for, managed_cluster, managed_pgbouncer, managed_standby, setting_on,
)


def _external() -> str | None:
    return os.environ.get("GRIDGOV_DATABASE_URL")


@click.group("db")
def db_group() -> None:
    """The database: start/stop the managed PostGIS cluster, migrate the schema.

    \b
    Example:
      gridgov db start && gridgov db upgrade && gridgov db url
    """


@db_group.command("start")
@click.option("--replica", is_flag=True,
              help="Also a hot standby of it in var/pg-replica (streaming replication); "
                   "GRIDGOV_REPLICA=on does the same.")
@click.option("--pgbouncer", is_flag=True,
              help="Also PgBouncer in transaction mode in front of it, config in var/pgbouncer; "
                   "GRIDGOV_PGBOUNCER=on does the same.")
def start(replica: bool, pgbouncer: bool) -> None:
    """Start the managed cluster in var/pg (a no-op when running or with GRIDGOV_DATABASE_URL),
    and its standby and PgBouncer when asked for; whatever runs already is left as it is.

    \b
    Examples:
      gridgov db start
      gridgov db start --replica --pgbouncer
    """
    if _external():
        click.echo("GRIDGOV_DATABASE_URL is set: using that database, nothing to start")
        return
    cluster = managed_cluster()
    try:
        started = cluster.start()
        shown = make_url(cluster.url()).render_as_string(hide_password=True)
        click.echo(("started" if started else "already running") + f": {shown} (`gridgov db url` shows the password)")
        if cluster.in_recovery():
            click.echo("recovering: read-only until the recovery ends (see postgres.log)")
        if replica or setting_on("REPLICA"):
            standby = managed_standby()
            started = standby.start()
            shown = make_url(standby.url()).render_as_string(hide_password=True)
            click.echo(("replica started" if started else "replica already running") + f": {shown}")
        bouncer = managed_pgbouncer()
        # a running one too: it must learn the app role's password as the cluster now keeps it
        if pgbouncer or setting_on("PGBOUNCER") or bouncer.running():
            started = bouncer.start()
            shown = make_url(bouncer.url()).render_as_string(hide_password=True)
            click.echo(("pgbouncer started" if started else "pgbouncer already running") + f": {shown}")
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from exc


@db_group.command("stop")
def stop() -> None:
    """Stop the managed cluster, and its standby and PgBouncer when they run.

    \b
    Example:
      gridgov db stop
    """
    if _external():
        click.echo("GRIDGOV_DATABASE_URL is set: gridgov does not manage that server")
        return
    if managed_pgbouncer().stop():
        click.echo("pgbouncer stopped")
    if managed_standby().stop():
        click.echo("replica stopped")
    stopped = managed_cluster().stop()
    click.echo("stopped" if stopped else "not running")


@db_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Whether the database is reachable and its schema is current; exit 1 when not running.

    The managed cluster's standby and PgBouncer are shown when they were ever started (and
    the standby's replay position). The URLs shown hide their passwords (`gridgov db url`
    prints them).

    \b
    Example:
      gridgov db status --json
    """
    info: dict = {}
    if _external():
        info["managed"] = False
        info["url"] = make_url(database_url()).render_as_string(hide_password=True)
    else:
        st = managed_cluster().status()
        info.update(managed=True, data_dir=str(st.data_dir), port=st.port, url=st.url)
        standby = managed_standby()
        if standby.initialised():
            sst = standby.status()
            info["replica"] = {"running": sst.running, "data_dir": str(sst.data_dir), "port": sst.port,
                               "url": sst.url, **standby.replication()}
        bouncer = managed_pgbouncer()
        if bouncer.port is not None:
            running = bouncer.running()
            info["pgbouncer"] = {"running": running, "port": bouncer.port, "config": str(bouncer.dir / "pgbouncer.ini"),
                                 "url": make_url(bouncer.url()).render_as_string(hide_password=True)
                                 if running and st.running else None}
    running = True
    try:
        info["schema"] = migrate.schema_state(engine_for(database_url()))
    except Exception as exc:  # unreachable server, never started, ...: report, don't trace
        running = False
        info["error"] = str(exc).splitlines()[0]
    info["running"] = running
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
    else:
        click.echo(f"running: {'yes' if running else 'no'}")
        for key in ("url", "data_dir", "port"):
            if info.get(key):
                click.echo(f"{key}: {info[key]}")
        if "schema" in info:
            s = info["schema"]
            click.echo(f"schema: {s['current'] or '(empty)'} (head {s['head']}, {'current' if s['up_to_date'] else 'run `gridgov db upgrade`'})")
        if "error" in info:
            click.echo(f"error: {info['error']}")
        for name in ("replica", "pgbouncer"):
            if name in info:
                part = info[name]
                click.echo(f"{name}: {'running' if part['running'] else 'stopped'}"
                           + (f", {part['url']}" if part.get("url") else "")
                           + (f", replayed to {part['replay_lsn']}" if part.get("replay_lsn") else ""))
    if not running:
        raise SystemExit(1)


@db_group.command("url")
@click.option("--admin", is_flag=True, help="The managed cluster's superuser (postgres) instead of the application's role.")
@click.option("--replica", is_flag=True, help="The managed cluster's hot standby (read-only), for GRIDGOV_REPLICA_URL.")
@click.option("--pgbouncer", is_flag=True, help="The managed cluster through its PgBouncer, for GRIDGOV_PGBOUNCER_URL.")
def url(admin: bool, replica: bool, pgbouncer: bool) -> None:
    """Print the database URL gridgov uses, with its password (for psql, or GRIDGOV_DATABASE_URL).

    For the managed cluster the password comes from var/pg-passwords.json (mode 0600);
    --admin prints the superuser's URL, which creating databases needs; --replica and
    --pgbouncer the application's URL on the standby and through PgBouncer (with --admin,
    the superuser's on the standby).

    \b
    Examples:
      psql "$(gridgov db url)" -c 'SELECT postgis_version()'
      psql "$(gridgov db url --replica)" -c 'SELECT pg_is_in_recovery()'
    """
    if replica and pgbouncer:
        raise click.UsageError("--replica and --pgbouncer name two different servers: give one")
    if pgbouncer and admin:
        raise click.UsageError("--pgbouncer serves the application's role only: drop --admin")
    try:
        if (admin or replica or pgbouncer) and _external():
            raise click.ClickException("GRIDGOV_DATABASE_URL is set: gridgov manages no server of its own")
        server = managed_standby() if replica else managed_cluster()
        if pgbouncer:
            found = managed_pgbouncer().url()
        elif admin:
            found = server.admin_url()
        elif replica:
            found = server.url()
        else:
            found = database_url()
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from exc
    # the libpq form (postgresql://), which psql, psycopg and GRIDGOV_DATABASE_URL all take
    click.echo(conninfo(found))


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Migrate the schema (Alembic) to the newest revision.

    \b
    Example:
      gridgov db upgrade
    """
    try:
        target = database_url()
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from exc
    migrate.upgrade(target, revision)
    click.echo(f"schema at {migrate.current_revision(engine_for(target))}")
