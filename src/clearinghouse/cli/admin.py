"""`clearinghouse admin`: organisations and API tokens."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import orjson
import typer
from rich.table import Table

from clearinghouse.cli import render
from clearinghouse.config import Settings
from clearinghouse.errors import IdentityError
from clearinghouse.identity import passwords
from clearinghouse.identity.model import OrgKind, Role, Scope
from clearinghouse.store.db import open_engine
from clearinghouse.store.identity import OPERATOR, IdentityStore
from clearinghouse.store.web_accounts import WebAccounts

admin_app = typer.Typer(help="Organisations, users and API tokens.", no_args_is_help=True)
console = render.console()


def _operator() -> str:
    """The audit log's actor for a local administrator: who ran the command."""
    return f"{OPERATOR}:{getpass.getuser()}"


def _identity() -> IdentityStore:
    return IdentityStore(open_engine(Settings.from_env()))


@admin_app.command("create-org")
def create_org(
    name: Annotated[str, typer.Argument(help="Organisation name (unique)")],
    kind: Annotated[OrgKind, typer.Option(help="What the organisation is")],
    sector: Annotated[str | None, typer.Option(help="Critical-infrastructure sector (partners only)")] = None,
) -> None:
    """Register an organisation."""
    organisation = _identity().create_organisation(name, kind, sector, actor=_operator())
    console.print(f"created {organisation.kind.value} organisation {organisation.name!r} ({organisation.id})")


@admin_app.command("create-token")
def create_token(
    org: Annotated[str, typer.Option(help="Organisation name")],
    user: Annotated[str, typer.Option(help="User the token belongs to (created if new)")],
    role: Annotated[Role, typer.Option(help="The user's role")],
    scope: Annotated[list[Scope] | None, typer.Option(help="Limit the token to these scopes (repeatable)")] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days until the token expires")] = 90,
) -> None:
    """Issue an API token. It is printed once and stored only as a hash."""
    grant = _identity().create_token(org, user, role, scope, timedelta(days=days), actor=_operator())
    console.print(
        f"token id {grant.token_id}, expires {grant.expires_at:%Y-%m-%d}, scopes "
        f"{', '.join(sorted(s.value for s in grant.scopes))}",
        highlight=False,
    )
    console.print("copy it now, it is not shown again:", style="bold")
    print(grant.plaintext)


@admin_app.command("revoke-token")
def revoke_token(token_id: Annotated[str, typer.Argument(help="The token id printed by create-token")]) -> None:
    """Revoke a token at once."""
    _identity().revoke_token(token_id, actor=_operator())
    console.print(f"revoked token {token_id}")


@admin_app.command("list-tokens")
def list_tokens(
    org: Annotated[str | None, typer.Option(help="Only this organisation's tokens")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every API token (never its secret): organisation, user, role, scopes, expiry, status and last use."""
    found = _identity().list_tokens(org)
    now = datetime.now(UTC)
    if as_json:
        rows = [
            {
                "token_id": t.token_id,
                "organisation": t.organisation,
                "user": t.user,
                "role": t.role.value,
                "scopes": [s.value for s in t.scopes],
                "status": t.status(now),
                "created_at": t.created_at.isoformat(),
                "expires_at": t.expires_at.isoformat(),
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
            }
            for t in found
        ]
        print(orjson.dumps(rows).decode())
        return
    table = Table(title=f"{len(found)} token(s)")
    for column in ("id", "organisation", "user", "role", "scopes", "status", "expires", "last used"):
        table.add_column(column, overflow="fold")
    for t in found:
        table.add_row(
            t.token_id,
            t.organisation,
            t.user,
            t.role.value,
            " ".join(s.value for s in t.scopes),
            t.status(now),
            f"{t.expires_at:%Y-%m-%d}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
        )
    console.print(table)


def _accounts() -> WebAccounts:
    return WebAccounts(open_engine(Settings.from_env()))


def _new_password(prompt: str) -> str:
    """A password from standard input when it is not a terminal (scripts), else asked twice without echo."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise IdentityError("the two passwords differ")
    return first


@admin_app.command("create-user")
def create_user(
    org: Annotated[str, typer.Option(help="Organisation name")],
    login: Annotated[str, typer.Option(help="The user name to sign in with (unique)")],
    role: Annotated[Role, typer.Option(help="The user's role")],
) -> None:
    """A person who signs in to the web interface; the password is read from the terminal (or standard input)."""
    _accounts().create_user(org, login, role, _new_password(f"password for {login}: "), actor=_operator())
    console.print(f"created user {login!r} ({role.value} of {org!r}); sign in at /sign-in", highlight=False)


@admin_app.command("set-password")
def set_password(login: Annotated[str, typer.Option(help="The user's login")]) -> None:
    """A new password (also lifts a lock-out and ends the user's sessions)."""
    _accounts().set_password(login, _new_password(f"new password for {login}: "), actor=_operator())
    console.print(f"password of {login!r} changed; their sessions are ended", highlight=False)


@admin_app.command("enable-totp")
def enable_totp(login: Annotated[str, typer.Option(help="The user's login")]) -> None:
    """Require an authenticator code at sign-in; prints the secret and otpauth URI once (for the user's app)."""
    secret = _accounts().enable_totp(login, actor=_operator())
    console.print("give these to the user's authenticator app; they are not shown again:", style="bold")
    print(secret)
    print(passwords.totp_uri(secret, login))
