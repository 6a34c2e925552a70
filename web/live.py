"""Live updates: one listener per server process, fanned out to the process's Server-Sent-Events
clients and to its tile cache.

Every insert and update of a case appends a notice to ``live_events`` (the cases' trigger,
migration 0066), whoever made it — the API, the worker page, the CLI, another server process —
so every process hears every change without a broker. Rarer notices come by NOTIFY on channel
``gridgov_cases``: a publish's, the supervision pass's cards (``op`` ``card``), emergencies',
bulk loads'. Each process runs its own listener thread (started on first use, after gunicorn
has forked), which every ``BATCH_S`` reads the notices appended since it last looked
(cases/notices.py) and those NOTIFY brought, and:

- drops the cached vector tiles around the changed case (tiles.cache.invalidate_point), and
- hands the event to every listener of this process: the stream loop (web/streams.py), which
  writes it to the open streams, or, under a server without it, the queue of each stream.

Why a table and not NOTIFY for the cases: cases/notices.py.

It also listens on ``gridgov_accounts`` (accounts/cache.py): a change to credentials, accounts
or their scopes clears the process's cache of who a token or cookie belongs to; that channel's
notes go to no stream.

The listener reconnects by itself when the database restarts, and reads on from the last
notice it had (those of the last minute are kept); SSE clients reconnect by themselves
(EventSource) when the server restarts, and the page refetches what it shows.

With a read replica (web/database.py), tiles are rendered on the standby, which replays a
change a moment after the primary commits it: a tile rendered there between the notice and
the replay would be cached without the change, and kept until the next change near it. So
the listener notes the primary's WAL position with each batch of notices and drops the same
tiles again once the standby has replayed that far (``_drop_replayed``), checked at every pass
of its loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

import orjson
import psycopg

from accounts import cache as credential_cache
from cases.notices import Notices, prune
from db import replication

CHANNEL = "gridgov_cases"
HEARTBEAT_S = 15.0
CLIENT_QUEUE_SIZE = 1000
RETRY_MS = 2000
# how often the listener reads the notices appended since it last looked, and after a read
# that found none
BATCH_S = 0.05
IDLE_S = 0.25
# the listener's connection, as pg_stat_activity names it
APPLICATION_NAME = "gridgov live listener"
# how often each listener deletes the notices older than cases.notices.RETAIN_S
PRUNE_EVERY_S = 5.0
# batches of notifications waiting for the standby's replay, at most (then every tile is dropped)
MAX_PENDING_REPLAY = 10_000
PREAMBLE = f"retry: {RETRY_MS}\n\n: connected\n\n"
# how long a new stream waits for its hub to listen before it sends PREAMBLE; past it (the
# database is down) the stream opens anyway and the hub's reconnecting listener catches up
LISTEN_WAIT_S = 10.0
log = logging.getLogger(__name__)


class Hub:
    """The listener of one process for one database, and its subscribers."""

    def __init__(self, conninfo: str, invalidates_tiles: bool = True):
        self.conninfo = conninfo
        # a server process drops its cached tiles around each change; the stream process of
        # web/streams.py caches none
        self.invalidates_tiles = invalidates_tiles
        self._listeners: set[Callable[[dict], None]] = set()
        self._queues: dict[queue.Queue, Callable[[dict], None]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.listening = threading.Event()
        self.received = 0
        # counts the connections made: what was cached under an earlier one may have missed a
        # notification while the listener was away (accounts/cache.py)
        self.generation = 0
        # the standby the app renders tiles on (set by hub_for), and the tile invalidations
        # waiting for it to replay: (primary WAL position, events)
        self.replica_conninfo: str | None = None
        self._replayed_pending: list[tuple[int, list[dict]]] = []
        self._replica: psycopg.Connection | None = None

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

    def add_listener(self, listener: Callable[[dict], None]) -> None:
        """Call ``listener(event)`` for every event, on the listener thread: it must not block."""
        with self._lock:
            self._listeners.add(listener)

    def remove_listener(self, listener: Callable[[dict], None]) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def subscribe(self, accepts: Callable[[dict], bool] | None = None) -> queue.Queue:
        """A queue of the events (those ``accepts`` takes, when given), for one stream served
        from a thread (see sse_stream)."""
        q: queue.Queue = queue.Queue(maxsize=CLIENT_QUEUE_SIZE)

        def put(event: dict) -> None:
            if accepts is not None and not accepts(event):
                return
            try:
                q.put_nowait(event)
            except queue.Full:  # a stalled client loses events rather than stalling us
                pass

        with self._lock:
            self._queues[q] = put
        self.add_listener(put)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            put = self._queues.pop(q, None)
        if put is not None:
            self.remove_listener(put)

    def _run(self) -> None:
        backoff = 0.5
        notices = Notices()
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                                     application_name=APPLICATION_NAME) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    conn.execute(f"LISTEN {credential_cache.CHANNEL}")
                    if notices.last is None:
                        notices.read(conn)  # where to read on from (after a reconnect: on)
                    self.generation += 1
                    credential_cache.credential_cache().clear()
                    self.listening.set()
                    backoff = 0.5
                    pruned = time.monotonic()
                    wait = BATCH_S
                    while not self._stop.is_set():
                        # what NOTIFY brings while we wait, then the cases' notices appended
                        # meanwhile: at 300 cases/s the thread takes the GIL 20 times a second,
                        # not 300 times, from the threads serving requests
                        self._drop_replayed()
                        notes = list(conn.notifies(timeout=wait))
                        payloads = notices.read(conn)
                        # idle, look less often: the first notice after a quiet spell waits
                        # at most IDLE_S
                        wait = BATCH_S if payloads or notes else IDLE_S
                        events = []
                        for note in notes:
                            if note.channel == credential_cache.CHANNEL:
                                credential_cache.credential_cache().clear()
                            else:
                                payloads.append(note.payload)
                        for payload in payloads:
                            event = self._dispatch(payload)
                            if event is not None:
                                events.append(event)
                        if events and self.invalidates_tiles and self.replica_conninfo:
                            lsn = replication.written_lsn_psycopg(conn)
                            self._replayed_pending.append((replication.lsn_number(lsn), events))
                            if len(self._replayed_pending) > MAX_PENDING_REPLAY:
                                # the standby has been away long: drop every tile instead
                                self._replayed_pending.clear()
                                self._invalidate_tiles({"op": "boundaries", "bbox": [-180, -90, 180, 90]})
                        if time.monotonic() - pruned >= PRUNE_EVERY_S:
                            prune(conn)
                            pruned = time.monotonic()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("live listener lost the database (%s); retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        if self._replica is not None:
            self._replica.close()
            self._replica = None

    def _dispatch(self, payload: str) -> dict | None:
        self.received += 1
        try:
            event = orjson.loads(payload)
        except ValueError:
            log.warning("ignoring a malformed notification: %r", payload[:200])
            return None
        self._invalidate_tiles(event)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
        return event

    def _drop_replayed(self) -> None:
        """Drop again the tiles of the changes the standby has replayed by now (module doc)."""
        if not self._replayed_pending:
            return
        try:
            if self._replica is None or self._replica.closed:
                self._replica = psycopg.connect(self.replica_conninfo, autocommit=True, connect_timeout=5)
            replayed = replication.replayed_lsn(self._replica)
        except psycopg.Error as exc:  # the standby is away: its tiles are not read either
            log.warning("cannot ask the standby how far it has replayed: %s", exc)
            if self._replica is not None:
                self._replica.close()
            self._replica = None
            return
        if replayed is None:  # not a standby (promoted): nothing more will come from replay
            replayed_at = 1 << 64
        else:
            replayed_at = replication.lsn_number(replayed)
        while self._replayed_pending and self._replayed_pending[0][0] <= replayed_at:
            _, events = self._replayed_pending.pop(0)
            for event in events:
                self._invalidate_tiles(event)

    def _invalidate_tiles(self, event: dict) -> None:
        if self.invalidates_tiles and event.get("op") == "boundaries" and event.get("bbox"):
            # a publish (planning/publish.py): its grids, zones and re-routed cases
            from tiles import cache as tile_cache

            tile_cache.invalidate_bbox(*map(float, event["bbox"]),
                                       layers=("grids", "zones", "cases"))
        elif self.invalidates_tiles and event.get("lon") is not None and event.get("lat") is not None:
            from tiles import cache as tile_cache

            tile_cache.invalidate_point(float(event["lon"]), float(event["lat"]))
            if event.get("old_lon") is not None:
                tile_cache.invalidate_point(float(event["old_lon"]), float(event["old_lat"]))


def event_text(event: dict) -> str:
    """One case event as Server-Sent Events: compact JSON without the fields that are null
    (a thousand streams receive every event: each byte is sent a thousand times). A deadline
    signal or card of the supervision pass (``op`` ``card``, cases/supervision.py) is sent as
    ``event: card``, an emergency's mobilisation or confirmation (``op`` ``emergency``,
    emergencies/) as ``event: emergency``; everything else as ``event: case``."""
    data = orjson.dumps({k: v for k, v in event.items() if v is not None},
                        option=orjson.OPT_NON_STR_KEYS).decode()  # db/driver.py says why orjson
    name = {"card": "card", "emergency": "emergency"}.get(event.get("op"), "case")
    return f"event: {name}\ndata: {data}\n\n"


def heartbeat_text() -> str:
    """A comment line: keeps proxies and the browser from closing an idle stream."""
    return f": heartbeat {int(time.time())}\n\n"


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def hub_for(conninfo: str, replica_conninfo: str | None = None) -> Hub:
    """The running hub of this process for a database (started on first use); with
    ``replica_conninfo``, the standby its tiles are rendered on (module doc)."""
    with _hubs_lock:
        hub = _hubs.get(conninfo)
        if hub is None:
            hub = _hubs[conninfo] = Hub(conninfo)
        if replica_conninfo is not None:
            hub.replica_conninfo = replica_conninfo
    hub.start()
    return hub


def listening_hub(conninfo: str) -> Hub | None:
    """This process's hub for a database when it is connected and listening; None otherwise
    (never starts one)."""
    hub = _hubs.get(conninfo)
    return hub if hub is not None and hub.listening.is_set() else None


def sse_stream(hub: Hub, q: queue.Queue, heartbeat_s: float = HEARTBEAT_S) -> Iterator[str]:
    """Server-Sent Events for one client served from a thread (a server without the stream
    loop of web/streams.py): a retry hint, then each event, and a comment line as heartbeat
    so proxies and the browser keep the connection.

    ": connected" promises every change from then on (a page that sees it refetches what it
    shows and relies on the stream), so it waits until the hub listens, as the stream loop
    does (web/streams.py, ``Fanout._adopt``): a hub started by this request reads where to
    begin when it connects, and a change committed before that would be skipped."""
    try:
        hub.listening.wait(LISTEN_WAIT_S)
        yield PREAMBLE
        while True:
            try:
                event = q.get(timeout=heartbeat_s)
            except queue.Empty:
                yield heartbeat_text()
                continue
            yield event_text(event)
    finally:
        hub.unsubscribe(q)


def stop_hubs() -> None:
    """Stop every listener of this process (tests copy databases, which needs no connection)."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        hub.stop()
