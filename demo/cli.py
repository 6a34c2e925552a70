import click


@click.group("demo")
def demo_group() -> None:
    """The Bagong demo dataset."""
