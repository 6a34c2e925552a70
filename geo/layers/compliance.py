"""Visit compliance (巡访合规) as a folium layer: the leaf grids coloured by the share of the
month's visits made on time (field/compliance.py), with a legend and a popup per grid.

The layer starts empty and hidden; web/static/js/compliance.js fills it when it is switched
on, from ``GET /api/v1/compliance?level=grid`` and the outlines the page already holds (the
regional and service grid layers), so no geometry is sent twice. Pure: no web framework, no
database.
"""

from __future__ import annotations

from typing import Any

from folium.map import Layer
from folium.template import Template

# share of visits on time, worst first: (lower bound, key, colour); red to green, the usual
# traffic-light reading of a compliance map
BANDS: tuple[tuple[float, str, str], ...] = (
    (0.0, "below_50", "#d7191c"),
    (0.5, "from_50", "#fdae61"),
    (0.7, "from_70", "#ffffbf"),
    (0.85, "from_85", "#a6d96a"),
    (0.95, "from_95", "#1a9641"),
)
NO_DATA = "#d9d9d9"

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "layer": "巡访合规", "below_50": "按时巡访 < 50%", "from_50": "50% – 70%",
        "from_70": "70% – 85%", "from_85": "85% – 95%", "from_95": "≥ 95%",
        "no_data": "无巡访对象", "grid": "网格", "share": "按时巡访率", "targets": "应巡访",
        "on_time": "按时完成", "overdue": "逾期未访", "period": "统计月份",
        "refused": "当前账号无权查看巡访合规", "failed": "巡访合规数据加载失败",
        "unit": "次",
    },
    "en": {
        "layer": "Visit compliance", "below_50": "Visits on time < 50%", "from_50": "50% – 70%",
        "from_70": "70% – 85%", "from_85": "85% – 95%", "from_95": "≥ 95%",
        "no_data": "Nothing to visit", "grid": "Grid", "share": "On time", "targets": "Due",
        "on_time": "Made on time", "overdue": "Overdue", "period": "Month",
        "refused": "This account may not see visit compliance",
        "failed": "Visit compliance could not be loaded", "unit": "",
    },
}


def labels(lang: str) -> dict[str, str]:
    """The layer's words for ``lang`` ("zh" or "en")."""
    if lang not in LABELS:
        raise ValueError(f"`lang` was {lang!r} but is expected to be one of {list(LABELS)}")
    return LABELS[lang]


def band(share: float | None) -> str:
    """The colour of a share (0..1; None: no targets)."""
    if share is None:
        return NO_DATA
    colour = BANDS[0][2]
    for lower, _, c in BANDS:
        if share >= lower:
            colour = c
    return colour


class ComplianceGrids(Layer):
    """The leaf grids coloured by on-time share; empty until the page adds them."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        {% endmacro %}
        """
    )

    def __init__(self, lang: str = "zh", show: bool = False):
        super().__init__(name=labels(lang)["layer"], overlay=True, control=True, show=show)
        self._name = "ComplianceGrids"


def legend_entries(lang: str = "zh") -> list[dict[str, Any]]:
    """One entry per band, worst first, then the grids without targets."""
    words = labels(lang)
    out = [{"key": f"compliance-{key}", "label": words[key], "color": colour, "fill": colour,
            "shape": "box"} for _, key, colour in BANDS]
    out.append({"key": "compliance-no-data", "label": words["no_data"], "color": NO_DATA,
                "fill": NO_DATA, "shape": "box"})
    return out


def config(lang: str, url: str) -> dict[str, Any]:
    """What compliance.js needs: the API's URL, the bands, the words."""
    return {"url": url, "bands": [[lower, colour] for lower, _, colour in BANDS],
            "noData": NO_DATA, "words": labels(lang)}
