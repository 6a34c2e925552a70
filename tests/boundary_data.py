"""A small synthetic grid hierarchy in Bagong, drawn in metres, for the boundaries tests.

Two villages side by side (2 km x 1 km each), each cut into four 500 m strips: two regional
grids (serials 001, 002) and two service grids (003, 004); one zone holds both villages.
Shapes are drawn in UTM zone 49N (EPSG:32649) metres from an origin inside Bagong, so a test
can plant a gap of exactly 100 m x 100 m; `frame(...)` returns them in any CRS.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import psycopg
import shapely
from shapely import Polygon, box

UTM49N = "EPSG:32649"
ORIGIN_M = (672_000.0, 3_946_000.0)  # about 112.89 E, 35.64 N
TOWN = "140525108"
VILLAGES = {
    "140525108200000": ("巴公二村", (0, 0, 2000, 1000)),
    "140525108201000": ("巴公一村", (2000, 0, 4000, 1000)),
}
ZONE = ("140525108V01", "第一片区", (0, 0, 4000, 1000))


def rect_m(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """A rectangle in UTM 49N metres, relative to ORIGIN_M."""
    ox, oy = ORIGIN_M
    return box(ox + x0, oy + y0, ox + x1, oy + y1)


def leaf_grids() -> list[dict]:
    """The eight leaf grids: code, name, level, parent_code, geometry (UTM metres)."""
    rows = []
    for village, (_, (x0, y0, _x1, y1)) in VILLAGES.items():
        for serial in range(1, 5):
            left = x0 + (serial - 1) * 500
            rows.append(
                {
                    "code": village[:12] + f"{serial:03d}",
                    "name": f"{village[-6:-3]}-{serial}",
                    "level": "regional" if serial <= 2 else "service",
                    "parent_code": village,
                    "geometry": rect_m(left, y0, left + 500, y1),
                }
            )
    return rows


def admin_grids() -> list[dict]:
    return [
        {"code": code, "name": name, "level": "admin", "geometry": rect_m(*xy)}
        for code, (name, xy) in VILLAGES.items()
    ]


def zones() -> list[dict]:
    code, name, xy = ZONE
    return [{"code": code, "name": name, "level": "zone", "geometry": rect_m(*xy)}]


def frame(rows: list[dict], crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    """Rows drawn in UTM metres as a GeoDataFrame in `crs` (None: no CRS, coordinates in 4326)."""
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=UTM49N)
    # Densify first, as the importer does, so that straight UTM edges stay put in lon/lat and
    # grids that meet at T-junctions still join seamlessly (geo/coverage.py, MIN_WIDTH_M).
    gdf = gdf.set_geometry(shapely.segmentize(gdf.geometry.array, 50.0), crs=UTM49N)
    gdf = gdf.to_crs(crs or "EPSG:4326")
    if crs is None:
        gdf = gpd.GeoDataFrame(gdf.drop(columns="geometry"), geometry=list(gdf.geometry))
    return gdf


def lonlat(geom):
    """A UTM 49N geometry in EPSG:4326, vertex by vertex (no densifying)."""
    return gpd.GeoSeries([geom], crs=UTM49N).to_crs(4326).iloc[0]


def dense_lonlat(geom):
    """A UTM 49N geometry in EPSG:4326 as `frame` and the importer make it (densified)."""
    return lonlat(shapely.segmentize(geom, 50.0))


def write(gdf: gpd.GeoDataFrame, path: Path, **kwargs) -> Path:
    """Write `gdf` with geopandas; a file without CRS is what some tests want, quietly."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided", category=UserWarning)
        gdf.to_file(path, **kwargs)
    return path


def import_all(cli, url: str, tmp_path: Path, parent_field: bool = True) -> None:
    """Import the zone, the admin grids and the leaf grids (by level) into `url`, committed."""
    steps = [("zone", zones()), ("admin", admin_grids())]
    leaves = leaf_grids()
    steps += [(lvl, [r for r in leaves if r["level"] == lvl]) for lvl in ("regional", "service")]
    for level, rows in steps:
        path = write(frame(rows), tmp_path / f"{level}.geojson")
        extra = (
            ["--parent-field", "parent_code"]
            if parent_field and level in ("regional", "service")
            else []
        )
        result = cli(url, "boundaries", "import", str(path), "--level", level, "--commit", *extra)
        assert result.exit_code == 0, result.output


def staff_all(url: str) -> None:
    """A grid leader for every current admin grid and a grid worker for every leaf grid."""
    with psycopg.connect(_plain(url)) as conn:
        grids = conn.execute("SELECT code, level FROM grids WHERE valid_to IS NULL").fetchall()
        for code, level in grids:
            role, person_role = (
                ("leader", "grid_leader") if level == "admin" else ("worker", "grid_worker")
            )
            pid = conn.execute(
                "INSERT INTO people (name, role, town_code) VALUES (%s, %s, %s) RETURNING id",
                (f"person {code}", person_role, TOWN),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO grid_assignments (person_id, grid_code, role) VALUES (%s, %s, %s)",
                (pid, code, role),
            )


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(_plain(url)) as conn:
        return conn.execute(sql, params).fetchall()


def current_grids(url: str) -> dict[str, dict]:
    """Current grids by code: level, name, parent_code, zone_code, version, geometry (4326)."""
    rows = query(
        url,
        "SELECT code, level, name, parent_code, zone_code, version, "
        "ST_AsBinary(geom) FROM grids WHERE valid_to IS NULL",
    )
    return {
        r[0]: {
            "level": r[1],
            "name": r[2],
            "parent_code": r[3],
            "zone_code": r[4],
            "version": r[5],
            "geometry": shapely.from_wkb(bytes(r[6])),
        }
        for r in rows
    }


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")
