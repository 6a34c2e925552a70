"""Case categories and cases.

The categories are data (``cases/data/categories.csv``, loaded into ``categories``): the
regional-grid and service-grid checklists of DOMAIN.md as the top level, subcategories below,
each with its time limit as a value and a unit.

A case's ``status`` is one of the workflow states below, taken from the seven steps of
DOMAIN.md (collect → file → dispatch → handle → report back → check and close → evaluate)
with the side paths escalate (to the town center), return, park and void.
"""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Computed, Date, DateTime, Float, Index, Integer,
    LargeBinary, String, Text, func, text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DOMAIN, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base

STATES = (
    "collected",  # 信息收集: reported, not yet verified
    "filed",  # 案卷建立: verified and filed
    "dispatched",  # 任务派遣: sent to a person; the clock runs
    "handling",  # 任务处理
    "escalated",  # sent up to a center: from the grid to the village, from the village to the town
    "fed_back",  # 处理反馈: the handler reported back
    "closed",  # 核查结案: checked on site and closed
    "evaluated",  # 综合评价: the residents rated the result
    "returned",  # 回退: a wrongly dispatched case sent back to the center that sent it
    "parked",  # 挂账: seasonal or engineering work, deadline suspended
    "voided",  # 作废: duplicate or invalid
)
CLOSED_STATES = ("closed", "evaluated", "voided")
# "open" as the partial indexes on cases state it (migrations 0004, 0005)
OPEN_PREDICATE = "status NOT IN (" + ", ".join(f"'{s}'" for s in CLOSED_STATES) + ")"
CHANNELS = ("patrol", "resident", "hotline", "app", "sensor", "referral")
SATISFACTION = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied")
LIMIT_UNITS = ("urgent_hours", "working_hours", "working_days", "calendar_days")
# How precisely the case's position is known, and so how far down it may be routed
# (cases/routing.py): door and street to the leaf grid, village to the administrative grid,
# town to the town center's queue. A position given as coordinates is ``point``.
PRECISIONS = ("point", "door", "street", "village", "town")
# Where a case sits (its holder level, cases/workflow.py): a leaf grid's worker, a village
# center, the town center, or one of the town's departments (``department_code``).
QUEUES = ("grid", "village", "town", "department")
# A probable duplicate (issue 9): a case of the same category this close in space and time to
# an open one. The numbers are written into the function insert_case as well (migration
# 0070, the intake's insert): changing them is a migration replacing it.
DUPLICATE_RADIUS_M = 50
DUPLICATE_WINDOW_H = 24


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _checked(name: str, length: int, values: tuple[str, ...]) -> DOMAIN:
    """A varchar(``length``) that is one of ``values`` (or NULL): the domain ``name`` (migration
    0076). PostgreSQL reads a table's CHECK constraints back from their stored text for every
    INSERT or UPDATE statement, which cost an intake 0.26 M of its 3.83 M instructions
    (bench/intake_instructions.py); a domain's check is kept prepared once per connection."""
    return DOMAIN(name, String(length), create_type=False,
                  check=f"VALUE::text = ANY ('{{{','.join(values)}}}'::text[])")


CASE_STATUS = _checked("gridgov_case_status", 20, STATES)
CASE_CHANNEL = _checked("gridgov_case_channel", 20, CHANNELS)
SATISFACTION_TYPE = _checked("gridgov_satisfaction", 20, SATISFACTION)
PRECISION_TYPE = _checked("gridgov_geocode_precision", 10, PRECISIONS)
QUEUE_TYPE = _checked("gridgov_queue", 10, QUEUES)  # queue, sender_level, closed_level


class Category(Base):
    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(String(40))
    checklist: Mapped[str] = mapped_column(String(10))
    name_zh: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(80))
    limit_value: Mapped[int] = mapped_column(Integer)
    limit_unit: Mapped[str] = mapped_column(String(20))
    weight: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (
        CheckConstraint("checklist IN ('regional', 'service')", name="ck_categories_checklist"),
        CheckConstraint(_in("limit_unit", LIMIT_UNITS), name="ck_categories_limit_unit"),
        CheckConstraint("limit_value > 0", name="ck_categories_limit_value"),
    )


