"""E-mail to team mailboxes through a real SMTP server (aiosmtpd), and the search for personal data: a referral
full of recognisable values goes through its life, and no webhook body, e-mail, attempt row, delivery row or log
line carries any of them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.clock import utc_now
from gateway.db import create_engine
from gateway.events.models import EventType
from gateway.notifications.dispatcher import Dispatcher
from gateway.notifications.models import NotificationAttempt, NotificationDelivery
from gateway.settings import Settings
from tests.notifications.receivers import Mailbox, WebhookReceiver, add_mailbox, add_webhook, record, rows, smtp_server
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
    sent_task,
    world,
)

__all__ = ["api_templates", "client", "database_url", "gateway", "world"]

# Values no notification may carry: each is unusual enough that finding it anywhere means it leaked.
RECOGNISABLE = {
    "givenName": "Zephyrine",
    "familyName": "Quartermaine-Oddbody",
    "dateOfBirth": "1987-03-29",
    "address": "17 Wisteria Crescent, Ely",
    "postcode": "CB7 4ZQ",
    "phone": "07700900987",
    "email": "zephyrine.q@example.org",
    "language": "Cornish",
}
SAFE_TIMES = "Thursdays 14:15-15:45 only"
SAFE_PHONE = "07700900654"
CRIME_REFERENCE = "CC-2026-QX4417"

ACCEPT = """
mutation($input: TaskChangeInput!) { acceptTask(input: $input) { __typename ... on OperationError { code } } }"""
WITHDRAW = """
mutation($input: WithdrawConsentInput!) {
  withdrawConsent(input: $input) { __typename ... on OperationError { code } }
}"""


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def settings(database_url: str, smtp: tuple[int, Mailbox]) -> Settings:
    return Settings(
        database_url=database_url,
        issuer_url=ISSUER,
        smtp_host="127.0.0.1",
        smtp_port=smtp[0],
        smtp_starttls=False,
        smtp_from="notifications@hub.example",
        smtp_timeout_seconds=5.0,
        dispatch_in_serve=False,
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver().running() as running:
        yield running


@pytest.fixture
async def dispatcher(settings: Settings) -> AsyncIterator[Dispatcher]:
    engine: AsyncEngine = create_engine(settings.database_url)
    made = Dispatcher(settings, engine)
    yield made
    await made.aclose()
    await engine.dispose()


def text_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def deliver_everything(dispatcher: Dispatcher) -> None:
    """Run rounds until nothing is left to fan out or attempt (a bounded number: a loop would be a bug)."""
    for _ in range(20):
        summary = await dispatcher.run_once()
        if summary.fanned_out == 0 and summary.attempted == 0:
            return
    raise AssertionError("the dispatcher kept finding work")


async def test_a_team_mailbox_gets_an_email_with_the_task_link_and_no_personal_data(
    settings: Settings,
    smtp: tuple[int, Mailbox],
    receiver: WebhookReceiver,
    gateway: Gateway,
    dispatcher: Dispatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, mailbox = smtp
    # Given a team mailbox and a webhook for the CPN and for the Hub
    await add_mailbox(settings, "cpn", "referrals-team@cpn.example")
    await add_mailbox(settings, "hub", "duty-desk@hub.example")
    for slug in ("cpn", "hub"):
        _, secret = await add_webhook(settings, slug, receiver.url(slug))
        receiver.expect(slug, secret)

    # When a referral full of recognisable values is sent to the CPN, accepted, and its consent withdrawn
    referral = referral_input(providers=["cpn"])
    referral["victim"] |= RECOGNISABLE
    referral["victim"]["safeContact"] |= {"safePhone": SAFE_PHONE, "safeTimes": SAFE_TIMES}
    referral["case"]["crimeReference"] = CRIME_REFERENCE
    created = (await gateway.gql("hub", CREATE_REFERRAL, {"input": referral}))["data"]["createReferral"]
    task = created["referral"]["tasks"][0]
    sent = await gateway.gql(
        "hub", SEND_TASK, {"input": {"taskId": task["id"], "expectedVersion": task["version"], "idempotencyKey": key()}}
    )
    version = sent["data"]["sendTask"]["task"]["version"]
    accepted = await gateway.gql(
        "cpn", ACCEPT, {"input": {"taskId": task["id"], "expectedVersion": version, "idempotencyKey": key()}}
    )
    assert accepted["data"]["acceptTask"]["__typename"] == "TaskPayload"
    consent_id = created["referral"]["consents"][0]["id"]
    withdrawn = await gateway.gql("hub", WITHDRAW, {"input": {"consentId": consent_id, "idempotencyKey": key()}})
    assert withdrawn["data"]["withdrawConsent"]["__typename"] == "ConsentPayload"
    await deliver_everything(dispatcher)

    # Then the CPN's team mailbox has the new task and the withdrawal, the Hub's the acceptance, each linking the task
    messages = mailbox.all()
    to_cpn = [m for envelope, m in messages if envelope.rcpt_tos == ["referrals-team@cpn.example"]]
    to_hub = [m for envelope, m in messages if envelope.rcpt_tos == ["duty-desk@hub.example"]]
    assert len(to_cpn) == 2 and len(to_hub) == 1
    link = f"{ISSUER}/portal/tasks/{task['id']}"
    for message in to_cpn + to_hub:
        assert message["From"] == "notifications@hub.example"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Message-ID"].startswith("<evt_") and message["Message-ID"].endswith("@hub.example>")
        assert link in text_of(message)
    # and the webhooks went out alongside
    assert {r.payload["type"] for r in receiver.on("cpn")} == {"task.requested", "consent.withdrawn"}
    assert {r.payload["type"] for r in receiver.on("hub")} >= {"task.accepted"}
    deliveries = await rows(settings, NotificationDelivery)
    assert {d.status for d in deliveries} == {"delivered"}

    # and no recognisable value is anywhere a notification went or left a trace
    places: dict[str, str] = {
        "e-mails": "\n".join(m.as_string() + text_of(m) for _, m in messages),
        "webhooks": "\n".join(r.body + repr(r.headers) for r in receiver.received),
        "attempt rows": repr([a.model_dump() for a in await rows(settings, NotificationAttempt)]),
        "delivery rows": repr([d.model_dump() for d in deliveries]),
        "dispatch logs": "\n".join(
            r.getMessage() + repr(vars(r)) for r in caplog.records if r.name.startswith("gateway.notifications")
        ),
    }
    assert len(places["dispatch logs"]) > 0
    searched = [*RECOGNISABLE.values(), SAFE_PHONE, SAFE_TIMES, CRIME_REFERENCE]
    for where, text in places.items():
        for value in searched:
            assert value.lower() not in text.lower(), f"{value!r} leaked into {where}"


async def test_while_smtp_is_off_or_refuses_email_deliveries_wait_and_retry(
    settings: Settings, smtp: tuple[int, Mailbox], database_url: str
) -> None:
    _, mailbox = smtp
    await add_mailbox(settings, "cpn", "referrals-team@cpn.example")
    await record(settings, "cpn", EventType.TASK_REQUESTED, task=5)

    # SMTP not configured: the delivery waits for it
    off = settings.model_copy(update={"smtp_host": ""})
    engine = create_engine(database_url)
    try:
        dispatcher = Dispatcher(off, engine)
        assert (await dispatcher.run_once()).outcomes == {"retry": 1}
        await dispatcher.aclose()
        (delivery,) = await rows(settings, NotificationDelivery)
        assert (delivery.status, delivery.last_error) == ("pending", "smtp-off")

        # The server refuses: a short code, never its reply text
        mailbox.answer = "554 5.7.1 Rejected: referrals-team@cpn.example is over quota"
        dispatcher = Dispatcher(settings, engine, clock=lambda: delivery.next_attempt_at)
        assert (await dispatcher.run_once()).outcomes == {"retry": 1}
        await dispatcher.aclose()
    finally:
        await engine.dispose()
    (delivery,) = await rows(settings, NotificationDelivery)
    assert (delivery.status, delivery.last_error, delivery.last_status_code) == ("pending", "smtp-554", 554)
    attempts: list[Any] = await rows(settings, NotificationAttempt)
    assert [(a.outcome, a.error) for a in attempts] == [("retry", "smtp-off"), ("retry", "smtp-554")]
    assert mailbox.refused == 1 and mailbox.all() == []


async def test_the_dispatcher_sweeps_overdue_tasks_once_and_tells_both_mailboxes(
    settings: Settings, smtp: tuple[int, Mailbox], gateway: Gateway, database_url: str
) -> None:
    _, mailbox = smtp
    await add_mailbox(settings, "cpn", "referrals-team@cpn.example")
    await add_mailbox(settings, "hub", "duty-desk@hub.example")
    sent = await sent_task(gateway, "cpn")
    engine = create_engine(database_url)
    # Three weeks on, nobody has accepted the task
    dispatcher = Dispatcher(settings, engine, clock=lambda: utc_now() + timedelta(days=21))
    try:
        await deliver_everything(dispatcher)
        escalated = await dispatcher.sweep_once()
        assert escalated >= 1
        assert await dispatcher.sweep_once() == 0  # once per task and kind
        await deliver_everything(dispatcher)
    finally:
        await dispatcher.aclose()
        await engine.dispose()
    overdue = [
        (envelope.rcpt_tos[0], message["Subject"])
        for envelope, message in mailbox.all()
        if "overdue" in str(message["Subject"]).lower()
    ]
    assert {to for to, _ in overdue} == {"referrals-team@cpn.example", "duty-desk@hub.example"}
    assert len(overdue) == 2 * escalated
    assert all(f"/portal/tasks/{sent.task_id}" in text_of(m) for _, m in mailbox.all())
