"""Rules for the outbox: events are rows in the caller's transaction; a dispatcher delivers them after commit."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from gateway.db import AsyncSession
from gateway.events.models import EventType, OutboxEvent


async def record_event(
    *, db: AsyncSession, event_type: EventType, organisation_id: int, subject_ids: dict[str, Any]
) -> OutboxEvent:
    """Record an event for one organisation; subject_ids hold ids only, never personal data."""
    event = OutboxEvent(type=event_type.value, organisation_id=organisation_id, subject_ids=dict(subject_ids))
    db.add(event)
    await db.flush()
    return event


async def list_undelivered_events(*, db: AsyncSession, limit: int = 100) -> list[OutboxEvent]:
    """Undelivered events, oldest first, for the dispatcher (delivery comes in a later issue)."""
    rows = await db.exec(
        select(OutboxEvent).where(col(OutboxEvent.delivered_at).is_(None)).order_by(col(OutboxEvent.id)).limit(limit)
    )
    return list(rows.all())
