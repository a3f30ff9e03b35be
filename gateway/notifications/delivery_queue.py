"""The delivery queue in the database: fan-out of outbox events, leasing due deliveries, and writing outcomes.

Apart from the dispatcher's loops because this is the part that holds the locking rules (advisory lock for fan-out,
`FOR UPDATE SKIP LOCKED` leases, the in-order-per-subject rule, writes guarded by `leased_by`) that make several
dispatchers safe side by side; the dispatcher (notifications.dispatcher) decides when to call it and what to send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.clock import utc_now
from gateway.events.models import OutboxEvent
from gateway.notifications.content import subject_key
from gateway.notifications.models import (
    AttemptOutcome,
    DeliveryStatus,
    EndpointKind,
    NotificationAttempt,
    NotificationDelivery,
    NotificationEndpoint,
)
from gateway.notifications.registration import signing_secrets

__all__ = ["FAN_OUT_BATCH", "Claimed", "DeliveryQueue", "Outcome", "column_view", "rebuild_event"]


EVENTS: sa.Table = OutboxEvent.__table__  # type: ignore[attr-defined]
ENDPOINTS: sa.Table = NotificationEndpoint.__table__  # type: ignore[attr-defined]
DELIVERIES: sa.Table = NotificationDelivery.__table__  # type: ignore[attr-defined]
ATTEMPTS: sa.Table = NotificationAttempt.__table__  # type: ignore[attr-defined]

FAN_OUT_BATCH = 500
# Any constant shared by every dispatcher: pg_try_advisory_xact_lock(key) lets one of them fan out at a time.
FAN_OUT_LOCK_KEY = 0x6E6F7469  # "noti"
T = TypeVar("T")


@dataclass(frozen=True)
class Claimed:
    """A leased delivery with what its attempt needs: the event and the endpoint as they are now."""

    delivery_id: int
    attempts: int
    created_at: datetime
    event_id: int
    event_type: str
    event_created_at: datetime
    organisation_id: int
    subject_ids: dict[str, Any]
    endpoint_id: int
    kind: str
    url: str | None
    mailbox: str | None
    secrets: tuple[str, ...]
    usable: bool


@dataclass(frozen=True)
class Outcome:
    """One finished attempt, to be written: the delivery's new state and the attempt row."""

    claimed: Claimed
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: AttemptOutcome | None  # None: no attempt was made (the endpoint was switched off meanwhile)
    next_attempt_at: datetime | None = None


