"""Revocation takes effect on the very next request; keys rotate without downtime; metadata is complete."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from authlib.oauth2 import rfc9207
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from sqlalchemy import update
from sqlmodel import col

from gateway.auth import service
from gateway.auth.keys import rotate_signing_key
from gateway.auth.models import SigningKey
from gateway.clock import utc_now
from gateway.db import create_engine, create_session_factory
from tests.support.auth import World, authorization_code, bearer_token, decode_unverified, exchange_code

VIEWER = {"query": "{ viewer { organisation } }"}
REPOSITORY = Path(__file__).resolve().parents[2]


async def _viewer_status(http: httpx.AsyncClient, token: str) -> int:
    return (await http.post("/graphql", json=VIEWER, headers={"authorization": f"Bearer {token}"})).status_code


def _gateway_cli(world: World, *argv: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": world.settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *argv],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        check=False,
    )


async def test_a_revoked_access_token_fails_on_the_next_request(client: httpx.AsyncClient, world: World) -> None:
    token = await bearer_token(client, world)
    before = await _viewer_status(client, token)

    revoked = await client.post(
        "/oauth/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        auth=(world.hub_client_id, world.hub_client_secret),
    )

    assert (before, revoked.status_code) == (200, 200)
    assert await _viewer_status(client, token) == 401


async def test_another_client_cannot_revoke_your_token(client: httpx.AsyncClient, world: World) -> None:
    token = await bearer_token(client, world)

    attempt = await client.post(
        "/oauth/revoke", data={"token": token}, auth=(world.web_client_id, world.web_client_secret)
    )

    assert attempt.json().get("error") == "invalid_grant"
    assert await _viewer_status(client, token) == 200


async def test_disabling_a_client_stops_its_tokens_on_the_next_request(client: httpx.AsyncClient, world: World) -> None:
    token = await bearer_token(client, world)
    assert await _viewer_status(client, token) == 200

    result = _gateway_cli(world, "clients", "disable", world.hub_client_id)

    assert result.returncode == 0, result.stderr
    assert await _viewer_status(client, token) == 401
    again = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(world.hub_client_id, world.hub_client_secret)
    )
    assert again.json()["error"] == "invalid_client"


async def test_deactivating_a_user_stops_their_tokens_and_refresh(client: httpx.AsyncClient, world: World) -> None:
    code, verifier = await authorization_code(client, world)
    tokens = (await exchange_code(client, world, code, verifier)).json()
    assert await _viewer_status(client, tokens["access_token"]) == 200

    engine = create_engine(world.settings.database_url)
    async with create_session_factory(engine)() as db, db.begin():
        await service.set_user_active(db=db, email=world.coordinator_email, active=False)
    await engine.dispose()

    assert await _viewer_status(client, tokens["access_token"]) == 401
    refresh = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(world.web_client_id, world.web_client_secret),
    )
    assert refresh.json()["error"] == "invalid_grant"


async def test_replaying_a_refresh_token_revokes_the_whole_family(client: httpx.AsyncClient, world: World) -> None:
    code, verifier = await authorization_code(client, world)
    first = (await exchange_code(client, world, code, verifier)).json()
    auth = (world.web_client_id, world.web_client_secret)
    rotated = (
        await client.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=auth
        )
    ).json()
    assert await _viewer_status(client, rotated["access_token"]) == 200

    replay = await client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=auth
    )

    assert replay.json()["error"] == "invalid_grant"
    assert await _viewer_status(client, rotated["access_token"]) == 401
    newest = await client.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]}, auth=auth
    )
    assert newest.json()["error"] == "invalid_grant"


async def test_introspection_reports_active_then_inactive(client: httpx.AsyncClient, world: World) -> None:
    token = await bearer_token(client, world)
    auth = (world.hub_client_id, world.hub_client_secret)

    active = (await client.post("/oauth/introspect", data={"token": token}, auth=auth)).json()
    await client.post("/oauth/revoke", data={"token": token}, auth=auth)
    inactive = (await client.post("/oauth/introspect", data={"token": token}, auth=auth)).json()

    assert active["active"] is True
    assert active["client_id"] == world.hub_client_id
    assert active["scope"] == "referrals:read referrals:write"
    assert inactive == {"active": False}


async def test_another_client_learns_nothing_from_introspection(client: httpx.AsyncClient, world: World) -> None:
    token = await bearer_token(client, world)

    answer = await client.post(
        "/oauth/introspect", data={"token": token}, auth=(world.other_web_client_id, world.other_web_client_secret)
    )

    assert answer.json() == {"active": False}


async def test_keys_rotate_without_downtime(client: httpx.AsyncClient, world: World) -> None:
    old_token = await bearer_token(client, world)
    old_kid = decode_unverified(old_token)[0]["kid"]

    rotated = _gateway_cli(world, "keys", "rotate")
    client_app_verifier = client._transport.app.state.token_verifier  # type: ignore[attr-defined]
    await client_app_verifier.refresh_keys(force=True)
    new_token = await bearer_token(client, world)
    jwks = (await client.get("/oauth/jwks")).json()

    assert rotated.returncode == 0, rotated.stderr
    new_kid = decode_unverified(new_token)[0]["kid"]
    assert new_kid != old_kid
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    assert all("d" not in k for k in jwks["keys"])  # public halves only
    assert await _viewer_status(client, old_token) == 200
    assert await _viewer_status(client, new_token) == 200

    # Once the old key's window has passed, it verifies nothing and leaves the JWKS.
    engine = create_engine(world.settings.database_url)
    async with create_session_factory(engine)() as db, db.begin():
        await db.exec(
            update(SigningKey)
            .where(col(SigningKey.kid) == old_kid)
            .values(verify_until=utc_now() - timedelta(seconds=1))
        )
    await engine.dispose()
    client_app_verifier._loaded_at = 0.0  # expire the cache as thirty seconds would
    assert await _viewer_status(client, old_token) == 401
    assert await _viewer_status(client, new_token) == 200
    assert [k["kid"] for k in (await client.get("/oauth/jwks")).json()["keys"]] == [new_kid]


async def test_a_retired_key_verifies_exactly_as_long_as_its_tokens_live(world: World) -> None:
    engine = create_engine(world.settings.database_url)
    async with create_session_factory(engine)() as db, db.begin():
        _, retired = await rotate_signing_key(db=db, access_token_ttl_seconds=600)
        await db.flush()
        from sqlmodel import select

        old = (await db.exec(select(SigningKey).where(SigningKey.kid == retired[0]))).one()
    await engine.dispose()

    assert old.retired_at is not None and old.verify_until is not None
    assert old.verify_until - old.retired_at == timedelta(seconds=660)


async def test_metadata_lists_every_endpoint_and_method(client: httpx.AsyncClient, world: World) -> None:
    document = (await client.get("/.well-known/oauth-authorization-server")).json()
    issuer = world.settings.issuer_url

    AuthorizationServerMetadata(document).validate(metadata_classes=[rfc9207.AuthorizationServerMetadata])
    assert document["issuer"] == issuer
    assert {name: document[name] for name in document if name.endswith("_endpoint") or name == "jwks_uri"} == {
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "jwks_uri": f"{issuer}/oauth/jwks",
    }
    assert document["grant_types_supported"] == ["authorization_code", "client_credentials", "refresh_token"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "private_key_jwt"]
    assert document["authorization_response_iss_parameter_supported"] is True
    for path in ("/oauth/jwks", "/.well-known/oauth-authorization-server"):
        assert (await client.get(path)).status_code == 200


async def test_access_tokens_are_rfc9068_es256_and_short_lived(client: httpx.AsyncClient, world: World) -> None:
    header, claims = decode_unverified(await bearer_token(client, world))

    assert header["typ"] == "at+jwt" and header["alg"] == "ES256" and header["kid"]
    assert {"exp", "iat", "iss", "aud", "sub", "jti", "client_id", "scope"} <= set(claims)
    assert int(claims["exp"]) - int(claims["iat"]) == 600  # type: ignore[call-overload]
    assert claims["aud"] == world.settings.audience and claims["iss"] == world.settings.issuer_url
