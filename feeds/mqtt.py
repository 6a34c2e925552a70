"""``gridgov feeds mqtt``: the MQTT subscriber of the monitoring feeds (paho-mqtt).

It subscribes to ``gridgov/feeds/+/events`` with QoS 1 on a persistent session (a fixed client
id, clean_session False), so the broker keeps for it whatever arrives while it is away.

paho's network thread (loop_start) only puts each message in a queue; the main thread takes
them in batches — what has come within BATCH_WAIT_S of the first, up to BATCH_MAX — each batch
in one transaction (feeds/batch.py: a feed at 500 events/s costs a few round trips per batch,
not eight per event), and acknowledges a batch's messages to the broker only after that
transaction committed (paho's manual acks): a subscriber killed in between gets them again,
and the feed's event id makes the second delivery change nothing. The broker sends at most
its ``max_inflight_messages`` unacknowledged (feeds/broker.py), which bounds the queue.

A message that can never be taken (not JSON, an unknown feed or sensor type, a position
outside the town, …) is written to ``feed_rejects`` with its error, logged, and acknowledged:
nothing else is written. While the database is unreachable the batch is retried, not
acknowledged, so nothing is lost then either. A batch that fails in a way we did not foresee
is taken again message by message, so the one message at fault is kept aside as a reject
(``internal_error``) and the others flow.
"""

from __future__ import annotations

import logging
import queue
import re
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cases.deadlines import LOCAL_TZ
from cases.errors import BoundariesChanging
from db.errors import GridgovError
from db.session import engine_for
from feeds import intake, repository, service
from feeds.batch import Message, Outcome, error_code, reject_row, take_batch

log = logging.getLogger("gridgov.feeds.mqtt")

TOPIC_FILTER = "gridgov/feeds/+/events"
TOPIC = re.compile(r"^gridgov/feeds/([^/]+)/events$")
CLIENT_ID = "gridgov-feeds"
RETRY_MAX_S = 5.0
# a batch: the messages that came within BATCH_WAIT_S of its first, at most BATCH_MAX. The wait
# is what an alarm may lose to batching (a sensor repeats its alarm every minute); a batch
# costs about ten round trips whatever its size, the point lookups of its distinct positions
# most, so at 500 events/s a batch of ~250 costs about what a few events did alone. A
# subscriber that falls behind takes bigger batches, which cost less per event. Half a second,
# not a tenth: each batch updates each alarm's case once (its supporters), and every update
# reaches every server's live listener; at 0.1 s the residents' intake p99 beside a 500/s
# feed grew by a median 65 % (bench/feeds_bench.py, 3 runs), at 0.5 s by 34 % (+17, +53, +34)
BATCH_MAX = 500
BATCH_WAIT_S = 0.5
_TRANSIENT = (OperationalError, InterfaceError, BoundariesChanging)
T = TypeVar("T")


def topic(feed: str) -> str:
    """The topic a feed publishes its events on."""
    return f"gridgov/feeds/{feed}/events"


def message_of(topic_name: str, payload: bytes) -> Message:
    """A message with the feed its topic names (the topic itself when it names none)."""
    match = TOPIC.match(topic_name)
    return Message(match.group(1) if match else topic_name, topic_name, bytes(payload))


