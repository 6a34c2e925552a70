"""The plans PostgreSQL really ran, as it ran them: auto_explain in one session.

auto_explain, loaded into one session (LOAD needs a superuser: the suite's admin role), sends
the plan of every statement the session runs, those inside functions and triggers too, to the
client as a NOTICE, in JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
from sqlalchemy.engine import make_url

AUTO_EXPLAIN = ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                "SET auto_explain.log_nested_statements = on",
                "SET auto_explain.log_level = notice", "SET auto_explain.log_format = json")


def admin_url(pg_server, url: str) -> str:
    """The database of ``url`` as the suite's admin role, who may LOAD auto_explain."""
    return pg_server.admin_url.set(database=make_url(url).database).render_as_string(
        hide_password=False)


def explaining(conn: psycopg.Connection, marker: str) -> list[dict]:
    """The plans of the statements whose text holds ``marker`` that ``conn`` runs from now on:
    a list that fills as it runs (each as auto_explain writes it: ``Query Text``, ``Plan``)."""
    plans: list[dict] = []

    def note(diag: psycopg.errors.Diagnostic) -> None:
        _, _, plan = (diag.message_primary or "").partition("plan:")
        if plan and marker in plan:
            plans.append(json.loads(plan))

    conn.add_notice_handler(note)
    for statement in AUTO_EXPLAIN:
        conn.execute(statement)
    return plans


def plan_nodes(plan: dict) -> Iterator[dict]:
    """``plan``'s node and every node below it."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)
