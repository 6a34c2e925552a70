"""Live updates: one LISTEN/NOTIFY listener per server process, fanned out to the process's
Server-Sent-Events clients and to its tile cache.

Why LISTEN/NOTIFY: a trigger on ``cases`` (migration 0004) notifies channel ``gridgov_cases``
for every insert and update, whoever made it — the API, the worker page, the CLI, another
server process — so every process hears every change without a broker. Each process runs
its own listener thread (started on first use, after gunicorn has forked), which:

- drops the cached vector tiles around the changed case (tiles.cache.invalidate_point), and
- puts the event on the queue of every SSE client of this process.

The listener reconnects by itself when the database restarts; SSE clients reconnect by
themselves (EventSource) when the server restarts, and the page refetches what it shows.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator

import psycopg

CHANNEL = "gridgov_cases"
HEARTBEAT_S = 15.0
CLIENT_QUEUE_SIZE = 1000
log = logging.getLogger(__name__)


class Hub:
    """The listener of one process for one database, and its subscribers."""

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self._subscribers: set[queue.Queue] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.listening = threading.Event()
        self.received = 0

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="gridgov-listen", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop listening and close the connection (waits for the thread)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=CLIENT_QUEUE_SIZE)
        with self._lock:
            self._subscribers.add(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self._subscribers.discard(q)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._dispatch(note.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("live listener lost the database (%s); retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _dispatch(self, payload: str) -> None:
        self.received += 1
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("ignoring a malformed notification: %r", payload[:200])
            return
        if event.get("lon") is not None and event.get("lat") is not None:
            from tiles import cache as tile_cache

            tile_cache.invalidate_point(float(event["lon"]), float(event["lat"]))
            if event.get("old_lon") is not None:
                tile_cache.invalidate_point(float(event["old_lon"]), float(event["old_lat"]))
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait(event)
            except queue.Full:  # a stalled client loses events rather than stalling us
                pass


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def hub_for(conninfo: str) -> Hub:
    """The running hub of this process for a database (started on first use)."""
    with _hubs_lock:
        hub = _hubs.get(conninfo)
        if hub is None:
            hub = _hubs[conninfo] = Hub(conninfo)
    hub.start()
    return hub


def sse_stream(hub: Hub, q: queue.Queue, heartbeat_s: float = HEARTBEAT_S) -> Iterator[str]:
    """Server-Sent Events for one client: a retry hint, then each event, and a comment line
    as heartbeat so proxies and the browser keep the connection."""
    try:
        yield "retry: 2000\n\n"
        yield ": connected\n\n"
        while True:
            try:
                event = q.get(timeout=heartbeat_s)
            except queue.Empty:
                yield f": heartbeat {int(time.time())}\n\n"
                continue
            yield f"event: case\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
    finally:
        hub.unsubscribe(q)


def stop_hubs() -> None:
    """Stop every listener of this process (tests copy databases, which needs no connection)."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        hub.stop()
