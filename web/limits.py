"""How large a request body may be, decided from its declared length before anything reads it.

Two limits: ``MAX_CONTENT_LENGTH`` (16 MiB) for ``multipart/form-data``, a case with its
photos; ``MAX_JSON_LENGTH`` (1 MiB) for every other body, JSON above all, where the largest
honest one (a case with a 2,000-character description) is a few kilobytes. A body over its
limit is 413 before a byte of it is read or parsed, by its ``Content-Length``. A chunked body
has none: werkzeug's stream then reads at most the request's ``max_content_length`` (set
here to the limit + 1, so that a body exactly at the limit and one over it differ) and
:func:`refuse_if_over` refuses what came in over the limit before it is parsed.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

MULTIPART = "multipart/form-data"


def body_limit() -> int | None:
    """The largest body this request may have, in bytes (None: no limit)."""
    overall = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.mimetype == MULTIPART:
        return overall
    limits = [x for x in (overall, current_app.config.get("MAX_JSON_LENGTH")) if x is not None]
    return min(limits) if limits else None


def _too_large(size: str, limit: int) -> RequestEntityTooLarge:
    kind = "a multipart body" if request.mimetype == MULTIPART else "a body that is not multipart"
    return RequestEntityTooLarge(f"the body is {size} bytes but {kind} may have at most {limit:,}")


def refuse_if_over(read_bytes: int) -> None:
    """413 when a body read without a declared length turned out over the limit."""
    limit = body_limit()
    if limit is not None and read_bytes > limit:
        raise _too_large("more than " + f"{limit:,}", limit)


def _refuse_oversize_body() -> None:
    limit = body_limit()
    length = request.content_length
    if limit is None:
        return
    if length is not None and length > limit:
        raise _too_large(f"{length:,}", limit)
    request.max_content_length = limit if length is not None else limit + 1


def init_app(app: Flask) -> None:
    app.before_request(_refuse_oversize_body)
