"""Hot and cold spots of cases as folium layers: the Gi* cells, and a heat map of them.

Both start empty and hidden; the page fills them from ``GET /api/v1/hotspots`` (the cells,
GeoJSON in EPSG:4326, with ``count``, ``z``, ``p``, ``p_sim`` and ``class``) when one of them is
switched on or the filters change. Cells that are not significant are not drawn; hot cells are
red and cold cells blue, darker with more confidence (the usual Gi* map palette). The heat
map weights each cell's centre by its count, so it costs the same at any number of cases.

``METHOD`` explains the method in plain words for the page (the statistics are
geo/hotspots.py's, whose docstring has the detail). Pure: no web framework, no database.
"""

from __future__ import annotations

from typing import Any

from folium.elements import JSCSSMixin
from folium.map import CustomPane, Layer
from folium.template import Template

PANE = "hotspots"
PANE_Z_INDEX = 420  # over the grids' fills, under the cases
CLASSES = ("hot_99", "hot_95", "hot_90", "cold_90", "cold_95", "cold_99")
CLASS_COLORS: dict[str, str] = {
    "hot_99": "#b2182b", "hot_95": "#ef8a62", "hot_90": "#fddbc7",
    "cold_90": "#d1e5f0", "cold_95": "#67a9cf", "cold_99": "#2166ac",
}
DEFAULT_CELL_SIZE_M = 250.0
DEFAULT_PERMUTATIONS = 999  # geo/hotspots.py's default, shown in the method section

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "hotspots": "热点/冷点（Gi*）", "heat": "热力图",
        "hot_99": "热点 99% 置信", "hot_95": "热点 95% 置信", "hot_90": "热点 90% 置信",
        "cold_90": "冷点 90% 置信", "cold_95": "冷点 95% 置信", "cold_99": "冷点 99% 置信",
        "not_significant": "不显著",
    },
    "en": {
        "hotspots": "Hot and cold spots (Gi*)", "heat": "Heat map",
        "hot_99": "Hot spot, 99 % confidence", "hot_95": "Hot spot, 95 % confidence",
        "hot_90": "Hot spot, 90 % confidence", "cold_90": "Cold spot, 90 % confidence",
        "cold_95": "Cold spot, 95 % confidence", "cold_99": "Cold spot, 99 % confidence",
        "not_significant": "Not significant",
    },
}

# The method in plain words (from geo/hotspots.py's docstring), one paragraph per step.
METHOD: dict[str, list[str]] = {
    "zh": [
        "把全镇划成边长 {cell_size} 米的正方形格子，统计每个格子里符合筛选条件（类别、时间）的案件数；没有案件的格子也参与计算。",
        "每个格子和它周围相邻的 8 个格子组成一个邻域，计算 Getis-Ord Gi* 统计量：邻域内案件数之和比全镇平均水平高出多少个标准差（z 值）。",
        "显著性用条件置换检验：保持该格子自身的值不变，从其他格子里随机抽取邻居的值，重复 {permutations} 次，看有多少次比实际观测更极端，得到伪 p 值。",
        "因为同时检验了所有格子，再用 Benjamini–Hochberg 方法控制错误发现率，校正 p 值。",
        "校正后 p < 0.01、0.05、0.10 且 z 为正的格子分别是 99%、95%、90% 置信的热点（红色，越深越可信）；z 为负的是冷点（蓝色）。不显著的格子不画出。",
        "热点说明案件在这里成片地聚集，不是偶然；单个格子案件多但周围少，不一定是热点。热力图只是按格子案件数做的平滑显示，不含显著性检验。",
    ],
    "en": [
        "The town is cut into square cells of {cell_size} m, and the cases matching the filters "
        "(category, time window) are counted in each; empty cells take part too.",
        "Each cell and its eight touching neighbours form a neighbourhood; the Getis-Ord Gi* "
        "statistic says by how many standard deviations the neighbourhood's count is above the "
        "town's average (its z-score).",
        "Significance comes from conditional permutations: the cell keeps its own value and its "
        "neighbours' values are drawn at random from the other cells, {permutations} times; the "
        "share of draws at least as extreme as observed is the pseudo p-value.",
        "Because every cell is tested at once, the p-values are corrected with the "
        "Benjamini–Hochberg false discovery rate.",
        "Cells with a corrected p below 0.01, 0.05 or 0.10 and a positive z are hot spots at 99, "
        "95 or 90 % confidence (red, darker is surer); with a negative z, cold spots (blue). "
        "Cells that are not significant are not drawn.",
        "A hot spot means cases cluster there beyond chance; one busy cell among quiet ones need "
        "not be one. The heat map only smooths the cell counts and tests nothing.",
    ],
}


