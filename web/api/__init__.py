"""The JSON API under ``/api/v1``: the blueprint, request validation, and the OpenAPI document
generated from the same declarations the views are built from.

Each view is declared with ``@operation``: its query and body as pydantic models, its
responses and the errors it may answer. The decorator validates the request before the view
runs — malformed JSON is 400, a body or query that does not fit the model is 422 with one
message per field, a body over its limit is 413 before it is read (web/limits.py) — and
records the operation so ``/api/v1/openapi.json`` describes exactly what is served.

Why our own ~200 lines rather than flask-smorest or spectree: we need DESIGN.md's single error
shape (``{"error", "message", "details"}``) with 400 vs 422 kept apart, and readable docs that
load nothing from another host; both libraries bring their own error bodies and CDN-hosted
documentation pages.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for
from pydantic import BaseModel, ValidationError

from accounts.access import PUBLIC, SIGNED, allow, declaration
from web import limits
from web.errors import ApiError
from web.nul import refuse_nul

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@dataclass
class Operation:
    rule: str
    method: str
    summary: str
    description: str
    tags: list[str]
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    responses: dict[int, tuple[str, type[BaseModel] | dict | Media | None]]
    errors: dict[int, str]
    multipart: dict | None = None
    extra_parameters: list[dict] = field(default_factory=list)
    # OpenAPI links by status: how an answer's values feed another operation (name -> link)
    links: dict[int, dict[str, dict]] = field(default_factory=dict)
    view: Callable | None = None  # who may use it: its accounts.access declaration


@dataclass(frozen=True)
class Media:
    """An answer in media types other than JSON, or in several (a ``format=csv`` beside the
    JSON): media type -> its schema (a JSON schema, or a pydantic model for JSON). Given in
    place of the model in ``responses``, so the document lists every type the view sends."""

    types: dict[str, type[BaseModel] | dict]


OPERATIONS: list[Operation] = []
# a CSV answer (scores, an emergency's tasks): UTF-8 with a byte-order mark, so that Excel,
# which the town's offices open it with, reads the Chinese as UTF-8
CSV = {"type": "string", "description": "CSV, UTF-8 with a byte-order mark, a header row first"}
# a case's photo as stored (the types intake accepts, cases/intake.py)
IMAGE = Media({kind: {"type": "string", "contentMediaType": kind}
               for kind in ("image/jpeg", "image/png", "image/webp")})

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable code, e.g. outside_coverage"},
        "message": {"type": "string"},
        "details": {"description": "per-field messages, valid values, nearest grid, …"},
    },
}


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``[{"field": "location.lon", "message": …}]``."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(body)"
        out.append({"field": loc, "message": err["msg"]})
    return out


def _parse_query(model: type[BaseModel]) -> BaseModel:
    """The query string as ``model``; 422 for a value that does not fit, and for a parameter
    given more than once (``?lon=1&lon=2``): no parameter of ours takes several values, and
    silently keeping one of them would answer a question the client did not ask."""
    repeated = [
        {"field": name, "message": f"given {len(values)} times ({', '.join(map(repr, values))}): "
                                   f"give it once"}
        for name, values in ((n, request.args.getlist(n))
                             for n in (f.alias or k for k, f in model.model_fields.items()))
        if len(values) > 1
    ]
    if repeated:
        names = ", ".join(f"`{d['field']}`" for d in repeated)
        raise ApiError(f"repeated query parameter: {names}", repeated, code="repeated_parameter",
                       status=422)
    raw = {k: v for k, v in request.args.items()}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ApiError("the query parameters are not valid", field_errors(exc), code="invalid_query", status=422) from exc


def json_body() -> Any:
    """The request's JSON, or 400 when it is not JSON at all; 413 when it is too large."""
    raw = request.get_data(cache=True)  # 413 past the limit (web/limits.py)
    limits.refuse_if_over(len(raw))  # a chunked body: read to the limit + 1, refused here
    if not raw:
        raise ApiError("the request has no body: send a JSON object", code="malformed_json", status=400)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(f"the body is not valid JSON: {exc}", code="malformed_json", status=400) from exc
    if b"\\u0000" in raw:  # JSON can carry a NUL only escaped (web/nul.py)
        refuse_nul(data)
    return data


