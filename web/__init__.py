"""The Flask application factory: ``create_app(config=None)``.

Configuration: defaults, then ``GRIDGOV_*`` environment variables, then the mapping given
(tests). Nothing connects to the database or reads files here; the first request does.
"""

from __future__ import annotations

import os

from flask import Flask

DEFAULTS = {
    "DATABASE_URL": None,  # None: GRIDGOV_DATABASE_URL, else the managed cluster in var/pg
    "BASEMAP_URL": None,  # a tile URL template; None draws our own outlines on a plain background
    "BASEMAP_ATTRIBUTION": "",
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    "LANGUAGE": "zh",
}
ENV_KEYS = ("DATABASE_URL", "BASEMAP_URL", "BASEMAP_ATTRIBUTION", "MAX_CONTENT_LENGTH", "LANGUAGE")


def _from_env() -> dict:
    found = {}
    for key in ENV_KEYS:
        value = os.environ.get(f"GRIDGOV_{key}")
        if value:
            found[key] = int(value) if key == "MAX_CONTENT_LENGTH" else value
    return found


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(_from_env())
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    from web import api, database, errors, pages, tiles

    database.init_app(app)
    errors.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(tiles.bp)
    api.init_app(app)
    return app
