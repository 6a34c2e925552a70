"""Accounts, their API tokens and their web sessions.

An account has a role (accounts/actor.py ``ROLES``) and a scope: a kind (``SCOPE_KINDS``) and
a code (a town, zone, village or department code; a grid worker's scope is its person's
current ``grid_assignments``, resolved when the Actor is built, so it moves with the grid
code). Secrets are never stored as sent: a password as its Argon2id hash, an API token and a
session id as the SHA-256 of their 256 random bits (one indexed lookup per request).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

import boundaries.inventory  # noqa: F401  (people, which an account may name)
from accounts.actor import ROLES, SCOPE_KINDS
from db.base import Base


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))
    scope_kind: Mapped[str] = mapped_column(String(20))
    scope_code: Mapped[str | None] = mapped_column(String(40))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    password_hash: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # failed sign-ins in a row, and the lock they led to (accounts/service.py sign_in)
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="ck_accounts_role"),
        CheckConstraint(_in("scope_kind", SCOPE_KINDS), name="ck_accounts_scope_kind"),
        Index("uq_accounts_name", "name", unique=True),
    )


class ApiToken(Base):
    """A bearer token: only the SHA-256 of the token is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_api_tokens_hash", "token_hash", unique=True),
        Index("ix_api_tokens_account", "account_id"),
    )


class WebSession(Base):
    """A signed-in browser: the SHA-256 of the cookie's value, and the CSRF token its pages
    send back with every unsafe request."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    session_hash: Mapped[str] = mapped_column(String(64))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_web_sessions_hash", "session_hash", unique=True),
        Index("ix_web_sessions_account", "account_id"),
    )
