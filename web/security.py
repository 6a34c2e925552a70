"""Security headers on every answer (Flask-Talisman), and the nonce of a page's own scripts.

The Content-Security-Policy lets a page run scripts from our host and the inline scripts we
wrote — each carries this request's nonce (``nonce="{{ csp_nonce() }}"`` in the templates;
folium's rendered map through the ``nonced`` filter) — and nothing else: no ``unsafe-inline``
for scripts, no ``eval``, no other host (everything we serve comes from npm at setup, served
by us). Styles may be inline (Leaflet and folium position with style attributes). Pages may
not be framed (``frame-ancestors 'none'``), a form posts only to us, a photo may be a
``blob:`` (the phone's offline queue) or ``data:`` URL.

HTTPS is the reverse proxy's: we do not redirect to it (``force_https`` off), and HSTS is sent
only on a request that came over TLS (Talisman checks ``request.is_secure`` and
``X-Forwarded-Proto``). The session cookie is set by web/login.py (HttpOnly, SameSite=Lax,
Secure over TLS).
"""

from __future__ import annotations

import re

from flask import Flask, request
from flask_talisman import Talisman
from markupsafe import Markup

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",  # + this request's nonce (content_security_policy_nonce_in)
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "manifest-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
_SCRIPT_TAG = re.compile(r"<script\b(?![^>]*\bnonce=)", re.IGNORECASE)


def nonce() -> str:
    """This request's script nonce ('' outside a request)."""
    return getattr(request, "csp_nonce", "") if request else ""


def nonced(html: str) -> Markup:
    """Our own generated markup (folium's map) with this request's nonce on each of its
    <script> tags. Only for markup we produced: a nonce blesses whatever script it is on."""
    return Markup(_SCRIPT_TAG.sub(f'<script nonce="{nonce()}"', str(html)))


def init_app(app: Flask) -> None:
    Talisman(
        app,
        force_https=False,
        session_cookie_secure=False,  # no Flask session; our cookie: web/login.py
        content_security_policy=POLICY,
        content_security_policy_nonce_in=["script-src"],
        frame_options="DENY",
        referrer_policy="same-origin",
        strict_transport_security=True,
        strict_transport_security_include_subdomains=False,
    )
    app.jinja_env.filters["nonced"] = nonced
