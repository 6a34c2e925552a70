"""The business calendar table (``calendar_days``): national holidays and make-up working
days, seeded from the maintained ``chinese-calendar`` package and corrected by administrators.
The arithmetic over it lives in cases/deadlines.py."""

from __future__ import annotations

from datetime import date

import chinese_calendar
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from cases.deadlines import BusinessCalendar


def seed_calendar(conn: Connection) -> int:
    """Insert every holiday and make-up working day ``chinese-calendar`` knows; rows an
    administrator wrote (or corrected) are left alone. Returns the rows offered."""
    rows = [
        {"day": d, "is_workday": False, "name": name, "source": "chinese_calendar"}
        for d, name in chinese_calendar.holidays.items()
    ] + [
        {"day": d, "is_workday": True, "name": f"{name} (make-up working day)", "source": "chinese_calendar"}
        for d, name in chinese_calendar.workdays.items()
        if d.weekday() >= 5  # the package lists every working day too; keep only 调休
    ]
    conn.execute(
        text(
            "INSERT INTO calendar_days (day, is_workday, name, source) "
            "VALUES (:day, :is_workday, :name, :source) ON CONFLICT (day) DO NOTHING"
        ),
        rows,
    )
    return len(rows)


def load_calendar(session: Session) -> BusinessCalendar:
    """The business calendar as the database has it."""
    rows = session.execute(text("SELECT day, is_workday FROM calendar_days")).all()
    return BusinessCalendar({day: is_workday for day, is_workday in rows})


def set_day(session: Session, day: date, is_workday: bool, name: str | None) -> None:
    """Record (or correct) one day's status, as an administrator."""
    session.execute(
        text(
            "INSERT INTO calendar_days (day, is_workday, name, source) VALUES (:day, :w, :name, 'admin') "
            "ON CONFLICT (day) DO UPDATE SET is_workday = :w, name = :name, source = 'admin'"
        ),
        {"day": day, "w": is_workday, "name": name},
    )
