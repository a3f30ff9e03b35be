"""Thin resolvers for administrators: organisations' notification endpoints, and deliveries with their dead letters."""

from __future__ import annotations

from typing import Annotated

import strawberry

from gateway.auth.principal import Principal, Scope
from gateway.db import AsyncSession
from gateway.graphql.caller import caller
from gateway.graphql.context import Info
from gateway.graphql.ids import record_id
from gateway.graphql.pagination import decode_cursor, next_cursor, page_size
from gateway.graphql.permissions import requires
from gateway.graphql.results import OperationError, perform
from gateway.notifications import registration
from gateway.notifications.inputs import (
    RedeliverNotificationInput,
    RegisterMailboxInput,
    RegisterWebhookEndpointInput,
    RotateEndpointSecretInput,
    UpdateEndpointInput,
)
from gateway.notifications.models import NotificationDelivery, NotificationEndpoint
from gateway.notifications.types import NotificationDeliveryPage, NotificationDeliveryType, NotificationEndpointType
from gateway.notifications.vocabularies import DeliveryStatus

ADMIN = requires(Scope.ADMIN)


async def _endpoint_types(db: AsyncSession, rows: list[NotificationEndpoint]) -> list[NotificationEndpointType]:
    slugs = await registration.organisation_slugs(db=db, organisation_ids=[r.organisation_id for r in rows])
    return [NotificationEndpointType.from_row(r, organisation=slugs[r.organisation_id]) for r in rows]


async def _delivery_types(db: AsyncSession, rows: list[NotificationDelivery]) -> list[NotificationDeliveryType]:
    kinds = await registration.event_types_of(db=db, event_ids=[r.event_id for r in rows])
    return [NotificationDeliveryType.from_row(r, event_type=kinds[r.event_id]) for r in rows]


@strawberry.type
class NotificationEndpointPayload:
    endpoint: NotificationEndpointType


@strawberry.type(description="An endpoint with its new signing secret: shown this once, never again.")
class NotificationEndpointSecretPayload:
    endpoint: NotificationEndpointType
    secret: str = strawberry.field(description="The Standard Webhooks secret (whsec_...). Store it now.")


@strawberry.type
class NotificationDeliveryPayload:
    delivery: NotificationDeliveryType


NotificationEndpointResult = Annotated[
    NotificationEndpointPayload | OperationError, strawberry.union("NotificationEndpointResult")
]
NotificationEndpointSecretResult = Annotated[
    NotificationEndpointSecretPayload | OperationError, strawberry.union("NotificationEndpointSecretResult")
]
NotificationDeliveryResult = Annotated[
    NotificationDeliveryPayload | OperationError, strawberry.union("NotificationDeliveryResult")
]


async def _secret_payload(db: AsyncSession, issued: registration.IssuedSecret) -> NotificationEndpointSecretPayload:
    assert issued.secret is not None
    [endpoint] = await _endpoint_types(db, [issued.endpoint])
    return NotificationEndpointSecretPayload(endpoint=endpoint, secret=issued.secret)


