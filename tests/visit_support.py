"""Shared by the visit and compliance tests: a module's copy of the demo, clients, targets in
and out of a worker's grids, and a check-in body."""

from __future__ import annotations

import itertools
import os
import uuid
from datetime import datetime

import pytest
from sqlalchemy import text

from cases.deadlines import LOCAL_TZ
from db.session import engine_for, session_scope
from tests.accounts_support import bearer
from web import create_app

_copies = itertools.count()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def query(url: str, sql: str, **params) -> list[dict]:
    with session_scope(url) as s:
        return [dict(r) for r in s.execute(text(sql), params).mappings()]


def execute(url: str, sql: str, **params) -> None:
    """Run a statement that returns no rows (a test's own setup), committed."""
    with session_scope(url) as s:
        s.execute(text(sql), params)


@pytest.fixture(scope="module")
def visits_url(pg_server, demo_db_url, demo_tokens):
    """A copy of the demo for one test module, which adds visits to it."""
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()
    name = f"gridgov_test_visits_{os.getpid()}_{next(_copies)}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    yield url
    pg_server.drop_database(name)


def client_for(url: str, token: str, **config):
    return bearer(create_app({"DATABASE_URL": url, **config}).test_client(), token)


def worker_grids(url: str, account: str = "grid_worker_1") -> set[str]:
    """The leaf grids the account's person is assigned to, read from the tables."""
    return {r["grid_code"] for r in query(
        url, "SELECT ga.grid_code FROM grid_assignments ga JOIN accounts a "
             "ON a.person_id = ga.person_id WHERE a.name = :name", name=account)}


def target_in(url: str, grids: set[str], type_: str = "household", inside: bool = True,
              offset: int = 0) -> dict:
    """A target of ``type_`` in (or, ``inside=False``, outside) ``grids``, with its point."""
    tables = {
        "household": "SELECT h.id, h.grid_code, a.geom FROM households h JOIN addresses a ON a.id = h.address_id",
        "shop": "SELECT id, grid_code, geom FROM shops",
        "enterprise": "SELECT id, grid_code, geom FROM enterprises",
        "key_place": "SELECT id, grid_code, geom FROM key_places",
        "key_person": "SELECT k.id, k.grid_code, a.geom FROM key_persons k JOIN addresses a ON a.id = k.address_id",
    }
    op = "" if inside else "NOT"
    rows = query(url, f"SELECT id, grid_code, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM "
                      f"({tables[type_]}) t WHERE {op} (grid_code = ANY(:grids)) ORDER BY id "
                      f"LIMIT 1 OFFSET :offset", grids=sorted(grids), offset=offset)
    assert rows, f"no {type_} {'in' if inside else 'outside'} {grids}"
    return {"type": type_, **rows[0]}


def body(target: dict, position: list[float] | None = None, **extra) -> dict:
    """A check-in at ``target`` (at its point unless ``position``)."""
    out = {"id": str(uuid.uuid4()), "target": {"type": target["type"], "id": target["id"]},
           "visited_at": datetime.now(LOCAL_TZ).isoformat(),
           "position": position or [target["lon"], target["lat"]], "accuracy_m": 8.5,
           "outcome": "ok", "note": "一切正常"}
    out.update(extra)
    return out


def counts(url: str) -> dict:
    return query(url, "SELECT (SELECT count(*) FROM visits) AS visits, "
                      "(SELECT count(*) FROM visit_photos) AS photos, "
                      "(SELECT count(*) FROM cases) AS cases")[0]
