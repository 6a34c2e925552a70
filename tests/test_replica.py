"""The read replica: ``gridgov db start --replica`` (db/standby.py) and the app reading its
``@replica_reads`` views from the standby while a client reads its own writes
(web/database.py).

The module runs its own managed cluster and standby (``GRIDGOV_VAR_DIR`` in a temporary
directory, started by the CLI as ``make run`` would), with a copy of the suite's demo restored
into the primary: the suite's shared server is left as it is. Pausing the standby's replay
(``pg_wal_replay_pause``) makes "the standby is behind" a state the test sets, not a race it
hopes to win.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from backup.service import backup_database, restore_database
from db.cluster import Cluster
from db.session import conninfo, engine_for
from db.standby import Standby
from tests.accounts_support import bearer
from tests.waits import wait_for  # a ceiling that only catches a standby that never catches up
from web import create_app
from web.database import LSN_COOKIE, LSN_HEADER, reads_replica

def gridgov(var_dir, *args: str, env: dict | None = None):
    from web.cli import main

    result = CliRunner().invoke(main, list(args), env={
        "GRIDGOV_VAR_DIR": str(var_dir), "GRIDGOV_DATABASE_URL": None, "GRIDGOV_REPLICA": None,
        "GRIDGOV_PGBOUNCER": None, **(env or {})})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def replicated(tmp_path_factory, demo_db_url):
    """A managed primary with the demo, and its hot standby: ``{"var", "primary", "standby",
    "primary_cluster", "standby_cluster"}`` (the URLs the application's role's)."""
    var = tmp_path_factory.mktemp("replica-var")
    gridgov(var, "db", "start", env={"GRIDGOV_REPLICA": "on"})  # the setting, as `make run` reads it
    primary = Cluster(var / "pg")
    standby = Standby(var / "pg-replica", primary)
    try:
        archive, _ = backup_database(demo_db_url, tmp_path_factory.mktemp("replica-dump"))
        restore_database(primary.url(), archive)
        wait_replayed(standby, primary_lsn(primary))  # the tests pause replay: after the demo
        yield {"var": var, "primary": primary.url(), "standby": standby.url(),
               "primary_cluster": primary, "standby_cluster": standby}
    finally:
        from web.live import stop_hubs

        stop_hubs()
        for cluster in (primary, standby):
            try:
                engine_for(cluster.url()).dispose()
            except Exception:  # never started: nothing to dispose of
                pass
        try:
            stopped = gridgov(var, "db", "stop")  # the standby with its primary
        finally:
            standby.destroy()
            primary.destroy()
    assert "replica stopped" in stopped and not standby.running() and not primary.running()


def _admin(cluster: Cluster) -> psycopg.Connection:
    return psycopg.connect(conninfo(cluster.admin_url()), autocommit=True)


def wait_replayed(standby: Cluster, lsn: str) -> None:
    """Until the standby has replayed the primary's WAL up to ``lsn``."""
    with _admin(standby) as conn:
        wait_for(lambda: conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0],
                 f"the standby replaying up to {lsn}")


def primary_lsn(primary: Cluster) -> str:
    with _admin(primary) as conn:
        return conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()[0]


def a_point(url: str) -> dict:
    with psycopg.connect(conninfo(url)) as conn:
        lon, lat = conn.execute(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grids "
            "WHERE level = 'service' AND valid_to IS NULL ORDER BY code LIMIT 1").fetchone()
    return {"lon": lon, "lat": lat}


def case_body(point: dict, description: str) -> dict:
    return {"category": "patrol.exposed_rubbish", "description": description, "channel": "patrol",
            "location": point}


@pytest.fixture
def replica_app(replicated):
    return create_app({"DATABASE_URL": replicated["primary"], "REPLICA_URL": replicated["standby"]})


# -- gridgov db start --replica ---------------------------------------------------------------


def test_db_start_replica_again_does_nothing_and_status_and_url_show_the_standby(replicated):
    var, standby = replicated["var"], replicated["standby_cluster"]
    again = gridgov(var, "db", "start", "--replica")
    assert "already running" in again and "replica already running" in again
    status = json.loads(gridgov(var, "db", "status", "--json"))
    assert status["running"] and status["replica"]["running"]
    assert status["replica"]["port"] == standby.port != status["port"]
    assert status["replica"]["replay_lsn"]
    printed = gridgov(var, "db", "url", "--replica").strip()
    assert make_url(printed).port == standby.port and make_url(printed).username == "gridgov"
    with psycopg.connect(printed) as conn:  # the printed URL works, on a server in recovery
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE nope (x int)")
    with _admin(replicated["primary_cluster"]) as conn:  # streaming, through its own slot
        assert conn.execute("SELECT state, application_name FROM pg_stat_replication").fetchall() == [
            ("streaming", standby.slot)]


