"""Over real HTTP end to end: the gateway served by uvicorn with its dispatcher in the lifespan (as `gateway serve`
runs it), mutations sent with real tokens, and a provider's receiver on loopback verifying every signature with
the `standardwebhooks` library."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from gateway.app import create_app
from gateway.notifications.models import NotificationDelivery
from gateway.settings import Settings
from tests.notifications.receivers import WebhookReceiver, add_webhook, eventually, rows
from tests.support.api import ISSUER, Gateway, api_templates, database_url, gateway, key, sent_task, world
from tests.support.loopback import served

__all__ = ["api_templates", "database_url", "gateway", "world"]

WITHDRAW = """
mutation($input: WithdrawConsentInput!) {
  withdrawConsent(input: $input) { __typename ... on OperationError { code } }
}"""


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, issuer_url=ISSUER, dispatch_in_serve=True, dispatch_poll_seconds=0.05)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver().running() as running:
        yield running


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway under uvicorn on loopback: its lifespan starts (and at the end stops) the dispatcher."""
    with served(create_app(settings)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield http


async def test_a_provider_hears_of_a_new_task_and_of_the_withdrawal_within_seconds(
    settings: Settings, receiver: WebhookReceiver, gateway: Gateway
) -> None:
    # Given the CPN's webhook, registered by an administrator
    _, secret = await add_webhook(settings, "cpn", receiver.url("cpn"))
    receiver.expect("cpn", secret)

    # When the Hub sends the CPN a task
    sent = await sent_task(gateway, "cpn")

    # Then the CPN's receiver hears of it, signed, with the task's id and nothing about the person
    def requested() -> list[dict[str, object]]:
        return [r.payload for r in receiver.on("cpn") if r.payload["type"] == "task.requested"]

    await eventually(lambda: len(requested()) == 1, seconds=10, what="task.requested at the receiver")
    (payload,) = requested()
    data = payload["data"]
    assert isinstance(data, dict)
    assert (data["task"], data["referral"], data["status"]) == (int(sent.task_id), int(sent.referral_id), "requested")
    assert set(data) <= {"task", "referral", "status", "reference"}  # ids and the task's reference, nothing else

    # When the Hub withdraws the consent
    withdrawn = await gateway.gql("hub", WITHDRAW, {"input": {"consentId": sent.consent_id, "idempotencyKey": key()}})
    assert withdrawn["data"]["withdrawConsent"]["__typename"] == "ConsentPayload"

    # Then the CPN hears of the withdrawal too, naming the task it cancelled
    def withdrawals() -> list[dict[str, object]]:
        return [r.payload for r in receiver.on("cpn") if r.payload["type"] == "consent.withdrawn"]

    await eventually(lambda: len(withdrawals()) == 1, seconds=10, what="consent.withdrawn at the receiver")
    data = withdrawals()[0]["data"]
    assert isinstance(data, dict)
    assert set(data) <= {"consent", "task_ids", "cancelled_task_ids"}
    assert data["consent"] == int(sent.consent_id)
    assert data["task_ids"] == [int(sent.task_id)]
    assert data["cancelled_task_ids"] == [int(sent.task_id)]

    # and every request verified, each event under its own webhook-id, each delivery recorded as delivered
    assert receiver.unverified == 0
    ids = [r.webhook_id for r in receiver.on("cpn")]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("evt_") for i in ids)
    deliveries = await rows(settings, NotificationDelivery)
    assert {d.status for d in deliveries} == {"delivered"}
    assert {f"evt_{d.event_id}" for d in deliveries} == set(ids)
