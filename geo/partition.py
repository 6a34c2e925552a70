"""Partitioning a polygon into cells that tile it exactly: the geometry behind the demo town
and, later, behind planners' "split this grid" tool.

Why our own code: clipping Voronoi cells one by one with ``intersection`` computes each new
boundary vertex separately for the two cells that share it, so neighbours end up a few
nanometres apart (slivers, overlaps) and the result is not a perfect coverage. Instead we
node *all* cut lines of every level together once, polygonize the noded linework into faces,
and build every cell as the union of its faces: two neighbouring cells then share the very
same vertices, and a parent is exactly the union of its children.

All functions work in a projected CRS in metres (``xy_m``); callers transform.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry


def random_points_in(polygon: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniformly random points (x, y) inside ``polygon``, by rejection sampling."""
    if n <= 0:
        return np.empty((0, 2))
    minx, miny, maxx, maxy = polygon.bounds
    shapely.prepare(polygon)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        batch = max(64, 4 * (n - have))
        xy = np.column_stack([rng.uniform(minx, maxx, batch), rng.uniform(miny, maxy, batch)])
        inside = shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])
        out.append(xy[inside])
        have += int(inside.sum())
    return np.vstack(out)[:n]


def lloyd_points(
    polygon: BaseGeometry, n: int, rng: np.random.Generator, iterations: int = 8
) -> np.ndarray:
    """``n`` well-spread seed points in ``polygon``: random, then Lloyd-relaxed toward the
    centroids of their Voronoi cells, so the cells come out of balanced size."""
    xy = random_points_in(polygon, n, rng)
    if n < 2:
        return xy
    for _ in range(iterations):
        cells = voronoi_cells(xy, polygon)
        moved = []
        for i, cell in enumerate(cells):
            clipped = cell.intersection(polygon)
            c = clipped.centroid if not clipped.is_empty else Point(xy[i])
            if not polygon.contains(c):
                c = clipped.representative_point() if not clipped.is_empty else Point(xy[i])
            moved.append((c.x, c.y))
        xy = np.array(moved)
    return xy


def voronoi_cells(xy: np.ndarray, extent: BaseGeometry) -> list[Polygon]:
    """The Voronoi cell of each point, in the points' order, covering at least ``extent``."""
    points = shapely.multipoints(xy)
    envelope = shapely.box(*extent.buffer(1000.0).bounds)
    regions = shapely.voronoi_polygons(points, extend_to=envelope)
    cells: list[Polygon | None] = [None] * len(xy)
    tree = shapely.STRtree(shapely.points(xy))
    for region in regions.geoms:
        hits = tree.query(region, predicate="contains")
        if len(hits):
            cells[int(hits[0])] = region
    for i, cell in enumerate(cells):
        if cell is None:  # coincident points: give the duplicate an empty cell
            cells[i] = Polygon()
    return cells  # type: ignore[return-value]


def cut_lines(cells: Sequence[BaseGeometry], within: BaseGeometry, overshoot_m: float = 1.0):
    """The boundaries of ``cells`` inside ``within``, extended ``overshoot_m`` past its edge so
    that noding meets ``within``'s boundary exactly (a line ending short of it would dangle)."""
    region = within.buffer(overshoot_m)
    return [shapely.intersection(cell.boundary, region) for cell in cells if not cell.is_empty]


def faces(lines: Sequence[BaseGeometry], grid_size_m: float = 0.01) -> list[Polygon]:
    """The faces of the planar graph formed by ``lines``, after snapping every vertex to a
    ``grid_size_m`` grid and noding all lines together once."""
    merged = shapely.union_all([shapely.set_precision(g, grid_size_m) for g in lines if not g.is_empty])
    noded = shapely.node(merged)
    polys = shapely.polygonize(list(shapely.get_parts(noded)))
    return list(shapely.get_parts(polys))


def group_faces(
    face_list: Sequence[Polygon], label_of: Callable[[Point], object | None]
) -> dict[object, MultiPolygon]:
    """Union the faces by the label ``label_of`` gives each face's representative point;
    faces labelled None (outside everything) are dropped."""
    buckets: dict[object, list[Polygon]] = {}
    for face in face_list:
        label = label_of(face.representative_point())
        if label is not None:
            buckets.setdefault(label, []).append(face)
    out: dict[object, MultiPolygon] = {}
    for label, parts in buckets.items():
        merged = shapely.union_all(parts)
        polys = [p for p in shapely.get_parts(merged) if isinstance(p, Polygon) and not p.is_empty]
        out[label] = MultiPolygon(polys)
    return out


def nearest_index(xy: np.ndarray, point: Point) -> int:
    """Index of the row of ``xy`` nearest to ``point`` (the Voronoi cell it lies in)."""
    d = (xy[:, 0] - point.x) ** 2 + (xy[:, 1] - point.y) ** 2
    return int(np.argmin(d))
