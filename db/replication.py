"""WAL positions, for reading from a streaming-replication standby what a client has written.

A position (LSN) is where a record ends in the primary's write-ahead log, written ``"16/B374D848"``.
A standby that has replayed up to a position shows every transaction committed before it.
web/database.py hands a client the primary's position after its write and reads the standby
for it only once the standby has replayed that far; web/live.py drops a change's cached tiles
again once the standby has replayed it.
"""

from __future__ import annotations

import re

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

# Where the primary's WAL stands after the session's last commit. With synchronous_commit on
# (the default), the flush position: the commit is flushed before it returns, and flushed WAL
# is what streams to the standby. With it off the commit may not be flushed yet, so the insert
# position, which is past it; but WAL inserted after the last commit may wait for its page to
# fill before it is flushed and streamed, so on an idle primary the standby may not reach that
# position for a while, and the client's reads go to the primary meanwhile: slower, never stale.
_WRITTEN = ("SELECT CASE WHEN current_setting('synchronous_commit') = 'off' "
            "THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END::text")
# NULL on a server that is not a standby (never one, or promoted): false, read the primary
_REPLAYED_TO = "SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn), false)"
_REPLAYED = "SELECT pg_last_wal_replay_lsn()::text"
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")


def is_lsn(value: str) -> bool:
    """Whether ``value`` is written as a WAL position."""
    return bool(_LSN.match(value))


def lsn_number(lsn: str) -> int:
    """A WAL position as a number, to compare."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def written_lsn(session: Session) -> str:
    """The primary's WAL position after everything committed so far, the session's included."""
    return session.execute(text(_WRITTEN)).scalar_one()


def written_lsn_psycopg(conn: psycopg.Connection) -> str:
    """``written_lsn`` on a psycopg connection (the live listener's)."""
    return conn.execute(_WRITTEN).fetchone()[0]


def replayed_to(session: Session, lsn: str) -> bool:
    """Whether the standby behind ``session`` has replayed up to ``lsn`` (a checked position)."""
    return bool(session.execute(text(_REPLAYED_TO), {"lsn": lsn}).scalar_one())


def replayed_lsn(conn: psycopg.Connection) -> str | None:
    """How far the standby behind ``conn`` has replayed; None when it is no standby."""
    return conn.execute(_REPLAYED).fetchone()[0]
