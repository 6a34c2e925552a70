"""The ``gridgov`` command: a Flask CLI group (``flask --app web`` works too)."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from boundaries.cli import boundaries_group
from db.cli import db_group
from demo.cli import demo_group
from web import create_app
from web.serve import serve


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """gridgov: grid-based township governance on PostGIS."""


main.add_command(db_group)
main.add_command(demo_group)
main.add_command(boundaries_group)
main.add_command(serve)


if __name__ == "__main__":
    main()
