"""What the Hub reads of its own records (the victim, consents, the intake queue), and refusals of bad codes."""

from __future__ import annotations

import httpx

from tests.support.api import CREATE_REFERRAL, Gateway, key, referral_input, sent_task

REFERRAL_RECORD = """
query($id: ID!) {
  referral(id: $id) {
    victim { givenName familyName
             safeContact { safePhone safeTimes voicemailSafe lettersSafe perpetratorSharesAddress }
             guardian { name relationship phone email } }
    consents { givenBy method providers statisticsConsent withdrawnAt }
  }
}"""


async def test_the_hub_reads_its_victims_record_and_consents(gateway: Gateway) -> None:
    created = await gateway.gql(
        "hub",
        CREATE_REFERRAL,
        {
            "input": referral_input(
                providers=["rape-crisis"], age=15, crime="sexual-offence", needs=["sexual-violence-support"]
            )
        },
    )
    referral_id = created["data"]["createReferral"]["referral"]["id"]

    record = (await gateway.gql("hub", REFERRAL_RECORD, {"id": referral_id}))["data"]["referral"]
    by_a_provider = await gateway.gql("rape-crisis", REFERRAL_RECORD, {"id": referral_id})

    assert record["victim"] == {
        "givenName": "Alex",
        "familyName": "Example",
        "safeContact": {
            "safePhone": "07700900002",
            "safeTimes": "weekdays 10-12",
            "voicemailSafe": False,
            "lettersSafe": False,
            "perpetratorSharesAddress": False,
        },
        "guardian": {"name": "Sam Example", "relationship": "parent", "phone": "07700900003", "email": None},
    }
    assert record["consents"] == [
        {
            "givenBy": "GUARDIAN",
            "method": "VERBAL",
            "providers": ["rape-crisis"],
            "statisticsConsent": True,
            "withdrawnAt": None,
        }
    ]
    assert by_a_provider["data"] == {"referral": None}
    assert [error["extensions"]["code"] for error in by_a_provider["errors"]] == ["forbidden"]


async def test_an_adults_record_names_no_guardian(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")

    record = (await gateway.gql("hub", REFERRAL_RECORD, {"id": sent.referral_id}))["data"]["referral"]

    assert record["victim"]["guardian"] is None


async def test_the_intake_queue_shows_the_safe_contact_instructions(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    submitted = await client.post(
        "/self-referral",
        json={
            "given_name": "Jo",
            "family_name": "Bloggs",
            "consent_to_contact": True,
            "safe_contact": {"safe_phone": "07700900998", "letters_safe": True, "perpetrator_shares_address": True},
        },
        headers={"idempotency-key": key()},
    )

    queue = await gateway.gql(
        "hub",
        """{ intakeQueue { items { givenName
             safeContact { safePhone safeTimes voicemailSafe lettersSafe perpetratorSharesAddress } } } }""",
    )

    assert submitted.status_code == 202
    assert queue["data"]["intakeQueue"]["items"] == [
        {
            "givenName": "Jo",
            "safeContact": {
                "safePhone": "07700900998",
                "safeTimes": None,
                "voicemailSafe": False,
                "lettersSafe": True,
                "perpetratorSharesAddress": True,
            },
        }
    ]


REJECT = """
mutation($input: RejectTaskInput!) { rejectTask(input: $input) {
  __typename ... on TaskPayload { task { status } } ... on OperationError { code message } } }"""


async def test_an_unknown_reason_code_is_refused_and_changes_nothing(gateway: Gateway) -> None:
    sent = await sent_task(gateway, "cpn")

    refused = await gateway.gql(
        "cpn",
        REJECT,
        {
            "input": {
                "taskId": sent.task_id,
                "expectedVersion": sent.version,
                "idempotencyKey": key(),
                "reason": "bored",
            }
        },
    )
    bad_id = await gateway.gql(
        "cpn",
        REJECT,
        {
            "input": {
                "taskId": "task-1",
                "expectedVersion": sent.version,
                "idempotencyKey": key(),
                "reason": "NO_CAPACITY",
            }
        },
    )
    now = await gateway.gql("cpn", "query($id: ID!) { task(id: $id) { status version } }", {"id": sent.task_id})

    # Reasons are the RejectReason enum: GraphQL refuses an unknown one before any resolver runs.
    assert refused["data"] is None
    assert [e["message"] for e in refused["errors"]] != []
    assert bad_id["data"]["rejectTask"] == {
        "__typename": "OperationError",
        "code": "validation",
        "message": "That is not a task id.",
    }
    assert now["data"]["task"] == {"status": "REQUESTED", "version": sent.version}
