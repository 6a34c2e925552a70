"""Regions of households: a piece of residential land split into contiguous, compact parts of
``low`` to ``high`` households each, following the streets (planning/proposals.py makes them
service grids). Pure: shapely, numpy and spopt; no database.

**The units** are street sides: the households of one street on one side of its line (odd or
even door numbers), told from each address's street (the standard address names it) and the
side of that street's line it lies on. Each unit's land is the union of its addresses' Voronoi
cells (every point of the land goes to the nearest address); the two sides of a street face each
other, so the edge between their cells runs along the street's centre line. A region therefore
never cuts a row of houses but where a crossing street's houses stand in it, and where it parts
the two sides of a street its edge is the street: regions follow the streets where there are
streets. An address off any street (none named, or more than STREET_REACH_M from it) joins the
others of its CELL_M square instead, and a unit holding more than a region may be left over is
cut along the street into runs. A unit whose land falls in pieces is a unit per piece.

**The regions** come from spopt's MaxPHeuristic (max-p-regions, Wei, Rey & Knaap 2020): the
largest number of contiguous regions each holding at least ``low``. Why max-p among spopt's
methods: the planner gives a size, not a number of grids. AZP, region k-means, Ward and SPENC
need the number of regions and know no minimum; SKATER takes a floor but cuts a spanning tree
greedily, which leaves long, thin regions. The attributes whose within-region spread max-p
minimises are the units' centroids in metres: the smaller the sum of distances between a
region's units, the more compact the region. Its random draws are seeded by the caller, so one
request always gives one answer.

**The upper bound**: max-p has none. A region over ``high`` that holds at least twice ``low``
is split by max-p on its own units; otherwise a unit on its edge moves to a neighbour with room
(both staying within bounds and in one piece); failing that it is merged with its smallest
neighbour and the two re-split by max-p. After REPAIR_ROUNDS of these without every region in
bounds, ProposalImpossible; so too up front when no whole number of regions fits the
households, or one address holds more than ``high``.

**Compactness**, last: a unit on the edge of a region moves to its neighbour when that raises
the two regions' Polsby–Popper sum and keeps both in bounds and in one piece, until no move
does (at most COMPACTING_PASSES passes).

**The polygons**: the land's outline and every Voronoi edge are noded together once and
polygonized into faces (geo/partition.py says why, rather than clipping cell by cell); each face
goes to its nearest address's unit and a region is the union of its units' faces. Neighbours
share the very same vertices, and the land's outline keeps its own. Land in separate pieces is
split piece by piece: a piece holding fewer than ``low`` households is refused, one holding none
goes to the nearest region (which is then in two parts).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.coverage import polygonal_part
from planning.drafts import M_PER_DEG
from planning.errors import ProposalImpossible

# an address nearer than this (metres) to its street's line stands on it (a compound's gate),
# on neither side; one farther than STREET_REACH_M is not on that street at all
ON_STREET_M = 2.0
STREET_REACH_M = 60.0
# the square (metres) gathering the addresses that are on no street into one unit
CELL_M = 100.0
# max-p's effort: random constructions tried, and annealing runs from each best one
MAXP_CONSTRUCTIONS = 99
MAXP_ANNEALINGS = 3
REPAIR_ROUNDS = 60
COMPACTING_PASSES = 10


def check_bounds(households: int, low: int, high: int, where: str) -> None:
    """ProposalImpossible unless some whole number of grids of ``low``..``high`` households
    can hold ``households``."""
    fewest, most = math.ceil(households / high), households // low
    if households < low or fewest > most:
        raise ProposalImpossible(
            f"{where} has {households} households: "
            + (f"fewer than min_households ({low})" if households < low else
               f"{fewest - 1} grids of at most {high} cannot hold them and {fewest} grids of at "
               f"least {low} need {fewest * low}")
            + "; widen the bounds", {"households": households, "min_households": low,
                                     "max_households": high})


# -- the local frame: metres east and north of the land's centre -------------------------------


class _Local:
    """lon/lat ↔ metres east and north of a point, by an affine map: straight edges stay
    straight both ways, which the Voronoi edges need (a village is a few km across: the
    scale is off by well under 0.1% at its edges, and only nearness is measured in it)."""

    def __init__(self, lon0: float, lat0: float):
        self.origin = np.array([lon0, lat0])
        self.scale = np.array([M_PER_DEG * math.cos(math.radians(lat0)), M_PER_DEG])

    def xy(self, lonlat: np.ndarray) -> np.ndarray:
        return (np.asarray(lonlat, dtype=float) - self.origin) * self.scale

    def to_xy(self, geom):
        return shapely.transform(geom, lambda c: (c - self.origin) * self.scale)

    def to_lonlat(self, geom):
        return shapely.transform(geom, lambda c: c / self.scale + self.origin)


# -- units, faces and regions ------------------------------------------------------------------


def regions(land, households: list[dict[str, Any]], streets, low: int, high: int,
            seed: int) -> list[dict[str, Any]]:
    """``land`` (a lon/lat (Multi)Polygon) split into regions of ``low`` to ``high``
    households: ``[{"geometry": (Multi)Polygon in lon/lat, "households": [ids]}]``.
    ``households`` are dicts with ``id``, ``street`` (a name or None), ``lon`` and ``lat``;
    ``streets`` are ``(name, LineString in lon/lat)``; ``seed`` seeds max-p's draws."""
    if not households:
        raise ProposalImpossible("the land holds no household", {})
    centre = land.centroid
    local = _Local(centre.x, centre.y)
    positions: dict[tuple[float, float], list[int]] = defaultdict(list)
    street_of: dict[tuple[float, float], str | None] = {}
    for h in households:
        key = (h["lon"], h["lat"])
        positions[key].append(h["id"])
        street_of.setdefault(key, h["street"])
    keys = list(positions)
    xy = local.xy(np.array(keys))
    counts = np.array([len(positions[k]) for k in keys])
    if counts.max() > high:
        at = keys[int(np.argmax(counts))]
        raise ProposalImpossible(
            f"one address ({at[0]:.6f}, {at[1]:.6f}) holds {counts.max()} households, more than "
            f"max_households ({high})", {"lon": at[0], "lat": at[1], "households":
                                         int(counts.max())})
    unit_of = _street_units(keys, xy, counts, street_of, streets, local,
                            cap=max(high - low, math.ceil(high / 4), 1))
    faces = _faces(land, xy, local)
    # each face to the unit of its nearest address; a unit's land in pieces is several units
    near = cKDTree(xy).query(local.xy(shapely.get_coordinates(
        shapely.point_on_surface(faces))))[1]
    by_unit: dict[int, list] = defaultdict(list)
    for face, pos in zip(faces, near):
        by_unit[int(unit_of[pos])].append(face)
    polys: list = []
    members: list[list[int]] = []
    for unit, unit_faces in by_unit.items():
        parts = list(polygonal_part(shapely.union_all(unit_faces)).geoms)
        found: list[list[int]] = [[] for _ in parts]
        for i in np.flatnonzero(unit_of == unit).tolist():
            point = shapely.Point(keys[i])
            found[min(range(len(parts)), key=lambda p: parts[p].distance(point))].append(i)
        polys += parts
        members += found
    # an address whose unit got no face (it cannot, but then its households would be lost):
    # to the nearest piece of land
    placed = {i for m in members for i in m}
    for i in sorted(set(range(len(keys))) - placed):
        point = shapely.Point(keys[i])
        members[min(range(len(polys)), key=lambda p: polys[p].distance(point))].append(i)
    hh = np.array([int(counts[m].sum()) if m else 0 for m in members])
    centroids = local.xy(shapely.get_coordinates(shapely.centroid(polys)))
    neighbours = _neighbours(polys)
    shapes_m = [local.to_xy(p) for p in polys]
    groups = _solve(neighbours, hh, centroids, low, high, seed, polys, shapes_m)
    out = []
    for group in groups:
        geom = polygonal_part(shapely.union_all([polys[u] for u in group]))
        ids = sorted(h for u in group for i in members[u] for h in positions[keys[i]])
        out.append({"geometry": geom.geoms[0] if len(geom.geoms) == 1 else geom,
                    "households": ids})
    return out


