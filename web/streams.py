"""The open live streams of one server process, written by one asyncio event loop.

Why: a Server-Sent-Events stream (``GET /api/v1/stream``) never ends. Served like any other
request by gunicorn's gthread workers, each open stream held one of its worker's threads for
as long as the page stayed open: with the defaults (2 workers × 4 threads) eight open operator
maps left nothing for the API (measured: with 10 streams open, 0 of 100 case reports were
answered within 30 s). The town needs about a thousand: the command center's screens, 38
village centers, and the phones of 316 grid workers.

The choice: ordinary requests stay on gthread, which we measured for the intake's latency
(an asynchronous worker class such as gevent would serve streams cheaply too, but it never
preempts: one CPU-bound hot-spot computation or cold tile would stall every request of its
worker, and every library that talks to the database would have to cooperate with its
monkey-patching). An accepted stream's socket is handed instead to one asyncio event loop per
process (``web.serve.StreamingWorker`` does the hand-off), fed by the process's LISTEN hub
(``web.live``). A stream then costs a socket and a small buffer, not a thread. The Flask view
still decides whether to accept a stream and with which headers (a refusal is answered by
gunicorn as any other answer); only the endless body is written here. Under another server
(werkzeug in the tests, ``flask run``) the view streams from a generator as before.

Events are coalesced: what arrives within ``FLUSH_S`` goes to each stream in one write, so
300 cases/s to 1,000 streams cost 4,000 writes a second, not 300,000, for at most ``FLUSH_S``
more delay (bench/stream_bench.py measures what a stream then waits). A client that stops reading is cut off once ``MAX_BUFFERED_BYTES``
wait for it; its browser reconnects by itself (``retry``) and the page refetches what it
shows, so nothing is lost silently.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable

import uvloop

from web.live import HEARTBEAT_S, PREAMBLE, Hub, event_text, heartbeat_text

# WSGI environ keys between the worker and the view: the worker says it can take streams over,
# the view answers with the function that takes the client's socket.
HANDOFF_KEY = "gridgov.stream.handoff"
ACCEPTED_KEY = "gridgov.stream.accepted"

FLUSH_S = 0.25
MAX_BUFFERED_BYTES = 1 << 20
# hop-by-hop headers: the loop writes the body until the connection closes (RFC 9112 §6.3)
_NOT_FORWARDED = {"content-length", "transfer-encoding", "connection", "keep-alive"}
log = logging.getLogger(__name__)

Accepts = Callable[[dict], bool]


def response_head(status: str, headers: list[tuple[str, str]]) -> bytes:
    """The HTTP/1.1 head of a stream answered by the view: its status and headers, without
    a length, and ``Connection: close`` (the body ends when the connection does)."""
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _NOT_FORWARDED]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Stream(asyncio.Protocol):
    """One client's stream: nothing is read from it, events are written to it."""

    def __init__(self, fanout: Fanout, head: bytes, accepts: Accepts | None):
        self.fanout = fanout
        self.head = head
        self.accepts = accepts
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.head + PREAMBLE.encode())
        self.fanout.streams.add(self)

    def data_received(self, data: bytes) -> None:
        pass  # a stream client sends nothing after its request; whatever comes is ignored

    def eof_received(self) -> bool:
        return False  # the client is gone: close

    def connection_lost(self, exc) -> None:
        self.fanout.streams.discard(self)

    def send(self, data: bytes) -> None:
        if self.transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            self.transport.abort()  # stalled: cut off rather than hold memory (see module doc)
            return
        self.transport.write(data)


class Fanout:
    """The streams of one process for one hub (database), and what waits to be sent to them."""

    def __init__(self, hub: Hub, loop: asyncio.AbstractEventLoop):
        self.hub = hub
        self.loop = loop
        self.streams: set[_Stream] = set()
        self._pending: list[dict] = []
        self._pending_lock = threading.Lock()
        self._flush_scheduled = False
        hub.add_listener(self._from_hub)
        loop.call_soon_threadsafe(self._heartbeat)

    def adopt(self, sock: socket.socket, head: bytes, accepts: Accepts | None = None) -> None:
        """Take a client's socket over (any thread): write ``head``, then every event."""
        asyncio.run_coroutine_threadsafe(self._adopt(sock, head, accepts), self.loop)

    async def _adopt(self, sock: socket.socket, head: bytes, accepts: Accepts | None) -> None:
        try:
            await self.loop.connect_accepted_socket(lambda: _Stream(self, head, accepts), sock=sock)
        except OSError as exc:  # the client left during the hand-off
            log.debug("stream client gone before it was adopted: %s", exc)
            sock.close()

    def count(self) -> int:
        return len(self.streams)

    def _from_hub(self, event: dict) -> None:
        # the hub's listener thread. The loop is woken once per flush, not once per event:
        # a wake-up is a pipe write and a turn of the loop, which 300 events/s made a tenth
        # of a core per process
        with self._pending_lock:
            self._pending.append(event)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self.loop.call_soon_threadsafe(self.loop.call_later, FLUSH_S, self._flush)

    def _flush(self) -> None:
        with self._pending_lock:
            events, self._pending = self._pending, []
            self._flush_scheduled = False
        texts = [event_text(e).encode() for e in events]
        everything = b"".join(texts)
        for stream in list(self.streams):
            if stream.accepts is None:
                stream.send(everything)
            else:
                mine = b"".join(t for e, t in zip(events, texts) if stream.accepts(e))
                if mine:
                    stream.send(mine)

    def _heartbeat(self) -> None:
        data = heartbeat_text().encode()
        for stream in list(self.streams):
            stream.send(data)
        self.loop.call_later(HEARTBEAT_S, self._heartbeat)


_loop: asyncio.AbstractEventLoop | None = None
_fanouts: dict[Hub, Fanout] = {}
_lock = threading.Lock()


def _running_loop() -> asyncio.AbstractEventLoop:
    """This process's stream loop, started on first use (after gunicorn has forked).

    uvloop (libuv) rather than asyncio's own loop: its transports write in C, and a thousand
    streams receiving 300 events/s are a thousand writes per flush."""
    global _loop
    if _loop is None:
        loop = uvloop.new_event_loop()
        threading.Thread(target=loop.run_forever, name="gridgov-streams", daemon=True).start()
        _loop = loop
    return _loop


def fanout_for(hub: Hub) -> Fanout:
    """The fan-out of this process for ``hub``'s database (made on first use)."""
    with _lock:
        fanout = _fanouts.get(hub)
        if fanout is None:
            fanout = _fanouts[hub] = Fanout(hub, _running_loop())
        return fanout
