"""The three flows end to end, through authlib's standard httpx client, against the gateway on loopback."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT

from tests.support.auth import PASSWORD, REDIRECT_URI, LiveGateway

VIEWER = {"query": "{ viewer { organisation kind scopes roles } }"}


async def viewer_with(base_url: str, access_token: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/graphql", json=VIEWER, headers={"authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["viewer"])


async def test_client_credentials_with_a_secret(live_gateway: LiveGateway) -> None:
    world = live_gateway.world
    async with AsyncOAuth2Client(
        world.hub_client_id, world.hub_client_secret, token_endpoint_auth_method="client_secret_basic"
    ) as oauth:
        token = await oauth.fetch_token(f"{live_gateway.base_url}/oauth/token", grant_type="client_credentials")

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 600
    assert "refresh_token" not in token
    assert await viewer_with(live_gateway.base_url, token["access_token"]) == {
        "organisation": "hub",
        "kind": "client",
        "scopes": ["referrals:read", "referrals:write"],
        "roles": [],
    }


async def test_client_credentials_with_private_key_jwt(live_gateway: LiveGateway) -> None:
    world = live_gateway.world
    token_url = f"{live_gateway.base_url}/oauth/token"
    async with AsyncOAuth2Client(
        world.cpn_client_id, world.cpn_client_key, token_endpoint_auth_method="private_key_jwt"
    ) as oauth:
        oauth.register_client_auth_method(
            PrivateKeyJWT(token_url, alg="ES256", headers={"kid": world.cpn_client_key.kid})
        )
        token = await oauth.fetch_token(token_url, grant_type="client_credentials", scope="tasks:read")

    assert token["scope"] == "tasks:read"
    viewer = await viewer_with(live_gateway.base_url, token["access_token"])
    assert viewer["organisation"] == "cpn"
    assert viewer["scopes"] == ["tasks:read"]


async def test_authorization_code_with_pkce_through_the_sign_in_form(live_gateway: LiveGateway) -> None:
    world = live_gateway.world
    base = live_gateway.base_url
    async with AsyncOAuth2Client(
        world.web_client_id,
        world.web_client_secret,
        redirect_uri=REDIRECT_URI,
        scope="referrals:read referrals:write tasks:read",
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    ) as oauth:
        verifier = "v" * 64
        url, state = oauth.create_authorization_url(f"{base}/oauth/authorize", code_verifier=verifier)
        async with httpx2.AsyncClient() as browser:
            page = await browser.get(url)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert page.status_code == 200 and csrf is not None
            hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
            signed_in = await browser.post(
                f"{base}/oauth/authorize",
                data={**hidden, "csrf_token": csrf.group(1), "email": world.coordinator_email, "password": PASSWORD},
            )
        assert signed_in.status_code == 302
        location = signed_in.headers["location"]
        query = parse_qs(urlsplit(location).query)
        assert location.startswith(REDIRECT_URI)
        assert query["iss"] == [base]  # RFC 9207
        assert query["state"] == [state]
        token = await oauth.fetch_token(
            f"{base}/oauth/token", authorization_response=location, state=state, code_verifier=verifier
        )
        # Refreshing may ask for no more than was granted (RFC 6749 §6).
        refreshed = await oauth.refresh_token(
            f"{base}/oauth/token", refresh_token=token["refresh_token"], scope=token["scope"]
        )

    # A hub co-ordinator's token carries only what the role allows, though the client could ask for more.
    assert token["scope"] == "referrals:read referrals:write"
    assert refreshed["refresh_token"] != token["refresh_token"]
    viewer = await viewer_with(base, refreshed["access_token"])
    assert viewer == {
        "organisation": "hub",
        "kind": "user",
        "scopes": ["referrals:read", "referrals:write"],
        "roles": ["hub-coordinator"],
    }
