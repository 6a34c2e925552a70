"""A point-in-grid index that routes many points at once: bulk routing, case imports, the
routing benchmark.

Semantics are exactly the point lookup's (boundaries/locate.py): a grid covers a point on its
boundary (ST_Covers); where several grids cover a point (a shared edge or vertex, or data
that overlaps) the one with the smallest code wins; the point is flagged ``on_boundary`` when
it lies on the boundary of the grid it was given.

How. A uniform raster over the grids' extent, labelled once when the index is built. A cell
whose closed box no grid boundary touches lies wholly in one grid's interior (the grid
``contains_properly`` the cell) or wholly outside every grid, and answers for every point that
falls in it with one array lookup. Only the points in cells a boundary crosses ("mixed" cells,
a few per cent of the extent) get the exact test: candidates from an STRtree, then GEOS's
prepared point-in-polygon (intersects = covers for a point) and a point-on-boundary test.

Labelling: the mixed cells are found by walking every ring in steps of half a cell and marking
the cells each step's (slightly enlarged) box touches, a superset of the cells the boundary
crosses; the others are filled by an even-odd scanline through the cell centres, one polygon
at a time, largest code first so the smallest code wins where data overlap.

Why our own code: GEOS and PostGIS have no bulk point-in-polygon as fast. PostGIS pays an
index probe and a polygon test per row; geopandas' ``sjoin`` (GEOS STRtree plus prepared
predicates, the peer in bench/route_bench.py) runs the exact test for every point. Here almost
every point costs one array lookup.

Pure: numpy and shapely only (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

DEFAULT_CELLS = 4_000_000  # raster size: 16 MB of int32, cells of ~6 m over a 10 km town
_MIXED = -2
_OUTSIDE = -1
_BLOCK = 4_000_000  # rows × edges evaluated at once by the scanline (memory bound)


@dataclass(frozen=True)
class RouteResult:
    """Per point: the index of the grid it was routed to (-1: none), whether it lies on that
    grid's boundary, and whether no grid covers it."""

    leaf_index: np.ndarray  # int64
    on_boundary: np.ndarray  # bool
    outside: np.ndarray  # bool


