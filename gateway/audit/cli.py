"""`gateway audit verify` checks the s.62 log's hash chain and its unsealed tail; `gateway audit seal` seals it."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.sealer import run_sealer, seal_pass, seal_until_done
from gateway.audit.service import ChainReport, verify_report
from gateway.clock import utc_now
from gateway.console import run_with_settings, with_session
from gateway.db import create_engine
from gateway.settings import Settings


@click.group()
def audit() -> None:
    """The audit trail (DPA 2018 s.62)."""


def _seconds(span: timedelta | None) -> str:
    return "none" if span is None else f"{span.total_seconds():.3f} s"


@audit.command()
def verify() -> None:
    """Verify the audit log's hash chain; exit 1 naming the first broken row. Reports the unsealed tail."""

    async def work(settings: Settings) -> ChainReport:
        return await with_session(settings, verify_report)

    report = run_with_settings(work)
    if report.broken_at is not None:
        click.echo(f"BROKEN: the audit chain is broken at row {report.broken_at}", err=True)
        sys.exit(1)
    oldest = None if report.oldest_unsealed_at is None else utc_now() - report.oldest_unsealed_at
    click.echo(f"OK: {report.sealed + report.unsealed} audit rows, hash chain intact")
    click.echo(
        f"sealed: {report.sealed}; unsealed: {report.unsealed} (oldest {_seconds(oldest)}); "
        f"longest sealing delay: {_seconds(report.longest_sealing_delay)}; seals: {report.seals}"
    )


async def _follow(engine: AsyncEngine, interval_seconds: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    try:
        await run_sealer(engine, stop, interval_seconds=interval_seconds)
    finally:
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signal_number)


@audit.command()
@click.option("--once", is_flag=True, help="One pass (at most one batch) instead of passes until none is left.")
@click.option(
    "--follow",
    is_flag=True,
    help="Keep sealing until SIGTERM or SIGINT: a sealer process of its own, with GATEWAY_SEAL_AUDIT_IN_SERVE off.",
)
def seal(once: bool, follow: bool) -> None:
    """Seal the rows of ended transactions into the chain (PostgreSQL; SQLite writers seal their own rows)."""

    async def work(settings: Settings) -> int:
        engine = create_engine(settings.database_url)
        try:
            if follow:
                await _follow(engine, settings.seal_audit_interval_seconds)
                return 0
            if once:
                done = await seal_pass(engine)
                if done.busy:
                    click.echo("another sealer is running; nothing done")
                return done.sealed
            return await seal_until_done(engine)
        finally:
            await engine.dispose()

    sealed = run_with_settings(work)
    click.echo(f"sealed {sealed} audit rows")
