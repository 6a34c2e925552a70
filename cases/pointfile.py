"""Reading points from files, streamed: the input side of ``gridgov route`` and
``gridgov cases import`` (cases/bulk.py, cases/history.py).

Input. A CSV (``.csv``) with longitude and latitude columns (``lon``, ``lat`` unless told
otherwise), read in chunks as text so every cell can be written back exactly as it came; or
any point layer GDAL reads (GeoJSON, GeoPackage, Shapefile, ...), read in batches through
Arrow. Neither is ever held whole in memory.

CRS. A CSV names no CRS: its coordinates are WGS 84 unless ``source_crs`` says otherwise. An
OGR file's own CRS is used, ``source_crs`` overriding it (phone data labelled WGS 84 is often
GCJ-02); a file declaring none is refused unless ``source_crs`` is given. A ``crs`` column
(wgs84 | cgcs2000 | gcj02 | bd09, or an EPSG code) overrides both, row by row, where it is not
empty. Everything goes through geo.crs.to_wgs84, as the API does.

Rows without a usable point (an empty or non-numeric coordinate, a null or non-point
geometry, coordinates out of range, an unknown ``crs`` value) are not refused here: their
point is NaN and the reason is in ``PointBatch.problems``; the caller decides (routing keeps
them, flagged outside; the case import refuses them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from tqdm import tqdm

from cases.errors import BulkError
from geo.crs import POINT_CRS, crs_label, parse_crs, point_crs_name, to_wgs84

CRS_COLUMN = "crs"


@dataclass
class PointBatch:
    """A batch of rows: their columns as read, and their points in WGS 84 (NaN: unusable)."""

    start: int  # 0-based position of the batch's first row in the file
    frame: pd.DataFrame
    lon: np.ndarray
    lat: np.ndarray
    crs: np.ndarray  # the canonical CRS each row was read in
    problems: dict[int, str]  # position in the batch -> why the row has no usable point


@dataclass
class PointFile:
    """A CSV or OGR point file opened for streaming; see the module docstring."""

    path: Path
    kind: str  # csv | ogr
    columns: list[str]
    crs: str  # the rows' CRS unless a crs column says otherwise: a POINT_CRS name, "EPSG:n", WKT
    lon_field: str = "lon"
    lat_field: str = "lat"
    layer: str | None = None
    encoding: str = "utf-8-sig"
    notes: list[str] = field(default_factory=list)

    def batches(self, chunk_size: int = 100_000, progress: bool = False) -> Iterator[PointBatch]:
        """The rows in order, `chunk_size` at a time, with a progress bar when `progress`."""
        if self.kind == "csv":
            yield from self._csv_batches(chunk_size, progress)
        else:
            yield from self._ogr_batches(chunk_size, progress)

    def _csv_batches(self, chunk_size: int, progress: bool) -> Iterator[PointBatch]:
        size = self.path.stat().st_size
        with open(self.path, "rb") as raw, tqdm(total=size, unit="B", unit_scale=True,
                                                desc="reading", disable=None if progress else True) as bar:
            reader = pd.read_csv(raw, dtype=str, keep_default_na=False, na_filter=False,
                                 chunksize=chunk_size, encoding=self.encoding)
            start, seen = 0, 0
            for frame in reader:
                lon = pd.to_numeric(frame[self.lon_field].str.strip(), errors="coerce")
                lat = pd.to_numeric(frame[self.lat_field].str.strip(), errors="coerce")
                problems = {int(i): f"no number in {self.lon_field}/{self.lat_field}"
                            for i in np.flatnonzero(lon.isna().to_numpy() | lat.isna().to_numpy())}
                yield self._batch(start, frame, lon.to_numpy(float), lat.to_numpy(float), problems)
                start += len(frame)
                bar.update(raw.tell() - seen)
                seen = raw.tell()

    def _ogr_batches(self, chunk_size: int, progress: bool) -> Iterator[PointBatch]:
        total = pyogrio.read_info(self.path, layer=self.layer)["features"]
        with pyogrio.open_arrow(self.path, layer=self.layer, batch_size=chunk_size,
                                use_pyarrow=True) as (meta, reader), \
                tqdm(total=total if total >= 0 else None, unit="point", desc="reading",
                     disable=None if progress else True) as bar:
            geom_col = meta["geometry_name"] or "wkb_geometry"
            start = 0
            for batch in reader:
                frame = batch.to_pandas()
                geoms = shapely.from_wkb(frame.pop(geom_col).to_numpy())
                point = shapely.get_type_id(geoms) == 0
                lon = np.where(point, shapely.get_x(geoms), np.nan)
                lat = np.where(point, shapely.get_y(geoms), np.nan)
                problems = {int(i): "no point geometry" for i in np.flatnonzero(~point | np.isnan(lon))}
                yield self._batch(start, frame, lon, lat, problems)
                start += len(frame)
                bar.update(len(frame))

    def _batch(self, start, frame, lon, lat, problems) -> PointBatch:
        crs = np.full(len(frame), self.crs, dtype=object)
        if CRS_COLUMN in frame.columns:
            given = frame[CRS_COLUMN].astype(object).where(frame[CRS_COLUMN].notna(), "")
            given = given.astype(str).str.strip().to_numpy(dtype=object)
            crs = np.where(given != "", given, crs)
        out_lon, out_lat = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        for name in pd.unique(crs):
            rows = np.flatnonzero(crs == name)
            try:
                canonical = point_crs_name(name)
            except ValueError:
                problems.update({int(i): f"unknown crs {name!r}" for i in rows})
                continue
            crs[rows] = canonical
            x, y = lon[rows], lat[rows]
            if canonical in POINT_CRS:
                bad = ~((np.abs(x) <= 180) & (np.abs(y) <= 90))
                for i in rows[bad]:
                    problems.setdefault(int(i), "coordinates out of range")
                x, y = np.where(bad, np.nan, x), np.where(bad, np.nan, y)
            out_lon[rows], out_lat[rows] = to_wgs84(x, y, name)
        bad = ~np.isfinite(out_lon) | ~np.isfinite(out_lat)
        for i in np.flatnonzero(bad):
            problems.setdefault(int(i), "coordinates out of range")
        out_lon[bad] = out_lat[bad] = np.nan
        return PointBatch(start, frame, out_lon, out_lat, crs, problems)


def open_points(
    path: str | Path,
    *,
    source_crs: str | None = None,
    lon_field: str = "lon",
    lat_field: str = "lat",
    layer: str | None = None,
) -> PointFile:
    """Open a point file for streaming, checking everything that can be checked up front:
    it exists, its coordinate columns or point layer, its CRS. Raises BulkError."""
    path = Path(path)
    if not path.is_file():
        raise BulkError(f"{path}: no such file")
    default = None
    if source_crs is not None:
        try:
            default = point_crs_name(source_crs)
        except ValueError as exc:
            raise BulkError(f"--source-crs: {exc}") from exc
    if path.suffix.lower() == ".csv":
        return _open_csv(path, default or "wgs84", lon_field, lat_field)
    return _open_ogr(path, default, layer)


def _open_csv(path: Path, crs: str, lon_field: str, lat_field: str) -> PointFile:
    encoding, notes = "utf-8-sig", []
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 1 MB mark
            encoding = "gb18030"
            notes.append(f"{path.name} is not UTF-8: read as GB 18030")
    try:
        columns = list(pd.read_csv(path, nrows=0, encoding=encoding).columns)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BulkError(f"cannot read {path} as CSV: {str(exc).splitlines()[0]}") from exc
    missing = [f for f in (lon_field, lat_field) if f not in columns]
    if missing:
        raise BulkError(
            f"{path.name} has no column {missing[0]!r} (columns: {', '.join(columns) or 'none'}): "
            "name the coordinate columns with --lon-field and --lat-field"
        )
    return PointFile(path, "csv", columns, crs, lon_field, lat_field, encoding=encoding, notes=notes)


def _open_ogr(path: Path, crs: str | None, layer: str | None) -> PointFile:
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        if layer is None and len(layers) > 1:
            raise BulkError(f"{path.name} has {len(layers)} layers ({', '.join(layers)}): "
                            "choose one with --layer")
        info = pyogrio.read_info(path, layer=layer)
    except (DataSourceError, DataLayerError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BulkError(f"cannot read {path}: {first} (route reads .csv and point layers "
                        "GDAL reads: .geojson, .gpkg, .shp, ...)") from exc
    kind = str(info["geometry_type"] or "None")
    if not (kind.startswith("Point") or kind == "Unknown"):
        raise BulkError(f"{path.name} has {kind} geometries: gridgov route takes points")
    notes = []
    if crs is None:
        if not info["crs"]:
            raise BulkError(
                f"{path.name} declares no coordinate reference system: say which with "
                "--source-crs (e.g. --source-crs wgs84, gcj02 or EPSG:4547)")
        crs = info["crs"]
    elif info["crs"] and point_crs_name(info["crs"]) != crs:
        notes.append(f"{path.name} declares {crs_label(parse_crs(info['crs']))}; read as {crs} "
                     "as --source-crs says")
    return PointFile(path, "ogr", [str(c) for c in info["fields"]], crs, layer=layer, notes=notes)
