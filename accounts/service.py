"""Accounts as the rest of gridgov uses them: create, sign in, issue and check tokens, disable.

Secrets: a token or a session id is 256 random bits (``secrets``), handed out once and kept as
its SHA-256 — a fast hash is right for a secret that random (nothing to guess), and keeps the
check on every API request one indexed lookup, no Argon2. Passwords, which people choose, are
Argon2id (accounts/passwords.py).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from accounts import passwords, repository
from accounts.cache import credential_cache
from accounts.actor import DEFAULT_SCOPE_KIND, ROLES, Actor
from accounts.errors import (
    AccountExists,
    AccountLocked,
    AccountNotFound,
    BadCredentials,
    InvalidName,
    UnknownPerson,
    UnknownRole,
    UnknownScope,
)

TOKEN_LIFETIME = timedelta(days=90)
SESSION_LIFETIME = timedelta(hours=12)
# an account whose password was wrong LOCK_AFTER times in a row refuses every sign-in (the
# right password too) for LOCK_FOR: a guesser gets 5 tries a quarter of an hour per account,
# whatever addresses it comes from (the per-address limit is web/throttle.py's)
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
NAME_MAX = 50
# which of a person's posts (people.role) may hold a role's account
PERSON_ROLES = {
    "grid_worker": ("grid_worker",),
    "auxiliary": ("auxiliary",),
    "grid_leader": ("grid_leader",),
}


def departments() -> dict[str, dict[str, str]]:
    """The town's departments (职能部门) by code: the workflow's list (cases/departments.py),
    so an account's department is one a case can be dispatched to."""
    from cases.departments import departments as town_departments

    return town_departments()


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def actor_from_row(row: dict[str, Any]) -> Actor:
    return Actor(
        role=row["role"],
        name=row["name"],
        account_id=row["id"],
        person_id=row["person_id"],
        scope_kind=row["scope_kind"],
        scope_code=row["scope_code"],
        grid_codes=frozenset(row["grid_codes"] or ()),
        village_codes=frozenset(row["village_codes"] or ()),
    )


def actor_for_token(session: Session, token: str) -> Actor | None:
    """The account a bearer token belongs to; None when unknown, expired, revoked or disabled."""
    row = repository.actor_by_token(session, digest(token))
    return actor_from_row(row) if row else None


@dataclass(frozen=True)
class SignedIn:
    actor: Actor
    display_name: str
    csrf_token: str


def actor_for_session(session: Session, session_id: str) -> SignedIn | None:
    row = repository.actor_by_session(session, digest(session_id))
    if row is None:
        return None
    return SignedIn(actor_from_row(row), row["display_name"], row["csrf_token"])


# -- creating accounts ---------------------------------------------------------------------


def _scope(
    session: Session, role: str, scope: str | None, person: dict | None
) -> tuple[str, str | None]:
    kind = DEFAULT_SCOPE_KIND[role]
    if kind == "grids":
        return kind, person["village_code"] if person else None
    if kind == "department":
        if scope not in departments():
            raise UnknownScope(
                f"department {scope!r} is not one of the town's departments",
                {"valid": sorted(departments())},
            )
        return kind, scope
    if kind == "village" and scope is None and person is not None:
        scope = person["village_code"]
    if kind == "town" and scope is None:
        # before any town is loaded (an administrator's first account) the scope has no code
        # and covers no case until one is given
        return kind, repository.first_town_code(session)
    if scope is None:
        raise UnknownScope(
            f"a {role} account needs --scope: a village's 12-digit code or a zone's code"
        )
    if kind == "village" and not repository.scope_exists(session, "village", scope):
        if repository.scope_exists(session, "zone", scope):
            return "zone", scope
        raise UnknownScope(
            f"scope {scope!r} is neither a village (12 digits) nor a zone of the town"
        )
    if kind == "town" and not repository.scope_exists(session, "town", scope):
        raise UnknownScope(f"scope {scope!r} is not a town")
    return kind, scope