# Migration 0060: cases and case_events are partitioned by month, on created_at and at (the
# migration explains what that asks of keys). The primary keys hold the month; an id is still
# one row. The references to a case (``case_id``, ``merged_into``, …) are kept by triggers, not
# foreign keys (a foreign key must name a unique key, and cases(id) alone no longer is one), and
# the unique keys without the month are claims in case_keys and case_event_keys.
# The columns naming a case, each checked by migration 0060's triggers as a foreign key would:
CASE_REFERENCES = (
    ("case_events", "case_id"), ("case_deadlines", "case_id"), ("case_photos", "case_id"),
    ("rating_links", "case_id"), ("visits", "case_id"), ("feed_events", "case_id"),
    ("cases", "merged_into"), ("cases", "probable_duplicate_of"),
)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    town_code: Mapped[str] = mapped_column(String(12))
    category_code: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(CASE_STATUS)
    channel: Mapped[str] = mapped_column(CASE_CHANNEL)
    address: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(String(20))
    admin_code: Mapped[str | None] = mapped_column(String(20))
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    reporter_name: Mapped[str | None] = mapped_column(String(50))
    reporter_phone: Mapped[str | None] = mapped_column(String(30))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True,
                                                 server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    satisfaction: Mapped[str | None] = mapped_column(SATISFACTION_TYPE)
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    # the position as numbers, kept by PostgreSQL (migration 0003): binning and bucket tiles
    # read them without touching the geometry
    lon: Mapped[float | None] = mapped_column(Float(53), Computed("ST_X(geom)", persisted=True))
    lat: Mapped[float | None] = mapped_column(Float(53), Computed("ST_Y(geom)", persisted=True))
    # intake: how the position was found and why the case went where it went
    input_crs: Mapped[str | None] = mapped_column(String(20))
    geocode_precision: Mapped[str | None] = mapped_column(PRECISION_TYPE)
    geocode_score: Mapped[float | None] = mapped_column(Float)
    geocode_match: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(QUEUE_TYPE)
    on_boundary: Mapped[bool | None] = mapped_column(Boolean)
    grid_version: Mapped[int | None] = mapped_column(Integer)
    routing_reason: Mapped[str | None] = mapped_column(Text)
    assignment_reason: Mapped[str | None] = mapped_column(Text)
    dispatch_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # migration 0009: the version a transition must name (If-Match); +1 on every change
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    # migration 0011: the workflow's columns (cases/workflow.py explains each)
    department_code: Mapped[str | None] = mapped_column(String(20))
    sender_level: Mapped[str | None] = mapped_column(QUEUE_TYPE)
    closed_level: Mapped[str | None] = mapped_column(QUEUE_TYPE)
    closed_by: Mapped[int | None] = mapped_column(Integer)
    parked_from: Mapped[str | None] = mapped_column(String(20))
    resume_on: Mapped[date | None] = mapped_column(Date)
    extension_days: Mapped[int | None] = mapped_column(Integer)
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_into: Mapped[int | None] = mapped_column(BigInteger)  # a case: see CASE_REFERENCES
    # migration 0013: the nearest open case of the same category within DUPLICATE_RADIUS_M and
    # DUPLICATE_WINDOW when this one came in (set by the intake's INSERT, cases/queries.sql),
    # and the reporters of duplicates merged into this one ("+N")
    probable_duplicate_of: Mapped[int | None] = mapped_column(BigInteger)  # see CASE_REFERENCES
    supporters: Mapped[int] = mapped_column(Integer, server_default=text("0"))

    __table_args__ = (
        # (every case's point in GiST: dropped by migration 0065; the open ones' below)
        Index("ix_cases_status", "status"),
        Index("ix_cases_created_at", "created_at"),
        Index("ix_cases_grid_code", "grid_code"),
        Index("ix_cases_category", "category_code"),
        # (the key is claimed and found in case_keys, migration 0060; a person's cases are
        # looked up open, ix_cases_open_assignee: migration 0064 dropped both indexes)
        # later migrations (0004-0006); the partial ones repeat the closed states word for word,
        # as the queries that use them must (see tiles/mvt.py _OPEN_SQL)
        Index("ix_cases_open_assignee", "assignee_id", postgresql_where=text(OPEN_PREDICATE)),
        Index("ix_cases_admin_code", "admin_code"),
        Index("ix_cases_open_geom", "geom", postgresql_using="gist",
              postgresql_where=text(OPEN_PREDICATE)),
        # migration 0064: the closed cases only (every reader bounds closed_at by a range)
        Index("ix_cases_closed_at", "closed_at", postgresql_where=text("closed_at IS NOT NULL")),
        # migration 0008: bucket tiles of all cases never leave this index (tiles/mvt.py)
        Index("ix_cases_lonlat", "lon", "lat",
              postgresql_include=["status", "due_at", "created_at", "category_code", "channel"]),
        # migration 0014: tiles of open cases never leave this one
        Index("ix_cases_open_lonlat", "lon", "lat",
              postgresql_include=["id", "status", "category_code", "channel", "created_at", "due_at",
                                  "grid_code"],
              postgresql_where=text(OPEN_PREDICATE)),
        Index("ix_cases_department", "department_code",
              postgresql_where=text("department_code IS NOT NULL")),
        # migration 0063: one town's public board, newest closed first (cases/board.sql)
        Index("ix_cases_board", "town_code", "closed_at", "id",
              postgresql_where=text("status IN ('closed', 'evaluated')")),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )


