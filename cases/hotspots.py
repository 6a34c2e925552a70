"""Hot spots of cases (the map's layer and ``GET /api/v1/hotspots``) and of any point file
(``gridgov hotspots``). The statistics are geo/hotspots.py's; this module feeds it.

Cells in metres. For cases, the database bins the points itself, from the stored ``lon``/
``lat`` columns, in a local equirectangular frame centred on the town (x = Δlon · 111,320 m ·
cos lat₀, y = Δlat · 110,574 m): over a town of 15 km its scale error is far below 0.1 %,
and binning a million cases this way needs no per-row reprojection. Files in any CRS are
projected with pyproj to an azimuthal equidistant frame centred on their points.

Grids. The cells are by position, so they are the same whatever the grids were when the cases
came. On request (``aggregate``) the answer also says how the cases counted fall into grids,
and how many of each grid's lie in hot and in cold cells: ``routed``, by the grid each case was
routed to; ``current``, by today's grid holding its point (cases/stats.py, "History across
boundary changes"). Without it the binning is the statement it was before (positions and
filters only, all held by the covering index of migration 0008): the tally costs nothing
unless asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from cases.errors import HotspotError, TooManyCells
from cases.stats import check_aggregate, with_current_grid
from db.statements import named_statements
from geo.hotspots import DEFAULT_PERMUTATIONS, HotspotGrid, classify, gi_star, hotspots

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0
MIN_CELL_M, MAX_CELL_M = 25.0, 5_000.0


# The work of a request, bounded before it is done: the cells over the town's bounding box
# times the permutations drawn for each (Gi*'s permutation test costs about that many
# neighbour sums, more where significant cells are refined). 5 million is 5,005 cells at the
# default 999 permutations: a few seconds at most on a busy 2-core machine, where the Bagong
# demo at 25 m (155,000 cells in the town) took two minutes. Its smallest cell is 162 m.
MAX_CELL_PERMUTATIONS = 5_000_000


def _grid_shape(width_m: float, height_m: float, cell_size_m: float) -> tuple[int, int]:
    """(rows, cols) of square cells covering a width × height box."""
    return max(1, math.ceil(height_m / cell_size_m)), max(1, math.ceil(width_m / cell_size_m))


def min_cell_size_m(width_m: float, height_m: float,
                    permutations: int = DEFAULT_PERMUTATIONS) -> float:
    """The smallest cell size, in whole metres, whose cells over a width × height box stay
    within MAX_CELL_PERMUTATIONS (and never below MIN_CELL_M)."""
    max_cells = MAX_CELL_PERMUTATIONS // permutations
    size = max(MIN_CELL_M, math.ceil(math.sqrt(width_m * height_m / max_cells)))
    while math.prod(_grid_shape(width_m, height_m, size)) > max_cells:
        size += 1
    return float(size)


def check_work(width_m: float, height_m: float, cell_size_m: float,
               permutations: int = DEFAULT_PERMUTATIONS) -> tuple[int, int]:
    """(rows, cols) of the cells, or TooManyCells naming the smallest cell size that fits."""
    rows, cols = _grid_shape(width_m, height_m, cell_size_m)
    max_cells = MAX_CELL_PERMUTATIONS // permutations
    if rows * cols > max_cells:
        smallest = min_cell_size_m(width_m, height_m, permutations)
        raise TooManyCells(
            f"cells of {cell_size_m:g} m would make {rows * cols:,} cells over the town, more than the "
            f"{max_cells:,} allowed: the smallest cell size for this town is {smallest:g} m",
            {"cells": rows * cols, "max_cells": max_cells, "min_cell_size_m": smallest},
        )
    return rows, cols


@dataclass
class LocalFrame:
    """The town's equirectangular metric frame (see the module docstring)."""

    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        return M_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.lat0))

    def to_xy_m(self, lon, lat):
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * M_PER_DEG_LAT

    def to_lonlat(self, x_m, y_m):
        return self.lon0 + np.asarray(x_m) / self.kx, self.lat0 + np.asarray(y_m) / M_PER_DEG_LAT


def check_cell_size(cell_size_m: float) -> float:
    if not (MIN_CELL_M <= cell_size_m <= MAX_CELL_M):
        raise HotspotError(
            f"cell size was {cell_size_m} m but must be between {MIN_CELL_M:g} and {MAX_CELL_M:g} m"
        )
    return float(cell_size_m)


_TOWN_SQL = text("SELECT ST_AsBinary(geom), ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM towns ORDER BY code LIMIT 1")
# the binning statement of each `aggregate` (hotspots.sql)
_BINS = {None: "bin", "routed": "bin_by_grid", "current": "bin_by_current_grid"}


def _bin_sql(aggregate: str | None):
    return text(with_current_grid(named_statements("cases", "hotspots.sql")[_BINS[aggregate]]))


