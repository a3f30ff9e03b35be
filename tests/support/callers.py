"""A world where each kind of caller has something to read: a machine client per caller and, made through the API
itself, a referral with sent tasks and a contact attempt, a self-referral, an RJ case with a party and a
facilitator, and a grant. Built once per database kind, copied for each test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import service as auth
from gateway.auth.keys import ensure_signing_key
from gateway.auth.models import User
from gateway.auth.principal import Role
from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from gateway.monitoring.periods import Quarter
from gateway.organisations.service import demo_organisations, ensure_organisation
from gateway.referrals.service import SelfReferralSubmission, submit_self_referral
from gateway.settings import Settings
from tests.support.api import ISSUER, ApiWorld, Gateway, key, make_settings, referral_input
from tests.support.databases import world_database

CALLERS: dict[str, tuple[str, str]] = {
    "hub": ("hub", "referrals:read referrals:write"),
    "commissioner": ("opcc", "monitoring:read grants:write"),
    "provider": ("cpn", "tasks:read tasks:write outcomes:write"),
    "rj-coordinator": ("rj-hub", "rj:manage tasks:read tasks:write outcomes:write"),
}


@dataclass(frozen=True)
class CallerWorld:
    credentials: dict[str, tuple[str, str]]
    ids: dict[str, str]  # referral, cpn-task, rj-task, rj-case, facilitator
    periods: tuple[str, str]  # the previous financial quarter and the current one


def _current_quarter() -> Quarter:
    today = utc_now()
    for quarter in (Quarter(today.year - 1, 4), *(Quarter(today.year, n) for n in (1, 2, 3, 4))):
        if quarter.starts_at <= today < quarter.ends_at:
            return quarter
    raise AssertionError("every day is in a financial quarter")


def _previous(quarter: Quarter) -> Quarter:
    if quarter.number == 1:
        return Quarter(quarter.financial_year - 1, 4)
    return Quarter(quarter.financial_year, quarter.number - 1)


async def _clients(settings: Settings) -> tuple[dict[str, tuple[str, str]], int]:
    engine = create_engine(settings.database_url)
    credentials = {}
    try:
        async with create_session_factory(engine)() as db, db.begin():
            await ensure_signing_key(db=db)
            organisations = {
                spec.slug: (await ensure_organisation(db=db, spec=spec))[0] for spec in demo_organisations()
            }
            for caller, (organisation, scopes) in CALLERS.items():
                created = await auth.add_client(db=db, organisation_slug=organisation, name=caller, scopes=scopes)
                assert created.secret is not None
                credentials[caller] = (created.client.client_id, created.secret)
            # A facilitator who never signs in here: a row, not auth.add_user, whose argon2 would cost a second.
            user = User(
                organisation_id=organisations["rj-hub"].id or 0,
                email="facilitator@rj.test",
                password_hash="!",
                roles=[Role.RJ_FACILITATOR.value],
            )
            db.add(user)
            await db.flush()
            await submit_self_referral(
                db=db,
                submission=SelfReferralSubmission(
                    given_name="Ruth", family_name="Example", consent_to_contact=True, phone="07700900555"
                ),
                idempotency_key=key(),
            )
    finally:
        await engine.dispose()
    return credentials, user.id or 0


async def _ok(gateway: Gateway, role: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await gateway.gql(role, query, variables)
    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert payload["__typename"] != "OperationError", payload
    return dict(payload)


async def _casework(gateway: Gateway, facilitator_user_id: int) -> dict[str, str]:
    """Everything each caller reads, made through the API as its callers would."""
    created = await _ok(
        gateway,
        "hub",
        """mutation($input: CreateReferralInput!) { createReferral(input: $input) { __typename
             ... on ReferralPayload { referral { id tasks { id provider version } } } } }""",
        {"input": referral_input(providers=["cpn", "rj-hub"], needs=["mental-health", "restorative-justice-interest"])},
    )
    referral = created["referral"]
    tasks = {task["provider"]: task for task in referral["tasks"]}
    for task in tasks.values():
        sent = await _ok(
            gateway,
            "hub",
            """mutation($input: SendTaskInput!) { sendTask(input: $input) { __typename
                 ... on TaskPayload { task { version } } } }""",
            {"input": {"taskId": task["id"], "expectedVersion": task["version"], "idempotencyKey": key()}},
        )
        task["version"] = sent["task"]["version"]
    await _ok(
        gateway,
        "provider",
        "mutation($input: TaskChangeInput!) { acceptTask(input: $input) { __typename } }",
        {"input": {"taskId": tasks["cpn"]["id"], "expectedVersion": tasks["cpn"]["version"], "idempotencyKey": key()}},
    )
    await _ok(
        gateway,
        "provider",
        "mutation($input: RecordContactAttemptInput!) { recordContactAttempt(input: $input) { __typename } }",
        {
            "input": {
                "taskId": tasks["cpn"]["id"],
                "attemptedAt": utc_now().isoformat(),
                "method": "PHONE",
                "result": "NO_ANSWER",
                "idempotencyKey": key(),
            }
        },
    )
    facilitator = await _ok(
        gateway,
        "rj-coordinator",
        """mutation($input: RegisterRjFacilitatorInput!) { registerRjFacilitator(input: $input) { __typename
             ... on RjFacilitatorPayload { facilitator { id } } } }""",
        {
            "input": {
                "userId": str(facilitator_user_id),
                "homeAgency": "PROBATION_SERVICE",
                "accreditationLevel": "ACCREDITED_PRACTITIONER",
                "accreditationExpiresOn": (utc_now() + timedelta(days=365)).date().isoformat(),
                "idempotencyKey": key(),
            }
        },
    )
    facilitator_id = facilitator["facilitator"]["id"]
    case = await _ok(
        gateway,
        "rj-coordinator",
        """mutation($input: CreateRjCaseInput!) { createRjCase(input: $input) { __typename
             ... on RjCasePayload { case { id } } } }""",
        {"input": {"source": "OFFICER", "crimeCategory": "VIOLENCE", "idempotencyKey": key()}},
    )
    case_id = case["case"]["id"]
    await _ok(
        gateway,
        "rj-coordinator",
        "mutation($input: AddRjPartyInput!) { addRjParty(input: $input) { __typename } }",
        {
            "input": {
                "caseId": case_id,
                "role": "HARMED",
                "givenName": "Perpetua",
                "familyName": "Example",
                "phone": "07700900123",
                "idempotencyKey": key(),
            }
        },
    )
    await _ok(
        gateway,
        "rj-coordinator",
        "mutation($input: AssignRjFacilitatorsInput!) { assignRjFacilitators(input: $input) { __typename } }",
        {"input": {"caseId": case_id, "leadFacilitatorId": facilitator_id, "idempotencyKey": key()}},
    )
    year = _current_quarter().financial_year
    await _ok(
        gateway,
        "commissioner",
        "mutation($input: CreateGrantInput!) { createGrant(input: $input) { __typename } }",
        {
            "input": {
                "idempotencyKey": key(),
                "grant": {
                    "provider": "cpn",
                    "reference": "OPCC-CPN-01",
                    "amountPence": 12_500_000,
                    "firstFinancialYear": year,
                    "lastFinancialYear": year,
                    "fundingSource": "MOJ_VICTIMS_SERVICES_GRANT",
                    "servicesFunded": ["Face-to-face visits"],
                    "targets": [{"measure": "REFERRALS_RECEIVED_PER_QUARTER", "value": 40}],
                },
            }
        },
    )
    return {
        "referral": referral["id"],
        "cpn-task": tasks["cpn"]["id"],
        "rj-task": tasks["rj-hub"]["id"],
        "rj-case": case_id,
        "facilitator": facilitator_id,
    }


async def _build(settings: Settings) -> CallerWorld:
    credentials, facilitator_user_id = await _clients(settings)
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
            ids = await _casework(Gateway(http, ApiWorld(settings, credentials)), facilitator_user_id)
    finally:
        await app.state.engine.dispose()
    current = _current_quarter()
    return CallerWorld(credentials=credentials, ids=ids, periods=(_previous(current).label, current.label))


@pytest.fixture(scope="session")
def caller_templates() -> dict[str, tuple[Path, str, CallerWorld]]:
    return {}


@pytest.fixture
def caller_world_and_url(
    database_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    caller_templates: dict[str, tuple[Path, str, CallerWorld]],
) -> Iterator[tuple[str, CallerWorld]]:
    build = lambda url: asyncio.run(_build(make_settings(url)))  # noqa: E731
    with world_database(database_kind, request, tmp_path, caller_templates, "caller_world", build) as found:
        yield found


@pytest.fixture
def database_url(caller_world_and_url: tuple[str, CallerWorld]) -> str:
    return caller_world_and_url[0]


@pytest.fixture
def caller_world(caller_world_and_url: tuple[str, CallerWorld]) -> CallerWorld:
    return caller_world_and_url[1]


@pytest.fixture(params=["fast-execution", "plain-execution"])
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """Both executors: the gateway's direct path for plain fields and graphql-core's own."""
    return make_settings(database_url, fast_execution=request.param == "fast-execution")


@pytest.fixture
def gateway(client: httpx.AsyncClient, settings: Settings, caller_world: CallerWorld) -> Gateway:
    return Gateway(client, ApiWorld(settings, caller_world.credentials))
