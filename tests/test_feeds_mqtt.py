"""Monitoring feeds over MQTT (issue 12, item 2): a broker of our own on a free port (Debian's
mosquitto, started by feeds/broker.py with a generated configuration; never the machine's own
on 1883), ``gridgov feeds mqtt`` as a real process, and a paho-mqtt publisher standing for the
sensors. A message becomes a case; a message that is not JSON is rejected with nothing
written; and across a restart of the broker (and of the subscriber) nothing the broker accepted
is lost, nor taken twice."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from itertools import count

import paho.mqtt.client as paho
import pytest

from cases import intake as case_intake
from db.session import session_scope
from feeds import service
from feeds.broker import Broker
from feeds.mapping import read_mapping
from feeds.mqtt import topic
from tests.servers import GRIDGOV, ServeProcess, stop_server
from tests.test_intake_api import query
from tests.waits import wait_for

_ids = count(1)


@pytest.fixture
def feed_url(demo_copy_url):
    case_intake.clear_caches()
    with session_scope(demo_copy_url) as s:
        service.add_feed(s, "river", read_mapping("feeds/data/water_level.toml"))
    return demo_copy_url


@pytest.fixture
def broker(tmp_path):
    """A broker of this test's own, on a free port."""
    b = Broker(tmp_path / "mqtt")
    b.start()
    yield b
    b.destroy()  # its directory may be a link to /var/lib/gridgov (feeds/broker.py)


def start_subscriber(database_url: str, broker_url: str) -> ServeProcess:
    """``gridgov feeds mqtt`` in its own process group (stop_server kills it, as a crash would)."""
    log = tempfile.TemporaryFile(prefix="gridgov-feeds-mqtt-")  # noqa: SIM115  (closed by stop_server)
    proc = subprocess.Popen(
        [str(GRIDGOV), "feeds", "mqtt", "--broker", broker_url],
        env={**os.environ, "GRIDGOV_DATABASE_URL": database_url},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return ServeProcess(proc, 0, log)


@pytest.fixture
def subscriber(feed_url, broker):
    started: list[ServeProcess] = []

    def start() -> ServeProcess:
        """Start one and return once it has subscribed (a message published before its first
        subscription has no session to wait in)."""
        started.append(start_subscriber(feed_url, broker.url()))
        wait_for(lambda: "subscribed to gridgov/feeds/+/events" in started[-1].log_tail(100_000)
                 or started[-1].proc.poll() is not None, "the subscriber subscribed")
        assert started[-1].proc.poll() is None, started[-1].log_tail()
        return started[-1]

    yield start
    for s in started:
        stop_server(s)


class Publisher:
    """A sensor gateway: publishes QoS 1 and knows which messages the broker acknowledged
    (PUBACK). paho keeps what it could not send and sends it when it is connected again."""

    def __init__(self, port: int):
        self.acked: set[int] = set()
        self._lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"sensor-{next(_ids)}")
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_for(self.client.is_connected, "the publisher connected")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self.acked.add(mid)

    def publish(self, feed: str, payload: bytes) -> int:
        return self.client.publish(topic(feed), payload, qos=1).mid

    def wait_acked(self, mids: list[int]) -> None:
        wait_for(lambda: set(mids) <= self.acked, f"the broker acknowledged {len(mids)} messages")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker):
    made: list[Publisher] = []

    def make() -> Publisher:
        made.append(Publisher(broker.port))
        return made[-1]

    yield make
    for p in made:
        p.close()


def spot(url: str) -> dict:
    return query(url, """
        SELECT ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat
          FROM grids g
         WHERE g.level IN ('regional', 'service') AND g.valid_to IS NULL
           AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.category_code = 'hazard.flood'
                              AND ST_DWithin(c.geom::geography, ST_PointOnSurface(g.geom)::geography, 300))
         ORDER BY g.code LIMIT 1""")[0]


def event(where: dict, **fields) -> bytes:
    body = {"id": f"M-{next(_ids)}", "sensor_type": "water_level", "sensor_id": "WL-01",
            "value": 3.8, "location": {"lon": where["lon"], "lat": where["lat"]}}
    body.update(fields)
    return json.dumps(body).encode()


def events_of(url: str) -> list[dict]:
    return query(url, "SELECT external_id, status, case_id, via FROM feed_events ORDER BY id")


def counts(url: str) -> dict:
    return query(url, """SELECT (SELECT count(*) FROM cases) AS cases,
                                (SELECT count(*) FROM feed_events) AS events""")[0]