def test_gridgov_replica_on_makes_the_app_read_the_managed_standby(replicated, monkeypatch, operator_token):
    for name in ("GRIDGOV_DATABASE_URL", "GRIDGOV_REPLICA_URL", "GRIDGOV_PGBOUNCER_URL", "GRIDGOV_PGBOUNCER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRIDGOV_VAR_DIR", str(replicated["var"]))
    monkeypatch.setenv("GRIDGOV_REPLICA", "on")
    app = create_app()
    with app.test_request_context("/api/v1/cases"):
        from web import database

        assert database.engine().url.port == replicated["primary_cluster"].port
        assert database.replica_engine().url.port == replicated["standby_cluster"].port
    client = bearer(app.test_client(), operator_token)
    assert client.get("/api/v1/cases?limit=1").status_code == 200


def test_a_standby_of_a_primary_that_is_not_running_is_refused(tmp_path):
    from db.cluster import ClusterError

    standby = Standby(tmp_path / "pg-replica", Cluster(tmp_path / "pg"))
    with pytest.raises(ClusterError, match="is not running: run `gridgov db start` first"):
        standby.start()
    assert not standby.initialised()


# -- the app: reads from the standby, its own writes from wherever has them --------------------


def test_reads_go_to_the_standby_and_a_writer_reads_its_write_while_replay_is_paused(
        replicated, replica_app, operator_token):
    point = a_point(replicated["primary"])
    writer = bearer(replica_app.test_client(), operator_token)
    other = bearer(replica_app.test_client(), operator_token)  # sends no LSN: reads the standby
    with _admin(replicated["standby_cluster"]) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            made = writer.post("/api/v1/cases", json=case_body(point, "暂停回放时的新案件"))
            assert made.status_code == 201, made.get_json()
            case_id, lsn = made.get_json()["id"], made.headers[LSN_HEADER]
            assert writer.get_cookie(LSN_COOKIE).value == lsn

            # the writer sees its case (the standby is behind: the primary answers)...
            mine = writer.get(f"/api/v1/cases/{case_id}")
            assert mine.status_code == 200
            assert mine.get_json()["description"] == "暂停回放时的新案件"
            # ...and so does an API client that sends the position back as a header
            told = bearer(replica_app.test_client(), operator_token)
            assert told.get(f"/api/v1/cases/{case_id}", headers={LSN_HEADER: lsn}).status_code == 200

            # a client that wrote nothing reads the standby, which has not replayed it yet
            assert other.get(f"/api/v1/cases/{case_id}").status_code == 404
            listed = other.get("/api/v1/cases?limit=5").get_json()["items"]
            assert case_id not in [c["id"] for c in listed]
            # and the app's pool holds connections of the app's role to the standby
            seen = standby.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = 'gridgov' "
                "AND backend_type = 'client backend'").fetchone()[0]
            assert seen >= 1
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    wait_replayed(replicated["standby_cluster"], lsn)
    assert other.get(f"/api/v1/cases/{case_id}").get_json()["description"] == "暂停回放时的新案件"


def test_an_audited_read_of_a_case_writes_its_audit_row_on_the_primary(
        replicated, replica_app, operator_token):
    """GET /api/v1/cases/{id} reads the standby, but with a reason it writes the audit log
    first (web/disclosure.py): that request goes to the primary, even while the standby is
    behind."""
    point = a_point(replicated["primary"])
    client = bearer(replica_app.test_client(), operator_token)
    made = client.post("/api/v1/cases", json=case_body(point, "查阅原因测试"))
    assert made.status_code == 201, made.get_json()
    case_id = made.get_json()["id"]
    reader = bearer(replica_app.test_client(), operator_token)  # no LSN: the standby's reader
    with _admin(replicated["standby_cluster"]) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            got = reader.get(f"/api/v1/cases/{case_id}?reason=回访核实")
            assert got.status_code == 200, got.get_json()
            assert got.get_json()["personal_data"] == "full" and got.get_json()["audit_id"]
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    with psycopg.connect(conninfo(replicated["primary"])) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE id = %s",
                            (got.get_json()["audit_id"],)).fetchone()[0] == 1


def test_a_position_that_is_no_lsn_reads_the_primary(replicated, replica_app, operator_token):
    point = a_point(replicated["primary"])
    writer = bearer(replica_app.test_client(), operator_token)
    with _admin(replicated["standby_cluster"]) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            case_id = writer.post("/api/v1/cases", json=case_body(point, "坏的位置")).get_json()["id"]
            odd = bearer(replica_app.test_client(), operator_token)
            # not an LSN: not trusted, so not checked against the standby either
            got = odd.get(f"/api/v1/cases/{case_id}", headers={LSN_HEADER: "'; DROP TABLE cases; --"})
            assert got.status_code == 200
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")


