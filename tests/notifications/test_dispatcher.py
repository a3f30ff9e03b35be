"""The dispatcher's rules against real receivers on loopback, round by round with a clock the test moves:
the retry schedule, Retry-After, 410, timeouts, the 24-hour dead line, order per subject, rotation signatures,
and (running for real) a slow receiver that does not hold up the others."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from gateway.db import create_engine
from gateway.events.models import EventType
from gateway.notifications.destinations import DestinationRefused
from gateway.notifications.dispatcher import DELIVERY_WINDOW, Dispatcher, backoff_ceiling
from gateway.notifications.models import NotificationAttempt, NotificationDelivery, NotificationEndpoint
from gateway.settings import Settings
from tests.notifications.receivers import Behaviour, WebhookReceiver, add_webhook, eventually, record, rows
from tests.support.api import ISSUER, api_templates, database_url

__all__ = ["api_templates", "database_url"]

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    """The dispatcher's clock, moved only by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        issuer_url=ISSUER,
        webhook_timeout_seconds=1.0,
        dispatch_lease_seconds=5,
        dispatch_poll_seconds=0.05,
        dispatch_in_serve=False,
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver().running() as running:
        yield running


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    made = create_engine(settings.database_url)
    yield made
    await made.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def dispatcher(settings: Settings, engine: AsyncEngine, clock: Clock) -> AsyncIterator[Dispatcher]:
    # No jitter: each delay is its ceiling, so the schedule can be read off exactly.
    made = Dispatcher(settings, engine, clock=clock, jitter=lambda ceiling: ceiling)
    yield made
    await made.aclose()


async def only_delivery(settings: Settings) -> NotificationDelivery:
    found = await rows(settings, NotificationDelivery)
    assert len(found) == 1
    return found[0]  # type: ignore[no-any-return]


def test_the_backoff_ceiling_doubles_from_five_seconds_up_to_an_hour() -> None:
    assert [backoff_ceiling(n) for n in range(1, 6)] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert backoff_ceiling(10) == 2560.0
    assert backoff_ceiling(11) == 3600.0
    assert backoff_ceiling(5000) == 3600.0


async def test_a_failing_receiver_is_retried_on_the_exponential_schedule_until_it_answers(
    settings: Settings,
    receiver: WebhookReceiver,
    dispatcher: Dispatcher,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a provider's webhook that answers 500
    endpoint_id, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret, Behaviour(status=500))
    event_id = await record(settings, "cpn", EventType.TASK_REQUESTED, task=41, referral=7, status="requested")
    caplog.set_level(logging.INFO, logger="gateway.notifications.dispatch")

    # When the dispatcher tries four times, each time as soon as the delivery is due
    for attempt in range(1, 5):
        summary = await dispatcher.run_once()
        assert summary.outcomes == {"retry": 1}
        delivery = await only_delivery(settings)
        # Then each wait is twice the one before, from 5 s
        assert delivery.attempts == attempt
        assert delivery.next_attempt_at == clock.now + timedelta(seconds=5 * 2 ** (attempt - 1))
        assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("pending", 500, "http-500")
        assert delivery.leased_by is None and delivery.leased_until is None
        # and nothing is tried before it is due
        clock.now = delivery.next_attempt_at - timedelta(seconds=1)
        assert (await dispatcher.run_once()).attempted == 0
        clock.advance(seconds=1)

    # When the receiver recovers
    receiver.behave("cpn", Behaviour(status=204))
    assert (await dispatcher.run_once()).outcomes == {"delivered": 1}

    # Then the delivery is done, with one attempt row per attempt and one webhook-id throughout
    delivery = await only_delivery(settings)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 5, None)
    assert delivery.delivered_at == clock.now
    attempts = await rows(settings, NotificationAttempt)
    assert [(a.outcome, a.status_code, a.error) for a in attempts] == [("retry", 500, "http-500")] * 4 + [
        ("delivered", 204, None)
    ]
    assert {a.delivery_id for a in attempts} == {delivery.id}
    assert [r.webhook_id for r in receiver.on("cpn")] == [f"evt_{event_id}"] * 5
    assert receiver.unverified == 0
    # and one JSON-ready log line per attempt: ids, status and duration, never a URL or a body
    logged = [r for r in caplog.records if r.getMessage() == "notification attempt"]
    assert len(logged) == 5
    for line in logged:
        fields = vars(line)
        assert fields["delivery_id"] == delivery.id and fields["endpoint_id"] == endpoint_id
        assert isinstance(fields["duration_ms"], int)
        assert "status_code" in fields
        assert receiver.base_url not in str(fields)
        assert "task" not in {key for key in fields if key not in ("outcome",)}


