"""The query string of the OGC API, checked: ``bbox``, ``datetime``, ``limit``, ``offset``, ``f``.

Pure functions over the raw strings; each refusal is an ``ogc.errors`` class naming the value.
What the standard (OGC API – Features – Part 1: Core, 17-069r4) asks, and where we stop:

- ``bbox``: minx,miny,maxx,maxy in CRS84 degrees (longitude first). A box whose minx is
  greater than its maxx crosses the antimeridian, as the standard says. Six numbers (a 3D box)
  are refused: our boundaries and cases have no height, so a box with one has no answer we
  could stand behind.
- ``datetime``: an RFC 3339 instant with its offset (``2024-05-01T08:00:00Z``), a date (the
  town's whole local day, Asia/Shanghai), or an interval of those whose ends may be open
  (``..`` or empty), as the standard defines. A time without an offset is refused rather than
  guessed at.
- ``limit``: 1 or more; above LIMIT_MAX the maximum is used — the standard's requirement
  /req/core/fc-limit-response-1 C says a larger value SHALL NOT be an error.
- ``offset``: where a page starts, from 0; the ``next`` links carry it.
- ``f``: ``json`` only (JSON, or GeoJSON for features).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from cases.deadlines import LOCAL_TZ
from ogc.errors import (
    Bbox3DNotSupported, InvalidBbox, InvalidDatetime, InvalidLimit, InvalidOffset,
    RepeatedParameter, UnknownParameter, UnsupportedFormat,
)

LIMIT_DEFAULT = 10
LIMIT_MAX = 1000
OFFSET_MAX = 1_000_000_000
FORMATS = ("json",)
# the parameters each kind of resource takes. The other resources take the items' too, and
# ignore them: GDAL appends the query of an ``OAPIF:`` URL to every request it makes
# (``OAPIF:http://…/ogc/collections/grids?datetime=…`` reads the grids of that day), and a
# 400 from the collection's description would stop it before it reads a feature.
ITEMS_PARAMETERS = ("f", "bbox", "datetime", "limit", "offset")
DOCUMENT_PARAMETERS = ITEMS_PARAMETERS

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WHOLE = re.compile(r"^\d+$")
_OPEN = ("", "..")


@dataclass(frozen=True)
class Bbox:
    """A box in CRS84 degrees; ``min_lon > max_lon`` crosses the antimeridian."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def wkt(self) -> str:
        """The box as WKT in EPSG:4326 (two boxes when it crosses the antimeridian)."""
        def box(x0: float, x1: float) -> str:
            y0, y1 = self.min_lat, self.max_lat
            return f"(({x0!r} {y0!r},{x1!r} {y0!r},{x1!r} {y1!r},{x0!r} {y1!r},{x0!r} {y0!r}))"

        if self.min_lon <= self.max_lon:
            return f"POLYGON{box(self.min_lon, self.max_lon)}"
        return f"MULTIPOLYGON({box(self.min_lon, 180.0)},{box(-180.0, self.max_lon)})"


@dataclass(frozen=True)
class Interval:
    """Moments from ``start`` to ``end``, both included; None is an open end. An instant is an
    interval whose ends are equal."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class ItemsQuery:
    """An items request, checked: ``bbox`` and ``datetime`` None when not asked for."""

    bbox: Bbox | None = None
    datetime: Interval | None = None
    limit: int = LIMIT_DEFAULT
    offset: int = 0
    # bbox and datetime as the client wrote them, for the links to other pages
    bbox_text: str | None = None
    datetime_text: str | None = None

    def parameters(self, offset: int | None = None) -> dict[str, str]:
        """The query as parameters of a link to another page (``offset`` replaced when
        given), with the effective limit, so every page of a walk has the same size."""
        found: dict[str, str] = {}
        if self.bbox_text is not None:
            found["bbox"] = self.bbox_text
        if self.datetime_text is not None:
            found["datetime"] = self.datetime_text
        found["limit"] = str(self.limit)
        found["offset"] = str(self.offset if offset is None else offset)
        return found


def single_values(args: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> dict[str, str]:
    """Each parameter's one value; UnknownParameter for a name not in ``allowed`` (the core's
    /req/core/query-param-unknown), RepeatedParameter for one given twice."""
    unknown = sorted(name for name in args if name not in allowed)
    if unknown:
        raise UnknownParameter(
            f"unknown query parameter {unknown[0]!r}: this resource takes {', '.join(allowed)}",
            {"parameter": unknown[0], "allowed": list(allowed)})
    found = {}
    for name, values in args.items():
        if len(values) > 1:
            raise RepeatedParameter(f"the query parameter {name!r} was given {len(values)} times; "
                                    "give it once", {"parameter": name})
        found[name] = values[0]
    return found


def output_format(value: str | None) -> str | None:
    """``f``: None or json; UnsupportedFormat otherwise."""
    if value is None or value.lower() in FORMATS:
        return value
    raise UnsupportedFormat(f"`f` was {value!r} but this API answers only f=json "
                            "(GeoJSON for features)", {"f": value, "valid": list(FORMATS)})


def bbox(value: str | None) -> Bbox | None:
    """``bbox=minx,miny,maxx,maxy`` in CRS84 degrees; None when absent."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if not numbers or not all(math.isfinite(n) for n in numbers):
        raise InvalidBbox(f"`bbox` was {value!r} but is expected to be four numbers "
                          "minx,miny,maxx,maxy in degrees (CRS84: longitude first)",
                          {"bbox": value})
    if len(numbers) == 6:
        raise Bbox3DNotSupported(f"`bbox` was {value!r}: six numbers are a 3D box, but these "
                                 "features have no height; give minx,miny,maxx,maxy",
                                 {"bbox": value})
    if len(numbers) != 4:
        raise InvalidBbox(f"`bbox` was {value!r}: {len(numbers)} numbers, but is expected to be "
                          "four, minx,miny,maxx,maxy", {"bbox": value})
    min_lon, min_lat, max_lon, max_lat = numbers
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        raise InvalidBbox(f"`bbox` was {value!r}: longitudes are expected within -180..180 "
                          "(CRS84: longitude first)", {"bbox": value})
    if not (-90 <= min_lat <= max_lat <= 90):
        raise InvalidBbox(f"`bbox` was {value!r}: latitudes are expected within -90..90, the "
                          "lower one (miny) first", {"bbox": value})
    return Bbox(min_lon, min_lat, max_lon, max_lat)


