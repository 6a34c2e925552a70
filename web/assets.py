"""Folium's scripts and stylesheets, served by us instead of CDNs.

Folium elements list the files they need as ``default_js`` / ``default_css``: class attributes,
lists of ``(name, url)`` pointing at CDNs. No page may load anything from another host
(DESIGN.md), so before a map is rendered :func:`localise` replaces, per instance, every such
URL with the copy ``scripts/vendor_assets.py`` put under ``web/static/vendor`` (found by the
resource's name). A name we have no copy of is an error, not a silent CDN link: add the
package to package.json and the vendor manifest, and its name here.

Folium's class attributes are never touched: mutating them at import time would change every
map in the process, including ones built by code that expects folium's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import folium
from branca.element import Element
from folium.elements import JSCSSMixin

# folium resource name -> path under web/static. The names are folium's own (folium 0.20:
# Map, Icon, plugins.MarkerCluster, plugins.HeatMap, plugins.Draw).
LOCAL_JS: dict[str, str] = {
    "leaflet": "vendor/leaflet/leaflet.js",
    "jquery": "vendor/jquery/jquery.min.js",
    "bootstrap": "vendor/bootstrap/js/bootstrap.bundle.min.js",
    "awesome_markers": "vendor/leaflet.awesome-markers/leaflet.awesome-markers.js",
    "markerclusterjs": "vendor/leaflet.markercluster/leaflet.markercluster.js",
    # Folium's HeatMap points at a copy of leaflet-heat kept in folium's repository; we serve
    # the npm release (0.2.0), which takes the same options.
    "leaflet-heat.js": "vendor/leaflet.heat/leaflet-heat.js",
    "leaflet_draw_js": "vendor/leaflet-draw/leaflet.draw.js",
    "vectorgrid": "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
}
LOCAL_CSS: dict[str, str] = {
    "leaflet_css": "vendor/leaflet/leaflet.css",
    "bootstrap_css": "vendor/bootstrap/css/bootstrap.min.css",
    "awesome_markers_font_css": "vendor/fontawesome-free/css/all.min.css",
    "awesome_markers_css": "vendor/leaflet.awesome-markers/leaflet.awesome-markers.css",
    # Not on npm: our own few lines, see the comment at the top of the file.
    "awesome_rotate_css": "css/awesome-rotate.css",
    "markerclustercss": "vendor/leaflet.markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "vendor/leaflet.markercluster/MarkerCluster.Default.css",
    "leaflet_draw_css": "vendor/leaflet-draw/leaflet.draw.css",
}
# Bootstrap 3's glyphicons: Bootstrap 5 has none and we never use the "glyphicon" icon prefix
# (markers use prefix="fa"), so the link is dropped rather than vendored.
DROPPED_CSS = frozenset({"glyphicons_css"})

StaticUrl = Callable[[str], str]


class AssetError(RuntimeError):
    """A folium element asks for a script or stylesheet we do not serve."""


def _flask_static_url(path: str) -> str:
    from flask import url_for

    return url_for("static", filename=path)


def _local(
    kind: str, table: dict[str, str], element: Element, name: str, url: str, static_url: StaticUrl
) -> str:
    try:
        path = table[name]
    except KeyError:
        raise AssetError(
            f"{type(element).__name__} wants {kind} {name!r} ({url}) but gridgov serves no "
            f"local copy: add its npm package to package.json and scripts/vendor_assets.py, "
            f"and {name!r} to web/assets.py"
        ) from None
    return static_url(path)


def elements(root: Element) -> Iterator[Element]:
    """``root`` and every element below it, depth first."""
    yield root
    for child in list(root._children.values()):
        yield from elements(child)


def localise(root: Element, static_url: StaticUrl | None = None) -> Element:
    """Point ``root`` and every element below it at our local copies of its JS and CSS.

    ``static_url`` maps a path under web/static to a URL; by default Flask's ``url_for``
    (so call it inside a request or app context). Returns ``root``. Raises AssetError for a
    resource name we have no copy of. Safe to call again after adding more elements.
    """
    to_url = static_url or _flask_static_url
    for element in elements(root):
        if not isinstance(element, JSCSSMixin):
            continue
        # Instance attributes shadow folium's class lists; the class lists stay as they are.
        element.default_js = [
            (name, _local("script", LOCAL_JS, element, name, url, to_url))
            for name, url in element.default_js
        ]
        element.default_css = [
            (name, _local("stylesheet", LOCAL_CSS, element, name, url, to_url))
            for name, url in element.default_css
            if name not in DROPPED_CSS
        ]
    return root


def local_map(static_url: StaticUrl | None = None, **kwargs) -> folium.Map:
    """A folium.Map (``kwargs`` as for folium) whose own scripts and stylesheets are ours."""
    return localise(folium.Map(**kwargs), static_url)  # type: ignore[return-value]


def static_paths() -> list[str]:
    """Every path under web/static that :func:`localise` may link to (for tests)."""
    return sorted({*LOCAL_JS.values(), *LOCAL_CSS.values()})