def refuse_unknown_fields(form_fields: set[str], hint: str) -> None:
    """422 naming every multipart field other than ``form_fields`` and the files ``photos``,
    with ``hint`` (the fields the form has) as each one's message.

    A part whose name werkzeug could not read (``name="ñ\\"``: a quote left open) comes with
    the name None; it is named "" here. Sorting it with the others was a 500 (make fuzz)."""
    form, files = request.form, request.files  # 413 past MAX_CONTENT_LENGTH
    unknown = sorted(name or "" for name in set(files) - {"photos"}) + sorted(
        name or "" for name in set(form) - form_fields)
    if unknown:
        raise ApiError("unknown multipart fields", [
            {"field": name, "message": f"not a field of this form: {hint}"} for name in unknown],
            code="invalid_body", status=422)


def validate_body(model: type[BaseModel], data: Any) -> BaseModel:
    """``data`` as ``model``, or 422 with a message per field."""
    if not isinstance(data, dict):
        raise ApiError(
            f"the body must be a JSON object, not {type(data).__name__}", code="invalid_body", status=422
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError("the request body is not valid", field_errors(exc), code="invalid_body", status=422) from exc


def operation(
    rule: str,
    method: str = "GET",
    *,
    summary: str,
    tags: list[str],
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    responses: dict[int, tuple[str, type[BaseModel] | dict | Media | None]] | None = None,
    errors: dict[int, str] | None = None,
    multipart: dict | None = None,
    parse_body: bool = True,
    links: dict[int, dict[str, dict]] | None = None,
) -> Callable:
    """Declare an API view: route it on ``bp``, validate its input, describe it in OpenAPI.

    The view receives ``query=`` and ``body=`` (parsed models) when declared. With
    ``parse_body=False`` the view parses the body itself (multipart uploads) and the model
    only documents it. ``links``: OpenAPI links by status, for what the document cannot
    infer (a revision in the body that another operation wants in If-Match).
    """

    def decorate(view: Callable) -> Callable:
        declared_errors = dict(errors or {})
        if query is not None:
            declared_errors.setdefault(422, "a query parameter missing, repeated or not valid")
        if body is not None:
            declared_errors.setdefault(400, "malformed_json: no body, or one that is not JSON")
            declared_errors.setdefault(422, "invalid_body: not an object, or fields that do not fit "
                                            "(a message per field)")
            declared_errors.setdefault(413, "the body is over its limit (web/limits.py)")
        op = Operation(
            rule=rule, method=method.upper(), summary=summary,
            description=(view.__doc__ or "").strip(), tags=tags, query=query, body=body,
            responses=responses or {200: ("OK", None)}, errors=declared_errors, multipart=multipart,
            links=links or {},
        )
        OPERATIONS.append(op)

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if query is not None:
                kwargs["query"] = _parse_query(query)
            if body is not None and parse_body:
                kwargs["body"] = validate_body(body, json_body())
            return view(*args, **kwargs)

        bp.add_url_rule(rule, view_func=wrapper, methods=[op.method])
        op.view = wrapper
        return wrapper

    return decorate


# -- the OpenAPI document ----------------------------------------------------------------


def _openapi_path(rule: str) -> str:
    """Flask's ``/cases/<int:case_id>`` as OpenAPI's ``/cases/{case_id}``."""
    out = []
    for part in rule.split("/"):
        if part.startswith("<") and part.endswith(">"):
            part = "{" + part[1:-1].split(":")[-1] + "}"
        out.append(part)
    return "/api/v1" + "/".join(out)


def _add_component(components: dict, name: str, schema: dict) -> None:
    """Add a named schema; two different models of one name would silently describe one
    operation's answer with the other's schema (case_schemas.GeocodeOut once stood for
    /geocode's), so that is refused."""
    if name in components and components[name] != schema:
        raise RuntimeError(f"two different schemas are named {name!r}: rename one of the models")
    components[name] = schema


def _model_schema(model: type[BaseModel], components: dict, mode: str) -> dict:
    """``model``'s JSON schema with its sub-models moved into ``components``. Requests are
    described as validated (``mode="validation"``: a field with a default may be left out);
    answers as serialized (``"serialization"``: every field is there), under a name of their
    own when the two differ."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    for name, sub in schema.pop("$defs", {}).items():
        _add_component(components, name, sub)
    return schema


def _schema_ref(model: type[BaseModel], components: dict, mode: str = "validation") -> dict:
    schema = _model_schema(model, components, mode)
    _add_component(components, model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _response_schema(model: type[BaseModel] | dict, components: dict) -> dict:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return _schema_ref(model, components, "serialization")
    return model


def _query_parameters(model: type[BaseModel], components: dict) -> list[dict]:
    schema = _model_schema(model, components, "validation")
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        params.append({
            "name": name, "in": "query", "required": name in required,
            "description": prop.get("description", ""), "schema": prop,
        })
    return params


def openapi_document() -> dict:
    """The OpenAPI 3.1 document for every declared operation."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary, "tags": op.tags,
            "operationId": f"{op.method.lower()}_{op.rule.strip('/').replace('/', '_').replace('<', '').replace('>', '').replace(':', '_')}",
        }
        if op.description:
            entry["description"] = op.description
        params = []
        for part in op.rule.split("/"):
            if part.startswith("<"):
                conv, _, name = part[1:-1].rpartition(":")
                params.append({"name": name, "in": "path", "required": True,
                               "schema": {"type": "integer" if conv == "int" else "string"}})
        if op.query is not None:
            params += _query_parameters(op.query, components)
        params += op.extra_parameters
        if params:
            entry["parameters"] = params
        if op.body is not None:
            content = {"application/json": {"schema": _schema_ref(op.body, components)}}
            if op.multipart:
                content["multipart/form-data"] = {"schema": op.multipart}
            entry["requestBody"] = {"required": True, "content": content}
        responses: dict[str, Any] = {}
        for status, (text, model) in op.responses.items():
            resp: dict[str, Any] = {"description": text}
            media = model.types if isinstance(model, Media) else (
                {"application/json": model} if model is not None else {})
            if media:
                resp["content"] = {kind: {"schema": _response_schema(schema, components)}
                                   for kind, schema in media.items()}
            if status in op.links:
                resp["links"] = op.links[status]
            responses[str(status)] = resp
        allowed = declaration(op.view) or frozenset()
        if SIGNED in allowed:
            entry["security"] = [{"feed_signature": [], "feed_timestamp": []}]
        elif PUBLIC not in allowed:
            entry["security"] = [{"bearer": []}]
            roles = ", ".join(sorted(allowed))
            who = f"\n\nWho may use it: {roles}."
            entry["description"] = (entry.get("description", "") + who).strip()
            op.errors.setdefault(401, "not_authenticated: no token (or an unknown, expired or "
                                      "revoked one)")
            op.errors.setdefault(403, "forbidden: the account's role may not use this operation")
        for status, text in op.errors.items():
            responses[str(status)] = {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        entry["responses"] = responses
        paths.setdefault(_openapi_path(op.rule), {})[op.method.lower()] = entry
    # a copy: the operations' links and schemas are shared module objects, and a reader of the
    # document may change what it was given (schemathesis adds to the links it follows; after
    # tests/test_fuzz_api.py, test_openapi read links that no operation declares)
    return copy.deepcopy({
        "openapi": "3.1.0",
        "info": {
            "title": "gridgov API",
            "version": "1",
            "description": "Grid-based township governance: locate a point in the grid hierarchy, "
                           "geocode Chinese addresses, report and follow cases.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "an API token from `gridgov users add` or `gridgov users token`; pages "
                           "use the session cookie of /login"},
            "feed_signature": {
                "type": "apiKey", "in": "header", "name": "X-Gridgov-Signature",
                "description": "a monitoring feed's signature: sha256=<hex HMAC-SHA256 under the "
                               "feed's secret of the timestamp, '.', and the body>"},
            "feed_timestamp": {
                "type": "apiKey", "in": "header", "name": "X-Gridgov-Timestamp",
                "description": "the Unix seconds the feed signed (5 minutes either way)"}}},
    })


@allow(PUBLIC)
@bp.get("/openapi.json")
def openapi_json() -> Response:
    return current_app.json.response(openapi_document())


@allow(PUBLIC)
@bp.get("/docs")
def docs() -> str:
    """The API described (swagger-ui), and the case workflow drawn from its data
    (cases/workflow.py: ``diagram()`` as Mermaid, and the actions as a table)."""
    from cases.workflow import ACTIONS, OPEN_STATES, diagram

    actions = [{"name": a.name, "zh": a.zh, "to": a.to, "needs_reason": a.needs_reason,
                "roles": a.roles, "by": a.by, "target": a.target,
                "sources": "every open state" if a.sources == OPEN_STATES else ", ".join(a.sources)}
               for a in ACTIONS.values()]
    return render_template("api_docs.html", spec_url=url_for("api.openapi_json"),
                           workflow_diagram=diagram(), workflow_actions=actions)


def init_app(app) -> None:
    """Register the API blueprint with every endpoint module imported."""
    from web.api import endpoints  # noqa: F401  (each module declares its operations)

    app.register_blueprint(bp)