@dataclass
class CaseCells:
    """Cases counted in the town's cells: values and study-area mask are (rows, cols)."""

    frame: LocalFrame
    origin_xy_m: tuple[float, float]
    cell_size_m: float
    values: np.ndarray
    mask: np.ndarray
    # with an `aggregate`: (grid code or None, row, col, cases) of every non-empty cell and grid
    by_grid: list[tuple[str | None, int, int, int]] | None = None


def case_cells(
    session: Session, *, category: str | None = None, since: datetime | date | None = None,
    until: datetime | date | None = None, cell_size_m: float = 250.0,
    permutations: int = DEFAULT_PERMUTATIONS, aggregate: str | None = None,
) -> CaseCells:
    """Count the cases matching the filters in square cells over the town (binned in SQL);
    the study area is the cells whose centre lies in the town. TooManyCells, before any
    counting, when the cells times ``permutations`` would exceed MAX_CELL_PERMUTATIONS. With
    ``aggregate`` (``routed`` or ``current``, see the module docstring), ``by_grid`` splits each
    cell's cases by grid."""
    if aggregate is not None:
        check_aggregate(aggregate)
    cell = check_cell_size(cell_size_m)
    town = session.execute(_TOWN_SQL).first()
    if town is None:
        raise HotspotError("no town is loaded: run `gridgov demo load` or import boundaries")
    outline = shapely.from_wkb(bytes(town[0]))
    frame = LocalFrame(lon0=(town[1] + town[3]) / 2, lat0=(town[2] + town[4]) / 2)
    minx, miny = frame.to_xy_m(town[1], town[2])
    maxx, maxy = frame.to_xy_m(town[3], town[4])
    nrows, ncols = check_work(float(maxx - minx), float(maxy - miny), cell, permutations)
    rows = session.execute(_bin_sql(aggregate), {
        "lon0": frame.lon0, "lat0": frame.lat0, "kx": frame.kx, "ky": M_PER_DEG_LAT,
        "minx": float(minx), "miny": float(miny), "cell": cell,
        "category": category, "category_prefix": f"{category}.%" if category else None,
        "since": since, "until": until,
    }).all()
    values = np.zeros((nrows, ncols))
    by_grid: list[tuple[str | None, int, int, int]] = []
    for col, row, grid_code, n in rows:
        if 0 <= row < nrows and 0 <= col < ncols:
            values[row, col] += n
            by_grid.append((grid_code, row, col, int(n)))
    cc, rr = np.meshgrid(np.arange(ncols), np.arange(nrows))
    centre_lon, centre_lat = frame.to_lonlat(minx + (cc + 0.5) * cell, miny + (rr + 0.5) * cell)
    shapely.prepare(outline)
    mask = shapely.contains_xy(outline, centre_lon, centre_lat)
    return CaseCells(frame, (float(minx), float(miny)), cell, values, mask,
                     by_grid if aggregate is not None else None)


def case_hotspots(
    session: Session, *, category: str | None = None, since: datetime | date | None = None,
    until: datetime | date | None = None, cell_size_m: float = 250.0,
    permutations: int = DEFAULT_PERMUTATIONS, seed: int = 12345, aggregate: str | None = None,
) -> dict:
    """Gi* hot spots of the cases matching the filters, as a GeoJSON FeatureCollection of
    cells (EPSG:4326) with count, z, p (FDR-adjusted), p_sim and class. With ``aggregate``,
    its properties also hold ``grids`` and ``none`` (``grid_tally``)."""
    cells = case_cells(session, category=category, since=since, until=until,
                       cell_size_m=cell_size_m, permutations=permutations, aggregate=aggregate)
    value, z, p_sim, p_fdr = gi_star(cells.values, cells.mask, permutations=permutations, seed=seed)
    r, c = np.nonzero(cells.mask)
    grid = HotspotGrid(cells.origin_xy_m, cells.cell_size_m, r, c, value, z, p_sim, p_fdr, classify(z, p_fdr))
    meta = {
        "category": category, "since": _iso(since), "until": _iso(until), "cell_size_m": cells.cell_size_m,
        "cases": int(cells.values.sum()), "permutations": permutations, "seed": seed,
        "aggregate": aggregate,
    }
    if cells.by_grid is not None:
        cls = np.full(cells.values.shape, "", dtype=object)
        cls[r, c] = grid.cls
        meta["grids"], meta["none"] = grid_tally(cells.by_grid, cls)
    return _feature_collection(grid, cells.frame.to_lonlat, meta)


