"""Registering where an organisation hears about events: webhook URLs checked against SSRF, team mailboxes, secrets.

Only administrators (Scope.ADMIN) or the operator at the console (the `gateway notifications` CLI) register and
change endpoints, for any organisation. A webhook's secret is shown once, when it is made or rotated, and never
listed again; during a rotation's overlap the dispatcher signs with both secrets (see `signing_secrets`).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.auth.principal import Principal, Scope
from gateway.clock import as_utc, utc_now
from gateway.db import AsyncSession
from gateway.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from gateway.events.models import EventType, OutboxEvent
from gateway.kit import get_or_not_found, page_size, require
from gateway.notifications.destinations import check_destination
from gateway.notifications.models import DeliveryStatus, EndpointKind, NotificationDelivery, NotificationEndpoint
from gateway.organisations.models import Organisation
from gateway.settings import Settings

__all__ = [
    "CONSOLE",
    "DEFAULT_ROTATION_OVERLAP_HOURS",
    "ConsoleOperator",
    "EndpointChanges",
    "IssuedSecret",
    "event_types_of",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "new_secret",
    "organisation_slugs",
    "redeliver",
    "register_mailbox",
    "register_webhook",
    "rotate_secret",
    "set_endpoint_active",
    "signing_secrets",
    "update_endpoint",
]

SECRET_PREFIX: Final = "whsec_"  # noqa: S105  (the Standard Webhooks prefix, not a secret)
SECRET_BYTES: Final = 24
DEFAULT_ROTATION_OVERLAP_HOURS: Final = 24
MAX_ROTATION_OVERLAP_HOURS: Final = 7 * 24
MAX_MAILBOX_LENGTH: Final = 254
# Enough for every receiver an organisation plausibly runs; a bound so a mistake cannot fan one event out widely.
MAX_ENDPOINTS_PER_ORGANISATION: Final = 20

# A team mailbox: one local part and a dotted domain; anything cleverer (quotes, comments, IP literals) is refused.
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MAILBOX = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@" + _DOMAIN_LABEL + r"(?:\." + _DOMAIN_LABEL + r")+")


class ConsoleOperator:
    """The person at the server's console running `gateway notifications`: trusted like an administrator."""

    actor_label = "console"


CONSOLE: Final = ConsoleOperator()
Actor = Principal | ConsoleOperator


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """An endpoint with the secret just made for it: the only moment the secret is ever shown."""

    endpoint: NotificationEndpoint
    secret: str | None


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """What an update sets; None leaves a value as it is."""

    url: str | None = None
    mailbox: str | None = None
    event_types: Sequence[EventType] | None = None
    active: bool | None = None


def _require_admin(actor: Actor) -> None:
    if isinstance(actor, ConsoleOperator):
        return
    require(actor, Scope.ADMIN)


