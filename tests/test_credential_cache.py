"""The per-process cache of who a token or cookie belongs to (accounts/cache.py): used only
while the process's live listener is connected, emptied by the database's notes on any change
to credentials or scopes — made here by another connection, as another process or psql would —
and never by an answer read before a change."""

from __future__ import annotations

import psycopg
import pytest

from accounts.cache import CredentialCache, credential_cache
from db.session import conninfo, engine_for
from tests.accounts_support import headers, session_cookie, token_for
from tests.waits import wait_for
from web import auth, create_app
from web.live import APPLICATION_NAME, hub_for, stop_hubs


@pytest.fixture
def app(demo_copy_url):
    yield create_app({"DATABASE_URL": demo_copy_url})
    stop_hubs()
    engine_for(demo_copy_url).dispose()


def _listening(url: str):
    hub = hub_for(conninfo(url))
    wait_for(hub.listening.is_set, "the live listener connected")
    return hub


def _sql(url: str, statement: str, *params) -> None:
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute(statement, params)


def _cases(client, token: str) -> int:
    return client.get("/api/v1/cases?limit=1", headers=headers(token)).status_code


def test_without_a_listener_every_request_looks_its_token_up(app, demo_copy_url):
    token = token_for(demo_copy_url)
    client = app.test_client()
    hits = credential_cache().hits
    assert _cases(client, token) == 200 and _cases(client, token) == 200
    assert credential_cache().hits == hits


def test_a_token_revoked_by_another_connection_is_refused_once_the_note_arrives(
    app, demo_copy_url
):
    token, other = token_for(demo_copy_url), token_for(demo_copy_url)
    _listening(demo_copy_url)
    client = app.test_client()
    assert _cases(client, token) == 200 and _cases(client, other) == 200
    hits = credential_cache().hits
    assert _cases(client, token) == 200
    assert credential_cache().hits == hits + 1  # answered from the cache
    _sql(demo_copy_url, "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s",
         auth.service.digest(token))
    # emptied by the note (expiry would leave the entries in place until asked)
    wait_for(lambda: len(credential_cache()) == 0, "the cache emptied by the note")
    assert _cases(client, token) == 401
    assert _cases(client, other) == 200


def test_a_worker_moved_to_another_grid_gets_the_new_scope(app, demo_copy_url):
    _listening(demo_copy_url)
    token = token_for(demo_copy_url, "grid_worker_1")
    client = app.test_client()
    body = client.get("/api/v1/notifications", headers=headers(token))
    assert body.status_code == 200
    _cases(client, token)
    assert len(credential_cache()) > 0
    _sql(demo_copy_url, "UPDATE grid_assignments SET until = town_today() - 1 "
         "WHERE person_id = (SELECT person_id FROM accounts WHERE name = 'grid_worker_1')")
    wait_for(lambda: len(credential_cache()) == 0, "the cache emptied by the note")


def test_a_session_ended_elsewhere_signs_the_page_out(app, demo_copy_url):
    _listening(demo_copy_url)
    session_id, _csrf = session_cookie(demo_copy_url, "village_operator")
    client = app.test_client()
    client.set_cookie(auth.COOKIE, session_id)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200
    _sql(demo_copy_url, "UPDATE web_sessions SET ended_at = now()")
    wait_for(lambda: len(credential_cache()) == 0, "the cache emptied by the note")
    assert client.get("/").status_code == 302


def test_after_the_listener_reconnects_nothing_cached_before_is_used(app, demo_copy_url):
    hub = _listening(demo_copy_url)
    token = token_for(demo_copy_url)
    client = app.test_client()
    _cases(client, token)
    generation = hub.generation
    # the listener's connection cut: notes sent while it is away are lost to it
    _sql(demo_copy_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
         "WHERE datname = current_database() AND application_name = %s", APPLICATION_NAME)
    wait_for(lambda: hub.generation > generation and hub.listening.is_set(),
             "the listener reconnected")
    hits = credential_cache().hits
    assert _cases(client, token) == 200
    assert credential_cache().hits == hits  # looked up again, not taken from before


def test_an_answer_read_before_a_clear_is_not_stored_after_it():
    cache = CredentialCache()
    epoch = cache.epoch()
    cache.clear()  # a revocation while the lookup ran
    assert cache.put("token:x", "old answer", generation=1, epoch=epoch) is False
    assert cache.get("token:x", generation=1) is None
    assert cache.put("token:x", "answer", generation=1, epoch=cache.epoch())
    assert cache.get("token:x", generation=1) == "answer"
    assert cache.get("token:x", generation=2) is None  # another connection of the listener


def test_entries_expire_and_the_oldest_go_first():
    cache = CredentialCache(ttl_s=0.0, max_entries=2)
    cache.put("a", 1, 1, cache.epoch())
    assert cache.get("a", 1) is None  # past its time
    cache = CredentialCache(max_entries=2)
    for key in "abc":
        cache.put(key, key, 1, cache.epoch())
    assert cache.get("a", 1) is None and cache.get("c", 1) == "c" and len(cache) == 2
