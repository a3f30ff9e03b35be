"""The `gateway` command: serve, migrate, seed, export the schema, check the configuration."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click
from starlette.applications import Starlette

from gateway.settings import ConfigurationError, Settings, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(work(_settings()))


@click.group()
def main() -> None:
    """The referral gateway."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the gateway over HTTP."""
    import uvicorn

    settings = _settings()
    click.echo(f"GraphQL: http://{host}:{port}/graphql", err=True)
    # Several workers each build the app from the environment; one worker gets it built here.
    target = "gateway.asgi:app" if workers > 1 else _app(settings)
    if workers == 1:
        from gateway.app import settle_heap_for_serving

        settle_heap_for_serving()
    uvicorn.run(target, host=host, port=port, workers=workers, access_log=False, log_config=None, server_header=False)


def _app(settings: Settings) -> Starlette:
    from gateway.app import create_app

    return create_app(settings)


@main.group()
def db() -> None:
    """Database migrations."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: head)."""
    from gateway import migrate

    migrate.upgrade(_settings().database_url, revision)
    click.echo(f"database upgraded to {revision}")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the database to REVISION (`base` empties it)."""
    from gateway import migrate

    migrate.downgrade(_settings().database_url, revision)
    click.echo(f"database downgraded to {revision}")


@db.command()
def current() -> None:
    """Print the database's revision and the code's head."""
    from gateway import migrate
    from gateway.db import create_engine

    async def work(settings: Settings) -> tuple[str | None, str | None]:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.current_revision(engine), migrate.head_revision(settings.database_url)
        finally:
            await engine.dispose()

    now, head = _run(work)
    click.echo(f"current: {now or 'none'}\nhead:    {head}")


@main.group()
def seed() -> None:
    """Load data into the database."""


@seed.command()
def demo() -> None:
    """Create the demo organisations (idempotent)."""
    from gateway.seed import seed_demo

    for line in _run(seed_demo):
        click.echo(line)


@main.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL SDL."""
    from gateway.graphql.schema import export_sdl

    click.echo(export_sdl(), nl=False)


@main.command()
def check() -> None:
    """Check the configuration, that the database answers, and that migrations are at head."""
    from gateway import migrate
    from gateway.db import create_engine

    async def work(settings: Settings) -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.readiness_problem(engine, settings.database_url)
        finally:
            await engine.dispose()

    problem = _run(work)
    if problem is not None:
        click.echo(f"not ready: {problem}", err=True)
        sys.exit(1)
    click.echo("ok: configuration valid, database reachable, migrations at head")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def welcome(host: str, port: int) -> None:
    """Print what a newcomer needs: the URLs, the demo organisations, how to get a token."""
    from gateway.welcome import welcome_text

    click.echo(_run(lambda settings: welcome_text(settings, base_url=f"http://{host}:{port}")))


def _register_subcommands() -> None:
    from gateway.audit.cli import audit
    from gateway.auth.cli import clients, keys, users
    from gateway.monitoring.cli import report

    for group in (clients, users, keys, audit, report):
        main.add_command(group)


_register_subcommands()
