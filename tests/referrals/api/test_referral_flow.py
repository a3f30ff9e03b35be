"""The journey over HTTP with real tokens: the Hub refers, the provider works the task, consent is withdrawn."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.support.api import CREATE_REFERRAL, Gateway, key, referral_input, sent_task

TASK_WITH_VICTIM = """
query($id: ID!) {
  task(id: $id) {
    id status statusReason version
    victim { redacted redactionReason fields givenName familyName dateOfBirth age address postcode phone email
             safeContact { safePhone safeTimes voicemailSafe lettersSafe perpetratorSharesAddress }
             guardian { name } language crimeCategory crimeReference domesticAbuseRisk needs assessmentNotes }
    consent { state }
    contactAttempts { method result }
  }
}"""

CHANGE = """
mutation Change($input: TaskChangeInput!) { %s(input: $input) {
  __typename ... on TaskPayload { task { status version } } ... on OperationError { code message } } }"""

REASONED = """
mutation Change($input: %sInput!) { %s(input: $input) {
  __typename ... on TaskPayload { task { status statusReason version } } ... on OperationError { code message } } }"""


async def change(
    gateway: Gateway, role: str, operation: str, task_id: str, version: int, **extra: Any
) -> dict[str, Any]:
    # Each transition with a reason takes its own input type, so its own enum of reasons.
    query = REASONED % (operation[0].upper() + operation[1:], operation) if "reason" in extra else CHANGE % operation
    variables = {"input": {"taskId": task_id, "expectedVersion": version, "idempotencyKey": key(), **extra}}
    body = await gateway.gql(role, query, variables)
    return dict(body["data"][operation])


async def test_a_referral_from_hub_to_provider_and_through_its_work(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")

    inbox = await gateway.gql("cpn", "{ inbox { items { id reference status provider } nextCursor } }")
    accepted = await change(gateway, "cpn", "acceptTask", sent.task_id, sent.version)
    attempt = await gateway.gql(
        "cpn",
        """mutation($input: RecordContactAttemptInput!) { recordContactAttempt(input: $input) {
             __typename ... on ContactAttemptPayload { contactAttempt { method result } } } }""",
        {
            "input": {
                "taskId": sent.task_id,
                "attemptedAt": datetime.now(UTC).isoformat(),
                "method": "PHONE",
                "result": "NO_ANSWER",
                "idempotencyKey": key(),
            }
        },
    )
    # Recording an attempt moves the task's version on: read it as a caseworker's screen would.
    current = await gateway.gql("cpn", "query($id: ID!) { task(id: $id) { version } }", {"id": sent.task_id})
    first_contact = await gateway.gql(
        "cpn",
        """mutation($input: RecordFirstContactInput!) { recordFirstContact(input: $input) {
             __typename ... on TaskPayload { task { status version firstContactAt } }
             ... on OperationError { code message } } }""",
        {
            "input": {
                "taskId": sent.task_id,
                "expectedVersion": current["data"]["task"]["version"],
                "contactedAt": datetime.now(UTC).isoformat(),
                "idempotencyKey": key(),
            }
        },
    )
    assert first_contact["data"]["recordFirstContact"]["__typename"] == "TaskPayload", first_contact
    in_progress = first_contact["data"]["recordFirstContact"]["task"]
    held = await change(gateway, "cpn", "holdTask", sent.task_id, in_progress["version"])
    resumed = await change(gateway, "cpn", "resumeTask", sent.task_id, held["task"]["version"])
    failed = await change(
        gateway, "cpn", "failTask", sent.task_id, resumed["task"]["version"], reason="UNABLE_TO_CONTACT"
    )
    seen_by_hub = await gateway.gql(
        "hub", "query($id: ID!) { task(id: $id) { status statusReason } }", {"id": sent.task_id}
    )

    assert [i["id"] for i in inbox["data"]["inbox"]["items"]] == [sent.task_id]
    assert inbox["data"]["inbox"]["items"][0]["status"] == "REQUESTED"
    assert accepted["task"]["status"] == "ACCEPTED"
    assert attempt["data"]["recordContactAttempt"]["contactAttempt"] == {"method": "PHONE", "result": "NO_ANSWER"}
    assert in_progress["status"] == "IN_PROGRESS"
    assert (held["task"]["status"], resumed["task"]["status"]) == ("ON_HOLD", "IN_PROGRESS")
    assert failed["task"] == {
        "status": "FAILED",
        "statusReason": "unable-to-contact",
        "version": failed["task"]["version"],
    }
    assert seen_by_hub["data"]["task"] == {"status": "FAILED", "statusReason": "unable-to-contact"}


async def test_each_provider_sees_exactly_its_allowed_fields(gateway: Gateway) -> None:
    adult = await sent_task(gateway, "cpn")
    child = await sent_task(gateway, "rape-crisis", age=15, crime="sexual-offence", needs=["sexual-violence-support"])

    cpn_view = (await gateway.gql("cpn", TASK_WITH_VICTIM, {"id": adult.task_id}))["data"]["task"]["victim"]
    rape_crisis_view = (await gateway.gql("rape-crisis", TASK_WITH_VICTIM, {"id": child.task_id}))["data"]["task"][
        "victim"
    ]

    assert cpn_view["redacted"] is False
    assert cpn_view["givenName"] == "Alex" and cpn_view["address"] == "1 Example Street, Cambridge"
    assert cpn_view["safeContact"]["safePhone"] == "07700900002"
    assert cpn_view["crimeReference"] is None  # not in the CPN profile, though consent covers it
    assert cpn_view["guardian"] is None
    # Rape Crisis's profile has no address, date of birth or e-mail: they are absent, not just hidden.
    assert rape_crisis_view["redacted"] is False
    assert rape_crisis_view["givenName"] == "Alex" and rape_crisis_view["age"] == 15
    assert (rape_crisis_view["address"], rape_crisis_view["dateOfBirth"], rape_crisis_view["email"]) == (
        None,
        None,
        None,
    )
    assert rape_crisis_view["guardian"] == {"name": "Sam Example"}
    assert "address" not in rape_crisis_view["fields"]


async def test_withdrawal_takes_effect_on_the_very_next_request(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")
    before = (await gateway.gql("cpn", TASK_WITH_VICTIM, {"id": sent.task_id}))["data"]["task"]

    withdrawn = await gateway.gql(
        "hub",
        """mutation($input: WithdrawConsentInput!) { withdrawConsent(input: $input) {
             __typename ... on ConsentPayload { consent { withdrawnAt } } ... on OperationError { code } } }""",
        {"input": {"consentId": sent.consent_id, "idempotencyKey": key()}},
    )
    after = (await gateway.gql("cpn", TASK_WITH_VICTIM, {"id": sent.task_id}))["data"]["task"]

    assert before["victim"]["givenName"] == "Alex"
    assert withdrawn["data"]["withdrawConsent"]["__typename"] == "ConsentPayload"
    assert (after["status"], after["statusReason"]) == ("CANCELLED", "consent-withdrawn")
    assert after["victim"]["redacted"] is True
    assert after["victim"]["redactionReason"] == "consent-withdrawn"
    personal = [
        "givenName",
        "familyName",
        "dateOfBirth",
        "age",
        "address",
        "postcode",
        "phone",
        "email",
        "safeContact",
        "guardian",
        "language",
        "needs",
        "assessmentNotes",
        "crimeCategory",
    ]
    assert {field: after["victim"][field] for field in personal} == dict.fromkeys(personal)
    assert after["consent"]["state"] == "WITHDRAWN"


async def test_an_ineligible_provider_is_refused_with_the_reason(gateway: Gateway) -> None:
    body = await gateway.gql(
        "hub", CREATE_REFERRAL, {"input": referral_input(providers=["road-victims-trust"], crime="burglary")}
    )

    result = body["data"]["createReferral"]
    assert result["__typename"] == "OperationError"
    assert result["code"] == "not-eligible"
    assert "road" in result["message"].lower()


async def test_replaying_create_referral_with_the_same_key_creates_nothing_new(gateway: Gateway) -> None:
    payload = referral_input(providers=["cpn"], idempotency_key="replay-key-0001")

    first = (await gateway.gql("hub", CREATE_REFERRAL, {"input": payload}))["data"]["createReferral"]
    second = (await gateway.gql("hub", CREATE_REFERRAL, {"input": payload}))["data"]["createReferral"]
    listed = await gateway.gql("hub", "{ referrals(first: 50) { items { id } } }")

    assert first["referral"]["id"] == second["referral"]["id"]
    assert [r["id"] for r in listed["data"]["referrals"]["items"]] == [first["referral"]["id"]]


async def test_a_stale_version_is_a_conflict_and_changes_nothing(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")
    await change(gateway, "cpn", "acceptTask", sent.task_id, sent.version)

    stale = await change(gateway, "cpn", "rejectTask", sent.task_id, sent.version, reason="NO_CAPACITY")
    now = (await gateway.gql("cpn", "query($id: ID!) { task(id: $id) { status } }", {"id": sent.task_id}))["data"]

    assert stale == {"__typename": "OperationError", "code": "conflict", "message": stale["message"]}
    assert now["task"]["status"] == "ACCEPTED"


COMPLETE = """
mutation($input: CompleteTaskInput!) { completeTask(input: $input) {
  __typename ... on TaskPayload { task { status version } } ... on OperationError { code message } } }"""

OUTCOME = {
    "informedAndEmpowered": "IMPROVED",
    "healthAndWellbeing": "NOT_IMPROVED",
    "copeAndRecover": "IMPROVED",
    "feelingSafer": "NOT_ASKED",
}


FIRST_CONTACT = """
mutation($input: RecordFirstContactInput!) { recordFirstContact(input: $input) {
  __typename ... on TaskPayload { task { status version } } ... on OperationError { code message } } }"""


async def test_completing_a_task_records_its_outcome(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")
    accepted = await change(gateway, "cpn", "acceptTask", sent.task_id, sent.version)
    contacted = await gateway.gql(
        "cpn",
        FIRST_CONTACT,
        {
            "input": {
                "taskId": sent.task_id,
                "expectedVersion": accepted["task"]["version"],
                "contactedAt": datetime.now(UTC).isoformat(),
                "idempotencyKey": key(),
            }
        },
    )
    version = contacted["data"]["recordFirstContact"]["task"]["version"]

    unknown_measure = await gateway.gql(
        "cpn",
        COMPLETE,
        {
            "input": {
                "taskId": sent.task_id,
                "expectedVersion": version,
                "idempotencyKey": key(),
                "outcome": {**OUTCOME, "providerMeasures": [{"code": "shoe-size", "result": "IMPROVED"}]},
            }
        },
    )
    completed = await gateway.gql(
        "cpn",
        COMPLETE,
        {"input": {"taskId": sent.task_id, "expectedVersion": version, "idempotencyKey": key(), "outcome": OUTCOME}},
    )
    by_another_provider = await gateway.gql(
        "family-action",
        COMPLETE,
        {"input": {"taskId": sent.task_id, "expectedVersion": version, "idempotencyKey": key(), "outcome": OUTCOME}},
    )

    assert unknown_measure["data"]["completeTask"]["code"] == "validation"
    assert completed["data"]["completeTask"]["task"]["status"] == "COMPLETED"
    assert by_another_provider["data"]["completeTask"]["code"] == "not-found"