def new_secret() -> str:
    """A fresh Standard Webhooks secret: 24 random bytes, base64, with the whsec_ prefix."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signing_secrets(endpoint: NotificationEndpoint, *, now: datetime | None = None) -> list[str]:
    """The secrets a webhook is signed with now: the current one, and the previous one while its overlap lasts."""
    found = [endpoint.secret] if endpoint.secret else []
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and as_utc(expires) > as_utc(now or utc_now()):
        found.append(endpoint.previous_secret)
    return found


def _mailbox(value: str) -> str:
    cleaned = value.strip()
    if not cleaned or len(cleaned) > MAX_MAILBOX_LENGTH or _MAILBOX.fullmatch(cleaned) is None:
        raise ValidationFailed(f"A team mailbox is one e-mail address of at most {MAX_MAILBOX_LENGTH} characters.")
    return cleaned


def _event_types(event_types: Sequence[EventType | str]) -> list[str]:
    try:
        wanted = {EventType(value) for value in event_types}
    except ValueError:
        allowed = ", ".join(member.value for member in EventType)
        raise ValidationFailed(f"Unknown event type; use any of: {allowed}.") from None
    # Stored in the enum's order so the same choice always reads the same.
    return [member.value for member in EventType if member in wanted]


# -- endpoints ---------------------------------------------------------------------------------------------------


async def _organisation_id(db: AsyncSession, slug: str) -> int:
    organisation = (await db.exec(select(Organisation).where(col(Organisation.slug) == slug.strip()))).first()
    if organisation is None or organisation.id is None:
        raise ValidationFailed("Unknown organisation.")
    return organisation.id


async def _refuse_too_many(db: AsyncSession, organisation_id: int) -> None:
    count = (
        await db.exec(
            select(sa.func.count())
            .select_from(NotificationEndpoint)
            .where(col(NotificationEndpoint.organisation_id) == organisation_id)
        )
    ).one()
    if count >= MAX_ENDPOINTS_PER_ORGANISATION:
        raise ValidationFailed(f"An organisation has at most {MAX_ENDPOINTS_PER_ORGANISATION} endpoints.")


async def _add(db: AsyncSession, endpoint: NotificationEndpoint) -> NotificationEndpoint:
    await _refuse_too_many(db, endpoint.organisation_id)
    db.add(endpoint)
    await db.flush()
    return endpoint


async def register_webhook(
    *,
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    organisation_slug: str,
    url: str,
    event_types: Sequence[EventType | str] = (),
) -> IssuedSecret:
    """An administrator registers a checked webhook URL for an organisation; its new secret is shown only now."""
    _require_admin(actor)
    organisation_id = await _organisation_id(db, organisation_slug)
    await check_destination(url, settings)
    secret = new_secret()
    endpoint = NotificationEndpoint(
        organisation_id=organisation_id,
        kind=EndpointKind.WEBHOOK.value,
        url=url,
        event_types=_event_types(event_types),
        active=True,
        secret=secret,
    )
    return IssuedSecret(endpoint=await _add(db, endpoint), secret=secret)


async def register_mailbox(
    *,
    db: AsyncSession,
    actor: Actor,
    organisation_slug: str,
    mailbox: str,
    event_types: Sequence[EventType | str] = (),
) -> NotificationEndpoint:
    """An administrator registers an organisation's team mailbox (never a person's) for e-mail notifications."""
    _require_admin(actor)
    organisation_id = await _organisation_id(db, organisation_slug)
    endpoint = NotificationEndpoint(
        organisation_id=organisation_id,
        kind=EndpointKind.EMAIL.value,
        mailbox=_mailbox(mailbox),
        event_types=_event_types(event_types),
        active=True,
    )
    return await _add(db, endpoint)


async def get_endpoint(*, db: AsyncSession, actor: Actor, endpoint_id: int) -> NotificationEndpoint:
    """An administrator reads one endpoint."""
    _require_admin(actor)
    return await get_or_not_found(db, NotificationEndpoint, endpoint_id)


async def list_endpoints(
    *, db: AsyncSession, actor: Actor, organisation_slug: str | None = None
) -> list[NotificationEndpoint]:
    """An administrator lists endpoints, of one organisation or of all, oldest first."""
    _require_admin(actor)
    query = select(NotificationEndpoint)
    if organisation_slug is not None:
        query = query.where(col(NotificationEndpoint.organisation_id) == await _organisation_id(db, organisation_slug))
    return list((await db.exec(query.order_by(col(NotificationEndpoint.id)))).all())


async def _change(
    db: AsyncSession, endpoint: NotificationEndpoint, expected_version: int | None, values: dict[str, Any]
) -> NotificationEndpoint:
    """Write the values from the version the caller saw (None: whatever is there now), or refuse with conflict."""
    version = endpoint.version if expected_version is None else expected_version
    if version != endpoint.version:
        raise Conflict()
    changed = await db.exec(
        sa.update(NotificationEndpoint)
        .where(col(NotificationEndpoint.id) == endpoint.id, col(NotificationEndpoint.version) == version)
        .values(**values, version=version + 1, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise Conflict()
    await db.refresh(endpoint)
    return endpoint


async def update_endpoint(
    *,
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    endpoint_id: int,
    expected_version: int | None,
    changes: EndpointChanges,
) -> NotificationEndpoint:
    """An administrator changes an endpoint's URL or mailbox, event types or activity, from the version they saw."""
    _require_admin(actor)
    endpoint = await get_or_not_found(db, NotificationEndpoint, endpoint_id)
    values: dict[str, Any] = {}
    if changes.url is not None:
        if endpoint.kind != EndpointKind.WEBHOOK.value:
            raise ValidationFailed("Only a webhook endpoint has a URL.")
        await check_destination(changes.url, settings)
        values["url"] = changes.url
    if changes.mailbox is not None:
        if endpoint.kind != EndpointKind.EMAIL.value:
            raise ValidationFailed("Only an e-mail endpoint has a mailbox.")
        values["mailbox"] = _mailbox(changes.mailbox)
    if changes.event_types is not None:
        values["event_types"] = _event_types(changes.event_types)
    if changes.active is not None:
        values["active"] = changes.active
        if changes.active:
            # Switching an endpoint back on is the administrator's word that the receiver is back.
            values["disabled_reason"] = None
        elif endpoint.active:
            values["disabled_reason"] = "administrator"
    return await _change(db, endpoint, expected_version, values)


