"""Checking access tokens as a resource server, with pyjwt and nothing taken from the token's say-so."""

from __future__ import annotations

import time
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import async_sessionmaker

from gateway.auth.keys import SIGNING_ALGORITHM, verification_keys
from gateway.db import AsyncSession
from gateway.settings import Settings

ACCEPTED_ALGORITHMS = [SIGNING_ALGORITHM]
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]
ACCEPTED_TYPES = {"at+jwt", "application/at+jwt"}
# Headers that tell a verifier where to fetch a key: honouring them would let a forger choose the key.
REFUSED_HEADERS = {"jku", "jwk", "x5u", "x5c", "crit"}
KEY_CACHE_SECONDS = 30.0
UNKNOWN_KID_RELOAD_SECONDS = 5.0


class InvalidToken(Exception):
    """The token is not one this gateway issued and still honours; the reason is for logs only."""


class TokenVerifier:
    """Verifies signature, algorithm, type and claims; caches public keys and reloads them on rotation."""

    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = 0.0

    async def refresh_keys(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._loaded_at < KEY_CACHE_SECONDS:
            return
        if force and now - self._loaded_at < UNKNOWN_KID_RELOAD_SECONDS:
            return  # an attacker sending random kids must not make every request reload keys
        async with self.session_factory() as db:
            rows = await verification_keys(db=db)
        self._keys = {row.kid: jwt.PyJWK(dict(row.public_jwk), algorithm=row.algorithm) for row in rows}
        self._loaded_at = now

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken."""
        await self.refresh_keys()
        header = self._header(token)
        kid = str(header.get("kid", ""))
        if kid not in self._keys:
            await self.refresh_keys(force=True)
        return self.verify_with_known_keys(token)

    def verify_with_known_keys(self, token: str) -> dict[str, Any]:
        """Verification against the keys already loaded; synchronous, for authlib's worker threads too."""
        header = self._header(token)
        key = self._keys.get(str(header.get("kid", "")))
        if key is None:
            raise InvalidToken("unknown kid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=ACCEPTED_ALGORITHMS,
                audience=self.settings.audience,
                issuer=self.settings.issuer_url,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(type(error).__name__) from error
        if claims["iss"] != self.settings.issuer_url:
            raise InvalidToken("issuer")
        return claims

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken("malformed") from error
        if str(header.get("typ", "")).lower() not in ACCEPTED_TYPES:
            raise InvalidToken("typ")
        if header.get("alg") not in ACCEPTED_ALGORITHMS:
            raise InvalidToken("alg")
        if REFUSED_HEADERS & set(header):
            raise InvalidToken("key-locating header")
        return header
