"""Test fixtures: a real PostGIS for the whole session.

The suite starts its own throwaway cluster (db.cluster.Cluster in a temporary directory, fsync
off) unless ``GRIDGOV_TEST_DATABASE_URL`` names a server to use; either way each test that
needs a database gets its own, copied from a migrated template, so tests never see each
other's data. The Bagong demo is loaded once per session into its own database.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from db import migrate
from db.cluster import Cluster
from db.session import engine_for, normalise_url

SHARED = Path(__file__).resolve().parents[2] / "shared"
# The suite reports thousands of cases from one address (127.0.0.1), anonymously: the intake's
# per-address limit (web/throttle.py) stays on with a bound it never reaches; the limit's own
# tests (tests/test_throttle.py) give their apps small ones. Servers the tests start inherit it.
os.environ.setdefault("GRIDGOV_RATELIMIT_INTAKE", "100000000 per minute")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DEMO_SEED = 7
DEMO_CASES = 3000
_counter = itertools.count()
DEMO_TOKENS: dict[str, str] = {}


class PgServer:
    """A PostgreSQL server the tests may create and drop databases on.

    ``admin_url`` creates and drops databases (and PostGIS in them); the tests themselves
    connect with ``app_url``'s role, which owns each database, as gridgov does in production.
    Given one URL (``GRIDGOV_TEST_DATABASE_URL``), that role does both.
    """

    def __init__(self, admin_url: str, app_url: str | None = None, cluster: Cluster | None = None):
        self.admin_url = make_url(normalise_url(admin_url))
        self.url = make_url(normalise_url(app_url or admin_url))
        self.cluster = cluster  # the suite's own cluster; None on GRIDGOV_TEST_DATABASE_URL's server

    def url_for(self, dbname: str) -> str:
        return self.url.set(database=dbname).render_as_string(hide_password=False)

    def _admin(self, dbname: str = "postgres"):
        u = self.admin_url
        return psycopg.connect(
            host=u.host, port=u.port, user=u.username, password=u.password,
            dbname=dbname, autocommit=True,
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        owner = self.url.username if self.url.username != self.admin_url.username else None
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(
                f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else "")
                + (f' TEMPLATE "{template}"' if template else "")
            )
        if template is None:
            # only a superuser may create PostGIS (it is not a trusted extension): the app
            # role's migration finds it there (CREATE EXTENSION IF NOT EXISTS)
            with self._admin(name) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        from web.live import stop_hubs

        url = self.url_for(name)
        engine_for(url).dispose()
        stop_hubs()  # their listeners would otherwise retry a dropped database forever
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    external = os.environ.get("GRIDGOV_TEST_DATABASE_URL")
    if external:
        yield PgServer(external)
        return
    cluster = Cluster(tmp_path_factory.mktemp("pg") / "pg", durable=False)
    cluster.start()
    try:
        yield PgServer(cluster.admin_url("postgres"), cluster.url("postgres"), cluster)
    finally:
        from web.live import stop_hubs

        stop_hubs()
        cluster.destroy()


@pytest.fixture(scope="session")
def template_db(pg_server) -> str:
    """A migrated, empty database to copy."""
    name = "gridgov_test_template"
    url = pg_server.create_database(name)
    migrate.upgrade(url)
    return name


@pytest.fixture
def empty_db_url(pg_server, template_db):
    """A fresh migrated database with no town, for this test alone."""
    name = f"gridgov_test_{os.getpid()}_{next(_counter)}"
    url = pg_server.create_database(name, template=template_db)
    yield url
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def demo_db_url(pg_server, template_db):
    """The Bagong demo (seed 7), loaded once for the session. Tests must not change it."""
    from demo.load import load_demo

    url = pg_server.create_database("gridgov_test_demo", template=template_db)
    load_demo(url, seed=DEMO_SEED, cases=DEMO_CASES, progress=False)
    # a token per demo account, made before any copy, so every copy has them too
    from accounts.service import list_accounts
    from db.session import session_scope
    from tests.accounts_support import token_for

    with session_scope(url) as session:
        names = [a["name"] for a in list_accounts(session)]
    DEMO_TOKENS.update({name: token_for(url, name) for name in names})
    engine_for(url).dispose()
    return url


@pytest.fixture(scope="session")
def demo_tokens(demo_db_url) -> dict[str, str]:
    """An API token for every account of the demo (and of every copy of it), by account name:
    town_operator, town_leader, village_operator, grid_leader, grid_worker_1…, auxiliary,
    department_handler, planner, admin (demo/accounts.py)."""
    return DEMO_TOKENS


@pytest.fixture
def operator_token(demo_tokens) -> str:
    """The demo town operator's API token."""
    return demo_tokens["town_operator"]


@pytest.fixture
def demo_copy_url(pg_server, demo_db_url):
    """A private copy of the demo database that a test may change."""
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()  # a live listener on the demo would block copying it
    name = f"gridgov_test_democopy_{os.getpid()}_{next(_counter)}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def cli():
    """Run a ``gridgov`` command against a database: ``cli(url, "boundaries", "validate")``."""
    from web.cli import main

    def run(url: str, *args: str, input: str | None = None):
        runner = CliRunner()
        return runner.invoke(main, list(args), env={"GRIDGOV_DATABASE_URL": url}, input=input, catch_exceptions=False)

    return run


@pytest.fixture
def app_server():
    """Serve apps over HTTP for this test: ``app_server(database_url_or_app)`` returns a
    running tests.servers.AppThread (``.base``, ``.host``, ``.port``); stopped after the test."""
    from tests.servers import AppThread

    started: list[AppThread] = []

    def start(app_or_database_url) -> AppThread:
        started.append(AppThread(app_or_database_url))
        return started[-1]

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def gridgov_server():
    """Start ``gridgov serve`` processes for this test: ``gridgov_server(database_url,
    port=None, workers=1, threads=None, env=None, args=())`` returns a running
    tests.servers.ServeProcess (``.base``, ``.port``) once /healthz answers; see
    tests.servers.start_server for the arguments. Every one is killed after the test."""
    from tests.servers import start_server, stop_server

    started = []

    def start(database_url: str, port: int | None = None, **options):
        started.append(start_server(database_url, port, **options))
        return started[-1]

    yield start
    for server in reversed(started):
        stop_server(server)


@pytest.fixture
def gridgov_worker():
    """Start ``gridgov worker`` processes for this test: ``gridgov_worker(database_url,
    env=None)`` returns a running tests.servers.ServeProcess (``.proc``, ``.log_tail()``);
    every one is killed after the test."""
    from tests.servers import start_worker, stop_server

    started = []

    def start(database_url: str, **options):
        started.append(start_worker(database_url, **options))
        return started[-1]

    yield start
    for worker in reversed(started):
        stop_server(worker)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
