"""``Idempotency-Key``: a retried POST returns the same case, never a second one — also when
the retries race each other, with real threads against a real HTTP server and the real
database."""

from __future__ import annotations

import http.client
import json
import threading
import uuid

import pytest

from tests.conftest import DEMO_TOKENS
from tests.test_intake_api import (  # noqa: F401  (fixtures)
    PNG, at_point, case_body, client, intake_url, leaf_with_one_worker, post_case, query,
)
from tests.waits import HANG_S


def cases_with_key(url: str, key: str) -> list[dict]:
    return query(url, "SELECT id FROM cases WHERE idempotency_key = :k", k=key)


def test_a_retry_with_the_same_key_and_body_returns_the_same_case(client, intake_url):
    leaf = leaf_with_one_worker(intake_url)
    key = str(uuid.uuid4())
    first = post_case(client, headers={"Idempotency-Key": key}, location=at_point(leaf))
    again = post_case(client, headers={"Idempotency-Key": key}, location=at_point(leaf))
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.get_json() == first.get_json()
    assert again.data == first.data  # byte for byte: same keys in the same order
    assert cases_with_key(intake_url, key) == [{"id": first.get_json()["id"]}]
    events = query(intake_url, "SELECT type FROM case_events WHERE case_id = :id", id=first.get_json()["id"])
    assert events == [{"type": "created"}]


def test_the_replay_answers_what_was_decided_even_after_a_reassignment(client, intake_url):
    leaf = leaf_with_one_worker(intake_url)
    other = leaf_with_one_worker(intake_url, offset=4)
    key = str(uuid.uuid4())
    first = post_case(client, headers={"Idempotency-Key": key}, location=at_point(leaf)).get_json()
    client.post(f"/api/v1/cases/{first['id']}/assignee",
                json={"person_id": other["worker_id"], "reason": "换人", "actor": "op"})
    again = post_case(client, headers={"Idempotency-Key": key}, location=at_point(leaf)).get_json()
    assert again == first


def test_the_same_key_with_a_different_body_is_409(client, intake_url):
    leaf = leaf_with_one_worker(intake_url)
    key = str(uuid.uuid4())
    first = post_case(client, headers={"Idempotency-Key": key}, location=at_point(leaf)).get_json()
    r = post_case(client, headers={"Idempotency-Key": key}, location=at_point(leaf), description="另一件事")
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"] == "idempotency_key_reused"
    assert body["details"]["case_id"] == first["id"]
    assert len(cases_with_key(intake_url, key)) == 1


def test_the_same_key_with_other_photos_is_409(client, intake_url):
    leaf = leaf_with_one_worker(intake_url)
    key = str(uuid.uuid4())
    case = json.dumps(case_body(location=at_point(leaf)))

    def send(photo: bytes):
        import io

        return client.post("/api/v1/cases", data={"case": case, "photos": [(io.BytesIO(photo), "p.png")]},
                           content_type="multipart/form-data", headers={"Idempotency-Key": key})

    first = send(PNG)
    assert first.status_code == 201
    assert send(PNG).get_json()["id"] == first.get_json()["id"]
    assert send(PNG + b"\x01").status_code == 409
    photos = query(intake_url, "SELECT count(*) AS n FROM case_photos WHERE case_id = :id", id=first.get_json()["id"])
    assert photos == [{"n": 1}]


def test_without_a_key_two_posts_make_two_cases(client, intake_url):
    leaf = leaf_with_one_worker(intake_url)
    a = post_case(client, location=at_point(leaf)).get_json()["id"]
    b = post_case(client, location=at_point(leaf)).get_json()["id"]
    assert a != b


@pytest.fixture
def live_server(intake_url, app_server) -> tuple[str, int]:
    """The app served by werkzeug's threaded server on a free port of 127.0.0.1."""
    server = app_server(intake_url)
    return server.host, server.port


def _post(host: str, port: int, body: bytes, key: str) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", "/api/v1/cases", body=body,
                     headers={"Content-Type": "application/json", "Idempotency-Key": key,
                              "Authorization": f"Bearer {DEMO_TOKENS['town_operator']}"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), json.loads(resp.read())
    finally:
        conn.close()


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_posts_with_one_key_make_one_case(live_server, intake_url, round_):
    host, port = live_server
    leaf = leaf_with_one_worker(intake_url, offset=round_)
    body = json.dumps(case_body(location=at_point(leaf))).encode()
    key = str(uuid.uuid4())
    n = 8
    start = threading.Barrier(n)
    results: list[tuple[int, dict, dict]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            start.wait(timeout=HANG_S)
            got = _post(host, port, body, key)
            with lock:
                results.append(got)
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == []
    assert [status for status, _, _ in results] == [201] * n
    assert len({b["id"] for _, _, b in results}) == 1
    replayed = [h.get("Idempotent-Replayed") for _, h, _ in results]
    assert replayed.count(None) == 1 and replayed.count("true") == n - 1
    assert len({json.dumps(b, sort_keys=True) for _, _, b in results}) == 1
    rows = cases_with_key(intake_url, key)
    assert len(rows) == 1
    events = query(intake_url, "SELECT type FROM case_events WHERE case_id = :id", id=rows[0]["id"])
    assert events == [{"type": "created"}]
