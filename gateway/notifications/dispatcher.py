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
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from gateway.logs import configure_logging
from gateway.notifications.content import message_id, render, render_email
from gateway.notifications.delivery_queue import FAN_OUT_BATCH, Claimed, DeliveryQueue, Outcome, rebuild_event
from gateway.notifications.destinations import check_destination as check_registered_destination
from gateway.notifications.escalation import SWEEP_BATCH, sweep_overdue_tasks
from gateway.notifications.mail import Mailer, MailResult
from gateway.notifications.models import AttemptOutcome, EndpointKind
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

# Retries: exponential from 5 s, each delay drawn uniformly below its ceiling ("full jitter", so receivers that
# failed together do not come back together), at most an hour apart, for 24 hours from the delivery's creation.
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
DELIVERY_WINDOW = timedelta(hours=24)
HTTP_GONE = 410

Jitter = Callable[[float], float]


def full_jitter(ceiling: float) -> float:
    """A delay drawn uniformly between nothing and the ceiling (not a secret: random is fine here)."""
    return random.uniform(0.0, ceiling)  # noqa: S311


def backoff_ceiling(attempts: int) -> float:
    """The longest wait after the `attempts`-th failure: 5 s, 10 s, 20 s, ... up to an hour."""
    # The exponent is bounded: a redelivered dead letter keeps its count, and 2.0 ** 1100 overflows.
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** min(max(attempts - 1, 0), 30))


@dataclass
class RoundSummary:
    """What one run_once() did."""

    fanned_out: int = 0
    attempted: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Dispatcher(DeliveryQueue):
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
        event = rebuild_event(
            item.event_id, item.event_type, item.organisation_id, item.subject_ids, item.event_created_at
        )
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


def _registered_destination_check(settings: Settings) -> CheckDestination:
    async def check(url: str) -> Sequence[Any]:
        return await check_registered_destination(url, settings)

    return check