@strawberry.type
class NotificationQuery:
    @strawberry.field(
        description="An organisation's notification endpoints (administrators).", permission_classes=[ADMIN]
    )
    async def notification_endpoints(self, info: Info, organisation: str) -> list[NotificationEndpointType]:
        async def read(db: AsyncSession) -> list[NotificationEndpointType]:
            rows = await registration.list_endpoints(db=db, actor=caller(info), organisation_slug=organisation)
            return await _endpoint_types(db, rows)

        return await info.context.session.run(read)

    @strawberry.field(
        description="Notification deliveries, oldest first; status DEAD lists the dead letters (administrators).",
        permission_classes=[ADMIN],
    )
    async def notification_deliveries(
        self,
        info: Info,
        status: DeliveryStatus | None = None,
        endpoint_id: strawberry.ID | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> NotificationDeliveryPage:
        limit = page_size(first)
        after_id = decode_cursor(after)
        endpoint = None if endpoint_id is None else record_id(endpoint_id, "endpoint")

        async def read(db: AsyncSession) -> NotificationDeliveryPage:
            rows = await registration.list_deliveries(
                db=db, actor=caller(info), status=status, endpoint_id=endpoint, after_id=after_id, limit=limit
            )
            return NotificationDeliveryPage(items=await _delivery_types(db, rows), next_cursor=next_cursor(rows, limit))

        return await info.context.session.run(read)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(
        description="Register a webhook for an organisation; the answer carries its secret, shown this once.",
        permission_classes=[ADMIN],
    )
    async def register_webhook_endpoint(
        self, info: Info, input: RegisterWebhookEndpointInput
    ) -> NotificationEndpointSecretResult:
        async def register(db: AsyncSession) -> NotificationEndpointSecretPayload:
            issued = await registration.register_webhook(
                db=db,
                actor=caller(info),
                settings=info.context.settings,
                organisation_slug=input.organisation,
                url=input.url,
                event_types=input.event_types,
            )
            return await _secret_payload(db, issued)

        return await perform(info, register)

    @strawberry.mutation(
        description="Register an organisation's team mailbox for e-mail notifications.", permission_classes=[ADMIN]
    )
    async def register_mailbox(self, info: Info, input: RegisterMailboxInput) -> NotificationEndpointResult:
        async def register(db: AsyncSession) -> NotificationEndpointPayload:
            row = await registration.register_mailbox(
                db=db,
                actor=caller(info),
                organisation_slug=input.organisation,
                mailbox=input.mailbox,
                event_types=input.event_types,
            )
            [endpoint] = await _endpoint_types(db, [row])
            return NotificationEndpointPayload(endpoint=endpoint)

        return await perform(info, register)

    @strawberry.mutation(
        description="Change an endpoint's URL or mailbox, event types or activity, from the version you saw.",
        permission_classes=[ADMIN],
    )
    async def update_endpoint(self, info: Info, input: UpdateEndpointInput) -> NotificationEndpointResult:
        async def update(db: AsyncSession) -> NotificationEndpointPayload:
            actor: Principal = caller(info)
            row = await registration.update_endpoint(
                db=db,
                actor=actor,
                settings=info.context.settings,
                endpoint_id=record_id(input.endpoint_id, "endpoint"),
                expected_version=input.expected_version,
                changes=input.changes(),
            )
            [endpoint] = await _endpoint_types(db, [row])
            return NotificationEndpointPayload(endpoint=endpoint)

        return await perform(info, update)

    @strawberry.mutation(
        description="Give a webhook a new secret (shown this once); the old one also signs during the overlap.",
        permission_classes=[ADMIN],
    )
    async def rotate_endpoint_secret(
        self, info: Info, input: RotateEndpointSecretInput
    ) -> NotificationEndpointSecretResult:
        async def rotate(db: AsyncSession) -> NotificationEndpointSecretPayload:
            issued = await registration.rotate_secret(
                db=db,
                actor=caller(info),
                endpoint_id=record_id(input.endpoint_id, "endpoint"),
                expected_version=input.expected_version,
                overlap_hours=input.overlap_hours,
            )
            return await _secret_payload(db, issued)

        return await perform(info, rotate)

    @strawberry.mutation(
        description="Send a dead delivery again from now, its attempts kept.", permission_classes=[ADMIN]
    )
    async def redeliver_notification(self, info: Info, input: RedeliverNotificationInput) -> NotificationDeliveryResult:
        async def redeliver(db: AsyncSession) -> NotificationDeliveryPayload:
            row = await registration.redeliver(
                db=db, actor=caller(info), delivery_id=record_id(input.delivery_id, "delivery")
            )
            [delivery] = await _delivery_types(db, [row])
            return NotificationDeliveryPayload(delivery=delivery)

        return await perform(info, redeliver)
