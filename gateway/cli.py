"""The `gateway` command: serve, migrate, seed, export the schema, check the configuration."""

from __future__ import annotations

import sys

import click
from starlette.applications import Starlette

from gateway import migrate, serving
from gateway.app import create_app, settle_heap_for_serving
from gateway.audit.cli import audit
from gateway.auth.cli import clients, keys, users
from gateway.console import command_settings, run_with_settings
from gateway.data_protection.cli import retention, subject_access
from gateway.db import create_engine
from gateway.documents_cli import documents
from gateway.monitoring.cli import report
from gateway.notifications.cli import notifications
from gateway.notifications.dispatcher import run_until_signalled
from gateway.schema import export_sdl
from gateway.seed import seed_demo
from gateway.settings import Settings
from gateway.welcome import welcome_text


@click.group()
def main() -> None:
    """The referral gateway."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the gateway over HTTP."""
    settings = command_settings()
    click.echo(f"GraphQL: http://{host}:{port}/graphql", err=True)
    # Several workers each build the app from the environment; one worker gets it built here.
    target = "gateway.asgi:app" if workers > 1 else _app(settings)
    if workers == 1:
        settle_heap_for_serving()
    # The limits on slow clients and the trusted-proxy rule live in server_config, which the tests serve with too.
    serving.serve(serving.server_config(settings, target, host=host, port=port, workers=workers))


def _app(settings: Settings) -> Starlette:
    return create_app(settings)


@main.group()
def db() -> None:
    """Database migrations."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: head)."""
    migrate.upgrade(command_settings().database_url, revision)
    click.echo(f"database upgraded to {revision}")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the database to REVISION (`base` empties it)."""
    migrate.downgrade(command_settings().database_url, revision)
    click.echo(f"database downgraded to {revision}")


@db.command()
def current() -> None:
    """Print the database's revision and the code's head."""

    async def work(settings: Settings) -> tuple[str | None, str | None]:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.current_revision(engine), migrate.head_revision(settings.database_url)
        finally:
            await engine.dispose()

    now, head = run_with_settings(work)
    click.echo(f"current: {now or 'none'}\nhead:    {head}")


@main.group()
def seed() -> None:
    """Load data into the database."""


@seed.command()
def demo() -> None:
    """Create the demo organisations, clients, staff and fictional casework (idempotent)."""
    for line in run_with_settings(seed_demo):
        click.echo(line)


@main.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL SDL."""
    click.echo(export_sdl(), nl=False)


@main.command()
def check() -> None:
    """Check the configuration, that the database answers, and that migrations are at head."""

    async def work(settings: Settings) -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.readiness_problem(engine, settings.database_url)
        finally:
            await engine.dispose()

    problem = run_with_settings(work)
    if problem is not None:
        click.echo(f"not ready: {problem}", err=True)
        sys.exit(1)
    click.echo("ok: configuration valid, database reachable, migrations at head")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def welcome(host: str, port: int) -> None:
    """Print what a newcomer needs: the URLs, the demo organisations, how to get a token."""
    click.echo(run_with_settings(lambda settings: welcome_text(settings, base_url=f"http://{host}:{port}")))


@main.command()
def dispatch() -> None:
    """Deliver notifications (webhooks and e-mail) until stopped with SIGTERM or SIGINT."""
    run_with_settings(run_until_signalled)


for group in (clients, users, keys, audit, report, notifications, retention, subject_access, documents):
    main.add_command(group)