class Subscriber:
    """Takes the feeds' MQTT messages into the database at ``database_url``."""

    def __init__(self, database_url: str, broker_url: str, client_id: str = CLIENT_ID):
        parts = urlsplit(broker_url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError(f"the broker URL {broker_url!r} must be mqtt://host:port")
        self.host, self.port = parts.hostname, parts.port or 1883
        self._sessions = sessionmaker(engine_for(database_url), expire_on_commit=False)
        self._stopping = False
        # (connection, message) from paho's thread to the main thread
        self._inbox: queue.Queue[tuple[int, paho.MQTTMessage]] = queue.Queue()
        # The connection a message came on: a message id means something only on its own
        # connection (the broker numbers anew after a reconnect, and delivers again what was
        # not acknowledged), so a message of an earlier connection is never acknowledged.
        self._connection = 0
        self._ack_lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("the broker refused the connection: %s", reason_code)
            return
        with self._ack_lock:
            self._connection += 1
        log.info("connected to mqtt://%s:%s (session present: %s)", self.host, self.port,
                 flags.session_present)
        client.subscribe(TOPIC_FILTER, qos=1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._ack_lock:
            self._connection += 1
        if not self._stopping:
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        log.info("subscribed to %s (QoS %s)", TOPIC_FILTER, reason_codes[0].value)

    def _on_message(self, client, userdata, message) -> None:
        self._inbox.put((self._connection, message))  # taken and acknowledged by run()

    # -- taking messages ----------------------------------------------------------------

    def take_many(self, messages: list[Message]) -> list[str]:
        """Take ``messages`` as one batch (feeds/batch.py): each one's outcome (``opened``,
        ``joined``, ``normal``, ``replayed`` or ``rejected``), once committed. Retries while
        the database is unreachable; after an error we did not foresee, takes them one by one
        (:meth:`take`)."""
        try:
            outcomes = self._retrying(lambda: self._take_batch_once(messages))
        except _TRANSIENT:
            raise  # stopping
        except Exception:
            log.exception("a batch of %d messages failed; taking them one by one", len(messages))
            return [self.take(m.topic, m.payload) for m in messages]
        for m, o in zip(messages, outcomes, strict=True):
            if o.status == "rejected":
                log.warning("rejected a message on %s: %s: %s", m.topic, o.error, o.message)
        return [o.status for o in outcomes]

    def _take_batch_once(self, messages: list[Message]) -> list[Outcome]:
        session: Session = self._sessions()
        try:
            outcomes = take_batch(session, messages, "mqtt", datetime.now(LOCAL_TZ))
            session.commit()
            return outcomes
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def take(self, topic_name: str, payload: bytes) -> str:
        """Take one message in a transaction of its own: its outcome (as :meth:`take_many`),
        once it is committed. Retries while the database is unreachable."""
        return self._retrying(lambda: self._take_once(message_of(topic_name, payload)))

    def _retrying(self, attempt: Callable[[], T]) -> T:
        delay = 0.2
        while True:
            try:
                return attempt()
            except _TRANSIENT as exc:
                if self._stopping:
                    raise
                log.warning("cannot take the messages now (%s); retrying in %.1f s",
                            str(exc).splitlines()[0], delay)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _take_once(self, message: Message) -> str:
        now = datetime.now(LOCAL_TZ)
        session: Session = self._sessions()
        try:
            try:
                feed = service.feed(session, message.feed_name)
                result = intake.receive_event(session, feed, message.payload, "mqtt", now)
                session.commit()
                log.debug("%s event %s: %s", message.feed_name, result.external_id, result.status)
                return "replayed" if result.replayed else result.status
            except BoundariesChanging:
                raise  # transient: taken again (take)
            except GridgovError as exc:
                return self._reject(session, message, now, error_code(exc), exc.message)
            except (OperationalError, InterfaceError):
                raise  # the database went away: retried (take)
            except Exception as exc:
                # a message that breaks the intake in a way we did not foresee would break it
                # again at every redelivery: kept aside, so the feeds behind it still flow
                log.exception("could not take a message on %s", message.topic)
                return self._reject(session, message, now, "internal_error",
                                    f"{type(exc).__name__}: the message could not be taken (see the log)")
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _reject(self, session: Session, message: Message, now: datetime, error: str,
                text: str) -> str:
        session.rollback()
        repository.insert_reject(session, {**reject_row(message, error, text), "received_at": now})
        session.commit()
        log.warning("rejected a message on %s: %s: %s", message.topic, error, text)
        return "rejected"

    # -- the loop -------------------------------------------------------------------------

    def _next_batch(self) -> list[tuple[int, paho.MQTTMessage]]:
        """The messages that came within BATCH_WAIT_S of the next one (at most BATCH_MAX), of
        the current connection; [] after a short wait for none."""
        try:
            batch = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(batch) < BATCH_MAX:
            try:
                batch.append(self._inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        # a message of a connection that ended comes again on the new one
        return [(c, m) for c, m in batch if c == self._connection]

    def _take_and_ack(self, batch: list[tuple[int, paho.MQTTMessage]]) -> None:
        self.take_many([message_of(m.topic, m.payload) for _, m in batch])
        with self._ack_lock:  # only now: the batch is committed (or rejected)
            for connection, m in batch:
                if connection == self._connection:
                    self.client.ack(m.mid, m.qos)

    def run(self) -> None:
        """Connect (retrying until the broker answers) and take messages until SIGTERM or
        SIGINT; the batch being taken is finished and acknowledged first."""

        def stop(signum, frame) -> None:
            self._stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()  # paho's network thread: it reconnects by itself
        try:
            while not self._stopping:
                batch = self._next_batch()
                if batch:
                    self._take_and_ack(batch)
        except _TRANSIENT:
            if not self._stopping:
                raise
        finally:
            self.client.disconnect()  # after the acknowledgements queued before it
            self.client.loop_stop()
