"""The dispatcher: fans committed outbox events out to endpoints, and delivers each at least once, in order.

Work is shared through the database with row locks, not through a job queue. On PostgreSQL several dispatchers
(each `gateway serve` and `gateway dispatch` process) run side by side:

- fan-out takes undelivered outbox events oldest first (`FOR UPDATE SKIP LOCKED`, and one dispatcher at a time by a
  transaction-level advisory lock, so deliveries of one subject are created in the order its events committed),
  creates one pending delivery per matching active endpoint and stamps the event's `delivered_at`, all in one
  transaction;
- a delivery is claimed by one UPDATE over a `FOR UPDATE SKIP LOCKED` selection that sets a lease
  (`leased_until`, `leased_by`) and commits BEFORE the HTTP call or SMTP send, so two dispatchers never work on the
  same delivery at once; a delivery whose dispatcher died is taken over when its lease runs out. A delivery is
  claimable only when no older pending delivery of the same endpoint and subject exists (in order per subject);
- the outcome is written with a guard on `leased_by`, one notification_attempts row per attempt, and a JSON log
  line (ids, status, duration; never a body or a URL).

On SQLite one dispatcher is expected; the claim is the same single UPDATE statement, which SQLite runs atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from gateway.events.models import OutboxEvent
from gateway.logs import configure_logging
from gateway.notifications.content import message_id, render, render_email, subject_key
from gateway.notifications.escalation import SWEEP_BATCH, sweep_overdue_tasks
from gateway.notifications.mail import Mailer, MailResult
from gateway.notifications.models import (
    AttemptOutcome,
    DeliveryStatus,
    EndpointKind,
    NotificationAttempt,
    NotificationDelivery,
    NotificationEndpoint,
)
from gateway.notifications.registration import check_destination as check_registered_destination
from gateway.notifications.registration import signing_secrets
from gateway.notifications.webhooks import CheckDestination, WebhookResult, WebhookSender
from gateway.settings import Settings

__all__ = [
    "DELIVERY_WINDOW",
    "Dispatcher",
    "RoundSummary",
    "background_dispatcher",
    "backoff_ceiling",
    "run_until_signalled",
]

logger = logging.getLogger("gateway.notifications.dispatch")

EVENTS: sa.Table = OutboxEvent.__table__  # type: ignore[attr-defined]
ENDPOINTS: sa.Table = NotificationEndpoint.__table__  # type: ignore[attr-defined]
DELIVERIES: sa.Table = NotificationDelivery.__table__  # type: ignore[attr-defined]
ATTEMPTS: sa.Table = NotificationAttempt.__table__  # type: ignore[attr-defined]

# Retries: exponential from 5 s, each delay drawn uniformly below its ceiling ("full jitter", so receivers that
# failed together do not come back together), at most an hour apart, for 24 hours from the delivery's creation.
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
DELIVERY_WINDOW = timedelta(hours=24)
FAN_OUT_BATCH = 500
# Any constant shared by every dispatcher: pg_try_advisory_xact_lock(key) lets one of them fan out at a time.
FAN_OUT_LOCK_KEY = 0x6E6F7469  # "noti"
HTTP_GONE = 410

Jitter = Callable[[float], float]
T = TypeVar("T")


def full_jitter(ceiling: float) -> float:
    """A delay drawn uniformly between nothing and the ceiling (not a secret: random is fine here)."""
    return random.uniform(0.0, ceiling)  # noqa: S311


def backoff_ceiling(attempts: int) -> float:
    """The longest wait after the `attempts`-th failure: 5 s, 10 s, 20 s, ... up to an hour."""
    # The exponent is bounded: a redelivered dead letter keeps its count, and 2.0 ** 1100 overflows.
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** min(max(attempts - 1, 0), 30))


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


@dataclass
class RoundSummary:
    """What one run_once() did."""

    fanned_out: int = 0
    attempted: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    """Fans out and delivers notifications; `run_once()` for one round, `run_forever(stop)` for a process."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        *,
        check_destination: CheckDestination | None = None,
        clock: Callable[[], datetime] = utc_now,
        jitter: Jitter = full_jitter,
        webhooks: WebhookSender | None = None,
        mailer: Mailer | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.jitter = jitter
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}")[:64]
        self.concurrency = settings.dispatch_concurrency
        self.lease = timedelta(seconds=settings.dispatch_lease_seconds)
        self.webhooks = webhooks or WebhookSender(
            check_destination=check_destination or _registered_destination_check(settings),
            timeout_seconds=settings.webhook_timeout_seconds,
            max_connections=settings.dispatch_concurrency,
        )
        self.mailer = mailer or Mailer(settings)
        self._postgres = engine.dialect.name == "postgresql"

    async def aclose(self) -> None:
        await self.webhooks.aclose()

    # -- one round, for tests and for tools -------------------------------------------------------------------

    async def run_once(self) -> RoundSummary:
        """Fan out every waiting event, then attempt every due delivery claimable now, and record the outcomes."""
        summary = RoundSummary()
        while fanned := await self.fan_out():
            summary.fanned_out += fanned
        claimed = await self.claim(self.concurrency)
        outcomes = await asyncio.gather(*(self.attempt(item) for item in claimed))
        await self.record(outcomes)
        summary.attempted = sum(1 for outcome in outcomes if outcome.outcome is not None)
        for outcome in outcomes:
            key = outcome.outcome.value if outcome.outcome is not None else "endpoint-off"
            summary.outcomes[key] = summary.outcomes.get(key, 0) + 1
        return summary

    # -- the long-running loop -------------------------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, up to `dispatch_concurrency` at once; then finish what is in flight.

        Four loops share the process: fan-out, claiming (which starts each attempt as its own task), the writer
        of outcomes, and the overdue sweep every `dispatch_sweep_seconds`. Claims are made in batches (once a
        quarter of the slots is free) because each claim is a transaction: claiming one delivery per freed slot
        cost more than the deliveries themselves.
        """
        finished: asyncio.Queue[Outcome] = asyncio.Queue()
        wake = asyncio.Event()  # a slot came free, or fan-out made new deliveries
        in_flight: set[asyncio.Task[None]] = set()
        writer = asyncio.create_task(self._write_outcomes(finished, stop))
        fanning = asyncio.create_task(self._fan_out_forever(stop, wake))
        sweeping = asyncio.create_task(self._sweep_forever(stop))
        logger.info("dispatcher started", extra={"dispatcher": self.name})
        batch = max(1, self.concurrency // 4)
        failures = 0
        try:
            while not stop.is_set():
                free = self.concurrency - len(in_flight)
                if free < batch:
                    await _wait(stop, wake, self.settings.dispatch_poll_seconds)
                    continue
                try:
                    claimed = await self.claim(free)
                    failures = 0
                except Exception as error:  # the database went away or a deploy is migrating: wait and retry
                    failures += 1
                    _log_failure("claiming failed", self.name, error)
                    await _wait(stop, wake, min(30.0, self.settings.dispatch_poll_seconds * 2**failures))
                    continue
                for item in claimed:
                    task = asyncio.create_task(self._attempt_into(item, finished))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    task.add_done_callback(lambda _: wake.set())
                if len(claimed) < free:  # nothing more is due just now
                    await _wait(stop, wake, self.settings.dispatch_poll_seconds)
        finally:
            stop.set()
            if in_flight:
                # What is in flight finishes (each attempt is bounded by its timeout) so its outcome is recorded.
                await asyncio.wait(in_flight, timeout=self.settings.webhook_timeout_seconds + 5)
            await fanning
            await sweeping
            await writer
            logger.info("dispatcher stopped", extra={"dispatcher": self.name})

    async def _fan_out_forever(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        failures = 0
        idle = asyncio.Event()  # never set: fan-out waits only for the clock or the stop
        while not stop.is_set():
            try:
                fanned = await self.fan_out()
                failures = 0
            except Exception as error:
                failures += 1
                _log_failure("fan-out failed", self.name, error)
                await _wait(stop, idle, min(30.0, self.settings.dispatch_poll_seconds * 2**failures))
                continue
            if fanned:
                wake.set()
            if fanned < FAN_OUT_BATCH:
                await _wait(stop, idle, self.settings.dispatch_poll_seconds)

    async def _sweep_forever(self, stop: asyncio.Event) -> None:
        idle = asyncio.Event()
        while not stop.is_set():
            try:
                await self.sweep_once()
            except Exception as error:
                _log_failure("overdue sweep failed", self.name, error)
            await _wait(stop, idle, self.settings.dispatch_sweep_seconds)

    async def sweep_once(self) -> int:
        """Escalate every task now overdue (notifications.escalation), a batch per transaction; how many."""
        total = 0
        async with create_session_factory(self.engine)() as db:
            while True:
                async with db.begin():
                    found = await sweep_overdue_tasks(db=db, now=self.clock(), limit=SWEEP_BATCH)
                total += len(found)
                if len(found) < SWEEP_BATCH:
                    return total

    async def _attempt_into(self, item: Claimed, finished: asyncio.Queue[Outcome]) -> None:
        finished.put_nowait(await self.attempt(item))

    async def _write_outcomes(self, finished: asyncio.Queue[Outcome], stop: asyncio.Event) -> None:
        """Write finished attempts in batches: under load one transaction carries many outcomes."""
        while True:
            if finished.empty():
                if stop.is_set():
                    return
                getter = asyncio.create_task(finished.get())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not getter.done():
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                if getter.done() and not getter.cancelled():
                    finished.put_nowait(getter.result())
                continue
            batch = [finished.get_nowait() for _ in range(min(finished.qsize(), 500))]
            for attempt_number in range(5):
                try:
                    await self.record(batch)
                    break
                except Exception as error:
                    _log_failure("recording outcomes failed", self.name, error)
                    await asyncio.sleep(0.5 * 2**attempt_number)
            # If it never succeeds the leases run out and the deliveries are attempted again: at least once.

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
                event.id: subject_key(_event(event.id, event.type, event.organisation_id, event.subject_ids))[:64]
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
        secrets_now = _view(
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

    # -- one attempt -----------------------------------------------------------------------------------------

    async def attempt(self, item: Claimed) -> Outcome:
        """Send one claimed delivery and decide what follows: delivered, a retry when, dead, or endpoint gone."""
        started_at = self.clock()
        if not item.usable:
            return Outcome(item, started_at, 0, None, "endpoint-off", None)
        began = time.monotonic()
        try:
            result = await self._send(item)
        except Exception as error:  # a fault of ours (rendering, say) must not lose the delivery: retry it
            result = WebhookResult(status_code=None, error=f"internal-{type(error).__name__}"[:64])
        duration_ms = int((time.monotonic() - began) * 1000)
        outcome = self._decide(item, result, started_at, duration_ms)
        _log_attempt(outcome)
        return outcome

    async def _send(self, item: Claimed) -> WebhookResult | MailResult:
        event = _event(item.event_id, item.event_type, item.organisation_id, item.subject_ids, item.event_created_at)
        if item.kind == EndpointKind.WEBHOOK.value:
            assert item.url is not None
            message = render(event)
            return await self.webhooks.send(
                url=item.url, secrets=item.secrets, message_id=message.id, body=message.body()
            )
        assert item.mailbox is not None
        email = render_email(event, self.settings.issuer_url)
        return await self.mailer.send(
            to=item.mailbox,
            subject=email.subject,
            text=email.text,
            message_id=f"{message_id(event)}.{item.endpoint_id}",
        )

    def _decide(
        self, item: Claimed, result: WebhookResult | MailResult, started_at: datetime, duration_ms: int
    ) -> Outcome:
        def outcome(kind: AttemptOutcome, next_attempt_at: datetime | None = None) -> Outcome:
            return Outcome(item, started_at, duration_ms, result.status_code, result.error, kind, next_attempt_at)

        if result.delivered:
            return outcome(AttemptOutcome.DELIVERED)
        if isinstance(result, WebhookResult) and result.status_code == HTTP_GONE:
            return outcome(AttemptOutcome.GONE)
        now = self.clock()
        deadline = item.created_at + DELIVERY_WINDOW
        if now >= deadline:
            return outcome(AttemptOutcome.DEAD)
        delay = self.jitter(backoff_ceiling(item.attempts + 1))
        retry_after = result.retry_after_seconds if isinstance(result, WebhookResult) else None
        if retry_after is not None:
            delay = max(delay, retry_after)
        return outcome(AttemptOutcome.RETRY, min(now + timedelta(seconds=delay), deadline))

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


def _log_attempt(outcome: Outcome) -> None:
    item = outcome.claimed
    assert outcome.outcome is not None
    logger.info(
        "notification attempt",
        extra={
            "delivery_id": item.delivery_id,
            "event_id": item.event_id,
            "endpoint_id": item.endpoint_id,
            "kind": item.kind,
            "attempt": item.attempts + 1,
            "outcome": outcome.outcome.value,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "duration_ms": outcome.duration_ms,
        },
    )


def _log_failure(what: str, dispatcher: str, error: Exception) -> None:
    # The type only: a driver's message can quote the statement's parameters.
    logger.warning(what, extra={"dispatcher": dispatcher, "error": type(error).__name__})


async def _wait(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Sleep until `seconds` pass, the stop is asked for, or `wake` is set (now or since it was last cleared)."""
    if not (wake.is_set() or stop.is_set()):
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
    wake.clear()


