"""PgBouncer in transaction mode (db/pgbouncer.py): the app's requests through it, the live
listener and the CLI directly (db/session.py ``pgbouncer_url``).

PgBouncer runs in front of the suite's own cluster (its files in a temporary directory, as the
servers' unprivileged user when we are root); ``gridgov serve`` talks to it with
``GRIDGOV_PGBOUNCER_URL`` from several threads at once, so that consecutive transactions of one
client connection land on different server connections, where a prepared statement would be
unknown. Its own statistics (``SHOW STATS``) say the requests went through it.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import mercantile
import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.cluster import Cluster
from db.pgbouncer import PgBouncer
from db.session import conninfo, engine_for
from tests.conftest import DEMO_TOKENS
from tests.waits import HANG_S, wait_for  # a ceiling that only catches hangs

CASES = 40


@pytest.fixture
def bouncer(pg_server, tmp_path):
    if pg_server.cluster is None:
        pytest.skip("GRIDGOV_TEST_DATABASE_URL: the suite runs no cluster to put PgBouncer in front of")
    found = PgBouncer(tmp_path / "pgbouncer", pg_server.cluster)
    assert found.start() is True
    yield found
    found.stop()


def pooled_url(bouncer: PgBouncer, database_url: str) -> str:
    return bouncer.url(make_url(database_url).database)


def xacts(bouncer: PgBouncer, database_url: str) -> int:
    """PgBouncer's count of the transactions it has pooled for the database."""
    stats = make_url(pooled_url(bouncer, database_url)).set(database="pgbouncer")
    # the admin console speaks the simple query protocol only
    with psycopg.connect(conninfo(stats.render_as_string(hide_password=False)), autocommit=True,
                         prepare_threshold=None, cursor_factory=psycopg.ClientCursor) as conn:
        cur = conn.execute("SHOW STATS")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return next(r["total_xact_count"] for r in rows if r["database"] == make_url(database_url).database)


def call(base: str, path: str, body: dict | None = None, token: str | None = "town_operator"):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {DEMO_TOKENS[token]}"
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=HANG_S) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_pooled_engine_prepares_nothing_and_its_sessions_get_the_server_settings(bouncer, demo_copy_url):
    engine = engine_for(pooled_url(bouncer, demo_copy_url), pooled=True)
    try:
        with engine.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold is None
            # set by PgBouncer on each server connection (connect_query), not as startup options
            assert conn.execute(text("SHOW jit")).scalar() == "off"
            assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() == "0"
            assert conn.execute(text("SELECT inet_server_port()")).scalar() == bouncer.cluster.port
    finally:
        engine.dispose()
    assert engine_for(demo_copy_url).pool is not engine.pool  # the direct engine is another


def test_a_wrong_password_is_refused_by_pgbouncer(bouncer, demo_copy_url):
    wrong = make_url(pooled_url(bouncer, demo_copy_url)).set(password="not-the-password")
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(conninfo(wrong.render_as_string(hide_password=False)))


