"""Rate limits on what anyone may call without an account (Flask-Limiter): a resident's report
(``POST /api/v1/cases`` and Open311's ``POST requests``), the sign-in form, and the rating
links. Counted per client address, in this process's memory (one machine needs no Redis; with
several server processes each counts its own, so the effective limit is that many times the
configured one — still a bound). Over the limit: 429 with ``Retry-After`` (seconds), as JSON
for the API, in Open311's error format on /open311/, as a page otherwise.

Accounts are not limited here: a staff report carries a token (it is the account's, and
revocable), and a wrong password locks the account itself (accounts/service.py sign_in).

The limits are strings of the ``limits`` package ("20 per minute;200 per hour"), configured
by ``RATELIMIT_INTAKE``, ``RATELIMIT_LOGIN`` and ``RATELIMIT_RATING`` (``GRIDGOV_…``);
``RATELIMIT_ENABLED`` false turns them off. Behind a reverse proxy the client's address must
reach us as ``remote_addr`` (werkzeug's ProxyFix): otherwise every resident shares the proxy's.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage
from werkzeug.exceptions import TooManyRequests

from web import errors, i18n

DEFAULTS = {
    "RATELIMIT_ENABLED": True,
    # a resident reports a few cases a day; a village's shared phone a few an hour
    "RATELIMIT_INTAKE": "20 per minute;200 per hour",
    # a person mistyping; the account's own lock stops a guesser after 5 in a row
    "RATELIMIT_LOGIN": "10 per minute;60 per hour",
    # opening a rating link and sending it: a handful per resident
    "RATELIMIT_RATING": "30 per minute",
}


# how often the counters' expired entries are dropped while any are kept
EXPIRE_EVERY_S = 1.0


class CountsInMemory(MemoryStorage):
    """limits' in-memory counters, their expired entries dropped by one thread while there are
    any, instead of a new thread for most hits.

    Why: ``MemoryStorage`` starts a ``threading.Timer`` of 10 ms on every hit whose last timer
    has run. Under a steady stream of residents' reports that is a new thread for most of them
    (113 started for 300 POSTs in one process, measured), each taking the GIL from the threads
    serving requests, twice. The cleanup only frees memory: every check reads the entries'
    times itself, so the counts are the same whenever it runs. The storage's own expiry pass
    (a private method of limits 5.8, pinned in pyproject.toml) is reused as it is."""

    STORAGE_SCHEME = ["gridgov-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the one MemoryStorage started: nothing to expire yet
        self._expiry_lock = threading.Lock()
        self._expiring = False

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces MemoryStorage's
        with self._expiry_lock:
            if not self._expiring:
                self._expiring = True
                self.timer = threading.Thread(target=self._expire_while_kept, daemon=True,
                                              name="gridgov-limits-expiry")
                self.timer.start()

    def _expire_while_kept(self) -> None:
        while True:
            time.sleep(EXPIRE_EVERY_S)
            self._MemoryStorage__expire_events()
            with self._expiry_lock:  # a hit meanwhile finds it still running, or starts one
                # (the pass leaves a key's list empty rather than removing it)
                if not any(self.events.values()) and not self.storage:
                    self._expiring = False
                    return


def _without_token() -> bool:
    """A report through the API without a token. An ``api_key`` parameter authenticates only
    Open311 (web/auth.py): here it is nobody's, and it is counted like any other."""
    return "Authorization" not in request.headers


def _anonymous_open311() -> bool:
    # Open311 takes its token as api_key too, in the form or the query string (web/open311.py)
    return _without_token() and not request.values.get("api_key")


# endpoint, its limit's configuration key, the methods counted, and who is counted
RULES = [
    ("api.create_case", "RATELIMIT_INTAKE", ["POST"], _without_token),
    ("open311.create_request", "RATELIMIT_INTAKE", ["POST"], _anonymous_open311),
    ("login.login", "RATELIMIT_LOGIN", ["POST"], None),
    ("rating.rate_page", "RATELIMIT_RATING", ["GET"], None),
    ("rating.rate_submit", "RATELIMIT_RATING", ["POST"], None),
]


