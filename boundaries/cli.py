"""``gridgov boundaries``: import, export and validate the grid hierarchy.

Thin: parse, call boundaries.importer / exporter / validation (and, for ``import --draft``,
planning.import_draft), print. Bad input becomes a one-line message and exit 2
(db/cli_support.py); `validate` exits 1 only when the coverage has errors.
"""

from __future__ import annotations

import getpass
import json
from contextlib import AbstractContextManager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from boundaries.errors import BoundaryError, RefusedFeatures
from boundaries.exporter import export_boundaries
from boundaries.importer import import_boundaries
from boundaries.reader import LEVELS, MAX_LISTED
from boundaries.validation import coverage_report
from boundaries.versions import list_versions
from db.cli_support import BadInput, cli_session
from planning.errors import PlanningError
from planning.import_draft import import_as_draft


def _list_refusals(exc: Exception) -> None:
    # the message names the first few refused features; a longer list goes to stderr in full
    if isinstance(exc, RefusedFeatures) and len(exc.refusals) > MAX_LISTED:
        for line in exc.refusals:
            click.echo(f"refused: {line}", err=True)


def _session(write: bool) -> AbstractContextManager[Session]:
    return cli_session(write, refused=BoundaryError, on_refused=_list_refusals)


def _actor() -> str:
    """Who made a draft from the command line, as drafts record it: the system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "cli"


@click.group("boundaries")
def boundaries_group() -> None:
    """Grid boundaries: import, validate, export, versions.

    \b
    Example:
      gridgov boundaries import villages.gpkg --layer villages --level admin --commit
      gridgov boundaries validate --json
      gridgov boundaries export bagong.gpkg
    """


@boundaries_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--level",
    required=True,
    type=click.Choice(LEVELS),
    help="What the features are: zones, admin grids (villages), regional or service grids.",
)
@click.option(
    "--source-crs",
    metavar="CRS",
    help="The file's CRS (EPSG:4547, 4326, wgs84, cgcs2000); required when it declares none.",
)
@click.option("--code-field", default="code", show_default=True, metavar="F")
@click.option("--name-field", metavar="F", help="Default: a field called name, else the code.")
@click.option(
    "--parent-field",
    metavar="F",
    help="Field with the parent's code (a leaf grid's admin grid, an admin grid's zone); "
    "default: the polygon that contains the feature.",
)
@click.option("--layer", metavar="L", help="Layer to read (GeoPackage, KML with several layers).")
@click.option(
    "--town-code",
    metavar="CODE",
    help="Town of the features; default: the common 9-digit prefix of the codes.",
)
@click.option("--town-name", metavar="NAME", help="Name of the town, if the import creates it.")
@click.option("--commit", is_flag=True, help="Write; without it, only print what would change.")
@click.option("--draft", is_flag=True,
              help="Make a new draft for the planner holding the file's grids; write no grids.")
def import_command(
    path: Path,
    level: str,
    source_crs: str | None,
    code_field: str,
    name_field: str | None,
    parent_field: str | None,
    layer: str | None,
    town_code: str | None,
    town_name: str | None,
    commit: bool,
    draft: bool,
) -> None:
    """Import zones or grids from PATH (GeoJSON, Shapefile or .zip, GeoPackage, KML, ...).

    Reprojects to EPSG:4326, repairs invalid polygons (and says so), and prints what changes:
    codes added, new versions of changed ones, unchanged, and current ones not in the file
    (kept). A dry run unless --commit. A file with a `level` column (like our export) gives
    only its rows of --level.

    With --draft, nothing of the boundaries is written: a new draft of the village (when every
    feature is a leaf grid of one village) or of the town gets the file's new and changed grids,
    and the draft's id, revision, changes and validation are printed (planning/import_draft.py).
    Grids only: not with --level zone, nor with --commit.

    \b
    Example:
      gridgov boundaries import villages.shp --level admin --source-crs EPSG:4547
      gridgov boundaries import grids.gpkg --layer service --level service \\
          --parent-field village_code --commit
      gridgov boundaries import 140525108201.geojson --level service --draft
    """
    if draft and commit:
        raise BadInput("--draft and --commit cannot be used together: --draft makes a draft "
                       "and writes no grids, --commit writes the grids")
    if draft and level == "zone":
        raise BadInput("--draft cannot import zones: drafts hold grids only "
                       "(import zones with --commit)")
    refused = (BoundaryError, PlanningError) if draft else BoundaryError
    with cli_session(commit or draft, refused=refused, on_refused=_list_refusals) as session:
        plan = import_boundaries(
            session,
            path,
            level,
            commit=commit,
            town_code=town_code,
            town_name=town_name,
            progress=True,
            layer=layer,
            source_crs=source_crs,
            code_field=code_field,
            name_field=name_field,
            parent_field=parent_field,
        )
        if draft:
            lines = import_as_draft(session, plan, _actor()).lines()
        else:
            lines = plan.lines()
    for line in lines:
        click.echo(line)


@boundaries_group.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--version", "version", type=int, metavar="N",
              help="Write boundary version N (see `gridgov boundaries versions`), not the current "
                   "boundaries.")
def export_command(path: Path, version: int | None) -> None:
    """Write every current town, zone and grid to PATH, format from the extension.

    One layer `boundaries`, columns code, name, level, parent_code, zone_code, version;
    .gpkg, .geojson, .shp, .shp.zip, .kml, .fgb. An existing file is replaced.

    \b
    Example:
      gridgov boundaries export bagong.gpkg
      gridgov boundaries export bagong-v1.gpkg --version 1
    """
    with _session(write=False) as session:
        counts = export_boundaries(session, path, version)
    click.echo(f"wrote {path}: " + ", ".join(f"{n} {level}" for level, n in counts.items()))


@boundaries_group.command("versions")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def versions_command(as_json: bool) -> None:
    """List the versions of the boundaries, oldest first: number, when it took (or takes)
    effect, how many grids it has and how many grid rows began or ended with it.

    \b
    Example:
      gridgov boundaries versions
    """
    with _session(write=False) as session:
        rows = list_versions(session)
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = "" if r["in_force"] else "  (not yet in force)"
        click.echo(f"{r['number']:>4}  {r['town_code']}  {r['effective_at']:%Y-%m-%d %H:%M:%S%z}"
                   f"  {r['grids']} grids, {r['grid_rows_changed']} grid rows changed{state}")


@boundaries_group.command("validate")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def validate_command(ctx: click.Context, as_json: bool) -> None:
    """Check the current hierarchy's coverage; exit 1 when there is any error.

    Reports gaps and overlaps (m² and a lon, lat inside each), grids outside their village
    or town, grids without a parent, grids without a grid worker (leaders for admin grids).

    \b
    Example:
      gridgov boundaries validate --json | python -m json.tool
    """
    with _session(write=False) as session:
        report = coverage_report(session)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        for line in report.lines():
            click.echo(line)
    if not report.ok:
        ctx.exit(1)
