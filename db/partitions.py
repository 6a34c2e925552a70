"""The month partitions of cases and case_events (migration 0060), made ahead of the calendar.

A row whose month has no partition lands in the table's DEFAULT partition, so an insert never
fails; but the default is one unpruned table, and a month cannot be made once rows of it wait
there (``gridgov_make_month_partitions`` then leaves it, with a warning). So the background
worker makes the coming months early (jobs/app.py ``gridgov.make_partitions``, daily), the
migration made the months of the data it found and MONTHS_AHEAD more, and a bulk load of past
cases (the demo, a town's history) makes the months it is about to fill (``cover``).

The same daily task moves the recent months (migration 0074, ``move_recent_months``): the
months the intake's lookups of recent cases name while they are planned.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

PARTITIONED = ("cases", "case_events")
MONTHS_AHEAD = 3
# Making a partition locks its parent (ACCESS EXCLUSIVE) for a moment; behind a long query it
# would queue every intake behind itself. Give up instead: the next run makes it.
LOCK_TIMEOUT = "2s"


def make_partitions(session: Session, today: date, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make this month's partitions and ``months_ahead`` more, of every partitioned table, when
    missing (in the session's transaction). Returns the names made."""
    if months_ahead < 0:
        raise ValueError(f"months_ahead is {months_ahead} but must be 0 or more")
    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    made: list[str] = []
    for table in PARTITIONED:
        made += session.execute(
            text("SELECT gridgov_make_month_partitions(CAST(:t AS regclass), :first, :n)"),
            {"t": table, "first": today.replace(day=1), "n": months_ahead + 1},
        ).scalars()
    return made


def move_recent_months(session: Session) -> bool:
    """Set the recent months (the previous one, this one and the next, by the database's
    clock) when the month has changed since they were set (in the session's transaction):
    every plan made with the old ones is then made again. Whether they moved."""
    return bool(session.execute(text("SELECT gridgov_recent_months_set()")).scalar_one())


def cover(conn, first_day: date, last_day: date) -> list[str]:
    """Make the partitions of every month from ``first_day``'s to ``last_day``'s, when missing,
    on a psycopg connection (a bulk loader's, in its transaction). Returns the names made."""
    months = (last_day.year - first_day.year) * 12 + last_day.month - first_day.month + 1
    unpartitioned = conn.execute(
        "SELECT to_regprocedure('gridgov_make_month_partitions(regclass, date, integer)') IS NULL"
    ).fetchone()[0]
    if months < 1 or unpartitioned:  # a schema before migration 0060 (tests of the migration)
        return []
    return [r[0] for table in PARTITIONED for r in conn.execute(
        "SELECT gridgov_make_month_partitions(CAST(%s AS regclass), %s, CAST(%s AS integer))",
        (table, first_day.replace(day=1), months))]


def month_partitions(session: Session, table: str) -> list[str]:
    """The names of ``table``'s partitions, its DEFAULT one included, in name order."""
    if table not in PARTITIONED:
        raise ValueError(f"{table!r} is not one of the partitioned tables {PARTITIONED}")
    return list(session.execute(text(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = CAST(:t AS regclass) "
        "ORDER BY 1"), {"t": table}).scalars())
