"""The grid hierarchy as folium layers: town boundary, zones, and one layer per grid level.

Input is the GeoJSON FeatureCollections of boundaries/repository.py (EPSG:4326); output is
folium objects, styled by level, with tooltips and popups. Pure: no web framework, no database.

Escaping. Folium's GeoJsonTooltip and GeoJsonPopup put property values into the page with
``innerHTML`` and do not escape them (folium 0.20), so every string a person typed (grid names,
people's names) is HTML-escaped here, with markupsafe, before it reaches a layer. The embedded
features carry only the escaped display values, never the raw ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import folium
from folium.utilities import JsCode
from markupsafe import escape

FeatureCollection = dict[str, Any]

LEVELS = ("admin", "regional", "service")  # the grid levels of DOMAIN.md, outermost first

# Administrative grids (villages) are thick outlines drawn on top, so their interiors leave
# clicks to the leaf grids beneath; leaf grids are filled, one colour per level.
LEVEL_STYLES: dict[str, dict[str, Any]] = {
    "admin": {"color": "#1f3b73", "weight": 2.5, "opacity": 0.95, "fill": False},
    "regional": {
        "color": "#2e7d32", "weight": 1, "opacity": 0.8,
        "fillColor": "#66bb6a", "fillOpacity": 0.35,
    },
    "service": {
        "color": "#d84315", "weight": 1, "opacity": 0.8,
        "fillColor": "#ffa726", "fillOpacity": 0.45,
    },
}
# Zones are groups of villages, so their edges mostly run along village outlines: a wide,
# pale dashed band under the village line keeps both visible.
ZONE_STYLE: dict[str, Any] = {
    "color": "#8e24aa", "weight": 6, "opacity": 0.55, "dashArray": "10 8", "fill": False,
}
TOWN_STYLE: dict[str, Any] = {"color": "#c62828", "weight": 3.5, "opacity": 0.9, "fill": False}
HIGHLIGHT_STYLE: dict[str, Any] = {"weight": 3, "fillOpacity": 0.7}

# Interface words. Simplified Chinese is the default language (DESIGN.md); English is there
# for the language switch to come.
LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "town": "镇界", "zones": "片区", "admin": "行政网格", "regional": "区域网格", "service": "服务网格",
        "code": "编码", "name": "名称", "level": "层级", "village": "所属村", "leaders": "网格长",
        "workers": "网格员", "households": "户数", "zone_leader": "包联领导", "kind": "类型",
        "village_zone": "村社片区", "enterprise_zone": "企业片区", "none": "—", "more": "等{n}人",
        "separator": "、", "no_duty": "无在岗网格员",
    },
    "en": {
        "town": "Town boundary", "zones": "Zones", "admin": "Administrative grids",
        "regional": "Regional grids", "service": "Service grids", "code": "Code", "name": "Name",
        "level": "Level", "village": "Village", "leaders": "Grid leader", "workers": "Grid workers",
        "households": "Households", "zone_leader": "Zone leader", "kind": "Kind",
        "village_zone": "Village zone", "enterprise_zone": "Enterprise zone", "none": "—",
        "more": "({n} in all)", "separator": ", ", "no_duty": "No grid worker on duty",
    },
}
MAX_NAMES = 6  # names listed in a popup before "and N more"


def labels(lang: str) -> dict[str, str]:
    """The interface words for ``lang`` ("zh" or "en")."""
    if lang not in LABELS:
        raise ValueError(f"`lang` was {lang!r} but is expected to be one of {list(LABELS)}")
    return LABELS[lang]


def text(value: Any) -> str:
    """``value`` as HTML-escaped text ("" for None), safe to put into innerHTML."""
    return "" if value is None else str(escape(str(value)))


def names_text(names: Iterable[str], words: Mapping[str, str]) -> str:
    """A short escaped list of people's names: the first few, then the total."""
    listed = list(names)
    if not listed:
        return words["none"]
    shown = words["separator"].join(text(n) for n in listed[:MAX_NAMES])
    if len(listed) > MAX_NAMES:
        shown += " " + words["more"].format(n=len(listed))
    return shown


def _coordinates(geometry: Mapping[str, Any] | None) -> Iterator[tuple[float, float]]:
    if not geometry:
        return
    if geometry["type"] == "GeometryCollection":
        for part in geometry["geometries"]:
            yield from _coordinates(part)
        return
    stack = [geometry["coordinates"]]
    while stack:
        item = stack.pop()
        if item and isinstance(item[0], (int, float)):
            yield item[0], item[1]
        else:
            stack.extend(item)


