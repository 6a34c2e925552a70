"""A feed's mapping, kept as data: which sensor types the feed sends, the case category each
becomes, on which channel, and the threshold that makes a reading an alarm.

A mapping file is TOML (or the same as JSON)::

    channel = "sensor"                 # sensor (the default), referral or hotline
    [sensors.water_level]
    category = "hazard.flood"
    above = 3.5                        # a reading over 3.5 opens a case; at or under, nothing
    unit = "m"
    description = "水位 {value} {unit}，超过警戒水位 {above} {unit}"

    [sensors.camera_alert]
    category = "assist.public_security"   # no threshold: every event is an alarm

``above`` opens a case for a value greater than it, ``below`` for one less than it (both may
be given: outside the band). A reading on the safe side is recorded and closes nothing by
itself: a case is closed by people, through the workflow. ``description`` may name
``{value}``, ``{unit}``, ``{above}``, ``{below}``, ``{sensor_id}`` and ``{sensor_type}``.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from feeds.errors import InvalidMapping

CHANNELS = ("sensor", "referral", "hotline")
SENSOR_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")
_SENSOR_KEYS = {"category", "above", "below", "unit", "description", "channel"}
_PLACEHOLDER = re.compile(r"\{(value|unit|above|below|sensor_id|sensor_type)\}")
MAX_DESCRIPTION = 500


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The mapping in ``path`` (.toml or .json), parsed but not yet checked against the
    categories (:func:`checked_mapping`). Raises InvalidMapping."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidMapping(f"cannot read the mapping file {str(path)!r}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(raw)
        if path.suffix.lower() == ".toml":
            return tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMapping(f"the mapping file {str(path)!r} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    raise InvalidMapping(f"the mapping file {str(path)!r} must end in .toml or .json")


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidMapping(f"{where} is {value!r} but must be a number")
    return float(value)


def checked_mapping(mapping: Any, category_codes: set[str]) -> dict[str, Any]:
    """``mapping`` checked and normalised (every sensor type with its channel); raises
    InvalidMapping naming the first key that does not fit."""
    if not isinstance(mapping, dict):
        raise InvalidMapping("the mapping must be a table (a JSON object)")
    unknown = sorted(set(mapping) - {"channel", "sensors"})
    if unknown:
        raise InvalidMapping(f"unknown key(s) {unknown} in the mapping: it has `channel` and `sensors`")
    channel = mapping.get("channel", "sensor")
    if channel not in CHANNELS:
        raise InvalidMapping(f"channel is {channel!r} but must be one of {list(CHANNELS)}")
    sensors = mapping.get("sensors")
    if not isinstance(sensors, dict) or not sensors:
        raise InvalidMapping("the mapping has no [sensors.<type>] table: name at least one sensor type")
    out: dict[str, Any] = {"channel": channel, "sensors": {}}
    for name, rule in sensors.items():
        where = f"sensors.{name}"
        if not SENSOR_TYPE.match(name):
            raise InvalidMapping(f"the sensor type {name!r} must be 1 to 60 letters, digits, '_', '.' or '-'")
        if not isinstance(rule, dict):
            raise InvalidMapping(f"{where} must be a table")
        extra = sorted(set(rule) - _SENSOR_KEYS)
        if extra:
            raise InvalidMapping(f"unknown key(s) {extra} in {where}: it may have {sorted(_SENSOR_KEYS)}")
        category = rule.get("category")
        if category not in category_codes:
            raise InvalidMapping(f"{where}.category is {category!r}, which is not a category "
                                 "(see GET /api/v1/categories)")
        rule_channel = rule.get("channel", channel)
        if rule_channel not in CHANNELS:
            raise InvalidMapping(f"{where}.channel is {rule_channel!r} but must be one of {list(CHANNELS)}")
        checked: dict[str, Any] = {"category": category, "channel": rule_channel}
        for bound in ("above", "below"):
            if bound in rule:
                checked[bound] = _number(f"{where}.{bound}", rule[bound])
        if "above" in checked and "below" in checked and checked["below"] > checked["above"]:
            raise InvalidMapping(f"{where}: below ({checked['below']}) is over above "
                                 f"({checked['above']}), so every reading would be an alarm")
        for text in ("unit", "description"):
            if text in rule:
                if not isinstance(rule[text], str) or len(rule[text]) > MAX_DESCRIPTION:
                    raise InvalidMapping(f"{where}.{text} must be text of at most {MAX_DESCRIPTION} characters")
                checked[text] = rule[text]
        out["sensors"][name] = checked
    return out


def is_alarm(rule: dict[str, Any], value: float | None) -> bool:
    """Whether a reading is an alarm under ``rule``: over ``above``, under ``below``; a rule
    without a threshold makes every event an alarm."""
    if "above" not in rule and "below" not in rule:
        return True
    if value is None:
        return False
    return ("above" in rule and value > rule["above"]) or ("below" in rule and value < rule["below"])


def describe(rule: dict[str, Any], sensor_type: str, sensor_id: str | None, value: float | None) -> str:
    """The rule's description with its placeholders filled in (nothing else of the text is
    interpreted: a brace that names no placeholder stays as written)."""
    template = rule.get("description") or f"{sensor_type}" + (" {value} {unit}" if value is not None else "")
    fields = {"value": "" if value is None else f"{value:g}", "unit": rule.get("unit", ""),
              "above": f"{rule['above']:g}" if "above" in rule else "",
              "below": f"{rule['below']:g}" if "below" in rule else "",
              "sensor_id": sensor_id or "", "sensor_type": sensor_type}
    return _PLACEHOLDER.sub(lambda m: fields[m.group(1)], template).strip()