class PointIndex:
    """Routes lon/lat points to polygons (grids) with ST_Covers semantics and the
    smallest-code tie rule; see the module docstring."""

    def __init__(
        self,
        codes: Sequence[str],
        admin_codes: Sequence[str | None],
        polygons: Sequence[BaseGeometry],
        *,
        cells: int = DEFAULT_CELLS,
    ):
        if not (len(codes) == len(admin_codes) == len(polygons)):
            raise ValueError(
                f"`codes`, `admin_codes` and `polygons` have lengths {len(codes)}, "
                f"{len(admin_codes)} and {len(polygons)} but must be equal"
            )
        if cells < 1:
            raise ValueError(f"`cells` was {cells} but must be at least 1")
        self.codes = np.array(list(codes), dtype=object)
        self.admin_codes = np.array(list(admin_codes), dtype=object)
        self.polygons = np.array(list(polygons), dtype=object)
        kinds = {g.geom_type for g in self.polygons if g is not None}
        if kinds - {"Polygon", "MultiPolygon"} or any(g is None or g.is_empty for g in self.polygons):
            raise ValueError(f"`polygons` must be non-empty Polygons or MultiPolygons, got {sorted(kinds)}")
        # rank[i]: position of codes[i] in code order; the smallest rank wins a tie
        self._rank = np.empty(len(self.codes), dtype=np.int64)
        self._rank[np.argsort(self.codes.astype(str), kind="stable")] = np.arange(len(self.codes))
        self._boundaries = shapely.boundary(self.polygons) if len(self.polygons) else self.polygons
        shapely.prepare(self.polygons)
        shapely.prepare(self._boundaries)
        self._tree = shapely.STRtree(self.polygons)
        self._build_raster(cells)

    def __len__(self) -> int:
        return len(self.codes)

    # -- building -------------------------------------------------------------------------

    def _build_raster(self, cells: int) -> None:
        if len(self.polygons) == 0:
            self._x0 = self._y0 = 0.0
            self._cell = 1.0
            self._raster = np.full((1, 1), _OUTSIDE, dtype=np.int32)
            return
        minx, miny, maxx, maxy = shapely.total_bounds(self.polygons)
        width, height = maxx - minx, maxy - miny
        cell = float(np.sqrt(max(width * height, 1e-18) / cells)) or 1e-9
        cell = max(cell, width / 65_000, height / 65_000, 1e-9)  # bounded indices
        self._x0, self._y0, self._cell = float(minx), float(miny), cell
        ncols = int(width / cell) + 2
        nrows = int(height / cell) + 2
        raster = np.full((nrows, ncols), _OUTSIDE, dtype=np.int32)
        mixed = self._mixed_cells(nrows, ncols)
        for i in np.argsort(-self._rank):  # largest code first: the smallest is written last
            self._fill_interior(raster, int(i))
        raster[mixed] = _MIXED
        self._raster = raster

    def _rings(self, geom: BaseGeometry) -> list[np.ndarray]:
        rings = []
        for part in shapely.get_parts(geom):
            rings.append(shapely.get_coordinates(part.exterior))
            rings += [shapely.get_coordinates(r) for r in part.interiors]
        return rings

    def _edges(self, geom: BaseGeometry) -> np.ndarray:
        """Every ring segment of `geom` as rows x0, y0, x1, y1."""
        out = [np.column_stack([r[:-1], r[1:]]) for r in self._rings(geom) if len(r) > 1]
        return np.vstack(out) if out else np.empty((0, 4))

    def _mixed_cells(self, nrows: int, ncols: int) -> np.ndarray:
        """A boolean raster: True where some boundary may touch the cell's closed box."""
        mixed = np.zeros((nrows, ncols), dtype=bool)
        edges = np.vstack([self._edges(g) for g in self.polygons])
        x0, y0, x1, y1 = edges.T
        length = np.hypot(x1 - x0, y1 - y0)
        steps = np.maximum(1, np.ceil(length / (self._cell / 2))).astype(np.int64)
        seg = np.repeat(np.arange(len(edges)), steps)
        first = np.repeat(np.cumsum(steps) - steps, steps)
        k = np.arange(len(seg)) - first
        t0 = k / steps[seg]
        t1 = (k + 1) / steps[seg]
        ax, bx = x0[seg] + t0 * (x1 - x0)[seg], x0[seg] + t1 * (x1 - x0)[seg]
        ay, by = y0[seg] + t0 * (y1 - y0)[seg], y0[seg] + t1 * (y1 - y0)[seg]
        # enlarged by far more than the rounding of any coordinate here, so a cell left
        # unmarked is at a positive distance from every boundary, whatever the rounding
        eps = self._cell * 1e-6
        cols = [self._col(np.minimum(ax, bx) - eps), self._col(np.maximum(ax, bx) + eps)]
        rows = [self._row(np.minimum(ay, by) - eps), self._row(np.maximum(ay, by) + eps)]
        for c in cols:
            for r in rows:  # a step spans at most two cells each way
                mixed[np.clip(r, 0, nrows - 1), np.clip(c, 0, ncols - 1)] = True
        return mixed

    def _col(self, x: np.ndarray) -> np.ndarray:
        return np.floor((x - self._x0) / self._cell).astype(np.int64)

    def _row(self, y: np.ndarray) -> np.ndarray:
        return np.floor((y - self._y0) / self._cell).astype(np.int64)

    def _fill_interior(self, raster: np.ndarray, i: int) -> None:
        """Label with `i` the cells whose centre polygon `i` contains (even-odd scanline)."""
        edges = self._edges(self.polygons[i])
        edges = edges[edges[:, 1] != edges[:, 3]]  # horizontal edges cross no scanline
        minx, miny, maxx, maxy = self.polygons[i].bounds
        r0 = max(int(self._row(np.array(miny))), 0)
        r1 = min(int(self._row(np.array(maxy))), raster.shape[0] - 1)
        c0 = max(int(self._col(np.array(minx))), 0)
        c1 = min(int(self._col(np.array(maxx))), raster.shape[1] - 1)
        ex0, ey0, ex1, ey1 = (a[None, :] for a in edges.T)
        block = max(1, _BLOCK // max(len(edges), 1))
        for start in range(r0, r1 + 1, block):
            rows = np.arange(start, min(start + block, r1 + 1))
            yc = (self._y0 + (rows + 0.5) * self._cell)[:, None]
            crosses = (ey0 <= yc) != (ey1 <= yc)
            with np.errstate(divide="ignore", invalid="ignore"):
                xs = np.where(crosses, ex0 + (yc - ey0) * (ex1 - ex0) / (ey1 - ey0), np.inf)
            xs.sort(axis=1)
            n_cross = crosses.sum(axis=1)
            width = c1 - c0 + 1
            diff = np.zeros((len(rows), width + 1), dtype=np.int32)
            for j in range(0, int(n_cross.max(initial=0)), 2):
                has = n_cross > j + 1
                xa, xb = xs[has, j], xs[has, j + 1]
                ca = np.ceil((xa - self._x0) / self._cell - 0.5).astype(np.int64) - c0
                cb = np.floor((xb - self._x0) / self._cell - 0.5).astype(np.int64) - c0
                ca, cb = np.clip(ca, 0, width), np.clip(cb + 1, 0, width)
                ok = cb > ca
                where = np.flatnonzero(has)[ok]
                np.add.at(diff, (where, ca[ok]), 1)
                np.add.at(diff, (where, cb[ok]), -1)
            inside = np.cumsum(diff[:, :width], axis=1) > 0
            window = raster[rows[0] : rows[-1] + 1, c0 : c1 + 1]
            window[inside] = i

    # -- routing --------------------------------------------------------------------------

    def route(self, lon: np.ndarray, lat: np.ndarray) -> RouteResult:
        """Route WGS 84 lon/lat points (arrays of equal length; NaN counts as outside)."""
        lon = np.asarray(lon, dtype=float).ravel()
        lat = np.asarray(lat, dtype=float).ravel()
        if lon.shape != lat.shape:
            raise ValueError(f"`lon` has {lon.size} values but `lat` has {lat.size}")
        n = lon.size
        leaf = np.full(n, -1, dtype=np.int64)
        on_boundary = np.zeros(n, dtype=bool)
        nrows, ncols = self._raster.shape
        with np.errstate(invalid="ignore"):
            fx = (lon - self._x0) / self._cell
            fy = (lat - self._y0) / self._cell
            inside = (fx >= 0) & (fx < ncols) & (fy >= 0) & (fy < nrows)  # False for NaN
        idx = np.flatnonzero(inside)
        label = self._raster[fy[idx].astype(np.intp), fx[idx].astype(np.intp)].astype(np.int64)
        sure = label >= 0
        leaf[idx[sure]] = label[sure]
        mixed = idx[label == _MIXED]
        if mixed.size:
            self._route_exactly(lon, lat, mixed, leaf, on_boundary)
        return RouteResult(leaf_index=leaf, on_boundary=on_boundary, outside=leaf < 0)

    def _route_exactly(self, lon, lat, which, leaf, on_boundary) -> None:
        """The exact test for the points `which` (in mixed cells); writes `leaf`, `on_boundary`."""
        x, y = lon[which], lat[which]
        pts = shapely.points(x, y)
        pi, gi = self._tree.query(pts)  # bounding boxes only
        covered = shapely.intersects_xy(self.polygons[gi], x[pi], y[pi])  # prepared: fast
        pi, gi = pi[covered], gi[covered]
        order = np.lexsort((self._rank[gi], pi))
        pi, gi = pi[order], gi[order]
        first = np.ones(len(pi), dtype=bool)
        first[1:] = pi[1:] != pi[:-1]
        pi, gi = pi[first], gi[first]
        leaf[which[pi]] = gi
        on_boundary[which[pi]] = shapely.intersects_xy(self._boundaries[gi], x[pi], y[pi])

    def codes_of(self, result: RouteResult) -> np.ndarray:
        """The routed grid code of each point (None outside), as an object array."""
        return _with_none(self.codes)[result.leaf_index]

    def admin_codes_of(self, result: RouteResult) -> np.ndarray:
        """The admin grid code of each point's grid (None outside), as an object array."""
        return _with_none(self.admin_codes)[result.leaf_index]

    @property
    def mixed_fraction(self) -> float:
        """The share of raster cells that need the exact test (for the benchmark's report)."""
        return float((self._raster == _MIXED).mean())


def _with_none(values: np.ndarray) -> np.ndarray:
    """`values` with a None after the last, so index -1 (outside) reads None."""
    out = np.empty(len(values) + 1, dtype=object)
    out[:-1] = values
    out[-1] = None
    return out
