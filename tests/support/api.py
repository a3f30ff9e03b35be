"""An API world: the demo organisations, a signing key and one machine client per role, built once per database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.auth import service as auth
from gateway.auth.keys import ensure_signing_key
from gateway.db import create_engine, create_session_factory
from gateway.organisations.service import demo_organisations, ensure_organisation
from gateway.settings import Settings
from providers.profile import CrimeCategory, Need
from tests.support.databases import world_database

ISSUER = "https://gateway.test"
PROVIDERS = ("cpn", "family-action", "rape-crisis", "rj-hub", "road-victims-trust")
ROLE_CLIENTS: dict[str, tuple[str, str]] = {
    "hub": ("hub", "referrals:read referrals:write"),
    "hub-supervisor": ("hub", "referrals:read referrals:write consent:override audit:read"),
    "commissioner": ("opcc", "monitoring:read"),
    **{slug: (slug, "tasks:read tasks:write outcomes:write") for slug in PROVIDERS},
}


@dataclass(frozen=True)
class ApiWorld:
    settings: Settings
    credentials: dict[str, tuple[str, str]]  # role -> (client_id, secret)


async def _build(settings: Settings) -> dict[str, tuple[str, str]]:
    engine = create_engine(settings.database_url)
    credentials = {}
    try:
        async with create_session_factory(engine)() as db, db.begin():
            await ensure_signing_key(db=db)
            for spec in demo_organisations():
                await ensure_organisation(db=db, spec=spec)
            for role, (organisation, scopes) in ROLE_CLIENTS.items():
                created = await auth.add_client(db=db, organisation_slug=organisation, name=role, scopes=scopes)
                assert created.secret is not None
                credentials[role] = (created.client.client_id, created.secret)
    finally:
        await engine.dispose()
    return credentials


def make_settings(database_url: str, *, fast_execution: bool = True) -> Settings:
    return Settings(
        database_url=database_url, issuer_url=ISSUER, fast_execution=fast_execution, dispatch_in_serve=False
    )


@pytest.fixture(scope="session")
def api_templates() -> dict[str, tuple[Path, str, dict[str, tuple[str, str]]]]:
    return {}


@pytest.fixture
def database_url(
    database_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    api_templates: dict[str, tuple[Path, str, dict[str, tuple[str, str]]]],
) -> Iterator[str]:
    """A private copy of a database holding the demo organisations, a signing key and a client per role."""
    build = lambda url: asyncio.run(_build(make_settings(url)))  # noqa: E731
    with world_database(database_kind, request, tmp_path, api_templates, "api_world", build) as (url, _):
        yield url


@pytest.fixture(params=["fast-execution", "plain-execution"])
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """Every API test runs on the gateway's direct path for plain fields and on graphql-core's own executor."""
    return make_settings(database_url, fast_execution=request.param == "fast-execution")


@pytest.fixture
def world(settings: Settings, database_kind: str, api_templates: dict[str, Any]) -> ApiWorld:
    return ApiWorld(settings=settings, credentials=api_templates[database_kind][2])


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
        yield http


class Gateway:
    """Speaks to the gateway as each role, with real tokens from its own authorisation server."""

    def __init__(self, http: httpx.AsyncClient, world: ApiWorld) -> None:
        self.http = http
        self.world = world
        self._tokens: dict[str, str] = {}

    async def token(self, role: str) -> str:
        if role not in self._tokens:
            client_id, secret = self.world.credentials[role]
            response = await self.http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )
            assert response.status_code == 200, response.text
            self._tokens[role] = response.json()["access_token"]
        return self._tokens[role]

    async def raw(self, role: str | None, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {await self.token(role)}"} if role else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def gql(self, role: str | None, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.raw(role, query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def gateway(client: httpx.AsyncClient, world: ApiWorld) -> Gateway:
    return Gateway(client, world)


def key() -> str:
    return uuid.uuid4().hex


# -- a referral a test can build on ------------------------------------------------------------------------

CREATE_REFERRAL = """
mutation($input: CreateReferralInput!) {
  createReferral(input: $input) {
    __typename
    ... on ReferralPayload { referral { id reference tasks { id provider status version } consents { id } } }
    ... on OperationError { code message }
  }
}"""

SEND_TASK = """
mutation($input: SendTaskInput!) {
  sendTask(input: $input) {
    __typename
    ... on TaskPayload { task { id status version safeguardingOverride } }
    ... on OperationError { code message }
  }
}"""


def referral_input(
    *,
    providers: list[str],
    consent_providers: list[str] | None = None,
    age: int = 34,
    needs: list[str] | None = None,
    crime: str = "violence",
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A createReferral input; `needs` and `crime` are the domain's codes, sent as the GraphQL enums' names."""
    birth_year = 2026 - age
    return {
        "idempotencyKey": idempotency_key or key(),
        "victim": {
            "givenName": "Alex",
            "familyName": "Example",
            "dateOfBirth": f"{birth_year}-01-15",
            "address": "1 Example Street, Cambridge",
            "postcode": "CB1 1AA",
            "phone": "07700900001",
            "email": "alex@example.org",
            "safeContact": {"safePhone": "07700900002", "safeTimes": "weekdays 10-12", "voicemailSafe": False},
            "language": "English",
            "guardian": {"name": "Sam Example", "relationship": "parent", "phone": "07700900003"} if age < 18 else None,
        },
        "case": {
            "arrivalRoute": "OFFICER_NEEDS_ASSESSMENT",
            "reportedToPolice": True,
            "crimeReference": "CC-2026-0001",
            "crimeCategory": CrimeCategory(crime).name,
            "domesticAbuseRisk": "NONE",
            "needs": [Need(n).name for n in needs or ["mental-health", "emotional"]],
        },
        "consents": [
            {
                "givenBy": "VICTIM" if age >= 18 else "GUARDIAN",
                "method": "VERBAL",
                "givenAt": "2026-11-20T10:00:00+00:00",
                "providers": consent_providers if consent_providers is not None else providers,
                "dataCategories": [
                    "NAME",
                    "DATE_OF_BIRTH",
                    "AGE",
                    "ADDRESS",
                    "PHONE",
                    "EMAIL",
                    "SAFE_CONTACT",
                    "GUARDIAN",
                    "LANGUAGE",
                    "CRIME_CATEGORY",
                    "CRIME_REFERENCE",
                    "PRIORITY_FLAGS",
                    "NEEDS",
                    "ASSESSMENT_NOTES",
                ],
                "statisticsConsent": True,
            }
        ],
        "providers": providers,
    }


@dataclass(frozen=True)
class SentTask:
    referral_id: str
    task_id: str
    version: int
    consent_id: str
    provider: str


async def sent_task(gateway: Gateway, provider: str = "cpn", **options: Any) -> SentTask:
    """A referral created by the Hub and its task sent to `provider`."""
    created = await gateway.gql("hub", CREATE_REFERRAL, {"input": referral_input(providers=[provider], **options)})
    payload = created["data"]["createReferral"]
    assert payload["__typename"] == "ReferralPayload", payload
    task = payload["referral"]["tasks"][0]
    sent = await gateway.gql(
        "hub", SEND_TASK, {"input": {"taskId": task["id"], "expectedVersion": task["version"], "idempotencyKey": key()}}
    )
    result = sent["data"]["sendTask"]
    assert result["__typename"] == "TaskPayload", result
    return SentTask(
        referral_id=payload["referral"]["id"],
        task_id=task["id"],
        version=result["task"]["version"],
        consent_id=payload["referral"]["consents"][0]["id"],
        provider=provider,
    )
