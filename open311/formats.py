"""Open311's two formats from one value: JSON as is, XML by the spec's "Spark convention"
(http://wiki.open311.org/JSON_and_XML_Conversion): an object is an element with a child per
key, a list is an element with one child per item, named by the singular of its own name
(``services`` → ``service``, ``service_requests`` → ``request``), a value is text, null an
empty element.

The XML carries no namespace and no foreign elements (the spec asks servers to stay strictly
inside it), a declaration with ``encoding="UTF-8"``, and only characters XML 1.0 allows:
ElementTree escapes ``&``, ``<`` and ``>`` but writes control characters as they are, which a
parser then refuses, so they become U+FFFD first. Pure functions: no framework.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET

from open311.errors import UnknownFormat

FORMATS = ("xml", "json")
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
# the singular of each list of the spec (and of our discovery document)
ITEM = {
    "services": "service", "service_requests": "request", "errors": "error",
    "endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value",
}
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def checked_format(fmt: str) -> str:
    """``fmt`` when it is ``xml`` or ``json``; UnknownFormat naming it otherwise."""
    if fmt not in FORMATS:
        raise UnknownFormat(
            f"the format {_printable(fmt)!r} is not served: append .xml or .json to the resource")
    return fmt


def _printable(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)[:100]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _element(name: str, value: Any) -> ET.Element:
    node = ET.Element(name)
    if isinstance(value, dict):
        for key, child in value.items():
            node.append(_element(key, child))
    elif isinstance(value, list):
        item = ITEM[name]  # KeyError: a list the spec does not name (a bug of ours)
        for child in value:
            node.append(_element(item, child))
    else:
        node.text = _text(value)
    return node


def xml_document(root: str, value: Any) -> bytes:
    """``value`` as the XML document whose root element is ``root``, UTF-8."""
    body = ET.tostring(_element(root, value), encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def json_document(value: Any) -> bytes:
    """``value`` as JSON, UTF-8 (Chinese as itself, not as escapes)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def document(fmt: str, root: str, value: Any) -> tuple[bytes, str]:
    """``value`` in ``fmt``: (the body, its Content-Type). ``root`` names the XML's root
    element; JSON has none (a list is the top-level array, as the spec's examples show)."""
    body = xml_document(root, value) if fmt == "xml" else json_document(value)
    return body, CONTENT_TYPES[fmt]


def errors_document(fmt: str, code: int, descriptions: list[str]) -> tuple[bytes, str]:
    """Open311's error format: ``[{"code", "description"}, …]`` or
    ``<errors><error><code/><description/></error>…</errors>``, one per description."""
    value = [{"code": code, "description": d} for d in descriptions]
    return document(fmt if fmt in FORMATS else "xml", "errors", value)
