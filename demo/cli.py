"""``gridgov demo``: the Bagong demo dataset."""

from __future__ import annotations

import time

import click

from accounts import service
from db.cli_support import BadInput
from db.session import database_url, session_scope
from demo import province, registry
from demo.accounts import sign_in_text
from demo.load import DemoError, has_town, load_demo


@click.group("demo")
def demo_group() -> None:
    """The Bagong (巴公镇) demo dataset.

    \b
    Example:
      gridgov demo load --if-empty
    """


@demo_group.command("load")
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same town.")
@click.option("--cases", "n_cases", default=4107, show_default=True, type=click.IntRange(0, 10_000_000),
              help="Historical cases over the past year (4,107 is the town's yearly figure).")
@click.option("--residents", default=registry.RESIDENTS, show_default=True, type=int,
              help=f"Residents in households ({registry.RESIDENTS_MIN:,} to {registry.RESIDENTS_MAX:,}); "
                   "86,000 is the town's whole resident population.")
@click.option("--towns", default=1, show_default=True, type=int,
              help=f"A province: Bagong and copies of it, 1 to {province.TOWNS_MAX:,} towns in all, "
                   "the --cases spread over them (demo/province.py).")
@click.option("--replace", is_flag=True, help="Wipe existing boundaries, people and cases first.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has a town.")
def load(seed: int, n_cases: int, residents: int, towns: int, replace: bool,
         if_empty: bool) -> None:
    """Load the demo town: 38 villages, 381 leaf grids, people, addresses, enterprises, hazards, cases.

    \b
    Examples:
      gridgov demo load --seed 1
      gridgov demo load --replace --cases 1000000
      gridgov demo load --replace --residents 86000
      gridgov demo load --replace --towns 1000 --cases 10000000
    """
    # refused before anything is looked at or written (exit 2, db/cli_support.py)
    try:
        registry.check_residents(residents)
    except ValueError as exc:
        raise BadInput(f"--residents: {exc}") from exc
    try:
        province.check_towns(towns)
    except ValueError as exc:
        raise BadInput(f"--towns: {exc}") from exc
    url = database_url()
    if if_empty and has_town(url):
        click.echo("a town is already loaded: leaving it as it is")
        return
    started = time.monotonic()
    try:
        counts = load_demo(url, seed=seed, cases=n_cases, progress=True, replace=replace,
                           residents=residents, towns=towns)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    summary = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items())
    click.echo(f"loaded the Bagong demo (seed {seed}) in {time.monotonic() - started:.1f} s: {summary}")
    with session_scope(url) as session:
        click.echo(sign_in_text(service.list_accounts(session)))
