"""The outbox: one row per event a partner organisation must hear about, committed with the change."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.clock import utc_now
from gateway.db import UTCDateTime, metadata

__all__ = ["EventType", "OutboxEvent", "metadata"]


class EventType(StrEnum):
    TASK_REQUESTED = "task.requested"
    TASK_ACCEPTED = "task.accepted"
    TASK_REJECTED = "task.rejected"
    TASK_CANCELLED = "task.cancelled"
    TASK_COMPLETED = "task.completed"
    TASK_FAILED = "task.failed"
    TASK_ENTERED_IN_ERROR = "task.entered-in-error"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    # Found by the notifications sweep, once per task: the Victims' Code timeliness aims, missed.
    TASK_ACCEPT_OVERDUE = "task.accept-overdue"
    TASK_FIRST_CONTACT_OVERDUE = "task.first-contact-overdue"
    RJ_CONFERENCE_BOOKED = "rj.conference.booked"
    RJ_CONFERENCE_MOVED = "rj.conference.moved"
    RJ_CONFERENCE_CANCELLED = "rj.conference.cancelled"


class OutboxEvent(SQLModel, table=True):
    """A thin event: its type, whom to tell, and subject ids. Never personal data; readers fetch via the API."""

    __tablename__ = "outbox_events"
    # The dispatcher's fan-out reads the events not yet handed to delivery, oldest first: a partial index keeps that
    # read the size of the backlog, not of every event ever recorded.
    __table_args__ = (
        sa.Index(
            "ix_outbox_events_pending",
            "id",
            sqlite_where=sa.text("delivered_at IS NULL"),
            postgresql_where=sa.text("delivered_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=64, nullable=False)
    organisation_id: int = Field(foreign_key="organisations.id", nullable=False, index=True)
    subject_ids: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime(), nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
