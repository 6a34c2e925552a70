"""The cases' live notices (``live_events``, migration 0066): how a listener reads them in order,
and how the old ones go. web/live.py's hub reads them in every server process.

Why a table and not NOTIFY: a transaction that notifies holds a lock for the whole cluster from
before its commit until its commit record is flushed, so at hundreds of reports a second every
report's commit waited for the previous one's (migration 0066 has the measurements). A row of
an unlogged table costs the writer an insert, and each listener one query per read.
"""

from __future__ import annotations

import time

import psycopg

# notices older than this are deleted (by every listener, now and then): a listener that lost
# its connection for longer misses what it did not read, as it did with NOTIFY
RETAIN_S = 60.0
# how long a notice id skipped over is looked for again: the transaction that took it may
# commit after later ones did (ids are taken at insert, rows seen at commit), or never
GAP_WAIT_S = 30.0
# a jump of more ids than this is not waited for id by id (a sequence's cache after a crash)
MAX_GAP = 10_000


class Notices:
    """The cases' notices in ``live_events`` (migration 0066) that one listener has not read,
    in the order of their ids.

    Why not simply ``id > last``: an id is taken when the row is inserted, and the row is seen
    when its transaction commits, so with reports committing side by side a notice can appear
    after one with a higher id was read. Each id skipped over is asked for again at every read
    until it appears, or for ``GAP_WAIT_S`` (its transaction rolled back, as a report refused
    after its insert does, or it is still running)."""

    READ = ("SELECT id, payload FROM live_events WHERE id > %(last)s "
            "OR id = ANY(%(gaps)s::bigint[]) ORDER BY id")

    def __init__(self) -> None:
        self.last: int | None = None
        self.gaps: dict[int, float] = {}  # id → when it was first skipped over

    def read(self, conn: psycopg.Connection) -> list[str]:
        """The payloads of the notices committed since the last read; the first read only
        notes where to start: the last id taken, so what was appended before, or is being
        appended now, is not news. (Not the highest id in the table: after a quiet minute the
        old notices are deleted, and every id taken since the last one kept would be waited
        for as skipped over.)"""
        if self.last is None:
            self.last = conn.execute(
                "SELECT coalesce(pg_sequence_last_value('live_events_id_seq'), 0)").fetchone()[0]
            return []
        now = time.monotonic()
        rows = conn.execute(self.READ, {"last": self.last, "gaps": list(self.gaps)}).fetchall()
        payloads = []
        for id_, payload in rows:
            if id_ > self.last:
                if id_ - self.last <= MAX_GAP:
                    for skipped in range(self.last + 1, id_):
                        self.gaps[skipped] = now
                self.last = id_
            else:
                del self.gaps[id_]
            payloads.append(payload)
        if self.gaps:
            self.gaps = {i: t for i, t in self.gaps.items() if now - t < GAP_WAIT_S}
        return payloads


def prune(conn: psycopg.Connection) -> None:
    """Delete the notices older than ``RETAIN_S`` (every listener does, now and then)."""
    conn.execute("DELETE FROM live_events WHERE at < clock_timestamp() - make_interval(secs => %s)",
                 (RETAIN_S,))
