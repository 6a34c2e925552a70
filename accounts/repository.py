"""Every statement on accounts, tokens and sessions (SQL lives here, never in web/).

The two lookups every request makes (``actor_by_token``, ``actor_by_session``) are one
statement each, on a unique index, returning the account with its scope resolved: a grid
worker's current grid codes from ``grid_assignments``, a zone's villages from its grids (an
enterprise zone's: the villages its leaf grids belong to).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

_ACTOR_COLUMNS = """
       a.id, a.name, a.display_name, a.role, a.scope_kind, a.scope_code, a.person_id,
       CASE WHEN a.scope_kind = 'grids' THEN ARRAY(
            SELECT ga.grid_code FROM grid_assignments ga
             WHERE ga.person_id = a.person_id AND ga.since <= town_today()
               AND (ga.until IS NULL OR ga.until >= town_today())) END AS grid_codes,
       CASE WHEN a.scope_kind = 'zone' THEN ARRAY(
            SELECT DISTINCT left(g.code, 12) FROM grids g
             WHERE g.zone_code = a.scope_code AND g.valid_to IS NULL)
       END AS village_codes"""

_BY_TOKEN = text(f"""
SELECT {_ACTOR_COLUMNS}
  FROM api_tokens t JOIN accounts a ON a.id = t.account_id
 WHERE t.token_hash = :hash AND t.revoked_at IS NULL AND t.expires_at > now()
   AND a.disabled_at IS NULL""")

_BY_SESSION = text(f"""
SELECT {_ACTOR_COLUMNS}, s.csrf_token
  FROM web_sessions s JOIN accounts a ON a.id = s.account_id
 WHERE s.session_hash = :hash AND s.ended_at IS NULL AND s.expires_at > now()
   AND a.disabled_at IS NULL""")


def _one(session: Session, sql: str | Any, params: dict) -> dict[str, Any] | None:
    statement = text(sql) if isinstance(sql, str) else sql
    row = session.execute(statement, params).mappings().first()
    return dict(row) if row is not None else None


def actor_by_token(session: Session, token_hash: str) -> dict[str, Any] | None:
    return _one(session, _BY_TOKEN, {"hash": token_hash})


def actor_by_session(session: Session, session_hash: str) -> dict[str, Any] | None:
    return _one(session, _BY_SESSION, {"hash": session_hash})


# -- accounts -----------------------------------------------------------------------------

_INSERT_ACCOUNT = text("""
INSERT INTO accounts (name, display_name, role, scope_kind, scope_code, person_id, password_hash)
VALUES (:name, :display_name, :role, :scope_kind, :scope_code, :person_id, :password_hash)
RETURNING id""")

_ACCOUNTS = text("""
SELECT a.id, a.name, a.display_name, a.role, a.scope_kind, a.scope_code, a.person_id,
       a.disabled_at, a.created_at,
       (SELECT count(*) FROM api_tokens t
         WHERE t.account_id = a.id AND t.revoked_at IS NULL AND t.expires_at > now()) AS live_tokens
  FROM accounts a
 ORDER BY a.id""")

_DISABLE = (
    "UPDATE accounts SET disabled_at = :at WHERE id = :id AND disabled_at IS NULL",
    "UPDATE api_tokens SET revoked_at = :at WHERE account_id = :id AND revoked_at IS NULL",
    "UPDATE web_sessions SET ended_at = :at WHERE account_id = :id AND ended_at IS NULL",
)


def insert_account(session: Session, values: dict[str, Any]) -> int:
    return session.execute(_INSERT_ACCOUNT, values).scalar_one()


def account_by_name(session: Session, name: str) -> dict[str, Any] | None:
    return _one(session, "SELECT * FROM accounts WHERE name = :name", {"name": name})


def accounts(session: Session) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(_ACCOUNTS).mappings()]


def disable_account(session: Session, account_id: int, at: datetime) -> None:
    """Disable the account, revoke its tokens and end its sessions, in the caller's transaction."""
    for sql in _DISABLE:
        session.execute(text(sql), {"id": account_id, "at": at})


# -- tokens and sessions --------------------------------------------------------------------


