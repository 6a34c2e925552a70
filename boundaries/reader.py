"""Reading a boundary file into clean features: any OGR format, reprojected, repaired.

`read_source` is the first step of an import (see boundaries/importer.py). It touches no
database: every problem with the file itself is found here and raised as a `BoundaryError`
whose one-line message names the offending value and the option that fixes it.

A file with a ``level`` column whose values are all town/zone/admin/regional/service (such
as our own export, boundaries/exporter.py) is filtered to the rows of the level being
imported (rows with an empty level count as that level); its town row, if any, is kept
aside as the town to create in an empty database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyogrio.raw
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from shapely import MultiPolygon
from shapely.geometry.base import BaseGeometry
from tqdm import tqdm

from boundaries.errors import (
    BadCRS,
    BoundaryError,
    EmptyFile,
    MissingCRS,
    MissingField,
    RefusedFeatures,
    UnknownLayer,
    UnknownLevel,
    UnreadableFile,
)
from geo.coverage import repaired_polygon
from geo.crs import WGS84, crs_label, is_wgs84_lonlat, parse_crs

LEVELS = ("zone", "admin", "regional", "service")
FILE_LEVELS = ("town", *LEVELS)
ZONE_KINDS = ("village", "enterprise")
CODE_MAX = 20  # grids.code and zones.code are VARCHAR(20)
NAME_MAX = 100
MAX_LISTED = 5  # refusals named in the one-line message; the rest are counted
DENSIFY_M = 50.0  # longest segment before reprojecting (see `_lonlat`)


@dataclass
class Feature:
    """One feature of the file, ready to plan: code, name, relations and a valid geometry."""

    row: int  # 1-based position in the layer, for messages
    code: str
    name: str
    geometry: MultiPolygon  # EPSG:4326, valid, non-empty
    parent_code: str | None = None  # from --parent-field: the zone of an admin grid, the
    #                                 admin grid of a leaf grid (unused for zones)
    zone_code: str | None = None  # from a zone_code column (our export writes one)
    kind: str | None = None  # zones: village | enterprise, from a kind column


@dataclass
class SourceFile:
    """What `read_source` found in a file: the features of one level and what it did to them."""

    path: Path
    layer: str
    level: str
    crs: str  # the CRS the coordinates were read in, e.g. "EPSG:4547"
    features: list[Feature]
    town: Feature | None = None  # the file's town row (level column "town"), if any
    repairs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_source(
    path: str | Path,
    level: str,
    *,
    layer: str | None = None,
    source_crs: str | None = None,
    code_field: str = "code",
    name_field: str | None = None,
    parent_field: str | None = None,
    progress: bool = False,
) -> SourceFile:
    """Read the features of `level` from `path`, in EPSG:4326 with valid MultiPolygons.

    `source_crs` overrides the file's CRS and is required when the file declares none.
    `name_field` None means a field called "name" if there is one, else the code. Raises a
    `BoundaryError` subclass for anything that cannot be imported; nothing is half-read.
    """
    if level not in LEVELS:
        raise UnknownLevel(f"level {level!r} is not one of {', '.join(LEVELS)}")
    path = Path(path)
    if not path.exists():
        raise UnreadableFile(f"{path}: no such file")
    layer = _layer(path, layer)
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise UnreadableFile(f"cannot read {path} (layer {layer!r}): {_first_line(exc)}") from exc
    except shapely.errors.GEOSException as exc:  # a geometry GDAL passes and GEOS cannot build
        raise _unbuildable(path, layer, code_field, exc) from exc
    gdf, town_gdf = _rows_of_level(gdf, level, path)
    if gdf.empty:
        raise EmptyFile(f"{path} (layer {layer!r}) has no features")
    notes: list[str] = []
    crs = _crs(gdf, path, source_crs, notes)

    code_col: str = _field(gdf, code_field, "--code-field", required=True) or code_field
    name_col = _field(gdf, name_field or "name", "--name-field", required=name_field is not None)
    parent_col = (
        _field(gdf, parent_field, "--parent-field", required=True) if parent_field else None
    )
    zone_col = _field(gdf, "zone_code", "", required=False)
    kind_col = _field(gdf, "kind", "", required=False)
    if name_col is None:
        notes.append(
            f"no field 'name' in {path.name}: names are the codes (choose one with --name-field)"
        )

    features: list[Feature] = []
    refusals: list[str] = []
    repairs: list[str] = []
    seen: dict[str, int] = {}
    needed = [c for c in (code_col, name_col, parent_col, zone_col, kind_col) if c]
    values = {c: gdf[c].tolist() for c in needed}  # plain lists: no NaN-for-None surprises
    geoms = list(gdf.geometry.array)
    positions = tqdm(
        range(len(gdf)), desc="reading", unit="feature", disable=None if progress else True
    )
    for pos in positions:
        n = int(gdf.index[pos]) + 1  # the row in the layer, before any level filtering
        rec = {c: values[c][pos] for c in needed}
        code = _text(rec[code_col])
        where = f"feature {code} (row {n})" if code else f"row {n}"
        if not code:
            refusals.append(f"{where}: no code in field {code_col!r}")
            continue
        if code in seen:
            refusals.append(f"{where}: code repeats row {seen[code]}")
            continue
        seen[code] = n
        if len(code) > CODE_MAX:
            refusals.append(f"{where}: code longer than {CODE_MAX} characters")
            continue
        name = (_text(rec[name_col]) if name_col else None) or code
        if len(name) > NAME_MAX:
            refusals.append(f"{where}: name longer than {NAME_MAX} characters")
            continue
        geom = geoms[pos]
        if geom is None or geom.is_empty:
            refusals.append(f"{where}: empty geometry")
            continue
        # Repaired in the file's own coordinates, so the reason's location is one the planner
        # can find in the file, and before densifying can hide a crossing (see `_lonlat`).
        fixed, reason = repaired_polygon(geom)
        if fixed.is_empty:
            refusals.append(
                f"{where}: invalid ({reason}) and no polygon is left after repair"
                if reason
                else f"{where}: not a polygon ({geom.geom_type})"
            )
            continue
        if reason:
            repairs.append(f"feature {code}: repaired ({reason})")
        kind = _text(rec[kind_col]) if kind_col else None
        features.append(
            Feature(
                row=n,
                code=code,
                name=name,
                geometry=fixed,
                parent_code=_text(rec[parent_col]) if parent_col else None,
                zone_code=_text(rec[zone_col]) if zone_col else None,
                kind=kind if kind in ZONE_KINDS else None,
            )
        )
    town = _town_feature(town_gdf, code_col, name_col)
    moved = _lonlat([f.geometry for f in features] + ([town.geometry] if town else []), crs, path)
    if refusals:
        listed = "; ".join(refusals[:MAX_LISTED])
        more = f"; and {len(refusals) - MAX_LISTED} more" if len(refusals) > MAX_LISTED else ""
        raise RefusedFeatures(
            f"{len(refusals)} feature(s) of {path.name} refused, nothing imported: {listed}{more}",
            refusals,
        )
    if town:
        town.geometry = repaired_polygon(moved.pop())[0]
    for feature, geom in zip(features, moved, strict=True):
        feature.geometry, reason = repaired_polygon(geom)
        if reason:  # rare: reprojection made a thin part cross itself
            repairs.append(f"feature {feature.code}: repaired after reprojection ({reason})")
        if feature.geometry.is_empty:
            message = f"feature {feature.code} (row {feature.row}): nothing left after reprojection"
            raise RefusedFeatures(f"{path.name}: {message}; nothing imported", [message])
    return SourceFile(
        path=path,
        layer=layer,
        level=level,
        crs=crs_label(crs),
        features=features,
        town=town,
        repairs=repairs,
        notes=notes,
    )


def _unbuildable(path: Path, layer: str, code_field: str, exc: Exception) -> BoundaryError:
    """The features whose geometry GEOS cannot build, as refusals naming their rows.

    GDAL reads a polygon whose ring does not close (its last point is not its first) with a
    warning, but GEOS refuses to make a ring of it, and so the whole file would fail to read.
    Read again without building, each feature's geometry is tried alone, so the message names
    the features to fix, as for any other refused feature.
    """
    meta, _, wkbs, fields = pyogrio.raw.read(path, layer=layer)
    codes = dict(zip(meta["fields"], fields, strict=True)).get(code_field)
    refusals = []
    for pos, wkb in enumerate(wkbs):
        if wkb is not None and shapely.from_wkb(wkb, on_invalid="ignore") is None:
            code = _text(codes[pos]) if codes is not None else None
            where = f"feature {code} (row {pos + 1})" if code else f"row {pos + 1}"
            refusals.append(f"{where}: a ring is not closed (its last point is not its first)"
                            if "closed linestring" in str(exc) else
                            f"{where}: its geometry cannot be read ({_first_line(exc)})")
    if not refusals:
        return UnreadableFile(f"cannot read {path} (layer {layer!r}): {_first_line(exc)}")
    listed = "; ".join(refusals[:MAX_LISTED])
    more = f"; and {len(refusals) - MAX_LISTED} more" if len(refusals) > MAX_LISTED else ""
    return RefusedFeatures(
        f"{len(refusals)} feature(s) of {path.name} refused, nothing imported: {listed}{more}",
        refusals)


def _layer(path: Path, wanted: str | None) -> str:
    """The layer to read: `wanted` if the file has it, else the only one."""
    try:
        names = [str(name) for name, _ in pyogrio.list_layers(path)]
    except (DataSourceError, OSError) as exc:
        raise UnreadableFile(f"cannot read {path}: {_first_line(exc)}") from exc
    if not names:
        raise EmptyFile(f"{path} has no layers")
    if wanted is not None:
        if wanted not in names:
            raise UnknownLayer(
                f"{path.name} has no layer {wanted!r}; its layers: {', '.join(names)}"
            )
        return wanted
    if len(names) > 1:
        raise UnknownLayer(
            f"{path.name} has {len(names)} layers ({', '.join(names)}): choose one with --layer"
        )
    return names[0]


def _rows_of_level(
    gdf: gpd.GeoDataFrame, level: str, path: Path
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    """Filter by a level column (see the module docstring); also return the town rows."""
    col = _field(gdf, "level", "", required=False)
    if col is None:
        return gdf, None
    values = gdf[col].map(_text)
    present = set(values.dropna())
    if not present or not present <= set(FILE_LEVELS):
        return gdf, None  # someone else's "level" column: not ours to interpret
    if level not in present and not values.isna().any():
        raise UnknownLevel(
            f"the level column of {path.name} has no {level!r} rows (it has: "
            f"{', '.join(sorted(present))})"
        )
    town = gdf[values == "town"]
    return gdf[(values == level) | values.isna()], (town if not town.empty else None)


def _crs(gdf: gpd.GeoDataFrame, path: Path, source_crs: str | None, notes: list[str]) -> CRS:
    """The CRS to read the coordinates in: `source_crs` if given, else the file's own."""
    if source_crs:
        try:
            crs = parse_crs(source_crs)
        except ValueError as exc:
            raise BadCRS(f"--source-crs: {exc}") from exc
        if gdf.crs is not None and not gdf.crs.equals(crs):
            notes.append(
                f"{path.name} declares {crs_label(gdf.crs)}; read as {crs_label(crs)} "
                "as --source-crs says"
            )
        return crs
    if gdf.crs is None:
        raise MissingCRS(
            f"{path.name} declares no coordinate reference system: say which with --source-crs "
            "(e.g. --source-crs EPSG:4547 or --source-crs wgs84)"
        )
    return gdf.crs


