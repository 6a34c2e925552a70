import click


@click.group("boundaries")
def boundaries_group() -> None:
    """Grid boundaries: import, validate, export."""
