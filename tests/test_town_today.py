"""Who is on duty today is decided by the town's date (Asia/Shanghai), whatever time zone the
database server or its sessions keep (migration 0036, ``town_today()``).

The two zones below are 25 hours apart, so at any moment at least one of them has a date
other than Beijing's: with ``current_date`` (the session's date), one of the two runs fails.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from accounts import service
from db.session import conninfo, engine_for, session_scope
from tests.accounts_support import token_for
from tests.test_intake_api import query

ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago")  # UTC+14 and UTC−11


def beijing_today():
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def in_zone(url: str, zone: str) -> None:
    """Every new session of the database in ``zone`` (the app's pooled ones dropped)."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {conn.info.dbname} SET timezone = '{zone}'")
    engine_for(url).dispose()


@pytest.mark.parametrize("zone", ZONES)
def test_town_today_is_beijings_date_in_any_session_time_zone(demo_copy_url, zone):
    in_zone(demo_copy_url, zone)
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        assert conn.execute("SHOW timezone").fetchone()[0] == zone
        assert conn.execute("SELECT town_today()").fetchone()[0] == beijing_today()


@pytest.mark.parametrize("zone", ZONES)
def test_an_assignment_starting_or_ending_today_counts_today(demo_copy_url, zone):
    grids = [r["grid_code"] for r in query(demo_copy_url, """
        SELECT ga.grid_code FROM grid_assignments ga JOIN accounts a ON a.person_id = ga.person_id
         WHERE a.name = 'grid_worker_1' ORDER BY ga.grid_code""")]
    assert len(grids) >= 2, grids
    starts, ends = grids[0], grids[1]
    today = beijing_today()
    with psycopg.connect(conninfo(demo_copy_url), autocommit=True) as conn:
        conn.execute("UPDATE grid_assignments SET since = %s WHERE grid_code = %s AND person_id = "
                     "(SELECT person_id FROM accounts WHERE name = 'grid_worker_1')", (today, starts))
        conn.execute("UPDATE grid_assignments SET until = %s WHERE grid_code = %s AND person_id = "
                     "(SELECT person_id FROM accounts WHERE name = 'grid_worker_1')", (today, ends))
    token = token_for(demo_copy_url, "grid_worker_1")
    in_zone(demo_copy_url, zone)
    with session_scope(demo_copy_url) as session:
        actor = service.actor_for_token(session, token)
    assert {starts, ends} <= set(actor.grid_codes)
