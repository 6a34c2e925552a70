"""Mapbox vector tiles from PostGIS: the layers, their filters, and one tile's query.

Layers (an allow-list; the MVT layer inside a tile has the same name):

- ``cases`` — cases, filtered by ``open``, ``status``, ``category``, ``channel``, ``since``,
  ``until`` (see ``case_filters``). What a tile carries depends on the zoom
  (``points_min_zoom``): from z14 on (``POINTS_MIN_ZOOM``) when the selection holds open cases
  only, as the operator's default view does, and from z17 on (``HISTORY_POINTS_MIN_ZOOM``)
  when it can hold closed ones too (``open=0``, or a closed state in ``status``; there are
  about 17 closed cases to an open one, and a z14 tile of the town centre would carry 130,000
  points, 7.6 MB):

  * at or above that zoom: one point per case, properties ``id`` (also the feature id),
    ``status``, ``category_code``, ``channel``, ``created_at`` and ``due_at`` (epoch seconds),
    ``overdue`` (not closed and due_at < now()), ``grid_code``.
  * below it: the tile is cut into 32 x 32 buckets (``BUCKETS_PER_SIDE``; 8 screen pixels on
    a 256-pixel tile, about 250 m at z12 in Bagong) and each non-empty bucket is one point at
    the mean position of its cases, properties ``count`` and ``overdue`` (how many of them
    are overdue). A tile never carries more than 1,024 features however many cases it
    covers, so the whole town at z10-12 stays a few small tiles; its counts add up to the
    cases in the tile.

- ``grids`` — current grids of every level (code, name, level, parent_code, zone_code);
- ``zones`` — current zones (code, name, kind). Both simplified for the zoom (tolerance half
  a screen pixel) and clipped to the tile with a 64/4096 buffer.

Every query filters with ``ST_Transform(ST_TileEnvelope(z, x, y), 4326)``: ``&&`` for polygons
(their GiST indexes are on the stored EPSG:4326 geometries), and for case points the stored
lon/lat between the box's edges, which is exact and lets a tile be read from the covering
indexes on lon/lat alone (tiles/cases_points.sql).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from cases.categories import categories
from cases.deadlines import LOCAL_TZ
from cases.models import CHANNELS, CLOSED_STATES, OPEN_PREDICATE, STATES
from db.driver import driver_sql
from tiles import InvalidFilter, InvalidTileAddress, TileOutOfRange, UnknownLayer, UnknownParameter
from tiles.cache import CachedTile, TileCache, cached_tile

MAX_ZOOM = 22
POINTS_MIN_ZOOM = 14
HISTORY_POINTS_MIN_ZOOM = 17
BUCKETS_PER_SIDE = 32
EXTENT = 4096
WORLD_WIDTH_M = 2 * 20037508.342789244  # EPSG:3857's square, edge to edge

LAYERS: dict[str, tuple[str, ...]] = {
    "cases": (
        "id",
        "status",
        "category_code",
        "channel",
        "created_at",
        "due_at",
        "overdue",
        "grid_code",
    ),
    "grids": ("code", "name", "level", "parent_code", "zone_code"),
    "zones": ("code", "name", "kind"),
}
CASE_PARAMETERS = ("open", "status", "category", "channel", "since", "until")

_CATEGORY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
_INTEGER = re.compile(r"-?[0-9]{1,12}")

# Open = not in a closed state, written into the SQL exactly as the partial indexes on open
# cases state it (cases.models.OPEN_PREDICATE), literal rather than bound: the planner can then
# prove that the index covers the query, which it cannot with bound values in a generic plan.
# Written as "status IN (open states)" (the same set: ck_cases_status), the planner also read
# ix_cases_status for the ~56,000 open cases and ANDed the two bitmaps, 5 ms of a 9 ms z16
# tile on 1M cases (EXPLAIN ANALYZE, 2026-11-26).
_OPEN_SQL = f"AND c.{OPEN_PREDICATE}"
# parked (挂账) cases have their deadline suspended: not overdue, as everywhere else
_OVERDUE_SQL = f"(c.{OPEN_PREDICATE} AND c.status <> 'parked' AND coalesce(c.due_at < now(), false))"


@dataclass(frozen=True)
class CaseFilters:
    """The cases layer's filters, normalised so that equal selections are equal (cache keys)."""

    open_only: bool = True
    statuses: tuple[str, ...] = ()
    category: str | None = None
    channels: tuple[str, ...] = ()
    since: date | None = None  # created on or after this local day
    until: date | None = None  # created on or before this local day
    # whose map: the reader's scope, (kind, codes) as accounts.access.case_scope gives it
    # ("town", (code,)), ("villages", codes), ("grids", codes), ("none", ())); None: every case
    scope: tuple[str, tuple[str, ...]] | None = None


