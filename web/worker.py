"""``/worker``: the grid worker's phone page, and what makes it work offline.

- ``/worker`` — the page (web/templates/worker.html, scripts in web/static/js/worker/): the
  worker's inbox by distance, a case's actions, a new report, today's patrol visits, the tasks
  of an emergency (应急, emergencies/), and the queue of what was done without a network. It is the same for every account of a language
  (who is signed in comes from ``/worker/me``), so the service worker may answer it from its
  cache at once and refresh it behind.
- ``/worker/me`` — the signed-in account and its CSRF token, as JSON (the page keeps the last
  answer on the phone for when it is offline).
- ``/worker/sw.js`` — the service worker (scope ``/worker``): caches the page and its assets
  under a versioned cache name, nothing from another host; the API is never cached by it (the
  page keeps its data in IndexedDB).
- ``/worker/manifest.webmanifest`` — the web app manifest ("add to home screen").

The page acts only through the public API (transitions, visits, cases); this module serves
files and words.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, render_template, url_for

from accounts.access import PUBLIC, allow
from cases.workflow import ACTIONS, MAX_NOTE
from geo.layers import cases as case_layers
from web import auth, i18n
from web.worker_words import WORDS

bp = Blueprint("worker", __name__)

PHONE_ROLES = ("grid_worker", "auxiliary", "grid_leader")
STATIC = Path(__file__).resolve().parent / "static"
# What the page loads, under web/static: the service worker caches exactly these (and the
# page); their contents make the cache's version, so a changed file replaces the cache.
# The first screen needs these (preloaded by the page, so the modules come in parallel, not
# one import after another: on a 3G phone each round trip is half a second).
SCRIPTS = ("js/worker/main.js", "js/worker/ui.js", "js/worker/store.js", "js/worker/queue.js",
           "js/worker/geo.js", "js/worker/inbox.js", "js/worker/maps.js", "vendor/idb/index.js")
# These the page loads once its inbox is drawn (and the service worker keeps for offline).
LATER = ("js/worker/case.js", "js/worker/photos.js", "js/worker/report.js",
         "js/worker/visits.js", "js/worker/sync.js", "js/worker/emergency.js",
         "vendor/gcoord/gcoord.esm.js",
         "vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css")
CLASSIC = ("vendor/geographiclib-geodesic/geographiclib-geodesic.min.js",)
STYLES = ("css/worker.css",)
ASSETS = STYLES + CLASSIC + SCRIPTS + LATER


@lru_cache(maxsize=1)
def _assets_version() -> str:
    """A digest of every asset the page loads (read once per process)."""
    digest = hashlib.blake2b(digest_size=6)
    for name in ASSETS:
        digest.update(name.encode())
        digest.update((STATIC / name).read_bytes())
    digest.update((Path(__file__).resolve().parent / "templates" / "worker.html").read_bytes())
    return digest.hexdigest()


def _static(name: str) -> str:
    # No version in the URL: the modules import each other by plain relative URLs, which must
    # be the very URLs preloaded and cached. Flask answers static files with an ETag and no
    # max-age, so a browser online revalidates them, and the service worker's cache name
    # carries the version.
    return url_for("static", filename=name)


def _offline_workflow(lang: str) -> dict[str, list[dict[str, Any]]]:
    """The actions a holder (grid worker, auxiliary, grid leader) takes, by state: what the
    phone offers for a case it has changed offline, before the server answers (the server
    decides in the end: a refused action comes back as a conflict). From cases/workflow.py."""
    names = i18n.names(lang)["event"]
    by_state: dict[str, list[dict[str, Any]]] = {}
    for a in ACTIONS.values():
        if a.by not in ("holder", "up", "keeper") or not set(a.roles) & set(PHONE_ROLES):
            continue
        for state in a.sources:
            by_state.setdefault(state, []).append({
                "action": a.name, "name_zh": a.zh, "name": names.get(a.name, a.zh),
                "to_state": a.target or state, "needs_reason": a.needs_reason, "to": a.to,
                "roles": list(a.roles),
            })
    return by_state


def _config(lang: str) -> dict[str, Any]:
    """What web/static/js/worker/main.js needs: addresses, words, the offline workflow."""
    words = WORDS[lang]
    return {
        "lang": lang,
        "version": _assets_version(),
        "words": words,
        "status": i18n.names(lang)["status"],
        "statusColors": case_layers.STATUS_COLORS,
        "workflow": _offline_workflow(lang),
        "maxNote": MAX_NOTE,
        "basemap": current_app.config.get("BASEMAP_URL"),
        "basemapAttribution": current_app.config.get("BASEMAP_ATTRIBUTION") or "",
        "urls": {
            "me": url_for("worker.me"), "sw": url_for("worker.service_worker"),
            "inbox": "/api/v1/worker/inbox", "grids": "/api/v1/worker/grids",
            "visitsDue": "/api/v1/visits/due", "visits": "/api/v1/visits",
            "cases": "/api/v1/cases", "categories": "/api/v1/categories",
            "emergencyTasks": "/api/v1/emergencies/tasks",
            "stream": "/api/v1/stream", "login": url_for("login.login_page", next="/worker"),
            "casePage": "/cases/",
            "leaflet": _static("vendor/leaflet/leaflet.js"),
            "leafletCss": _static("vendor/leaflet/leaflet.css"),
        },
    }


@allow(*PHONE_ROLES)
@bp.get("/worker")
def worker_page():
    """The phone page. Nothing of the account is in it (see the module's docstring)."""
    lang = i18n.language()
    words = WORDS[lang]
    html = render_template(
        "worker.html", lang=lang, t={**i18n.words(lang), **words}, names=i18n.names(lang),
        title=words["title"], config=_config(lang), styles=[_static(s) for s in STYLES],
        early={"me": url_for("worker.me"), "inbox": "/api/v1/worker/inbox"},
        classic=[_static(s) for s in CLASSIC], modules=[_static(s) for s in SCRIPTS],
        main=_static("js/worker/main.js"), manifest=url_for("worker.manifest"),
    )
    response = i18n.remember(make_response(html))
    response.headers["Cache-Control"] = "no-cache"
    return response


@allow(*PHONE_ROLES)
@bp.get("/worker/me")
def me():
    """The signed-in account, its scope and the session's CSRF token (for the page's POSTs)."""
    found = auth.credentials()
    actor = found.actor
    response = jsonify({
        "account": actor.name, "display_name": found.display_name or actor.name,
        "role": actor.role, "role_zh": i18n.names("zh")["role"].get(actor.role, actor.role),
        "person_id": actor.person_id, "scope_kind": actor.scope_kind,
        "scope_code": actor.scope_code, "grid_codes": sorted(actor.grid_codes),
        "csrf_token": found.csrf_token,
    })
    response.headers["Cache-Control"] = "no-store"
    return response


# Public: a service worker script and a manifest hold nothing of anyone, and the browser
# fetches them on its own schedule, when a session may have expired (a redirect to /login
# would make the update fail).
@allow(PUBLIC)
@bp.get("/worker/sw.js")
def service_worker():
    """The service worker, with this version's cache name and asset list."""
    version = _assets_version()
    body = render_template(
        "worker_sw.js", version=version, page=url_for("worker.worker_page"),
        assets=json.dumps([_static(s) for s in ASSETS]),
    )
    response = make_response(body)
    response.mimetype = "text/javascript"
    # its scope is the page /worker, one level above the script's own folder
    response.headers["Service-Worker-Allowed"] = url_for("worker.worker_page")
    response.headers["Cache-Control"] = "no-cache"
    return response


@allow(PUBLIC)
@bp.get("/worker/manifest.webmanifest")
def manifest():
    """The web app manifest: the page opens standalone, in portrait, from the home screen."""
    lang = i18n.language()
    words = WORDS[lang]
    body = {
        "name": words["title"], "short_name": words["short_name"], "lang": lang,
        "start_url": url_for("worker.worker_page"), "scope": url_for("worker.worker_page"),
        "display": "standalone", "orientation": "portrait",
        "background_color": "#f4f5f7", "theme_color": "#1f3b73", "icons": [],
    }
    response = current_app.response_class(json.dumps(body, ensure_ascii=False),
                                          mimetype="application/manifest+json")
    return response
