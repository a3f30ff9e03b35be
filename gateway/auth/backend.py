"""The resource server's Starlette authentication backend: bearer token in, Principal out."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from gateway.auth import service
from gateway.auth.principal import Principal
from gateway.auth.tokens import InvalidToken, TokenVerifier
from gateway.db import AsyncSession

log = logging.getLogger("gateway.auth")


class AuthenticatedCaller(BaseUser):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.principal.actor_label


class DeferredCaller(BaseUser):
    """A bearer token whose signature, expiry and audience are verified, but whose state (revoked; client, user and
    organisation active) is not read yet: the endpoint reads it, in its own statement or through `confirm`.

    Anonymous to everything that does not know it (principal_of gives None), so an endpoint that forgets to confirm
    the token refuses the caller rather than trusting it.
    """

    def __init__(self, claims: dict[str, object]) -> None:
        self.claims = claims

    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return ""


class BearerTokenBackend(AuthenticationBackend):
    """No Authorization header: anonymous. A bearer token: valid and still honoured, or 401.

    For the paths in `deferred_paths` the token's state is left to the endpoint (DeferredCaller): /graphql reads it
    in the same statement as a compiled read, so a request is one round trip to the database.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        deferred_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.verifier = verifier
        self.session_factory = session_factory
        self.deferred_paths = deferred_paths

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        if "access_token" in conn.query_params:
            # RFC 6750 §2.3 is not offered: URLs end up in logs and browser history.
            raise AuthenticationError("access tokens are not accepted in the URL")
        header = conn.headers.get("authorization")
        if header is None or conn.url.path.startswith("/oauth/"):
            return None  # the authorisation server's endpoints authenticate clients themselves
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("expected a bearer token")
        try:
            claims = await self.verifier.verify(token.strip())
        except InvalidToken as reason:
            log.info("bearer token refused", extra={"reason": str(reason)})
            raise AuthenticationError("invalid token") from reason
        if conn.url.path in self.deferred_paths:
            return AuthCredentials([]), DeferredCaller(claims)
        principal = await self.confirm(claims)
        return AuthCredentials([s.value for s in principal.scopes]), AuthenticatedCaller(principal)

    async def confirm(self, claims: dict[str, object]) -> Principal:
        """The caller of verified claims, once the token's state says it is still honoured; else AuthenticationError."""
        # Revocation, a disabled client or a deactivated user take effect on the very next request.
        async with self.session_factory() as db:
            state = await service.token_state(db=db, jti=str(claims["jti"]))
        if state is None or state.revoked or not state.client_active or not state.organisation_active:
            raise AuthenticationError("token revoked")
        if state.user_active is False:
            raise AuthenticationError("user deactivated")
        return service.principal_from(claims=claims, state=state)


def invalid_token_response(conn: HTTPConnection, error: Exception) -> Response:
    """RFC 6750: 401 with WWW-Authenticate; the body says no more than the header."""
    return JSONResponse(
        {"error": "invalid-token", "message": "The access token is invalid, expired or revoked."},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def principal_of(conn: HTTPConnection) -> Principal | None:
    user = conn.scope.get("user")
    return user.principal if isinstance(user, AuthenticatedCaller) else None