async def test_retry_after_is_honoured_in_seconds_and_as_a_date_and_capped_at_an_hour(
    settings: Settings, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret, Behaviour(status=503, headers={"retry-after": "120"}))
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=1)

    await dispatcher.run_once()
    delivery = await only_delivery(settings)
    assert delivery.next_attempt_at == clock.now + timedelta(seconds=120)  # not the 5 s of the first backoff

    clock.now = delivery.next_attempt_at
    in_five_minutes = datetime.now(UTC) + timedelta(minutes=5)
    receiver.behave("cpn", Behaviour(status=429, headers={"retry-after": format_datetime(in_five_minutes, True)}))
    await dispatcher.run_once()
    delivery = await only_delivery(settings)
    waited = (delivery.next_attempt_at - clock.now).total_seconds()
    assert 290 <= waited <= 300

    clock.now = delivery.next_attempt_at
    receiver.behave("cpn", Behaviour(status=503, headers={"retry-after": str(2 * 86400)}))
    await dispatcher.run_once()
    delivery = await only_delivery(settings)
    assert delivery.next_attempt_at == clock.now + timedelta(hours=1)
    assert delivery.attempts == 3


async def test_a_410_switches_the_endpoint_off_and_ends_the_delivery(
    settings: Settings, receiver: WebhookReceiver, dispatcher: Dispatcher
) -> None:
    endpoint_id, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret, Behaviour(status=410))
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=1)

    assert (await dispatcher.run_once()).outcomes == {"gone": 1}

    delivery = await only_delivery(settings)
    assert (delivery.status, delivery.last_status_code) == ("dead", 410)
    assert delivery.dead_at is not None
    (endpoint,) = await rows(settings, NotificationEndpoint, col(NotificationEndpoint.id) == endpoint_id)
    assert (endpoint.active, endpoint.disabled_reason, endpoint.version) == (False, "gone", 2)
    assert [(a.outcome, a.status_code) for a in await rows(settings, NotificationAttempt)] == [("gone", 410)]
    # and later events are not sent to it at all
    await record(settings, "cpn", EventType.TASK_CANCELLED, task=1)
    summary = await dispatcher.run_once()
    assert (summary.fanned_out, summary.attempted) == (1, 0)
    assert len(await rows(settings, NotificationDelivery)) == 1
    assert len(receiver.on("cpn")) == 1


async def test_a_receiver_that_does_not_answer_in_time_is_retried(
    settings: Settings, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    gate = threading.Event()
    receiver.expect("cpn", secret, Behaviour(status=200, gate=gate))
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=1)
    try:
        assert (await dispatcher.run_once()).outcomes == {"retry": 1}
    finally:
        gate.set()
    delivery = await only_delivery(settings)
    assert (delivery.last_error, delivery.last_status_code) == ("timeout", None)
    assert delivery.next_attempt_at == clock.now + timedelta(seconds=5)
    (attempt,) = await rows(settings, NotificationAttempt)
    assert (attempt.outcome, attempt.error, attempt.status_code) == ("retry", "timeout", None)
    assert attempt.duration_ms >= 900  # it waited for the 1 s timeout


async def test_a_delivery_is_retried_for_24_hours_then_dead(
    settings: Settings, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret, Behaviour(status=500))
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=1)
    await dispatcher.run_once()
    created = (await only_delivery(settings)).created_at

    # Near the end of the window a retry is put off only to the window's end, not beyond
    clock.now = created + DELIVERY_WINDOW - timedelta(seconds=3)  # the next wait would be 10 s
    assert (await dispatcher.run_once()).outcomes == {"retry": 1}
    assert (await only_delivery(settings)).next_attempt_at == created + DELIVERY_WINDOW

    # and the attempt at the end of the window is the last
    clock.now = created + DELIVERY_WINDOW
    assert (await dispatcher.run_once()).outcomes == {"dead": 1}
    delivery = await only_delivery(settings)
    assert (delivery.status, delivery.attempts, delivery.dead_at) == ("dead", 3, clock.now)
    clock.advance(days=1)
    assert (await dispatcher.run_once()).attempted == 0
    assert len(receiver.on("cpn")) == 3


async def test_events_about_one_subject_reach_an_endpoint_in_order(
    settings: Settings, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock
) -> None:
    # Given two events about task 1, and one about task 2, while the receiver fails
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret, Behaviour(status=500))
    first = await record(settings, "cpn", EventType.TASK_REQUESTED, task=1)
    second = await record(settings, "cpn", EventType.TASK_CANCELLED, task=1)
    other = await record(settings, "cpn", EventType.TASK_REQUESTED, task=2)

    # When the dispatcher runs: the second event about task 1 waits behind the first, task 2 does not
    assert (await dispatcher.run_once()).outcomes == {"retry": 2}
    assert sorted(r.webhook_id for r in receiver.on("cpn")) == sorted([f"evt_{first}", f"evt_{other}"])

    receiver.behave("cpn", Behaviour(status=200))
    clock.advance(seconds=5)
    assert (await dispatcher.run_once()).outcomes == {"delivered": 2}
    assert (await dispatcher.run_once()).outcomes == {"delivered": 1}

    # Then task 1's events arrived in the order they happened
    task_one = [r.webhook_id for r in receiver.on("cpn") if r.payload["data"]["task"] == 1]
    assert task_one == [f"evt_{first}", f"evt_{first}", f"evt_{second}"]