@contextlib.asynccontextmanager
async def background_dispatcher(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Dispatcher | None]:
    """A dispatcher running beside the app while the context lasts (when GATEWAY_DISPATCH_IN_SERVE is on)."""
    if not settings.dispatch_in_serve:
        yield None
        return
    dispatcher = Dispatcher(settings, engine)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run_forever(stop))
    try:
        yield dispatcher
    finally:
        stop.set()
        try:
            await running
        finally:
            await dispatcher.aclose()


async def run_until_signalled(settings: Settings) -> None:
    """`gateway dispatch`: deliver until SIGTERM or SIGINT, then finish what is in flight and exit."""
    configure_logging(settings.log_level)
    engine = create_engine(settings.database_url)
    dispatcher = Dispatcher(settings, engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    try:
        await dispatcher.run_forever(stop)
    finally:
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signal_number)
        await dispatcher.aclose()
        await engine.dispose()


def _event(
    event_id: int, event_type: str, organisation_id: int, subject_ids: Any, created_at: Any = None
) -> OutboxEvent:
    """The event as notifications.content renders it, rebuilt from the columns a query read."""
    return _view(
        OutboxEvent,
        id=event_id,
        type=event_type,
        organisation_id=organisation_id,
        subject_ids=dict(subject_ids or {}),
        created_at=created_at or utc_now(),
    )


def _view(model: type[T], **columns: Any) -> T:
    """Columns a query read, shaped as the model for functions that only read them.

    Building a SQLModel table instance costs about half a millisecond (instrumentation, validation); three per
    delivery were a fifth of the dispatcher's CPU. Only attributes are read, so a plain namespace serves.
    """
    return cast(T, SimpleNamespace(**columns))


def _registered_destination_check(settings: Settings) -> CheckDestination:
    async def check(url: str) -> Sequence[Any]:
        return await check_registered_destination(url, settings)

    return check
