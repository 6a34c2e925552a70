"""``gridgov users``: add accounts, issue tokens, list and disable accounts."""

from __future__ import annotations

import sys

import click

from accounts import service
from accounts.actor import ROLES
from accounts.errors import AccountError
from db.cli_support import BadInput, cli_session


@click.group("users")
def users_group() -> None:
    """Accounts: who may sign in, with which role and scope.

    \b
    Example:
      gridgov users add zhang --role town_operator --password-stdin <<< 'a long password'
    """


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, metavar="ROLE", help="One of: " + ", ".join(ROLES) + ".")
@click.option(
    "--scope",
    metavar="CODE",
    help="A village's 12-digit code or a zone's code (village roles), a department code "
    "(department_handler), a town code (default: the town). Grid workers take theirs "
    "from --person.",
)
@click.option(
    "--person", "person_id", type=int, metavar="ID", help="The person in `people` (grid workers)."
)
@click.option(
    "--display-name", help="The name the pages show (default: the person's name, or NAME)."
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read a password for /login from the first line of stdin.",
)
def add(
    name: str,
    role: str,
    scope: str | None,
    person_id: int | None,
    display_name: str | None,
    password_stdin: bool,
) -> None:
    """Add an account and print a new API token for it, once (only its hash is kept).

    \b
    Examples:
      gridgov users add wang --role village_operator --scope 140525108227 --password-stdin
      gridgov users add li --role grid_worker --person 412
      gridgov users add chen --role department_handler --scope chengguan
    """
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise BadInput("--password-stdin: the first line of stdin is empty")
    with cli_session(write=True, refused=AccountError) as session:
        account = service.create_account(
            session,
            name,
            role,
            scope=scope,
            person_id=person_id,
            password=password,
            display_name=display_name,
        )
        token, expires = service.issue_token(session, name)
    scope_text = f"{account['scope_kind']} {account['scope_code'] or ''}".strip()
    click.echo(
        f"added {name} ({role}, scope {scope_text}); its API token, shown once, valid until "
        f"{expires:%Y-%m-%d}:",
        err=True,
    )
    click.echo(token)


@users_group.command("token")
@click.argument("name")
def token(name: str) -> None:
    """Print a new API token for an account (the old ones stay valid until they expire).

    \b
    Example:
      gridgov users token wang
    """
    with cli_session(write=True, refused=AccountError) as session:
        new, expires = service.issue_token(session, name)
    click.echo(f"a new API token for {name}, shown once, valid until {expires:%Y-%m-%d}:", err=True)
    click.echo(new)


@users_group.command("list")
def list_users() -> None:
    """List the accounts: name, role, scope, person, live tokens, disabled.

    \b
    Example:
      gridgov users list
    """
    with cli_session(write=False, refused=AccountError) as session:
        rows = service.list_accounts(session)
    for r in rows:
        state = f"disabled {r['disabled_at']:%Y-%m-%d}" if r["disabled_at"] else "active"
        person = f"person {r['person_id']}" if r["person_id"] else "-"
        click.echo(
            f"{r['name']}\t{r['role']}\t{r['scope_kind']} {r['scope_code'] or ''}\t{person}\t"
            f"{r['live_tokens']} tokens\t{state}\t{r['display_name']}"
        )


@users_group.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable an account: it can no longer sign in, its tokens are revoked, its sessions ended.

    \b
    Example:
      gridgov users disable wang
    """
    with cli_session(write=True, refused=AccountError) as session:
        service.disable(session, name)
    click.echo(f"disabled {name}: its tokens are revoked and its sessions ended")
