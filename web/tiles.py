"""``/tiles/{layer}/{z}/{x}/{y}.pbf``: Mapbox vector tiles (tiles/mvt.py), cached per app.

A tile answers 200 with ``application/vnd.mapbox-vector-tile``, or 204 with no body when it
has no features (Leaflet.VectorGrid reads an empty body as a tile without layers). Every
answer carries ``Cache-Control: no-cache`` and an ``ETag`` (a hash of the bytes, the same in
every worker), so a browser revalidates and gets 304 while the tile is unchanged.
``X-Tile-Cache: hit|miss`` says whether the app's cache answered. A client that accepts
gzip gets the tile gzip'ed (``Content-Encoding: gzip``, ETag ``<hash>:gzip``), compressed once,
on the first request that accepts it, and kept with the cached tile.

Each app has its own cache (``tile_cache(app)``), of ``TILE_CACHE_BYTES`` in the app's config
(default 64 MiB; 0 turns it off); the live-update listener invalidates every app's cache in
the process.

Tiles need an account; the cases layer holds only the cases of the account's scope (a
village's operator sees the village's cases), the scope being part of the cache key.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, request
from flask.sansio.blueprints import BlueprintSetupState

from accounts import access
from accounts.access import ANY_ACCOUNT, allow
from tiles import mvt
from tiles.cache import DEFAULT_MAX_BYTES, TileCache, app_cache
from web import database
from web.auth import current_actor
from web.live import hub_for
from web.database import replica_reads

bp = Blueprint("tiles", __name__, url_prefix="/tiles")

MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
_EXTENSION = "gridgov.tile_cache"


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    size = int(state.app.config.get("TILE_CACHE_BYTES", DEFAULT_MAX_BYTES))
    state.app.extensions[_EXTENSION] = app_cache(size)


def tile_cache(app: Flask) -> TileCache:
    """The app's own tile cache."""
    return app.extensions[_EXTENSION]


@replica_reads
@allow(ANY_ACCOUNT)
@bp.get("/<layer>/<z>/<x>/<y>.pbf")
def tile(layer: str, z: str, x: str, y: str) -> Response:
    """One vector tile; the query parameters are the layer's filters."""
    # this process's listener keeps the tile cache true to changes made anywhere (web/live.py);
    # start it with the first tile, not only with the first live-map client
    hub_for(database.listen_conninfo(), database.replica_conninfo())
    served = mvt.serve_tile(
        lambda: database.session(autocommit=True),
        # a tile is one statement: autocommit saves the BEGIN and ROLLBACK round trips
        database.autocommit_connection,
        str(database.engine().url),
        layer,
        z,
        x,
        y,
        request.args.to_dict(flat=False),
        tile_cache(current_app),
        # the cases the account may see (a village's map shows the village's cases)
        access.case_scope(current_actor()),
    )
    gzip = bool(served.data) and request.accept_encodings.quality("gzip") > 0
    response = Response(
        (served.gzipped() if gzip else served.data) or None,
        status=200 if served.data else 204,
        mimetype=MEDIA_TYPE,
    )
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["X-Tile-Cache"] = "hit" if served.cache_hit else "miss"
    if gzip:
        # another representation, another strong ETag (Flask-Compress spells it the same way)
        response.headers["Content-Encoding"] = "gzip"
        response.set_etag(f"{served.etag}:gzip")
    else:
        response.set_etag(served.etag)
    return response.make_conditional(request)
