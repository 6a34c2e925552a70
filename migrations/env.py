"""Alembic environment: the URL comes from the caller (db.migrate) or gridgov's settings."""

from alembic import context
from sqlalchemy import engine_from_config, pool

import accounts.models  # noqa: F401  (models register on Base.metadata)
import boundaries.inventory  # noqa: F401
import boundaries.models  # noqa: F401
import cases.models  # noqa: F401
import field.models  # noqa: F401
import planning.models  # noqa: F401
from db.base import Base
from db.session import database_url

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # PostGIS owns these tables; they are not ours to drop.
    if type_ == "table" and name in {"spatial_ref_sys", "layer", "topology"}:
        return False
    return True


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or database_url()
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