def labels(lang: str) -> dict[str, str]:
    """The hotspot layers' words for ``lang`` ("zh" or "en")."""
    if lang not in LABELS:
        raise ValueError(f"`lang` was {lang!r} but is expected to be one of {list(LABELS)}")
    return LABELS[lang]


def method_text(
    lang: str, cell_size_m: float = DEFAULT_CELL_SIZE_M, permutations: int = DEFAULT_PERMUTATIONS
) -> list[str]:
    """The method section's paragraphs, with the current parameters filled in."""
    labels(lang)
    return [p.format(cell_size=f"{cell_size_m:g}", permutations=permutations) for p in METHOD[lang]]


def pane() -> CustomPane:
    """The map pane of the hotspot cells.

    Its layers take clicks (pointer_events), unlike folium's default for a custom pane."""
    return CustomPane(PANE, z_index=PANE_Z_INDEX, pointer_events=True)


class HotspotCells(Layer):
    """The significant Gi* cells, coloured by class; empty until the page adds data.

    Each drawn cell's SVG element carries ``data-class`` (e.g. ``hot_99``).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var colors = {{ this.colors|tojson }};
            return L.geoJSON(null, {
                pane: {{ this.pane|tojson }},
                filter: function (f) { return colors.hasOwnProperty(f.properties['class']); },
                style: function (f) {
                    return {stroke: true, color: colors[f.properties['class']], weight: 0.5,
                            opacity: 0.9, fillColor: colors[f.properties['class']], fillOpacity: 0.62};
                },
                onEachFeature: function (f, layer) {
                    layer.on('add', function () {
                        if (layer._path) { layer._path.setAttribute('data-class', f.properties['class']); }
                    });
                }
            });
        })();
        {% endmacro %}
        """
    )

    def __init__(self, lang: str = "zh", show: bool = False, pane: str = PANE):
        super().__init__(name=labels(lang)["hotspots"], overlay=True, control=True, show=show)
        self._name = "HotspotCells"
        self.pane = pane
        self.colors = CLASS_COLORS


class HeatLayer(JSCSSMixin, Layer):
    """A leaflet.heat layer of the cells' centres weighted by count; empty until filled."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.heatLayer([], {{ this.options|tojson }});
        {% endmacro %}
        """
    )
    # named only: web/assets.localise() serves our npm copy under this name
    default_js = [("leaflet-heat.js", "local:leaflet-heat.js")]

    def __init__(self, lang: str = "zh", show: bool = False):
        super().__init__(name=labels(lang)["heat"], overlay=True, control=True, show=show)
        self._name = "HeatLayer"
        # no maxZoom: Leaflet's layer control would read it as the zoom above which the layer is off
        self.options: dict[str, Any] = {"radius": 22, "blur": 20, "max": 3.0, "minOpacity": 0.2}


def legend_entries(lang: str = "zh") -> list[dict[str, Any]]:
    """One legend entry per significant class, hot 99 % first."""
    words = labels(lang)
    return [{"key": cls, "label": words[cls], "color": CLASS_COLORS[cls],
             "fill": CLASS_COLORS[cls], "shape": "box"} for cls in CLASSES]
