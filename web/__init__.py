"""The Flask application factory: ``create_app(config=None)``.

Configuration: defaults, then ``GRIDGOV_*`` environment variables, then the mapping given
(tests). Nothing connects to the database or reads files here; the first request does.
"""

from __future__ import annotations

import os

from flask import Flask
from flask_compress import Compress

DEFAULTS = {
    "DATABASE_URL": None,  # None: GRIDGOV_DATABASE_URL, else the managed cluster in var/pg
    "BASEMAP_URL": None,  # a tile URL template; None draws our own outlines on a plain background
    "BASEMAP_ATTRIBUTION": "",
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,  # a multipart body: a case with its photos
    "MAX_JSON_LENGTH": 1024 * 1024,  # any other body (web/limits.py)
    "LANGUAGE": "zh",
    # a check-in farther than this from its target (geodesic metres) is kept but flagged `far`
    "VISIT_MAX_DISTANCE_M": 100.0,
    # Flask-Compress: what is worth compressing. Not the live stream (text/event-stream: a
    # compressor would hold events back until its buffer fills) and not vector tiles, which are
    # gzip'ed once when cached (web/tiles.py) rather than on every answer.
    "COMPRESS_MIMETYPES": [
        "text/html", "text/css", "text/javascript", "application/javascript",
        "application/json", "application/geo+json", "image/svg+xml",
    ],
}
ENV_KEYS = ("DATABASE_URL", "BASEMAP_URL", "BASEMAP_ATTRIBUTION", "MAX_CONTENT_LENGTH",
            "MAX_JSON_LENGTH", "LANGUAGE", "VISIT_MAX_DISTANCE_M")
INT_KEYS = ("MAX_CONTENT_LENGTH", "MAX_JSON_LENGTH")
FLOAT_KEYS = ("VISIT_MAX_DISTANCE_M",)


def _from_env() -> dict:
    found = {}
    for key in ENV_KEYS:
        value = os.environ.get(f"GRIDGOV_{key}")
        if value:
            found[key] = (int(value) if key in INT_KEYS
                          else float(value) if key in FLOAT_KEYS else value)
    return found


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(_from_env())
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    from web import (
        api, auth, database, errors, limits, login, pages, public, rating, scores, tiles,
        worker,
    )

    Compress(app)

    # registered after Compress, so it runs before it (Flask runs after_request hooks in
    # reverse order)
    @app.after_request
    def _read_static_files(response):
        # A static file comes as a stream of its chunks; Flask-Compress would compress it chunk by
        # chunk but never close the file (the garbage collector would). Read into memory, the
        # file is closed with the response, and compressed whole like any other answer.
        if response.direct_passthrough and response.mimetype in app.config["COMPRESS_MIMETYPES"]:
            response.direct_passthrough = False
            response.make_sequence()
        return response

    database.init_app(app)
    errors.init_app(app)
    auth.init_app(app)  # after errors: its handlers answer refusals on pages with a page
    limits.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(public.bp)
    rating.init_app(app)
    app.register_blueprint(scores.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(worker.bp)
    api.init_app(app)
    return app
