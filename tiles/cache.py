"""An in-process cache of rendered tiles: LRU, bounded by bytes, invalidated by area.

Keys are ``(source, layer, z, x, y, filters)``: ``source`` names the database (so two apps in
one process never share tiles), ``filters`` is the layer's normalised filter tuple.

Invalidation drops every cached tile a change may have altered:

- ``invalidate_point(lon, lat)`` — a case was created or changed there: every cached ``cases``
  tile, at every zoom and in every filter variant, whose envelope contains the point (edges
  included: a point on an edge is in both tiles, as PostGIS ``&&`` says). A case that moved
  needs a call for its old position too.
- ``invalidate_bbox(minlon, minlat, maxlon, maxlat, layers)`` — a boundary edit: every cached
  tile of those layers whose envelope, widened by the tile buffer, meets the box. Pass the
  box of the old and the new geometry of each changed grid or zone: simplification is per
  feature, so a feature's tiles change anywhere along it.

Each app has its own cache (``app_cache()``, sized by the app's configuration); the
live-update listener in every process calls ``invalidate_point``, which reaches every app's
cache in the process, for changes made by any process. All methods are thread-safe.

A render that overlaps an invalidation must not be stored, or a tile read before a change
committed would outlive the change. ``token()`` taken before the query, then ``put(...,
token)``: the tile is stored only if no invalidation since the token touched it.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable, Mapping

import mercantile

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# ST_AsMVTGeom's buffer (64 of 4096 units): polygon tiles carry geometry that far outside
MVT_BUFFER_FRACTION = 64 / 4096
# per-entry bookkeeping (key tuple, dict slots, etag) counted against the byte bound
ENTRY_OVERHEAD_BYTES = 256
# how many recent invalidations put() can check a render against; older renders are not stored
LOG_LENGTH = 10_000
# slack on tile edges in degrees: PostGIS and mercantile round differently in the last bits
EDGE_EPS_DEG = 1e-9
MAX_ZOOM = 22
MERCATOR_MAX_LAT = 85.0511287798066

TileKey = tuple[str, str, int, int, int, Hashable]


class CachedTile:
    """A rendered tile, its strong ETag (a hash of the bytes, so every process agrees), and
    its gzip'ed bytes, made when a client first asks for them (:meth:`gzipped`).

    Compressing at render time cost a fifth of a cold tile's time on the server (py-spy over
    tiles_bench.py, 2026-11-30) for every client, also those that never ask for gzip; made on
    first demand, a tile is still compressed once and then served compressed from the cache.
    """

    __slots__ = ("data", "etag", "_gzipped")

    def __init__(self, data: bytes, etag: str):
        self.data = data
        self.etag = etag
        self._gzipped: bytes | None = None if data else b""

    def gzipped(self) -> bytes:
        """The bytes gzip'ed (level GZIP_LEVEL, mtime 0: the same bytes in every process, as the
        ETag promises), compressed once. Two threads asking at once both compress and keep
        equal bytes: harmless, and no lock on the serving path."""
        found = self._gzipped
        if found is None:
            found = self._gzipped = gzip.compress(self.data, GZIP_LEVEL, mtime=0)
        return found

    @property
    def nbytes(self) -> int:
        """What the cache counts for the tile: its bytes, and room for its gzip'ed form (MVT
        compresses to a third to a half), whether made yet or not, so the count never moves."""
        return len(self.data) + len(self.data) // 2


# gzip level 6, the usual trade for MVT: a tile is compressed once, on first demand, and
# served compressed from the cache to every browser after that
GZIP_LEVEL = 6


def cached_tile(data: bytes) -> CachedTile:
    """Wrap rendered tile bytes with their ETag."""
    return CachedTile(data, hashlib.blake2b(data, digest_size=12).hexdigest())


def _tile_box(z: int, x: int, y: int, margin: float) -> tuple[float, float, float, float]:
    b = mercantile.bounds(x, y, z)
    dx = (b.east - b.west) * margin + EDGE_EPS_DEG
    dy = (b.north - b.south) * margin + EDGE_EPS_DEG
    return b.west - dx, b.south - dy, b.east + dx, b.north + dy


def _meets(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


class TileCache:
    """LRU of rendered tiles bounded by ``max_bytes`` (0 disables caching)."""

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, margins: Mapping[str, float] | None = None
    ):
        self._lock = threading.Lock()
        self._max_bytes = max_bytes
        # how far beyond its envelope a layer's tile carries geometry, as a fraction of the tile
        self._margins = dict(margins or {})
        self._entries: OrderedDict[TileKey, CachedTile] = OrderedDict()
        self._by_tile: dict[tuple[str, int, int, int], set[TileKey]] = {}
        self._bytes = 0
        self._hits = self._misses = self._evictions = self._invalidated = 0
        self._seq = 0
        self._log: deque[tuple[int, frozenset[str], tuple[float, float, float, float]]] = deque(
            maxlen=LOG_LENGTH
        )

    def _margin(self, layer: str) -> float:
        return self._margins.get(layer, MVT_BUFFER_FRACTION)

    # -- lookups and stores ------------------------------------------------------------------

    def get(self, key: TileKey) -> CachedTile | None:
        """The cached tile for ``key`` (counted as a hit), or None (a miss)."""
        with self._lock:
            tile = self._entries.get(key)
            if tile is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return tile

    def token(self) -> int:
        """The invalidation sequence number now; take it before rendering, give it to put()."""
        with self._lock:
            return self._seq

    def put(self, key: TileKey, tile: CachedTile, token: int) -> bool:
        """Store a tile rendered after ``token()``; False when an invalidation since then touched
        it, or it is larger than the whole cache."""
        size = tile.nbytes + ENTRY_OVERHEAD_BYTES
        with self._lock:
            if size > self._max_bytes or self._touched_since(key, token):
                return False
            if key in self._entries:
                self._drop(key)
            self._entries[key] = tile
            self._by_tile.setdefault(key[1:5], set()).add(key)
            self._bytes += size
            while self._bytes > self._max_bytes:
                self._drop(next(iter(self._entries)))
                self._evictions += 1
            return True

    def _touched_since(self, key: TileKey, token: int) -> bool:
        if token == self._seq:
            return False
        if not self._log or token < self._log[0][0] - 1:
            return True  # the invalidations since the token are no longer all in the log
        _, layer, z, x, y, _ = key
        box = _tile_box(z, x, y, self._margin(layer))
        for seq, layers, area in reversed(self._log):
            if seq <= token:
                break
            if layer in layers and _meets(box, area):
                return True
        return False

    def _drop(self, key: TileKey) -> None:
        tile = self._entries.pop(key)
        self._bytes -= tile.nbytes + ENTRY_OVERHEAD_BYTES
        siblings = self._by_tile[key[1:5]]
        siblings.discard(key)
        if not siblings:
            del self._by_tile[key[1:5]]

    # -- invalidation ------------------------------------------------------------------------

    def invalidate_point(self, lon: float, lat: float, layers: Iterable[str] = ("cases",)) -> int:
        """Drop the cached tiles of ``layers`` (all zooms, all filters) whose envelope contains
        the point (WGS 84 degrees); returns how many were dropped."""
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise ValueError(f"({lon}, {lat}) is not a WGS 84 longitude and latitude")
        layers = frozenset(layers)
        area = (lon, lat, lon, lat)
        with self._lock:
            self._seq += 1
            self._log.append((self._seq, layers, area))
            dropped = 0
            if not self._by_tile:  # nothing cached: nothing to drop (the log above is kept)
                return 0
            # beyond Web Mercator's latitude limit no tile contains the point
            lat = max(-MERCATOR_MAX_LAT, min(MERCATOR_MAX_LAT, lat))
            # the point's tile at the deepest zoom, once; at zoom z it is that tile's ancestor
            # (a shift: the same floor of the same fraction), where mercantile per zoom cost
            # 300 µs an event
            deepest = mercantile.tile(lon, lat, MAX_ZOOM, truncate=True)
            for z in range(MAX_ZOOM + 1):
                cx, cy = deepest.x >> (MAX_ZOOM - z), deepest.y >> (MAX_ZOOM - z)
                # the point's own tile and, if it lies on an edge, the neighbours sharing it
                for x in (cx - 1, cx, cx + 1):
                    for y in (cy - 1, cy, cy + 1):
                        if not (0 <= x < 2**z and 0 <= y < 2**z):
                            continue
                        for layer in layers:
                            keys = self._by_tile.get((layer, z, x, y))
                            if keys and _meets(_tile_box(z, x, y, self._margin(layer)), area):
                                for key in list(keys):
                                    self._drop(key)
                                    dropped += 1
            self._invalidated += dropped
            return dropped

    def invalidate_bbox(
        self, minlon: float, minlat: float, maxlon: float, maxlat: float, layers: Iterable[str]
    ) -> int:
        """Drop the cached tiles of ``layers`` whose envelope (widened by the tile buffer) meets
        the box in WGS 84 degrees; returns how many were dropped."""
        if minlon > maxlon or minlat > maxlat:
            raise ValueError(f"bbox ({minlon}, {minlat}, {maxlon}, {maxlat}) has min > max")
        layers = frozenset(layers)
        area = (minlon, minlat, maxlon, maxlat)
        with self._lock:
            self._seq += 1
            self._log.append((self._seq, layers, area))
            hit = [
                tile
                for tile in self._by_tile
                if tile[0] in layers and _meets(_tile_box(*tile[1:], self._margin(tile[0])), area)
            ]
            dropped = 0
            for tile in hit:
                for key in list(self._by_tile[tile]):
                    self._drop(key)
                    dropped += 1
            self._invalidated += dropped
            return dropped

    # -- housekeeping ------------------------------------------------------------------------

    def resize(self, max_bytes: int) -> None:
        """Change the byte bound, evicting least recently used tiles to fit."""
        if max_bytes < 0:
            raise ValueError(f"max_bytes was {max_bytes} but must be >= 0")
        with self._lock:
            self._max_bytes = max_bytes
            while self._bytes > self._max_bytes:
                self._drop(next(iter(self._entries)))
                self._evictions += 1

    def clear(self) -> None:
        """Forget every tile and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._by_tile.clear()
            self._bytes = 0
            self._hits = self._misses = self._evictions = self._invalidated = 0

    def stats(self) -> dict[str, int]:
        """Counters: hits, misses, bytes, entries, evictions, invalidated, max_bytes."""
        with self._lock:
            return {
                "hits": self._hits,
                "misses": self._misses,
                "bytes": self._bytes,
                "entries": len(self._entries),
                "evictions": self._evictions,
                "invalidated": self._invalidated,
                "max_bytes": self._max_bytes,
            }