def _too_many(exc: RateLimitExceeded):
    """Our own answer to a breach; Flask-Limiter adds ``Retry-After`` after it."""
    seconds = _retry_after(exc)
    message = f"too many requests from this address: try again in {seconds} seconds"
    if request.blueprint == "open311":  # its own error format (this app handler of code 429
        from web import open311          # is found before the blueprint's of any HTTPException)

        return open311.refused(TooManyRequests(message))
    if request.path.startswith("/api/"):
        return errors.error_response(429, "too_many_requests", message,
                                     {"limit": str(exc.limit.limit), "retry_after": seconds})
    from web.pages import _page  # a page like every other (its language, its header)

    lang = i18n.language()
    words = i18n.words(lang)
    return _page("not_found.html", 429, lang=lang, title=words["too_many_requests"].format(
        seconds=seconds), message=words["too_many_requests"].format(seconds=seconds))


def _retry_after(exc: RateLimitExceeded) -> int:
    """Seconds until the breached window lets one more request in."""
    limiter: Limiter = current_app.extensions["gridgov_limiter"]
    current = limiter.current_limit
    if current is None:
        return int(exc.limit.limit.get_expiry())
    return max(1, round(current.reset_at - time.time()))


def init_app(app: Flask) -> None:
    """The limiter of this app; then :func:`limit_routes` once the routes exist."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri="gridgov-memory://",
        strategy="moving-window",
        headers_enabled=True,
        enabled=bool(app.config["RATELIMIT_ENABLED"]),
        default_limits=[],
    )
    app.extensions["gridgov_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _too_many)


def limit_routes(app: Flask) -> None:
    limiter: Limiter = app.extensions["gridgov_limiter"]
    for endpoint, key, methods, counted in RULES:
        # the decorator's wrapper counts the request as the view is called (functools.wraps
        # keeps the view's @allow declaration); this app's views only, not the module's
        view = app.view_functions[endpoint]
        limited = limiter.limit(
            app.config[key], methods=methods,
            exempt_when=(lambda c=counted: not c()) if counted else None,
        )(view)
        app.view_functions[endpoint] = _counting_only(counted, limited, view) if counted else limited
    # Flask-Limiter also checks every request before its view, for limits of the whole app or
    # of a blueprint. This app sets none (each limit of RULES is checked by the wrapper around
    # its view, above), so that check found nothing on every request, at 4.8 % of a report's
    # instructions (callgrind). It stays if such a limit is configured (RATELIMIT_DEFAULT, say).
    checks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in checks and not _app_wide_limits(limiter):
        checks.remove(limiter._check_request_limit)  # (not there when limits are off)


def _counting_only(counted: Callable[[], bool], limited: Callable, view: Callable) -> Callable:
    """``view`` through Flask-Limiter's wrapper only for a request it counts.

    Why: the wrapper resolves the route's limits and their exemption on every call, a request
    it exempts included (one with a token) — 0.2 M of the 5.7 M instructions the app spent on
    a report of bench/http_bench.py's mix, two thirds of which carry a token
    (bench/app_instructions.py). An exempt request gets no count and no X-RateLimit header
    either way."""

    @functools.wraps(view)
    def either(*args, **kwargs):
        return limited(*args, **kwargs) if counted() else view(*args, **kwargs)

    return either


def _app_wide_limits(limiter: Limiter) -> bool:
    """Whether ``limiter`` has limits its before-request check would count: default, application,
    meta or blueprint limits (Flask-Limiter keeps them in private lists; the version is pinned
    in pyproject.toml)."""
    manager = limiter.limit_manager
    return bool(manager._default_limits or manager._application_limits
                or manager._blueprint_limits or limiter._meta_limits)
