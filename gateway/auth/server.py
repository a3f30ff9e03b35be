"""authlib's AuthorizationServer ported to Starlette, backed by the gateway's database (see gateway/auth/bridge.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
from authlib.oauth2 import AuthorizationServer, rfc9207
from authlib.oauth2.rfc6749 import (
    OAuth2Request,
)

from gateway.auth import service
from gateway.auth.bridge import (
    ClientAdapter,
    GatewayOAuth2Request,
    OAuthResponse,
    UserAdapter,
    client_by_id,
    current_db,
    on_loop,
)
from gateway.auth.grants import (
    AccessTokenGenerator,
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    PrivateKeyJWTAuthentication,
    RefreshTokenGrant,
    S256CodeChallenge,
    TokenIntrospection,
    TokenRevocation,
)
from gateway.auth.principal import Scope
from gateway.settings import Settings


class IssuerParameter(rfc9207.IssuerParameter):  # type: ignore[misc]
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """The gateway's OAuth 2 authorisation server: client credentials, code with PKCE, refresh rotation."""

    def __init__(self, settings: Settings, verify_access_token: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        super().__init__(scopes_supported=[s.value for s in Scope])
        self.settings = settings
        self.verify_access_token = verify_access_token
        issuer = settings.issuer_url
        self.register_token_generator("default", AccessTokenGenerator(settings))
        self.register_client_auth_method(
            service.PRIVATE_KEY_JWT, PrivateKeyJWTAuthentication([f"{issuer}/oauth/token", issuer])
        )
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(TokenRevocation)
        self.register_endpoint(TokenIntrospection)
        self.register_extension(IssuerParameter(issuer))

    def query_client(self, client_id: str) -> ClientAdapter | None:
        row = on_loop(client_by_id, client_id)
        return ClientAdapter(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: GatewayOAuth2Request) -> None:
        claims = pyjwt.decode(token["access_token"], options={"verify_signature": False})
        client: ClientAdapter = request.client
        user: UserAdapter | None = request.user
        family_id = None
        if request.authorization_code is not None:
            family_id = request.authorization_code.family_id
        elif request.refresh_token is not None:
            family_id = request.refresh_token.row.family_id
        settings = self.settings
        on_loop(
            service.record_issued_token,
            db=current_db.get(),
            jti=claims["jti"],
            client=client.row,
            user_id=user.row.id if user is not None else None,
            organisation_id=user.row.organisation_id if user is not None else client.row.organisation_id,
            scope=token.get("scope", ""),
            issued_at=datetime.fromtimestamp(claims["iat"], UTC),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            refresh_token=token.get("refresh_token"),
            refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
            family_id=family_id,
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("build a GatewayOAuth2Request on the event loop first")

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("dynamic client registration is not offered")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> OAuthResponse:
        content = json.dumps(body) if isinstance(body, dict) else body
        response = OAuthResponse(content=content, status_code=status, headers=dict(headers))
        if isinstance(body, dict) and "content-type" not in {k.lower() for k, _ in headers}:
            response.headers["content-type"] = "application/json"
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # authlib's hook for framework signals; the gateway logs what it needs where it happens
