"""Over HTTP: a late retry answers the task as it is now; time rules and completion rules come back as codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.outcomes.models import MeasureResult
from gateway.referrals.models import ContactMethod, ContactResult
from tests.support.api import Gateway, key, sent_task

ANSWER = "__typename ... on TaskPayload { task { id status version } } ... on OperationError { code message }"
ACCEPT = f"mutation($input: TaskChangeInput!) {{ acceptTask(input: $input) {{ {ANSWER} }} }}"
FIRST_CONTACT = f"mutation($input: RecordFirstContactInput!) {{ recordFirstContact(input: $input) {{ {ANSWER} }} }}"
COMPLETE = f"mutation($input: CompleteTaskInput!) {{ completeTask(input: $input) {{ {ANSWER} }} }}"
ATTEMPT = """mutation($input: RecordContactAttemptInput!) { recordContactAttempt(input: $input) {
  __typename ... on OperationError { code message } } }"""
OUTCOME = {
    "informedAndEmpowered": MeasureResult.IMPROVED.name,
    "healthAndWellbeing": MeasureResult.IMPROVED.name,
    "copeAndRecover": MeasureResult.NOT_IMPROVED.name,
    "feelingSafer": MeasureResult.NOT_ASKED.name,
}


def _code(value: str) -> str:
    """A vocabulary value as the services spell it, whether the schema sends it as a string or an enum name."""
    return value.lower().replace("_", "-")


async def _field(gateway: Gateway, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await gateway.gql("cpn", query, variables)
    assert "errors" not in body, body
    return dict(next(iter(body["data"].values())))


async def test_a_late_retry_answers_the_task_as_it_is_now(gateway: Gateway) -> None:
    # Given a task the CPN accepted with a key, then made first contact on
    sent = await sent_task(gateway, "cpn")
    accept = {"input": {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": "late-accept"}}
    first = await _field(gateway, ACCEPT, accept)
    contact = {
        "taskId": sent.task_id,
        "expectedVersion": first["task"]["version"],
        "contactedAt": datetime.now(UTC).isoformat(),
        "idempotencyKey": key(),
    }
    contacted = await _field(gateway, FIRST_CONTACT, {"input": contact})

    # When the accept is retried with the same key
    retried = await _field(gateway, ACCEPT, accept)

    # Then the answer is the task as it is now: in progress, at the version after first contact
    assert _code(first["task"]["status"]) == "accepted"
    assert retried == {"__typename": "TaskPayload", "task": contacted["task"]}
    assert _code(retried["task"]["status"]) == "in-progress"
    assert retried["task"]["version"] == first["task"]["version"] + 1


async def test_a_contact_attempt_before_the_task_was_sent_is_a_validation_error(gateway: Gateway) -> None:
    # Given a task the CPN accepted
    sent = await sent_task(gateway, "cpn")
    await _field(
        gateway, ACCEPT, {"input": {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": key()}}
    )

    # When it logs an attempt dated a day before the task was sent
    refused = await _field(
        gateway,
        ATTEMPT,
        {
            "input": {
                "taskId": sent.task_id,
                "attemptedAt": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                "method": ContactMethod.PHONE.name,
                "result": ContactResult.NO_ANSWER.name,
                "idempotencyKey": key(),
            }
        },
    )

    # Then it is refused with the rule's message
    assert (refused["__typename"], _code(refused["code"]), refused["message"]) == (
        "OperationError",
        "validation",
        "The contact attempt cannot be before the task was sent.",
    )


async def test_completing_with_no_first_contact_is_refused_with_the_way_out(gateway: Gateway) -> None:
    # Given a task the CPN accepted but never reached the victim on
    sent = await sent_task(gateway, "cpn")
    accepted = await _field(
        gateway, ACCEPT, {"input": {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": key()}}
    )

    # When it completes it with an outcome
    refused = await _field(
        gateway,
        COMPLETE,
        {
            "input": {
                "taskId": sent.task_id,
                "expectedVersion": accepted["task"]["version"],
                "idempotencyKey": key(),
                "outcome": OUTCOME,
            }
        },
    )

    # Then it is an invalid transition that says to fail the task as unable to contact
    assert (refused["__typename"], _code(refused["code"])) == ("OperationError", "invalid-transition")
    assert "fail the task as unable to contact" in refused["message"]


async def test_a_replayed_accept_after_consent_withdrawal_answers_the_cancelled_redacted_task(
    gateway: Gateway,
) -> None:
    # Given a task the CPN accepted with a key, whose consent the Hub then withdrew
    sent = await sent_task(gateway, "cpn")
    accept = {"input": {"taskId": sent.task_id, "expectedVersion": sent.version, "idempotencyKey": "accept-then-gone"}}
    await _field(gateway, ACCEPT, accept)
    withdrawn = await gateway.gql(
        "hub",
        "mutation($i: WithdrawConsentInput!) { withdrawConsent(input: $i) { __typename } }",
        {"i": {"consentId": sent.consent_id, "idempotencyKey": key()}},
    )
    assert withdrawn["data"]["withdrawConsent"]["__typename"] == "ConsentPayload"

    # When the CPN's client retries the accept and reads the victim in the answer
    replayed = await _field(
        gateway,
        """mutation($input: TaskChangeInput!) { acceptTask(input: $input) { __typename
             ... on TaskPayload { task { status statusReason victim { redacted givenName phone } } } } }""",
        accept,
    )

    # Then the answer is the task as it is now: cancelled, and the victim redacted, as any read would give it
    task = replayed["task"]
    assert (_code(task["status"]), _code(task["statusReason"])) == ("cancelled", "consent-withdrawn")
    assert task["victim"] == {"redacted": True, "givenName": None, "phone": None}
