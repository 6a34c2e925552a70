"""The open live streams of one server process, written by a stream process beside it.

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
monkey-patching). The Flask view still decides whether to accept a stream and with which
headers (a refusal is answered by gunicorn as any other answer); only the endless body is
written elsewhere: ``web.serve.StreamingWorker`` passes the accepted client's socket (the file
descriptor itself, over a Unix socket: SCM_RIGHTS) to a **stream process** that the worker
starts beside itself. There one asyncio event loop (uvloop: its transports write in C) holds
every stream, fed by the stream process's own LISTEN hub (``web.live``). A stream then costs a
socket and a small buffer, not a thread.

Why a process and not a thread of the worker: a thousand streams receiving 300 events a second
are a thousand socket writes per flush, and a thread doing them holds the worker's GIL while
the requests wait — measured with the loop as a thread: the intake's p99 at 300/s rose from
16 ms to 44 ms with 1,000 streams open (bench/RESULTS.md). A separate process shares no GIL,
and it runs at the lowest scheduling priority (``_lower_priority``): a case report has 25 ms, a
stream has 2 s, so when the two cores are busy the kernel serves the reports first.
The worker restarts its stream process if it dies; the stream process ends when its worker
does (the Unix socket between them closes), and the browsers reconnect by themselves.

Events are coalesced: what arrives within ``FLUSH_S`` goes to each stream in one write, so
300 cases/s to 1,000 streams cost 4,000 writes a second, not 300,000, for at most ``FLUSH_S``
more delay (bench/stream_bench.py measures what a stream then waits). A client that stops
reading is cut off once ``MAX_BUFFERED_BYTES`` wait for it; its browser reconnects by itself
(``retry``) and the page refetches what it shows, so nothing is lost silently.

Under another server (werkzeug in the tests, ``flask run``) the view streams from a generator
as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

import uvloop

from accounts.actor import Actor
from web.live import HEARTBEAT_S, LISTEN_WAIT_S, PREAMBLE, Hub, event_text, heartbeat_text

# WSGI environ keys between the worker and the view: the worker says it can take streams over,
# the view answers with the function that takes the client's socket.
HANDOFF_KEY = "gridgov.stream.handoff"
ACCEPTED_KEY = "gridgov.stream.accepted"

FLUSH_S = 0.25
MAX_BUFFERED_BYTES = 1 << 20
# the stream process's niceness where SCHED_IDLE is not available (see _lower_priority)
STREAM_NICE = 10
# one hand-off message: the database, the answer's head, the stream's scope (a few hundred bytes)
MESSAGE_BYTES = 1 << 16
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
        if not self.hub.listening.is_set():
            # a stream's ": connected" promises every change from now on: a page that sees it
            # refetches what it shows and then relies on the stream. So not before the hub
            # listens (the first stream of a new stream process would miss what came between)
            await asyncio.to_thread(self.hub.listening.wait, LISTEN_WAIT_S)
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


def scope_filter(scope: dict | None) -> Accepts | None:
    """The events a stream of an account with ``scope`` (an ``Actor``'s scope fields, as the
    view hands them over) may receive; None: every event."""
    if not scope:
        return None
    actor = Actor(role=scope.get("role", ""), name=scope.get("name", ""),
                  scope_kind=scope.get("scope_kind"), scope_code=scope.get("scope_code"),
                  grid_codes=frozenset(scope.get("grid_codes", ())),
                  village_codes=frozenset(scope.get("village_codes", ())))
    if actor.scope_kind == "town":
        return None

    def accepts(event: dict) -> bool:
        # many cases at once (an import, a publish): every page refetches what it shows
        if event.get("op") in ("bulk", "boundaries"):
            return True
        return actor.covers(grid_code=event.get("grid_code") or event.get("admin_code"),
                            department_code=event.get("department_code"))

    return accepts


# -- the worker's side: start the stream process, hand it the accepted sockets ---------------


class StreamProcess:
    """The stream process of one gunicorn worker, and the Unix socket the worker hands
    streams over by (SOCK_SEQPACKET: one ``send`` is one message, whole, from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._channel: socket.socket | None = None

    def start(self) -> None:
        """Start the stream process (again, if it died)."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        if self._channel is not None:
            self._channel.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "web.streams", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._channel = ours

    def hand_off(self, client: socket.socket, head: bytes, conninfo: str,
                 scope: dict | None = None) -> None:
        """Give ``client`` (an accepted stream's socket; closed here) to the stream process,
        which writes ``head`` and then every event of ``conninfo``'s database in ``scope``."""
        message = json.dumps({"conninfo": conninfo, "head": head.decode("latin-1"),
                              "scope": scope}).encode()
        try:
            for attempt in (1, 2):
                with self._lock:
                    self._start_locked()
                    channel = self._channel
                try:
                    socket.send_fds(channel, [message], [client.fileno()])
                    return
                except OSError as exc:  # the stream process died: start another, once
                    if attempt == 2:
                        raise
                    log.warning("stream process gone (%s); starting another", exc)
                    with self._lock:
                        if self._proc is not None:
                            self._proc.poll()
        finally:
            client.close()

    def stop(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()  # the stream process sees the end and exits
                self._channel = None
            if self._proc is not None:
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                self._proc = None


# -- the stream process ------------------------------------------------------------------


def _lower_priority() -> None:
    """Run this process (its threads are started after this, and inherit it) below every
    request: Linux's SCHED_IDLE, which the kernel runs only when no ordinary task wants the
    core, and preempts as soon as one wakes (a nice-10 task is only given a smaller share).
    Trials with 1,000 streams at 300 reports/s (stream_bench, 2 runs of 30 s each, the same
    machine, 2026-12-01): the intake's p99 was 44.6 and 45.4 ms at nice 10, 35.6 and 39.5 ms
    under SCHED_IDLE (those with pg_stat_statements loaded, which costs them, not helps). A
    process may lower its own policy without privileges; where it cannot (not Linux), nice 10.
    The price, as with nice 10 but more so: while requests keep both cores busy without a
    pause, the streams wait; past ``cases.notices.RETAIN_S`` of that, a stream misses the
    notices pruned meanwhile."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(STREAM_NICE)
        except OSError:  # not allowed here either: run at the worker's priority
            pass


def _serve_channel(channel_fd: int) -> None:
    """The stream process: adopt the sockets the worker sends over ``channel_fd`` until the
    worker closes it."""
    _lower_priority()
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    channel = socket.socket(fileno=channel_fd)
    channel.setblocking(False)
    fanouts: dict[str, Fanout] = {}

    def receive() -> None:
        while True:
            try:
                message, fds, _flags, _addr = socket.recv_fds(channel, MESSAGE_BYTES, 1)
            except BlockingIOError:
                return
            except OSError:
                message, fds = b"", []
            if not message:  # the worker is gone: so are we
                for fd in fds:
                    os.close(fd)
                loop.stop()
                return
            spec = json.loads(message)
            client = socket.socket(fileno=fds[0])
            fanout = fanouts.get(spec["conninfo"])
            if fanout is None:
                hub = Hub(spec["conninfo"], invalidates_tiles=False)
                hub.start()
                fanout = fanouts[spec["conninfo"]] = Fanout(hub, loop)
            loop.create_task(fanout._adopt(client, spec["head"].encode("latin-1"),
                                           scope_filter(spec.get("scope"))))

    loop.add_reader(channel.fileno(), receive)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    try:
        loop.run_forever()
    finally:
        for fanout in fanouts.values():
            fanout.hub.stop(timeout_s=1.0)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    _serve_channel(int(sys.argv[1]))