# Every cache made with app_cache(), so that an invalidation reaches them all. Weak: the cache
# of an app that is gone is forgotten with it.
_APP_CACHES: weakref.WeakSet[TileCache] = weakref.WeakSet()
_APP_CACHES_LOCK = threading.Lock()


def app_cache(max_bytes: int = DEFAULT_MAX_BYTES) -> TileCache:
    """A new cache for one app (web/tiles.py keeps it on the app), reached by
    ``invalidate_point`` and ``invalidate_bbox``. Case points are selected with the exact
    envelope (no buffer), so a case touches only the tiles that contain it."""
    cache = TileCache(max_bytes, margins={"cases": 0.0})
    with _APP_CACHES_LOCK:
        _APP_CACHES.add(cache)
    return cache


def _app_caches() -> list[TileCache]:
    with _APP_CACHES_LOCK:
        return list(_APP_CACHES)


def invalidate_point(lon: float, lat: float) -> int:
    """Drop the cached ``cases`` tiles containing (lon, lat) from every app's cache in this
    process; called for every case created or changed (by the live-update listener)."""
    return sum(c.invalidate_point(lon, lat) for c in _app_caches())


def invalidate_bbox(
    minlon: float,
    minlat: float,
    maxlon: float,
    maxlat: float,
    layers: Iterable[str] = ("grids", "zones"),
) -> int:
    """Drop the cached tiles of ``layers`` meeting the box from every app's cache in this
    process; for boundary edits."""
    return sum(c.invalidate_bbox(minlon, minlat, maxlon, maxlat, layers) for c in _app_caches())