@dataclass(frozen=True)
class ServedTile:
    """A tile's bytes (empty: no features), its ETag, whether the cache answered, and the
    cached tile that gzips them on demand."""

    data: bytes
    etag: str
    cache_hit: bool
    tile: CachedTile

    def gzipped(self) -> bytes:
        """The bytes gzip'ed, made once per cached tile (tiles/cache.py CachedTile)."""
        return self.tile.gzipped()


# -- checking a request ------------------------------------------------------------------------


def check_layer(name: str) -> str:
    """``name`` if it is a layer; UnknownLayer listing the valid ones otherwise."""
    if name not in LAYERS:
        raise UnknownLayer(
            f"there is no tile layer {name!r}; the layers are {', '.join(LAYERS)}",
            {"layer": name, "valid": list(LAYERS)},
        )
    return name


def tile_address(z: str, x: str, y: str) -> tuple[int, int, int]:
    """The tile address as integers: z in 0..22, x and y in 0..2^z-1."""
    values: dict[str, int] = {}
    for name, raw in (("z", z), ("x", x), ("y", y)):
        if not _INTEGER.fullmatch(raw):
            raise InvalidTileAddress(
                f"{name} was {raw!r} but must be an integer", {"field": name, "value": raw}
            )
        values[name] = int(raw)
    if not 0 <= values["z"] <= MAX_ZOOM:
        raise TileOutOfRange(
            f"z was {values['z']} but must be in 0..{MAX_ZOOM}",
            {"field": "z", "value": values["z"], "min": 0, "max": MAX_ZOOM},
        )
    top = 2 ** values["z"] - 1
    for name in ("x", "y"):
        if not 0 <= values[name] <= top:
            raise TileOutOfRange(
                f"{name} was {values[name]} but must be in 0..{top} at zoom {values['z']}",
                {"field": name, "value": values[name], "min": 0, "max": top},
            )
    return values["z"], values["x"], values["y"]


def layer_filters(layer: str, args: Mapping[str, Sequence[str]]) -> CaseFilters | None:
    """The layer's filters from the query parameters (each name to its list of values); grids
    and zones take none."""
    if layer == "cases":
        return case_filters(args)
    _refuse_unknown(layer, args, ())
    return None


def case_filters(args: Mapping[str, Sequence[str]]) -> CaseFilters:
    """The cases layer's filters.

    ``open`` 1 (default) or 0: only cases not closed, evaluated or voided. ``status``: a comma
    list of states; when given, it decides alone (unless ``open=1`` is given too, which refuses
    closed states). ``category``: a category code, matching it and its subcategories
    (``hazard`` matches ``hazard.fire``). ``channel``: a comma list. ``since``/``until``: local
    (Asia/Shanghai) days, YYYY-MM-DD, both inclusive, on ``created_at``.
    """
    _refuse_unknown("cases", args, CASE_PARAMETERS)
    one = {name: values[0] for name, values in args.items()}
    open_given = "open" in one
    open_only = _flag("open", one["open"]) if open_given else True
    statuses = _choices("status", one.get("status"), STATES)
    if statuses:
        closed = [s for s in statuses if s in CLOSED_STATES]
        if open_given and open_only and closed:
            raise InvalidFilter(
                f"status {closed[0]!r} is a closed state, but open=1 asks for open cases only",
                {"parameter": "status", "value": closed[0], "conflicts_with": "open=1"},
            )
        open_only = False  # the states given select exactly; open=1 with open states adds nothing
    category = one.get("category")
    if category is not None and not _CATEGORY.fullmatch(category):
        raise InvalidFilter(
            f"category {category!r} is not a category code (like hazard or hazard.fire)",
            {"parameter": "category", "value": category},
        )
    since, until = _day("since", one.get("since")), _day("until", one.get("until"))
    if since and until and since > until:
        raise InvalidFilter(
            f"since {since.isoformat()} is after until {until.isoformat()}",
            {"parameter": "since", "value": since.isoformat(), "until": until.isoformat()},
        )
    return CaseFilters(
        open_only=open_only,
        statuses=statuses,
        category=category,
        channels=_choices("channel", one.get("channel"), CHANNELS),
        since=since,
        until=until,
    )