def _lonlat(geoms: list[MultiPolygon], crs: CRS, path: Path) -> list[BaseGeometry]:
    """`geoms` (in `crs`) in EPSG:4326; CGCS2000 lon/lat is relabelled, not transformed."""
    series = gpd.GeoSeries(geoms, crs=crs)
    if not is_wgs84_lonlat(crs):  # WGS 84 or CGCS2000 lon/lat are equal for us (geo/crs.py)
        # A straight edge in the file's CRS is a curve in lon/lat. Reprojecting only the
        # vertices would move a neighbour's vertex that sits mid-edge (a T-junction) off the
        # edge, leaving a sliver (geo/coverage.py, MIN_WIDTH_M); densifying first keeps every
        # segment short enough that the curve and the chord agree to micrometres.
        series = gpd.GeoSeries(shapely.segmentize(series.array, _densify_step(crs)), crs=crs)
        series = series.to_crs(WGS84)
    bounds = series.total_bounds  # all NaN when there is nothing left to import
    if not np.isnan(bounds).all():
        minx, miny, maxx, maxy = bounds
        if not (
            np.isfinite(bounds).all()
            and minx >= -180
            and maxx <= 180
            and miny >= -90
            and maxy <= 90
        ):
            raise BadCRS(
                f"the coordinates of {path.name} are not lon/lat once read as {crs_label(crs)} "
                f"(bounds {minx:.6g}, {miny:.6g}, {maxx:.6g}, {maxy:.6g}): give the right CRS "
                "with --source-crs"
            )
    return list(series.array)


