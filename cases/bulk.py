"""Bulk routing: points from a file to grids, streamed, with the same semantics as the point
lookup (boundaries/locate.py: ST_Covers, the smallest code wins on a shared edge) through the
in-memory index of geo/pointindex.py. Used by ``gridgov route`` and ``gridgov cases import``.

Input and CRS rules are cases/pointfile.py's: CSV or any OGR point layer, streamed, every
point through geo.crs.to_wgs84. Rows without a usable point are kept, flagged ``outside``,
and counted in the summary with the first few row numbers, so one bad row in a million does
not stop a run.

Output (`route_file`): every input column, then ``grid_code`` (the leaf grid), ``admin_code``,
``on_boundary`` and ``outside`` (DESIGN.md); a point in an admin grid but in no leaf grid has
an empty grid_code. Format by extension: .csv, .geojson, .gpkg, .shp. OGR outputs carry the
routed point in WGS 84 (EPSG:4326); a CSV made from an OGR input gets it as a WKT
``geometry`` column. A Shapefile keeps 10-character field names: ``on_boundar``.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy.orm import Session

from boundaries.locate import current_grids
from boundaries.models import LEAF_LEVELS
from cases.pointfile import BulkError, PointBatch, PointFile, open_points
from geo.pointindex import PointIndex

__all__ = ["ADDED", "BulkError", "GridRouter", "PointBatch", "PointFile", "RouteSummary", "Routed",
           "check_output", "load_router", "open_points", "route_file"]

ADDED = ("grid_code", "admin_code", "on_boundary", "outside")
OUTPUTS = {".csv": None, ".geojson": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}
MAX_LISTED = 5
# GeoPackage: no R-tree kept up while appending (it grows the cost of every batch: tools build
# one on demand), and GDAL's Arrow writer, twice as fast as feature by feature. (Not for
# Shapefiles: their laundered field names defeat the Arrow path's matching on append.)
_GPKG_OPTIONS = {"layer_options": {"SPATIAL_INDEX": "NO"}, "use_arrow": True}


@dataclass
class Routed:
    """Per point: leaf grid code (None: none), admin grid code, the version of the grid routed
    to, and the flags."""

    grid_code: np.ndarray
    admin_code: np.ndarray
    grid_version: np.ndarray
    on_boundary: np.ndarray
    outside: np.ndarray


class GridRouter:
    """The current leaf grids, and the admin grids for points in no leaf grid, as two
    PointIndexes; `route` answers as boundaries.locate.locate would, for many points."""

    def __init__(self, grids: list[dict]):
        leaves = [g for g in grids if g["level"] in LEAF_LEVELS]
        admins = [g for g in grids if g["level"] == "admin"]
        self.leaf = PointIndex([g["code"] for g in leaves], [g["parent_code"] for g in leaves],
                               [g["geometry"] for g in leaves])
        self.admin = PointIndex([g["code"] for g in admins], [g["code"] for g in admins],
                                [g["geometry"] for g in admins])
        # per index, with a last None for "none": answers by fancy indexing, no Python loop
        self._leaf_version = np.array([g["version"] for g in leaves] + [None], dtype=object)
        self._admin_version = np.array([g["version"] for g in admins] + [None], dtype=object)
        self.town = {g["code"]: g["town_code"] for g in grids}

    def route(self, lon: np.ndarray, lat: np.ndarray) -> Routed:
        """Route WGS 84 points (NaN: no point, so outside)."""
        leaf = self.leaf.route(lon, lat)
        grid = self.leaf.codes_of(leaf)
        admin = self.leaf.admin_codes_of(leaf)
        version = self._leaf_version[leaf.leaf_index]
        on_boundary = leaf.on_boundary.copy()
        outside = leaf.outside.copy()
        gap = np.flatnonzero(leaf.outside)
        if gap.size and len(self.admin):
            up = self.admin.route(np.asarray(lon, float)[gap], np.asarray(lat, float)[gap])
            admin[gap] = self.admin.codes_of(up)
            version[gap] = self._admin_version[up.leaf_index]
            on_boundary[gap] = up.on_boundary
            outside[gap] = up.outside
        return Routed(grid, admin, version, on_boundary, outside)


def load_router(session: Session) -> GridRouter:
    """A GridRouter over the grids valid now."""
    grids = current_grids(session)
    if not grids:
        raise BulkError("there are no current grids to route to: import boundaries first")
    return GridRouter(grids)


@dataclass
class RouteSummary:
    """What a run did: rows, how they were routed, and the rows without a usable point."""

    rows: int = 0
    routed: int = 0  # to a leaf grid
    admin_only: int = 0  # in an admin grid, in no leaf grid
    outside: int = 0
    on_boundary: int = 0
    unusable: int = 0
    unusable_listed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def add_problems(self, batch: PointBatch, what: str = "row") -> None:
        self.unusable += len(batch.problems)
        for i, reason in sorted(batch.problems.items()):
            if len(self.unusable_listed) >= MAX_LISTED:
                break
            self.unusable_listed.append(f"{what} {batch.start + i + 1}: {reason}")

    def lines(self) -> list[str]:
        rate = self.rows / self.seconds if self.seconds else 0.0
        out = list(self.notes)
        out.append(f"{self.rows} rows: {self.routed} in a leaf grid, {self.admin_only} in an admin "
                   f"grid only, {self.outside} outside coverage, {self.on_boundary} on a boundary "
                   f"({self.seconds:.1f} s, {rate:,.0f} rows/s)")
        if self.unusable:
            more = f"; and {self.unusable - MAX_LISTED} more" if self.unusable > MAX_LISTED else ""
            out.append(f"{self.unusable} rows without a usable point, marked outside: "
                       + "; ".join(self.unusable_listed) + more)
        return out


def check_output(source: PointFile, output: str | Path) -> Path:
    """`output` if routing `source` can write it: a known extension, not the input, in a
    directory that exists. Raises BulkError."""
    output = Path(output)
    if output.suffix.lower() not in OUTPUTS:
        raise BulkError(f"cannot write {output.name}: the output must end in "
                        f"{', '.join(OUTPUTS)}")
    if output.resolve() == source.path.resolve():
        raise BulkError(f"{output} is the input: write the result to another file")
    if not output.parent.is_dir():
        raise BulkError(f"{output.parent}: no such directory")
    return output


def route_file(
    router: GridRouter,
    source: PointFile,
    output: str | Path,
    *,
    chunk_size: int = 100_000,
    progress: bool = False,
) -> RouteSummary:
    """Route every row of `source` and write it, with the added columns, to `output`
    (format from the extension); streamed batch by batch. Raises BulkError."""
    output = check_output(source, output)
    if chunk_size < 1:
        raise BulkError(f"--chunk-size was {chunk_size} but must be at least 1")
    suffix = output.suffix.lower()
    summary = RouteSummary(notes=list(source.notes))
    # "on_boundar": our own Shapefile output read back (the DBF cuts names to 10 characters)
    replaced = [c for c in (*ADDED, "on_boundar") if c in source.columns]
    if replaced:
        summary.notes.append(f"replaced the input's own {', '.join(replaced)} column(s)")
    what = "row" if source.kind == "csv" else "feature"
    started = time.perf_counter()
    writer = _Writer(output, wkt=source.kind == "ogr" and suffix == ".csv")
    try:
        for batch in source.batches(chunk_size, progress):
            routed = router.route(batch.lon, batch.lat)
            frame = batch.frame.drop(columns=replaced)
            frame["grid_code"] = routed.grid_code
            frame["admin_code"] = routed.admin_code
            frame["on_boundary"] = routed.on_boundary
            frame["outside"] = routed.outside
            writer.write(frame, batch.lon, batch.lat)
            summary.rows += len(frame)
            has_leaf = np.not_equal(routed.grid_code, None)
            summary.routed += int(has_leaf.sum())
            summary.admin_only += int((~has_leaf & ~routed.outside).sum())
            summary.outside += int(routed.outside.sum())
            summary.on_boundary += int(routed.on_boundary.sum())
            summary.add_problems(batch, what)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    summary.seconds = time.perf_counter() - started
    return summary


class _Writer:
    """Writes batches to a .csv, .geojson, .gpkg or .shp, appending; `abort` removes the file."""

    def __init__(self, path: Path, *, wkt: bool):
        self.path, self.wkt = path, wkt
        self.driver = OUTPUTS[path.suffix.lower()]
        self.started = False
        _remove(path)
        if self.driver == "GeoJSON":  # GDAL's GeoJSON append rewrites the file: stream our own
            # open across calls (closed by close/abort), so no with-block
            self.fh: io.TextIOBase | None = open(path, "w", encoding="utf-8")  # noqa: SIM115
            self.fh.write('{"type": "FeatureCollection", "features": [\n')
        else:
            self.fh = None
        self.empty: pd.DataFrame | None = None

    def write(self, frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
        points = None
        if self.driver is not None or self.wkt:
            points = shapely.points(lon, lat)
            points[np.isnan(lon)] = None
        if self.driver is None:
            if self.wkt:
                frame.insert(len(frame.columns) - len(ADDED), "geometry",
                             shapely.to_wkt(points, rounding_precision=-1))
            frame.to_csv(self.path, mode="a", header=not self.started, index=False,
                         encoding="utf-8")
        else:
            if self.driver == "ESRI Shapefile":
                frame = frame.rename(columns={"on_boundary": "on_boundar"})
            gdf = gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4326")
            if self.driver == "GeoJSON":
                self._geojson(gdf)
            elif len(gdf):
                with warnings.catch_warnings():  # field names laundered for the DBF
                    warnings.simplefilter("ignore", RuntimeWarning)
                    pyogrio.write_dataframe(gdf, self.path, driver=self.driver,
                                            append=self.started, layer=self.path.stem,
                                            **(_GPKG_OPTIONS if self.driver == "GPKG" else {}))
            else:
                self.empty = gdf
                return
        self.started = True

    def _geojson(self, gdf: gpd.GeoDataFrame) -> None:
        assert self.fh is not None
        if not len(gdf):
            return
        buf = io.BytesIO()
        pyogrio.write_dataframe(gdf, buf, driver="GeoJSONSeq", layer="points",
                                # 17 significant figures: every double survives exactly
                                layer_options={"SIGNIFICANT_FIGURES": 17,
                                               "COORDINATE_PRECISION": -1})
        features = buf.getvalue().decode("utf-8").strip().split("\n")
        self.fh.write((",\n" if self.started else "") + ",\n".join(features))

    def close(self) -> None:
        if self.fh is not None:
            self.fh.write("\n]}\n")
            self.fh.close()
        elif not self.started:  # no rows: still write a file with the columns
            if self.driver is None:
                pd.DataFrame(columns=list(self.empty.columns) if self.empty is not None
                             else list(ADDED)).to_csv(self.path, index=False)
            elif self.empty is not None:
                pyogrio.write_dataframe(self.empty, self.path, driver=self.driver,
                                        layer=self.path.stem)

    def abort(self) -> None:
        if self.fh is not None:
            self.fh.close()
        _remove(self.path)


def _remove(path: Path) -> None:
    """Remove `path` (and a Shapefile's sidecar files)."""
    sidecars = (".shx", ".dbf", ".prj", ".cpg", ".qix") if path.suffix.lower() == ".shp" else ()
    for p in [path, *(path.with_suffix(s) for s in sidecars)]:
        if p.exists():
            os.remove(p)
