"""Pages: ``/`` the command-center operator's live map, ``/cases/{id}`` one case,
``/cases?grid=CODE`` a grid's cases, and ``/healthz``, the service's state as JSON.

The operator map is a folium map (web/assets.py points it at our own copies of Leaflet and its
plugins) holding the coverage layers (boundaries/repository.py -> geo/layers/grids.py, embedded:
they are a few hundred KB whatever the number of cases), and three layers that load their data
from the API after the page: the cases from vector tiles (geo/layers/cases.py), and the hot
spots and their heat map (geo/layers/hotspots.py). web/static/js/operator.js drives the rest:
filters, choropleth, grid panel, the day's numbers and the live stream. No case is ever in the
HTML, so the page stays small with a million of them. No URL in the page names another host
unless a basemap is configured (``BASEMAP_URL``).

Every string a person typed is escaped: by Jinja here, by geo/layers/grids.py in the embedded
layers, and by the script, which writes text with ``textContent`` only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import folium
from flask import Blueprint, current_app, jsonify, make_response, render_template, request, url_for
from sqlalchemy.exc import DBAPIError

from accounts.access import ANY_ACCOUNT, PUBLIC, allow
from accounts.errors import OutOfScope
from boundaries import repository
from cases import routing, stats
from cases.deadlines import LOCAL_TZ
from db.migrate import schema_state
from geo.layers import cases as case_layers
from geo.layers import compliance as compliance_layers
from geo.layers import grids as layers
from geo.layers import hotspots as hotspot_layers
from web import auth, case_actions, database, i18n
from web.assets import localise
from web.database import replica_reads

bp = Blueprint("pages", __name__)

CASES_PER_PAGE = 100
GRID_CLICK = "gridgov.openGrid"  # web/static/js/operator.js
# Rendered operator maps by (language, basemap, hash of the layers' data): folium's rendering
# takes a few hundred milliseconds and the coverage changes rarely (a boundary edit, a worker
# going off duty), so a page load re-reads the data and renders again only when it changed.
_RENDERED: OrderedDict[tuple, tuple[dict, dict]] = OrderedDict()
_RENDERED_MAX = 8
_RENDERED_LOCK = threading.Lock()


def _page(template: str, status: int = 200, **context: Any):
    """Render a page in the request's language; remember a language chosen with ``?lang=``."""
    lang = context.setdefault("lang", i18n.language())
    context.setdefault("t", i18n.words(lang))
    context.setdefault("names", i18n.names(lang))
    context.setdefault("status_colors", case_layers.STATUS_COLORS)
    return i18n.remember(make_response(render_template(template, **context), status))


def _not_found(message: str, status: int = 404):
    lang = i18n.language()
    return _page("not_found.html", status, lang=lang, message=message,
                 title=i18n.words(lang)["not_found_title"])


@bp.errorhandler(i18n.UnknownLanguage)
def _unknown_language(exc: i18n.UnknownLanguage):
    """``?lang=xx`` on a page: a page (400) saying so in Chinese, then English, with a link to
    each language; the API keeps its JSON errors."""
    zh, en = i18n.words("zh"), i18n.words("en")
    html = render_template(
        "bad_language.html", lang="zh", t=zh, names=i18n.names("zh"), zh=zh, en=en, asked=exc.lang,
        title=f"{zh['bad_language']} · {en['bad_language']}",
        status_colors=case_layers.STATUS_COLORS,
    )
    return make_response(html, 400)


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


def _leaflet_only(m: folium.Map) -> folium.Map:
    """Drop the scripts and stylesheets folium's Map loads for widgets we do not use (jQuery,
    Bootstrap, Font Awesome, awesome-markers): a third of a megabyte less to load and parse.
    Call after localise(); the instance attributes shadow folium's class lists."""
    m.default_js = [(name, url) for name, url in m.default_js if name == "leaflet"]
    m.default_css = [(name, url) for name, url in m.default_css if name == "leaflet_css"]
    return m


def _base_map(bounds: list[list[float]], lang: str, zoom: int = 13) -> folium.Map:
    (south, west), (north, east) = bounds
    # No tiles: offline, the map is our own outlines on a plain background (see gridgov.css).
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=zoom, tiles=None)
    basemap = current_app.config.get("BASEMAP_URL")
    if basemap:
        # The one configured exception to "no other host": an operator-chosen basemap
        # (e.g. Tianditu on the intranet); its attribution is operator-written HTML.
        attribution = current_app.config.get("BASEMAP_ATTRIBUTION") or " "
        folium.TileLayer(tiles=basemap, attr=attribution, name=i18n.words(lang)["basemap"]).add_to(m)
    return m