def _street_units(keys, xy, counts, street_of, streets, local: _Local, cap: int) -> np.ndarray:
    """The unit of each address: its street and side, or its CELL_M square; runs along the
    street of at most ``cap`` households (an address holding more is a run of its own)."""
    lines: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for n, (name, line) in enumerate(streets):
        lines[name].append((n, local.to_xy(line)))
    groups: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    for i, key in enumerate(keys):
        point = shapely.Point(xy[i])
        candidates = lines.get(street_of[key] or "", [])
        n, line = min(candidates, key=lambda c: c[1].distance(point)) if candidates else (-1, None)
        if line is not None and line.distance(point) <= STREET_REACH_M:
            along = line.project(point)
            a = line.interpolate(max(along - 1.0, 0.0))
            b = line.interpolate(min(along + 1.0, line.length))
            cross = (b.x - a.x) * (point.y - a.y) - (b.y - a.y) * (point.x - a.x)
            side = 0 if line.distance(point) < ON_STREET_M else int(np.sign(cross))
            groups[("street", n, side)].append((along, i))
        else:
            cell = (int(xy[i][0] // CELL_M), int(xy[i][1] // CELL_M))
            groups[("cell", *cell)].append((float(xy[i][0]), i))
    unit_of = np.empty(len(keys), dtype=int)
    unit = -1
    for group in groups.values():
        held = cap  # start a new run at the first address
        for _, i in sorted(group):
            if held + counts[i] > cap:
                unit, held = unit + 1, 0
            unit_of[i] = unit
            held += counts[i]
    return unit_of


def _faces(land, xy: np.ndarray, local: _Local) -> list:
    """The land cut by the Voronoi edges of the addresses, each face in lon/lat."""
    lines = [land.boundary]
    if len(xy) >= 2:
        extent = shapely.box(*local.to_xy(land).buffer(100.0).bounds)
        cells = shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=extent)
        edges = shapely.union_all(shapely.boundary(shapely.get_parts(cells)))
        # kept a little (1e-6°, ~0.1 m) past the outline, so that they meet it when noded
        lines.append(local.to_lonlat(edges).intersection(land.buffer(1e-6)))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(lines))))
    inside = shapely.covers(land, shapely.point_on_surface(faces))
    return list(faces[inside])


