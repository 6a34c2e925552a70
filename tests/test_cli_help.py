"""Every ``gridgov`` command, however deep in its groups, has a runnable example in its
``--help`` (README's promise; STYLE.md: mercantile's CLI)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from web.cli import main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command and group under ``group``."""
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


COMMANDS = _commands(main)


def test_the_walk_finds_every_group_and_nested_command():
    assert {("db",), ("db", "start"), ("db", "upgrade"), ("boundaries", "import"), ("route",),
            ("serve",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_an_example_in_its_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output  # "Example:" or "Examples:"
    example = result.output.split("Example", 1)[1]
    assert f"gridgov {' '.join(path)}" in example, example
