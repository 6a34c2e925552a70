"""Security headers on every answer, and the nonce of a page's own scripts.

The Content-Security-Policy lets a page run scripts from our host and the inline scripts we
wrote — each carries this request's nonce (``nonce="{{ csp_nonce() }}"`` in the templates;
folium's rendered map through the ``nonced`` filter) — and nothing else: no ``unsafe-inline``
for scripts, no ``eval``, no other host (everything we serve comes from npm at setup, served
by us). Styles may be inline (Leaflet and folium position with style attributes). Pages may
not be framed (``frame-ancestors 'none'``), a form posts only to us, a photo may be a
``blob:`` (the phone's offline queue) or ``data:`` URL.

HTTPS is the reverse proxy's: we do not redirect to it, and HSTS is sent only on a request
that came over TLS (``request.is_secure``, or ``X-Forwarded-Proto: https`` from the proxy).
The session cookie is set by web/login.py (HttpOnly, SameSite=Lax, Secure over TLS).

Why our own after-request hook and not Flask-Talisman, which set these headers until
2026-12-02: Talisman builds the same headers again on every answer — it looks the view's
options up four times, re-joins the policy from its parts and reads the request through its
proxy a dozen times — 0.52 M of the 6.0 M instructions the app spent on a case report
(callgrind, bench/app_instructions.py). Here everything but the nonce and HSTS is a string
made once. The headers are the ones Talisman sent, with the settings we gave it.
"""

from __future__ import annotations

import re
import secrets

from flask import Flask, Response, request
from markupsafe import Markup

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",  # + this answer's nonce (_set_headers)
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


# a nonce of 32 URL-safe characters (192 bits), a new one for every answer
NONCE_LENGTH = 32
HSTS = "max-age=31556926"  # a year
# the headers every answer carries as they are (the CSP's script-src gets the nonce)
FIXED_HEADERS = {
    "Permissions-Policy": "browsing-topics=()",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def nonce() -> str:
    """This request's script nonce, made on first use ('' outside a request)."""
    if not request:
        return ""
    found = getattr(request, "csp_nonce", None)
    if found is None:
        found = request.csp_nonce = secrets.token_urlsafe(NONCE_LENGTH)[:NONCE_LENGTH]
    return found


def _policy_template(policy: dict[str, str], nonce_in: str) -> str:
    """The policy as one header value, ``{nonce}`` where the nonce goes."""
    return "; ".join(f"{name} {value} 'nonce-{{nonce}}'" if name == nonce_in else f"{name} {value}"
                     for name, value in policy.items())


_CSP = _policy_template(POLICY, "script-src")


def _set_headers(response: Response) -> Response:
    headers = response.headers
    headers.update(FIXED_HEADERS)
    headers["Content-Security-Policy"] = _CSP.replace("{nonce}", nonce())
    if request.is_secure or request.headers.get("X-Forwarded-Proto") == "https":
        headers["Strict-Transport-Security"] = HSTS
    return response


def nonced(html: str) -> Markup:
    """Our own generated markup (folium's map) with this request's nonce on each of its
    <script> tags. Only for markup we produced: a nonce blesses whatever script it is on."""
    return Markup(_SCRIPT_TAG.sub(f'<script nonce="{nonce()}"', str(html)))


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = nonce
    app.after_request(_set_headers)
    app.jinja_env.filters["nonced"] = nonced
