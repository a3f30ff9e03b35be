"""OAuth negative cases: each refused with the right OAuth error, and none grants anything."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from sqlalchemy import update
from sqlmodel import func, select

from gateway.auth.models import AuthorizationCode, IssuedToken
from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from tests.support.auth import (
    REDIRECT_URI,
    World,
    authorization_code,
    authorize_params,
    client_credentials,
    exchange_code,
    pkce_pair,
    sign_in,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def _issued_count(world: World) -> int:
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            return int((await db.exec(select(func.count()).select_from(IssuedToken))).one())
    finally:
        await engine.dispose()


async def _execute(world: World, statement: object) -> None:
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db, db.begin():
            await db.exec(statement)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


def _assertion(
    world: World, *, audience: str | None = None, expires_in: int = 60, issued_at: int | None = None
) -> dict[str, str]:
    claims = {"iat": issued_at, "exp": issued_at + expires_in} if issued_at is not None else None
    token = private_key_jwt_sign(
        world.cpn_client_key,
        world.cpn_client_id,
        audience or world.token_url,
        expires_in=expires_in,
        claims=claims,
        header={"kid": world.cpn_client_key.kid, "alg": "ES256"},
        alg="ES256",
    )
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": token}


# -- client authentication --------------------------------------------------------------------------------


async def test_a_wrong_client_secret_is_invalid_client(client: httpx.AsyncClient, world: World) -> None:
    response = await client_credentials(client, world.hub_client_id, "not-the-secret")

    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert await _issued_count(world) == 0


async def test_secrets_in_the_body_are_not_accepted(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": world.hub_client_id,
            "client_secret": world.hub_client_secret,
        },
    )

    assert response.json()["error"] == "invalid_client"


async def test_a_client_assertion_is_accepted_once(client: httpx.AsyncClient, world: World) -> None:
    form = _assertion(world)

    first = await client.post("/oauth/token", data=form)
    replay = await client.post("/oauth/token", data=form)

    assert first.status_code == 200
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_client")
    assert await _issued_count(world) == 1


@pytest.mark.parametrize(
    "case",
    ["wrong-audience", "stale-exp", "too-long-lived"],
)
async def test_a_bad_client_assertion_is_invalid_client(client: httpx.AsyncClient, world: World, case: str) -> None:
    now = int(time.time())
    form = {
        "wrong-audience": lambda: _assertion(world, audience="https://attacker.example/token"),
        "stale-exp": lambda: _assertion(world, issued_at=now - 600, expires_in=60),
        "too-long-lived": lambda: _assertion(world, expires_in=86400),
    }[case]()

    response = await client.post("/oauth/token", data=form)

    assert response.json()["error"] == "invalid_client"
    assert await _issued_count(world) == 0


async def test_a_secret_client_cannot_authenticate_with_an_assertion_and_vice_versa(
    client: httpx.AsyncClient, world: World
) -> None:
    by_secret_for_jwt_client = await client_credentials(client, world.cpn_client_id, "anything")

    assert by_secret_for_jwt_client.json()["error"] == "invalid_client"


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"])
async def test_grants_not_offered_are_refused(client: httpx.AsyncClient, world: World, grant_type: str) -> None:
    response = await client_credentials(client, world.hub_client_id, world.hub_client_secret, grant_type=grant_type)

    assert response.json()["error"] == "unsupported_grant_type"


async def test_a_machine_client_cannot_use_the_code_grant(client: httpx.AsyncClient, world: World) -> None:
    _, challenge = pkce_pair()
    response = await client.get("/oauth/authorize", params=authorize_params(world.hub_client_id, challenge))

    assert response.status_code in (302, 400)
    assert "code=" not in response.headers.get("location", "")


# -- authorization code and PKCE ---------------------------------------------------------------------------


async def test_a_code_works_once_and_its_reuse_revokes_what_it_produced(
    client: httpx.AsyncClient, world: World
) -> None:
    code, verifier = await authorization_code(client, world)
    first = await exchange_code(client, world, code, verifier)
    token = first.json()["access_token"]

    reuse = await exchange_code(client, world, code, verifier)
    after = await client.post(
        "/graphql", json={"query": "{ viewer { organisation } }"}, headers={"authorization": f"Bearer {token}"}
    )

    assert first.status_code == 200
    assert reuse.json()["error"] == "invalid_grant"
    assert after.status_code == 401


async def test_an_expired_code_is_refused(client: httpx.AsyncClient, world: World) -> None:
    code, verifier = await authorization_code(client, world)
    await _execute(world, update(AuthorizationCode).values(expires_at=utc_now() - timedelta(seconds=1)))

    response = await exchange_code(client, world, code, verifier)

    assert response.json()["error"] == "invalid_grant"
    assert await _issued_count(world) == 0


async def test_codes_live_sixty_seconds_at_most(client: httpx.AsyncClient, world: World) -> None:
    await authorization_code(client, world)
    engine = create_engine(world.settings.database_url)
    async with create_session_factory(engine)() as db:
        row = (await db.exec(select(AuthorizationCode))).one()
    await engine.dispose()

    assert timedelta(0) < row.expires_at - utc_now() <= timedelta(seconds=60)


async def test_a_code_bound_to_another_client_is_refused(client: httpx.AsyncClient, world: World) -> None:
    code, verifier = await authorization_code(client, world)

    response = await exchange_code(
        client, world, code, verifier, client=(world.other_web_client_id, world.other_web_client_secret)
    )

    assert response.json()["error"] == "invalid_grant"
    assert await _issued_count(world) == 0


async def test_a_different_redirect_uri_at_the_token_endpoint_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    code, verifier = await authorization_code(client, world)

    response = await exchange_code(client, world, code, verifier, redirect_uri=REDIRECT_URI + "/elsewhere")

    assert response.json()["error"] == "invalid_grant"


async def test_a_wrong_code_verifier_is_refused(client: httpx.AsyncClient, world: World) -> None:
    code, _ = await authorization_code(client, world)

    response = await exchange_code(client, world, code, "x" * 64)

    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://attacker.example/callback", REDIRECT_URI + "/", REDIRECT_URI.upper(), REDIRECT_URI + "?x=1"],
)
async def test_an_unregistered_redirect_uri_is_never_redirected_to(
    client: httpx.AsyncClient, world: World, redirect_uri: str
) -> None:
    _, challenge = pkce_pair()
    response = await client.get(
        "/oauth/authorize", params=authorize_params(world.web_client_id, challenge, redirect_uri=redirect_uri)
    )

    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("pkce", "expected"),
    [
        ({}, "PKCE is required"),
        ({"code_challenge": "a" * 43, "code_challenge_method": "plain"}, "must be S256"),
        ({"code_challenge": "a" * 43}, "must be S256"),
    ],
    ids=["missing", "plain", "no-method"],
)
async def test_pkce_is_required_and_only_s256(
    client: httpx.AsyncClient, world: World, pkce: dict[str, str], expected: str
) -> None:
    params = {**authorize_params(world.web_client_id, None), **pkce}

    response = await client.get("/oauth/authorize", params=params)

    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert expected in query["error_description"][0]
    assert query["iss"] == [world.settings.issuer_url]
    assert "code" not in query


# -- the sign-in form --------------------------------------------------------------------------------------


async def test_the_sign_in_form_refuses_a_post_without_its_csrf_token(client: httpx.AsyncClient, world: World) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge)
    await client.get("/oauth/authorize", params=params)

    response = await client.post(
        "/oauth/authorize", data={**params, "csrf_token": "forged", "email": world.coordinator_email, "password": "x"}
    )

    assert response.status_code == 400
    assert "location" not in response.headers


async def test_repeated_failures_lock_the_account_even_for_the_right_password(
    client: httpx.AsyncClient, world: World
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge)
    failures = [await sign_in(client, params, world.coordinator_email, "wrong password") for _ in range(3)]

    right_password = await sign_in(client, params, world.coordinator_email)

    assert [f.status_code for f in failures] == [401, 401, 401]
    assert right_password.status_code == 401
    assert "Too many failed attempts" in right_password.text


async def test_unknown_and_wrong_password_get_the_same_answer(client: httpx.AsyncClient, world: World) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge)

    unknown = await sign_in(client, params, "nobody@hub.test", "whatever password")
    wrong = await sign_in(client, params, world.caseworker_email, "wrong password")

    assert unknown.status_code == wrong.status_code == 401
    assert "do not match an active account" in unknown.text and "do not match an active account" in wrong.text