class DeliveryQueue:
    """Fan-out, claims and outcomes over the database; the Dispatcher sets what these read in its __init__."""

    engine: AsyncEngine
    clock: Callable[[], datetime]
    name: str
    lease: timedelta
    _postgres: bool

    # -- fan-out ---------------------------------------------------------------------------------------------

    async def fan_out(self) -> int:
        """Create the deliveries of the oldest undelivered events; how many events were fanned out."""
        async with self.engine.begin() as connection:
            if self._postgres:
                locked = await connection.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(FAN_OUT_LOCK_KEY)))
                if not locked:
                    return 0
            else:
                # Take SQLite's write lock first (waiting for it): a transaction that reads and then writes fails
                # outright when another connection wrote in between, which the gateway's own requests do.
                await connection.execute(EVENTS.update().where(EVENTS.c.id == -1).values(delivered_at=None))
            query = (
                sa.select(EVENTS.c.id, EVENTS.c.type, EVENTS.c.organisation_id, EVENTS.c.subject_ids)
                .where(EVENTS.c.delivered_at.is_(None))
                .order_by(EVENTS.c.id)
                .limit(FAN_OUT_BATCH)
            )
            if self._postgres:
                query = query.with_for_update(skip_locked=True)
            events = (await connection.execute(query)).all()
            if not events:
                return 0
            endpoints = await self._active_endpoints(connection, {event.organisation_id for event in events})
            now = self.clock()
            keys = {
                event.id: subject_key(rebuild_event(event.id, event.type, event.organisation_id, event.subject_ids))[
                    :64
                ]
                for event in events
            }
            rows = [
                {
                    "event_id": event.id,
                    "endpoint_id": endpoint_id,
                    "subject_key": keys[event.id],
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for event in events
                for endpoint_id, event_types in endpoints.get(event.organisation_id, [])
                if not event_types or event.type in event_types
            ]
            if rows:
                await connection.execute(DELIVERIES.insert(), rows)
            await connection.execute(
                EVENTS.update().where(EVENTS.c.id.in_([event.id for event in events])).values(delivered_at=now)
            )
        return len(events)

    async def _active_endpoints(
        self, connection: AsyncConnection, organisation_ids: set[int]
    ) -> dict[int, list[tuple[int, list[str]]]]:
        rows = await connection.execute(
            sa.select(ENDPOINTS.c.id, ENDPOINTS.c.organisation_id, ENDPOINTS.c.event_types)
            .where(
                ENDPOINTS.c.organisation_id.in_(organisation_ids),
                ENDPOINTS.c.active.is_(True),
                ENDPOINTS.c.disabled_reason.is_(None),
            )
            .order_by(ENDPOINTS.c.id)
        )
        endpoints: dict[int, list[tuple[int, list[str]]]] = {}
        for row in rows:
            endpoints.setdefault(row.organisation_id, []).append((row.id, list(row.event_types or [])))
        return endpoints

    # -- claim -----------------------------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Claimed]:
        """Lease up to `limit` due deliveries, each the oldest pending one of its endpoint and subject; committed."""
        if limit <= 0:
            return []
        now = self.clock()
        older = DELIVERIES.alias("older")
        due = (
            sa.select(DELIVERIES.c.id)
            .where(
                DELIVERIES.c.status == DeliveryStatus.PENDING.value,
                DELIVERIES.c.next_attempt_at <= now,
                sa.or_(DELIVERIES.c.leased_until.is_(None), DELIVERIES.c.leased_until < now),
                ~sa.exists().where(
                    older.c.endpoint_id == DELIVERIES.c.endpoint_id,
                    older.c.subject_key == DELIVERIES.c.subject_key,
                    older.c.status == DeliveryStatus.PENDING.value,
                    older.c.event_id < DELIVERIES.c.event_id,
                ),
            )
            .order_by(DELIVERIES.c.next_attempt_at)
            .limit(limit)
        )
        if self._postgres:
            due = due.with_for_update(of=DELIVERIES, skip_locked=True)
        lease = (
            DELIVERIES.update()
            .where(DELIVERIES.c.id.in_(due.scalar_subquery()))
            .values(leased_until=now + self.lease, leased_by=self.name)
            .returning(DELIVERIES.c.id)
        )
        async with self.engine.begin() as connection:
            if self._postgres:
                # Walk the (status, next_attempt_at) index in order and stop at `limit`. A queue table's statistics
                # lag its size (empty at the last ANALYZE, thousands of rows now), and the planner then checked
                # the in-order rule for every pending row and sorted them: 50 ms per claim at 10,000 pending, and
                # slower the longer the backlog, where this takes half a millisecond.
                await connection.execute(sa.text("SET LOCAL enable_sort = off"))
            ids = list((await connection.execute(lease)).scalars())
            if not ids:
                return []
            rows = (
                await connection.execute(
                    sa.select(
                        DELIVERIES.c.id,
                        DELIVERIES.c.attempts,
                        DELIVERIES.c.created_at,
                        EVENTS.c.id.label("event_id"),
                        EVENTS.c.type,
                        EVENTS.c.created_at.label("event_created_at"),
                        EVENTS.c.organisation_id,
                        EVENTS.c.subject_ids,
                        ENDPOINTS.c.id.label("endpoint_id"),
                        ENDPOINTS.c.kind,
                        ENDPOINTS.c.url,
                        ENDPOINTS.c.mailbox,
                        ENDPOINTS.c.secret,
                        ENDPOINTS.c.previous_secret,
                        ENDPOINTS.c.previous_secret_expires_at,
                        ENDPOINTS.c.active,
                        ENDPOINTS.c.disabled_reason,
                    )
                    .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
                    .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
                    .where(DELIVERIES.c.id.in_(ids))
                    .order_by(DELIVERIES.c.id)
                )
            ).all()
        return [self._claimed(row, now) for row in rows]

    def _claimed(self, row: Any, now: datetime) -> Claimed:
        secrets_now = column_view(
            NotificationEndpoint,
            secret=row.secret,
            previous_secret=row.previous_secret,
            previous_secret_expires_at=row.previous_secret_expires_at,
        )
        signing = signing_secrets(secrets_now, now=now)
        target = row.url if row.kind == EndpointKind.WEBHOOK.value else row.mailbox
        return Claimed(
            delivery_id=row.id,
            attempts=row.attempts,
            created_at=row.created_at,
            event_id=row.event_id,
            event_type=row.type,
            event_created_at=row.event_created_at,
            organisation_id=row.organisation_id,
            subject_ids=dict(row.subject_ids or {}),
            endpoint_id=row.endpoint_id,
            kind=row.kind,
            url=row.url,
            mailbox=row.mailbox,
            secrets=tuple(signing),
            usable=bool(row.active and row.disabled_reason is None and target)
            and (row.kind != EndpointKind.WEBHOOK.value or bool(signing)),
        )

    # -- recording -------------------------------------------------------------------------------------------

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write outcomes: each delivery's new state (only while this dispatcher still holds its lease), the
        attempt rows, and endpoints that answered 410 switched off."""
        if not outcomes:
            return
        now = self.clock()
        updates = [_delivery_update(outcome, now, self.name) for outcome in outcomes]
        attempts = [
            {
                "delivery_id": outcome.claimed.delivery_id,
                "started_at": outcome.started_at,
                "duration_ms": outcome.duration_ms,
                "status_code": outcome.status_code,
                "outcome": outcome.outcome.value,
                "error": outcome.error,
            }
            for outcome in outcomes
            if outcome.outcome is not None
        ]
        gone = sorted({o.claimed.endpoint_id for o in outcomes if o.outcome is AttemptOutcome.GONE})
        statement = (
            DELIVERIES.update()
            .where(
                DELIVERIES.c.id == sa.bindparam("b_id"),
                DELIVERIES.c.leased_by == sa.bindparam("b_owner"),
                DELIVERIES.c.status == DeliveryStatus.PENDING.value,
            )
            .values(
                status=sa.bindparam("b_status"),
                attempts=DELIVERIES.c.attempts + sa.bindparam("b_tried", type_=sa.Integer()),
                next_attempt_at=sa.func.coalesce(
                    sa.bindparam("b_next", type_=DELIVERIES.c.next_attempt_at.type), DELIVERIES.c.next_attempt_at
                ),
                leased_until=None,
                leased_by=None,
                last_status_code=sa.bindparam("b_code"),
                last_error=sa.bindparam("b_error"),
                delivered_at=sa.bindparam("b_delivered", type_=DELIVERIES.c.delivered_at.type),
                dead_at=sa.bindparam("b_dead", type_=DELIVERIES.c.dead_at.type),
            )
        )
        async with self.engine.begin() as connection:
            await connection.execute(statement, updates)
            if attempts:
                await connection.execute(ATTEMPTS.insert(), attempts)
            if gone:
                await connection.execute(
                    ENDPOINTS.update()
                    .where(ENDPOINTS.c.id.in_(gone), ENDPOINTS.c.disabled_reason.is_(None))
                    .values(active=False, disabled_reason="gone", updated_at=now, version=ENDPOINTS.c.version + 1)
                )


def _delivery_update(outcome: Outcome, now: datetime, owner: str) -> dict[str, Any]:
    kind = outcome.outcome
    status = {
        AttemptOutcome.DELIVERED: DeliveryStatus.DELIVERED,
        AttemptOutcome.RETRY: DeliveryStatus.PENDING,
        AttemptOutcome.DEAD: DeliveryStatus.DEAD,
        AttemptOutcome.GONE: DeliveryStatus.DEAD,
        None: DeliveryStatus.DEAD,
    }[kind]
    return {
        "b_id": outcome.claimed.delivery_id,
        "b_owner": owner,
        "b_status": status.value,
        "b_tried": 0 if kind is None else 1,
        "b_next": outcome.next_attempt_at,
        "b_code": outcome.status_code,
        "b_error": outcome.error,
        "b_delivered": now if status is DeliveryStatus.DELIVERED else None,
        "b_dead": now if status is DeliveryStatus.DEAD else None,
    }


def rebuild_event(
    event_id: int, event_type: str, organisation_id: int, subject_ids: Any, created_at: Any = None
) -> OutboxEvent:
    """The event as notifications.content renders it, rebuilt from the columns a query read."""
    return column_view(
        OutboxEvent,
        id=event_id,
        type=event_type,
        organisation_id=organisation_id,
        subject_ids=dict(subject_ids or {}),
        created_at=created_at or utc_now(),
    )


def column_view(model: type[T], **columns: Any) -> T:
    """Columns a query read, shaped as the model for functions that only read them.

    Building a SQLModel table instance costs about half a millisecond (instrumentation, validation); three per
    delivery were a fifth of the dispatcher's CPU. Only attributes are read, so a plain namespace serves.
    """
    return cast(T, SimpleNamespace(**columns))
