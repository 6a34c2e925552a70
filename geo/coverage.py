"""Coverage checks for a grid hierarchy: gaps, overlaps, and children outside their parent.

"Seamless joining" (DOMAIN.md): leaf grids tile their village and villages tile the town,
with no gap and no overlap. These functions measure how a set of polygons falls short of that.
Every geometry is shapely, in WGS 84 lon/lat (EPSG:4326), its edges straight in lon/lat as
GEOS and PostGIS take them; every area is in square metres on the WGS 84 ellipsoid (pyproj.Geod
over edges densified to ~10 m), so no projection has to be chosen for the town.

Pure functions only: no Flask, SQLAlchemy or psycopg here (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod
from shapely import GeometryCollection, MultiPolygon, Polygon, STRtree
from shapely.geometry.base import BaseGeometry

GEOD = Geod(ellps="WGS84")

# What is too small to be a finding. Two kinds of noise come out of an overlay of polygons
# that are meant to join seamlessly:
# - floating point: edges built from the same vertices still differ by ~1e-9 m² after a GEOS
#   overlay of double lon/lat (one unit in the last place is ~1e-14°, about a nanometre);
# - straight edges drawn in a projected CRS are curves in lon/lat: where a vertex of one grid
#   sits in the middle of its neighbour's edge (a T-junction) and only the vertices were
#   reprojected, the two part by up to L² tan(lat) / 8R: 6 cm on a 2 km edge, 22 cm on a
#   4 km one, a sliver that thin but as long as the edge, easily 100 m². (Our importer
#   densifies before reprojecting, so its own imports do not do this; other loaders may.)
# So a piece counts only when it is at least MIN_AREA_M2 (a 10 cm square) *and* on average at
# least MIN_WIDTH_M thick (2 * area / perimeter, the mean width of a thin strip). Village
# boundaries are surveyed to metres, not decimetres, and a point routed into a strip a hand
# wide is a rounding matter, not a coverage gap; a 100 m x 100 m gap is 50 m "wide".
MIN_AREA_M2 = 0.01
MIN_WIDTH_M = 0.25
# Longest edge (degrees, ~10 m) when measuring areas; see `_area_perimeter_m`.
SEGMENT_DEG = 1e-4
# An upper bound of the m² in one square degree (111.3 km x 110.6 km at the equator, less
# elsewhere), to drop float-noise pieces before measuring them properly.
MAX_M2_PER_DEG2 = 1.25e10


@dataclass(frozen=True)
class Piece:
    """A piece of area a coverage check found: where it is and how large."""

    geometry: Polygon | MultiPolygon  # EPSG:4326
    area_m2: float
    lonlat: tuple[float, float]  # a point inside the piece (on its largest part), rounded to 1e-6°


@dataclass(frozen=True)
class Overlap(Piece):
    """The area shared by children `i` and `j` (indexes into the sequence given, i < j)."""

    i: int = -1
    j: int = -1


def area_m2(geometry: BaseGeometry | None) -> float:
    """The area of a lon/lat geometry on the WGS 84 ellipsoid, in m² (0 when empty)."""
    return _area_perimeter_m(geometry)[0]


def _area_perimeter_m(geometry: BaseGeometry | None) -> tuple[float, float]:
    """Area (m²) and perimeter (m) of the polygons in `geometry`, edges straight in lon/lat."""
    if geometry is None or geometry.is_empty:
        return 0.0, 0.0
    # pyproj takes each edge as a geodesic, but GEOS and PostGIS (and so routing) take it as
    # straight in lon/lat. Over a 4 km east-west edge at 35.6°N the two part by 0.2 m, which
    # makes the area of a thin piece (a gap along an edge) meaningless; edges cut to
    # SEGMENT_DEG first agree to micrometres.
    dense = shapely.segmentize(polygonal_part(geometry), SEGMENT_DEG)
    # pyproj sums signed ring areas: orient every exterior the same way first, or the parts
    # of a MultiPolygon drawn in opposite directions cancel out.
    area, perimeter = GEOD.geometry_area_perimeter(shapely.orient_polygons(dense))
    return abs(area), perimeter


def polygonal_part(geometry: BaseGeometry | None) -> MultiPolygon:
    """The polygons in `geometry` as one MultiPolygon; points and lines are dropped."""
    if geometry is None or geometry.is_empty:
        return MultiPolygon()
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    if isinstance(geometry, MultiPolygon):
        return geometry
    if not isinstance(geometry, GeometryCollection):  # a point or a line
        return MultiPolygon()
    polys: list[Polygon] = []
    for part in geometry.geoms:
        polys.extend(polygonal_part(part).geoms)
    return MultiPolygon(polys)


def repaired_polygon(geometry: BaseGeometry | None) -> tuple[MultiPolygon, str | None]:
    """`geometry` as a valid 2-D MultiPolygon, and why it needed repair (None when it did not).

    Invalid rings go through shapely.make_valid with the "structure" method (overlapping parts
    of a MultiPolygon are unioned, not cut out as the default "linework" method does) and only
    the polygonal parts are kept, so a bow-tie becomes its two triangles and a collapsed ring
    disappears; the reason is
    shapely's explain_validity ("Self-intersection[x y]"). The result is empty when nothing
    polygonal is left: the caller refuses such a feature.
    """
    if geometry is None or geometry.is_empty:
        return MultiPolygon(), None
    flat = shapely.force_2d(geometry)
    reason = None
    if not flat.is_valid:
        reason = shapely.is_valid_reason(flat)
        flat = shapely.make_valid(flat, method="structure", keep_collapsed=False)
    result = polygonal_part(flat)
    if reason is None and not isinstance(geometry, Polygon | MultiPolygon) and not result.is_empty:
        reason = f"non-polygonal parts of a {geometry.geom_type} dropped"
    if not result.is_valid:  # parts of a collection may overlap: dissolve them
        result = polygonal_part(shapely.union_all(list(result.geoms)))
    return result, reason


def representative_lonlat(geometry: BaseGeometry) -> tuple[float, float]:
    """A (lon, lat) inside the largest polygon of `geometry`, rounded to 1e-6° (~0.1 m)."""
    parts = list(polygonal_part(geometry).geoms)
    target = max(parts, key=lambda p: p.area) if parts else geometry
    point = target.point_on_surface()
    return (round(point.x, 6), round(point.y, 6))


def pieces(
    geometry: BaseGeometry | None,
    min_area_m2: float = MIN_AREA_M2,
    min_width_m: float = MIN_WIDTH_M,
) -> list[Piece]:
    """The connected polygons of `geometry` that are not noise (see MIN_WIDTH_M), largest first."""
    found = [
        Piece(poly, a, representative_lonlat(poly))
        for poly, a in _significant(geometry, min_area_m2, min_width_m)
    ]
    return sorted(found, key=lambda p: -p.area_m2)


def coverage_gaps(
    parent: BaseGeometry,
    children: Sequence[BaseGeometry],
    min_area_m2: float = MIN_AREA_M2,
    min_width_m: float = MIN_WIDTH_M,
) -> list[Piece]:
    """The parts of `parent` no child covers, one Piece per connected gap, largest first.

    With no children the whole parent is one gap. Pieces under `min_area_m2` or thinner on
    average than `min_width_m` are noise and left out (see MIN_WIDTH_M).
    """
    covered = shapely.union_all([c for c in children if c is not None and not c.is_empty])
    return pieces(parent.difference(covered), min_area_m2, min_width_m)


def coverage_overlaps(
    children: Sequence[BaseGeometry],
    min_area_m2: float = MIN_AREA_M2,
    min_width_m: float = MIN_WIDTH_M,
) -> list[Overlap]:
    """Every pair of children whose interiors share real area, one Overlap per pair.

    Candidate pairs come from an STRtree, so this is about n log n for children that mostly
    only touch their neighbours; children that merely share an edge are not overlaps, nor are
    pieces under `min_area_m2` or thinner than `min_width_m` (see MIN_WIDTH_M).
    """
    geoms = np.asarray([c if c is not None else Polygon() for c in children], dtype=object)
    if len(geoms) < 2:
        return []
    tree = STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    # Interiors meet in two dimensions ("2********"): sharing an edge or a corner is not enough.
    inner = shapely.relate_pattern(geoms[left], geoms[right], "2********")
    found = []
    for i, j in zip(left[inner].tolist(), right[inner].tolist(), strict=True):
        piece = _joined(shapely.intersection(geoms[i], geoms[j]), min_area_m2, min_width_m)
        if piece is not None:
            found.append(Overlap(piece.geometry, piece.area_m2, piece.lonlat, i=i, j=j))
    return found


def outside_parent(
    parent: BaseGeometry,
    child: BaseGeometry,
    min_area_m2: float = MIN_AREA_M2,
    min_width_m: float = MIN_WIDTH_M,
) -> Piece | None:
    """The part of `child` outside `parent` as one Piece, or None when it is only noise."""
    return _joined(child.difference(parent), min_area_m2, min_width_m)


def _joined(geometry: BaseGeometry, min_area_m2: float, min_width_m: float) -> Piece | None:
    """The significant parts of `geometry` as one Piece (areas summed), or None."""
    parts = _significant(geometry, min_area_m2, min_width_m)
    if not parts:
        return None
    joined = MultiPolygon([p for p, _ in parts])
    return Piece(joined, sum(a for _, a in parts), representative_lonlat(joined))


def _significant(
    geometry: BaseGeometry | None, min_area_m2: float, min_width_m: float
) -> list[tuple[Polygon, float]]:
    """The connected polygons of `geometry` that pass both noise filters, with their m²."""
    kept = []
    for poly in polygonal_part(geometry).geoms:
        if poly.area * MAX_M2_PER_DEG2 < min_area_m2:  # surely too small: skip the geodesy
            continue
        area, perimeter = _area_perimeter_m(poly)
        if area >= min_area_m2 and perimeter > 0 and 2 * area / perimeter >= min_width_m:
            kept.append((poly, area))
    return kept