async def test_during_a_rotation_webhooks_carry_a_signature_by_each_secret(
    settings: Settings, receiver: WebhookReceiver, dispatcher: Dispatcher, clock: Clock, engine: AsyncEngine
) -> None:
    endpoint_id, old_secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    # The receiver still knows only the old secret while the gateway signs with a new one too
    receiver.expect("cpn", old_secret)
    new_secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    async with engine.begin() as connection:
        await connection.execute(
            sa.update(NotificationEndpoint)
            .where(col(NotificationEndpoint.id) == endpoint_id)
            .values(secret=new_secret, previous_secret=old_secret, previous_secret_expires_at=clock.now + timedelta(1))
        )
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=1)
    assert (await dispatcher.run_once()).outcomes == {"delivered": 1}
    (during,) = receiver.on("cpn")
    assert len(during.headers["webhook-signature"].split(" ")) == 2

    # After the overlap only the new secret signs: a receiver that kept the old one refuses it
    clock.advance(days=2)
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=2)
    assert (await dispatcher.run_once()).outcomes == {"retry": 1}
    assert receiver.unverified == 1
    receiver.expect("cpn", new_secret)
    clock.advance(seconds=5)
    assert (await dispatcher.run_once()).outcomes == {"delivered": 1}
    assert len(receiver.on("cpn")[-1].headers["webhook-signature"].split(" ")) == 1


async def test_a_slow_receiver_does_not_hold_up_the_others(
    settings: Settings, receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    # Given one provider whose receiver hangs until the test lets it go, and another that answers at once
    gate = threading.Event()
    _, slow_secret = await add_webhook(settings, "rape-crisis", receiver.url("slow"))
    receiver.expect("slow", slow_secret, Behaviour(gate=gate))
    _, fast_secret = await add_webhook(settings, "cpn", receiver.url("fast"))
    receiver.expect("fast", fast_secret)
    slow_settings = settings.model_copy(update={"webhook_timeout_seconds": 30.0, "dispatch_lease_seconds": 60})
    await record(settings, "rape-crisis", EventType.TASK_REQUESTED, task=1)
    fast_events = [await record(settings, "cpn", EventType.TASK_REQUESTED, task=100 + n) for n in range(20)]

    dispatcher = Dispatcher(slow_settings, engine)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run_forever(stop))
    try:
        # Then every fast event arrives while the slow receiver still holds its request
        await eventually(lambda: receiver.in_flight("slow") == 1, what="the slow request")
        await eventually(lambda: len(receiver.delivered_ids("fast")) == 20, what="the fast deliveries")
        assert receiver.in_flight("slow") == 1
        assert sorted(receiver.delivered_ids("fast")) == sorted(f"evt_{n}" for n in fast_events)
        gate.set()
        await eventually(lambda: len(receiver.delivered_ids("slow")) == 1, what="the slow delivery")
    finally:
        gate.set()
        stop.set()
        await running
        await dispatcher.aclose()
    statuses = {d.status for d in await rows(settings, NotificationDelivery)}
    assert statuses == {"delivered"}


async def test_a_destination_refused_at_delivery_time_is_not_called(
    settings: Settings, receiver: WebhookReceiver, engine: AsyncEngine, clock: Clock
) -> None:
    # Given a webhook whose host has since come to resolve somewhere the check refuses
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret)
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=1)

    async def refuse(url: str) -> list[str]:
        raise DestinationRefused()

    dispatcher = Dispatcher(settings, engine, clock=clock, check_destination=refuse, jitter=lambda ceiling: ceiling)
    try:
        assert (await dispatcher.run_once()).outcomes == {"retry": 1}
    finally:
        await dispatcher.aclose()
    # Then nothing was sent, and the delivery waits to be tried again
    assert receiver.on("cpn") == []
    delivery = await only_delivery(settings)
    assert (delivery.status, delivery.last_error, delivery.last_status_code) == ("pending", "refused-destination", None)


async def test_the_request_goes_only_to_an_address_the_check_approved(
    settings: Settings, receiver: WebhookReceiver, engine: AsyncEngine, clock: Clock
) -> None:
    # Given a check that approves another address than the one the URL names (as after DNS rebinding)
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret)
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=1)

    async def elsewhere(url: str) -> list[str]:
        return ["127.0.0.2"]  # loopback too, but nothing listens there on the receiver's port

    dispatcher = Dispatcher(settings, engine, clock=clock, check_destination=elsewhere)
    try:
        assert (await dispatcher.run_once()).outcomes == {"retry": 1}
    finally:
        await dispatcher.aclose()
    # Then the connection went to the approved address, never to a fresh lookup of the URL's host
    assert receiver.on("cpn") == []
    assert (await only_delivery(settings)).last_error == "connect"
