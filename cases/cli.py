"""The cases package's commands: ``gridgov route`` (bulk point -> grid), ``gridgov cases
import`` (historical cases) and ``gridgov hotspots`` (Gi* on any point file); web/cli.py
adds them to the ``gridgov`` group.

Thin: parse, call cases.bulk / cases.history / cases.hotspots, print. A refused file or
option is a one-line message and exit 2 (db/cli_support.py); ``hotspots`` keeps its exit 1.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from cases.errors import CaseError
from cases.hotspots import HotspotError, file_hotspots, read_points
from db.cli_support import cli_session
from geo.hotspots import DEFAULT_PERMUTATIONS


def _session(write: bool) -> AbstractContextManager[Session]:
    return cli_session(write, refused=CaseError)


_SOURCE_CRS_HELP = (
    "CRS of the coordinates: wgs84, cgcs2000, gcj02 (most Chinese map apps), bd09 (Baidu) or "
    "an EPSG code. Default: a CSV's are wgs84, an OGR file's its own (required if it has none)."
)


@click.command("route")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.argument("output_path", metavar="OUTPUT", type=click.Path(path_type=Path))
@click.option("--source-crs", metavar="CRS", help=_SOURCE_CRS_HELP)
@click.option("--lon-field", default="lon", show_default=True, metavar="F", help="CSV longitude column.")
@click.option("--lat-field", default="lat", show_default=True, metavar="F", help="CSV latitude column.")
@click.option("--layer", metavar="L", help="Layer to read (a GeoPackage with several).")
@click.option("--chunk-size", default=100_000, show_default=True, type=click.IntRange(min=1),
              metavar="N", help="Rows read, routed and written at a time.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def route_command(input_path: Path, output_path: Path, source_crs: str | None, lon_field: str,
                  lat_field: str, layer: str | None, chunk_size: int, as_json: bool) -> None:
    """Route every point of INPUT to its grid and write OUTPUT with four columns added:
    grid_code (leaf grid), admin_code, on_boundary, outside.

    INPUT is a CSV with lon,lat columns or a point layer (GeoJSON, GeoPackage, Shapefile, ...);
    OUTPUT's format comes from its extension: .csv, .geojson, .gpkg, .shp (there the field is
    on_boundar). Every input column is kept; OGR outputs carry the point in WGS 84. Streams:
    any size that fits on disk. Semantics are /api/v1/locate's: a point on a boundary is inside,
    on an edge shared by two grids the smallest code wins. A row without a usable point is kept,
    marked outside, and counted. A `crs` column, where filled, overrides --source-crs per row.

    \b
    Example:
      gridgov route reports.csv routed.csv --source-crs gcj02
      gridgov route hazards.gpkg hazards_routed.geojson --chunk-size 50000
    """
    from cases.bulk import check_output, load_router, open_points, route_file

    with _session(write=False) as session:
        source = open_points(input_path, source_crs=source_crs, lon_field=lon_field,
                             lat_field=lat_field, layer=layer)
        check_output(source, output_path)
        router = load_router(session)
        summary = route_file(router, source, output_path, chunk_size=chunk_size, progress=True)
    if as_json:
        click.echo(json.dumps({"output": str(output_path), **summary.__dict__}, ensure_ascii=False))
        return
    for line in summary.lines():
        click.echo(line)
    click.echo(f"wrote {output_path}")


@click.group("cases")
def cases_group() -> None:
    """Cases: import historical cases.

    \b
    Example:
      gridgov cases import past_cases.csv --source-crs gcj02 --commit
    """


@cases_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--source-crs", metavar="CRS", help=_SOURCE_CRS_HELP)
@click.option("--lon-field", default="lon", show_default=True, metavar="F", help="CSV longitude column.")
@click.option("--lat-field", default="lat", show_default=True, metavar="F", help="CSV latitude column.")
@click.option("--layer", metavar="L", help="Layer to read (a GeoPackage with several).")
@click.option("--commit", is_flag=True, help="Write; without it, only report what would load.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_cases_command(ctx: click.Context, path: Path, source_crs: str | None, lon_field: str,
                         lat_field: str, layer: str | None, commit: bool, as_json: bool) -> None:
    """Load historical cases from PATH (a CSV with lon,lat or a point layer); a dry run unless
    --commit. Exit 1 when some rows were refused (the others load), 2 for a file that cannot
    be imported at all.

    Columns: category (a code, or its Chinese name) and created_at (ISO 8601; local time
    without an offset) are required; description, status (default closed), channel (default
    patrol), closed_at, satisfaction, address and crs are optional. Each row is routed like
    `gridgov route`; rows outside coverage are refused. Each case gets an `imported` event;
    its deadline comes from its category and the business calendar. A file loads only once.

    \b
    Example:
      gridgov cases import past_cases.csv --source-crs gcj02
      gridgov cases import past_cases.csv --source-crs gcj02 --commit
    """
    from cases.history import import_cases

    with _session(write=commit) as session:
        report = import_cases(session, path, source_crs=source_crs, lon_field=lon_field,
                              lat_field=lat_field, layer=layer, commit=commit, progress=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        for line in report.lines():
            click.echo(line)
    if report.refused:
        ctx.exit(1)


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
