"""The HTTP surface around referrals: statement counts, the cost limit, racing clients, self-referral."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from starlette.applications import Starlette

from gateway.logs import JsonLineFormatter
from gateway.referrals import service as referral_service
from gateway.settings import Settings
from tests.support.api import Gateway, key, sent_task

INBOX_WITH_NESTED = """
query($first: Int!) { inbox(first: $first) { items {
  id status victim { givenName safeContact { safePhone } } consent { state } contactAttempts { method result }
} } }"""


async def _statements_for(gateway: Gateway, app: Starlette, first: int) -> int:
    counted: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counted.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        body = await gateway.gql("cpn", INBOX_WITH_NESTED, {"first": first})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(body["data"]["inbox"]["items"]) == first
    # The token check runs on its own connection per request; count only what the GraphQL request itself issued.
    return len([s for s in counted if "issued_tokens" not in s])


async def test_an_inbox_page_costs_the_same_statements_for_5_or_50_tasks(gateway: Gateway, app: Starlette) -> None:
    for _ in range(50):
        await sent_task(gateway, "cpn")
    await gateway.token("cpn")

    for_five = await _statements_for(gateway, app, 5)
    for_fifty = await _statements_for(gateway, app, 50)

    assert for_fifty == for_five
    assert for_five <= 20


async def test_a_query_that_fans_out_too_far_is_refused_before_any_resolver(gateway: Gateway) -> None:
    wide = (
        "{ inbox(first: 100) { items { "
        + " ".join(f"a{i}: contactAttempts {{ method result attemptedAt }}" for i in range(14))
        + " } } }"
    )

    body = await gateway.gql("cpn", wide)

    assert body["data"] is None
    assert "too expensive" in body["errors"][0]["message"]


@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
async def test_two_clients_racing_accept_task_exactly_one_wins(gateway: Gateway, app: Starlette) -> None:
    sent = await sent_task(gateway, "cpn")
    token = await gateway.token("cpn")
    query = """mutation($i: TaskChangeInput!) { acceptTask(input: $i) {
        __typename ... on OperationError { code } } }"""

    async def accept(caseworker: int) -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://gateway.test") as http:
            response = await http.post(
                "/graphql",
                json={
                    "query": query,
                    "variables": {
                        "i": {
                            "taskId": sent.task_id,
                            "expectedVersion": sent.version,
                            "idempotencyKey": f"caseworker-{caseworker}",
                        }
                    },
                },
                headers={"authorization": f"Bearer {token}"},
            )
        result = response.json()["data"]["acceptTask"]
        return str(result.get("code") or result["__typename"])

    outcomes = await asyncio.gather(*(accept(n) for n in range(4)))

    assert sorted(outcomes) == ["TaskPayload", "conflict", "conflict", "conflict"]


SELF_REFERRAL = {
    "given_name": "Jo",
    "family_name": "Bloggs",
    "consent_to_contact": True,
    "phone": "07700900999",
    "safe_contact": {"safe_phone": "07700900998", "voicemail_safe": False},
    "crime_category": "burglary",
    "needs": ["emotional"],
}


async def test_a_self_referral_gets_only_a_reference_and_lands_in_the_hub_queue(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    response = await client.post("/self-referral", json=SELF_REFERRAL, headers={"idempotency-key": key()})
    queue = await gateway.gql("hub", "{ intakeQueue { items { confirmationReference givenName status } } }")
    provider_inbox = await gateway.gql("cpn", "{ inbox { items { id } } }")

    assert response.status_code == 202
    assert list(response.json()) == ["reference"]
    assert "Jo" not in response.text and "07700" not in response.text
    assert queue["data"]["intakeQueue"]["items"] == [
        {"confirmationReference": response.json()["reference"], "givenName": "Jo", "status": "NEW"}
    ]
    assert provider_inbox["data"]["inbox"]["items"] == []


async def test_self_referral_refusals_name_fields_never_values(client: httpx.AsyncClient) -> None:
    bad = await client.post("/self-referral", json={**SELF_REFERRAL, "given_name": "", "shoe_size": "Jo Bloggs 9"})
    wrong_type = await client.post("/self-referral", content="given_name=Jo", headers={"content-type": "text/plain"})

    assert bad.status_code == 400
    assert bad.json()["error"] == "validation"
    assert "given_name" in bad.json()["message"] and "shoe_size" in bad.json()["message"]
    assert "Bloggs" not in bad.text
    assert wrong_type.status_code == 415


async def test_self_referral_is_rate_limited(client: httpx.AsyncClient, settings: Settings) -> None:
    allowed = settings.self_referral_network_limit
    answers = [
        (await client.post("/self-referral", json=SELF_REFERRAL, headers={"idempotency-key": key()})).status_code
        for _ in range(allowed + 1)
    ]
    limited = await client.post("/self-referral", json=SELF_REFERRAL)

    assert answers == [202] * allowed + [429]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


async def test_an_unexpected_error_is_masked_and_logged_without_its_text(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(**_: object) -> None:
        raise ValueError("victim Jane Doe, 07700900123, 1 Secret Lane")

    # Through the resolvers on both databases: on PostgreSQL plain `referrals` documents are compiled into one
    # statement and never call the service function; an inline fragment is left to the resolvers.
    monkeypatch.setattr(referral_service, "list_referrals", broken)
    caplog.set_level(logging.INFO)

    body = await gateway.gql("hub", "{ referrals { ... on ReferralPage { items { id } } } }")

    assert body["errors"][0]["message"] == "Unexpected error."
    assert "Jane" not in json.dumps(body)
    lines = [JsonLineFormatter().format(record) for record in caplog.records]
    assert any('"error_type": "ValueError"' in line for line in lines)
    assert not any("Jane" in line or "07700" in line or "Secret Lane" in line for line in lines)
