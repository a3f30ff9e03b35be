"""GraphQL inputs for notification endpoints: parsed into the registration service's values before any rule runs."""

from __future__ import annotations

import strawberry

from gateway.graphql.bounds import CODE, EMAIL, bounded
from gateway.notifications.destinations import MAX_URL_LENGTH
from gateway.notifications.registration import EndpointChanges
from gateway.notifications.vocabularies import EventType


@strawberry.input
class RegisterWebhookEndpointInput:
    organisation: str = bounded(CODE, description="The organisation's slug, e.g. cpn.")
    url: str = bounded(MAX_URL_LENGTH, description="https:// only outside development; checked against SSRF.")
    event_types: list[EventType] = strawberry.field(
        default_factory=list, description="The events to send; empty sends every event."
    )


@strawberry.input
class RegisterMailboxInput:
    organisation: str = bounded(CODE, description="The organisation's slug, e.g. cpn.")
    mailbox: str = bounded(EMAIL, description="A team mailbox, never a person's own address.")
    event_types: list[EventType] = strawberry.field(
        default_factory=list, description="The events to send; empty sends every event."
    )


@strawberry.input
class UpdateEndpointInput:
    endpoint_id: strawberry.ID
    expected_version: int
    url: str | None = bounded(MAX_URL_LENGTH, default=None)
    mailbox: str | None = bounded(EMAIL, default=None)
    event_types: list[EventType] | None = None
    active: bool | None = None

    def changes(self) -> EndpointChanges:
        return EndpointChanges(
            url=self.url,
            mailbox=self.mailbox,
            event_types=None if self.event_types is None else tuple(self.event_types),
            active=self.active,
        )


@strawberry.input
class RotateEndpointSecretInput:
    endpoint_id: strawberry.ID
    expected_version: int
    overlap_hours: int = strawberry.field(
        default=24, description="How long the previous secret keeps signing too (0 to 168 hours)."
    )


@strawberry.input
class RedeliverNotificationInput:
    delivery_id: strawberry.ID
