"""``/login`` (a password form) and ``/logout``: the server-side web session of the pages.

The session lives in the database (accounts/service.py); the cookie holds only its random id,
HttpOnly and SameSite=Lax (Secure over HTTPS). ``next`` is followed only to a path of this
site, never to another host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, make_response, redirect, render_template, request

from accounts import service
from accounts.access import ANY_ACCOUNT, PUBLIC, allow
from accounts.errors import AccountLocked, BadCredentials
from web import auth, database, i18n

bp = Blueprint("login", __name__)


def safe_next(target: str | None) -> str:
    """``target`` when it is a path of this site; ``/`` otherwise."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return "/"
    return target


def _form(status: int = 200, error: str | None = None, name: str = ""):
    lang = i18n.language()
    words = i18n.words(lang)
    html = render_template(
        "login.html",
        lang=lang,
        t=words,
        names=i18n.names(lang),
        title=words["login_title"],
        error=error,
        name=name,
        next=safe_next(request.values.get("next")),
        status_colors={},
    )
    return i18n.remember(make_response(html, status))


@allow(PUBLIC)
@bp.get("/login")
def login_page():
    """The sign-in form; someone already signed in goes on to ``next``."""
    if auth.signed_in() is not None:
        return redirect(safe_next(request.args.get("next")))
    return _form()


@allow(PUBLIC)
@bp.post("/login")
def login():
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    db = database.session()
    try:
        session_id, _signed = service.sign_in(db, name, password)
    except BadCredentials:
        db.commit()  # the failed try counts towards the account's lock
        return _form(401, i18n.words(i18n.language())["login_failed"], name)
    except AccountLocked as exc:
        db.commit()
        seconds = exc.details["retry_after"]
        words = i18n.words(i18n.language())
        response = _form(429, words["login_locked"].format(minutes=-(-seconds // 60)), name)
        response.headers["Retry-After"] = str(seconds)
        return response
    db.commit()
    response = redirect(safe_next(request.form.get("next")), code=303)
    response.set_cookie(
        auth.COOKIE,
        session_id,
        max_age=int(service.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
        path="/",
    )
    return response


@allow(ANY_ACCOUNT)
@bp.post("/logout")
def logout():
    """End the session (the CSRF token is checked by web/auth.py like every cookie write)."""
    cookie = request.cookies.get(auth.COOKIE)
    if cookie:
        db = database.session()
        service.sign_out(db, cookie)
        db.commit()
    response = redirect("/login", code=303)
    response.delete_cookie(auth.COOKIE, path="/", httponly=True, samesite="Lax")
    return response
