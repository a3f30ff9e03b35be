"""Over HTTP with real tokens: the Commissioner reaches aggregates and grants, never a person; nobody else
reaches monitoring; anonymous callers get nothing. The schema walk proves no monitoring type holds a personal field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from graphql import GraphQLNamedType, GraphQLObjectType, GraphQLUnionType, get_named_type
from starlette.applications import Starlette
from strawberry.types.base import StrawberryObjectDefinition

from gateway.auth import service as auth_service
from gateway.db import create_engine, create_session_factory
from gateway.graphql.permissions import declared_permissions
from gateway.schema import build_schema
from gateway.settings import Settings
from tests.support.auth import ISSUER, World, build_world, client_credentials, make_settings
from tests.support.databases import world_database

# Every field name that would carry something about a person (camelCase, as the schema spells them).
PERSONAL_FIELDS = frozenset(
    {
        "victim", "victimId", "victimView", "givenName", "familyName", "dateOfBirth", "age", "address",
        "postcode", "phone", "email", "safeContact", "safePhone", "safeTimes", "guardian", "guardianName",
        "language", "interpreterNeeded", "crimeReference", "assessmentNotes", "whatHappened", "needs",
        "consent", "consents", "task", "tasks", "referral", "referrals", "caseId", "taskId",
    }
)  # fmt: skip
COMMISSIONER_SCOPES = "monitoring:read grants:write"
MONITORING = """
query { monitoring(firstPeriod: "2025-Q1", lastPeriod: "2025-Q2") {
  periods rows { period providerSlug volumes { received { value suppressed } } } } }
"""
CREATE_GRANT = """
mutation($input: CreateGrantInput!) { createGrant(input: $input) {
  __typename
  ... on GrantPayload { grant { reference providerSlug amountPence targets { measure value } } }
  ... on OperationError { code } } }