def bounds_latlon(*collections: FeatureCollection) -> list[list[float]] | None:
    """[[south, west], [north, east]] around all features (for fit_bounds); None if empty."""
    lons: list[float] = []
    lats: list[float] = []
    for collection in collections:
        for feature in collection["features"]:
            for lon, lat in _coordinates(feature.get("geometry")):
                lons.append(lon)
                lats.append(lat)
    if not lons:
        return None
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _slim(
    collection: FeatureCollection, properties: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> FeatureCollection:
    """A copy of ``collection`` whose features carry only ``properties(feature properties)``."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": str(f.get("id") or f["properties"]["code"]),
                "geometry": f["geometry"],
                "properties": properties(f["properties"]),
            }
            for f in collection["features"]
        ],
    }


def _names(collection: FeatureCollection) -> dict[str, str]:
    return {f["properties"]["code"]: f["properties"]["name"] for f in collection["features"]}


def grid_properties(
    props: Mapping[str, Any], words: Mapping[str, str], names: Mapping[str, str]
) -> dict[str, Any]:
    """The escaped values a grid's tooltip and popup show; ``names`` maps grid codes to names."""
    parent = props.get("parent_code")
    return {
        "code": text(props["code"]),
        "name": text(props["name"]),
        "level": text(words.get(props["level"], props["level"])),
        "village": text(names.get(parent, parent)) if parent else words["none"],
        "leaders": names_text(props.get("leaders", []), words),
        "workers": names_text(props.get("workers", []), words),
        "households": int(props.get("households") or 0),
    }


def _constant(style: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    return lambda feature: style


NO_DUTY_STYLE: dict[str, Any] = {"color": "#e53935", "weight": 2.5, "opacity": 1, "dashArray": "6 4"}
_JS_NAME = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")


def no_duty(props: Mapping[str, Any]) -> bool:
    """A leaf grid whose posts have no grid worker on duty (unknown counts as staffed)."""
    return props.get("level") != "admin" and props.get("workers_on_duty", 1) == 0


def level_style(level: str, props: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A grid's style: its level's, with a red dashed outline when no worker is on duty."""
    style = dict(LEVEL_STYLES[level])
    if props is not None and no_duty(props):
        style.update(NO_DUTY_STYLE)
    return style


def _click_js(on_click: str, label: bool) -> JsCode:
    if not _JS_NAME.match(on_click):
        raise ValueError(f"`on_click` was {on_click!r} but must be a JavaScript name like gridgov.openGrid")
    bind_label = (
        "layer.bindTooltip(feature.properties.name, {permanent: true, direction: 'center', "
        "className: 'grid-label', interactive: false});" if label else ""
    )
    return JsCode(
        "function (feature, layer) {" + bind_label
        + f"layer.on('click', function (e) {{ {on_click}(feature.properties.code, layer, e); }}); }}"
    )


def grid_layer(
    collection: FeatureCollection,
    level: str,
    lang: str = "zh",
    names: Mapping[str, str] | None = None,
    show: bool = True,
    on_click: str | None = None,
) -> folium.GeoJson:
    """One grid level as a styled folium.GeoJson with tooltip and popup (admin grids: name labels).

    ``names`` maps grid codes to names (to show a leaf grid's village); by default the
    names in ``collection`` itself. With ``on_click`` (the name of a page function taking the
    grid code, the Leaflet layer and the event) a click calls it instead of opening a popup,
    and the features carry only code, escaped name, level and ``no_duty``; leaf grids without
    an on-duty grid worker get a red dashed outline.
    """
    if level not in LEVEL_STYLES:
        raise ValueError(
            f"`level` was {level!r} but is expected to be one of {list(LEVEL_STYLES)}"
        )
    words = labels(lang)
    has_features = bool(collection["features"])
    if on_click is not None:
        data = _slim(collection, lambda p: {
            "code": text(p["code"]), "name": text(p["name"]), "level": p["level"],
            "no_duty": no_duty(p),
        })
        tooltip = None
        if level != "admin" and has_features:
            tooltip = folium.GeoJsonTooltip(
                ["code", "name"], aliases=[text(words["code"]), text(words["name"])]
            )
        return folium.GeoJson(
            data,
            name=text(words[level]),
            style_function=lambda f: level_style(level, {
                "level": level, "workers_on_duty": 0 if f["properties"]["no_duty"] else 1}),
            tooltip=tooltip,
            on_each_feature=_click_js(on_click, label=level == "admin"),
            show=show,
        )
    village_names = names if names is not None else _names(collection)
    data = _slim(collection, lambda p: grid_properties(p, words, village_names))
    popup_fields = ["code", "name", "level", "village", "leaders", "workers", "households"]
    tooltip: folium.GeoJsonTooltip | None
    on_each_feature: JsCode | None = None
    if level == "admin":
        # Village names as permanent labels at each village's centre, details on click. The
        # label is bound per feature: folium's GeoJsonTooltip binds one tooltip to the whole
        # layer, which Leaflet opens once, not once per village. The name is already escaped.
        tooltip = None
        on_each_feature = JsCode(
            "function (feature, layer) { layer.bindTooltip(feature.properties.name, {"
            "permanent: true, direction: 'center', className: 'grid-label', interactive: false"
            "}); }"
        )
        popup_fields = ["code", "name", "level", "leaders", "households"]
    else:
        tooltip = folium.GeoJsonTooltip(
            ["code", "name"], aliases=[text(words["code"]), text(words["name"])]
        )
    aliases = [text(words[f]) for f in popup_fields]
    popup = folium.GeoJsonPopup(popup_fields, aliases=aliases, localize=False)
    return folium.GeoJson(
        data,
        name=text(words[level]),
        style_function=_constant(LEVEL_STYLES[level]),
        highlight_function=_constant(HIGHLIGHT_STYLE) if level != "admin" else None,
        tooltip=tooltip if has_features else None,
        popup=popup if has_features else None,
        on_each_feature=on_each_feature,
        show=show,
    )


def grid_layers(
    collection: FeatureCollection, lang: str = "zh", on_click: str | None = None
) -> list[folium.GeoJson]:
    """One layer per grid level, in drawing order: leaf grids first, village outlines on top."""
    names = _names(collection)
    by_level: dict[str, list[dict[str, Any]]] = {level: [] for level in LEVELS}
    for feature in collection["features"]:
        by_level[feature["properties"]["level"]].append(feature)
    return [
        grid_layer(
            {"type": "FeatureCollection", "features": by_level[level]}, level, lang, names,
            on_click=on_click,
        )
        for level in ("regional", "service", "admin")
    ]


def zone_layer(collection: FeatureCollection, lang: str = "zh") -> folium.GeoJson:
    """The zones (片区) as dashed outlines, with name, kind and leader on hover."""
    words = labels(lang)
    data = _slim(collection, lambda p: {
        "code": text(p["code"]),
        "name": text(p["name"]),
        "kind": text(words.get(f"{p.get('kind')}_zone", p.get("kind"))),
        "zone_leader": text(p.get("leader")) or words["none"],
    })
    fields = ["name", "kind", "zone_leader"]
    tooltip: folium.GeoJsonTooltip | None = None
    if data["features"]:
        tooltip = folium.GeoJsonTooltip(fields, aliases=[text(words[f]) for f in fields])
    return folium.GeoJson(
        data, name=text(words["zones"]), style_function=_constant(ZONE_STYLE), tooltip=tooltip
    )


def town_layer(collection: FeatureCollection, lang: str = "zh") -> folium.GeoJson:
    """The town boundary: an outline that takes no clicks."""
    words = labels(lang)
    data = _slim(collection, lambda p: {"code": text(p["code"]), "name": text(p["name"])})
    return folium.GeoJson(
        data, name=text(words["town"]), style_function=_constant(TOWN_STYLE), interactive=False,
    )


def level_counts(collection: FeatureCollection) -> dict[str, int]:
    """How many grids of each level ``collection`` holds, every level present."""
    counts = {level: 0 for level in LEVELS}
    for feature in collection["features"]:
        counts[feature["properties"]["level"]] += 1
    return counts


def _entry(key: str, label: str, count: int | None, style: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": key, "label": label, "count": count, "color": style["color"],
        "fill": style.get("fillColor"), "dash": "dashArray" in style,
    }


def legend_entries(
    counts: Mapping[str, int], zone_count: int | None = None, lang: str = "zh",
    no_duty_count: int | None = None,
) -> list[dict[str, Any]]:
    """What the legend shows, one entry per layer: key, label, count, colour, fill, dash;
    with ``no_duty_count``, an entry for the leaf grids without an on-duty grid worker."""
    words = labels(lang)
    entries = [_entry("town", words["town"], None, TOWN_STYLE)]
    if zone_count is not None:
        entries.append(_entry("zones", words["zones"], zone_count, ZONE_STYLE))
    for level in LEVELS:
        entries.append(_entry(level, words[level], int(counts.get(level, 0)), LEVEL_STYLES[level]))
    if no_duty_count is not None:
        entries.append(_entry("no-duty", words["no_duty"], no_duty_count, NO_DUTY_STYLE))
    return entries