def _neighbours(polys: list) -> dict[int, list[int]]:
    """Units sharing an edge (not a corner): rook contiguity."""
    arr = np.array(polys, dtype=object)
    left, right = shapely.STRtree(arr).query(arr, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    edge = shapely.relate_pattern(arr[left], arr[right], "****1****")
    out: dict[int, list[int]] = {i: [] for i in range(len(polys))}
    for i, j in zip(left[edge].tolist(), right[edge].tolist()):
        out[i].append(j)
        out[j].append(i)
    return out


def _solve(neighbours, hh, xy, low: int, high: int, seed: int, polys,
           shapes_m) -> list[list[int]]:
    """Groups of units, each contiguous with ``low``..``high`` households, made compact;
    pieces of land without a household join the nearest group."""
    n = len(hh)
    pairs = [(i, j) for i, js in neighbours.items() for j in js]
    graph = coo_array((np.ones(len(pairs)), ([p[0] for p in pairs], [p[1] for p in pairs])),
                      shape=(n, n))
    count, component = connected_components(graph, directed=False)
    groups: list[list[int]] = []
    empty: list[list[int]] = []
    for c in range(count):
        units = np.flatnonzero(component == c).tolist()
        total = int(hh[units].sum())
        if total == 0:
            empty.append(units)
            continue
        where = polys[units[0]].representative_point()
        check_bounds(total, low, high, f"the piece of the village's residential land at "
                                        f"({where.x:.6f}, {where.y:.6f})")
        groups += _compact(_within_max(units, neighbours, hh, xy, low, high, seed + c),
                           neighbours, hh, shapes_m, low, high)
    if not groups:
        raise ProposalImpossible("the village's residential land holds no household", {})
    for units in empty:  # land apart with nobody on it: to the nearest grid, as a second part
        piece = shapely.union_all([polys[u] for u in units])
        nearest = min(range(len(groups)), key=lambda g: min(
            polys[u].distance(piece) for u in groups[g]))
        groups[nearest] = groups[nearest] + units
    return groups


def _maxp(units: list[int], neighbours, hh, xy, floor: int, seed: int) -> list[list[int]]:
    """max-p-regions of ``units`` (one connected piece holding at least ``floor``)."""
    if len(units) == 1 or hh[units].sum() < 2 * floor:
        return [list(units)]  # one region is all there can be
    # imported here: spopt brings matplotlib and more, seconds of import that every process
    # serving the API would otherwise pay at start for a route few call
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    _mend_spopt()

    index = {u: i for i, u in enumerate(units)}
    w = W({i: [index[v] for v in neighbours[u] if v in index] for i, u in enumerate(units)},
          silence_warnings=True)
    frame = pd.DataFrame({"households": hh[units], "x": xy[units, 0], "y": xy[units, 1]})
    model = MaxPHeuristic(frame, w, ["x", "y"], "households", floor, top_n=2,
                          max_iterations_construction=MAXP_CONSTRUCTIONS,
                          max_iterations_sa=MAXP_ANNEALINGS, policy="keep")
    # spopt draws from numpy's global generator: seed it for this call, then put it back
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        with warnings.catch_warnings():
            # spopt 0.7 drops a column with pandas' deprecated inplace=True (pandas 3.1
            # warns); nothing we can change from here, and harmless until pandas 4
            warnings.filterwarnings("ignore", message="The inplace keyword",
                                    category=DeprecationWarning)
            model.solve()
    finally:
        np.random.set_state(state)
    by_label: dict[int, list[int]] = defaultdict(list)
    for u, label in zip(units, model.labels_):
        by_label[int(label)].append(u)
    return list(by_label.values())


def _mend_spopt() -> None:
    """spopt 0.7's annealing loops forever when none of the units it may move borders another
    region (pysal/spopt#506, fixed after 0.7, in releases that need Python 3.12). Its search
    for units that may move is replaced by one with the fix's check (a candidate has a
    neighbour in another region), otherwise the same: removing it leaves its region above the
    threshold and in one piece — tested on Python sets, where 0.7 slices a scipy matrix per
    unit (30 ms a search, most of a proposal's time)."""
    from spopt.region import maxp

    if getattr(maxp._pick_move_area, "mended", False):
        return

    def movable(labels, region_lists, region_spatial_attrs, threshold_array, weight,
                distance_matrix, threshold):
        found = []
        for region, total in region_spatial_attrs.items():
            members = region_lists[region]
            for unit in members:
                if (total - threshold_array[unit] > threshold
                        and any(labels[n] != region for n in weight.neighbors[unit])
                        and _connected([m for m in members if m != unit], weight.neighbors)):
                    found.append(unit)
        return found

    movable.mended = True  # type: ignore[attr-defined]
    maxp._pick_move_area = movable


def _within_max(units, neighbours, hh, xy, low: int, high: int, seed: int) -> list[list[int]]:
    """max-p's regions of ``units``, then those over ``high`` split, trimmed or merged and
    re-split (the module's docstring) until every one is within bounds."""
    groups = _maxp(units, neighbours, hh, xy, low, seed)
    tried: set[frozenset[int]] = set()
    for round_ in range(1, REPAIR_ROUNDS + 1):
        totals = [int(hh[r].sum()) for r in groups]
        over = [r for r, t in enumerate(totals) if t > high]
        if not over:
            return groups
        r = max(over, key=lambda i: totals[i])
        if totals[r] >= 2 * low:
            parts = _maxp(groups[r], neighbours, hh, xy, low, seed + round_)
            if len(parts) > 1:
                groups[r:r + 1] = parts
                continue
        if _move_one(groups, r, totals, neighbours, hh, xy, low, high):
            continue
        label = {u: i for i, group in enumerate(groups) for u in group}
        beside = sorted({label[v] for u in groups[r] for v in neighbours[u]} - {r},
                        key=lambda i: totals[i])
        # a pair is known by its units: indexes move as groups are re-split
        pair = next((b for b in beside
                     if frozenset(groups[r] + groups[b]) not in tried), None)
        if pair is None:
            break
        tried.add(frozenset(groups[r] + groups[pair]))
        merged = _maxp(groups[r] + groups[pair], neighbours, hh, xy, low, seed + round_)
        groups = [g for i, g in enumerate(groups) if i not in (r, pair)] + merged
    raise ProposalImpossible(
        f"no split found with every grid between {low} and {high} households: widen the "
        "bounds", {"min_households": low, "max_households": high})


def _move_one(groups, r, totals, neighbours, hh, xy, low: int, high: int) -> bool:
    """Move one unit on the edge of region ``r`` to a neighbouring region with room, keeping
    both in bounds and ``r`` in one piece; the unit nearest its new region's centre."""
    label = {u: i for i, group in enumerate(groups) for u in group}
    centre = [xy[g].mean(axis=0) for g in groups]
    best = None
    for u in groups[r]:
        if hh[u] == 0 or totals[r] - hh[u] < low:
            continue
        for to in {label[v] for v in neighbours[u]} - {r}:
            if totals[to] + hh[u] > high:
                continue
            distance = float(np.hypot(*(xy[u] - centre[to])))
            if (best is None or distance < best[0]) and _connected(
                    [x for x in groups[r] if x != u], neighbours):
                best = (distance, u, to)
    if best is None:
        return False
    _, u, to = best
    groups[r] = [x for x in groups[r] if x != u]
    groups[to] = groups[to] + [u]
    return True


def _compact(groups, neighbours, hh, shapes_m, low: int, high: int) -> list[list[int]]:
    """Units on the edge of a group moved to a neighbouring group while that raises the two
    groups' Polsby–Popper sum, keeping both within bounds and in one piece (``shapes_m``: the
    units' land in metres)."""
    groups = [list(g) for g in groups]
    label = {u: i for i, g in enumerate(groups) for u in g}
    totals = [int(hh[g].sum()) for g in groups]
    outline = [shapely.union_all([shapes_m[u] for u in g]) for g in groups]
    score = [_polsby_popper(o) for o in outline]
    for _ in range(COMPACTING_PASSES):
        moved = False
        for u in sorted(label):
            r = label[u]
            if totals[r] - hh[u] < low:
                continue
            for to in sorted({label[v] for v in neighbours[u]} - {r}):
                rest = [x for x in groups[r] if x != u]
                if totals[to] + hh[u] > high or not _connected(rest, neighbours):
                    continue
                new_r = shapely.union_all([shapes_m[x] for x in rest])
                new_to = shapely.union(outline[to], shapes_m[u])
                gain = _polsby_popper(new_r) + _polsby_popper(new_to) - score[r] - score[to]
                if gain > 1e-6:
                    groups[r], groups[to] = rest, groups[to] + [u]
                    outline[r], outline[to] = new_r, new_to
                    score[r], score[to] = _polsby_popper(new_r), _polsby_popper(new_to)
                    totals[r] -= int(hh[u])
                    totals[to] += int(hh[u])
                    label[u] = to
                    moved = True
                    break
        if not moved:
            break
    return groups


def _polsby_popper(shape_m) -> float:
    return 4 * math.pi * shape_m.area / shape_m.length ** 2 if shape_m.length else 0.0


def _connected(units: list[int], neighbours) -> bool:
    if not units:
        return False
    inside, seen, stack = set(units), {units[0]}, [units[0]]
    while stack:
        for v in neighbours[stack.pop()]:
            if v in inside and v not in seen:
                seen.add(v)
                stack.append(v)
    return len(seen) == len(inside)
