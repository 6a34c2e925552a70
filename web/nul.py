"""No NUL character (U+0000) in any text a request brings: the query, a form, a JSON body.

PostgreSQL's text cannot hold it: a NUL in a description, a summary or a name reached the
database and came back a driver error, answered 500 (make fuzz found it on
``POST /api/v1/emergencies/{id}/close``; every text field of the API and the pages' forms was
open to it). It is refused here, before a view runs, naming the field: 422 on the API
(``invalid_query`` or ``invalid_body``), a 400 page elsewhere (Open311: its error format). A
JSON body is checked where it is parsed (``web.api.json_body``), and so is JSON text inside a
form field (``refuse_nul``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from werkzeug.exceptions import BadRequest

from web import i18n
from web.errors import ApiError

NUL = "\x00"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def nul_field(data: Any, path: str = "") -> str | None:
    """Where in ``data`` (JSON as Python: dicts, lists, strings, numbers) the first NUL is, as
    a dotted path (``location.address``, ``items.2``); None when there is none."""
    if isinstance(data, str):
        return (path or "body") if NUL in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return here
            found = nul_field(value, here)
            if found:
                return found
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found = nul_field(value, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def message(field: str) -> str:
    return f"`{field}` holds the NUL character (U+0000), which no text may hold"


def refused(field: str, code: str) -> ApiError:
    """The API's answer to a NUL in ``field``: 422 ``code`` naming it."""
    return ApiError(message(field), [{"field": field, "message": message(field)}],
                    code=code, status=422)


def refuse_nul(data: Any, code: str = "invalid_body") -> None:
    """422 ``code`` naming the field of ``data`` (parsed JSON) that holds a NUL."""
    field = nul_field(data)
    if field is not None:
        raise refused(field, code)


def _refuse(field: str, code: str):
    if request.path.startswith("/api/"):
        raise refused(field, code)
    if request.blueprint == "open311":  # its own error format, as its other refusals
        from web import open311

        return open311.refused(BadRequest(message(field)))
    from web.pages import _page  # a page, in the page's language, like every other refusal

    lang = i18n.language()
    words = i18n.words(lang)
    return _page("not_found.html", 400, lang=lang, title=words["nul_title"],
                 message=words["nul_message"].format(field=field))


def _check_query_and_form():
    for name, value in request.args.items(multi=True):
        if NUL in name or NUL in value:
            return _refuse(name.replace(NUL, "\\u0000"), "invalid_query")
    if request.mimetype in FORMS:  # after web/limits.py: an oversize body is refused unread
        for name, value in request.form.items(multi=True):
            if NUL in (name or "") or NUL in value:
                return _refuse((name or "").replace(NUL, "\\u0000"), "invalid_body")
    return None


def init_app(app: Flask) -> None:
    app.before_request(_check_query_and_form)
