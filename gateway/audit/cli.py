"""`gateway audit verify`: check the s.62 log's hash chain and name the first broken row."""

from __future__ import annotations

import sys

import click
from sqlmodel import func, select

from gateway.audit.models import AuditEntry
from gateway.audit.service import verify_chain
from gateway.console import run_with_settings, with_session
from gateway.db import AsyncSession
from gateway.settings import Settings


@click.group()
def audit() -> None:
    """The audit trail (DPA 2018 s.62)."""


async def _verify(db: AsyncSession) -> tuple[int | None, int]:
    broken = await verify_chain(db)
    count = (await db.exec(select(func.count()).select_from(AuditEntry))).one()
    return broken, int(count)


@audit.command()
def verify() -> None:
    """Verify the audit log's hash chain; exit 1 naming the first broken row."""

    async def work(settings: Settings) -> tuple[int | None, int]:
        return await with_session(settings, _verify)

    broken, count = run_with_settings(work)
    if broken is not None:
        click.echo(f"BROKEN: the audit chain is broken at row {broken}", err=True)
        sys.exit(1)
    click.echo(f"OK: {count} audit rows, hash chain intact")
