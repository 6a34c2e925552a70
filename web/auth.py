"""The one enforcement point of accounts/access.py's declarations, and who is acting.

A ``before_request`` finds the declaration of the route's view (``@allow`` next to the route;
the static endpoints in ``STATIC_ENDPOINTS``), and for a route that is not public
authenticates the request: ``Authorization: Bearer <token>`` (the API), else the session
cookie of ``/login`` (pages, and our pages' scripts). No credentials: 401 (a page redirects to
``/login?next=…``); a role the route does not name: 403 (JSON for /api/ and /tiles/, a readable
page otherwise). A cookie-authenticated unsafe request must carry the session's CSRF token
(form field ``csrf_token`` or header ``X-CSRF-Token``), else 403 ``csrf_failed``.

Public routes look nobody up unless the view asks (:func:`current_actor`): an anonymous
resident's report costs no query, a report with a token one indexed lookup.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from flask import Flask, current_app, g, redirect, render_template, request, url_for

from accounts import access, service
from accounts.cache import credential_cache
from accounts.access import PUBLIC
from accounts.actor import RESIDENT, Actor
from accounts.errors import AccountError, CsrfFailed, Forbidden, NotAuthenticated
from web import database, errors, i18n, live

log = logging.getLogger(__name__)

COOKIE = "gridgov_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# endpoints that are not our views: declared here, in one table
STATIC_ENDPOINTS = {"static": frozenset({PUBLIC})}
JSON_PREFIXES = ("/api/", "/tiles/")


@dataclass(frozen=True)
class Credentials:
    actor: Actor
    via: str | None  # "token", "session" or None (nobody)
    display_name: str | None = None
    csrf_token: str | None = None


def _lookup() -> Credentials:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("the Authorization header must be `Bearer <token>`")
        found = _remembered("token", token.strip(), _by_token)
        if found is None:
            raise NotAuthenticated(
                "the token is unknown, expired or revoked, or its account is disabled"
            )
        return found
    cookie = request.cookies.get(COOKIE)
    if cookie:
        found = _remembered("session", cookie, _by_session)
        if found is not None:
            return found
    return Credentials(RESIDENT, None)


def _by_token(token: str) -> Credentials | None:
    with database.lookup_session() as session:
        actor = service.actor_for_token(session, token)
    return Credentials(actor, "token") if actor is not None else None


def _by_session(cookie: str) -> Credentials | None:
    with database.lookup_session() as session:
        signed = service.actor_for_session(session, cookie)
    if signed is None:
        return None
    return Credentials(signed.actor, "session", signed.display_name, signed.csrf_token)


def _remembered(kind: str, secret: str, look_up) -> Credentials | None:
    """``look_up(secret)``, from this process's credential cache while its live listener
    hears every change (accounts/cache.py says when an answer may be reused)."""
    hub = live.listening_hub(database.listen_conninfo())
    if hub is None:
        return look_up(secret)
    cache = credential_cache()
    key = f"{kind}:{service.digest(secret)}"
    generation = hub.generation
    found = cache.get(key, generation)
    if found is None:
        epoch = cache.epoch()
        found = look_up(secret)
        if found is not None:
            cache.put(key, found, generation, epoch)
    return found


def actor_for_token(token: str) -> Actor | None:
    """The account an API token belongs to, found as a Bearer token is (this process's
    credential cache included); None for an unknown, expired or revoked token or a disabled
    account. Open311 sends its token as the ``api_key`` parameter (web/open311.py)."""
    found = _remembered("token", token, _by_token)
    return found.actor if found is not None else None


def credentials() -> Credentials:
    """Who sent this request (looked up once per request)."""
    found = g.get("gridgov_credentials")
    if found is None:
        found = _lookup()
        g.gridgov_credentials = found
    return found


def _check_csrf(found: Credentials) -> None:
    if found.via != "session" or request.method in SAFE_METHODS or g.get("gridgov_csrf_ok"):
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sent = request.form.get(CSRF_FIELD)
    if not sent or not hmac.compare_digest(sent.encode(), (found.csrf_token or "").encode()):
        raise CsrfFailed(
            "this form or request lacks the page's CSRF token (reload the page and try again)"
        )
    g.gridgov_csrf_ok = True


def current_actor() -> Actor:
    """The account acting in this request (``RESIDENT`` for nobody); a cookie-authenticated
    unsafe request is refused here without its CSRF token."""
    found = credentials()
    _check_csrf(found)
    return found.actor


def signed_in() -> Credentials | None:
    """Who is signed in, for a page's header; None for nobody (never refuses)."""
    try:
        found = credentials()
    except AccountError:
        return None
    return found if found.via is not None else None


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _enforce():
    endpoint = request.endpoint
    if endpoint is None:  # no such route: Flask answers 404 or 405
        return None
    allowed = STATIC_ENDPOINTS.get(endpoint) or access.declaration(
        current_app.view_functions.get(endpoint)
    )
    if allowed is None:
        log.error("route %s declares no access (accounts/access.py allow): refused", endpoint)
        raise Forbidden("this route declares nobody who may use it")
    if access.needs_no_account(allowed):  # PUBLIC, or SIGNED (the view checks a signature)
        return None
    actor = current_actor()
    if actor.is_resident:
        raise NotAuthenticated("sign in first, or send `Authorization: Bearer <token>`")
    if not access.permits(allowed, actor):
        raise Forbidden(
            f"a {actor.role} account may not use this route",
            {"role": actor.role, "allowed": sorted(allowed)},
        )
    return None


def refused_page(exc: AccountError, status: int):
    lang = i18n.language() if request.args.get("lang") in (None, *i18n.LANGUAGES) else "zh"
    words = i18n.words(lang)
    return render_template(
        "forbidden.html",
        lang=lang,
        t=words,
        names=i18n.names(lang),
        title=words["forbidden_title"],
        message=exc.message,
        status_colors={},
    ), status


def _refused(exc: AccountError):
    status, _code = errors.status_for(type(exc))
    if wants_json():
        response, status = errors.table_error(exc)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="gridgov"'
        return response, status
    if status == 401:
        return redirect(url_for("login.login_page", next=request.full_path.rstrip("?")))
    return refused_page(exc, status)


def _template_context() -> dict:
    if request.endpoint in STATIC_ENDPOINTS:
        return {}
    found = signed_in()
    return {"account": found, "csrf_token": found.csrf_token if found else None}


def init_app(app: Flask) -> None:
    app.before_request(_enforce)
    app.context_processor(_template_context)
    # after web/errors.init_app: these rows answer pages with a page, the API with JSON
    for cls in errors.STATUS_FOR:
        if issubclass(cls, AccountError):
            app.register_error_handler(cls, _refused)