def _moment(text: str, value: str, end: bool) -> datetime | None:
    """One end of a datetime: an instant, or a date's first (or, as an ``end``, last)
    moment in the town's time; None when open."""
    if text in _OPEN:
        return None
    if _INSTANT.match(text):
        try:
            return datetime.fromisoformat(text.upper())
        except ValueError as exc:
            raise InvalidDatetime(f"`datetime` was {value!r}: {text!r} is not a moment ({exc})",
                                  {"datetime": value}) from exc
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise InvalidDatetime(f"`datetime` was {value!r}: {text!r} is not a day ({exc})",
                                  {"datetime": value}) from exc
        first = datetime.combine(day, time(), LOCAL_TZ)
        return first + timedelta(days=1, microseconds=-1) if end else first
    if _LOCAL_TIME.match(text):
        raise InvalidDatetime(f"`datetime` was {value!r}: {text!r} has no time zone; RFC 3339 "
                              "asks for one, e.g. 2024-05-01T08:00:00Z or "
                              "2024-05-01T16:00:00+08:00", {"datetime": value})
    raise InvalidDatetime(f"`datetime` was {value!r} but is expected to be an RFC 3339 "
                          "date-time (2024-05-01T08:00:00Z), a date (2024-05-01) or an "
                          "interval of them (2024-01-01T00:00:00Z/2024-06-30T00:00:00Z, "
                          "2024-01-01/.., ../2024-06-30)", {"datetime": value})


def datetime_interval(value: str | None) -> Interval | None:
    """``datetime``: an instant, a date or an interval (see the module's docstring); None when
    absent."""
    if value is None:
        return None
    text = value.strip()
    parts = text.split("/")
    if len(parts) == 1:
        if text in _OPEN:
            raise InvalidDatetime("`datetime` was empty or `..`: give an instant, a date or an "
                                  "interval", {"datetime": value})
        return Interval(_moment(text, value, end=False), _moment(text, value, end=True))
    if len(parts) != 2:
        raise InvalidDatetime(f"`datetime` was {value!r}: an interval has two ends, "
                              "start/end", {"datetime": value})
    start, end = _moment(parts[0], value, end=False), _moment(parts[1], value, end=True)
    if start is not None and end is not None and end < start:
        raise InvalidDatetime(f"`datetime` was {value!r}: the interval ends before it starts",
                              {"datetime": value})
    return Interval(start, end)


def limit(value: str | None) -> int:
    """``limit``: LIMIT_DEFAULT when absent; at most LIMIT_MAX (a larger value is not an
    error: the maximum is used)."""
    if value is None:
        return LIMIT_DEFAULT
    digits = value.lstrip("0")
    if not _WHOLE.match(value) or not digits:
        raise InvalidLimit(f"`limit` was {value!r} but is expected to be a whole number from 1 "
                           f"(at most {LIMIT_MAX} features are returned per page)",
                           {"limit": value, "minimum": 1, "maximum": LIMIT_MAX})
    return LIMIT_MAX if len(digits) > len(str(LIMIT_MAX)) else min(int(digits), LIMIT_MAX)


def offset(value: str | None) -> int:
    """``offset``: the number of matching features to skip, from 0."""
    if value is None:
        return 0
    digits = value.lstrip("0") or "0"
    if not _WHOLE.match(value) or len(digits) > 10 or int(digits) > OFFSET_MAX:
        raise InvalidOffset(f"`offset` was {value!r} but is expected to be a whole number from 0 "
                            f"to {OFFSET_MAX}", {"offset": value})
    return int(digits)


def items_query(args: Mapping[str, str]) -> ItemsQuery:
    """The checked query of an items request, from its single values."""
    output_format(args.get("f"))
    return ItemsQuery(bbox=bbox(args.get("bbox")),
                      datetime=datetime_interval(args.get("datetime")),
                      limit=limit(args.get("limit")), offset=offset(args.get("offset")),
                      bbox_text=args.get("bbox"), datetime_text=args.get("datetime"))