def _operator_map(town: dict, zones: dict, grids: dict, lang: str) -> tuple[folium.Map, dict]:
    """The operator's folium map and the JavaScript names of its layers."""
    bounds = layers.bounds_latlon(town, grids)
    assert bounds is not None  # the caller has checked that there is a town
    m = _base_map(bounds, lang)
    case_layers.pane().add_to(m)
    hotspot_layers.pane().add_to(m)
    regional, service, admin = layers.grid_layers(grids, lang, on_click=GRID_CLICK)
    zone_layer = layers.zone_layer(zones, lang)
    # Filled leaf grids first, then the zones' and villages' outlines over them.
    for layer in (layers.town_layer(town, lang), regional, service, zone_layer, admin):
        layer.add_to(m)
    tiles_url = url_for("tiles.tile", layer="cases", z=0, x=0, y=0).replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
    cases = case_layers.CaseTiles(tiles_url + "?open=1", lang).add_to(m)
    hotspots = hotspot_layers.HotspotCells(lang).add_to(m)
    heat = hotspot_layers.HeatLayer(lang).add_to(m)
    compliance = compliance_layers.ComplianceGrids(lang).add_to(m)
    control = folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.fit_bounds(bounds)
    _leaflet_only(localise(m))  # type: ignore[arg-type]
    names = {
        "map": m.get_name(), "control": control.get_name(), "cases": cases.get_name(),
        "hotspots": hotspots.get_name(), "heat": heat.get_name(), "regional": regional.get_name(),
        "service": service.get_name(), "admin": admin.get_name(),
        "compliance": compliance.get_name(),
    }
    return m, {"names": names, "tiles": tiles_url}


def _rendered_operator_map(town: dict, zones: dict, grids: dict, lang: str) -> tuple[dict, dict]:
    """The operator map's rendered parts and layer names, from the cache when the data is the same."""
    digest = hashlib.blake2b(json.dumps([town, zones, grids], sort_keys=True).encode(), digest_size=16)
    key = (lang, current_app.config.get("BASEMAP_URL"), current_app.config.get("BASEMAP_ATTRIBUTION"),
           request.script_root, digest.hexdigest())
    with _RENDERED_LOCK:
        if key in _RENDERED:
            _RENDERED.move_to_end(key)
            return _RENDERED[key]
    m, built = _operator_map(town, zones, grids, lang)
    rendered = (_map_parts(m), built)
    with _RENDERED_LOCK:
        _RENDERED[key] = rendered
        while len(_RENDERED) > _RENDERED_MAX:
            _RENDERED.popitem(last=False)
    return rendered


def _operator_config(lang: str, tiles_url: str, town_code: str) -> dict[str, Any]:
    """What operator.js needs besides the layers: URLs, words, styles, parameters."""
    return {
        "lang": lang,
        "town": town_code,
        "i18n": i18n.js_words(lang),
        "urls": {
            "tiles": tiles_url, "stream": url_for("api.stream"),
            "today": url_for("api.stats_today"), "gridStats": url_for("api.grid_stats"),
            "grid": "/api/v1/grids/", "caseApi": "/api/v1/cases/", "casePage": "/cases/",
            "categories": url_for("api.list_categories"), "hotspots": url_for("api.get_hotspots"),
            "gridCases": "/cases?grid=",
        },
        "styles": {
            "levels": layers.LEVEL_STYLES, "noDuty": layers.NO_DUTY_STYLE,
            "ramp": ["#fff3b0", "#fdc863", "#f98e3f", "#e0482e", "#a50f28"],
            "noValue": "#d9d9d9", "statusColors": case_layers.STATUS_COLORS,
        },
        "pointsMinZoom": case_layers.POINTS_MIN_ZOOM,
        "hotspot": {"cellSize": hotspot_layers.DEFAULT_CELL_SIZE_M,
                    "permutations": hotspot_layers.DEFAULT_PERMUTATIONS},
        "openStates": list(stats.OPEN_STATES),
        "compliance": compliance_layers.config(lang, url_for("api.get_compliance")),
    }


