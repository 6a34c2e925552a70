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
    # a hot standby for the read-only views; the primary through PgBouncer for the requests
    # (db/session.py replica_url, pgbouncer_url; web/database.py)
    "REPLICA_URL": None,
    "PGBOUNCER_URL": None,
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
ENV_KEYS = ("DATABASE_URL", "REPLICA_URL", "PGBOUNCER_URL", "BASEMAP_URL", "BASEMAP_ATTRIBUTION", "MAX_CONTENT_LENGTH",
            "MAX_JSON_LENGTH", "LANGUAGE", "VISIT_MAX_DISTANCE_M", "RATELIMIT_ENABLED",
            "RATELIMIT_INTAKE", "RATELIMIT_LOGIN", "RATELIMIT_RATING")  # web/throttle.py
INT_KEYS = ("MAX_CONTENT_LENGTH", "MAX_JSON_LENGTH")
FLOAT_KEYS = ("VISIT_MAX_DISTANCE_M",)


def _from_env() -> dict:
    found = {}
    for key in ENV_KEYS:
        value = os.environ.get(f"GRIDGOV_{key}")
        if value:
            found[key] = (int(value) if key in INT_KEYS
                          else float(value) if key in FLOAT_KEYS
                          else value.lower() not in ("0", "false", "no", "off")
                          if key == "RATELIMIT_ENABLED" else value)
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
        api, auth, database, errors, limits, login, nul, ogc, open311, pages, planner, public,
        rating, scores, security, throttle, tiles, unavailable, worker,
    )
    from web import emergencies as emergency_pages

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

    # before throttle: its Retry-After on a 503 or 507 replaces Flask-Limiter's
    # (web/unavailable.py)
    unavailable.init_app(app)
    throttle.init_app(app)
    database.init_app(app)
    errors.init_app(app)
    security.init_app(app)  # before auth: a refused page has its nonce too
    auth.init_app(app)  # after errors: its handlers answer refusals on pages with a page
    limits.init_app(app)
    nul.init_app(app)  # after limits: it reads forms, refused unread by limits when too large
    app.register_blueprint(pages.bp)
    app.register_blueprint(public.bp)
    rating.init_app(app)
    app.register_blueprint(scores.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(worker.bp)
    app.register_blueprint(planner.bp)
    app.register_blueprint(open311.bp)  # Open311 GeoReport v2, /open311/v2/
    app.register_blueprint(ogc.bp)
    app.register_blueprint(emergency_pages.bp)  # /emergencies/{id}, the live board
    api.init_app(app)
    throttle.limit_routes(app)  # after every route: it finds the views it limits by endpoint
    return app
