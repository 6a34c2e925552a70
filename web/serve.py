"""``gridgov serve``: the production WSGI server (gunicorn)."""

from __future__ import annotations

import click
from gunicorn.app.base import BaseApplication

from db.migrate import SchemaOutOfDate, check_schema
from db.session import database_url, engine_for


class _Server(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from web import create_app

        return create_app()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve gridgov with gunicorn; refuses to start on an out-of-date schema.

    \b
    Example:
      gridgov serve --port 8000 --workers 2
    """
    try:
        check_schema(engine_for(database_url()))
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"gridgov serving on http://{host}:{port}/ with {workers} workers")
    _Server(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "timeout": 120,
            "accesslog": None,
            "loglevel": "warning",
        }
    ).run()