async def set_endpoint_active(
    *,
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    endpoint_id: int,
    active: bool,
    expected_version: int | None = None,
) -> NotificationEndpoint:
    """An administrator switches an endpoint off (nothing more is sent to it) or back on."""
    return await update_endpoint(
        db=db,
        actor=actor,
        settings=settings,
        endpoint_id=endpoint_id,
        expected_version=expected_version,
        changes=EndpointChanges(active=active),
    )


async def rotate_secret(
    *,
    db: AsyncSession,
    actor: Actor,
    endpoint_id: int,
    expected_version: int | None = None,
    overlap_hours: int = DEFAULT_ROTATION_OVERLAP_HOURS,
    now: datetime | None = None,
) -> IssuedSecret:
    """An administrator gives a webhook a new secret (shown once); the old one keeps signing for the overlap."""
    _require_admin(actor)
    if not 0 <= overlap_hours <= MAX_ROTATION_OVERLAP_HOURS:
        raise ValidationFailed(f"The overlap is between 0 and {MAX_ROTATION_OVERLAP_HOURS} hours.")
    endpoint = await get_or_not_found(db, NotificationEndpoint, endpoint_id)
    if endpoint.kind != EndpointKind.WEBHOOK.value:
        raise ValidationFailed("Only a webhook endpoint has a secret.")
    secret = new_secret()
    moment = as_utc(now or utc_now())
    values: dict[str, Any] = {"secret": secret}
    if overlap_hours > 0 and endpoint.secret:
        values |= {
            "previous_secret": endpoint.secret,
            "previous_secret_expires_at": moment + timedelta(hours=overlap_hours),
        }
    else:
        values |= {"previous_secret": None, "previous_secret_expires_at": None}
    return IssuedSecret(endpoint=await _change(db, endpoint, expected_version, values), secret=secret)


# -- deliveries, for administrators ------------------------------------------------------------------------------


async def list_deliveries(
    *,
    db: AsyncSession,
    actor: Actor,
    status: DeliveryStatus | None = None,
    endpoint_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[NotificationDelivery]:
    """An administrator lists deliveries, optionally by status (dead letters) and endpoint, oldest first."""
    _require_admin(actor)
    query = select(NotificationDelivery)
    if status is not None:
        query = query.where(col(NotificationDelivery.status) == DeliveryStatus(status).value)
    if endpoint_id is not None:
        query = query.where(col(NotificationDelivery.endpoint_id) == endpoint_id)
    if after_id is not None:
        query = query.where(col(NotificationDelivery.id) > after_id)
    return list((await db.exec(query.order_by(col(NotificationDelivery.id)).limit(page_size(limit)))).all())


async def redeliver(*, db: AsyncSession, actor: Actor, delivery_id: int) -> NotificationDelivery:
    """An administrator sends a dead delivery again: pending from now, its attempts kept, to an active endpoint."""
    _require_admin(actor)
    delivery = await get_or_not_found(db, NotificationDelivery, delivery_id)
    if delivery.status != DeliveryStatus.DEAD.value:
        raise InvalidTransition("Only a dead delivery can be redelivered.")
    endpoint = await db.get(NotificationEndpoint, delivery.endpoint_id)
    if endpoint is None:
        raise NotFound()
    if not endpoint.active:
        raise InvalidTransition("The endpoint is switched off; enable it first.")
    changed = await db.exec(
        sa.update(NotificationDelivery)
        .where(
            col(NotificationDelivery.id) == delivery_id, col(NotificationDelivery.status) == DeliveryStatus.DEAD.value
        )
        .values(
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=utc_now(),
            dead_at=None,
            leased_until=None,
            leased_by=None,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise Conflict()
    await db.refresh(delivery)
    return delivery


async def organisation_slugs(*, db: AsyncSession, organisation_ids: Sequence[int]) -> dict[int, str]:
    """The slugs of organisations whose endpoints the caller has already been allowed to list, in one query."""
    if not organisation_ids:
        return {}
    found = await db.exec(
        select(Organisation.id, Organisation.slug).where(col(Organisation.id).in_(sorted(set(organisation_ids))))
    )
    return {int(row_id): slug for row_id, slug in found.all() if row_id is not None}


async def event_types_of(*, db: AsyncSession, event_ids: Sequence[int]) -> dict[int, str]:
    """The types of the events behind deliveries the caller has already been allowed to list, in one query."""
    if not event_ids:
        return {}
    found = await db.exec(
        select(OutboxEvent.id, OutboxEvent.type).where(col(OutboxEvent.id).in_(sorted(set(event_ids))))
    )
    return {int(row_id): kind for row_id, kind in found.all() if row_id is not None}
