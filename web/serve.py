"""``gridgov serve``: the production WSGI server (gunicorn)."""

from __future__ import annotations

import gc
import resource
import socket

import click
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker

from db.migrate import SchemaOutOfDate, check_schema
from db.session import database_url, engine_for


# Threads per worker process: while one request waits on PostgreSQL, another runs Python.
# Live streams hold none of them (StreamingWorker).
DEFAULT_THREADS = 4
STREAM_PATH = "/api/v1/stream"


class StreamingWorker(ThreadWorker):
    """gunicorn's gthread worker, except that a live stream the app accepts is handed to the
    worker's stream process (web/streams.py explains why) instead of holding a thread."""

    def init_process(self) -> None:
        # every open stream is a socket: allow as many as the hard limit does (the stream
        # process inherits the limit)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        from web.streams import StreamProcess

        # started now, while this process has one thread (web/streams.py)
        self.stream_process = StreamProcess()
        self.stream_process.start()
        try:
            super().init_process()  # serves until the worker stops
        finally:
            self.stream_process.stop()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # The process's live listener from the start, not from its first map or stream: the
        # credential cache (web/auth.py) answers only while it listens, so until then every
        # request with a token or a cookie looked its account up in the database.
        from web import database
        from web.live import hub_for

        with self.wsgi.app_context():
            hub_for(database.listen_conninfo(), database.replica_conninfo())
        # Everything the app imported (Flask, SQLAlchemy, pandas, shapely, pyproj, …: 180,000
        # objects) lives as long as the process. Left to the collector, each full collection
        # walks them all, 110 ms with the GIL held on a 2.1 GHz core: every request of the
        # worker waits, the spikes of the intake's p99 at 300/s (measured: 41–117 ms in some
        # 10 s runs, 16–27 ms in others). Frozen, a full collection walks only what requests
        # made since: 0.2–0.5 ms.
        gc.collect()
        gc.freeze()

    def handle_request(self, req, conn):
        if req.method != "GET" or req.path != STREAM_PATH:
            return super().handle_request(req, conn)
        from web.streams import ACCEPTED_KEY, HANDOFF_KEY, response_head

        resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, self.cfg)
        environ["wsgi.multithread"] = True
        environ[HANDOFF_KEY] = True
        answer: dict = {}

        def start_response(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)
            return resp.write

        body = self.wsgi(environ, start_response)
        accepted = environ.get(ACCEPTED_KEY)
        if accepted is None or not answer["status"].startswith("200"):
            # not taken over (refused, an error): the app's answer, written as gunicorn would
            try:
                resp.start_response(answer["status"], answer["headers"])
                for chunk in body:
                    resp.write(chunk)
                resp.close()
            finally:
                if hasattr(body, "close"):
                    body.close()
            return not resp.should_close()
        if hasattr(body, "close"):
            body.close()  # the request's teardown runs; the stream lives on in the loop
        client = conn.sock
        # gunicorn closes conn.sock when this returns: give it a socket of its own to close
        conn.sock = socket.socket(client.family, socket.SOCK_STREAM)
        self.stream_process.hand_off(client, response_head(answer["status"], answer["headers"]),
                                     **accepted)
        return False


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict:
    """gunicorn's settings for ``gridgov serve``."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": StreamingWorker,
        "threads": threads,
        # Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new
        # connections over them. With one shared socket the worker that wakes first takes
        # them, and a few long-lived keep-alive clients can all land on one worker while the
        # other idles (measured with 8 wrk connections: one worker at 0.7 cores, one at 0).
        "reuse_port": True,
        "timeout": 120,
        # live-map streams never end by themselves: don't wait 30 s for them on a restart
        "graceful_timeout": 3,
        "accesslog": None,
        "loglevel": "warning",
    }


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on. With SO_REUSEPORT the workers would
    otherwise share it with another gridgov serve, or fail to bind and be restarted forever."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


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
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=click.IntRange(1, 256),
              help="threads per worker for ordinary requests (live streams hold none)")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve gridgov with gunicorn; refuses to start on an out-of-date schema.

    \b
    Example:
      gridgov serve --port 8000 --workers 2
    """
    engine = engine_for(database_url())
    try:
        check_schema(engine)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        # gunicorn forks the workers next: they must not share this pooled connection
        engine.dispose()
    _check_port_free(host, port)
    click.echo(f"gridgov serving on http://{host}:{port}/ with {workers} workers")
    _Server(gunicorn_options(host, port, workers, threads)).run()