@replica_reads
@allow(ANY_ACCOUNT)
@bp.get("/")
def index():
    """The operator's live map of their town; a page saying how to load data without one.

    In a database holding several towns (a province), an account of a town, zone, village or
    grids sees its own town; one without a town (a department, an administrator without a
    scope) sees the first town by code.
    """
    lang = i18n.language()
    words = i18n.words(lang)
    session = database.session()
    # None only without any town, when town_geojson finds none either
    code = auth.current_actor().town_code or repository.first_town_code(session)
    town = repository.town_geojson(session, town_code=code)
    if not town["features"]:
        return _page("empty.html", lang=lang, title=words["empty_title"])
    shown = town["features"][0]["properties"]
    zones = repository.zones_geojson(session, shown["code"])
    grids = repository.grids_geojson(session, town_code=shown["code"])
    counts = layers.level_counts(grids)
    no_duty = sum(1 for f in grids["features"] if layers.no_duty(f["properties"]))
    parts, built = _rendered_operator_map(town, zones, grids, lang)
    legend = {
        "grids": layers.legend_entries(counts, len(zones["features"]), lang, no_duty),
        "cases": case_layers.legend_entries(lang),
        "hotspots": hotspot_layers.legend_entries(lang),
        "compliance": compliance_layers.legend_entries(lang),
    }
    return _page(
        "operator.html",
        lang=lang,
        title=words["title"].format(town=shown["name"]),
        legend=legend,
        config=_operator_config(lang, built["tiles"], shown["code"]),
        layer_names=built["names"],
        method=hotspot_layers.method_text(lang),
        compliance_words=compliance_layers.labels(lang),
        open_states=stats.OPEN_STATES,
        **parts,
    )


def _case_map(case: dict, grid: dict | None, lang: str) -> dict[str, str] | None:
    """A small map of the case's point inside the outline of the grid it was routed to."""
    location = case.get("location")
    collections = [{"type": "FeatureCollection", "features": [grid]}] if grid else []
    if location:
        point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [location["lon"], location["lat"]]}}
        collections.append({"type": "FeatureCollection", "features": [point]})
    bounds = layers.bounds_latlon(*collections) if collections else None
    if bounds is None:
        return None
    m = _base_map(bounds, lang, zoom=16)
    if grid:
        level = grid["properties"]["level"]
        folium.GeoJson(
            {"type": "FeatureCollection", "features": [{
                "type": "Feature", "geometry": grid["geometry"],
                "properties": {"code": layers.text(grid["properties"]["code"])}}]},
            style_function=lambda f: {**layers.LEVEL_STYLES[level], "fillOpacity": 0.15, "weight": 2},
            interactive=False,
        ).add_to(m)
    if location:
        color = case_layers.STATUS_COLORS.get(case["status"], "#555555")
        folium.CircleMarker(
            [location["lat"], location["lon"]], radius=8, color="#ffffff", weight=2,
            fill=True, fill_color=color, fill_opacity=0.95,
        ).add_to(m)
    if grid and location:
        m.fit_bounds(bounds, padding=(20, 20), max_zoom=17)
    _leaflet_only(localise(m))  # type: ignore[arg-type]
    return _map_parts(m)