def test_a_client_reads_its_own_write_every_time(replicated, replica_app, operator_token):
    point = a_point(replicated["primary"])
    client = bearer(replica_app.test_client(), operator_token)
    for n in range(40):
        description = f"读己之写 {n}"
        made = client.post("/api/v1/cases", json=case_body(point, description))
        assert made.status_code == 201, made.get_json()
        case_id = made.get_json()["id"]
        got = client.get(f"/api/v1/cases/{case_id}")
        assert got.status_code == 200, (n, got.get_json())
        assert got.get_json()["description"] == description
        # a change of the same case, then its read
        offered = client.get(f"/api/v1/cases/{case_id}/transitions").get_json()
        note = f"督办 {n}"
        changed = client.post(f"/api/v1/cases/{case_id}/transitions",
                              json={"action": "supervise", "note": note, "version": offered["version"]})
        assert changed.status_code == 200, changed.get_json()
        events = client.get(f"/api/v1/cases/{case_id}").get_json()["events"]
        assert note in json.dumps(events, ensure_ascii=False), (n, events[-1])


def test_a_standby_that_is_down_leaves_the_reads_to_the_primary(replicated, operator_token):
    from db.cluster import free_port

    gone = make_url(replicated["standby"]).set(port=free_port()).render_as_string(hide_password=False)
    app = create_app({"DATABASE_URL": replicated["primary"], "REPLICA_URL": gone})
    client = bearer(app.test_client(), operator_token)
    assert client.get("/api/v1/cases?limit=1").status_code == 200
    assert client.get("/api/v1/stats/today").status_code == 200


# Every view marked @replica_reads, read from the standby with replay paused: a view that
# wrote would fail there (a standby refuses writes), and one left out of this list fails the
# test below. A photo made publishable is more than this needs: its 404 comes from the standby.
REPLICA_VIEWS = {
    "pages.index": "/",
    "public.public_board": "/public",
    "scores.scores_page": "/scores",
    "tiles.tile": "/tiles/cases/{tile}.pbf",
    "api.get_hotspots": "/api/v1/hotspots",
    "api.stats_today": "/api/v1/stats/today",
    "api.list_grids": "/api/v1/grids",
    "api.grid_stats": "/api/v1/grids/stats",
    "api.get_grid": "/api/v1/grids/{grid}",
    "api.public_cases": "/api/v1/public/cases",
    "api.public_photo": "/api/v1/public/photos/999999999",
    "api.stats_workers": "/api/v1/stats/workers",
    "api.stats_villages": "/api/v1/stats/villages",
    "api.stats_grids": "/api/v1/stats/grids",
    "api.list_cases": "/api/v1/cases",
    "api.get_case": "/api/v1/cases/1",
    "ogc.collection_list": "/ogc/collections",
    "ogc.collection": "/ogc/collections/grids",
    "ogc.items": "/ogc/collections/grids/items?limit=2",
    "ogc.item": "/ogc/collections/grids/items/{feature}",
}


def test_every_replica_view_answers_from_the_standby(replicated, replica_app, demo_tokens):
    import mercantile

    marked = {endpoint for endpoint, view in replica_app.view_functions.items() if reads_replica(view)}
    assert marked == set(REPLICA_VIEWS)
    with psycopg.connect(conninfo(replicated["primary"])) as conn:
        grid = conn.execute("SELECT code FROM grids WHERE level = 'service' AND valid_to IS NULL "
                            "ORDER BY code LIMIT 1").fetchone()[0]
    point = a_point(replicated["primary"])
    tile = "{2}/{0}/{1}".format(*mercantile.tile(point["lon"], point["lat"], 14))
    client = bearer(replica_app.test_client(), demo_tokens["admin"])
    feature = client.get("/ogc/collections/grids/items?limit=1").get_json()["features"][0]["id"]
    with _admin(replicated["standby_cluster"]) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            for endpoint, path in REPLICA_VIEWS.items():
                got = client.get(path.format(grid=grid, tile=tile, feature=feature))
                expected = 404 if endpoint == "api.public_photo" else 200
                assert got.status_code == expected, (endpoint, got.status_code, got.data[:300])
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")


def test_a_tile_cached_while_the_standby_was_behind_is_dropped_once_it_has_replayed(
        replicated, replica_app, operator_token):
    import mercantile

    from web import database, live

    point = a_point(replicated["primary"])
    tile = mercantile.tile(point["lon"], point["lat"], 16)
    path = f"/tiles/cases/{tile.z}/{tile.x}/{tile.y}.pbf"
    reader = bearer(replica_app.test_client(), operator_token)  # writes nothing: reads the standby
    writer = bearer(replica_app.test_client(), operator_token)
    reader.get(path)  # starts this process's listener, told of the standby
    with replica_app.app_context():
        hub = live.hub_for(database.listen_conninfo())
    assert hub.replica_conninfo is not None
    wait_for(hub.listening.is_set, "the live listener")
    with _admin(replicated["standby_cluster"]) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            heard = hub.received
            assert writer.post("/api/v1/cases", json=case_body(point, "瓦片缓存")).status_code == 201
            wait_for(lambda: hub.received > heard, "the new case's notification")
            # rendered on the standby, which has not replayed the case: cached without it
            stale = reader.get(path)
            again = reader.get(path)
            assert again.headers["X-Tile-Cache"] == "hit" and again.data == stale.data
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    wait_for(lambda: reader.get(path).data != stale.data, "the tile with the new case, once replayed")
