"""``gridgov hotspots``: the map's hot-spot analysis on any point file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from cases.hotspots import HotspotError, file_hotspots, read_points
from geo.hotspots import DEFAULT_PERMUTATIONS


@click.command("hotspots")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.argument("output_path", metavar="OUTPUT", type=click.Path(path_type=Path))
@click.option("--weight-field", default=None, help="Sum this numeric column instead of counting points.")
@click.option("--cell-size", "cell_size", default=250.0, show_default=True, type=float, help="Cell edge, metres.")
@click.option("--source-crs", default=None, help="CRS of INPUT when it names none (CSV: wgs84); gcj02 and bd09 too.")
@click.option("--lon-field", default="lon", show_default=True, help="CSV longitude column.")
@click.option("--lat-field", default="lat", show_default=True, help="CSV latitude column.")
@click.option("--permutations", default=DEFAULT_PERMUTATIONS, show_default=True, type=click.IntRange(99, 99_999))
@click.option("--seed", default=12345, show_default=True, type=int, help="Same seed, same answer.")
def hotspots_command(input_path: Path, output_path: Path, weight_field, cell_size, source_crs, lon_field,
                     lat_field, permutations, seed) -> None:
    """Getis-Ord Gi* hot and cold spots of the points in INPUT, written to OUTPUT as GeoJSON
    cells (EPSG:4326) with count, z, p (FDR-adjusted), p_sim and class.

    INPUT: GeoJSON, Shapefile, GeoPackage or CSV with lon,lat columns, in any CRS.

    \b
    Examples:
      gridgov hotspots cases.csv hot.geojson --cell-size 200
      gridgov hotspots incidents.gpkg hot.geojson --weight-field severity
    """
    if output_path.suffix.lower() not in (".geojson", ".json"):
        raise click.ClickException(f"{output_path}: the output is GeoJSON; name it .geojson")
    if not output_path.parent.exists():
        raise click.ClickException(f"{output_path.parent}: no such directory")
    started = time.monotonic()
    try:
        lon, lat, weights = read_points(input_path, weight_field=weight_field, source_crs=source_crs,
                                        lon_field=lon_field, lat_field=lat_field)
        result = file_hotspots(lon, lat, weights, cell_size, permutations=permutations, seed=seed)
    except (HotspotError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    output_path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    classes = ", ".join(f"{k} {v}" for k, v in result["properties"]["classes"].items())
    click.echo(f"{len(lon):,} points, {len(result['features']):,} cells of {cell_size:g} m in "
               f"{time.monotonic() - started:.1f} s: {classes}")
