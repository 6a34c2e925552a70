"""Open cases as a folium layer drawn from our vector tiles (``/tiles/cases/{z}/{x}/{y}.pbf``).

Cases never go into the page: with a million of them the HTML would not fit in a megabyte.
Leaflet.VectorGrid fetches the tiles the view needs, and draws them with SVG (one element per
feature, which keeps clicks simple and lets a browser test find a case by its id).

What the tiles carry depends on the zoom (tiles/mvt.py): from ``POINTS_MIN_ZOOM`` up, one point
per case, coloured by state, with a red ring when overdue; below it, buckets of 8 screen pixels
with a ``count``. Eight pixels is too fine to read, so the layer merges a tile's buckets again
into clusters of ``CLUSTER_PX`` pixels (count-weighted centre, counts added) and draws each as a
circle sized by its count, with the count written on it and its colour saying which share is
overdue. Clusters are cut at tile edges, as any server-side grid clustering is.

Pure: no web framework, no database. The popups (which fetch the case) are the page's.
"""

from __future__ import annotations

from typing import Any

from folium.elements import JSCSSMixin
from folium.map import CustomPane, Layer
from folium.template import Template

POINTS_MIN_ZOOM = 14  # tiles/mvt.py: from this zoom up a tile carries one point per case
CLUSTER_PX = 64  # a cluster's cell edge, screen pixels (4 x 4 clusters per 256-pixel tile)
PANE = "cases"
PANE_Z_INDEX = 450  # above the grids (overlayPane, 400), below labels and popups

# States grouped by what an operator does next; one colour per group (ColorBrewer Set1/Dark2,
# distinguishable for the common colour-vision deficiencies except red/green pairs, which
# the overdue ring never relies on alone).
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "waiting": ("collected", "filed"),  # to be filed or dispatched
    "handling": ("dispatched", "handling"),
    "escalated": ("escalated",),
    "fed_back": ("fed_back",),  # to be checked and closed
    "returned": ("returned",),
    "parked": ("parked",),
    "closed": ("closed", "evaluated"),
    "voided": ("voided",),
}
GROUP_COLORS: dict[str, str] = {
    "waiting": "#1e6fd9",
    "handling": "#f08c00",
    "escalated": "#8e44ad",
    "fed_back": "#0c8f7e",
    "returned": "#8d5b3b",
    "parked": "#7f8c8d",
    "closed": "#2e9d4a",
    "voided": "#b8b8b8",
}
STATUS_COLORS: dict[str, str] = {
    status: GROUP_COLORS[group] for group, states in STATUS_GROUPS.items() for status in states
}
OVERDUE_COLOR = "#d7191c"
# Cluster fill by the share of its cases that are overdue: below 25 %, 25-50 %, 50 % and more.
CLUSTER_COLORS = ("#2c7fb8", "#f6a21a", "#d7191c")

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "layer": "未结案件", "waiting": "待立案/派遣", "handling": "处置中", "escalated": "已上报",
        "fed_back": "待核查结案", "returned": "已回退", "parked": "挂账", "closed": "已结案",
        "voided": "已作废", "overdue": "超期（红圈）", "cluster": "聚合（数字为案件数）",
        "cluster_low": "超期不足25%", "cluster_mid": "超期25%–50%", "cluster_high": "超期过半",
    },
    "en": {
        "layer": "Open cases", "waiting": "To file or dispatch", "handling": "Being handled",
        "escalated": "Escalated", "fed_back": "To check and close",
        "returned": "Returned", "parked": "Parked", "closed": "Closed", "voided": "Voided",
        "overdue": "Overdue (red ring)", "cluster": "Cluster (number of cases)",
        "cluster_low": "under 25 % overdue", "cluster_mid": "25–50 % overdue",
        "cluster_high": "half or more overdue",
    },
}


def labels(lang: str) -> dict[str, str]:
    """The case layer's words for ``lang`` ("zh" or "en")."""
    if lang not in LABELS:
        raise ValueError(f"`lang` was {lang!r} but is expected to be one of {list(LABELS)}")
    return LABELS[lang]


def pane() -> CustomPane:
    """The map pane the case tiles are drawn in, above the grids' fills.

    Its layers take clicks (pointer_events), unlike folium's default for a custom pane."""
    return CustomPane(PANE, z_index=PANE_Z_INDEX, pointer_events=True)


