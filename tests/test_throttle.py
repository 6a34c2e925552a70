"""Abuse limits (web/throttle.py, accounts/service.py sign_in): anonymous reports, the sign-in
form and rating links are limited per address (429 with Retry-After, in each interface's own
error format, nothing written); a token's reports are not; an account locks after 5 wrong
passwords in a row, refuses even the right one while locked, and opens again after."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from accounts.service import LOCK_AFTER, LOCK_FOR
from demo.accounts import DEMO_PASSWORD
from tests.test_transitions_api import demo_leaf
from tests.visit_support import execute, query, visits_url  # noqa: F401  (a copy of the demo per module)
from web import create_app, throttle

throttle_url = visits_url
SMALL = "3 per minute"


def app_with(url: str, **config):
    return create_app({"DATABASE_URL": url, **config})


def report(leaf: dict, n: int) -> dict:
    return {"category": "patrol.exposed_rubbish", "description": f"路边有暴露垃圾 {n}",
            "channel": "resident", "location": {"lon": leaf["lon"], "lat": leaf["lat"]}}


def cases(url: str) -> int:
    return query(url, "SELECT count(*) AS n FROM cases")[0]["n"]


def test_anonymous_reports_past_the_limit_are_429_with_retry_after_and_write_nothing(
        throttle_url, demo_tokens):
    leaf = demo_leaf(throttle_url)
    client = app_with(throttle_url, RATELIMIT_INTAKE=SMALL).test_client()
    for n in range(3):
        assert client.post("/api/v1/cases", json=report(leaf, n)).status_code == 201
    before = cases(throttle_url)
    refused = client.post("/api/v1/cases", json=report(leaf, 3))
    assert refused.status_code == 429
    assert refused.json["error"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.json["details"]["retry_after"] > 0
    assert cases(throttle_url) == before  # nothing written
    # a staff report carries its account's token: not counted against the address
    staff = client.post("/api/v1/cases", json={**report(leaf, 4), "channel": "patrol"},
                        headers={"Authorization": f"Bearer {demo_tokens['town_operator']}"})
    assert staff.status_code == 201
    # an api_key parameter authenticates only Open311: on the API it is counted like any
    # anonymous report (it was once let through, past the limit, as if it were a token)
    keyed = client.post("/api/v1/cases?api_key=anything", json=report(leaf, 6))
    assert keyed.status_code == 429
    # another app (another server process) counts on its own
    assert app_with(throttle_url, RATELIMIT_INTAKE=SMALL).test_client().post(
        "/api/v1/cases", json=report(leaf, 5)).status_code == 201


def test_open311_reports_past_the_limit_get_open311s_error_format(throttle_url):
    leaf = demo_leaf(throttle_url)
    client = app_with(throttle_url, RATELIMIT_INTAKE="1 per minute").test_client()
    form = {"service_code": "patrol.exposed_rubbish", "lat": str(leaf["lat"]),
            "long": str(leaf["lon"]), "description": "路边有暴露垃圾"}
    assert client.post("/open311/v2/requests.xml", data=form).status_code == 201
    refused = client.post("/open311/v2/requests.xml", data=form)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    body = refused.get_data(as_text=True)
    assert "<errors><error><code>429</code><description>too many requests" in body


def test_sign_in_attempts_past_the_limit_are_429_on_the_form(throttle_url):
    client = app_with(throttle_url, RATELIMIT_LOGIN=SMALL).test_client()
    for _ in range(3):
        assert client.post("/login", data={"name": "nobody_at_all", "password": "x"}).status_code == 401
    refused = client.post("/login", data={"name": "nobody_at_all", "password": "x"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "请求过于频繁" in refused.get_data(as_text=True)


def test_rating_links_past_the_limit_are_429(throttle_url):
    client = app_with(throttle_url, RATELIMIT_RATING=SMALL).test_client()
    for _ in range(3):
        assert client.get("/rate/not-a-token").status_code == 404
    assert client.get("/rate/not-a-token").status_code == 429


def test_with_limits_off_nothing_is_refused(throttle_url):
    client = app_with(throttle_url, RATELIMIT_ENABLED=False, RATELIMIT_RATING="1 per minute"
                      ).test_client()
    assert [client.get("/rate/not-a-token").status_code for _ in range(3)] == [404] * 3


def locked_until(url: str, name: str):
    return query(url, "SELECT locked_until, failed_logins FROM accounts WHERE name = :n",
                 n=name)[0]


def test_an_account_locks_after_five_wrong_passwords_and_opens_again(throttle_url):
    name = "grid_leader"
    client = app_with(throttle_url).test_client()
    for n in range(LOCK_AFTER - 1):
        answer = client.post("/login", data={"name": name, "password": "wrong"})
        assert answer.status_code == 401
        assert locked_until(throttle_url, name)["failed_logins"] == n + 1
    locking = client.post("/login", data={"name": name, "password": "wrong"})
    assert locking.status_code == 429
    assert 0 < int(locking.headers["Retry-After"]) <= LOCK_FOR.total_seconds() + 1
    assert "账号已临时锁定" in locking.get_data(as_text=True)
    # locked: the right password is refused too, and no session is made
    sessions = query(throttle_url, "SELECT count(*) AS n FROM web_sessions")[0]["n"]
    right = client.post("/login", data={"name": name, "password": DEMO_PASSWORD})
    assert right.status_code == 429 and "Set-Cookie" not in right.headers
    assert query(throttle_url, "SELECT count(*) AS n FROM web_sessions")[0]["n"] == sessions
    assert locked_until(throttle_url, name)["locked_until"] is not None
    # the quarter of an hour has passed
    execute(throttle_url, "UPDATE accounts SET locked_until = now() - :d WHERE name = :n",
            d=timedelta(seconds=1), n=name)
    opened = client.post("/login", data={"name": name, "password": DEMO_PASSWORD})
    assert opened.status_code == 303 and "gridgov_session=" in opened.headers["Set-Cookie"]
    assert locked_until(throttle_url, name) == {"locked_until": None, "failed_logins": 0}


def test_a_right_password_resets_the_count(throttle_url):
    name = "town_leader"
    client = app_with(throttle_url).test_client()
    for _ in range(LOCK_AFTER - 1):
        client.post("/login", data={"name": name, "password": "wrong"})
    assert client.post("/login", data={"name": name, "password": DEMO_PASSWORD}).status_code == 303
    assert locked_until(throttle_url, name)["failed_logins"] == 0
    assert client.post("/login", data={"name": name, "password": "wrong"}).status_code == 401


def test_the_api_documents_429(throttle_url):
    spec = app_with(throttle_url).test_client().get("/api/v1/openapi.json").json
    assert "429" in spec["paths"]["/api/v1/cases"]["post"]["responses"]


def test_a_limit_on_the_whole_app_is_still_counted_on_every_request(throttle_url):
    # Flask-Limiter's check before every view is left out while no app-wide limit is set
    # (web/throttle.py limit_routes): the limits of RULES are counted by their views' wrappers
    plain = app_with(throttle_url)
    limiter = plain.extensions["gridgov_limiter"]
    assert limiter._check_request_limit not in plain.before_request_funcs[None]
    client = plain.test_client()
    assert [client.get("/api/v1/categories").status_code for _ in range(3)] == [200] * 3
    # one configured (GRIDGOV_RATELIMIT_DEFAULT) keeps the check, and counts every request
    limited = app_with(throttle_url, RATELIMIT_DEFAULT="2 per minute")
    limiter = limited.extensions["gridgov_limiter"]
    assert limiter._check_request_limit in limited.before_request_funcs[None]
    client = limited.test_client()
    assert [client.get("/api/v1/categories").status_code for _ in range(3)] == [200, 200, 429]


def test_counting_reports_starts_no_thread_per_report(throttle_url, monkeypatch):
    # limits' MemoryStorage started a 10 ms Timer on most hits, each taking the GIL from the
    # threads serving requests (web/throttle.py CountsInMemory): one expiry thread now, for all
    leaf = demo_leaf(throttle_url)
    client = app_with(throttle_url, RATELIMIT_INTAKE="1000 per minute").test_client()
    started = []
    real_start = threading.Thread.start

    def counting_start(thread):
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for n in range(20):
        assert client.post("/api/v1/cases", json=report(leaf, n)).status_code == 201
        time.sleep(0.015)  # past the old storage's 10 ms timer, as between real reports
    limiter_threads = [t for t in started if isinstance(t, threading.Timer)
                       or t.name == "gridgov-limits-expiry"]
    assert len(limiter_threads) == 1, [t.name for t in limiter_threads]


def test_expired_counts_are_dropped_and_the_expiry_thread_ends(monkeypatch):
    monkeypatch.setattr(throttle, "EXPIRE_EVERY_S", 0.05)
    storage = throttle.CountsInMemory()
    assert storage.acquire_entry("reports/127.0.0.1", limit=5, expiry=1)
    assert storage.incr("sign-in/127.0.0.1", expiry=1) == 1
    assert storage.events and storage.storage
    deadline = time.monotonic() + 30  # only catches a hang: the entries expire after 1 s
    while storage._expiring and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not storage._expiring
    assert not any(storage.events.values()) and not storage.storage
    storage.timer.join(30)
    assert not storage.timer.is_alive()
    # the next hit starts it again
    assert storage.acquire_entry("reports/127.0.0.1", limit=5, expiry=1)
    assert storage._expiring and storage.timer.is_alive()