# The supervision pass's events (cases/supervision.py): a clock's ``due_soon`` and ``overdue``
# moments are ``deadline`` events, its yellow and red cards ``card`` events.
SIGNAL_EVENT_TYPES = ("card", "deadline")
SIGNALS = ("due_soon", "overdue", "yellow", "red")


class CaseEvent(Base):
    """One step in a case's history. Append-only, enforced in the database (a trigger refuses
    UPDATE and DELETE): history is never rewritten, only added to.

    ``type`` is the workflow action (cases/workflow.py) or ``created``, ``imported``,
    ``reassigned``. Who: ``actor`` (a name), ``account_id`` and ``role``; ``note`` the reason or
    note given; ``lon``/``lat`` where it was done, when the phone said; ``photo_ids`` the photos
    sent with it (case_photos). ``queue``, ``assignee_id`` and ``department_code`` are where the
    case sits after the event (set on every event that changes the case, each of which counts one
    ``cases.version``; NULL on events that change nothing, such as supervision cards), so the
    case's current state is the fold of its events (cases/workflow.py ``rebuild``).
    """

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger)  # a case: see CASE_REFERENCES
    town_code: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True,
                                         server_default=func.now())
    type: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str | None] = mapped_column(String(100))
    data = mapped_column(JSONB)
    # migration 0011
    account_id: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float(53))
    lat: Mapped[float | None] = mapped_column(Float(53))
    photo_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    queue: Mapped[str | None] = mapped_column(String(10))
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    department_code: Mapped[str | None] = mapped_column(String(20))
    # migration 0019: a phone's queued action (cases/transition_keys.py): its Idempotency-Key,
    # unique per account, and when the worker took it (``at`` is when the server applied it)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_case_events_case", "case_id", "at"),
        # migration 0012: each deadline signal once per clock (cases/supervision.py); since
        # 0060 the three "once" keys are claims in case_event_keys and these indexes not unique
        Index("ix_case_events_signal", "case_id", text("(data ->> 'deadline_id')"),
              text("(data ->> 'signal')"),
              postgresql_where=text(f"type IN {SIGNAL_EVENT_TYPES!r}")),
        # migration 0015: the scores read events of these kinds by time (cases/scores.sql),
        # and the card a 不满意 rating gives is issued once per reopen (cases/rating.py)
        Index("ix_case_events_scores", "at",
              postgresql_where=text("type IN ('feed_back', 'card', 'evaluate')")),
        Index("ix_case_events_reopen_card", "case_id", text("(data ->> 'reopen_event_id')"),
              postgresql_where=text("type = 'card' AND data ? 'reopen_event_id'")),
        Index("ix_case_events_account_key", "account_id", "idempotency_key",
              postgresql_where=text("idempotency_key IS NOT NULL")),
        {"postgresql_partition_by": "RANGE (at)"},
    )


class CaseKey(Base):
    """A case's Idempotency-Key, claimed once (migration 0060's trigger ``cases_claim_key``:
    a case whose key is taken is not inserted)."""

    __tablename__ = "case_keys"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_case_keys_case", "case_id"),)


class CaseEventKey(Base):
    """A key an event may hold once (migration 0060's trigger ``case_events_claim_keys``):
    ``signal`` (scope: the case; key: clock row and signal, cases/supervision.py), ``reopen``
    (the case; the reopen event's id, cases/rating.py), ``account`` (the account; a phone's
    transition key, cases/transition_keys.py)."""

    __tablename__ = "case_event_keys"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    scope: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_case_event_keys_event", "event_id"),)


CLOCKS = (
    "dispatch",  # filed → dispatched (DOMAIN.md: ≤ 10 min urgent, ≤ 30 min otherwise)
    "accept",  # dispatched → accepted by the handler (cards: 1 / 2 working days)
    "handle",  # dispatched → fed back: the category's time limit (cards: 5 / 10 working days)
    "check",  # fed back → closed after the on-site check (1 h in town, 2 h rural)
)
CLOCK_TYPE = _checked("gridgov_clock", 20, CLOCKS)


