"""`gateway clients`, `gateway users` and `gateway keys`: administering who may call the gateway."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from gateway.auth import service
from gateway.auth.keys import rotate_signing_key
from gateway.auth.principal import Role, Scope
from gateway.console import in_transaction
from gateway.db import AsyncSession
from gateway.settings import Settings

T = TypeVar("T")


def _in_transaction(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    return in_transaction(work, refusals=service.AuthAdminError, describe=str)


@click.group()
def clients() -> None:
    """OAuth machine clients."""


@clients.command("add")
@click.option("--org", "organisation", required=True, help="Organisation slug.")
@click.option("--scopes", required=True, help=f"Space-separated, from: {' '.join(s.value for s in Scope)}")
@click.option("--name", default=None, help="A label for the integration.")
@click.option("--jwks", "jwks_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--secret", "use_secret", is_flag=True, help="Authenticate with a generated secret (shown once).")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="For a browser application (code + PKCE).")
@click.option("--json", "as_json", is_flag=True, help="Print client_id and client_secret as JSON.")
def add_client(
    organisation: str,
    scopes: str,
    name: str | None,
    jwks_file: Path | None,
    use_secret: bool,
    redirect_uris: tuple[str, ...],
    as_json: bool,
) -> None:
    """Register a client: private_key_jwt with --jwks FILE, or a hashed secret with --secret."""
    if (jwks_file is None) == (not use_secret):
        raise click.UsageError("give exactly one of --jwks FILE or --secret")
    jwks = json.loads(jwks_file.read_text()) if jwks_file else None
    created = _in_transaction(
        lambda db, _: service.add_client(
            db=db,
            organisation_slug=organisation,
            name=name or f"{organisation} integration",
            scopes=scopes,
            jwks=jwks,
            redirect_uris=list(redirect_uris),
        )
    )
    if as_json:
        click.echo(json.dumps({"client_id": created.client.client_id, "client_secret": created.secret}))
        return
    click.echo(f"client_id:     {created.client.client_id}")
    click.echo(f"auth method:   {created.client.auth_method}")
    click.echo(f"scopes:        {' '.join(created.client.scopes)}")
    if created.secret:
        click.echo(f"client_secret: {created.secret}   (shown once; only its hash is kept)")


@clients.command("list")
def list_clients() -> None:
    """List clients: id, organisation, method, scopes, whether active. Never secrets."""
    rows = _in_transaction(lambda db, _: service.list_clients(db=db))
    for client, slug in rows:
        state = "active" if client.active else "disabled"
        click.echo(f"{client.client_id:<36} {slug:<20} {client.auth_method:<20} {state:<9} {' '.join(client.scopes)}")


@clients.command("disable")
@click.argument("client_id")
def disable_client(client_id: str) -> None:
    """Disable a client; its tokens stop working on the next request."""
    _in_transaction(lambda db, _: service.disable_client(db=db, client_id=client_id))
    click.echo(f"disabled {client_id}")


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
def rotate_secret(client_id: str, as_json: bool) -> None:
    """Give a client a new secret (shown once); the old one stops working at once."""
    secret = _in_transaction(lambda db, _: service.rotate_client_secret(db=db, client_id=client_id))
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        click.echo(f"client_secret: {secret}   (shown once; only its hash is kept)")


@clients.command("portal")
@click.option("--organisation", default="hub", show_default=True, help="The organisation that owns the client.")
def register_portal_client(organisation: str) -> None:
    """Register (or bring up to date) the staff portal's own client: run after changing the issuer URL or the
    session secret, from which its secret is derived."""
    from gateway.auth.portal_sessions import ensure_portal_client

    client = _in_transaction(
        lambda db, settings: ensure_portal_client(
            db=db,
            organisation_slug=organisation,
            issuer_url=settings.issuer_url,
            session_secret=settings.session_secret,
        )
    )
    click.echo(f"portal client {client.client_id} ready; redirect URI {client.redirect_uris[0]}")


@click.group()
def users() -> None:
    """Staff who sign in through the browser."""


@users.command("add")
@click.option("--org", "organisation", required=True)
@click.option("--role", "roles", required=True, multiple=True, type=click.Choice([r.value for r in Role]))
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of generating one.")
def add_user(organisation: str, roles: tuple[str, ...], email: str, password_stdin: bool) -> None:
    """Create a user; a generated password is shown once."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    user, plain = _in_transaction(
        lambda db, _: service.add_user(
            db=db, organisation_slug=organisation, email=email, roles=list(roles), password=password
        )
    )
    click.echo(f"user {user.id} created with roles {', '.join(user.roles)}")
    if password is None:
        click.echo(f"password: {plain}   (shown once)")


@users.command("deactivate")
@click.option("--email", required=True)
def deactivate_user(email: str) -> None:
    """Deactivate a user; their tokens stop working on the next request."""
    _in_transaction(lambda db, _: service.set_user_active(db=db, email=email, active=False))
    click.echo("user deactivated")


@click.group()
def keys() -> None:
    """Access-token signing keys."""


@keys.command("rotate")
def rotate() -> None:
    """Introduce a new signing key; old keys keep verifying until their tokens have expired."""
    key, retired = _in_transaction(
        lambda db, settings: rotate_signing_key(db=db, access_token_ttl_seconds=settings.access_token_ttl_seconds)
    )
    click.echo(f"signing with {key.kid}" + (f"; retiring {', '.join(retired)}" if retired else ""))
