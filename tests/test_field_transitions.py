"""Transitions sent from a phone (cases/transition_keys.py, web/api/transitions.py): the
Idempotency-Key of a queued action (a replay is 409 already_applied with the first event,
the key for another action or case 409 idempotency_key_reused, concurrent replays apply
once), ``taken_at`` (kept; too far ahead or too old refused), the ``note`` action, a position
in the phone's CRS; and an offline day's 200 queued actions sent at once, twice over, each
applied once and in order. Every refusal writes nothing."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta

import pytest

from cases.deadlines import LOCAL_TZ
from geo.gcj02 import wgs84_to_gcj02
from tests.test_intake_api import query
from tests.test_transitions_api import (  # noqa: F401  (fixtures)
    PNG, act, auth, client, demo_leaf, new_case, post, state, url,
)
from tests.waits import HANG_S


def keyed(client, case_id: int, token: str, body: dict, version: int, key: str):
    return client.post(f"/api/v1/cases/{case_id}/transitions", json=body,
                       headers={**auth(token, version), "Idempotency-Key": key})


def now() -> datetime:
    return datetime.now(LOCAL_TZ)


def event_rows(url: str, case_id: int) -> list[dict]:
    return query(url, "SELECT id, type, idempotency_key, taken_at, note, lon, lat, account_id "
                      "FROM case_events WHERE case_id = :id ORDER BY id", id=case_id)


@pytest.fixture
def field(url, demo_tokens):
    """A new case dispatched to the demo village's grid worker, and that worker's token."""
    leaf = demo_leaf(url)
    return {"leaf": leaf, "case_id": new_case(url, leaf), "token": demo_tokens[leaf["account"]]}


def test_a_replayed_key_is_409_already_applied_with_the_first_event_and_writes_nothing(
        client, url, field):
    case_id, token = field["case_id"], field["token"]
    version = state(url, case_id)["version"]
    key = str(uuid.uuid4())
    taken = (now() - timedelta(hours=3)).replace(microsecond=0)
    first = keyed(client, case_id, token, {"action": "accept", "taken_at": taken.isoformat()},
                  version, key)
    assert first.status_code == 200, first.get_json()
    event = first.get_json()["event"]
    assert datetime.fromisoformat(event["taken_at"]) == taken
    after = state(url, case_id)
    again = keyed(client, case_id, token, {"action": "accept", "taken_at": taken.isoformat()},
                  version, key)
    assert again.status_code == 409
    body = again.get_json()
    assert body["error"] == "already_applied" and body["message"]
    assert body["details"]["event"] == event
    assert body["details"]["status"] == "handling"
    assert body["details"]["version"] == version + 1
    assert state(url, case_id) == after
    # even after the case moved on (the version it names is stale by now)
    act(client, url, case_id, token, "note", note="现场已拍照")
    later = keyed(client, case_id, token, {"action": "accept"}, version, key)
    assert later.status_code == 409 and later.get_json()["error"] == "already_applied"
    assert later.get_json()["details"]["version"] == version + 2
    rows = [r for r in event_rows(url, case_id) if r["idempotency_key"] == key]
    assert len(rows) == 1 and rows[0]["taken_at"] == taken


def test_the_same_key_for_another_action_or_case_is_409_idempotency_key_reused(
        client, url, field):
    case_id, token = field["case_id"], field["token"]
    version = state(url, case_id)["version"]
    key = str(uuid.uuid4())
    assert keyed(client, case_id, token, {"action": "accept"}, version, key).status_code == 200
    after = state(url, case_id)
    other = keyed(client, case_id, token, {"action": "note", "note": "补充"}, version + 1, key)
    assert other.status_code == 409
    assert other.get_json()["error"] == "idempotency_key_reused"
    assert other.get_json()["details"]["action"] == "accept"
    second = new_case(url, field["leaf"])
    before = state(url, second)
    elsewhere = keyed(client, second, token, {"action": "accept"}, before["version"], key)
    assert elsewhere.status_code == 409
    assert elsewhere.get_json()["error"] == "idempotency_key_reused"
    assert elsewhere.get_json()["details"]["case_id"] == case_id
    assert state(url, case_id) == after and state(url, second) == before


def test_a_key_is_the_accounts_own(client, url, field, demo_tokens):
    case_id, token = field["case_id"], field["token"]
    key = "shared-" + uuid.uuid4().hex
    version = state(url, case_id)["version"]
    assert keyed(client, case_id, token, {"action": "note", "note": "网格员记录"}, version,
                 key).status_code == 200
    center = keyed(client, case_id, demo_tokens["village_operator"],
                   {"action": "note", "note": "村中心记录"}, version + 1, key)
    assert center.status_code == 200, center.get_json()
    assert len({r["account_id"] for r in event_rows(url, case_id)
                if r["idempotency_key"] == key}) == 2


@pytest.mark.parametrize("key", ["x" * 101, "含中文", "with space", ""])
def test_an_idempotency_key_that_is_not_one_is_422(client, url, field, key):
    case_id = field["case_id"]
    before = state(url, case_id)
    got = keyed(client, case_id, field["token"], {"action": "accept"}, before["version"], key)
    assert got.status_code == 422 and got.get_json()["error"] == "invalid_idempotency_key"
    assert state(url, case_id) == before


@pytest.mark.parametrize(("shift", "code"), [
    (timedelta(minutes=6), "taken_at_in_future"),
    (timedelta(days=1), "taken_at_in_future"),
    (-timedelta(days=7, minutes=1), "taken_at_too_old"),
    (-timedelta(days=30), "taken_at_too_old"),
])
def test_taken_at_too_far_ahead_or_too_old_is_422_and_writes_nothing(client, url, field,
                                                                      shift, code):
    case_id = field["case_id"]
    before = state(url, case_id)
    body = {"action": "accept", "taken_at": (now() + shift).isoformat()}
    got = keyed(client, case_id, field["token"], body, before["version"], str(uuid.uuid4()))
    assert got.status_code == 422, got.get_json()
    assert got.get_json()["error"] == code and got.get_json()["details"]["field"] == "taken_at"
    assert state(url, case_id) == before


@pytest.mark.parametrize("shift", [timedelta(minutes=4), -timedelta(days=6, hours=23)])
def test_taken_at_within_the_skew_and_the_week_is_kept(client, url, field, shift):
    case_id = field["case_id"]
    taken = (now() + shift).replace(microsecond=0)
    got = post(client, case_id, field["token"],
               {"action": "accept", "taken_at": taken.isoformat()},
               state(url, case_id)["version"])
    assert got.status_code == 200, got.get_json()
    assert event_rows(url, case_id)[-1]["taken_at"] == taken


def test_taken_at_without_an_offset_is_the_towns_local_time_and_garbage_is_422(
        client, url, field):
    case_id = field["case_id"]
    version = state(url, case_id)["version"]
    bad = post(client, case_id, field["token"], {"action": "accept", "taken_at": "昨天下午"},
               version)
    assert bad.status_code == 422 and bad.get_json()["error"] == "invalid_body"
    local = (now() - timedelta(hours=1)).replace(microsecond=0, tzinfo=None)
    got = post(client, case_id, field["token"],
               {"action": "accept", "taken_at": local.isoformat()}, version)
    assert got.status_code == 200
    assert event_rows(url, case_id)[-1]["taken_at"] == local.replace(tzinfo=LOCAL_TZ)


def test_without_taken_at_the_event_has_none(client, url, field):
    act(client, url, field["case_id"], field["token"], "accept")
    assert event_rows(url, field["case_id"])[-1]["taken_at"] is None


def test_a_note_keeps_the_state_moves_the_version_and_needs_text_or_a_photo(
        client, url, field, demo_tokens):
    case_id, token = field["case_id"], field["token"]
    before = state(url, case_id)
    out = act(client, url, case_id, token, "note", note="井盖已用围挡围住")
    assert out["status"] == before["status"] == "dispatched"
    assert out["version"] == before["version"] + 1 and out["event"]["type"] == "note"
    empty = post(client, case_id, token, {"action": "note"}, out["version"])
    assert empty.status_code == 422 and empty.get_json()["error"] == "reason_required"
    assert state(url, case_id)["version"] == out["version"]
    form = {"action": "note", "photos": [(io.BytesIO(PNG), "site.png")]}
    photo = client.post(f"/api/v1/cases/{case_id}/transitions", data=form,
                        content_type="multipart/form-data", headers=auth(token, out["version"]))
    assert photo.status_code == 200, photo.get_json()
    assert len(photo.get_json()["event"]["photo_ids"]) == 1
    # the center may add a note too; the holder's level only while it holds the case
    act(client, url, case_id, demo_tokens["village_operator"], "note", note="村中心已知悉")
    act(client, url, case_id, token, "escalate", note="需村里协调")
    held_above = post(client, case_id, token, {"action": "note", "note": "补充"},
                      state(url, case_id)["version"])
    assert held_above.status_code == 403 and held_above.get_json()["error"] == "outside_scope"
    assert [r["type"] for r in event_rows(url, case_id)][-4:] == ["note", "note", "note",
                                                                  "escalate"]


def test_a_part_whose_name_cannot_be_read_is_422_and_changes_nothing(client, url, field):
    from tests.test_intake_bad_input import unreadable_name_multipart

    case_id, token = field["case_id"], field["token"]
    before = state(url, case_id)
    content_type, data = unreadable_name_multipart({"action": "note", "note": "x"})
    got = client.post(f"/api/v1/cases/{case_id}/transitions", data=data,
                      content_type=content_type, headers=auth(token, before["version"]))
    assert got.status_code == 422 and got.get_json()["error"] == "invalid_body", got.text
    assert state(url, case_id) == before


def test_a_stale_version_is_still_409_stale_version_for_the_phone_to_show(client, url, field,
                                                                           demo_tokens):
    case_id, token = field["case_id"], field["token"]
    version = state(url, case_id)["version"]
    act(client, url, case_id, demo_tokens["village_operator"], "note", note="中心先动了")
    got = keyed(client, case_id, token, {"action": "accept"}, version, str(uuid.uuid4()))
    assert got.status_code == 409 and got.get_json()["error"] == "stale_version"
    assert got.get_json()["details"] == {"status": "dispatched", "version": version + 1}


def test_a_position_in_gcj02_is_stored_in_wgs84(client, url, field):
    leaf = field["leaf"]
    lon, lat = (float(v) for v in wgs84_to_gcj02(leaf["lon"], leaf["lat"]))
    got = post(client, field["case_id"], field["token"],
               {"action": "accept", "position": [lon, lat], "crs": "gcj02"},
               state(url, field["case_id"])["version"])
    assert got.status_code == 200, got.get_json()
    last = event_rows(url, field["case_id"])[-1]
    assert (last["lon"], last["lat"]) == pytest.approx((leaf["lon"], leaf["lat"]), abs=1e-7)


def _send(base: str, case_id: int, token: str, body: dict, version: int,
          key: str) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{base}/api/v1/cases/{case_id}/transitions", method="POST",
        data=json.dumps(body).encode(),
        headers={**auth(token, version), "Content-Type": "application/json",
                 "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=HANG_S) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_replays_of_one_key_apply_once(url, field, gridgov_server, round_):
    server = gridgov_server(url, workers=2)
    case_id, token = field["case_id"], field["token"]
    version = state(url, case_id)["version"]
    key = str(uuid.uuid4())
    n = 8
    barrier = threading.Barrier(n, timeout=HANG_S)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send() -> None:
        barrier.wait()
        got = _send(server.base, case_id, token, {"action": "accept"}, version, key)
        with lock:
            answers.append(got)

    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_S)
    assert sorted(status for status, _ in answers) == [200] + [409] * (n - 1), answers
    won = next(body for status, body in answers if status == 200)
    for status, body in answers:
        if status == 409:
            assert body["error"] == "already_applied", body
            assert body["details"]["event"]["id"] == won["event"]["id"]
    assert state(url, case_id)["version"] == version + 1
    assert [r["type"] for r in event_rows(url, case_id) if r["idempotency_key"] == key] == [
        "accept"]


QUEUE_PER_CASE = ("accept", "note", "request_extension", "note", "feed_back")


def test_an_offline_days_200_queued_actions_sent_at_once_twice_over_apply_once_in_order(
        url, field, app_server):
    """40 cases × 5 actions taken through a day without signal, queued in the order taken;
    two senders (the page and its service worker, say) send the whole queue at once, each in
    order; then the queue is sent once more."""
    leaf, token = field["leaf"], field["token"]
    cases = [field["case_id"]] + [new_case(url, leaf) for _ in range(39)]
    versions = {c: state(url, c)["version"] for c in cases}
    start = now() - timedelta(hours=20)
    queue = []
    for step, action in enumerate(QUEUE_PER_CASE):
        for i, case_id in enumerate(cases):
            body: dict = {"action": action,
                          "taken_at": (start + timedelta(minutes=step * 60 + i)).isoformat()}
            if action == "note":
                body["note"] = f"第{step}次记录"
            if action == "request_extension":
                body.update(note="等待配件", to=2)
            queue.append((case_id, body, versions[case_id] + step, str(uuid.uuid4())))
    assert len(queue) == 200
    server = app_server(url)
    failures: list = []

    def sender() -> None:
        for case_id, body, version, key in queue:
            status, answer = _send(server.base, case_id, token, body, version, key)
            if not (status == 200 or (status == 409 and answer["error"] == "already_applied")):
                failures.append((case_id, body["action"], status, answer))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    replays = [_send(server.base, c, token, b, v, k) for c, b, v, k in queue]
    assert {(s, a["error"]) for s, a in replays} == {(409, "already_applied")}
    keys = [k for _, _, _, k in queue]
    rows = query(url, "SELECT case_id, type, idempotency_key, taken_at FROM case_events "
                      "WHERE idempotency_key = ANY(:keys) ORDER BY id", keys=keys)
    assert sorted(r["idempotency_key"] for r in rows) == sorted(keys)  # each once
    for case_id in cases:
        mine = [r for r in rows if r["case_id"] == case_id]
        assert [r["type"] for r in mine] == list(QUEUE_PER_CASE), case_id
        assert [r["taken_at"] for r in mine] == sorted(r["taken_at"] for r in mine)
        after = state(url, case_id)
        assert (after["status"], after["version"]) == ("fed_back", versions[case_id] + 5)