class CaseDeadline(Base):
    """One running clock of a case: when it started, when it is due, and the moments it
    becomes due soon, earns a yellow card and a red card.

    The times are computed over the business calendar (cases/deadlines.py) by the transition
    that starts, moves or stops the clock, never by the supervision pass, which only compares
    them with now (one indexed query over running clocks). Parking (挂账) suspends a clock:
    ``suspended_at`` is set and ``remaining_s`` keeps the working time that was left; resuming
    recomputes every time from then. An approved extension moves ``due_at`` (and the cards'
    moments) and counts in ``extensions``. ``met_at`` ends the clock: the step was done, or
    the case left the state the clock measures.
    """

    __tablename__ = "case_deadlines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger)  # a case: see CASE_REFERENCES
    town_code: Mapped[str] = mapped_column(String(12))
    clock: Mapped[str] = mapped_column(CLOCK_TYPE)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    soon_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    yellow_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    red_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remaining_s: Mapped[float | None] = mapped_column(Float)
    met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extensions: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # migration 0011: the unit ``due_at`` counts in (cases.deadlines.UNITS), so a suspended
    # clock knows whether its remaining time is working time or wall time
    unit: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        Index("uq_case_deadlines_running", "case_id", "clock", unique=True,
              postgresql_where=text("met_at IS NULL")),
        Index("ix_case_deadlines_next", text("LEAST(soon_at, yellow_at, due_at, red_at)"),
              postgresql_where=text("met_at IS NULL AND suspended_at IS NULL")),
    )


class CasePhoto(Base):
    """A photo sent with a case, kept in the database so it commits with the case."""

    __tablename__ = "case_photos"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger)  # a case: see CASE_REFERENCES
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # migration 0013: an operator marked it fit for the public board (cases/publication.py)
    publishable: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))

    __table_args__ = (Index("ix_case_photos_case", "case_id"),)


class CalendarDay(Base):
    """A day whose working status differs from the weekday rule, or that has a name: national
    holidays and make-up working days (调休). Seeded from the ``chinese-calendar`` package;
    administrators add next year's and correct mistakes (``source = 'admin'``)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(20), server_default="admin")


NOTIFICATION_SCOPES = ("village", "town", "department")


class Notification(Base):
    """A deadline signal or card told to someone: to a person (``person_id``, the case's
    assignee), or to a scope (``scope_kind`` + ``scope_code``: the village center of a village,
    the town center of a town, a department), read by every account whose scope covers it
    (cases/notifications.py). Written by the supervision pass with the event it tells of.

    ``case_id`` and ``event_id`` carry no foreign keys (migration 0016): the one writer, the
    pass (cases/supervision.sql), inserts the event and its notifications in one statement,
    the event log is append-only (nothing it points to can go), and the event's own key
    already holds the case. The checks cost two trigger calls per notification, 4.4 of a
    catch-up pass's 17 s over 1M cases (EXPLAIN ANALYZE, 2026-11-30).
    tests/test_supervision.py checks every notification's event and case after the passes."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    town_code: Mapped[str] = mapped_column(String(12))
    case_id: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(BigInteger)
    signal: Mapped[str] = mapped_column(String(20))
    clock: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int | None] = mapped_column(Integer)
    scope_kind: Mapped[str | None] = mapped_column(String(20))
    scope_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "(person_id IS NOT NULL AND scope_kind IS NULL AND scope_code IS NULL) OR "
            f"(person_id IS NULL AND {_in('scope_kind', NOTIFICATION_SCOPES)} "
            "AND scope_code IS NOT NULL)", name="ck_notifications_recipient"),
        Index("ix_notifications_person", "person_id", "id",
              postgresql_where=text("person_id IS NOT NULL")),
        Index("ix_notifications_scope", "scope_kind", "scope_code", "id",
              postgresql_where=text("scope_kind IS NOT NULL")),
        Index("ix_notifications_town", "town_code", "id"),
    )


class RatingLink(Base):
    """A resident's rating link (一事一评, ``/rate/<token>``), made when a case with a reporter's
    phone closes (cases/rating_links.py). The token is 256 random bits handed out once; only
    its SHA-256 is kept. Single use (``used_at``, with the ``rating`` given), valid 30 days."""

    __tablename__ = "rating_links"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger)  # a case: see CASE_REFERENCES
    town_code: Mapped[str] = mapped_column(String(12))
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rating: Mapped[str | None] = mapped_column(String(20))
    account_id: Mapped[int | None] = mapped_column(Integer)  # who issued it; NULL: the close

    __table_args__ = (
        CheckConstraint(f"rating IS NULL OR {_in('rating', SATISFACTION)}",
                        name="ck_rating_links_rating"),
        Index("uq_rating_links_token", "token_sha256", unique=True),
        Index("ix_rating_links_case", "case_id"),
    )
