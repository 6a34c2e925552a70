"""``/ogc/``: OGC API – Features (core, GeoJSON, OpenAPI 3.0) over the ogc package.

Thin: each view checks its query string (ogc.query), asks ogc.collections, and answers
ogc.documents' JSON in the media type the client accepts (``f=json`` wins over Accept).
Refusals answer the OGC exception shape, ``{"code", "description"}``, with the status and
code of web/errors.py's table.

Who may read: anyone. ``grids`` and ``zones`` are the boundaries ``GET /api/v1/grids`` already
gives to anyone (without the people posted to them, which stay out here); ``public_cases``
is the public board, redacted as the board is. A planner's QGIS needs no token.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy.exc import OperationalError

from accounts.access import PUBLIC, allow
from db.errors import GridgovError
from ogc import collections, documents, query
from ogc.errors import NotAcceptable
from web import database
from web.errors import table_error
from web.database import replica_reads

bp = Blueprint("ogc", __name__, url_prefix="/ogc")

TITLE = "gridgov — OGC API – Features"


def _base() -> str:
    return url_for("ogc.landing", _external=True).rstrip("/")


def _checked(allowed: tuple[str, ...]) -> dict[str, str]:
    args = query.single_values(request.args.to_dict(flat=False), allowed)
    query.output_format(args.get("f"))
    return args


def _answer(document: dict, offered: tuple[str, ...]) -> Response:
    """``document`` as JSON in the first of ``offered`` the client accepts; NotAcceptable
    when its Accept header allows none (and it did not ask with ``f=json``)."""
    media_type = offered[0]
    if "f" not in request.args and request.accept_mimetypes:
        media_type = request.accept_mimetypes.best_match(offered)
        if media_type is None:
            raise NotAcceptable(
                f"the Accept header ({request.headers.get('Accept')!r}) allows none of "
                f"{', '.join(offered)}; send one of them, or f=json",
                {"accept": request.headers.get("Accept"), "offered": list(offered)})
    response = current_app.json.response(document)
    response.content_type = media_type
    response.headers["Vary"] = "Accept"
    return response


@bp.errorhandler(GridgovError)
@bp.errorhandler(OperationalError)
def _exception(exc: Exception):
    """A refusal in the OGC exception shape: the table's code and message."""
    response, status = table_error(exc)
    body = response.get_json()
    return current_app.json.response({"code": body["error"],
                                      "description": body["message"]}), status


@allow(PUBLIC)
@bp.get("/", strict_slashes=False)  # /ogc too: a client may be given the URL either way
def landing():
    """The landing page: links to the API definition, the conformance and the collections."""
    _checked(query.DOCUMENT_PARAMETERS)
    return _answer(documents.landing(_base(), TITLE), (documents.JSON,))


@allow(PUBLIC)
@bp.get("/conformance")
def conformance():
    """The conformance classes: core, geojson, oas30."""
    _checked(query.DOCUMENT_PARAMETERS)
    return _answer(documents.conformance(), (documents.JSON,))


@allow(PUBLIC)
@bp.get("/api")
def api():
    """This API described in OpenAPI 3.0."""
    _checked(query.DOCUMENT_PARAMETERS)
    return _answer(documents.openapi(_base(), TITLE), (documents.OPENAPI, documents.JSON))


@replica_reads
@allow(PUBLIC)
@bp.get("/collections")
def collection_list():
    """Every collection with its extent."""
    _checked(query.DOCUMENT_PARAMETERS)
    base, db = _base(), database.session()
    described = [documents.collection_document(base, found, collections.extent(db, found.id))
                 for found in collections.COLLECTIONS.values()]
    return _answer(documents.collections_document(base, described), (documents.JSON,))


@replica_reads
@allow(PUBLIC)
@bp.get("/collections/<collection_id>")
def collection(collection_id: str):
    """One collection with its extent."""
    _checked(query.DOCUMENT_PARAMETERS)
    found = collections.collection(collection_id)
    extent = collections.extent(database.session(), found.id)
    return _answer(documents.collection_document(_base(), found, extent), (documents.JSON,))


@replica_reads
@allow(PUBLIC)
@bp.get("/collections/<collection_id>/items")
def items(collection_id: str):
    """A page of features: bbox, datetime, limit, offset; numberMatched and next links."""
    collections.collection(collection_id)
    asked = query.items_query(_checked(query.ITEMS_PARAMETERS))
    features, matched = collections.items(database.session(), collection_id, asked)
    page = documents.feature_collection(_base(), collection_id, asked, features, matched)
    return _answer(page, (documents.GEOJSON, documents.JSON))


@replica_reads
@allow(PUBLIC)
@bp.get("/collections/<collection_id>/items/<feature_id>")
def item(collection_id: str, feature_id: str):
    """One feature by its id."""
    _checked(query.DOCUMENT_PARAMETERS)
    feature = collections.item(database.session(), collection_id, feature_id)
    return _answer(documents.feature_document(_base(), collection_id, feature),
                   (documents.GEOJSON, documents.JSON))
