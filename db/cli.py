"""``gridgov db``: the managed local PostGIS cluster and schema migrations."""

from __future__ import annotations

import json
import os

import click
from sqlalchemy.engine import make_url

from db import migrate
from db.cluster import ClusterError
from db.session import conninfo, database_url, engine_for, managed_cluster


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
def start() -> None:
    """Start the managed cluster in var/pg (a no-op when running or with GRIDGOV_DATABASE_URL).

    \b
    Example:
      gridgov db start
    """
    if _external():
        click.echo("GRIDGOV_DATABASE_URL is set: using that database, nothing to start")
        return
    cluster = managed_cluster()
    try:
        started = cluster.start()
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from exc
    shown = make_url(cluster.url()).render_as_string(hide_password=True)
    click.echo(("started" if started else "already running") + f": {shown} (`gridgov db url` shows the password)")


@db_group.command("stop")
def stop() -> None:
    """Stop the managed cluster.

    \b
    Example:
      gridgov db stop
    """
    if _external():
        click.echo("GRIDGOV_DATABASE_URL is set: gridgov does not manage that server")
        return
    stopped = managed_cluster().stop()
    click.echo("stopped" if stopped else "not running")


@db_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Whether the database is reachable and its schema is current; exit 1 when not running.

    The URL shown hides its password (`gridgov db url` prints it).

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
    if not running:
        raise SystemExit(1)


@db_group.command("url")
@click.option("--admin", is_flag=True, help="The managed cluster's superuser (postgres) instead of the application's role.")
def url(admin: bool) -> None:
    """Print the database URL gridgov uses, with its password (for psql, or GRIDGOV_DATABASE_URL).

    For the managed cluster the password comes from var/pg-passwords.json (mode 0600);
    --admin prints the superuser's URL, which creating databases needs.

    \b
    Example:
      psql "$(gridgov db url)" -c 'SELECT postgis_version()'
    """
    try:
        if admin:
            if _external():
                raise click.ClickException("GRIDGOV_DATABASE_URL is set: gridgov knows no other role on that server")
            found = managed_cluster().admin_url()
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
