"""GraphQL shapes for notification endpoints and deliveries, built from rows; secrets never appear here."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway.notifications.models import NotificationDelivery, NotificationEndpoint
from gateway.notifications.vocabularies import DeliveryStatus, EndpointKind, EventType


def _event_types(values: list[str]) -> list[EventType]:
    known = {member.value for member in EventType}
    return [EventType(value) for value in values if value in known]


@strawberry.type(
    name="NotificationEndpoint",
    description="Where an organisation hears about events: a webhook URL or a team mailbox. Never shows a secret.",
)
class NotificationEndpointType:
    id: strawberry.ID
    organisation: str = strawberry.field(description="The organisation's slug.")
    kind: EndpointKind
    url: str | None
    mailbox: str | None
    event_types: list[EventType] = strawberry.field(description="The events it wants; empty means every event.")
    active: bool
    disabled_reason: str | None = strawberry.field(
        description="Why it was switched off: gone (the receiver answered 410) or administrator."
    )
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="During a secret rotation, when the previous secret stops signing."
    )
    created_at: datetime
    updated_at: datetime
    version: int

    @staticmethod
    def from_row(row: NotificationEndpoint, *, organisation: str) -> NotificationEndpointType:
        return NotificationEndpointType(
            id=strawberry.ID(str(row.id)),
            organisation=organisation,
            kind=EndpointKind(row.kind),
            url=row.url,
            mailbox=row.mailbox,
            event_types=_event_types(row.event_types),
            active=row.active,
            disabled_reason=row.disabled_reason,
            previous_secret_expires_at=row.previous_secret_expires_at if row.previous_secret else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@strawberry.type(name="NotificationDelivery", description="One event on its way to one endpoint.")
class NotificationDeliveryType:
    id: strawberry.ID
    event_id: strawberry.ID
    event_type: str
    endpoint_id: strawberry.ID
    subject_key: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None = strawberry.field(description="A short code such as timeout or http-500; never a body.")
    created_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None

    @staticmethod
    def from_row(row: NotificationDelivery, *, event_type: str) -> NotificationDeliveryType:
        return NotificationDeliveryType(
            id=strawberry.ID(str(row.id)),
            event_id=strawberry.ID(str(row.event_id)),
            event_type=event_type,
            endpoint_id=strawberry.ID(str(row.endpoint_id)),
            subject_key=row.subject_key,
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            dead_at=row.dead_at,
        )


@strawberry.type(name="NotificationDeliveryPage")
class NotificationDeliveryPage:
    items: list[NotificationDeliveryType]
    next_cursor: str | None = strawberry.field(description="Pass as `after` for the next page; null at the end.")
