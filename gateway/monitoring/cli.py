"""`gateway report quarterly`: the quarterly return from the command line, as CSV or an Excel workbook."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlmodel import col, select

from gateway.auth.principal import Principal, Scope
from gateway.console import run_with_settings, with_session
from gateway.db import AsyncSession
from gateway.errors import DomainError
from gateway.monitoring.export import render_csv, render_monitoring_csv, render_monitoring_xlsx, render_xlsx
from gateway.monitoring.rollup import rebuild_rollup
from gateway.monitoring.service import QuarterlyReturn, monitoring_report, quarterly_return
from gateway.monitoring.service.figures import MonitoringReport
from gateway.organisations.models import Organisation
from gateway.organisations.service import OPCC
from gateway.settings import Settings

CLI_CLIENT = "cli:report"


async def _commissioner(db: AsyncSession) -> Principal:
    # Whoever runs the command holds the database credentials; the return is still produced with exactly
    # the monitoring scope, so it goes through the same suppression as the API.
    organisation = (await db.exec(select(Organisation).where(col(Organisation.slug) == OPCC.slug))).first()
    if organisation is None or organisation.id is None:
        raise click.ClickException("The Commissioner's organisation (opcc) does not exist; run `gateway seed demo`.")
    return Principal(
        organisation_id=organisation.id,
        organisation_slug=organisation.slug,
        scopes=frozenset({Scope.MONITORING_READ}),
        client_id=CLI_CLIENT,
    )


async def build_return(settings: Settings, period: str) -> QuarterlyReturn:
    async def work(db: AsyncSession) -> QuarterlyReturn:
        try:
            return await quarterly_return(db=db, actor=await _commissioner(db), period=period)
        except DomainError as refusal:
            raise click.ClickException(refusal.message) from refusal

    return await with_session(settings, work)


async def build_monitoring(settings: Settings, first_period: str, last_period: str) -> MonitoringReport:
    async def work(db: AsyncSession) -> MonitoringReport:
        try:
            return await monitoring_report(
                db=db, actor=await _commissioner(db), first_period=first_period, last_period=last_period
            )
        except DomainError as refusal:
            raise click.ClickException(refusal.message) from refusal

    return await with_session(settings, work)


def _write(text: str | None, workbook: bytes | None, output: Path | None) -> None:
    if text is not None:
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
        return
    assert workbook is not None
    if output is None:
        if sys.stdout.isatty():
            raise click.ClickException("Refusing to write a workbook to a terminal; use --output FILE.")
        sys.stdout.buffer.write(workbook)
    else:
        output.write_bytes(workbook)


@click.group()
def report() -> None:
    """Reports for the Commissioner's office, small numbers suppressed."""


@report.command()
@click.option("--period", required=True, help="A financial quarter, e.g. 2026-Q3 (October to December 2026).")
@click.option("--format", "output_format", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def quarterly(period: str, output_format: str, output: Path | None) -> None:
    """The quarterly return: per provider, referred, supported and improved per outcome."""
    found = run_with_settings(lambda settings: build_return(settings, period))
    if output_format == "csv":
        _write(render_csv(found), None, output)
    else:
        _write(None, render_xlsx(found), output)


@report.command()
@click.option("--first-period", required=True, help="The first financial quarter, e.g. 2026-Q1.")
@click.option("--last-period", required=True, help="The last financial quarter, e.g. 2026-Q4 (at most 12).")
@click.option("--format", "output_format", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def monitoring(first_period: str, last_period: str, output_format: str, output: Path | None) -> None:
    """The monitoring figures, one line per count, per provider and quarter and for the whole range."""
    found = run_with_settings(lambda settings: build_monitoring(settings, first_period, last_period))
    if output_format == "csv":
        _write(render_monitoring_csv(found), None, output)
    else:
        _write(None, render_monitoring_xlsx(found), output)


async def rebuild(settings: Settings) -> int:
    async def work(db: AsyncSession) -> int:
        tasks = await rebuild_rollup(db=db)
        await db.commit()
        return tasks

    return await with_session(settings, work)


@report.command("rebuild-rollup")
def rebuild_rollup_command() -> None:
    """Recompute the delivery rollup from every task, in one transaction (after upgrading, or to repair it)."""
    tasks = run_with_settings(rebuild)
    click.echo(f"The delivery rollup was rebuilt from {tasks} tasks.")