def _refuse_unknown(layer: str, args: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> None:
    for name, values in args.items():
        if name not in allowed:
            raise UnknownParameter(
                f"the {layer} layer takes no parameter {name!r}"
                + (f"; it takes {', '.join(allowed)}" if allowed else ""),
                {"parameter": name, "valid": list(allowed)},
            )
        if len(values) > 1:
            raise InvalidFilter(
                f"{name} was given {len(values)} times; give it once"
                " (a comma list where it takes several)",
                {"parameter": name, "value": list(values)},
            )


def _flag(name: str, raw: str) -> bool:
    if raw in ("1", "true"):
        return True
    if raw in ("0", "false"):
        return False
    raise InvalidFilter(
        f"{name} was {raw!r} but must be 1 or 0",
        {"parameter": name, "value": raw, "valid": ["1", "0"]},
    )


def _choices(name: str, raw: str | None, valid: Sequence[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.split(",")
    for item in items:
        if item not in valid:
            raise InvalidFilter(
                f"{name} {item!r} is not one of {', '.join(valid)}",
                {"parameter": name, "value": item, "valid": list(valid)},
            )
    return tuple(sorted(set(items)))


def _day(name: str, raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidFilter(
            f"{name} was {raw!r} but must be a date, YYYY-MM-DD", {"parameter": name, "value": raw}
        ) from exc


# -- rendering ---------------------------------------------------------------------------------


@cache
def _sql(name: str) -> str:
    body = resources.files("tiles").joinpath(name).read_text(encoding="utf-8")
    # comment lines go: a word after a colon there ("EPSG:4326") would read as a bind parameter
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--"))


_SCOPE_SQL = {
    "town": "AND c.town_code = ANY(:scope_codes)",
    "villages": "AND left(coalesce(c.grid_code, c.admin_code), 12) = ANY(:scope_codes)",
    "grids": "AND c.grid_code = ANY(:scope_codes)",
    "department": "AND c.department_code = ANY(:scope_codes)",
    "none": "AND false",
}


def _case_where(filters: CaseFilters) -> tuple[str, dict]:
    parts: list[str] = []
    params: dict = {}
    if filters.open_only:
        parts.append(_OPEN_SQL)
    if filters.statuses:
        parts.append("AND c.status = ANY(:statuses)")
        params["statuses"] = list(filters.statuses)
    if filters.category:
        parts.append(
            "AND (c.category_code = :category OR starts_with(c.category_code, :category_prefix))"
        )
        params["category"] = filters.category
        params["category_prefix"] = filters.category + "."
    if filters.channels:
        parts.append("AND c.channel = ANY(:channels)")
        params["channels"] = list(filters.channels)
    if filters.since:
        parts.append("AND c.created_at >= :since_at")
        params["since_at"] = datetime.combine(filters.since, datetime.min.time(), LOCAL_TZ)
    if filters.until:
        parts.append("AND c.created_at < :until_at")
        params["until_at"] = datetime.combine(
            filters.until + timedelta(days=1), datetime.min.time(), LOCAL_TZ
        )
    if filters.scope is not None:
        kind, codes = filters.scope
        parts.append(_SCOPE_SQL[kind])
        params["scope_codes"] = list(codes)
    return "\n        ".join(parts), params


def points_min_zoom(filters: CaseFilters) -> int:
    """The zoom from which a cases tile carries one point per case (buckets below it)."""
    only_open = filters.open_only or (
        bool(filters.statuses) and not set(filters.statuses) & set(CLOSED_STATES)
    )
    return POINTS_MIN_ZOOM if only_open else HISTORY_POINTS_MIN_ZOOM


def statement(layer: str, z: int, x: int, y: int, filters: CaseFilters | None) -> tuple[str, dict]:
    """The SQL and bound values that render one tile of ``layer``."""
    params: dict = {"z": z, "x": x, "y": y}
    if layer == "cases":
        filters = filters or CaseFilters()
        where, extra = _case_where(filters)
        params.update(extra)
        if z >= points_min_zoom(filters):
            body = _sql("cases_points.sql")
        else:
            body = _sql("cases_buckets.sql")
            params["cells"] = BUCKETS_PER_SIDE
        return body.replace("{filters}", where).replace("{overdue}", _OVERDUE_SQL), params
    # half a screen pixel of a 256-pixel tile: finer detail cannot be seen at this zoom
    params["tolerance_m"] = WORLD_WIDTH_M / 2**z / 512
    return _sql(f"{check_layer(layer)}.sql"), params


def render(
    connection: Connection, layer: str, z: int, x: int, y: int, filters: CaseFilters | None
) -> bytes:
    """One tile of ``layer`` as MVT bytes (empty when nothing is in it)."""
    # One statement, on a Core connection in autocommit (web/tiles.py): one round trip, and none
    # of a Session's bookkeeping or text()'s compilation (py-spy --gil over tiles_bench.py's cold
    # pass, 2026-11-30: render was 29 % of the server's GIL time, the driver's execute 6 % of
    # it). The whole cold pass's CPU did not move measurably with it: PostgreSQL's ST_AsMVT
    # (about 8 µs a feature) and gunicorn and Flask around the view cost more. psycopg prepares
    # the statement after its fifth run on a connection. JIT and parallel workers are off for
    # every connection (db.session.SERVER_OPTIONS): a tile's query touches up to a few hundred
    # thousand rows, where both cost more than they save.
    sql, params = statement(layer, z, x, y, filters)
    data = connection.exec_driver_sql(driver_sql(sql), params).scalar_one()
    return bytes(data) if data else b""


def serve_tile(
    open_session: Callable[[], Session],
    connect: Callable[[], AbstractContextManager[Connection]],
    source: str,
    layer: str,
    z: str,
    x: str,
    y: str,
    args: Mapping[str, Sequence[str]],
    tile_cache: TileCache,
    scope: tuple[str, tuple[str, ...]] | None = None,
) -> ServedTile:
    """Check a tile request, then answer it from the cache or render it and store it.

    ``open_session`` is called only to check a category filter, ``connect`` (a Core connection
    in autocommit, as a context manager) only to render; ``source`` names the database
    in the cache key; ``args`` maps each query parameter to its values; ``scope`` limits the
    cases layer to the reader's cases (CaseFilters.scope; part of the cache key).
    """
    name = check_layer(layer)
    zi, xi, yi = tile_address(z, x, y)
    filters = layer_filters(name, args)
    if filters is not None and scope is not None:
        filters = replace(filters, scope=scope)
    category = filters.category if filters is not None else None
    if category is not None and category not in categories(open_session()):
        raise InvalidFilter(
            f"category {category!r} is not a category code in this database",
            {"parameter": "category", "value": category},
        )
    key = (source, name, zi, xi, yi, filters)
    hit = tile_cache.get(key)
    if hit is not None:
        return ServedTile(hit.data, hit.etag, True, hit)
    # the token before the query: each statement reads a fresh snapshot (READ COMMITTED), so a
    # change committed after it may be missing from the tile, and put() then refuses the tile
    token = tile_cache.token()
    with connect() as connection:
        tile = cached_tile(render(connection, name, zi, xi, yi, filters))
    tile_cache.put(key, tile, token)
    return ServedTile(tile.data, tile.etag, False, tile)