class CaseTiles(JSCSSMixin, Layer):
    """Cases from vector tiles: clusters with counts when zoomed out, coloured points when in.

    ``url`` is the tile URL template with its filters (``/tiles/cases/{z}/{x}/{y}.pbf?open=1``);
    the page re-points it with ``setUrl`` when the filters change. Every drawn point's SVG
    element carries ``data-case-id``; every cluster's, ``data-count``.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var style = {{ this.style|tojson }};
            var seq = 0;
            function mergeBuckets(layer, cellUnits) {
                var cells = {};
                layer.features.forEach(function (f) {
                    var p = f.geometry[0][0], n = f.properties.count || 0;
                    var key = Math.floor(p.x / cellUnits) + ':' + Math.floor(p.y / cellUnits);
                    var c = cells[key] || (cells[key] = {x: 0, y: 0, count: 0, overdue: 0});
                    c.x += p.x * n; c.y += p.y * n; c.count += n; c.overdue += f.properties.overdue || 0;
                });
                layer.features = Object.keys(cells).map(function (key) {
                    var c = cells[key];
                    return {type: 1, properties: {count: c.count, overdue: c.overdue},
                            geometry: [[{x: c.x / c.count, y: c.y / c.count}]]};
                });
            }
            var Clustered = L.VectorGrid.Protobuf.extend({
                _getVectorTilePromise: function (coords) {
                    var size = this.getTileSize().x;
                    return L.VectorGrid.Protobuf.prototype._getVectorTilePromise.call(this, coords)
                        .then(function (tile) {
                            var layer = tile.layers && tile.layers.cases;
                            if (layer && layer.features.length && layer.features[0].properties.count !== undefined) {
                                mergeBuckets(layer, layer.extent * style.clusterPx / size);
                            }
                            return tile;
                        });
                }
            });
            function caseStyle(p, zoom) {
                if (p.count !== undefined) {
                    var share = p.overdue / p.count;
                    var fill = style.clusterColors[share >= 0.5 ? 2 : share >= 0.25 ? 1 : 0];
                    return {radius: Math.round(8 + 3.6 * Math.log(p.count) / Math.LN10), fill: true,
                            fillColor: fill, fillOpacity: 0.78, color: '#ffffff', weight: 1.5, opacity: 0.95};
                }
                var overdue = p.overdue === true || p.overdue === 1 || p.overdue === 'true';
                return {radius: zoom >= 16 ? 7 : 5, fill: true,
                        fillColor: style.statusColors[p.status] || '#555555', fillOpacity: 0.92,
                        color: overdue ? style.overdueColor : '#ffffff', weight: overdue ? 3 : 1.2,
                        opacity: 1};
            }
            var layer = new Clustered({{ this.url|tojson }}, {
                pane: {{ this.pane|tojson }},
                interactive: true,
                rendererFactory: L.svg.tile,
                maxZoom: 22,
                // revalidate every tile: the server answers 304 while it is unchanged
                fetchOptions: {cache: 'no-cache', credentials: 'same-origin'},
                getFeatureId: function (f) {
                    return f.properties.id !== undefined ? f.properties.id : 'cluster-' + (++seq);
                },
                vectorTileLayerStyles: {cases: caseStyle}
            });
            // Label clusters and tag points once a tile is drawn (for people and for tests).
            layer.on('tileload', function (e) {
                var renderer = layer._vectorTiles && layer._vectorTiles[layer._tileCoordsToKey(e.coords)];
                if (!renderer || !layer._map) { return; }
                var origin = L.point(e.coords.x, e.coords.y).scaleBy(layer.getTileSize());
                Object.keys(renderer._features).forEach(function (id) {
                    var symbol = renderer._features[id].feature, path = symbol._path;
                    if (!path) { return; }
                    // VectorGrid's point symbols are CircleMarkers without a position; Leaflet
                    // asks small circle markers for one on every click, so give them theirs.
                    symbol._latlng = layer._map.unproject(origin.add(symbol._point), e.coords.z);
                    var p = symbol.properties;
                    if (p.count === undefined) {
                        path.setAttribute('data-case-id', String(p.id));
                        path.setAttribute('class', path.getAttribute('class') + ' case-point');
                        return;
                    }
                    path.setAttribute('data-count', String(p.count));
                    path.setAttribute('class', path.getAttribute('class') + ' case-cluster');
                    var label = L.SVG.create('text');
                    label.setAttribute('x', symbol._point.x);
                    label.setAttribute('y', symbol._point.y);
                    label.setAttribute('class', 'case-cluster-count');
                    label.textContent = p.count >= 10000 ? Math.round(p.count / 1000) + 'k' : String(p.count);
                    path.parentNode.appendChild(label);
                });
            });
            return layer;
        })();
        {% endmacro %}
        """
    )
    # named only: web/assets.localise() serves our npm copy under this name
    default_js = [("vectorgrid", "local:vectorgrid")]

    def __init__(self, url: str, lang: str = "zh", show: bool = True, pane: str = PANE):
        super().__init__(name=labels(lang)["layer"], overlay=True, control=True, show=show)
        self._name = "CaseTiles"
        self.url = url
        self.pane = pane
        self.style: dict[str, Any] = {
            "statusColors": STATUS_COLORS, "overdueColor": OVERDUE_COLOR,
            "clusterColors": list(CLUSTER_COLORS), "clusterPx": CLUSTER_PX,
        }


def legend_entries(lang: str = "zh") -> list[dict[str, Any]]:
    """What the legend shows for cases: one dot per open state group, overdue, clusters."""
    words = labels(lang)
    entries = [
        {"key": f"case-{group}", "label": words[group], "color": "#ffffff",
         "fill": GROUP_COLORS[group], "shape": "dot"}
        for group in STATUS_GROUPS if group not in ("closed", "voided")
    ]
    entries.append({"key": "case-overdue", "label": words["overdue"], "color": OVERDUE_COLOR,
                    "fill": "#ffffff", "shape": "ring"})
    for key, color in zip(("cluster_low", "cluster_mid", "cluster_high"), CLUSTER_COLORS):
        entries.append({"key": f"case-{key}", "label": words[key], "color": "#ffffff",
                        "fill": color, "shape": "cluster"})
    return entries
