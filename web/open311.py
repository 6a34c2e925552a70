"""Open311 GeoReport v2 under ``/open311/v2/``: discovery, services, services/{code},
requests (GET and POST) and requests/{id}, each in ``.xml`` and ``.json``.

Thin: the mapping is open311/georeport.py (whose package docstring says what maps to what),
the two formats open311/formats.py, the reads open311/repository.py, and a POST goes through
the intake of ``POST /api/v1/cases`` (cases/intake.py). Every refusal on these routes answers
in Open311's error format, in the format asked for (XML when none can be told): one table of
statuses for all of gridgov (web/errors.py), narrowed to the three the spec names — 404 for
what does not exist, 403 for a wrong or missing api_key, 400 for the rest — with 413 for a
body too large and 5xx kept as they are.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from accounts import access
from accounts.access import PUBLIC, allow
from accounts.actor import RESIDENT, Actor
from cases import intake
from cases.categories import categories
from cases.deadlines import LOCAL_TZ
from open311 import formats, georeport, repository
from open311.errors import InvalidApiKey, InvalidRequest, RequestNotFound
from web import auth, errors, i18n
from web.database import session

log = logging.getLogger(__name__)
bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
RESOURCES = "discovery, services, services/{service_code}, requests, requests/{service_request_id}"
# our statuses (web/errors.py) as Open311's: the spec keeps 404 and 403 and asks 400 for the rest
OPEN311_STATUS = {401: 403, 403: 403, 404: 404, 405: 405, 413: 413, 429: 429}


def _answer(fmt: str, root: str, value, status: int = 200) -> Response:
    body, content_type = formats.document(fmt, root, value)
    return Response(body, status=status, content_type=content_type)


def _language() -> tuple[str, dict]:
    lang = i18n.language()  # 400 for a language we do not have
    return lang, i18n.names(lang)


def _town(db, values) -> dict | None:
    return georeport.jurisdiction(repository.towns(db), values.get("jurisdiction_id"))


def _endpoint_url() -> str:
    return request.url_root.rstrip("/") + (bp.url_prefix or "")


@allow(PUBLIC)
@bp.get("/discovery.<fmt>")
def discovery(fmt: str):
    """Service Discovery: where the GeoReport v2 endpoint is, in which formats."""
    fmt = formats.checked_format(fmt)
    town = _town(session(autocommit=True), request.args)
    return _answer(fmt, "discovery", georeport.discovery(_endpoint_url(), town))


@allow(PUBLIC)
@bp.get("/services.<fmt>")
def services(fmt: str):
    """The services: every case category, with its checklist as the group."""
    fmt = formats.checked_format(fmt)
    db = session(autocommit=True)
    _town(db, request.args)
    lang, names = _language()
    return _answer(fmt, "services", georeport.services(categories(db), names, lang))


@allow(PUBLIC)
@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str):
    """A service's definition: no attributes (every service's metadata is false)."""
    fmt = formats.checked_format(fmt)
    db = session(autocommit=True)
    _town(db, request.args)
    georeport.known_service(categories(db), code)
    return _answer(fmt, "service_definition", georeport.service_definition(code))


def _public_record(row: dict, found: dict, names: dict, lang: str) -> dict:
    photo = (url_for("api.public_photo", photo_id=row["photo_id"], _external=True)
             if row.get("photo_id") else None)
    return georeport.request_record(row, found, names, lang, photo)


@allow(PUBLIC)
@bp.get("/requests.<fmt>")
def list_requests(fmt: str):
    """Service requests: by ``service_request_id`` (comma delimited), or reported between
    ``start_date`` and ``end_date`` (the last 90 days by default), by ``service_code`` and
    ``status`` (open, closed), newest first, at most 1,000 (``page`` and ``page_size`` for
    more). What the public board may show of each, nothing more."""
    fmt = formats.checked_format(fmt)
    db = session(autocommit=True)
    town = _town(db, request.args)
    lang, names = _language()
    found = categories(db)
    query = georeport.request_query(request.args, found, datetime.now(LOCAL_TZ))
    rows = repository.requests(db, town["code"] if town else None, query)
    return _answer(fmt, "service_requests",
                   [_public_record(r, found, names, lang) for r in rows])


@allow(PUBLIC)
@bp.get("/requests/<request_id>.<fmt>")
def get_request(request_id: str, fmt: str):
    """One service request, as a list of one (the spec's shape)."""
    fmt = formats.checked_format(fmt)
    db = session(autocommit=True)
    town = _town(db, request.args)
    lang, names = _language()
    row = repository.request(db, town["code"] if town else None, georeport.request_id(request_id))
    if row is None:
        raise RequestNotFound(f"service_request_id {request_id!r} was not found")
    return _answer(fmt, "service_requests", [_public_record(row, categories(db), names, lang)])


def _reporter(api_key: str | None) -> tuple[str, Actor]:
    """The channel and the actor of a POST: a resident's app without a key; with one, the
    key's account (looked up as a Bearer token is), reporting a matter referred to the town."""
    key = (api_key or "").strip()
    if not key:
        return georeport.ANONYMOUS_CHANNEL, RESIDENT
    actor = auth.actor_for_token(key)
    if actor is None:
        raise InvalidApiKey("Invalid api_key: it is unknown, expired or revoked, or its "
                            "account is disabled")
    return georeport.API_KEY_CHANNEL, actor


@allow(PUBLIC)
@bp.post("/requests.<fmt>")
def create_request(fmt: str):
    """Report: ``service_code``, ``lat`` and ``long`` (WGS 84) or ``address_string``,
    ``description``, ``first_name``, ``last_name``, ``phone``, form-encoded; anonymous (a
    resident's app) or with ``api_key``. The case is routed, assigned and committed by the
    intake, or nothing is written."""
    fmt = formats.checked_format(fmt)
    values = request.values  # the form, and the query string (where some clients put api_key)
    channel, actor = _reporter(values.get("api_key"))
    access.check_report(actor, channel)  # 403: a role that may not report (a planner's key)
    db = session()
    town = _town(db, values)
    lang, names = _language()
    found = categories(db)
    case_request = georeport.case_request(values, found, channel)
    result = intake.create_case(db, case_request)
    routed = ((result.case.get("grid") or {}).get("town") or {}).get("code")
    if town is not None and routed is not None and routed != town["code"]:
        db.rollback()
        raise InvalidRequest(f"the location is in town {routed}, not in jurisdiction "
                             f"{town['code']}: send it there")
    db.commit()
    case_id = result.case["id"]
    due_at = result.case["deadlines"]["due_at"]
    notice = georeport.notice(found[case_request.category],
                              datetime.fromisoformat(due_at) if due_at else None, names, lang)
    response = _answer(fmt, "service_requests", georeport.post_answer(case_id, notice), 201)
    response.headers["Location"] = url_for(".get_request", request_id=case_id, fmt=fmt)
    return response


@allow(PUBLIC)
@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST"])
@bp.route("/<path:rest>", methods=["GET", "POST"])
def unknown_resource(rest: str):
    """Anything else under /open311/v2/: 404 in Open311's format, naming the resources (405
    for a resource of ours asked with the other method)."""
    other = "POST" if request.method == "GET" else "GET"
    try:
        endpoint, _ = current_app.create_url_adapter(request).match(request.path, method=other)
    except HTTPException:
        endpoint = None
    if endpoint not in (None, request.endpoint):
        raise MethodNotAllowed([other], f"{rest[:100]!r} answers {other} only")
    raise NotFound(f"there is no Open311 resource {rest[:100]!r} here: the resources are "
                   f"{RESOURCES}, each ending in .xml or .json")


# -- refusals, in Open311's format ---------------------------------------------------------


def _format() -> str:
    args = request.view_args or {}
    fmt = args.get("fmt") or ("json" if args.get("rest", "").endswith(".json") else "xml")
    return fmt if fmt in formats.FORMATS else "xml"


def _refusal(exc: Exception) -> tuple[int, list[str]]:
    """Our status of ``exc`` and its descriptions (one per problem)."""
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        if status >= 500:  # an error of ours: Flask logged it, the client learns no more
            return status, ["the service could not complete the request; try again later"]
        return status, [exc.description or exc.name]
    if isinstance(exc, errors.ApiError):
        return exc.status, [exc.message]
    status, _code = errors.refusal_of(exc)
    message = getattr(exc, "message", None)
    if not isinstance(message, str):  # a driver's error: its text stays in the log
        message = errors.driver_message(exc, status)
    details = getattr(exc, "details", None)
    if isinstance(details, list) and details and all(isinstance(d, str) for d in details):
        return status, details
    return status, [message]


def _refused(exc: Exception) -> Response:
    status, descriptions = _refusal(exc)
    status = status if status >= 500 else OPEN311_STATUS.get(status, 400)
    body, content_type = formats.errors_document(_format(), status, descriptions)
    response = Response(body, status=status, content_type=content_type)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


refused = _refused  # web/throttle.py answers a breach of the intake's limit with it

for _cls in (*errors.STATUS_FOR, errors.ApiError, HTTPException):
    bp.register_error_handler(_cls, _refused)
