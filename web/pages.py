"""Pages: ``/``, the town's grids on a map, and ``/healthz``, the service's state as JSON.

The map page is the path from PostGIS to the browser: boundaries/repository.py reads the
current hierarchy as GeoJSON, geo/layers/grids.py turns it into folium layers, web/assets.py
points folium at our own copies of Leaflet and friends, and templates/map.html wraps the
rendered map in our page. No URL in the page names another host unless a basemap is
configured (``BASEMAP_URL``); without one the map draws our own outlines on a plain background.
"""

from __future__ import annotations

from typing import Any

import folium
from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy.exc import DBAPIError

from boundaries import repository
from db.migrate import schema_state
from geo.layers import grids as layers
from web import database
from web.assets import localise

bp = Blueprint("pages", __name__)

# Words of the page itself; the layers' words live with the layers (geo/layers/grids.py).
PAGE_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN",
        "title": "{town}网格地图",
        "empty_title": "网格地图",
        "legend": "图例",
        "basemap": "底图",
        "count_unit": "个",
        "empty_heading": "还没有网格数据",
        "empty_text": "数据库里还没有镇的边界。请先载入演示数据，或导入本镇的网格边界：",
        "empty_demo": "载入巴公镇演示数据",
        "empty_import": "导入边界（先试运行，确认后加 --commit）",
        "empty_after": "完成后刷新本页。",
    },
    "en": {
        "html_lang": "en",
        "title": "{town} grid map",
        "empty_title": "Grid map",
        "legend": "Legend",
        "basemap": "Basemap",
        "count_unit": "",
        "empty_heading": "No grids yet",
        "empty_text": (
            "The database has no town boundary yet. Load the demo, or import your town's grids:"
        ),
        "empty_demo": "load the Bagong demo",
        "empty_import": "import boundaries (a dry run; add --commit when it looks right)",
        "empty_after": "Then reload this page.",
    },
}


def _language() -> str:
    lang = current_app.config.get("LANGUAGE") or "zh"
    if lang not in PAGE_WORDS:
        raise ValueError(f"LANGUAGE was {lang!r} but is expected to be one of {list(PAGE_WORDS)}")
    return lang


def _town_map(town: dict, zones: dict, grids: dict, lang: str) -> folium.Map:
    """The folium map of one town: boundary, zones, grid levels, a layer control, no CDN links."""
    bounds = layers.bounds_latlon(town, grids)
    assert bounds is not None  # the caller has checked that there is a town
    (south, west), (north, east) = bounds
    # No tiles: offline, the map is our own outlines on a plain background (see gridgov.css).
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=13, tiles=None)
    basemap = current_app.config.get("BASEMAP_URL")
    if basemap:
        # The one configured exception to "no other host": an operator-chosen basemap
        # (e.g. Tianditu on the intranet); its attribution is operator-written HTML.
        attribution = current_app.config.get("BASEMAP_ATTRIBUTION") or " "
        name = PAGE_WORDS[lang]["basemap"]
        folium.TileLayer(tiles=basemap, attr=attribution, name=name).add_to(m)
    regional, service, admin = layers.grid_layers(grids, lang)
    # Filled leaf grids first, then the zones' and villages' outlines over them.
    zone_layer = layers.zone_layer(zones, lang)
    for layer in (layers.town_layer(town, lang), regional, service, zone_layer, admin):
        layer.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds(bounds)
    return localise(m)  # type: ignore[return-value]


def _map_parts(m: folium.Map) -> dict[str, str]:
    """The rendered map split into what goes in <head>, in <body>, and in the closing <script>."""
    root = m.get_root()
    root.render()
    return {
        "map_header": root.header.render(),
        "map_html": root.html.render(),
        "map_script": root.script.render(),
        "map_name": m.get_name(),
    }


@bp.get("/")
def index():
    """The town's grids on a map; a page saying how to load data when there is no town yet.

    A database holding several towns (a province sharding by town) shows the first by code;
    choosing the town is for the operator map to come.
    """
    lang = _language()
    words = PAGE_WORDS[lang]
    session = database.session()
    town = repository.town_geojson(session)
    if not town["features"]:
        return render_template("empty.html", words=words, title=words["empty_title"])
    first = town["features"][0]["properties"]
    zones = repository.zones_geojson(session, first["code"])
    grids = repository.grids_geojson(session, town_code=first["code"])
    town = {"type": "FeatureCollection", "features": town["features"][:1]}
    counts = layers.level_counts(grids)
    return render_template(
        "map.html",
        words=words,
        title=words["title"].format(town=first["name"]),
        legend=layers.legend_entries(counts, len(zones["features"]), lang),
        **_map_parts(_town_map(town, zones, grids, lang)),
    )


def _describe(exc: BaseException) -> str:
    """One line naming what went wrong, without SQL, parameters or a stack trace."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@bp.get("/healthz")
def healthz():
    """The database, schema and town state as JSON: 200 when ok, 503 when degraded or down."""
    body: dict[str, Any] = {
        "status": "ok", "database": {"reachable": False}, "schema": None, "town": None,
    }
    # Any failure here is the answer, not an error: a health check must answer JSON whatever
    # broke (no URL configured, cluster never started, server down, bad credentials).
    try:
        state = schema_state(database.engine())
    except Exception as exc:  # noqa: BLE001 - reported in the body, see above
        body["status"] = "down"
        body["database"]["error"] = _describe(exc)
        return jsonify(body), 503
    body["database"]["reachable"] = True
    body["schema"] = state
    if not state["up_to_date"]:
        body["status"] = "degraded"
        return jsonify(body), 503
    try:
        body["town"] = repository.town_summary(database.session())
    except Exception as exc:  # noqa: BLE001 - as above
        body["status"] = "degraded"
        body["database"]["error"] = _describe(exc)
        return jsonify(body), 503
    return jsonify(body), 200
