"""The notification domain's vocabularies as GraphQL enums from its StrEnums; see gateway.directory.vocabularies."""

from __future__ import annotations

import strawberry

from gateway.events.models import EventType
from gateway.notifications.models import DeliveryStatus, EndpointKind

strawberry.enum(
    EndpointKind, name="NotificationEndpointKind", description="How an organisation is told: webhook or e-mail."
)
strawberry.enum(DeliveryStatus, name="NotificationDeliveryStatus", description="Where a notification delivery is.")
strawberry.enum(EventType, name="NotificationEventType", description="What happened, as a notification says it.")

__all__ = ["DeliveryStatus", "EndpointKind", "EventType"]