"""


@dataclass
class Callers:
    world: World
    commissioner: tuple[str, str]
    provider: tuple[str, str]
    provider_with_grants_scope: tuple[str, str]


async def _add_callers(settings: Settings) -> Callers:
    world = await build_world(settings)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            opcc = await auth_service.add_client(
                db=db, organisation_slug="opcc", name="opcc analyst tool", scopes=COMMISSIONER_SCOPES
            )
            cpn = await auth_service.add_client(
                db=db, organisation_slug="cpn", name="cpn system", scopes="tasks:read tasks:write outcomes:write"
            )
            misgranted = await auth_service.add_client(
                db=db, organisation_slug="cpn", name="cpn misconfigured", scopes="grants:write"
            )
    finally:
        await engine.dispose()
    assert opcc.secret and cpn.secret and misgranted.secret
    return Callers(
        world=world,
        commissioner=(opcc.client.client_id, opcc.secret),
        provider=(cpn.client.client_id, cpn.secret),
        provider_with_grants_scope=(misgranted.client.client_id, misgranted.secret),
    )


@pytest.fixture(scope="session")
def monitoring_templates() -> dict[str, tuple[Path, str, Callers]]:
    return {}


@pytest.fixture
def database_url(
    database_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monitoring_templates: dict[str, tuple[Path, str, Callers]],
) -> Iterator[str]:
    """A private copy of a database with the organisations, a signing key and every kind of caller."""
    build = lambda url: asyncio.run(_add_callers(make_settings(url)))  # noqa: E731
    with world_database(database_kind, request, tmp_path, monitoring_templates, "monitoring_world", build) as (url, _):
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def callers(database_kind: str, monitoring_templates: dict[str, tuple[Path, str, Callers]]) -> Callers:
    return monitoring_templates[database_kind][2]


@pytest.fixture
async def http(app: Starlette) -> Iterator[httpx.AsyncClient]:  # type: ignore[misc]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as client:
        yield client


async def _token(http: httpx.AsyncClient, client: tuple[str, str]) -> str:
    response = await client_credentials(http, *client)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _graphql(
    http: httpx.AsyncClient, query: str, token: str | None, variables: dict[str, object] | None = None
) -> dict[str, object]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _error_codes(body: dict[str, object]) -> list[object]:
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return [e.get("extensions", {}).get("code") for e in errors]


def _grant_input(reference: str) -> dict[str, object]:
    return {
        "idempotencyKey": f"grant-{reference}",
        "grant": {
            "provider": "cpn",
            "reference": reference,
            "amountPence": 12_500_000,
            "firstFinancialYear": 2025,
            "lastFinancialYear": 2025,
            "fundingSource": "MOJ_VICTIMS_SERVICES_GRANT",
            "servicesFunded": ["Face-to-face visits"],
            "targets": [{"measure": "REFERRALS_RECEIVED_PER_QUARTER", "value": 40}],
        },
    }


async def test_the_commissioner_reads_monitoring_and_records_grants(http: httpx.AsyncClient, callers: Callers) -> None:
    # Given the Commissioner's analyst tool with monitoring:read and grants:write
    token = await _token(http, callers.commissioner)

    # When it reads monitoring and records a grant
    monitoring = await _graphql(http, MONITORING, token)
    created = await _graphql(http, CREATE_GRANT, token, {"input": _grant_input("OPCC-2025-CPN-01")})

    # Then both succeed, with aggregates only
    assert "errors" not in monitoring
    data = monitoring["data"]
    assert isinstance(data, dict)
    assert data["monitoring"]["periods"] == ["2025-Q1", "2025-Q2"]
    assert {r["providerSlug"] for r in data["monitoring"]["rows"]} == {
        None, "cpn", "family-action", "rape-crisis", "rj-hub", "road-victims-trust"
    }  # fmt: skip
    assert created["data"] == {
        "createGrant": {
            "__typename": "GrantPayload",
            "grant": {
                "reference": "OPCC-2025-CPN-01",
                "providerSlug": "cpn",
                "amountPence": 12_500_000,
                "targets": [{"measure": "REFERRALS_RECEIVED_PER_QUARTER", "value": 40.0}],
            },
        }
    }


@pytest.mark.parametrize(
    "query",
    [
        "query { referrals { items { id } } }",
        'query { task(id: "1") { id } }',
        "query { inbox { items { id } } }",
        "query { intakeQueue { items { id } } }",
    ],
)
async def test_the_commissioner_cannot_reach_any_victim_field(
    http: httpx.AsyncClient, callers: Callers, query: str
) -> None:
    token = await _token(http, callers.commissioner)

    body = await _graphql(http, query, token)

    # A nullable root field comes back as null beside the error: either way, nothing at all
    assert body["data"] is None or set(body["data"].values()) == {None}  # type: ignore[attr-defined]
    assert _error_codes(body) == ["forbidden"]


@pytest.mark.parametrize("caller", ["hub", "provider", "anonymous"])
async def test_the_hub_providers_and_anonymous_callers_cannot_reach_monitoring(
    http: httpx.AsyncClient, callers: Callers, caller: str
) -> None:
    # Given a caller without monitoring:read
    token = {
        "hub": lambda: _token(http, (callers.world.hub_client_id, callers.world.hub_client_secret)),
        "provider": lambda: _token(http, callers.provider),
    }
    bearer = await token[caller]() if caller in token else None

    # When it asks for monitoring, the quarterly return or the grants
    answers = [
        await _graphql(http, MONITORING, bearer),
        await _graphql(http, 'query { quarterlyReturn(period: "2025-Q1") { period } }', bearer),
        await _graphql(http, "query { grants { reference } }", bearer),
    ]

    # Then each is refused as forbidden and no data comes back
    for body in answers:
        assert body["data"] is None
        assert _error_codes(body) == ["forbidden"]


async def test_a_provider_granted_grants_write_by_mistake_still_cannot_record_a_grant(
    http: httpx.AsyncClient, callers: Callers
) -> None:
    token = await _token(http, callers.provider_with_grants_scope)

    body = await _graphql(http, CREATE_GRANT, token, {"input": _grant_input("CPN-OWN-GRANT")})

    assert body["data"] == {"createGrant": {"__typename": "OperationError", "code": "forbidden"}}


# -- the schema walk ----------------------------------------------------------------------------------------------


def _reachable(named: GraphQLNamedType, seen: dict[str, GraphQLNamedType]) -> None:
    if named.name in seen:
        return
    seen[named.name] = named
    if isinstance(named, GraphQLUnionType):
        for member in named.types:
            _reachable(member, seen)
    if isinstance(named, GraphQLObjectType):
        for item in named.fields.values():
            _reachable(get_named_type(item.type), seen)


def _personal_fields_reachable_from(root: GraphQLObjectType, field: str) -> list[str]:
    seen: dict[str, GraphQLNamedType] = {}
    _reachable(get_named_type(root.fields[field].type), seen)
    return sorted(
        f"{name}.{item}"
        for name, named in seen.items()
        if isinstance(named, GraphQLObjectType)
        for item in named.fields
        if item in PERSONAL_FIELDS
    )


def test_no_type_reachable_from_monitoring_or_grants_has_a_personal_field() -> None:
    schema = build_schema()._schema
    assert schema.query_type is not None and schema.mutation_type is not None
    found = {
        field: _personal_fields_reachable_from(root, field)
        for root, field in [
            (schema.query_type, "monitoring"),
            (schema.query_type, "quarterlyReturn"),
            (schema.query_type, "grants"),
            (schema.mutation_type, "createGrant"),
            (schema.mutation_type, "updateGrant"),
        ]
    }

    assert {field: personal for field, personal in found.items() if personal} == {}
    # The walk itself works: it does find the victim's fields behind the provider's task field
    assert _personal_fields_reachable_from(schema.query_type, "task") != []


def test_no_field_the_commissioner_may_call_reaches_a_personal_field() -> None:
    commissioner = set(COMMISSIONER_SCOPES.split())
    strawberry_schema = build_schema()
    schema = strawberry_schema._schema
    reachable_by_commissioner: dict[str, list[str]] = {}
    for root_type, graphql_root in (
        (strawberry_schema.query, schema.query_type),
        (strawberry_schema.mutation, schema.mutation_type),
    ):
        assert graphql_root is not None and root_type is not None
        definition: StrawberryObjectDefinition = root_type.__strawberry_definition__  # type: ignore[attr-defined]
        for item in definition.fields:
            declared = declared_permissions(list(item.permission_classes))
            allowed = any(commissioner & set(d.split(" | ")) or d in {"public", "authenticated"} for d in declared)
            if allowed:
                name = item.graphql_name or strawberry_schema.config.name_converter.get_graphql_name(item)
                reachable_by_commissioner[name] = _personal_fields_reachable_from(graphql_root, name)

    assert {"monitoring", "quarterlyReturn", "grants", "createGrant", "updateGrant"} <= set(reachable_by_commissioner)
    assert {name: found for name, found in reachable_by_commissioner.items() if found} == {}
