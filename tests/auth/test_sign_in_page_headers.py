"""The sign-in page's headers: it loads only the portal's own assets and GOV.UK Frontend's one hashed inline script,
cannot be framed or cached, sends no referrer, is never sniffed."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from gateway.web.security import SIGN_IN_POLICY
from gateway.web.templating import INLINE_SCRIPT_HASH
from tests.support.auth import World, authorize_params, pkce_pair, sign_in

# The sign-in page is shown in the staff portal's design (gateway/web), under the portal's policy; form-action comes
# last because the client's redirect origin is added to it.
POLICY = SIGN_IN_POLICY
PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def assert_page_headers(response: httpx.Response, policy: str) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert {name: response.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS
    assert response.headers.get_list("content-security-policy") == [policy]


async def test_the_sign_in_page_has_a_strict_policy(client: httpx.AsyncClient, world: World) -> None:
    page = await client.get("/oauth/authorize", params=authorize_params(world.web_client_id, pkce_pair()[1]))

    assert page.status_code == 200
    # The form posts to the gateway, whose redirect goes to the client: browsers check form-action on that too.
    assert_page_headers(page, f"{POLICY} https://app.example")
    assert "unsafe-inline" not in POLICY and "default-src 'self'" in POLICY and "frame-ancestors 'none'" in POLICY
    assert "<style" not in page.text and "style=" not in page.text
    # Every script is a file of the gateway's own, or GOV.UK Frontend's marker that the policy allows by its hash
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page.text, re.S)
    assert inline and all(
        "sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() == INLINE_SCRIPT_HASH
        for body in inline
    )


async def test_the_page_after_a_wrong_password_has_the_same_policy(client: httpx.AsyncClient, world: World) -> None:
    response = await sign_in(
        client, authorize_params(world.web_client_id, pkce_pair()[1]), world.coordinator_email, "wrong password"
    )

    assert response.status_code == 401
    assert_page_headers(response, f"{POLICY} https://app.example")


async def test_the_expired_form_page_has_the_policy(client: httpx.AsyncClient, world: World) -> None:
    params = authorize_params(world.web_client_id, pkce_pair()[1])
    await client.get("/oauth/authorize", params=params)

    response = await client.post(
        "/oauth/authorize", data={**params, "csrf_token": "forged", "email": "x", "password": "x"}
    )

    assert response.status_code == 400
    assert_page_headers(response, POLICY)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example; script-src *",
        "https://app.example,script-src *",
        "https://user@app.example/callback",
        "javascript:alert(1)",
        "https://[::1/callback",
        "https://app.example\r\nSet-Cookie: x=1",
    ],
)
async def test_a_submitted_redirect_uri_cannot_write_into_the_policy(
    client: httpx.AsyncClient, world: World, redirect_uri: str
) -> None:
    """The page after a failed sign-in is built from the posted form, so the form's redirect URI reaches the policy
    only as a bare origin, or not at all."""
    params = authorize_params(world.web_client_id, pkce_pair()[1])
    page = await client.get("/oauth/authorize", params=params)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = params | {"redirect_uri": redirect_uri, "csrf_token": csrf.group(1), "email": "x@hub.test", "password": "x"}

    response = await client.post("/oauth/authorize", data=form)

    assert response.status_code == 401
    assert_page_headers(response, POLICY)
