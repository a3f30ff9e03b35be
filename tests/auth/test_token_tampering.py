"""The token-tampering table from shared/security.md: every case refused with 401 invalid_token, on every endpoint.

Forgeries that change a claim are signed with the gateway's real key, so only the claim is at fault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.jwk import ECKey
from sqlmodel import select

from gateway.auth.models import SigningKey
from gateway.db import create_engine, create_session_factory
from tests.support.auth import ISSUER, World, b64url_json, bearer_token, decode_unverified

# Each endpoint would answer 200 to an anonymous caller or a good token; a bad token must still get 401.
ENDPOINTS: dict[str, Callable[[httpx.AsyncClient, dict[str, str]], Any]] = {
    "graphql-protected": lambda http, headers: http.post(
        "/graphql", json={"query": "{ viewer { organisation } }"}, headers=headers
    ),
    "graphql-public": lambda http, headers: http.post(
        "/graphql", json={"query": "{ providers { slug } }"}, headers=headers
    ),
    "readyz": lambda http, headers: http.get("/readyz", headers=headers),
}


async def _signing_key(world: World) -> tuple[str, Any]:
    engine = create_engine(world.settings.database_url)
    try:
        async with create_session_factory(engine)() as db:
            row = (await db.exec(select(SigningKey))).one()
    finally:
        await engine.dispose()
    return row.kid, jwt.PyJWK(json.loads(row.private_jwk), algorithm="ES256").key


def _claims(good: dict[str, Any], **changes: Any) -> dict[str, Any]:
    claims = {**good, **changes}
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: Any, **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "at+jwt", **header})


def _flip_signature(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    return f"{head}.{body}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def _forgeries(good_token: str, kid: str, key: Any) -> dict[str, str]:
    header, good = decode_unverified(good_token)
    now = int(time.time())
    stranger = ECKey.generate_key("P-256", parameters={"kid": kid})
    stranger_key = jwt.PyJWK(stranger.as_dict(private=True), algorithm="ES256").key
    public_pem = key.public_key().public_bytes(encoding=Encoding.PEM, format=PublicFormat.SubjectPublicKeyInfo)
    cases = {
        "alg-none": f"{b64url_json({'alg': 'none', 'typ': 'at+jwt', 'kid': kid})}.{b64url_json(good)}.",
        "hs256-with-public-key": _hs256_with(public_pem, good, kid),
        "unknown-kid": _sign(good, stranger_key, kid="no-such-kid"),
        "stranger-key-our-kid": _sign(good, stranger_key, kid=kid),
        "jku-header": _sign(good, key, kid=kid, jku="https://attacker.example/jwks"),
        "jwk-header": _sign(good, key, kid=kid, jwk=stranger.as_dict(private=False)),
        "x5u-header": _sign(good, key, kid=kid, x5u="https://attacker.example/cert.pem"),
        "expired": _sign(_claims(good, iat=now - 1200, exp=now - 600), key, kid=kid),
        "future-nbf": _sign(_claims(good, nbf=now + 600), key, kid=kid),
        "future-iat": _sign(_claims(good, iat=now + 600), key, kid=kid),
        "wrong-aud": _sign(_claims(good, aud="another-api"), key, kid=kid),
        "aud-list-with-ours": _sign(_claims(good, aud=["another-api", good["aud"]]), key, kid=kid),
        "wrong-iss": _sign(_claims(good, iss="https://attacker.example"), key, kid=kid),
        "partial-iss": _sign(_claims(good, iss=ISSUER[:-1]), key, kid=kid),
        "iss-with-trailing-slash": _sign(_claims(good, iss=ISSUER + "/"), key, kid=kid),
        "wrong-typ": _sign(good, key, kid=kid, typ="JWT"),
        "flipped-signature": _flip_signature(good_token),
        "truncated": good_token[: len(good_token) // 2],
        "not-a-jwt": "definitely-not-a-token",
        "unknown-jti": _sign(_claims(good, jti="never-issued"), key, kid=kid),
    }
    for claim in ("exp", "iat", "iss", "aud", "sub", "jti"):
        cases[f"missing-{claim}"] = _sign(_claims(good, **{claim: None}), key, kid=kid)
    cases["missing-typ"] = _without_typ(good, key, kid)
    assert header["typ"] == "at+jwt" and header["kid"] == kid
    return cases


def _hs256_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    # Signed by hand: pyjwt itself refuses to use a PEM public key as an HMAC secret.
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}".encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _without_typ(claims: dict[str, Any], key: Any, kid: str) -> str:
    # pyjwt adds typ "JWT" by default; build the header by hand so it has no typ at all.
    header = {"alg": "ES256", "kid": kid}
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}".encode()
    der = key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


FORGERY_NAMES = [
    "alg-none",
    "hs256-with-public-key",
    "unknown-kid",
    "stranger-key-our-kid",
    "jku-header",
    "jwk-header",
    "x5u-header",
    "expired",
    "future-nbf",
    "future-iat",
    "wrong-aud",
    "aud-list-with-ours",
    "wrong-iss",
    "partial-iss",
    "iss-with-trailing-slash",
    "wrong-typ",
    "missing-typ",
    "flipped-signature",
    "truncated",
    "not-a-jwt",
    "unknown-jti",
    "missing-exp",
    "missing-iat",
    "missing-iss",
    "missing-aud",
    "missing-sub",
    "missing-jti",
]


async def test_every_forged_token_is_refused_on_every_endpoint(client: httpx.AsyncClient, world: World) -> None:
    good_token = await bearer_token(client, world)
    kid, key = await _signing_key(world)
    forgeries = _forgeries(good_token, kid, key)
    assert sorted(forgeries) == sorted(FORGERY_NAMES)

    accepted = []
    for name, token in forgeries.items():
        for endpoint, call in ENDPOINTS.items():
            response = await call(client, {"authorization": f"Bearer {token}"})
            if (
                response.status_code != 401
                or response.headers.get("www-authenticate") != 'Bearer error="invalid_token"'
            ):
                accepted.append((name, endpoint, response.status_code))

    assert accepted == []
    # The control: the genuine token passes everywhere, so the refusals above are the forgeries' fault.
    for call in ENDPOINTS.values():
        assert (await call(client, {"authorization": f"Bearer {good_token}"})).status_code == 200


async def test_a_token_in_the_query_string_is_refused(client: httpx.AsyncClient, world: World) -> None:
    token = await bearer_token(client, world)

    response = await client.post(
        "/graphql", params={"access_token": token}, json={"query": "{ viewer { organisation } }"}
    )

    assert response.status_code == 401


async def test_no_token_reaches_public_fields_but_not_protected_ones(client: httpx.AsyncClient, world: World) -> None:
    public = await client.post("/graphql", json={"query": "{ providers { slug } }"})
    protected = await client.post("/graphql", json={"query": "{ viewer { organisation } }"})

    assert public.status_code == 200 and len(public.json()["data"]["providers"]) == 5
    assert protected.json()["data"] is None
    assert protected.json()["errors"][0]["extensions"]["code"] == "unauthenticated"


@pytest.mark.parametrize("scheme", ["Basic", "Token", "Bearer"])
async def test_a_malformed_authorization_header_is_refused(
    client: httpx.AsyncClient, world: World, scheme: str
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ providers { slug } }"}, headers={"authorization": f"{scheme} "}
    )

    assert response.status_code == 401
