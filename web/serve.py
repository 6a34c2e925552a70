"""``gridgov serve``: the production WSGI server (gunicorn)."""

from __future__ import annotations

import ctypes
import errno
import gc
import os
import resource
import select
import selectors
import socket
import threading
import time
from multiprocessing.sharedctypes import RawArray, RawValue

import click
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi
from gunicorn.workers.gthread import (
    _DEFER, DEFAULT_WORKER_DATA_TIMEOUT, STOP_KEEPALIVE_LINGER, TConn, ThreadWorker,
)

from db.migrate import SchemaOutOfDate, check_schema
from db.session import database_url, engine_for


# Threads per worker process: while one request waits on PostgreSQL, another runs Python.
# Live streams hold none of them (StreamingWorker).
DEFAULT_THREADS = 4
STREAM_PATH = "/api/v1/stream"
# while another worker is due to take the next connection, how soon a worker looks again
BALANCE_POLL_S = 0.01
# how often, at most, a worker tells the arbiter it is alive (a file's mtime: a syscall), and
# looks for connections idle past their keep-alive
NOTIFY_EVERY_S = 0.5
CLOSE_IDLE_EVERY_S = 0.1
# a connection waits in the threads' epoll until it is readable, the one-shot way: its event is
# given to one thread, and to no other until that thread arms it again
_ARMED = select.EPOLLIN | select.EPOLLONESHOT


class ConnectionCounts:
    """How many connections each worker holds, in memory the arbiter makes before it forks the
    workers, so that they take new connections in turns (``StreamingWorker._balance``).

    Why: a keep-alive connection stays with the worker that accepted it. Spread by the kernel
    (SO_REUSEPORT, a hash of the client's address and port), 8 connections landed 4/4 on the
    two workers in 1 of 10 trials, 6/2 or 7/1 in 5 of them (2026-12-02): the worker with six
    served three quarters of the requests, its threads queued on its GIL while the other
    worker idled. Few long-lived connections are the usual case: a reverse proxy's upstream
    pool, the command center's screens. Here a worker listens only while it holds no more
    connections than any other, the least-connections rule of a load balancer.

    A slot per worker (``claim`` in the arbiter before the fork, ``release`` when the worker
    exits): its open connections, or -1 for none. A worker writes only its own slot and reads
    the others' (aligned ints: a read sees a whole value, perhaps a moment old)."""

    SLOTS = 64  # gridgov serve --workers allows at most 64

    def __init__(self) -> None:
        self.counts = RawArray(ctypes.c_int, [-1] * self.SLOTS)
        # every slot ever claimed lies below this: what my_turn reads, not all 64
        self.span = RawValue(ctypes.c_int, 0)

    def claim(self, server, worker) -> None:
        """gunicorn's pre_fork hook: give the new worker a free slot."""
        used = {getattr(w, "slot", None) for w in server.WORKERS.values()}
        worker.slot = next(i for i in range(self.SLOTS) if i not in used)
        worker.connection_counts = self
        self.counts[worker.slot] = 0
        self.span.value = max(self.span.value, worker.slot + 1)

    def release(self, server, worker) -> None:
        """gunicorn's child_exit hook: the worker's slot is free again."""
        slot = getattr(worker, "slot", None)
        if slot is not None:
            self.counts[slot] = -1

    def my_turn(self, slot: int, mine: int) -> bool:
        """Whether the worker in ``slot``, holding ``mine`` connections, should take the next:
        no other worker holds fewer. Its own slot holds ``mine`` (StreamingWorker.nr_conns
        keeps it), which passes the test; the main loop asks after every batch of events, so
        the slots are read as one slice, in C."""
        return all(c < 0 or mine <= c for c in self.counts[:self.span.value])