def insert_token(session: Session, account_id: int, token_hash: str, expires_at: datetime) -> int:
    return session.execute(text("""
        INSERT INTO api_tokens (account_id, token_hash, expires_at)
        VALUES (:a, :h, :e) RETURNING id"""),
        {"a": account_id, "h": token_hash, "e": expires_at}).scalar_one()


def revoke_token(session: Session, token_hash: str, at: datetime) -> bool:
    result = session.execute(text("""
        UPDATE api_tokens SET revoked_at = :at
         WHERE token_hash = :h AND revoked_at IS NULL"""), {"h": token_hash, "at": at})
    return result.rowcount > 0


def insert_session(session: Session, account_id: int, session_hash: str, csrf_token: str,
                   expires_at: datetime) -> int:
    return session.execute(text("""
        INSERT INTO web_sessions (account_id, session_hash, csrf_token, expires_at)
        VALUES (:a, :h, :c, :e) RETURNING id"""),
        {"a": account_id, "h": session_hash, "c": csrf_token, "e": expires_at}).scalar_one()


def end_session(session: Session, session_hash: str, at: datetime) -> None:
    session.execute(text("""
        UPDATE web_sessions SET ended_at = :at
         WHERE session_hash = :h AND ended_at IS NULL"""), {"h": session_hash, "at": at})


# -- what a scope or a person may name ------------------------------------------------------

_SCOPE_EXISTS = {
    "town": "SELECT EXISTS (SELECT 1 FROM towns WHERE code = :code)",
    "zone": "SELECT EXISTS (SELECT 1 FROM zones WHERE code = :code AND valid_to IS NULL)",
    "village": """SELECT EXISTS (SELECT 1 FROM grids WHERE code = :code || '000'
                   AND level = 'admin' AND valid_to IS NULL)""",
}


def scope_exists(session: Session, kind: str, code: str) -> bool:
    """Whether ``code`` names a current town, zone or village (``kind``)."""
    return bool(session.execute(text(_SCOPE_EXISTS[kind]), {"code": code}).scalar_one())


def first_town_code(session: Session) -> str | None:
    sql = text("SELECT code FROM towns ORDER BY code LIMIT 1")
    return session.execute(sql).scalar_one_or_none()


def person(session: Session, person_id: int) -> dict[str, Any] | None:
    sql = "SELECT id, name, role, village_code, town_code FROM people WHERE id = :id"
    return _one(session, sql, {"id": person_id})


def village_people(session: Session, village_code: str) -> list[dict[str, Any]]:
    """The people of a village with their role, for the demo's accounts."""
    sql = text("SELECT id, name, role FROM people WHERE village_code = :v ORDER BY role, id")
    return [dict(r) for r in session.execute(sql, {"v": village_code}).mappings()]


def villages_with_workers(session: Session) -> list[str]:
    return list(session.execute(text("""
        SELECT DISTINCT village_code FROM people
         WHERE role = 'grid_worker' AND village_code IS NOT NULL
         ORDER BY village_code""")).scalars())


_FAILED_LOGIN = text("""
UPDATE accounts
   SET failed_logins = CASE WHEN failed_logins + 1 >= :lock_after THEN 0
                            ELSE failed_logins + 1 END,
       locked_until = CASE WHEN failed_logins + 1 >= :lock_after THEN :until
                           ELSE locked_until END
 WHERE id = :id
RETURNING locked_until
""")


def count_failed_login(session: Session, account_id: int, lock_after: int,
                       until: datetime) -> datetime | None:
    """One more failed sign-in; at ``lock_after`` in a row the account is locked until
    ``until`` (and the count starts again). In one statement: two wrong passwords at once
    both count. Returns the lock's end when this one set it."""
    row = session.execute(_FAILED_LOGIN, {"id": account_id, "lock_after": lock_after,
                                          "until": until}).first()
    return row[0] if row and row[0] == until else None


def clear_failed_logins(session: Session, account_id: int) -> None:
    session.execute(text("UPDATE accounts SET failed_logins = 0, locked_until = NULL "
                         "WHERE id = :id AND (failed_logins > 0 OR locked_until IS NOT NULL)"),
                    {"id": account_id})