def _densify_step(crs: CRS) -> float:
    """DENSIFY_M in the units of `crs` (metres, feet, or degrees for a geographic CRS)."""
    if crs.is_geographic:
        return DENSIFY_M / 111_000
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return DENSIFY_M / (factor or 1.0)


def _town_feature(
    town: gpd.GeoDataFrame | None, code_col: str, name_col: str | None
) -> Feature | None:
    if town is None or code_col not in town.columns:
        return None
    rec = town.iloc[0]
    code = _text(rec[code_col])
    geom, _ = repaired_polygon(rec.geometry)
    if not code or geom.is_empty:
        return None
    name = (_text(rec[name_col]) if name_col else None) or code
    return Feature(row=0, code=code, name=name, geometry=geom)


def _field(gdf: gpd.GeoDataFrame, wanted: str | None, option: str, *, required: bool) -> str | None:
    """The column called `wanted`: exactly, else case-insensitively (KML says "Name"), else
    cut to the 10 characters a Shapefile's DBF keeps ("parent_code" is "parent_cod" there)."""
    if not wanted:
        return None
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    if wanted in columns:
        return wanted
    for candidate in (wanted.lower(), wanted.lower()[:10]):
        folded = [c for c in columns if str(c).lower() == candidate]
        if len(folded) == 1:
            return folded[0]
    if required:
        raise MissingField(
            f"no field {wanted!r} in the file (fields: {', '.join(map(str, columns)) or 'none'}): "
            f"choose one with {option}"
        )
    return None


def _text(value: object) -> str | None:
    """A cell as stripped text; None for null. Whole floats lose ".0" (codes from a DBF)."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    result = str(value).strip()
    return result or None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
