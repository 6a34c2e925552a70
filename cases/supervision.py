"""Supervision (督办): the deadline signals and cards of running clocks, issued once each.

A running clock (cases.models.CaseDeadline) carries the moments its transition computed over
the business calendar: ``soon_at`` (due soon), ``due_at`` (overdue once passed), ``yellow_at``
and ``red_at`` (the cards of DOMAIN.md: not accepted within 1 / 2 working days, not handled
within 5 / 10, kept as data in cases/data/card_rules.csv). A pass compares those moments with
one instant ``at`` and, for each moment passed on a clock that is neither met nor suspended,
issues its signal:

- ``due_soon`` and ``overdue``: an event of type ``deadline`` on the case;
- ``yellow`` and ``red``: an event of type ``card``;

but no ``due_soon`` for a clock already past its due moment when the pass sees it (a pass
after downtime): 即将超期 would be false by then, and ``overdue`` says what is true;

each event's data says ``signal``, ``clock``, ``deadline_id`` (the clock's row) and
``moment``. A signal is issued once per clock: its claim in ``case_event_keys`` (case, clock row,
signal; made by the pass itself, all at once, INSERT … ON CONFLICT DO NOTHING: migration 0075)
makes two passes, two workers or a worker killed mid-pass safe (the pass is one statement:
killed, it leaves nothing; run again, it issues what was left). With each event go its notifications (the case's assignee,
and the level above: cases/notifications.py), and, when the pass commits, one live message
per signal to every open map (web/live.py forwards them as ``event: card``).

The pass is set-based: one INSERT … SELECT over the running clocks found through
``ix_case_deadlines_next``, never a Python loop per case. The background worker (jobs/) runs
one every minute; ``gridgov supervise --at`` runs one by hand, as if the clock read ``at``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from sqlalchemy import text
from sqlalchemy.orm import Session

from cases.deadlines import LOCAL_TZ
from cases.models import SIGNAL_EVENT_TYPES, SIGNALS
from db.driver import driver_connection, driver_sql
from db.statements import named_statements

# Past this many signals in one pass (catching up after downtime), open maps get one "bulk"
# message and refetch, instead of one message per signal.
MAX_LIVE_MESSAGES = 200
# How bad a signal is, for a case's worst one (the map and the case page show it).
SEVERITY = {signal: rank for rank, signal in enumerate(SIGNALS)}


@dataclass
class PassReport:
    """What one pass issued: a row per signal (event_id, case_id, deadline_id, clock, signal,
    moment, status, category_code, lon, lat, grid_code, admin_code), and how many
    notifications went with them."""

    at: datetime
    issued: list[dict[str, Any]] = field(default_factory=list)
    notified: int = 0

    def counts(self) -> dict[str, int]:
        """Signals issued, by signal, in the order of SIGNALS."""
        return {s: n for s in SIGNALS if (n := sum(r["signal"] == s for r in self.issued))}

    def lines(self) -> list[str]:
        """The pass for a person: one line per signal, then a summary."""
        at = self.at.astimezone(LOCAL_TZ).isoformat()
        out = [f"case {r['case_id']}: {r['signal']} ({r['clock']} clock {r['deadline_id']}, "
               f"moment {r['moment'].astimezone(LOCAL_TZ).isoformat()})" for r in self.issued]
        counts = ", ".join(f"{s} {n}" for s, n in self.counts().items())
        out.append(f"supervision pass at {at}: issued {len(self.issued)} signals"
                   + (f" ({counts})" if counts else "") + f", {self.notified} notifications")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The pass as JSON-ready data (``--json``)."""
        return {
            "at": self.at.astimezone(LOCAL_TZ).isoformat(), "notified": self.notified,
            "counts": self.counts(),
            "issued": [{**{k: r[k] for k in ("event_id", "case_id", "deadline_id", "clock",
                                              "signal")},
                        "moment": r["moment"].astimezone(LOCAL_TZ).isoformat()}
                       for r in self.issued],
        }


def _statements() -> dict[str, str]:
    return named_statements("cases", "supervision.sql")


def _sql(name: str):
    return text(_statements()[name])


def supervise(session: Session, at: datetime) -> PassReport:
    """Run one supervision pass as if now were ``at`` (timezone-aware): issue every signal
    due by then that was not issued before, with its notifications and live messages. The
    caller commits (the live messages are sent when it does)."""
    if at.tzinfo is None:
        raise ValueError(f"`at` was {at!r} but must be timezone-aware")
    # on the session's psycopg connection: a catch-up pass answers ~100,000 rows, which
    # SQLAlchemy's result machinery turned into dicts in 0.9 s (db/driver.py says why)
    cursor = driver_connection(session).cursor(row_factory=dict_row)
    rows = cursor.execute(driver_sql(_statements()["issue"]), {"at": at}).fetchall()
    report = PassReport(at=at, issued=rows, notified=rows[0]["notified"] if rows else 0)
    for row in rows:
        del row["notified"]
    if rows:
        session.execute(_sql("announce"), {"payloads": _live_messages(rows, at)})
    return report


def _live_messages(rows: list[dict[str, Any]], at: datetime) -> list[str]:
    """One message per signal for the live hubs, or one ``bulk`` message for many."""
    if len(rows) > MAX_LIVE_MESSAGES:
        return [json.dumps({"op": "bulk", "count": len(rows)})]
    stamp = at.astimezone(LOCAL_TZ).isoformat()
    # grid_code and admin_code: a stream of an account with a scope passes what its scope
    # covers (web/streams.py scope_filter), cards as well as cases
    return [json.dumps({
        "op": "card", "id": r["case_id"], "signal": r["signal"], "clock": r["clock"],
        "status": r["status"], "category_code": r["category_code"], "lon": r["lon"],
        "lat": r["lat"], "grid_code": r["grid_code"], "admin_code": r["admin_code"],
        "updated_at": stamp,
    }, ensure_ascii=False) for r in rows]


def cards(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A case's signals, oldest first, from its events (``case_view``'s history): each with
    signal, clock, deadline_id, the moment it marks and when it was issued. A card given by
    hand (a supervision card on a reopened case) may have no clock, deadline or moment."""
    out = []
    for e in events:
        data = e.get("data") or {}
        if e["type"] in SIGNAL_EVENT_TYPES and data.get("signal") in SEVERITY:
            out.append({"signal": data["signal"], "clock": data.get("clock"),
                        "deadline_id": data.get("deadline_id"), "moment": data.get("moment"),
                        "issued_at": e["at"], "event_id": e["id"]})
    return out


def worst(signals: list[dict[str, Any]]) -> str | None:
    """The worst signal among ``signals`` (red over yellow over overdue over due soon)."""
    return max((s["signal"] for s in signals), key=SEVERITY.__getitem__, default=None)


# -- clocks, as the workflow's transitions write them (cases/workflow.py) ------------------