class StreamingWorker(ThreadWorker):
    """gunicorn's gthread worker, except that a live stream the app accepts is handed to the
    worker's stream process (web/streams.py explains why) instead of holding a thread, that it
    takes new connections only in its turn (ConnectionCounts explains why), and that its
    threads wait for their connections themselves.

    Why the last: gthread's main thread waits for every connection; when one is readable it
    takes it out of its poller and hands it to the thread pool (a queue, a thread woken), and
    when the answer is written the thread hands it back (a queue, a byte through a pipe, the
    main thread woken to put it in its poller again, and to touch the arbiter's heartbeat file):
    three wake-ups and about eight system calls around every request, on top of reading and
    answering it. A trivial WSGI app under gthread cost 0.68–0.75 ms of CPU a request at
    300/s (2026-12-04), a fifth of what a case report costs the server. Here every thread waits
    in one epoll of the worker's connections, each armed one-shot, so that a readable
    connection wakes one thread, which reads the request, answers it and arms the connection
    again: one wake-up and one epoll_ctl a request (the leader/follower pattern). The main
    thread only accepts new connections (in its turn), closes those idle past their keep-alive
    and beats the heartbeat. The request itself is gthread's own (``handle``). Measured
    (bench/http_bench.py, 15 s runs, this worker and gthread's loop alternating, 2026-12-04):
    300 reports/s paced took 0.44 and 0.43 cores of the gunicorn processes against 0.57 and
    0.58 (0.45 ms less a report), p99 8.0 and 6.7 ms against 10.3 and 11.6."""

    slot: int | None = None
    connection_counts: ConnectionCounts | None = None
    _listening = False
    _nr_conns = 0

    @property
    def nr_conns(self) -> int:
        return self._nr_conns

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        # gunicorn counts a connection out before it closes the socket: the other workers see
        # the count change before the client sees the close
        self._nr_conns = value
        if self.connection_counts is not None:
            self.connection_counts.counts[self.slot] = value

    def set_accept_enabled(self, enabled: bool) -> None:
        # gunicorn's wish (room for more connections, not stopping); whether the worker listens
        # depends on its turn too
        self._accepting = enabled
        self._balance()

    def _balance(self) -> bool:
        """Listen on the server's socket while gunicorn wishes to and it is this worker's turn;
        whether it listens."""
        listen = self._accepting and (
            self.connection_counts is None
            or self.connection_counts.my_turn(self.slot, self.nr_conns))
        if listen == self._listening:
            return listen
        for listener in self.sockets:
            if listen:
                listener.setblocking(False)
                self.poller.register(listener, selectors.EVENT_READ, self.accept)
            else:
                self.poller.unregister(listener)
        self._listening = listen
        return listen

    def accept(self, listener) -> None:
        # Every listening worker is woken by a new connection; only the one whose turn it is
        # now takes it (the others' connections may have ended since it last looked), the
        # others leave it and stop listening until their turn.
        if not self._balance():
            return
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, client, address, listener.getsockname())
        # a new connection may take a moment to send its request (gthread waits 5 s in a
        # thread, then as long as a kept-alive one)
        conn.timeout = time.monotonic() + DEFAULT_WORKER_DATA_TIMEOUT + self.cfg.keepalive
        fd = conn.sock.fileno()
        with self._lock:
            self.nr_conns += 1
            self._conns[fd] = conn
            self._idle[fd] = conn
            self._epoll.register(fd, _ARMED)

    # -- the threads' epoll (see the class's doc)

    def _arm(self, fd: int, conn) -> None:
        """Wait for ``conn``'s next request (with self._lock held): idle, armed one-shot
        again (registered in the epoll since it was accepted)."""
        self._idle[fd] = conn
        self._epoll.modify(fd, _ARMED)

    def _forget(self, fd: int, conn) -> None:
        """``conn`` (on ``fd``) out of the worker's books and its epoll (with self._lock held),
        before its socket closes or leaves for the stream process. Once it has, a new
        connection may have its number: that one is left alone."""
        if self._conns.get(fd) is not conn:
            return
        del self._conns[fd]
        self.nr_conns -= 1
        self._idle.pop(fd, None)
        try:
            self._epoll.unregister(fd)
        except OSError:  # closed already (gthread closes a socket on some errors): out by itself
            pass

    def _serve(self) -> None:
        """A serving thread: wait for a readable connection, answer it, arm it again."""
        while True:
            try:
                events = self._epoll.poll(-1, 1)
            except OSError:  # the epoll closed: the worker is done
                return
            for fd, _ in events:
                if fd == self._wake[0]:
                    return  # level-triggered: it wakes every thread
                with self._lock:
                    # gone meanwhile (closed as idle past its keep-alive)
                    conn = self._idle.pop(fd, None)
                if conn is not None:
                    self._answer(fd, conn)

    def _answer(self, fd: int, conn) -> None:
        try:
            while True:
                result = self.handle(conn)
                if result is _DEFER:  # a new connection that has sent nothing in 5 s
                    conn.timeout = time.monotonic() + self.cfg.keepalive
                    break
                if not result:
                    with self._lock:
                        self._forget(fd, conn)
                    conn.close(graceful=True)
                    return
                if not conn.parser.unreader.buf.getvalue():
                    conn.set_timeout()
                    if not self.alive:
                        conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
                    break
                # the client's next request came with the last one's bytes: the socket will
                # not be readable for it
            with self._lock:
                self._arm(fd, conn)
        except Exception:
            with self._lock:
                self._forget(fd, conn)
            conn.close()

    def _close_idle(self, force: bool = False) -> None:
        """Close the connections idle past their keep-alive (every one, ``force``). The main
        loop comes here up to a hundred times a second (BALANCE_POLL_S), and the idle ones are
        in no order of their timeouts (a new connection's is longer): they are looked through
        every CLOSE_IDLE_EVERY_S only."""
        now = time.monotonic()
        if not force and now - self._idle_checked < CLOSE_IDLE_EVERY_S:
            return
        self._idle_checked = now
        with self._lock:
            expired = [(fd, c) for fd, c in self._idle.items() if force or c.timeout <= now]
            for fd, conn in expired:
                self._forget(fd, conn)
        for _, conn in expired:
            conn.close()

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # the main loop comes here after every batch of events: the turn is looked at again
        self._balance()
        if self._accepting and not self._listening:
            # another worker's turn: its count may change without waking this one
            timeout = min(timeout, BALANCE_POLL_S)
        super().wait_for_and_dispatch_events(timeout)

    def notify(self) -> None:
        now = time.monotonic()
        if now - self._notified >= NOTIFY_EVERY_S:
            self._notified = now
            super().notify()

    def run(self) -> None:
        self._lock = threading.Lock()
        self._epoll = select.epoll()
        self._conns: dict[int, TConn] = {}
        self._idle: dict[int, TConn] = {}
        self._notified = self._idle_checked = 0.0
        # gthread's handle_request answers "Connection: close" past this many idle connections
        self.keepalived_conns = self._idle
        self._wake = os.pipe()
        self._epoll.register(self._wake[0], select.EPOLLIN)
        threads = [threading.Thread(target=self._serve, name=f"gridgov-serve-{i}", daemon=True)
                   for i in range(self.cfg.threads)]
        for thread in threads:
            thread.start()
        # the main thread's poller: the listening socket (in turn) and gthread's wake-up pipe
        # (a signal to stop)
        self.poller.register(self.method_queue.fileno(), selectors.EVENT_READ,
                             self.method_queue.run_callbacks)
        self.set_accept_enabled(True)
        while self.alive:
            self.notify()
            can_accept = self.nr_conns < self.worker_connections
            if can_accept != self._accepting:
                self.set_accept_enabled(can_accept)
            self.wait_for_and_dispatch_events(timeout=1.0)
            if not self.is_parent_alive():
                break
            self._close_idle()
        # stopping: no new connections; an idle one may still bring a request it was sending
        # (answered "Connection: close") for a moment; the busy ones finish within the grace
        self.set_accept_enabled(False)
        linger = time.monotonic() + STOP_KEEPALIVE_LINGER
        with self._lock:
            for conn in self._idle.values():
                conn.timeout = min(conn.timeout, linger)
        grace = time.monotonic() + self.cfg.graceful_timeout
        while self.nr_conns > 0 and time.monotonic() < grace:
            self.notify()
            time.sleep(0.05)
            self._close_idle()
        self._close_idle(force=True)
        os.write(self._wake[1], b"x")
        for thread in threads:
            thread.join(1.0)
        self._epoll.close()
        self.poller.close()
        self.method_queue.close()
        for listener in self.sockets:
            listener.close()

    def init_process(self) -> None:
        # every open stream is a socket: allow as many as the hard limit does (the stream
        # process inherits the limit)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        from web.streams import StreamProcess

        # started now, while this process has one thread (web/streams.py)
        self.stream_process = StreamProcess()
        self.stream_process.start()
        try:
            super().init_process()  # serves until the worker stops
        finally:
            self.stream_process.stop()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        # The process's live listener from the start, not from its first map or stream: the
        # credential cache (web/auth.py) answers only while it listens, so until then every
        # request with a token or a cookie looked its account up in the database.
        from web import database
        from web.live import hub_for

        with self.wsgi.app_context():
            hub_for(database.listen_conninfo(), database.replica_conninfo())
        # Everything the app imported (Flask, SQLAlchemy, pandas, shapely, pyproj, …: 180,000
        # objects) lives as long as the process. Left to the collector, each full collection
        # walks them all, 110 ms with the GIL held on a 2.1 GHz core: every request of the
        # worker waits, the spikes of the intake's p99 at 300/s (measured: 41–117 ms in some
        # 10 s runs, 16–27 ms in others). Frozen, a full collection walks only what requests
        # made since: 0.2–0.5 ms.
        gc.collect()
        gc.freeze()

    def handle_request(self, req, conn):
        if req.method != "GET" or req.path != STREAM_PATH:
            return super().handle_request(req, conn)
        from web.streams import ACCEPTED_KEY, HANDOFF_KEY, response_head

        resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, self.cfg)
        environ["wsgi.multithread"] = True
        environ[HANDOFF_KEY] = True
        answer: dict = {}

        def start_response(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)
            return resp.write

        body = self.wsgi(environ, start_response)
        accepted = environ.get(ACCEPTED_KEY)
        if accepted is None or not answer["status"].startswith("200"):
            # not taken over (refused, an error): the app's answer, written as gunicorn would
            try:
                resp.start_response(answer["status"], answer["headers"])
                for chunk in body:
                    resp.write(chunk)
                resp.close()
            finally:
                if hasattr(body, "close"):
                    body.close()
            return not resp.should_close()
        if hasattr(body, "close"):
            body.close()  # the request's teardown runs; the stream lives on in the loop
        client = conn.sock
        with self._lock:  # the stream process serves it from now on
            self._forget(client.fileno(), conn)
        # gunicorn closes conn.sock when this returns: give it a socket of its own to close
        conn.sock = socket.socket(client.family, socket.SOCK_STREAM)
        self.stream_process.hand_off(client, response_head(answer["status"], answer["headers"]),
                                     **accepted)
        return False


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict:
    """gunicorn's settings for ``gridgov serve``."""
    counts = ConnectionCounts()
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": StreamingWorker,
        "threads": threads,
        # One socket, made by the arbiter and shared by the workers, each listening on it only
        # in its turn (ConnectionCounts). Left to themselves on a shared socket, the worker
        # that wakes first took every connection (measured with 8 wrk connections: one worker
        # at 0.7 cores, one at 0); each on a socket of its own (SO_REUSEPORT), the kernel
        # spread them by a hash, 6/2 or 7/1 as often as not.
        "reuse_port": False,
        "pre_fork": counts.claim,
        "child_exit": counts.release,
        "timeout": 120,
        # live-map streams never end by themselves: don't wait 30 s for them on a restart
        "graceful_timeout": 3,
        "accesslog": None,
        "loglevel": "warning",
    }


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on, saying so at once (gunicorn would try to
    bind it for five seconds, then exit with a message of its own)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


class _Server(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from web import create_app

        return create_app()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=click.IntRange(1, 256),
              help="threads per worker for ordinary requests (live streams hold none)")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve gridgov with gunicorn; refuses to start on an out-of-date schema.

    \b
    Example:
      gridgov serve --port 8000 --workers 2
    """
    engine = engine_for(database_url())
    try:
        check_schema(engine)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        # gunicorn forks the workers next: they must not share this pooled connection
        engine.dispose()
    _check_port_free(host, port)
    click.echo(f"gridgov serving on http://{host}:{port}/ with {workers} workers")
    _Server(gunicorn_options(host, port, workers, threads)).run()