def _local(value: str | None) -> str:
    """An ISO 8601 time as local 'YYYY-MM-DD HH:MM' ("" for None)."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


@allow(ANY_ACCOUNT)
@bp.get("/cases/<case_id>")
def case_page(case_id: str):
    """One case: details, photos, a small map, routing decision, assignee, deadlines, history.
    The reporter's contact is masked; a form asks for a reason before showing it in full
    (:func:`case_contact_page`)."""
    return _case_page(case_id, None)


@allow(ANY_ACCOUNT)
@bp.post("/cases/<case_id>/contact")
def case_contact_page(case_id: str):
    """The case page with the reporter's contact in full, for the reason sent in the form
    (field ``reason``; the session's CSRF token too): the read is written to the audit log
    before the page is rendered. A POST, not a link: each showing is a deliberate, logged act,
    and reloading the page asks before it logs another. A missing or unusable reason renders
    the masked page again with the form's message (422)."""
    return _case_page(case_id, request.form.get("reason", ""))


def _case_page(case_id: str, reason: str | None):
    from accounts.errors import InvalidAccessReason
    from accounts.privacy import REASON_MAX_CHARS, REASON_MIN_CHARS
    from cases.errors import CaseNotFound
    from web.disclosure import case_for_reader

    lang = i18n.language()
    words = i18n.words(lang)
    if not case_id.isdigit() or len(case_id) > 18:
        return _not_found(words["case_not_found"].format(id=case_id))
    session = database.session()
    status, reveal_error, logged = 200, None, None
    actor = auth.current_actor()
    try:
        try:
            case, logged = case_for_reader(session, actor, int(case_id), reason)
        except InvalidAccessReason:
            status = 422
            reveal_error = words["reveal_bad_reason"].format(min=REASON_MIN_CHARS,
                                                             max=REASON_MAX_CHARS)
            case, _ = case_for_reader(session, actor, int(case_id), None)
    except CaseNotFound:  # OutOfScope: a 403 page
        return _not_found(words["case_not_found"].format(id=case_id))
    grid = None
    if case.get("grid_code"):
        grid = repository.grid_feature(session, case["grid_code"], case.get("grid_version"))
    now = stats.local_now()
    due = case["deadlines"].get("due_at")
    overdue = (case["status"] in stats.OPEN_STATES and case["status"] != "parked"
               and due is not None and datetime.fromisoformat(due) < now)
    category = case.get("category") or {}
    return _page(
        "case.html",
        status,
        lang=lang,
        logged=logged,
        reveal_error=reveal_error,
        reveal_reason=reason if reveal_error is None else None,
        reveal_limits=(REASON_MIN_CHARS, REASON_MAX_CHARS),
        title=f"{words['case']} #{case['id']}",
        case=case,
        category_name=category.get(f"name_{lang}") or category.get("code"),
        overdue=overdue,
        local=_local,
        case_map=_case_map(case, grid, lang),
        # the recorded reason is English (codes and coordinates); a Chinese page says it in
        # Chinese from the same record
        routing_reason=(routing.reason_zh(case) if lang == "zh" else None)
        or case.get("routing_reason"),
        actions_config=case_actions.panel_config(session, case, actor, lang),
    )


@allow(ANY_ACCOUNT)
@bp.get("/cases")
def grid_cases_page():
    """A grid's cases (leaf grid or village), newest first, 100 a page, each linking to its page."""
    lang = i18n.language()
    words = i18n.words(lang)
    code = request.args.get("grid", "")
    open_only = request.args.get("open") == "1"
    before = request.args.get("before")
    if not code.isdigit() or not 9 <= len(code) <= 20:
        return _not_found(words["grid_not_found"].format(code=code))
    if before is not None and (not before.isdigit() or len(before) > 18):
        return _not_found(f"`before` was {before!r} but must be a case id", 400)
    session = database.session()
    grid = repository.grid_feature(session, code)
    if grid is None:
        return _not_found(words["grid_not_found"].format(code=code))
    actor = auth.current_actor()
    if not actor.covers(town_code=grid["properties"].get("town_code"), grid_code=code):
        raise OutOfScope(f"grid {code} is outside the scope of account {actor.name!r}",
                         {"grid": code})
    rows = stats.grid_cases(session, code, open_only=open_only,
                            before_id=int(before) if before else None, limit=CASES_PER_PAGE + 1)
    more = len(rows) > CASES_PER_PAGE
    rows = rows[:CASES_PER_PAGE]
    props = grid["properties"]
    return _page(
        "cases.html",
        lang=lang,
        title=words["grid_cases_title"].format(name=props["name"], code=code),
        grid=props,
        rows=rows,
        open_only=open_only,
        next_before=rows[-1]["id"] if more and rows else None,
        local=lambda t: t.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if t else "",
    )


def _describe(exc: BaseException) -> str:
    """One line naming what went wrong, without SQL, parameters or a stack trace."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@allow(PUBLIC)
@bp.get("/healthz")
def healthz():
    """The database, schema and town state as JSON: 200 when ok, 503 when degraded or down.

    Anyone may ask, so a failure is answered with a stable code (``database_unreachable``,
    ``query_failed``) and its text — the driver's, which can name hosts, users and
    statements — goes to the server's log only."""
    body: dict[str, Any] = {
        "status": "ok", "database": {"reachable": False}, "schema": None, "town": None,
    }
    # Any failure here is the answer, not an error: a health check must answer JSON whatever
    # broke (no URL configured, cluster never started, server down, bad credentials).
    try:
        state = schema_state(database.engine())
    except Exception as exc:  # noqa: BLE001 - reported in the body, see above
        current_app.logger.warning("healthz: the database is unreachable: %s", _describe(exc))
        body["status"] = "down"
        body["database"]["error"] = "database_unreachable"
        return jsonify(body), 503
    body["database"]["reachable"] = True
    body["schema"] = state
    if not state["up_to_date"]:
        body["status"] = "degraded"
        return jsonify(body), 503
    try:
        body["town"] = repository.town_summary(database.session())
    except Exception as exc:  # noqa: BLE001 - as above
        current_app.logger.warning("healthz: reading the town failed: %s", _describe(exc))
        body["status"] = "degraded"
        body["database"]["error"] = "query_failed"
        return jsonify(body), 503
    return jsonify(body), 200
