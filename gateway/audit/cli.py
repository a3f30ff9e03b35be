"""`gateway audit verify`: check the s.62 log's hash chain and name the first broken row."""

from __future__ import annotations

import asyncio
import sys

import click

from gateway.settings import ConfigurationError, load_settings


@click.group()
def audit() -> None:
    """The audit trail (DPA 2018 s.62)."""


@audit.command()
def verify() -> None:
    """Verify the audit log's hash chain; exit 1 naming the first broken row."""
    from gateway.audit.service import verify_chain
    from gateway.db import create_engine, create_session_factory

    try:
        settings = load_settings()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from error

    async def work() -> tuple[int | None, int]:
        engine = create_engine(settings.database_url)
        try:
            async with create_session_factory(engine)() as session:
                from sqlmodel import func, select

                from gateway.audit.models import AuditEntry

                broken = await verify_chain(session)
                count = (await session.exec(select(func.count()).select_from(AuditEntry))).one()
                return broken, int(count)
        finally:
            await engine.dispose()

    broken, count = asyncio.run(work())
    if broken is not None:
        click.echo(f"BROKEN: the audit chain is broken at row {broken}", err=True)
        sys.exit(1)
    click.echo(f"OK: {count} audit rows, hash chain intact")
