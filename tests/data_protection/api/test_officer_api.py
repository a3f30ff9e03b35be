"""The officer's GraphQL fields with real tokens: what the officer's scope can do, and that nobody else can."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import func, select

from gateway.data_protection.models import LegalHold, Rectification
from gateway.db import create_engine, create_session_factory
from gateway.referrals.models import Referral
from tests.support.api import ROLE_CLIENTS, Gateway, key, sent_task

EXPORT = """
query($victim: ID!) { subjectAccessExport(victimId: $victim) { victimId json html reviewRequired } }"""
TRAIL = """
query($victim: ID, $organisation: ID, $categories: [AuditCategory!], $first: Int! = 50, $after: String) {
  auditTrail(victimId: $victim, organisationId: $organisation, categories: $categories, first: $first,
             after: $after) {
    items { id sequence category action actor victimId recipientOrganisationId subjects }
    nextCursor
  }
}"""
HOLDS = "query($victim: ID!) { legalHolds(victimId: $victim) { id placedBy liftedAt } }"
RECTIFY = """
mutation($input: RectifyVictimInput!) {
  rectifyVictim(input: $input) {
    __typename
    ... on RectificationPayload { rectification { fields rectifiedBy } }
    ... on OperationError { code message }
  }
}"""
PLACE = """
mutation($input: PlaceLegalHoldInput!) {
  placeLegalHold(input: $input) {
    __typename
    ... on LegalHoldPayload { hold { id placedBy liftedAt } }
    ... on OperationError { code message }
  }
}"""
LIFT = """
mutation($input: LiftLegalHoldInput!) {
  liftLegalHold(input: $input) {
    __typename
    ... on LegalHoldPayload { hold { id liftedAt } }
    ... on OperationError { code message }
  }
}"""
PROVIDER_READ = "query($id: ID!) { task(id: $id) { victim { redacted familyName phone } } }"


async def _victim_of(gateway: Gateway, referral_id: str) -> str:
    engine = create_engine(gateway.world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            referral = (await db.exec(select(Referral).where(Referral.id == int(referral_id)))).one()
    finally:
        await engine.dispose()
    return str(referral.victim_id)


async def _data(gateway: Gateway, role: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await gateway.gql(role, query, variables)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_the_officer_exports_rectifies_holds_and_reads_the_trail(gateway: Gateway) -> None:
    # Given a victim referred to the CPN, whose caseworkers have read the victim's details
    task = await sent_task(gateway, "cpn")
    victim = await _victim_of(gateway, task.referral_id)
    read = await _data(gateway, "cpn", PROVIDER_READ, {"id": task.task_id})
    assert read["task"]["victim"]["familyName"] == "Example"

    # When the officer asks for a subject access export
    export = (await _data(gateway, "dpo", EXPORT, {"victim": victim}))["subjectAccessExport"]

    # Then it holds the victim's record and the two disclosures to the CPN, as JSON and as a readable document
    document = json.loads(export["json"])
    assert document["identity"]["given_name"] == "Alex"
    assert [(d["organisation"], d["action"]) for d in document["disclosures"]] == [
        ("cpn", "task.send"),
        ("cpn", "victim.view"),
    ]
    assert export["html"].startswith("<!DOCTYPE html>") and "Alex" in export["html"]

    # When the officer corrects the family name, then the CPN reads again
    rectified = await _data(
        gateway,
        "dpo",
        RECTIFY,
        {
            "input": {
                "victimId": victim,
                "corrections": [{"detail": "FAMILY_NAME", "value": "Exemplar"}],
                "reason": "Misspelt at referral.",
                "idempotencyKey": key(),
            }
        },
    )
    assert rectified["rectifyVictim"]["rectification"]["fields"] == ["family_name"]
    again = await _data(gateway, "cpn", PROVIDER_READ, {"id": task.task_id})
    assert again["task"]["victim"]["familyName"] == "Exemplar"

    # When the officer places a hold and lifts it
    placed = await _data(
        gateway, "dpo", PLACE, {"input": {"victimId": victim, "reason": "Trial listed.", "idempotencyKey": key()}}
    )
    hold = placed["placeLegalHold"]["hold"]
    lifted = await _data(gateway, "dpo", LIFT, {"input": {"holdId": hold["id"], "idempotencyKey": key()}})
    assert lifted["liftLegalHold"]["hold"]["liftedAt"] is not None
    twice = await _data(gateway, "dpo", LIFT, {"input": {"holdId": hold["id"], "idempotencyKey": key()}})
    assert twice["liftLegalHold"]["code"] == "invalid-transition"
    holds = (await _data(gateway, "dpo", HOLDS, {"victim": victim}))["legalHolds"]
    assert [h["id"] for h in holds] == [hold["id"]]

    # Then the trail shows each of these, paged, and filtered by category
    trail = (await _data(gateway, "dpo", TRAIL, {"victim": victim, "first": 100}))["auditTrail"]
    actions = [item["action"] for item in trail["items"]]
    for action in ("task.send", "victim.view", "subject-access.export", "victim.rectify", "legal-hold.place"):
        assert action in actions
    assert all(item["victimId"] == victim for item in trail["items"])
    assert not any("Exemplar" in item["subjects"] or "Trial" in item["subjects"] for item in trail["items"])
    first = (await _data(gateway, "dpo", TRAIL, {"victim": victim, "first": 1}))["auditTrail"]
    second = (await _data(gateway, "dpo", TRAIL, {"victim": victim, "first": 1, "after": first["nextCursor"]}))[
        "auditTrail"
    ]
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in trail["items"][:2]]
    alterations = (await _data(gateway, "dpo", TRAIL, {"victim": victim, "categories": ["ALTERATION"]}))["auditTrail"]
    assert {i["action"] for i in alterations["items"]} == {"victim.rectify", "legal-hold.place", "legal-hold.lift"}


OTHERS = sorted(ROLE_CLIENTS)
ANONYMOUS_CODE = "forbidden"


async def _officer_rows(gateway: Gateway) -> tuple[int, int]:
    engine = create_engine(gateway.world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            holds = (await db.exec(select(func.count()).select_from(LegalHold))).one()
            fixes = (await db.exec(select(func.count()).select_from(Rectification))).one()
    finally:
        await engine.dispose()
    return int(holds), int(fixes)


FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("subjectAccessExport", EXPORT, {"victim": "1"}),
    ("auditTrail", TRAIL, {"victim": "1"}),
    ("legalHolds", HOLDS, {"victim": "1"}),
    (
        "rectifyVictim",
        RECTIFY,
        {
            "input": {
                "victimId": "1",
                "corrections": [{"detail": "PHONE", "value": "0"}],
                "reason": "x",
                "idempotencyKey": "k",
            }
        },
    ),
    ("placeLegalHold", PLACE, {"input": {"victimId": "1", "reason": "x", "idempotencyKey": "k"}}),
    ("liftLegalHold", LIFT, {"input": {"holdId": "1", "idempotencyKey": "k"}}),
]


@pytest.mark.parametrize("role", OTHERS)
async def test_every_other_caller_is_refused_every_officer_field(gateway: Gateway, role: str) -> None:
    # Given a victim with a record (so a refusal cannot be mistaken for not-found)
    task = await sent_task(gateway, "cpn")
    victim = await _victim_of(gateway, task.referral_id)
    for name, query, template in FIELDS:
        variables = json.loads(json.dumps(template).replace('"1"', json.dumps(victim)))
        # When anyone but the officer asks, with a token or without
        for caller in (role, None):
            body = await gateway.gql(caller, query, variables)
            # Then the field is refused before it runs, and nothing is answered
            assert body["data"] in (None, {name: None}), (caller, name, body)
            codes = [error["extensions"]["code"] for error in body["errors"]]
            assert codes == [ANONYMOUS_CODE if caller is None else "forbidden"], (caller, name, codes)
    # And nothing was changed: no hold, no correction
    assert await _officer_rows(gateway) == (0, 0)
