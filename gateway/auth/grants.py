"""The OAuth 2 grants, client authentication, token generator and endpoints the gateway offers, on authlib."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from authlib.oauth2.rfc6749 import (
    grants,
    list_to_scope,
    scope_to_list,
)
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import ECKey, KeySet

from gateway.auth import service
from gateway.auth.bridge import (
    CLIENT_ASSERTION_MAX_LIFETIME,
    TOKEN_AUTH_METHODS,
    ClientAdapter,
    CodeAdapter,
    GatewayOAuth2Request,
    TokenAdapter,
    UserAdapter,
    client_by_id,
    consume_code,
    consume_refresh_token,
    current_db,
    find_token,
    on_loop,
    remember_assertion,
    user_if_active,
)
from gateway.auth.hashing import digest, new_token
from gateway.auth.keys import SIGNING_ALGORITHM, active_signing_key
from gateway.auth.models import AuthorizationCode
from gateway.auth.principal import Role, Scope, scopes_for_roles
from gateway.clock import utc_now
from gateway.settings import Settings

# ---------------------------------------------------------------------------------------------------------
# Grants, client authentication, endpoints


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: GatewayOAuth2Request) -> None:
        user: UserAdapter = request.user
        roles = frozenset(Role(r) for r in user.row.roles if r in Role._value2member_map_)
        # A person's token never carries more than their roles allow, whatever the client may hold.
        scope = list_to_scope([s for s in scope_to_list(request.scope or "") if s in scopes_for_roles(roles)])
        data = request.payload.data
        row = AuthorizationCode(
            code_hash=digest(code),
            client_pk=request.client.row.id,
            user_id=user.row.id or 0,
            redirect_uri=data["redirect_uri"],
            scope=scope,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            expires_at=utc_now() + timedelta(seconds=self.server.settings.authorization_code_ttl_seconds),
        )

        async def store() -> None:
            current_db.get().add(row)
            await current_db.get().flush()

        on_loop(store)

    def query_authorization_code(self, code: str, client: ClientAdapter) -> CodeAdapter | None:
        row = on_loop(consume_code, code, client.row.id or 0)
        return CodeAdapter(row) if row is not None else None

    def delete_authorization_code(self, authorization_code: CodeAdapter) -> None:
        pass  # already spent atomically in query_authorization_code

    def authenticate_user(self, authorization_code: CodeAdapter) -> UserAdapter | None:
        user = on_loop(user_if_active, authorization_code.row.user_id)
        return UserAdapter(user) if user is not None else None


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> TokenAdapter | None:
        found = on_loop(consume_refresh_token, refresh_token)
        if found is None:
            return None
        row, client_id = found
        return TokenAdapter(row, client_id, is_refresh=True)

    def authenticate_user(self, refresh_token: TokenAdapter) -> UserAdapter:
        user = on_loop(user_if_active, refresh_token.row.user_id) if refresh_token.row.user_id else None
        if user is None:
            raise InvalidGrantError("The account this refresh token belongs to is no longer active.")
        return UserAdapter(user)

    def revoke_old_credential(self, refresh_token: TokenAdapter) -> None:
        async def revoke() -> None:
            await service.revoke_token(db=current_db.get(), token=refresh_token.row, with_family=False)

        on_loop(revoke)


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE on every authorisation request, S256 only: authlib alone would let `plain` or none through."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class PrivateKeyJWTAuthentication(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client assertions signed with the client's registered key; each jti is accepted once."""

    CLIENT_AUTH_METHOD = service.PRIVATE_KEY_JWT

    def __init__(self, audiences: list[str]) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self._audiences = audiences

    def get_audiences(self) -> list[str]:
        return self._audiences

    def resolve_client_public_key(self, client: ClientAdapter) -> KeySet:
        return KeySet.import_key_set(cast(Any, client.row.jwks or {"keys": []}))

    def verify_claims(self, claims: Any) -> None:
        super().verify_claims(claims)
        if int(claims["exp"]) - int(utc_now().timestamp()) > CLIENT_ASSERTION_MAX_LIFETIME + self.leeway:
            raise InvalidClientError(description="The client assertion lives too long.")

    def validate_jti(self, claims: Any, jti: str) -> bool:
        client = on_loop(client_by_id, str(claims["sub"]))
        if client is None:
            return False
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC) + timedelta(seconds=self.leeway)
        return bool(on_loop(remember_assertion, client.id or 0, jti, expires_at))


class AccessTokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 access tokens (typ at+jwt), ES256 with the active key's kid."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            issuer=settings.issuer_url,
            alg=SIGNING_ALGORITHM,
            refresh_token_generator=self._refresh_token,
            expires_generator=lambda client, grant_type: settings.access_token_ttl_seconds,
        )
        self.settings = settings

    @staticmethod
    def _refresh_token(*, client: ClientAdapter, grant_type: str, user: UserAdapter | None, scope: str) -> str | None:
        return new_token(48) if user is not None else None

    def get_jwks(self) -> KeySet:
        key = on_loop(lambda: active_signing_key(db=current_db.get()))
        if key is None:
            raise RuntimeError("no signing key: run `gateway keys rotate` or `gateway seed demo`")
        # A KeySet (not a bare key) makes joserfc put the kid in the header.
        return KeySet([ECKey.import_key(json.loads(key.private_jwk))])

    def get_audiences(self, client: ClientAdapter, user: UserAdapter | None, scope: str) -> str:
        return self.settings.audience  # one string, so resource servers can demand an exact match

    def get_extra_claims(
        self, client: ClientAdapter, grant_type: str, user: UserAdapter | None, scope: str
    ) -> dict[str, Any]:
        return {"gty": grant_type}


class TokenRevocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenAdapter | None:
        return on_loop(find_token, token_string, token_type_hint, self.server.verify_access_token)

    def revoke_token(self, token: TokenAdapter, request: GatewayOAuth2Request) -> None:
        async def revoke() -> None:
            await service.revoke_token(db=current_db.get(), token=token.row, with_family=token.is_refresh)

        on_loop(revoke)


class TokenIntrospection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenAdapter | None:
        return on_loop(find_token, token_string, token_type_hint, self.server.verify_access_token)

    def check_permission(self, token: TokenAdapter, client: ClientAdapter, request: GatewayOAuth2Request) -> bool:
        return token.check_client(client) or Scope.ADMIN.value in client.row.scopes

    def introspect_token(self, token: TokenAdapter) -> dict[str, Any]:
        settings: Settings = self.server.settings
        row = token.row
        expires = row.refresh_expires_at if token.is_refresh and row.refresh_expires_at else row.expires_at
        return {
            "active": True,
            "token_type": "refresh_token" if token.is_refresh else "Bearer",
            "client_id": token.client_id,
            "scope": row.scope,
            "sub": f"user:{row.user_id}" if row.user_id is not None else token.client_id,
            "aud": settings.audience,
            "iss": settings.issuer_url,
            "exp": int(expires.timestamp()),
            "iat": int(row.issued_at.timestamp()),
        }
