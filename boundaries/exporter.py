"""Export every current boundary (town, zones, grids) to one GIS file.

One layer, named ``boundaries``, in every format, so that every format is read back the same
way: a ``level`` column (town | zone | admin | regional | service) tells the units apart,
and `gridgov boundaries import FILE --level L` picks the rows of level L from it (see
boundaries/reader.py). Columns: code, name, level, parent_code, zone_code, version, and the
geometry in EPSG:4326. ``parent_code`` is always the unit one level up: a zone's town, an
admin grid's zone, a leaf grid's admin grid, so `--parent-field parent_code` reads the
hierarchy back at every level.

Shapefile caveat: a DBF field name has at most 10 characters, so ``parent_code`` is written
as ``parent_cod``; the importer finds it under either name.
"""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
from pyogrio.errors import DataSourceError
from sqlalchemy import text
from sqlalchemy.orm import Session

from boundaries.errors import EmptyFile, UnreadableFile, UnsupportedFormat
from boundaries.versions import version_at
from geo.crs import WGS84

COLUMNS = ("code", "name", "level", "parent_code", "zone_code", "version")
LAYER = "boundaries"
# Extension -> OGR driver. KML goes through LIBKML, which keeps every column as ExtendedData.
DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".shp.zip": "ESRI Shapefile",
    ".kml": "LIBKML",
    ".fgb": "FlatGeobuf",
}
DBF_NAME_MAX = 10


def driver_for(path: str | Path) -> str:
    """The OGR driver that writes `path`, from its extension; UnsupportedFormat otherwise."""
    name = Path(path).name.lower()
    for ext in sorted(DRIVERS, key=len, reverse=True):
        if name.endswith(ext):
            return DRIVERS[ext]
    raise UnsupportedFormat(
        f"cannot tell the format of {Path(path).name!r} from its extension: use one of "
        f"{', '.join(DRIVERS)}"
    )


CURRENT = "valid_to IS NULL"
VALID_AT = "valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)"


def boundaries_frame(session: Session, version: int | None = None) -> gpd.GeoDataFrame:
    """Every current town, zone and grid (or those of boundary version ``version``, see
    boundaries/versions.py) as one GeoDataFrame in the export's columns."""
    sql = resources.files("boundaries").joinpath("export.sql").read_text(encoding="utf-8")
    params = {}
    if version is not None:
        params["at"] = version_at(session, version)
    sql = sql.replace("{valid}", CURRENT if version is None else VALID_AT)
    rows = [dict(r) for r in session.execute(text(sql), params).mappings()]
    geoms = [shapely.from_wkb(bytes(r.pop("wkb"))) for r in rows]
    frame = gpd.GeoDataFrame(
        {col: [r[col] for r in rows] for col in COLUMNS}, geometry=geoms, crs=WGS84
    )
    frame["version"] = frame["version"].astype("int32")
    return frame


def export_boundaries(
    session: Session, path: str | Path, version: int | None = None
) -> dict[str, int]:
    """Write every current level (or those of boundary version ``version``) to `path` (format
    from the extension); count rows by level.

    An existing file at `path` is replaced.
    """
    path = Path(path)
    driver = driver_for(path)
    if not path.parent.is_dir():
        raise UnreadableFile(f"cannot write {path}: no directory {path.parent}")
    frame = boundaries_frame(session, version)
    if frame.empty:
        raise EmptyFile("nothing to export: the database has no town, zone or grid")
    if driver == "ESRI Shapefile":
        frame = frame.rename(columns={c: c[:DBF_NAME_MAX] for c in COLUMNS})
    if path.is_file() and driver != "ESRI Shapefile":  # the driver replaces a .shp's sidecars
        path.unlink()
    try:
        pyogrio.write_dataframe(frame, path, layer=LAYER, driver=driver, promote_to_multi=True)
    except (DataSourceError, OSError) as exc:
        raise UnreadableFile(f"cannot write {path}: {str(exc).splitlines()[0]}") from exc
    return dict(Counter(frame["level"]))
