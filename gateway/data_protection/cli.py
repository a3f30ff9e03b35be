"""`gateway retention` and `gateway subject-access`: the data-protection officer's commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from sqlmodel import col, select

from gateway.auth.models import User
from gateway.auth.principal import Principal, Role, scopes_for_roles
from gateway.clock import utc_now
from gateway.console import run_with_settings, with_session
from gateway.data_protection.document import render_html
from gateway.data_protection.schedule import SCHEDULE
from gateway.data_protection.service import RetentionReport, run_retention, subject_access_export
from gateway.data_protection.service.retention import VICTIMS_PER_TRANSACTION
from gateway.db import AsyncSession, create_engine, create_session_factory
from gateway.errors import DomainError
from gateway.settings import Settings

CLI_CLIENT = "cli:subject-access"


def _say(line: str) -> None:
    # Flushed at once, so whoever watches a long run (or stops it) sees how far it got.
    click.echo(line)
    sys.stdout.flush()


@click.group()
def retention() -> None:
    """The retention schedule and erasure by it."""


@retention.command()
def show() -> None:
    """Print the retention schedule: each kind of record, how long it is kept, after what, and what then."""
    for rule in SCHEDULE:
        click.echo(f"{rule.kind.value}")
        click.echo(f"  what:  {rule.description}")
        if rule.keep_for is None:
            click.echo(f"  kept:  {rule.period_text} ({rule.action.value})")
        else:
            click.echo(f"  kept:  {rule.period_text} after {rule.after.value}; then {rule.action.value}")
        click.echo(f"  why:   {rule.why}")


@retention.command()
@click.option("--dry-run", is_flag=True, help="Count what would be erased, per kind; change nothing.")
@click.option("--progress", is_flag=True, help="Print a line as each batch is done.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=VICTIMS_PER_TRANSACTION,
    show_default=True,
    help="Victims erased per transaction, each whole or not at all.",
)
def run(dry_run: bool, progress: bool, batch_size: int) -> None:
    """Erase what is past its time, whole victims per transaction; safe to run twice and to interrupt."""

    async def work(settings: Settings) -> RetentionReport:
        engine = create_engine(settings.database_url)
        try:
            return await run_retention(
                sessions=create_session_factory(engine),
                now=utc_now(),
                dry_run=dry_run,
                progress=_say if progress else None,
                victims_per_transaction=batch_size,
            )
        finally:
            await engine.dispose()

    report = run_with_settings(work)
    verb = "would erase" if dry_run else "erased"
    for kind, count in report.counts.items():
        click.echo(f"{kind.value:<20} {verb} {count}")
    click.echo(f"{'total':<20} {verb} {report.total} records of {report.victims} victims and other kinds")
    click.echo(f"{'legal holds':<20} {report.held} victims past their time kept under a hold")


async def _officer(db: AsyncSession, email: str) -> Principal:
    """The signed-up officer running the command: the export is made, and logged, as them."""
    user = (await db.exec(select(User).where(col(User.email) == email.strip().lower()))).first()
    if user is None or user.id is None or not user.active or Role.DATA_PROTECTION_OFFICER.value not in user.roles:
        raise click.ClickException("No active data-protection officer has that e-mail address.")
    roles = frozenset({Role.DATA_PROTECTION_OFFICER})
    return Principal(
        organisation_id=user.organisation_id,
        organisation_slug="",
        scopes=scopes_for_roles(roles),
        roles=roles,
        user_id=user.id,
        client_id=CLI_CLIENT,
    )


@click.group("subject-access")
def subject_access() -> None:
    """Subject access requests: everything held about one victim, and who saw it."""


@subject_access.command()
@click.option("--victim", "victim_id", required=True, type=click.IntRange(1, 2**31 - 1), help="The victim's id.")
@click.option("--officer", required=True, help="The e-mail address of the officer making the export.")
@click.option("--format", "output_format", type=click.Choice(["json", "html"]), default="json", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def export(victim_id: int, officer: str, output_format: str, output: Path | None) -> None:
    """Export one victim's records and disclosure trail; items to review before release are marked."""

    async def work(settings: Settings) -> dict[str, Any]:
        async def inside(db: AsyncSession) -> dict[str, Any]:
            try:
                found = await subject_access_export(db=db, actor=await _officer(db, officer), victim_id=victim_id)
            except DomainError as refusal:
                raise click.ClickException(refusal.message) from refusal
            await db.commit()
            return found

        return await with_session(settings, inside)

    found = run_with_settings(work)
    text = json.dumps(found, indent=2, ensure_ascii=False) if output_format == "json" else render_html(found)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"written to {output}", err=True)
