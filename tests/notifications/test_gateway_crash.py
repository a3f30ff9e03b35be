"""Crash: the gateway process killed with SIGKILL mid-mutation, under a stream of sends and withdrawals. An event
exists exactly when its change committed: every task the database shows as sent has its one `task.requested`
event, every withdrawal that took effect its `consent.withdrawn` events, and no event names a change that did not
happen. PostgreSQL only: the kill lands while transactions are open on the server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.consent.models import Consent
from gateway.events.models import OutboxEvent
from gateway.referrals.models import ReferralTask
from gateway.settings import Settings
from tests.notifications.receivers import rows
from tests.support.api import (
    CREATE_REFERRAL,
    ISSUER,
    SEND_TASK,
    Gateway,
    api_templates,
    client,
    database_url,
    gateway,
    key,
    referral_input,
    world,
)
from tests.support.loopback import free_port

__all__ = ["api_templates", "client", "database_url", "gateway", "world"]

REPOSITORY = Path(__file__).resolve().parents[2]
DRAFTS = 60
WITHDRAW = "mutation($i: WithdrawConsentInput!) { withdrawConsent(input: $i) { __typename } }"


@pytest.fixture(params=["postgresql"])
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, issuer_url=ISSUER, dispatch_in_serve=False)


@contextlib.contextmanager
def serving(database_url: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real `gateway serve` process on loopback, and its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "GATEWAY_ENV": "development",
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_ISSUER_URL": ISSUER,
        "GATEWAY_DISPATCH_IN_SERVE": "false",
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environment,
            cwd=REPOSITORY,
            stdout=output,
            stderr=output,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the gateway did not start")
        time.sleep(0.1)
    try:
        yield process, base_url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


async def test_a_gateway_killed_mid_mutation_leaves_an_event_exactly_for_each_committed_change(
    settings: Settings, gateway: Gateway, database_url: str, tmp_path: Path
) -> None:
    # Given draft tasks for the CPN, each with its own consent, made through the API
    drafts = []
    for _ in range(DRAFTS):
        created = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral_input(providers=["cpn"])})
        referral = created["data"]["createReferral"]["referral"]
        drafts.append((referral["tasks"][0], referral["consents"][0]["id"]))
    hub = {"authorization": f"Bearer {await gateway.token('hub')}"}

    # When a real gateway process is sent a stream of sends, and withdrawals of every third consent, by eight
    # clients at once, and is killed with SIGKILL while they are in flight
    answered = 0
    a_third_answered = asyncio.Event()
    with serving(database_url, tmp_path / "serve.log") as (process, base_url):
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

            async def one(index: int) -> None:
                nonlocal answered
                task, consent_id = drafts[index]
                send = {"input": {"taskId": task["id"], "expectedVersion": task["version"], "idempotencyKey": key()}}
                await http.post("/graphql", json={"query": SEND_TASK, "variables": send}, headers=hub)
                if index % 3 == 0:
                    withdraw = {"i": {"consentId": consent_id, "idempotencyKey": key()}}
                    await http.post("/graphql", json={"query": WITHDRAW, "variables": withdraw}, headers=hub)
                answered += 1
                if answered >= DRAFTS // 3:
                    a_third_answered.set()

            async def client_loop(offset: int) -> None:
                for index in range(offset, DRAFTS, 8):
                    with contextlib.suppress(httpx.HTTPError):
                        await one(index)

            clients = [asyncio.create_task(client_loop(offset)) for offset in range(8)]
            await a_third_answered.wait()
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            await asyncio.gather(*clients)
    assert DRAFTS // 3 <= answered < DRAFTS, "the kill did not land mid-stream"

    # Then the database holds an event exactly for each change that committed, and nothing else
    tasks = {task.id: task for task in await rows(settings, ReferralTask)}
    consents = {consent.id: consent for consent in await rows(settings, Consent)}
    events = await rows(settings, OutboxEvent)
    requested = Counter(e.subject_ids["task"] for e in events if e.type == "task.requested")
    sent = {task_id for task_id, task in tasks.items() if task.requested_at is not None}
    assert sent and set(requested) == sent and set(requested.values()) == {1}
    withdrawn = {consent_id for consent_id, consent in consents.items() if consent.withdrawn_at is not None}
    told = {e.subject_ids["consent"] for e in events if e.type == "consent.withdrawn"}
    sent_under = {task.consent_id for task in tasks.values() if task.requested_at is not None}
    # A withdrawal tells the providers it had been sent to: an event for each committed withdrawal of a sent task
    assert told == withdrawn & sent_under
    assert told <= withdrawn and len(sent) < DRAFTS
