"""Where each organisation wants to hear about events, and every delivery and attempt made to tell it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = [
    "AttemptOutcome",
    "DeliveryStatus",
    "EndpointKind",
    "EscalationKind",
    "NotificationAttempt",
    "NotificationDelivery",
    "NotificationEndpoint",
    "TaskEscalation",
    "metadata",
]

UTC_DATETIME = UTCDateTime()


class EndpointKind(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"
    GONE = "gone"


class EscalationKind(StrEnum):
    ACCEPT_OVERDUE = "accept-overdue"
    FIRST_CONTACT_OVERDUE = "first-contact-overdue"


class NotificationEndpoint(SQLModel, table=True):
    """A webhook URL or a team mailbox of one organisation, with the event types it wants (none listed: all)."""

    __tablename__ = "notification_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    kind: str = Field(max_length=16, nullable=False)
    url: str | None = Field(default=None, max_length=2048)
    mailbox: str | None = Field(default=None, max_length=254)
    event_types: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    active: bool = Field(default=True, nullable=False)
    # Standard Webhooks secrets ("whsec_<base64>"); shown once when made, never listed or logged afterwards.
    secret: str | None = Field(default=None, max_length=100)
    # During a rotation's overlap webhooks carry a signature by each secret, so receivers can switch at leisure.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    disabled_reason: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    version: int = Field(default=1, nullable=False)


class NotificationDelivery(SQLModel, table=True):
    """One event on its way to one endpoint: pending until delivered, or dead once retries run out."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "endpoint_id"),
        sa.Index("ix_notification_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        sa.Index("ix_notification_deliveries_endpoint_id_subject_key", "endpoint_id", "subject_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="outbox_events.id", nullable=False, index=True)
    endpoint_id: int = Field(foreign_key="notification_endpoints.id", nullable=False, index=True)
    # What must stay in order for a receiver, e.g. "task:123"; ids only.
    subject_key: str = Field(max_length=64, nullable=False)
    status: str = Field(max_length=16, nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    leased_until: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    leased_by: str | None = Field(default=None, max_length=64)
    last_status_code: int | None = Field(default=None)
    # A short code such as "timeout" or "http-500", never a response body.
    last_error: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)
    dead_at: datetime | None = Field(default=None, sa_type=UTC_DATETIME)


class NotificationAttempt(SQLModel, table=True):
    """One try at a delivery: when, how long, what came back. Never a body."""

    __tablename__ = "notification_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="notification_deliveries.id", nullable=False, index=True)
    started_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
    duration_ms: int = Field(nullable=False)
    status_code: int | None = Field(default=None)
    outcome: str = Field(max_length=16, nullable=False)
    error: str | None = Field(default=None, max_length=64)


class TaskEscalation(SQLModel, table=True):
    """A task that missed a timeliness target, recorded once per task and kind so the sweep never repeats it."""

    __tablename__ = "task_escalations"
    __table_args__ = (sa.UniqueConstraint("task_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="referral_tasks.id", nullable=False)
    kind: str = Field(max_length=32, nullable=False)
    recorded_at: datetime = Field(default_factory=utc_now, sa_type=UTC_DATETIME, nullable=False)
