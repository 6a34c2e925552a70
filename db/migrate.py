"""Schema migrations (Alembic), driven from code so the CLI and the tests share one path."""

from __future__ import annotations

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
