"""The public board's cases as a folium layer: one numbered pin per case of the page, the
number the same as in the list beside the map.

Input is the board's records (cases/publication.py: already redacted, positions snapped to
about 50 m). Every text reaching the map is HTML-escaped here (Leaflet's tooltips take HTML).
Pure: no web framework, no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import folium

from geo.layers.grids import text

PIN_CLASS = "board-pin"  # styled in web/static/css/gridgov.css
# The pins' colour by the residents' rating (DOMAIN.md's four levels); grey when not rated.
RATING_COLORS = {
    "very_satisfied": "#1a9641", "satisfied": "#66bd63", "basically_satisfied": "#f6a21a",
    "dissatisfied": "#d7191c", None: "#6b7280",
}
LABELS = {"zh": {"layer": "已结案件"}, "en": {"layer": "Closed cases"}}


def tooltip_text(number: int, record: Mapping[str, Any], category_name: str | None,
                 rating_name: str | None) -> str:
    """What a pin says on hover, escaped: number, category, village, rating."""
    village = (record.get("village") or {}).get("name")
    parts = [f"{number}. {text(category_name or record['category']['code'])}"]
    if village:
        parts.append(text(village))
    if rating_name:
        parts.append(text(rating_name))
    return " · ".join(parts)


def board_layer(
    records: Sequence[Mapping[str, Any]], lang: str = "zh", first_number: int = 1,
    category_names: Mapping[str, str] | None = None,
    rating_names: Mapping[str, str] | None = None,
) -> folium.FeatureGroup:
    """A layer of numbered pins, one per record with a location, numbered from
    ``first_number`` in the records' order (the list's numbers)."""
    group = folium.FeatureGroup(name=LABELS[lang]["layer"])
    for i, record in enumerate(records):
        location = record.get("location")
        if not location:
            continue
        number = first_number + i
        color = RATING_COLORS.get(record.get("satisfaction"), RATING_COLORS[None])
        code = record["category"]["code"]
        name = (category_names or {}).get(code) or record["category"].get(f"name_{lang}")
        rating = (rating_names or {}).get(record.get("satisfaction") or "")
        folium.Marker(
            [location["lat"], location["lon"]],
            icon=folium.DivIcon(
                html=f'<div class="{PIN_CLASS}" style="background:{color}">{number}</div>',
                icon_size=(26, 26), icon_anchor=(13, 13), class_name="board-pin-icon",
            ),
            tooltip=folium.Tooltip(tooltip_text(number, record, name, rating)),
            rise_on_hover=True,  # two pins close together: the one pointed at comes to the front
        ).add_to(group)
    return group
