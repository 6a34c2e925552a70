"""db/driver.py: the array literal the intake binds as text reads back in PostgreSQL as the
very values, whatever the strings hold."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from db.driver import array_literal
from db.session import conninfo

AWKWARD = ["accept", 'say "hi"', "back\\slash", "a,b", "{braces}", " spaced ", "", "NULL",
           "网格员", None]
BEIJING = timezone(timedelta(hours=8))


def test_an_array_literal_reads_back_as_the_values(empty_db_url):
    moments = [datetime(2026, 12, 2, 8, 0, 0, 123456, tzinfo=BEIJING), None,
               datetime(2026, 1, 1, tzinfo=timezone.utc)]
    with psycopg.connect(conninfo(empty_db_url)) as conn:
        texts, times, empty = conn.execute(
            "SELECT CAST(%s AS text[]), CAST(%s AS timestamptz[]), CAST(%s AS text[])",
            (array_literal(AWKWARD), array_literal(moments), array_literal([]))).fetchone()
    assert texts == AWKWARD
    assert times == moments  # the same instants (psycopg reads them in the session's zone)
    assert empty == []