def test_intake_transitions_map_and_tiles_work_through_pgbouncer_and_live_events_still_arrive(
        bouncer, demo_copy_url, gridgov_server):
    server = gridgov_server(demo_copy_url, workers=1, threads=4,
                            env={"GRIDGOV_PGBOUNCER_URL": pooled_url(bouncer, demo_copy_url)})
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        lon, lat = conn.execute(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grids "
            "WHERE level = 'service' AND valid_to IS NULL ORDER BY code LIMIT 1").fetchone()
    before = xacts(bouncer, demo_copy_url)

    # a live map's stream: its listener is on a direct connection (LISTEN cannot be pooled)
    stream = socket.create_connection(("127.0.0.1", server.port), timeout=HANG_S)
    stream.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                   b"Authorization: Bearer " + DEMO_TOKENS["town_operator"].encode() + b"\r\n\r\n")
    received = bytearray()

    def seen(needle: bytes) -> bool:
        stream.settimeout(0.2)
        try:
            chunk = stream.recv(65536)
            if chunk:
                received.extend(chunk)
        except TimeoutError:
            pass
        return needle in received

    wait_for(lambda: seen(b": connected"), "the stream's connected comment")

    def report(n: int) -> int:
        status, body = call(server.base, "/api/v1/cases", {
            "category": "patrol.exposed_rubbish", "description": f"经连接池 {n}", "channel": "patrol",
            "location": {"lon": lon, "lat": lat}})
        assert status == 201, body[:300]
        return json.loads(body)["id"]

    # several threads at once: consecutive statements of a client connection on different
    # server connections (a statement psycopg had prepared would be unknown there)
    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(report, range(CASES)))
    assert len(set(ids)) == CASES

    for case_id in ids[:5]:  # a transition on each of a few, then the case read back
        status, body = call(server.base, f"/api/v1/cases/{case_id}/transitions")
        assert status == 200, body[:300]
        version = json.loads(body)["version"]
        status, body = call(server.base, f"/api/v1/cases/{case_id}/transitions",
                            {"action": "supervise", "note": "经连接池督办", "version": version})
        assert status == 200, body[:300]
        status, body = call(server.base, f"/api/v1/cases/{case_id}")
        assert status == 200 and "经连接池督办" in body.decode()

    # the map's API and a tile of the cases
    delta = 0.01
    for path in ("/api/v1/grids", "/api/v1/stats/today", "/api/v1/hotspots",
                 f"/api/v1/cases?bbox={lon - delta},{lat - delta},{lon + delta},{lat + delta}"):
        status, body = call(server.base, path)
        assert status == 200, (path, body[:300])
    tile = mercantile.tile(lon, lat, 15)
    status, body = call(server.base, f"/tiles/cases/{tile.z}/{tile.x}/{tile.y}.pbf")
    assert status == 200 and body, "the tile over the new cases is empty"

    # every new case reached the live stream, and the requests went through PgBouncer
    for case_id in ids:
        wait_for(lambda case_id=case_id: seen(f'"id":{case_id},'.encode()), f"case {case_id} on the stream")
    stream.close()
    assert xacts(bouncer, demo_copy_url) - before >= CASES


def test_db_start_pgbouncer_in_front_of_the_managed_cluster(tmp_path):
    from web.cli import main

    env = {"GRIDGOV_VAR_DIR": str(tmp_path), "GRIDGOV_DATABASE_URL": None, "GRIDGOV_REPLICA": None,
           "GRIDGOV_PGBOUNCER": "on"}  # the setting, as `make run` reads it

    def gridgov(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    cluster = Cluster(tmp_path / "pg")
    try:
        assert "pgbouncer started" in gridgov("db", "start")
        # a start sets the app role's password again (a new SCRAM salt): PgBouncer must log in
        # with it on the server connections it opens from now on
        assert "pgbouncer already running" in gridgov("db", "start")
        with psycopg.connect(conninfo(cluster.admin_url("postgres")), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE usename = 'gridgov' AND pid <> pg_backend_pid()")
        printed = gridgov("db", "url", "--pgbouncer").strip()
        assert make_url(printed).port == PgBouncer(tmp_path / "pgbouncer", cluster).port != cluster.port
        with psycopg.connect(printed, prepare_threshold=None) as conn:
            assert conn.execute("SELECT current_user, inet_server_port()").fetchone() == ("gridgov", cluster.port)
        status = json.loads(gridgov("db", "status", "--json"))
        assert status["pgbouncer"]["running"] and status["pgbouncer"]["port"] == make_url(printed).port
        stopped = gridgov("db", "stop")
        assert "pgbouncer stopped" in stopped and stopped.strip().endswith("stopped")
        assert not json.loads(CliRunner().invoke(main, ["db", "status", "--json"], env=env).output)["pgbouncer"]["running"]
    finally:
        PgBouncer(tmp_path / "pgbouncer", cluster).stop()
        cluster.destroy()
