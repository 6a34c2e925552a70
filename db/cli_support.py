"""What every package's commands share: a session on gridgov's database, and a refusal as a
one-line message with exit 2 (1 stays free for a command's own "found problems", like
`boundaries validate`'s coverage errors).

A package's commands open their session with ``cli_session(write, refused=TheirBaseError)``,
so their own errors become the same one-line refusal (STYLE.md, "Errors").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.cluster import ClusterError
from db.migrate import SchemaOutOfDate, check_schema
from db.session import database_url, engine_for, session_scope


class BadInput(click.ClickException):
    """A refused command: one line on stderr, exit 2 (1 is validate's "coverage has errors")."""

    exit_code = 2


@contextmanager
def cli_session(
    write: bool,
    refused: type[Exception] | tuple[type[Exception], ...] = (),
    on_refused: Callable[[Exception], None] | None = None,
) -> Iterator[Session]:
    """A session on gridgov's database for a command, committed only when ``write``.

    An unreachable database, a cluster that cannot start and an out-of-date schema become
    BadInput, and so do the errors of the classes in ``refused`` (their ``message``, else
    their text), after ``on_refused`` has seen them (e.g. to list the details on stderr). Other
    errors pass through for the command to word.
    """
    try:
        url = database_url()
        check_schema(engine_for(url))
    except (ClusterError, SchemaOutOfDate) as exc:
        raise BadInput(str(exc)) from exc
    except OperationalError as exc:
        raise BadInput(
            f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}"
        ) from exc
    try:
        with session_scope(url) as session:
            yield session
            if not write:
                session.rollback()
    except refused as exc:
        if on_refused is not None:
            on_refused(exc)
        message = getattr(exc, "message", None)
        raise BadInput(message if isinstance(message, str) else str(exc)) from exc
