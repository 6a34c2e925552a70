"""The ``gridgov`` command: a Flask CLI group (``flask --app web`` works too).

Each package keeps its own commands (db/cli.py, demo/cli.py, boundaries/cli.py,
cases/cli.py, jobs/cli.py, accounts/cli.py, backup/cli.py, web/serve.py); this module only gathers them. What
the commands share (the session, the one-line refusal with exit 2) is db/cli_support.py.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from accounts.cli import users_group
from backup.cli import backup_command, restore_command
from boundaries.cli import boundaries_group
from cases.cli import cases_group, hotspots_command, route_command
from db.cli import db_group
from demo.cli import demo_group
from feeds.cli import feeds_group
from jobs.cli import supervise_command, worker_command
from web import create_app
from web.serve import serve


class _Commands(FlaskGroup):
    """Flask's group without the commands other packages register under ``flask.commands``
    (Flask-Limiter's ``limiter``: its counters live in each server process's memory, so a
    separate command has nothing to show): ``gridgov --help`` lists ours only."""

    def _load_plugin_commands(self) -> None:
        return None


@click.group(cls=_Commands, create_app=create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """gridgov: grid-based township governance on PostGIS."""


main.add_command(db_group)
main.add_command(demo_group)
main.add_command(boundaries_group)
main.add_command(serve)
main.add_command(hotspots_command)
main.add_command(route_command)
main.add_command(cases_group)
main.add_command(worker_command)
main.add_command(supervise_command)
main.add_command(users_group)
main.add_command(feeds_group)
main.add_command(backup_command)
main.add_command(restore_command)


if __name__ == "__main__":
    main()