def test_the_broker_is_ours_on_a_free_port_not_1883(broker):
    assert broker.running() and broker.port != 1883
    assert f"listener {broker.port} 127.0.0.1" in broker.config_file.read_text()


def test_a_message_becomes_a_case(feed_url, subscriber, publisher):
    subscriber()
    where = spot(feed_url)
    sensor = publisher()
    sensor.wait_acked([sensor.publish("river", event(where, id="WL-01-0001"))])
    wait_for(lambda: len(events_of(feed_url)) == 1, "the event taken")
    taken = events_of(feed_url)[0]
    assert taken["external_id"] == "WL-01-0001" and taken["status"] == "opened" and taken["via"] == "mqtt"
    case = query(feed_url, "SELECT channel, category_code, grid_code FROM cases WHERE id = :id",
                 id=taken["case_id"])[0]
    assert case == {"channel": "sensor", "category_code": "hazard.flood", "grid_code": case["grid_code"]}
    assert case["grid_code"] is not None


@pytest.mark.parametrize("payload, feed, error", [
    (b"water level high!", "river", "malformed_event"),
    (b"\xff\xfe\x00", "river", "malformed_event"),
    (None, "nobody", "unknown_feed"),
    ("radiation", "river", "unknown_sensor_type"),
    ("beijing", "river", "outside_coverage"),
])
def test_a_message_that_cannot_be_taken_is_rejected_and_nothing_written(
        feed_url, subscriber, publisher, payload, feed, error):
    subscriber()
    where = spot(feed_url)
    before = counts(feed_url)
    if payload is None:
        payload = event(where)
    elif payload == "radiation":
        payload = event(where, sensor_type="radiation")
    elif payload == "beijing":
        payload = event({"lon": 116.39, "lat": 39.91})
    sensor = publisher()
    sensor.wait_acked([sensor.publish(feed, payload)])
    wait_for(lambda: query(feed_url, "SELECT count(*) AS n FROM feed_rejects")[0]["n"] == 1,
             "the message rejected")
    rejected = query(feed_url, "SELECT feed_name, topic, error, message, payload FROM feed_rejects")[0]
    assert rejected["error"] == error and rejected["message"]
    assert rejected["feed_name"] == feed and rejected["topic"] == topic(feed)
    assert bytes(rejected["payload"]) == payload
    # the subscriber goes on: the next good message is taken, and nothing else was written
    sensor.wait_acked([sensor.publish("river", event(where, id="after-the-reject"))])
    wait_for(lambda: counts(feed_url)["events"] == before["events"] + 1, "the next message taken")
    assert counts(feed_url) == {"cases": before["cases"] + 1, "events": before["events"] + 1}


def test_nothing_the_broker_accepted_is_lost_across_its_restart(feed_url, broker, subscriber, publisher):
    where = spot(feed_url)
    first = subscriber()
    sensor = publisher()
    sent: list[str] = []

    def burst(n: int) -> list[int]:
        mids = []
        for _ in range(n):
            ident = f"R-{next(_ids)}"
            sent.append(ident)
            mids.append(sensor.publish("river", event(where, id=ident, value=3.6 + len(sent) / 1000)))
        return mids

    # 1. flowing: the subscriber takes them as they come
    sensor.wait_acked(burst(30))
    # 2. the subscriber dies: the broker keeps the next ones for its persistent session
    wait_for(lambda: len(events_of(feed_url)) >= 5, "the first events taken")
    stop_server(first)
    sensor.wait_acked(burst(30))
    # 3. the broker restarts (a clean stop saves sessions and queued messages) while the sensor
    #    keeps sending: what it sends meanwhile paho holds and sends once it is connected again
    broker.stop()
    pending = burst(20)
    broker.start()
    sensor.wait_acked(pending + burst(20))
    # 4. the subscriber comes back and finds its session
    subscriber()
    wait_for(lambda: len(events_of(feed_url)) >= len(sent), "every accepted message taken")
    taken = events_of(feed_url)
    assert sorted(e["external_id"] for e in taken) == sorted(sent)  # none lost, none twice
    # one sensor repeating: one case, every other alarm one more supporter
    assert [e["status"] for e in taken].count("opened") == 1
    case_id = taken[0]["case_id"]
    assert {e["case_id"] for e in taken} == {case_id}
    assert query(feed_url, "SELECT supporters FROM cases WHERE id = :id", id=case_id)[0]["supporters"] == len(sent) - 1
