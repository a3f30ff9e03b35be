"""`gateway notifications`: the operator registers endpoints, rotates secrets, reads dead letters and redelivers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from gateway.console import in_transaction
from gateway.db import AsyncSession
from gateway.errors import DomainError
from gateway.events.models import EventType
from gateway.notifications import registration
from gateway.notifications.escalation import SWEEP_BATCH, sweep_overdue_tasks
from gateway.notifications.models import DeliveryStatus, NotificationEndpoint
from gateway.notifications.registration import CONSOLE
from gateway.settings import Settings

T = TypeVar("T")

EVENT_CHOICE = click.Choice([member.value for member in EventType])


def _in_transaction(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    return in_transaction(
        work, refusals=DomainError, describe=lambda refusal: f"{refusal.message} ({refusal.code.value})"
    )


def _describe(endpoint: NotificationEndpoint) -> str:
    where = endpoint.url if endpoint.kind == "webhook" else endpoint.mailbox
    state = "active" if endpoint.active else f"disabled ({endpoint.disabled_reason or 'administrator'})"
    wanted = ",".join(endpoint.event_types) or "all events"
    return f"{endpoint.id:<6} {endpoint.kind:<8} {state:<24} v{endpoint.version:<4} {wanted:<30} {where}"


@click.group()
def notifications() -> None:
    """Where organisations hear about events: webhooks and team mailboxes."""


@notifications.command("add-webhook")
@click.argument("organisation")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=EVENT_CHOICE, help="An event type to send (repeat); none: all.")
@click.option("--json", "as_json", is_flag=True, help="Print endpoint_id and secret as JSON.")
def add_webhook(organisation: str, url: str, events: tuple[str, ...], as_json: bool) -> None:
    """Register a webhook URL for ORGANISATION (a slug); its signing secret is printed once."""
    issued = _in_transaction(
        lambda db, settings: registration.register_webhook(
            db=db, actor=CONSOLE, settings=settings, organisation_slug=organisation, url=url, event_types=events
        )
    )
    if as_json:
        click.echo(json.dumps({"endpoint_id": issued.endpoint.id, "secret": issued.secret}))
        return
    click.echo(f"endpoint_id: {issued.endpoint.id}")
    click.echo(f"secret:      {issued.secret}   (shown once; give it to the receiver to verify signatures)")


@notifications.command("add-mailbox")
@click.argument("organisation")
@click.argument("address")
@click.option("--event", "events", multiple=True, type=EVENT_CHOICE, help="An event type to send (repeat); none: all.")
def add_mailbox(organisation: str, address: str, events: tuple[str, ...]) -> None:
    """Register ORGANISATION's team mailbox ADDRESS for e-mail notifications."""
    endpoint = _in_transaction(
        lambda db, _: registration.register_mailbox(
            db=db, actor=CONSOLE, organisation_slug=organisation, mailbox=address, event_types=events
        )
    )
    click.echo(f"endpoint_id: {endpoint.id}")


@notifications.command("list")
@click.argument("organisation")
def list_endpoints(organisation: str) -> None:
    """List ORGANISATION's endpoints: id, kind, state, version, events, where. Never secrets."""
    rows = _in_transaction(
        lambda db, _: registration.list_endpoints(db=db, actor=CONSOLE, organisation_slug=organisation)
    )
    for endpoint in rows:
        click.echo(_describe(endpoint))


@notifications.command("rotate-secret")
@click.argument("endpoint_id", type=int)
@click.option(
    "--overlap-hours",
    default=registration.DEFAULT_ROTATION_OVERLAP_HOURS,
    show_default=True,
    type=click.IntRange(0, registration.MAX_ROTATION_OVERLAP_HOURS),
    help="How long the previous secret keeps signing too.",
)
@click.option("--json", "as_json", is_flag=True, help="Print endpoint_id and secret as JSON.")
def rotate_secret(endpoint_id: int, overlap_hours: int, as_json: bool) -> None:
    """Give a webhook a new secret (printed once); the old one signs too until the overlap ends."""
    issued = _in_transaction(
        lambda db, _: registration.rotate_secret(
            db=db, actor=CONSOLE, endpoint_id=endpoint_id, overlap_hours=overlap_hours
        )
    )
    if as_json:
        click.echo(json.dumps({"endpoint_id": endpoint_id, "secret": issued.secret}))
        return
    click.echo(f"secret: {issued.secret}   (shown once)")


def _set_active(endpoint_id: int, active: bool) -> NotificationEndpoint:
    return _in_transaction(
        lambda db, settings: registration.set_endpoint_active(
            db=db, actor=CONSOLE, settings=settings, endpoint_id=endpoint_id, active=active
        )
    )


@notifications.command("disable")
@click.argument("endpoint_id", type=int)
def disable(endpoint_id: int) -> None:
    """Switch an endpoint off: nothing more is sent to it."""
    _set_active(endpoint_id, False)
    click.echo(f"disabled {endpoint_id}")


@notifications.command("enable")
@click.argument("endpoint_id", type=int)
def enable(endpoint_id: int) -> None:
    """Switch an endpoint back on (also after it answered 410 Gone)."""
    _set_active(endpoint_id, True)
    click.echo(f"enabled {endpoint_id}")


@notifications.command("dead-letters")
@click.option("--endpoint", "endpoint_id", type=int, default=None, help="Only this endpoint's.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100))
def dead_letters(endpoint_id: int | None, limit: int) -> None:
    """List dead deliveries, oldest first: id, event, endpoint, attempts, last error."""

    async def read(db: AsyncSession, _: Settings) -> list[tuple[int, str, int, int, str, str]]:
        rows = await registration.list_deliveries(
            db=db, actor=CONSOLE, status=DeliveryStatus.DEAD, endpoint_id=endpoint_id, limit=limit
        )
        kinds = await registration.event_types_of(db=db, event_ids=[r.event_id for r in rows])
        return [
            (
                int(r.id or 0),
                kinds[r.event_id],
                r.endpoint_id,
                r.attempts,
                r.last_error or str(r.last_status_code or "-"),
                r.dead_at.isoformat() if r.dead_at else "-",
            )
            for r in rows
        ]

    for delivery_id, kind, endpoint, attempts, error, dead_at in _in_transaction(read):
        click.echo(f"{delivery_id:<8} {kind:<28} endpoint {endpoint:<6} attempts {attempts:<4} {error:<14} {dead_at}")


@notifications.command("redeliver")
@click.argument("delivery_id", type=int)
def redeliver(delivery_id: int) -> None:
    """Send a dead delivery again from now (its attempts are kept)."""
    _in_transaction(lambda db, _: registration.redeliver(db=db, actor=CONSOLE, delivery_id=delivery_id))
    click.echo(f"delivery {delivery_id} is pending again")


@notifications.command("sweep")
def sweep() -> None:
    """Escalate overdue tasks now (the dispatcher also sweeps periodically); each task and kind only once."""

    async def run(db: AsyncSession, _: Settings) -> int:
        total = 0
        while True:
            found = await sweep_overdue_tasks(db=db, limit=SWEEP_BATCH)
            total += len(found)
            if len(found) < SWEEP_BATCH:
                return total

    click.echo(f"escalated {_in_transaction(run)}")