def create_account(
    session: Session,
    name: str,
    role: str,
    *,
    scope: str | None = None,
    person_id: int | None = None,
    password: str | None = None,
    display_name: str | None = None,
) -> dict[str, Any]:
    """Add an account (in the caller's transaction); the row as written, without its hash."""
    if role not in ROLES:
        raise UnknownRole(
            f"role {role!r} is not one of: {', '.join(ROLES)}", {"valid": list(ROLES)}
        )
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(c.isspace() for c in name):
        raise InvalidName(
            f"account name {name!r} must be 1 to {NAME_MAX} characters without spaces"
        )
    if repository.account_by_name(session, name) is not None:
        raise AccountExists(f"an account named {name!r} exists already")
    person = None
    if person_id is not None:
        person = repository.person(session, person_id)
        if person is None:
            raise UnknownPerson(f"there is no person with id {person_id}")
        allowed = PERSON_ROLES.get(role)
        if allowed and person["role"] not in allowed:
            raise UnknownPerson(
                f"person {person_id} is a {person['role']}, who cannot hold a {role} account"
            )
    elif role in ("grid_worker", "auxiliary"):
        raise UnknownPerson(f"a {role} account needs --person: the grid worker's id in people")
    kind, code = _scope(session, role, scope, person)
    values = {
        "name": name,
        "display_name": display_name or (person["name"] if person else name),
        "role": role,
        "scope_kind": kind,
        "scope_code": code,
        "person_id": person_id,
        "password_hash": passwords.hash_password(password) if password else None,
    }
    values["id"] = repository.insert_account(session, values)
    values.pop("password_hash")
    return values


def account(session: Session, name: str) -> dict[str, Any]:
    found = repository.account_by_name(session, name)
    if found is None:
        raise AccountNotFound(f"there is no account named {name!r}")
    return found


def issue_token(
    session: Session, name: str, lifetime: timedelta = TOKEN_LIFETIME
) -> tuple[str, datetime]:
    """A new API token for the account (shown once: only its hash is kept) and its expiry."""
    found = account(session, name)
    if found["disabled_at"] is not None:
        raise AccountNotFound(f"account {name!r} is disabled")
    token = secrets.token_urlsafe(32)
    expires = _now() + lifetime
    repository.insert_token(session, found["id"], digest(token), expires)
    return token, expires


def revoke_token(session: Session, token: str) -> bool:
    revoked = repository.revoke_token(session, digest(token), _now())
    # this process forgets at once; the others when the database tells their listeners
    # (accounts/cache.py)
    credential_cache().clear()
    return revoked


def disable(session: Session, name: str) -> None:
    """Disable the account: its tokens are revoked and its sessions ended at once."""
    repository.disable_account(session, account(session, name)["id"], _now())
    credential_cache().clear()


def list_accounts(session: Session) -> list[dict[str, Any]]:
    return repository.accounts(session)


# -- signing in on the pages -------------------------------------------------------------------


def sign_in(session: Session, name: str, password: str) -> tuple[str, SignedIn]:
    """Check the password and open a session: (the cookie's value, who signed in).
    A wrong name and a wrong password are one refusal and cost the same.

    The refusal writes the failed try (the caller commits it): at LOCK_AFTER in a row the
    account is locked for LOCK_FOR (AccountLocked, with ``retry_after`` in seconds)."""
    found = repository.account_by_name(session, name) if name else None
    now = _now()
    if found is not None and found["locked_until"] is not None and found["locked_until"] > now:
        _locked(found["locked_until"], now)
    stored = found["password_hash"] if found and found["disabled_at"] is None else None
    if not passwords.verify(stored, password):
        if found is not None:
            until = repository.count_failed_login(session, found["id"], LOCK_AFTER, now + LOCK_FOR)
            if until is not None:
                _locked(until, now)
        raise BadCredentials("the account name or the password is wrong")
    repository.clear_failed_logins(session, found["id"])
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    repository.insert_session(
        session, found["id"], digest(session_id), csrf, _now() + SESSION_LIFETIME
    )
    signed = actor_for_session(session, session_id)
    assert signed is not None  # just written, in this transaction
    return session_id, signed


def _locked(until: datetime, now: datetime) -> None:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    raise AccountLocked(
        f"too many wrong passwords in a row: this account is locked for {-(-seconds // 60)} "
        "minutes", {"retry_after": seconds})


def sign_out(session: Session, session_id: str) -> None:
    repository.end_session(session, digest(session_id), _now())
    credential_cache().clear()