def grid_tally(by_grid: list[tuple[str | None, int, int, int]],
               cls: np.ndarray) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per grid code, and for the cases in no grid (``none``): the cases counted, and how many
    of them lie in hot and in cold cells (any confidence). ``cls``: each cell's class, "" for
    a cell outside the study area. Pure."""
    grids: dict[str, dict[str, int]] = {}
    none = {"cases": 0, "hot": 0, "cold": 0}
    for code, row, col, n in by_grid:
        tally = none if code is None else grids.setdefault(code, {"cases": 0, "hot": 0, "cold": 0})
        tally["cases"] += n
        kind = str(cls[row, col])
        if kind.startswith("hot"):
            tally["hot"] += n
        elif kind.startswith("cold"):
            tally["cold"] += n
    return dict(sorted(grids.items())), none


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _feature_collection(grid: HotspotGrid, to_lonlat, meta: dict) -> dict:
    """Cells as GeoJSON polygons in lon/lat, with the columns DESIGN.md names."""
    bounds = grid.cell_bounds_xy_m()
    features = []
    for i, (x0, y0, x1, y1) in enumerate(bounds):
        xs = np.array([x0, x1, x1, x0, x0])
        ys = np.array([y0, y0, y1, y1, y0])
        lon, lat = to_lonlat(xs, ys)
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat)]]},
            "properties": {
                "count": float(grid.value[i]) if not float(grid.value[i]).is_integer() else int(grid.value[i]),
                "z": round(float(grid.z[i]), 4), "p": float(grid.p_fdr[i]),
                "p_sim": float(grid.p_sim[i]), "class": str(grid.cls[i]),
            },
        })
    summary = {cls: int((grid.cls == cls).sum()) for cls in sorted(set(grid.cls))}
    return {"type": "FeatureCollection", "features": features, "properties": {**meta, "classes": summary}}


# -- files --------------------------------------------------------------------------------


def read_points(path: Path, *, weight_field: str | None = None, source_crs: str | None = None,
                lon_field: str = "lon", lat_field: str = "lat") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """WGS 84 lon, lat (and weights) of a point file: GeoJSON, Shapefile, GeoPackage, or CSV
    with lon/lat columns. A file without a CRS needs ``source_crs``; a CSV is WGS 84 unless
    told otherwise. GCJ-02 and BD-09 are converted like everywhere else (geo.crs)."""
    from geo import crs as crs_mod

    if not path.exists():
        raise HotspotError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        import pandas as pd

        frame = pd.read_csv(path)
        for col in (lon_field, lat_field):
            if col not in frame.columns:
                raise HotspotError(f"{path}: no column {col!r} (columns: {', '.join(map(str, frame.columns))})")
        lon = pd.to_numeric(frame[lon_field], errors="coerce").to_numpy(float)
        lat = pd.to_numeric(frame[lat_field], errors="coerce").to_numpy(float)
        file_crs = source_crs or "wgs84"
        weights = _weights(frame, weight_field, path)
    else:
        import pyogrio

        try:
            gdf = pyogrio.read_dataframe(path)
        except Exception as exc:  # pyogrio raises several error types for unreadable files
            raise HotspotError(f"{path}: cannot read it ({str(exc).splitlines()[0]})") from exc
        if gdf.crs is None and source_crs is None:
            raise HotspotError(f"{path} has no CRS: say which with --source-crs (e.g. --source-crs EPSG:4547)")
        geoms = gdf.geometry.values
        if not all(g is None or g.geom_type == "Point" for g in geoms):
            geoms = shapely.centroid(geoms)  # polygons or lines count at their centroid
        lon, lat = shapely.get_x(geoms), shapely.get_y(geoms)
        file_crs = source_crs or gdf.crs.to_string()
        weights = _weights(gdf, weight_field, path)
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[ok], lat[ok]
    weights = None if weights is None else weights[ok]
    if len(lon) == 0:
        raise HotspotError(f"{path}: no points with coordinates")
    lon, lat = crs_mod.to_wgs84(lon, lat, file_crs)
    return np.asarray(lon), np.asarray(lat), weights


def _weights(frame, field: str | None, path: Path) -> np.ndarray | None:
    if field is None:
        return None
    if field not in frame.columns:
        raise HotspotError(f"{path}: no weight field {field!r}")
    import pandas as pd

    w = pd.to_numeric(frame[field], errors="coerce").to_numpy(float)
    if np.isnan(w).any():
        raise HotspotError(f"{path}: weight field {field!r} has values that are not numbers")
    return w


def file_hotspots(lon: np.ndarray, lat: np.ndarray, weights: np.ndarray | None, cell_size_m: float,
                  permutations: int = DEFAULT_PERMUTATIONS, seed: int = 12345) -> dict:
    """Hot spots of WGS 84 points on cells of ``cell_size_m`` in an azimuthal equidistant
    frame centred on them; the study area is the points' bounding box."""
    cell = check_cell_size(cell_size_m)
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={float(np.mean(lat))} +lon_0={float(np.mean(lon))} +datum=WGS84 +units=m")
    fwd = Transformer.from_crs("EPSG:4326", local, always_xy=True)
    inv = Transformer.from_crs(local, "EPSG:4326", always_xy=True)
    x, y = fwd.transform(lon, lat)
    try:
        grid = hotspots(x, y, cell, weights=weights, permutations=permutations, seed=seed)
    except ValueError as exc:
        raise HotspotError(str(exc)) from exc
    return _feature_collection(grid, inv.transform, {
        "cell_size_m": cell, "points": int(len(lon)), "permutations": permutations, "seed": seed,
    })
