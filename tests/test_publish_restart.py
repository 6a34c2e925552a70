"""A publish whose database is restarted under it (``pg_ctl stop -m immediate``, then started
again): the old version stays in force and the draft stays open, at its revision, and can be
published afterwards. On a cluster of its own (the suite's shared one keeps running)."""

from __future__ import annotations

import threading

import psycopg
import pytest
from shapely.geometry import mapping

from db import migrate
from db.cluster import Cluster
from db.session import conninfo, engine_for, session_scope
from tests.boundary_data import frame, import_all, query, rect_m, staff_all
from tests.waits import HANG_S, wait_for

A, B = "140525108200001", "140525108200002"
VILLAGE = "140525108200"


def _lonlat(*xy) -> dict:
    return mapping(frame([{"code": "x", "geometry": rect_m(*xy)}]).geometry.iloc[0])


@pytest.fixture
def own_cluster(tmp_path):
    # durable, as `make run` makes it: the suite's clusters turn synchronous_commit off, and a
    # crash would lose the draft's own last commits with it
    cluster = Cluster(tmp_path / "pg")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def _state(url) -> list:
    return (query(url, "SELECT id, code, version, valid_from, valid_to FROM grids ORDER BY id")
            + query(url, "SELECT number, effective_at FROM boundary_versions ORDER BY number")
            + query(url, "SELECT grid_code, person_id, role, since, until FROM grid_assignments "
                         "ORDER BY id"))


def test_a_publish_cut_by_a_database_restart_leaves_the_old_version_and_the_draft(
        own_cluster, cli, tmp_path):
    from planning.drafts import create_draft, put_grid
    from planning.publish import publish_draft

    own_cluster.create_database("gridgov")
    url = own_cluster.url("gridgov")
    migrate.upgrade(url)
    import_all(cli, url, tmp_path)
    staff_all(url)
    with session_scope(url) as session:  # A widens by 20 m into B; both change together
        draft = create_draft(session, "planner", VILLAGE)["id"]
        put_grid(session, draft, A, 1, {"geometry": _lonlat(0, 0, 520, 1000)}, "planner")
        put_grid(session, draft, B, 2, {"geometry": _lonlat(520, 0, 1000, 1000)}, "planner")
    before = _state(url)
    # a transaction writing cases holds the publish at its lock on cases, after its first pass
    holder = psycopg.connect(conninfo(url))
    holder.execute("LOCK TABLE cases IN ROW EXCLUSIVE MODE")
    failure: list[BaseException] = []

    def run():
        try:
            with session_scope(url) as session:
                publish_draft(session, draft, 3, "planner")
        except BaseException as exc:  # noqa: BLE001 - what the publish died of is the result
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    with psycopg.connect(conninfo(url), autocommit=True) as watch:
        wait_for(what="the publish waiting for the lock on cases", predicate=lambda: watch.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%%LOCK TABLE cases IN SHARE%%'").fetchone()[0] > 0)
    own_cluster._pg("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(own_cluster.data_dir))
    thread.join(HANG_S)
    assert not thread.is_alive() and failure, "the publish should have died with the database"
    with pytest.raises(psycopg.OperationalError):
        holder.execute("SELECT 1")
    holder.close()
    engine_for(url).dispose()
    own_cluster.start()

    assert _state(url) == before
    assert query(url, "SELECT state, revision FROM drafts WHERE id = %s", (draft,))[0] == (
        "open", 3)
    with session_scope(url) as session:
        result = publish_draft(session, draft, 3, "planner")
    assert result["state"] == "published" and result["grids"]["changed"] == 2
    engine_for(url).dispose()
