"""Crash: `gateway dispatch` killed with SIGKILL mid-delivery, again and again, under a stream of referrals and
withdrawals, and restarted. Every committed event still reaches the receiver; a repeat comes only under the same
webhook-id, so the receiver can drop it. PostgreSQL only: several processes share the database there."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.events.models import OutboxEvent
from gateway.notifications.models import NotificationDelivery
from gateway.settings import Settings
from tests.notifications.receivers import (
    Behaviour,
    WebhookReceiver,
    add_webhook,
    eventually,
    rows,
    start_dispatcher,
)
from tests.support.api import (
    ISSUER,
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    key,
    sent_task,
    world,
)

__all__ = ["api_templates", "client", "database_url", "gateway", "world"]

KILLS = 3
WITHDRAW = "mutation($i: WithdrawConsentInput!) { withdrawConsent(input: $i) { __typename } }"
# Short, so a killed dispatcher's leased deliveries are taken over within the test; longer than an attempt.
DISPATCH_ENVIRONMENT = {
    "GATEWAY_DISPATCH_LEASE_SECONDS": "3",
    "GATEWAY_WEBHOOK_TIMEOUT_SECONDS": "2",
    "GATEWAY_DISPATCH_CONCURRENCY": "8",
}


@pytest.fixture(params=["postgresql"])
def database_kind(request: pytest.FixtureRequest) -> str:
    """Only PostgreSQL: this is where several dispatcher processes share the work."""
    return str(request.param)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, issuer_url=ISSUER, dispatch_in_serve=False)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver().running() as running:
        yield running


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


async def test_a_dispatcher_killed_mid_delivery_loses_no_event(
    settings: Settings, gateway: Gateway, receiver: WebhookReceiver, database_url: str, tmp_path: Path
) -> None:
    # Given the CPN's webhook, slow enough to answer that a kill lands while requests are in flight
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret, Behaviour(status=200, delay=0.2))
    log = tmp_path / "dispatch.log"

    # and a stream of referrals sent to the CPN, every other one's consent withdrawn
    streaming = asyncio.Event()
    streaming.set()
    sent_count = 0

    async def stream() -> None:
        nonlocal sent_count
        while streaming.is_set() and sent_count < 200:
            sent = await sent_task(gateway, "cpn")
            if sent_count % 2 == 0:
                variables = {"i": {"consentId": sent.consent_id, "idempotencyKey": key()}}
                answer = await gateway.gql("hub", WITHDRAW, variables)
                assert answer["data"]["withdrawConsent"]["__typename"] == "ConsentPayload"
            sent_count += 1

    producer = asyncio.create_task(stream())
    in_flight_at_kill: list[int] = []
    process = start_dispatcher(database_url, log, **DISPATCH_ENVIRONMENT)
    try:
        # When the dispatcher is killed with SIGKILL while it has requests in flight, and restarted, several times
        for _ in range(KILLS):
            before = len(receiver.received)

            def delivering(before: int = before) -> bool:
                return len(receiver.received) > before + 3 and receiver.in_flight("cpn") > 0

            await eventually(delivering, seconds=60, what="deliveries in flight")
            in_flight_at_kill.append(receiver.in_flight("cpn"))
            kill(process)
            process = start_dispatcher(database_url, log, **DISPATCH_ENVIRONMENT)
        streaming.clear()
        await producer

        # Then every committed event reaches the receiver
        events = await rows(settings, OutboxEvent)
        expected = {f"evt_{event.id}" for event in events}
        assert len(expected) >= 2 * KILLS
        await eventually(
            lambda: expected <= set(receiver.delivered_ids("cpn")), seconds=90, what="every event delivered"
        )
        # and the restarted dispatcher stops cleanly on SIGTERM
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        streaming.clear()
        if not producer.done():
            producer.cancel()
        if process.poll() is None:
            kill(process)

    assert all(count > 0 for count in in_flight_at_kill)  # each kill was mid-delivery
    delivered = receiver.delivered_ids("cpn")
    assert set(delivered) == expected  # nothing that was not committed
    # A repeat is the same message under the same webhook-id: receivers de-duplicate by it
    bodies: dict[str, set[str]] = defaultdict(set)
    for request in receiver.on("cpn"):
        bodies[request.webhook_id].add(json.dumps(request.payload, sort_keys=True))
    assert all(len(variants) == 1 for variants in bodies.values())
    assert receiver.unverified == 0
    deliveries = await rows(settings, NotificationDelivery)
    assert {d.status for d in deliveries} == {"delivered"}
    assert {f"evt_{d.event_id}" for d in deliveries} == expected
    print(  # the figure the issue asks for, in the test's output with -s
        f"crash: {len(expected)} events, {KILLS} kills, {len(delivered) - len(expected)} duplicate deliveries, 0 lost"
    )
