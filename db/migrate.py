"""Schema migrations (Alembic), driven from code so the CLI and the tests share one path."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    """The database's schema is not the one this code expects."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision of the migrations on disk."""
    return _head_of(_versions_signature())


def _versions_signature() -> tuple:
    """The migration files as they are now: name, size and modification time of each."""
    found = []
    with os.scandir(MIGRATIONS_DIR / "versions") as entries:
        for entry in entries:
            if entry.name.endswith(".py"):
                st = entry.stat()
                found.append((entry.name, st.st_size, st.st_mtime_ns))
    return tuple(sorted(found))


@functools.lru_cache(maxsize=4)
def _head_of(signature: tuple) -> str:
    # Why cached: Alembic reads and imports every migration to find the head, 43 ms of CPU
    # (71 files), and /healthz asks on every call. Keyed by the files' names, sizes and times:
    # a migration added or edited on disk is read again.
    del signature
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_state(engine: Engine) -> dict:
    current = current_revision(engine)
    head = head_revision()
    return {"current": current, "head": head, "up_to_date": current == head}


def check_schema(engine: Engine) -> None:
    """Raise SchemaOutOfDate, naming the command to run, unless the schema is at head."""
    state = schema_state(engine)
    if not state["up_to_date"]:
        raise SchemaOutOfDate(
            f"the database schema is at revision {state['current'] or '(none)'} but this gridgov "
            f"expects {state['head']}: run `gridgov db upgrade`"
        )
