"""The HTTP surface: probes, the public provider directory, and what /graphql refuses."""

from __future__ import annotations

import gc

import httpx
import pytest

from gateway.app import create_app, settle_heap_for_serving
from gateway.settings import ConfigurationError, Environment, Settings

PROVIDERS_QUERY = """{ providers { slug name operatingOrganisation services firstContactTargetHours
  eligibility { summary area minAge maxAge crimeCategories } } }"""


async def graphql(client: httpx.AsyncClient, query: str, **kwargs: object) -> httpx.Response:
    return await client.post("/graphql", json={"query": query, **kwargs})


async def test_healthz_answers_while_the_process_lives(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_200_when_migrations_are_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_readyz_is_503_with_the_reason_on_an_unmigrated_database(empty_database_url: str) -> None:
    app = create_app(Settings(database_url=empty_database_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/readyz")
    await app.state.engine.dispose()

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "revision none" in response.json()["reason"]


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    app = create_app(Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.get("/readyz")
    await app.state.engine.dispose()

    assert response.status_code == 503
    assert response.json()["reason"].startswith("database unreachable")
    assert "nobody" not in response.text


async def test_providers_query_lists_the_five_public_profiles_without_a_token(client: httpx.AsyncClient) -> None:
    response = await graphql(client, PROVIDERS_QUERY)

    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    providers = {p["slug"]: p for p in body["data"]["providers"]}
    assert list(providers) == ["cpn", "family-action", "rape-crisis", "rj-hub", "road-victims-trust"]
    road = providers["road-victims-trust"]
    assert road["eligibility"]["crimeCategories"] == ["ROAD_COLLISION"]
    assert road["firstContactTargetHours"] == 48
    assert providers["cpn"]["operatingOrganisation"].endswith("(CPFT)")
    assert providers["family-action"]["eligibility"]["maxAge"] == 17


async def test_queries_over_get_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ providers { slug } }"})

    assert response.status_code == 405
    assert "providers" not in response.text


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/x-www-form-urlencoded", "query={providers{slug}}"), ("text/plain", '{"query":"{providers{slug}}"}')],
)
async def test_anything_but_json_is_refused(client: httpx.AsyncClient, content_type: str, body: str) -> None:
    response = await client.post("/graphql", content=body, headers={"content-type": content_type})

    assert response.status_code == 415


async def test_an_oversized_body_is_refused_before_graphql_reads_it(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    padding = " " * (settings.max_body_bytes + 1)
    response = await client.post(
        "/graphql", content='{"query":"{providers{slug}}' + padding + '"}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 413


async def test_batched_operations_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": "{ providers { slug } }"}] * 2)

    assert response.status_code == 400
    assert "providers" not in response.text


async def test_too_many_aliases_are_refused(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: providers {{ slug }}" for i in range(16)) + " }"

    body = (await graphql(client, query)).json()

    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"]


async def test_too_many_tokens_are_refused(client: httpx.AsyncClient) -> None:
    query = "{ providers { " + " ".join(["slug"] * 1000) + " } }"

    body = (await graphql(client, query)).json()

    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()


async def test_development_answers_introspection_and_shows_graphiql(client: httpx.AsyncClient) -> None:
    introspection = (await graphql(client, "{ __schema { queryType { name } } }")).json()
    page = await client.get("/graphql", headers={"accept": "text/html"})

    assert introspection["data"]["__schema"]["queryType"]["name"] == "Query"
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_production_turns_off_introspection_suggestions_and_the_ide(database_url: str) -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        database_url=database_url,
        issuer_url="https://gateway.example.org",
        session_secret="k" * 48,
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        introspection = (await graphql(client, "{ __schema { queryType { name } } }")).json()
        misspelt = (await graphql(client, "{ provider { slug } }")).json()
        page = await client.get("/graphql", headers={"accept": "text/html"})
    await app.state.engine.dispose()

    assert introspection.get("data") is None and "introspection" in introspection["errors"][0]["message"].lower()
    assert "Did you mean" not in misspelt["errors"][0]["message"]
    assert page.status_code == 405


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({}, "GATEWAY_ISSUER_URL"),
        ({"issuer_url": "https://gateway.example.org"}, "GATEWAY_SESSION_SECRET"),
        ({"issuer_url": "https://gateway.example.org", "session_secret": "change-me-" * 5}, "GATEWAY_SESSION_SECRET"),
        ({"issuer_url": "http://gateway.example.org", "session_secret": "k" * 48}, "GATEWAY_ISSUER_URL"),
    ],
)
def test_production_refuses_placeholders_naming_the_setting(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings(env=Environment.PRODUCTION, database_url="postgresql+asyncpg://db/gateway", **overrides)  # type: ignore[arg-type]

    assert named in str(refused.value)


async def test_every_response_carries_a_request_id_and_keeps_a_well_formed_one(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    kept = await client.get("/healthz", headers={"x-request-id": "caller-chosen-id-42"})
    replaced = await client.get("/healthz", headers={"x-request-id": "bad id with spaces"})

    assert len(generated.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "caller-chosen-id-42"
    assert replaced.headers["x-request-id"] != "bad id with spaces"


def test_serving_freezes_what_startup_built() -> None:
    # `gateway serve` and gateway.asgi call this once the app is built, so full collections skip startup's objects.
    assert gc.get_freeze_count() == 0
    try:
        settle_heap_for_serving()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
