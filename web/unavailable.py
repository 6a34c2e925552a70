"""When the database cannot answer: 503 with ``Retry-After``, never a 500 and never a hang;
507 when its disk is full.

What happens while PostgreSQL is stopped or restarting (README, "Faults"): a statement in
flight fails as its connection is cut, SQLAlchemy then drops every pooled connection of the
process, and each new one is refused at once ("connection refused", then "the database system
is starting up") — nothing waits on a dead server longer than ``connect_timeout`` or the pool's
timeout (db/session.py, 5 s each). Those errors are rows of web/errors.py's table (503
``database_unavailable``); this module answers them on pages with a readable page instead of
JSON, and puts ``Retry-After`` on every 503 (the API's, Open311's, OGC's, /healthz's) so a
client knows when to send again — with the same ``Idempotency-Key``, which makes a report that
did commit before the connection was cut come back as the same case. Once the server is back,
the next request connects afresh: no restart of gridgov is needed, and each process's live
listener reconnects by itself (web/live.py).

A full disk (SQLSTATE 53100, PostgreSQL could not extend a file: a photo is stored in the
database) rolls the whole report back, the case with its photos, and answers 507
``insufficient_storage``.
"""

from __future__ import annotations

from flask import Flask, g, render_template, request

from accounts.actor import RESIDENT
from web import auth, errors, i18n

# Seconds a client should wait before sending again: a restart of PostgreSQL takes a few.
RETRY_AFTER_S = 3
# the paths whose errors are not pages (their blueprints answer in their own formats, JSON
# otherwise)
NOT_PAGES = (*auth.JSON_PREFIXES, "/ogc/", "/open311/", "/healthz")


def _answer(exc: Exception):
    status, _code = errors.refusal_of(exc)
    if request.path.startswith(NOT_PAGES):
        return errors.table_error(exc)
    errors.driver_message(exc, status)  # logged
    # the page's header asks who is signed in: not of a database that cannot answer (when the
    # lookup itself failed, nobody is known)
    g.setdefault("gridgov_credentials", auth.Credentials(RESIDENT, None))
    lang = i18n.language() if request.args.get("lang") in (None, *i18n.LANGUAGES) else "zh"
    words = i18n.words(lang)
    kind = "storage_full" if status == 507 else "unavailable"
    return render_template(
        "unavailable.html", lang=lang, t=words, names=i18n.names(lang),
        title=words[f"{kind}_title"],
        message=words[f"{kind}_message"].format(seconds=RETRY_AFTER_S),
        status_colors={},
    ), status


def _retry_after(response):
    if response.status_code in (503, 507):
        # set, not added: Flask-Limiter's headers (web/throttle.py) put the time to its
        # window's reset there on a limited route — up to a minute, for a database back in
        # seconds
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def init_app(app: Flask) -> None:
    """Before web/throttle.init_app: Flask runs the ``after_request`` hooks in reverse order,
    so this one's ``Retry-After`` is the last word."""
    for cls in errors.DATABASE_ERRORS:
        app.register_error_handler(cls, _answer)
    app.after_request(_retry_after)
